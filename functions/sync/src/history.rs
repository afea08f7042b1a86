//! The daily history snapshot: the first `crm-push` run that finishes on a
//! day (UTC) writes every tracked partner's numbers of that moment — its
//! summary's view, the numbers every report shows and the push just sent
//! to the CRM — as that day's point (`store::history`). `crm-push` runs
//! last in the nightly chain and every few hours besides, so a day is
//! never missed while the sync runs at all. Later runs that day find the
//! marker and read one item. A partner's point is appended at most once a day (the store's
//! append is conditional), so a retry after a partial snapshot only adds
//! the points still missing.
//!
//! A failed snapshot does not fail the task that triggered it (the data
//! sync itself succeeded): it is logged and put in the run's details, and
//! the next run tries again.

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use portal_core::rules::history::HistoryPoint;
use serde_json::{json, Map, Value};

use crate::deps::Deps;
use crate::error::SyncError;
use crate::task_name::TaskName;

/// The task whose finished runs take the snapshot.
pub const SNAPSHOT_AFTER: TaskName = TaskName::CrmPush;

/// Writes today's points unless done already; returns how many were
/// added (0 when the day was done).
pub async fn snapshot_if_due(deps: &Deps, now: DateTime<Utc>) -> Result<usize, SyncError> {
    let store = &deps.store;
    let today = now.date_naive();
    if store.history_marker().await?.is_some_and(|d| d >= today) {
        return Ok(0);
    }
    let summaries = store.all_summaries().await?;
    let cfg = &deps.config;
    let points: Vec<(String, HistoryPoint)> = summaries
        .iter()
        .filter(|s| s.tracked)
        .map(|s| {
            let v = s.view(now, cfg.warning_days, &cfg.tiers);
            (s.partner_id.clone(), HistoryPoint::from_view(today, &v))
        })
        .collect();
    let added: Vec<bool> = futures::stream::iter(points)
        .map(|(id, p)| {
            let store = store.clone();
            async move { store.append_history(&id, &p).await }
        })
        .buffer_unordered(deps.options.concurrency.max(1))
        .try_collect()
        .await?;
    store.set_history_marker(today).await?;
    Ok(added.into_iter().filter(|a| *a).count())
}

/// [`snapshot_if_due`] after a finished task run, its outcome put in the
/// run's `details` (`history_points`, or `history_error`).
pub async fn after_run(deps: &Deps, now: DateTime<Utc>, details: &mut Map<String, Value>) {
    match snapshot_if_due(deps, now).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(points = n, "history snapshot written");
            details.insert("history_points".into(), json!(n));
        }
        Err(e) => {
            tracing::error!(error = %e, "history snapshot failed; the next run retries");
            details.insert("history_error".into(), json!(e.to_string()));
        }
    }
}
