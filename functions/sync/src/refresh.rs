//! After a task that can change certifications: the partners it touched
//! are recomputed by the one recompute use case
//! (`portal_core::recompute::recompute_partner`), which reads only what
//! each partner needs and writes only what changed. This module is the
//! loop around it: partner order, the Lambda time budget, and one
//! partner's failure isolated from the rest.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use portal_core::recompute::dynamo::StoreInputs;
use portal_core::recompute::{recompute_partner, RuleSettings};
use portal_core::task_run::{Budget, TaskRun};
use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::error::SyncError;

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

/// Recomputes the partners of `touched` in id order, starting after
/// `after`. Returns `Some(last done)` when the budget ran out first. A
/// partner whose recompute fails is counted failed and named in the run's
/// details (`recompute_failed`), and the loop goes on; the run then ends
/// `partial` (`tasks::run`).
pub async fn recompute(
    deps: &Deps,
    run: &mut TaskRun,
    touched: &Touched,
    after: Option<&str>,
    budget: &Budget,
    now: DateTime<Utc>,
) -> Result<Option<String>, SyncError> {
    let ids: Vec<String> = match touched {
        Touched::Nothing => return Ok(None),
        // Every partner: the nightly safety net.
        Touched::All => {
            let mut ids: Vec<String> = deps
                .store
                .all_partners()
                .await?
                .into_iter()
                .map(|p| p.id)
                .collect();
            ids.sort_unstable();
            ids
        }
        Touched::Partners(set) => set.iter().cloned().collect(),
    };
    // One per run: courses, awards and programs are read once for all.
    let inputs = StoreInputs::new(&deps.store);
    let settings = RuleSettings {
        categories: &deps.config.categories,
        default_validity_months: deps.config.default_validity_months,
    };
    let mut last_done: Option<String> = None;
    let mut consecutive_failures = 0u32;
    // Filtered before the loop: no closure over `after` lives across its
    // awaits (the handler's future must stay `Send`).
    let ids: Vec<String> = ids
        .into_iter()
        .filter(|id| after.is_none_or(|a| id.as_str() > a))
        .collect();
    for id in ids {
        // At least one partner per invocation, so a tiny budget still
        // makes progress.
        if let Some(last) = &last_done {
            if budget.exhausted() {
                return Ok(Some(last.clone()));
            }
        }
        // On the heap: a large future in a debug build's worker stack.
        match Box::pin(recompute_partner(&inputs, &id, settings, now)).await {
            Ok(Some(out)) => {
                consecutive_failures = 0;
                let c = out.counts();
                run.counts.created += c.created;
                run.counts.updated += c.updated;
                run.counts.unchanged += c.unchanged;
                // Rows that no longer apply (user left, course lost its
                // NPCU …).
                run.counts.deactivated += c.deleted;
            }
            Ok(None) => consecutive_failures = 0,
            // One partner's failure (an item over DynamoDB's limits, a row
            // the store refuses) must not leave every later partner stale:
            // record it and go on with the next.
            Err(e) => {
                let e = SyncError::from(e);
                tracing::error!(partner = %id, error = %e, "recompute of a partner failed; continuing");
                run.counts.failed += 1;
                note_failed(run, &id, &e);
                consecutive_failures += 1;
                if consecutive_failures >= MAX_CONSECUTIVE_FAILURES {
                    // Not one partner's data: the store itself fails.
                    return Err(e);
                }
            }
        }
        run.heartbeat().await?;
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
