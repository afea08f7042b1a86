//! Certification programs (issue 16): certifications made of several
//! courses, the status staff set by hand, and which of them count.
//!
//! Decisions:
//! - **A definition turns its courses into one certification.** Each
//!   definition becomes a certification "course" of its own (id = the
//!   definition id, its name, NPCU, category and validity), and a person's
//!   records of the member courses become one record of it ([`award`]).
//!   The member courses (and the recertification course) stop counting on
//!   their own, or a completed course would count twice. A course with
//!   NPCU > 0 that no definition names keeps being a one-course
//!   certification exactly as before.
//! - **Which completions award it.** `all` needs every course, `N` any N of
//!   them. Of the completions, those whose own LMS expiry is latest are
//!   used (no LMS expiry = never lapses), then the latest completed; the
//!   completion date is the last of the used completions.
//! - **Expiry: the sooner of the two.** Completion + `validity_months`,
//!   capped by the earliest LMS `expires_at` among the used completions. A
//!   certification cannot outlive a course the LMS itself says has lapsed
//!   (the LMS applies its own per-course validity, docs/source-contract.md),
//!   and taking the sooner date never credits NPCU nobody holds. Only the
//!   LMS's value caps it, not a validity we computed for the course.
//! - **Renewal.** Retaking one member course moves the completion (and the
//!   expiry) forward when that course is among the used ones. Completing the
//!   recertification course after the certification was awarded renews it
//!   from that completion.
//! - **Status precedence** ([`effective_status`]): a manual status wins
//!   over everything until cleared; else a complete certification that
//!   requires approval and has none shows *Admin review* while it would
//!   count; else the computed status. Manual `active` is the approval: it
//!   does not override the dates (an expired certification stays expired).
//!   Only *Active* and *Expiring* count NPCU ([`CertStatus::counts`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::expiry::add_months;
use super::rows::build_cert_rows;
pub use super::status::effective_status;
use super::summary::{build_partner_summary, PartnerData};
use crate::model::{
    CertDefinition, CertRow, CertStatus, Course, Enrollment, ManualStatus, PartnerSummary,
    ProgressStatus, Require,
};

/// Longest validity a definition may give (50 years).
pub const MAX_VALIDITY_MONTHS: u32 = 600;
/// Longest lead time of a recertification enrolment.
pub const MAX_RECERT_DAYS: u32 = 365;
/// Courses of one definition, at most.
pub const MAX_COURSES: usize = 50;

/// What is wrong with a definition, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{field}': {message}")]
pub struct DefinitionError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> DefinitionError {
    DefinitionError {
        field,
        message: message.into(),
    }
}

impl CertDefinition {
    /// Completions the definition needs.
    pub fn required_count(&self) -> usize {
        match self.require {
            Require::All => self.courses.len(),
            Require::AtLeast(n) => n as usize,
        }
    }

    /// The certification as a catalog course (see the module docs).
    pub fn as_course(&self) -> Course {
        Course {
            id: self.id.clone(),
            name: self.name.clone(),
            status: Some("certification".into()),
            permalink: None,
            npcu: self.npcu,
            category: self.category.clone(),
            validity_months: self.validity_months,
            updated_at: self.updated_at,
            deleted: false,
        }
    }
}

/// Checks a definition on its own (the API also checks that the courses
/// exist). Course ids are trimmed and must be distinct.
pub fn check_definition(d: &CertDefinition) -> Result<(), DefinitionError> {
    if d.name.trim().is_empty() {
        return Err(bad("name", "is required"));
    }
    if d.courses.is_empty() {
        return Err(bad("courses", "at least one course id is required"));
    }
    if d.courses.len() > MAX_COURSES {
        return Err(bad("courses", format!("at most {MAX_COURSES} courses")));
    }
    let mut seen = HashSet::new();
    for c in &d.courses {
        if c.trim().is_empty() || c.contains('#') {
            return Err(bad("courses", format!("'{c}' is not a course id")));
        }
        if !seen.insert(c.as_str()) {
            return Err(bad("courses", format!("course '{c}' is listed twice")));
        }
    }
    if let Require::AtLeast(n) = d.require {
        if n == 0 || n as usize > d.courses.len() {
            return Err(bad(
                "require",
                format!(
                    "must be \"all\" or a number from 1 to {} (the number of courses)",
                    d.courses.len()
                ),
            ));
        }
    }
    if d.validity_months == 0 || d.validity_months > MAX_VALIDITY_MONTHS {
        return Err(bad(
            "validity_months",
            format!("must be from 1 to {MAX_VALIDITY_MONTHS}"),
        ));
    }
    if d.npcu > 10 {
        return Err(bad("npcu", "must be from 0 to 10"));
    }
    if let Some(r) = &d.recert_course_id {
        if r.trim().is_empty() || r.contains('#') {
            return Err(bad("recert_course_id", format!("'{r}' is not a course id")));
        }
        if d.courses.contains(r) {
            return Err(bad(
                "recert_course_id",
                "must not be one of the certification's courses",
            ));
        }
    }
    match (&d.recert_course_id, &d.recert_group_id) {
        (Some(_), None) => {
            return Err(bad(
                "recert_group_id",
                "required with recert_course_id: the LMS enrols through a group that has the course assigned",
            ))
        }
        (None, Some(_)) => {
            return Err(bad(
                "recert_group_id",
                "only with recert_course_id (the course the group enrols in)",
            ))
        }
        (_, Some(g)) if g.trim().is_empty() || g.contains('#') => {
            return Err(bad("recert_group_id", format!("'{g}' is not a group id")));
        }
        _ => {}
    }
    if d.recert_days_before == 0 || d.recert_days_before > MAX_RECERT_DAYS {
        return Err(bad(
            "recert_days_before",
            format!("must be from 1 to {MAX_RECERT_DAYS}"),
        ));
    }
    Ok(())
}

/// The record of `def` for one person, from that person's records (one
/// per course after renewal; other courses' records are ignored). `None`
/// when the person has no record of any of its courses.
pub fn award(def: &CertDefinition, user_id: &str, records: &[&Enrollment]) -> Option<Enrollment> {
    let mine: Vec<&Enrollment> = records
        .iter()
        .copied()
        .filter(|r| r.user_id == user_id && def.courses.contains(&r.course_id))
        .collect();
    if mine.is_empty() {
        return None;
    }
    let mut out = Enrollment {
        user_id: user_id.to_string(),
        course_id: def.id.clone(),
        progress: if mine.iter().all(|r| r.progress == ProgressStatus::Enrolled) {
            ProgressStatus::Enrolled
        } else {
            ProgressStatus::InProgress
        },
        enrolled_at: mine.iter().filter_map(|r| r.enrolled_at).min(),
        started_at: mine.iter().filter_map(|r| r.started_at).min(),
        ..Default::default()
    };
    let mut done: Vec<&Enrollment> = mine
        .into_iter()
        .filter(|r| r.progress == ProgressStatus::Completed)
        .collect();
    let need = def.required_count();
    if need == 0 || done.len() < need {
        return Some(out);
    }
    // Latest own LMS expiry first (none = never lapses), then the latest
    // completion; the course id makes the choice deterministic.
    let lapse = |r: &Enrollment| r.expires_at.unwrap_or(DateTime::<Utc>::MAX_UTC);
    done.sort_by(|a, b| {
        lapse(b)
            .cmp(&lapse(a))
            .then(b.completed_at.cmp(&a.completed_at))
            .then(a.course_id.cmp(&b.course_id))
    });
    let used = &done[..need];
    let last = used
        .iter()
        .max_by(|a, b| a.completed_at.cmp(&b.completed_at))
        .copied()?;
    out.progress = ProgressStatus::Completed;
    out.completed_at = last.completed_at;
    out.source = last.source;
    out.score = None;
    let lms_cap = used.iter().filter_map(|r| r.expires_at).min();
    out.expires_at = capped(out.completed_at, def.validity_months, lms_cap);
    // Renewal through the recertification course, completed after the
    // certification was awarded.
    if let Some(rc) = def.recert_course_id.as_deref() {
        let renewal = records.iter().find(|r| {
            r.user_id == user_id
                && r.course_id == rc
                && r.progress == ProgressStatus::Completed
                && r.completed_at.is_some()
                && r.completed_at > out.completed_at
        });
        if let Some(r) = renewal {
            out.completed_at = r.completed_at;
            out.source = r.source;
            out.expires_at = capped(r.completed_at, def.validity_months, r.expires_at);
        }
    }
    Some(out)
}

/// Completion + validity, or the LMS cap when sooner; only the cap when
/// there is no completion date.
fn capped(
    completed_at: Option<DateTime<Utc>>,
    validity_months: u32,
    lms_cap: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let own = completed_at.map(|c| add_months(c, validity_months));
    match (own, lms_cap) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Records and catalog with the definitions applied: every record stays,
/// each person gets one record per definition they have a course of, the
/// courses a definition names no longer count on their own (NPCU 0), and
/// each definition is a course. Without definitions, the input unchanged.
pub fn apply_definitions(
    records: &[Enrollment],
    courses: &[Course],
    defs: &[CertDefinition],
) -> (Vec<Enrollment>, Vec<Course>) {
    if defs.is_empty() {
        return (records.to_vec(), courses.to_vec());
    }
    let claimed: HashSet<&str> = defs
        .iter()
        .flat_map(|d| d.courses.iter().chain(d.recert_course_id.as_ref()))
        .map(String::as_str)
        .collect();
    let def_ids: HashSet<&str> = defs.iter().map(|d| d.id.as_str()).collect();
    let mut out_courses: Vec<Course> = courses
        .iter()
        .filter(|c| !def_ids.contains(c.id.as_str()))
        .map(|c| {
            let mut c = c.clone();
            if claimed.contains(c.id.as_str()) {
                c.npcu = 0;
            }
            c
        })
        .collect();
    out_courses.extend(defs.iter().map(CertDefinition::as_course));
    let mut by_user: BTreeMap<&str, Vec<&Enrollment>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| claimed.contains(r.course_id.as_str()))
    {
        by_user.entry(r.user_id.as_str()).or_default().push(r);
    }
    let mut out: Vec<Enrollment> = records
        .iter()
        .filter(|r| !def_ids.contains(r.course_id.as_str()))
        .cloned()
        .collect();
    for (user, recs) in &by_user {
        out.extend(defs.iter().filter_map(|d| award(d, user, recs)));
    }
    (out, out_courses)
}

/// What staff decided about one record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mark {
    pub status_override: Option<CertStatus>,
    pub awaiting_approval: bool,
    pub note: Option<String>,
}

impl Mark {
    /// Whether the record is kept out of the NPCU count whatever its dates.
    pub fn holds_back(&self) -> bool {
        self.status_override.is_some() || self.awaiting_approval
    }
}

/// The mark of a record of `certification` in progress `progress`: the
/// manual status (if set and not the approval), and whether it waits for
/// approval (`requires_approval`, complete, neither approved nor manually
/// set).
pub fn mark(
    manual: Option<&ManualStatus>,
    requires_approval: bool,
    progress: ProgressStatus,
) -> Mark {
    let set = manual.and_then(|m| m.status);
    let approved = set == Some(CertStatus::Active);
    let status_override = set.filter(|s| *s != CertStatus::Active);
    Mark {
        awaiting_approval: requires_approval
            && progress == ProgressStatus::Completed
            && !approved
            && status_override.is_none(),
        note: manual
            .filter(|m| m.status.is_some())
            .and_then(|m| m.note.clone()),
        status_override,
    }
}

/// The admin-defined part of the program: definitions and manual
/// statuses, as the store holds them.
#[derive(Debug, Clone, Default)]
pub struct Programs {
    pub definitions: Vec<CertDefinition>,
    pub statuses: Vec<ManualStatus>,
}

impl Programs {
    pub fn is_empty(&self) -> bool {
        self.definitions.is_empty() && self.statuses.is_empty()
    }

    fn by_key(&self) -> HashMap<(&str, &str), &ManualStatus> {
        self.statuses
            .iter()
            .map(|m| ((m.user_id.as_str(), m.certification.as_str()), m))
            .collect()
    }
}

/// A partner's summary and dashboard rows with the programs applied — what
/// the recompute stores. Without definitions and manual statuses it is
/// exactly [`build_partner_summary`] and [`build_cert_rows`]. Otherwise the
/// definitions are applied to the members' records ([`apply_definitions`]),
/// the rows carry the marks, and records a mark holds back are left out of
/// the summary's counts (its row count still includes them).
pub fn summary_and_rows(
    data: &PartnerData<'_>,
    programs: &Programs,
    now: DateTime<Utc>,
) -> (PartnerSummary, Vec<CertRow>) {
    if programs.is_empty() {
        return (build_partner_summary(data, now), build_cert_rows(data));
    }
    let (records, courses) =
        apply_definitions(&data.member_records(), data.courses, &programs.definitions);
    let approval: HashSet<&str> = programs
        .definitions
        .iter()
        .filter(|d| d.requires_approval)
        .map(|d| d.id.as_str())
        .collect();
    let manual = programs.by_key();
    let mark_of = |user: &str, course: &str, progress| {
        mark(
            manual.get(&(user, course)).copied(),
            approval.contains(course),
            progress,
        )
    };
    let counted: Vec<Enrollment> = records
        .iter()
        .filter(|r| !mark_of(&r.user_id, &r.course_id, r.progress).holds_back())
        .cloned()
        .collect();
    // Awards are already among `records` (member_records resolved them).
    let rows_data = PartnerData {
        enrollments: &records,
        courses: &courses,
        manual_awards: &[],
        ..*data
    };
    let counted_data = PartnerData {
        enrollments: &counted,
        ..rows_data
    };
    let mut summary = build_partner_summary(&counted_data, now);
    let mut rows = build_cert_rows(&rows_data);
    let mut by_progress: BTreeMap<String, u32> = BTreeMap::new();
    for row in &mut rows {
        let m = mark_of(&row.user_id, &row.course_id, row.progress);
        row.status_override = m.status_override;
        row.awaiting_approval = m.awaiting_approval;
        row.status_note = m.note;
        *by_progress
            .entry(row.progress.as_str().to_string())
            .or_default() += 1;
    }
    summary.rows_by_progress = by_progress;
    (summary, rows)
}

/// Whether a stored row counts NPCU at `now` (its shown status).
pub fn row_counts(row: &CertRow, now: DateTime<Utc>, warning_days: u32) -> bool {
    row.status(now, warning_days).counts()
}

#[cfg(test)]
mod tests;
