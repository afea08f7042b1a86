//! After a task that can change certifications: the per-partner summary
//! (read by all-partner reports) and the dashboard CERT rows (with the
//! expiry index) of the partners touched, computed by the pure rules from
//! what the store now holds. Rows that no longer apply are deleted.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use portal_core::model::Enrollment;
use portal_core::model::PartnerSummary;
use portal_core::rules::programs::{summary_and_rows, Programs};
use portal_core::rules::summary::PartnerData;
use portal_core::store::batch::hashes_of;
use portal_core::store::entities::{cert_row_item, summary_item};
use portal_core::store::{keys, ItemKey, StoreError};
use portal_core::tasks::{Budget, TaskRun};
use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::error::SyncError;
use crate::snapshot::{EnrollmentCache, Snapshot};
use crate::write::put_known;

/// Which partners need their summary recomputed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Touched {
    #[default]
    Nothing,
    All,
    Partners(BTreeSet<String>),
}

impl Touched {
    pub fn add(&mut self, ids: impl IntoIterator<Item = String>) {
        match self {
            Touched::All => {}
            Touched::Nothing => {
                let set: BTreeSet<String> = ids.into_iter().collect();
                if !set.is_empty() {
                    *self = Touched::Partners(set);
                }
            }
            Touched::Partners(set) => set.extend(ids),
        }
    }
}

/// What the recompute reads: the stored picture and the enrollments
/// fetched in this invocation.
pub struct Inputs<'a> {
    pub snap: &'a Snapshot,
    pub cache: &'a EnrollmentCache,
    pub now: DateTime<Utc>,
}

/// Recomputes the partners of `touched` in id order, starting after
/// `after`. Returns `Some(last done)` when the budget ran out first. A
/// partner whose recompute fails is counted failed and named in the run's
/// details (`recompute_failed`), and the loop goes on; the run then ends
/// `partial` (`tasks::run`).
pub async fn recompute(
    deps: &Deps,
    run: &mut TaskRun,
    inputs: &Inputs<'_>,
    touched: &Touched,
    after: Option<&str>,
    budget: &Budget,
) -> Result<Option<String>, SyncError> {
    let (snap, cache, now) = (inputs.snap, inputs.cache, inputs.now);
    let mut ids: Vec<&str> = match touched {
        Touched::Nothing => return Ok(None),
        Touched::All => snap.partners.iter().map(|p| p.id.as_str()).collect(),
        Touched::Partners(set) => set.iter().map(String::as_str).collect(),
    };
    ids.sort_unstable();
    let by_id: HashMap<&str, &portal_core::model::Partner> =
        snap.partners.iter().map(|p| (p.id.as_str(), p)).collect();
    // Users never fetched have no stored enrollments: no Query for them.
    let fetched = crate::markers::fetched_users(&deps.store).await?;
    // PROGRAMS HOOK (issue 16): definitions and manual statuses, once.
    let programs = deps.store.load_programs().await?;
    let mut last_done: Option<&str> = None;
    let mut consecutive_failures = 0u32;
    for id in ids.into_iter().filter(|id| after.is_none_or(|a| *id > a)) {
        // At least one partner per invocation, so a tiny budget still
        // makes progress.
        if let Some(last) = last_done {
            if budget.exhausted() {
                return Ok(Some(last.to_string()));
            }
        }
        if let Some(partner) = by_id.get(id) {
            match recompute_one(deps, run, snap, cache, &fetched, &programs, partner, now).await {
                Ok(()) => consecutive_failures = 0,
                // One partner's failure (an item over DynamoDB's limits, a
                // row the store refuses) must not leave every later partner
                // stale: record it and go on with the next.
                Err(e) => {
                    tracing::error!(partner = id, error = %e, "recompute of a partner failed; continuing");
                    run.counts.failed += 1;
                    note_failed(run, id, &e);
                    consecutive_failures += 1;
                    if consecutive_failures >= MAX_CONSECUTIVE_FAILURES {
                        // Not one partner's data: the store itself fails.
                        return Err(e);
                    }
                }
            }
            run.heartbeat().await?;
        }
        last_done = Some(id);
    }
    Ok(None)
}

/// Failures in a row after which the recompute stops: a failure of every
/// partner is the store's, not a partner's, and going on would only fail
/// the rest one by one.
const MAX_CONSECUTIVE_FAILURES: u32 = 10;

/// Failed partners named in the run's details (and its error), at most.
const MAX_NOTED: usize = 50;

const FAILED_KEY: &str = "recompute_failed";

/// Records in the run's details that `partner` failed, with the error.
fn note_failed(run: &mut TaskRun, partner: &str, e: &SyncError) {
    if !run.details.is_object() {
        run.details = serde_json::json!({});
    }
    let list = &mut run.details[FAILED_KEY];
    if !list.is_array() {
        *list = serde_json::json!([]);
    }
    if let Some(v) = list.as_array_mut() {
        if v.len() < MAX_NOTED {
            v.push(serde_json::json!({"partner_id": partner, "error": e.to_string()}));
        }
    }
}

/// Ids of the partners whose recompute failed in this invocation.
pub fn failed_partners(run: &TaskRun) -> Vec<String> {
    run.details
        .get(FAILED_KEY)
        .and_then(|v| v.as_array())
        .map(|v| {
            v.iter()
                .filter_map(|f| f["partner_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

// The inputs of one partner's recompute; issue 17's shared recompute
// replaces this function, so no struct is made for them.
#[allow(clippy::too_many_arguments)]
async fn recompute_one(
    deps: &Deps,
    run: &mut TaskRun,
    snap: &Snapshot,
    cache: &EnrollmentCache,
    fetched: &HashSet<String>,
    programs: &Programs,
    partner: &portal_core::model::Partner,
    now: DateTime<Utc>,
) -> Result<(), SyncError> {
    let store = &deps.store;
    let users = snap.candidate_users(partner);
    let mut enrollments: Vec<Enrollment> = Vec::new();
    for u in users.iter().filter(|u| u.is_active()) {
        match cache.get(&u.id) {
            Some(e) => enrollments.extend(e.iter().cloned()),
            None if fetched.contains(&u.id) => {
                enrollments.extend(store.user_enrollments(&u.id).await?)
            }
            None => {}
        }
    }
    let group = partner
        .lms_group_id
        .as_deref()
        .and_then(|g| snap.groups.get(g));
    let data = PartnerData {
        partner,
        group,
        memberships: partner
            .lms_group_id
            .as_deref()
            .and_then(|g| snap.memberships.get(g))
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        contacts: snap
            .contacts_by_partner
            .get(&partner.id)
            .map(Vec::as_slice)
            .unwrap_or(&[]),
        users: &users,
        enrollments: &enrollments,
        courses: &snap.courses,
        manual_awards: &snap.awards,
        org_certs: &snap.org_certs,
        categories: &deps.config.categories,
        default_validity_months: deps.config.default_validity_months,
    };
    // PROGRAMS HOOK (issue 16): summary and rows with the definitions and
    // manual statuses applied (the plain rules when there are none).
    let (mut summary, rows) = summary_and_rows(&data, programs, now);

    // One Query reads the stored summary and the rows' hashes.
    let existing = store
        .query_partition(&keys::partner_pk(&partner.id))
        .await?;
    let mut stored: Option<PartnerSummary> = None;
    let mut cert_hashes: HashMap<ItemKey, String> = HashMap::new();
    for item in existing {
        let Ok(key) = ItemKey::of(&item) else {
            continue;
        };
        if key.sk == keys::SUMMARY {
            stored = Some(serde_dynamo::from_item(item).map_err(StoreError::from)?);
        } else if key.sk.starts_with("CERT#") {
            if let Some(h) = hashes_of(std::slice::from_ref(&item)).remove(&key) {
                cert_hashes.insert(key, h);
            } else {
                cert_hashes.insert(key, String::new());
            }
        }
    }
    // `computed_at` alone must not cause a write: keep the stored one when
    // nothing else changed (an unchanged re-sync writes nothing).
    match stored {
        Some(old) => {
            let mut cmp = summary.clone();
            cmp.computed_at = old.computed_at;
            if cmp == old {
                run.counts.unchanged += 1;
            } else {
                store.put(summary_item(&summary)?).await?;
                run.counts.updated += 1;
            }
        }
        None => {
            summary.computed_at = now;
            store.put(summary_item(&summary)?).await?;
            run.counts.created += 1;
        }
    }
    let items = rows
        .iter()
        .map(|r| cert_row_item(&partner.id, r))
        .collect::<Result<Vec<_>, _>>()?;
    let keep: HashSet<ItemKey> = items.iter().map(|i| i.key().clone()).collect();
    let gone: Vec<ItemKey> = cert_hashes
        .keys()
        .filter(|k| !keep.contains(*k))
        .cloned()
        .collect();
    put_known(store, items, &cert_hashes, &mut run.counts).await?;
    if !gone.is_empty() {
        // Rows that no longer apply (user left, course lost its NPCU …).
        run.counts.deactivated += gone.len() as u64;
        store.batch_delete(gone).await?;
    }
    Ok(())
}
