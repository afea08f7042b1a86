//! The `recertifications` report (issue 16): one row per recertification
//! enrolment made, with what became of it
//! ([`crate::rules::recert::outcome`]). Pure: the HTTP function reads the
//! enrolments, partner names, course names and the people's records of the
//! recert courses, and calls [`recert_rows`].

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::table::ReportRow;
use crate::model::Enrollment;
use crate::rules::recert::{outcome, Outcome};
use crate::store::programs::RecertEnrolment;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecertRow {
    pub partner_id: String,
    pub partner_name: String,
    pub user_id: String,
    pub email: String,
    pub certification: String,
    pub certification_name: String,
    pub recert_course_id: String,
    pub recert_course_name: String,
    /// The day the enrolment became due.
    pub due_on: Option<NaiveDate>,
    pub enrolled_at: Option<DateTime<Utc>>,
    /// The certification expiry the enrolment was made for.
    pub expires_at: Option<DateTime<Utc>>,
    pub outcome: Outcome,
}

impl ReportRow for RecertRow {
    const COLUMNS: &'static [&'static str] = &[
        "partner_id",
        "partner_name",
        "user_id",
        "email",
        "certification",
        "certification_name",
        "recert_course_id",
        "recert_course_name",
        "due_on",
        "enrolled_at",
        "expires_at",
        "outcome",
    ];
}

/// What the rows are built from, beyond the enrolments.
pub struct RecertLookups<'a> {
    /// Partner id → name (the partners the caller may see).
    pub partners: &'a HashMap<String, String>,
    /// Course id → name.
    pub courses: &'a HashMap<String, String>,
    /// (user id, course id) → the stored record of that course.
    pub records: &'a HashMap<(String, String), Enrollment>,
}

/// Rows of the enrolments made (failed attempts are in the run record, not
/// here) of the partners in `l.partners`, newest due first.
pub fn recert_rows(
    enrolments: &[RecertEnrolment],
    l: &RecertLookups<'_>,
    now: DateTime<Utc>,
) -> Vec<RecertRow> {
    let mut out: Vec<RecertRow> = enrolments
        .iter()
        .filter(|e| e.done)
        .filter_map(|e| {
            let partner_name = l.partners.get(&e.partner_id)?.clone();
            let (enrolled_at, expires_at) = (e.enrolled_at?, e.expires_at?);
            let record = l
                .records
                .get(&(e.user_id.clone(), e.recert_course_id.clone()));
            Some(RecertRow {
                partner_id: e.partner_id.clone(),
                partner_name,
                user_id: e.user_id.clone(),
                email: e.email.clone(),
                certification: e.certification.clone(),
                certification_name: e.certification_name.clone(),
                recert_course_id: e.recert_course_id.clone(),
                recert_course_name: l
                    .courses
                    .get(&e.recert_course_id)
                    .cloned()
                    .unwrap_or_else(|| e.recert_course_id.clone()),
                due_on: e.due_on.map(|d| d.date_naive()),
                enrolled_at: Some(enrolled_at),
                expires_at: Some(expires_at),
                outcome: outcome(enrolled_at, expires_at, record, now),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.due_on
            .cmp(&a.due_on)
            .then_with(|| a.partner_name.cmp(&b.partner_name))
            .then_with(|| a.user_id.cmp(&b.user_id))
            .then_with(|| a.certification.cmp(&b.certification))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProgressStatus;
    use chrono::{Duration, TimeZone};

    #[test]
    fn rows_of_visible_done_enrolments_with_their_outcome() {
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
        let e = |user: &str, partner: &str, done: bool| RecertEnrolment {
            user_id: user.into(),
            email: format!("{user}@x.test"),
            partner_id: partner.into(),
            certification: "c".into(),
            certification_name: "Cert".into(),
            recert_course_id: "r".into(),
            expires_at: Some(now + Duration::days(20)),
            due_on: Some(now - Duration::days(10)),
            enrolled_at: done.then_some(now - Duration::days(10)),
            done,
            ..Default::default()
        };
        let enrolments = [
            e("a", "p1", true),
            e("b", "p1", true),
            e("c", "p2", true),
            e("d", "p1", false),
        ];
        let partners = HashMap::from([("p1".to_string(), "Acme".to_string())]);
        let courses = HashMap::from([("r".to_string(), "Recert".to_string())]);
        let records = HashMap::from([(
            ("b".to_string(), "r".to_string()),
            Enrollment {
                user_id: "b".into(),
                course_id: "r".into(),
                progress: ProgressStatus::Completed,
                completed_at: Some(now - Duration::days(1)),
                ..Default::default()
            },
        )]);
        let l = RecertLookups {
            partners: &partners,
            courses: &courses,
            records: &records,
        };
        let rows = recert_rows(&enrolments, &l, now);
        let got: Vec<(&str, Outcome)> = rows
            .iter()
            .map(|r| (r.user_id.as_str(), r.outcome))
            .collect();
        // p2 is not visible; d's attempt failed.
        assert_eq!(
            got,
            vec![("a", Outcome::Enrolled), ("b", Outcome::Completed)]
        );
        assert_eq!(rows[0].recert_course_name, "Recert");
        assert_eq!(rows[0].partner_name, "Acme");
        let cells = rows[0].cells();
        for c in RecertRow::COLUMNS {
            assert!(cells.contains_key(*c), "{c}");
        }
        assert_eq!(cells["outcome"], "enrolled");
    }
}
