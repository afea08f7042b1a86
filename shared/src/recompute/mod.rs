//! The one partner recompute (issue 17): given a partner id, load exactly
//! the inputs that partner needs through [`PartnerInputs`] (its group and
//! members, its contacts, the users they reach with their enrollments, the
//! courses and awards those records name), apply the rules, and write only
//! what changed. The sync's tasks, the webhook consumer and the admin
//! actions all call [`recompute_partner`]; none of them reads a whole table
//! to recompute one partner.

pub mod affected;
pub mod dynamo;
pub mod inputs;
pub mod memory;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

pub use inputs::{Changes, PartnerInputs, Person, RecomputeError, Result, Stored};

use crate::model::{
    CategoryMap, CertRow, Contact, Enrollment, LmsGroup, LmsUser, Membership, PartnerSummary,
};
use crate::rules::members::normalize_email;
use crate::rules::programs::summary_and_rows;
use crate::rules::summary::PartnerData;

/// Keyed reads in flight at once for one partner (e-mail lookups, users).
pub const LOOKUPS_AT_ONCE: usize = 8;

/// The settings the rules take from configuration.
#[derive(Debug, Clone, Copy)]
pub struct RuleSettings<'a> {
    pub categories: &'a CategoryMap,
    pub default_validity_months: u32,
}

/// The people of one partner as the rules see them: its group, the
/// group's memberships, its contacts, and the candidate users (group
/// members, users with a contact's e-mail, users a contact links to) with
/// their enrollments. The staff partner page shows the same people.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartnerPeople {
    pub group: Option<LmsGroup>,
    pub memberships: Vec<Membership>,
    pub contacts: Vec<Contact>,
    pub users: Vec<LmsUser>,
    pub enrollments: Vec<Enrollment>,
}

/// How one item kind was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
}

impl WriteCounts {
    pub fn add(&mut self, o: WriteCounts) {
        self.created += o.created;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.deleted += o.deleted;
    }
}

/// What one recompute did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The summary as stored now (its `computed_at` kept when nothing
    /// else changed).
    pub summary: PartnerSummary,
    pub summary_write: WriteCounts,
    pub rows: WriteCounts,
}

impl Outcome {
    /// Summary and rows together.
    pub fn counts(&self) -> WriteCounts {
        let mut c = self.summary_write;
        c.add(self.rows);
        c
    }
}

/// Loads the people of `partner_id`'s partner whose group is `group_id`.
pub async fn load_people<I: PartnerInputs>(
    inputs: &I,
    partner_id: &str,
    group_id: Option<&str>,
) -> Result<PartnerPeople> {
    let (group, memberships, contacts) = futures::try_join!(
        async {
            match group_id {
                Some(g) => inputs.group(g).await,
                None => Ok(None),
            }
        },
        async {
            match group_id {
                Some(g) => inputs.members(g).await,
                None => Ok(Vec::new()),
            }
        },
        inputs.contacts(partner_id),
    )?;
    let mut ids: BTreeSet<String> = memberships.iter().map(|m| m.user_id.clone()).collect();
    let mut emails: BTreeSet<String> = BTreeSet::new();
    for c in &contacts {
        ids.extend(c.lms_user_id.clone());
        let e = normalize_email(&c.email);
        if !e.is_empty() {
            emails.insert(e);
        }
    }
    let emails: Vec<String> = emails.into_iter().collect();
    // In chunks, with no closure held across an await: the futures stay
    // `Send` for every caller (a stream of closures over borrowed data is
    // not, for higher-ranked lifetimes).
    for chunk in emails.chunks(LOOKUPS_AT_ONCE) {
        let lookups: Vec<_> = chunk.iter().map(|e| inputs.users_with_email(e)).collect();
        for found in futures::future::try_join_all(lookups).await? {
            ids.extend(found);
        }
    }
    let ids: Vec<String> = ids.into_iter().collect();
    let mut users = Vec::with_capacity(ids.len());
    let mut enrollments = Vec::new();
    for p in inputs.people(&ids).await? {
        // Offboarded users count nothing: their records are not needed.
        if p.user.is_active() {
            enrollments.extend(p.enrollments);
        }
        users.push(p.user);
    }
    users.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(PartnerPeople {
        group,
        memberships,
        contacts,
        users,
        enrollments,
    })
}

/// Recomputes partner `partner_id` at `now` and stores what changed.
/// `None` when no such partner is stored.
pub async fn recompute_partner<I: PartnerInputs>(
    inputs: &I,
    partner_id: &str,
    settings: RuleSettings<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>> {
    let stored = inputs.stored(partner_id).await?;
    let Some(partner) = stored.profile.clone() else {
        return Ok(None);
    };
    let (people, awards, programs) = futures::try_join!(
        Box::pin(load_people(
            inputs,
            partner_id,
            partner.lms_group_id.as_deref()
        )),
        inputs.awards(),
        inputs.programs(),
    )?;
    let mut course_ids: BTreeSet<String> = people
        .enrollments
        .iter()
        .map(|e| e.course_id.clone())
        .collect();
    course_ids.extend(awards.iter().map(|a| a.course_id.clone()));
    for d in &programs.definitions {
        course_ids.extend(d.courses.iter().cloned());
    }
    let courses = inputs.courses(&course_ids).await?;
    let data = PartnerData {
        partner: &partner,
        group: people.group.as_ref(),
        memberships: &people.memberships,
        contacts: &people.contacts,
        users: &people.users,
        enrollments: &people.enrollments,
        courses: &courses,
        manual_awards: &awards,
        org_certs: &stored.org_certs,
        categories: settings.categories,
        default_validity_months: settings.default_validity_months,
    };
    let (summary, rows) = summary_and_rows(&data, &programs, now);
    let (changes, outcome) = diff(&stored, summary, rows, now);
    if !changes.is_empty() {
        inputs.write(partner_id, changes).await?;
    }
    Ok(Some(outcome))
}

/// What to write so the stored partner equals `summary` and `rows`. Pure:
/// the summary keeps its stored `computed_at` when nothing else differs, so
/// an unchanged re-sync writes nothing.
pub fn diff(
    stored: &Stored,
    mut summary: PartnerSummary,
    rows: Vec<CertRow>,
    now: DateTime<Utc>,
) -> (Changes, Outcome) {
    let mut changes = Changes::default();
    let mut summary_write = WriteCounts::default();
    match &stored.summary {
        Some(old) => {
            let mut cmp = summary.clone();
            cmp.computed_at = old.computed_at;
            if &cmp == old {
                summary = cmp;
                summary_write.unchanged += 1;
            } else {
                summary_write.updated += 1;
                changes.summary = Some(summary.clone());
            }
        }
        None => {
            summary.computed_at = now;
            summary_write.created += 1;
            changes.summary = Some(summary.clone());
        }
    }
    let mut row_counts = WriteCounts::default();
    let mut keep: BTreeSet<(String, String)> = BTreeSet::new();
    for r in rows {
        let key = (r.user_id.clone(), r.course_id.clone());
        match stored.rows.get(&key) {
            Some(Some(old)) if *old == r => row_counts.unchanged += 1,
            Some(_) => {
                row_counts.updated += 1;
                changes.put_rows.push(r);
            }
            None => {
                row_counts.created += 1;
                changes.put_rows.push(r);
            }
        }
        keep.insert(key);
    }
    for key in stored.rows.keys() {
        if !keep.contains(key) {
            row_counts.deleted += 1;
            changes.delete_rows.push(key.clone());
        }
    }
    (
        changes,
        Outcome {
            summary,
            summary_write,
            rows: row_counts,
        },
    )
}

#[cfg(test)]
mod tests;
