//! The webhook consumer: the SQS batches the reports function's
//! `POST /hooks/northpass/{secret}` enqueued (functions/reports/src/hooks.rs).
//!
//! Per event, the payload is trusted only for *whom* to look at:
//!
//! - learner created: the person is registered (their user item, when
//!   the portal does not know them yet), so the next `lms-groups` run links
//!   them to their partner;
//! - course completion / learner progress: that learner's transcript is
//!   fetched again (one request through the client's shared rate limiter),
//!   written like `lms-enrollments` writes it (same writer, same fetch
//!   marker), and exactly the partners that learner belongs to are
//!   recomputed ([`recompute_partners`]). A learner of no partner costs
//!   nothing: their transcript is not the portal's business.
//!
//! Events are applied by re-reading, so a duplicate or an out-of-order
//! delivery changes nothing. A batch runs as one invocation of the
//! `lms-hooks` task (lease, run record); a message that fails is reported
//! in `batchItemFailures`, so SQS retries only it, and after the queue's
//! `maxReceiveCount` it lands in the dead-letter queue (template.yaml).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use portal_core::sources::northpass::hooks::{HookEvent, HookKind};
use portal_core::store::entities::user_items;
use portal_core::store::hooks::HookCounter;
use portal_core::store::StoreError;
use portal_core::task_run::{Begin, Budget, Mode, Step, TaskRun};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deps::Deps;
use crate::error::SyncError;
use crate::refresh::{failed_partners, recompute, Touched};
use crate::tasks::enrollments::{people_of, ChunkWriter};

/// The task name of the consumer's runs (lease, run records).
pub const HOOKS_TASK: &str = "lms-hooks";

/// How often a batch waits for another batch's lease before giving its
/// messages back to the queue.
const LEASE_TRIES: u32 = 10;
const LEASE_WAIT: Duration = Duration::from_secs(1);

/// An SQS event as Lambda delivers it (the fields the consumer reads).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SqsEvent {
    #[serde(rename = "Records")]
    pub records: Vec<SqsMessage>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SqsMessage {
    #[serde(rename = "messageId")]
    pub message_id: String,
    #[serde(default)]
    pub body: String,
    #[serde(rename = "eventSource", default)]
    pub event_source: String,
}

/// The partial batch response (`ReportBatchItemFailures`).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct SqsBatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl SqsBatchResponse {
    pub fn failed_ids(&self) -> Vec<&str> {
        self.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }
}

/// Whether a Lambda payload is an SQS event (and not a sync request).
pub fn is_sqs_event(v: &Value) -> bool {
    v.get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|m| m.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

/// Applies one batch; never fails as a whole: what failed is in the answer.
pub async fn handle_sqs(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let all: Vec<String> = event.records.iter().map(|m| m.message_id.clone()).collect();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut events: Vec<(String, HookEvent)> = Vec::new();
    for m in event.records {
        match serde_json::from_str::<HookEvent>(&m.body) {
            Ok(ev) => events.push((m.message_id, ev)),
            Err(e) => {
                // The receiver wrote it; a body it cannot have written is
                // kept for inspection (retries, then the DLQ).
                tracing::error!(message_id = %m.message_id, error = %e, "queued webhook event unreadable");
                failed.insert(m.message_id);
            }
        }
    }
    if !events.is_empty() {
        match apply(deps, &events).await {
            Ok(f) => failed.extend(f),
            Err(e) => {
                tracing::error!(error = %e, "webhook batch failed; every message is retried");
                failed.extend(events.iter().map(|(id, _)| id.clone()));
            }
        }
    }
    let done = all.len() - failed.len();
    for (c, n) in [
        (HookCounter::Processed, done),
        (HookCounter::Failed, failed.len()),
    ] {
        if let Err(e) = deps.store.count_hook(c, n as u64).await {
            tracing::warn!(counter = ?c, error = %e, "webhook counter not updated");
        }
    }
    tracing::info!(
        messages = all.len(),
        failed = failed.len(),
        "webhook batch done"
    );
    SqsBatchResponse {
        batch_item_failures: failed
            .into_iter()
            .map(|item_identifier| BatchItemFailure { item_identifier })
            .collect(),
    }
}

/// Takes the consumer's lease, waiting briefly for a concurrent batch.
async fn begin(deps: &Deps, now: DateTime<Utc>) -> Result<TaskRun, SyncError> {
    for _ in 0..LEASE_TRIES {
        match TaskRun::begin(&deps.store, HOOKS_TASK, Mode::Incremental, now).await? {
            Begin::Started(run) => return Ok(*run),
            Begin::AlreadyRunning(_) => tokio::time::sleep(LEASE_WAIT).await,
        }
    }
    Err(SyncError::Invalid(format!(
        "{HOOKS_TASK}: another batch holds the lease; retried later"
    )))
}

/// Applies the events; returns the message ids that failed.
async fn apply(deps: &Deps, events: &[(String, HookEvent)]) -> Result<Vec<String>, SyncError> {
    let now = deps.config.clock.now();
    let mut run = begin(deps, now).await?;
    let result = apply_in_run(deps, &mut run, events, now).await;
    let summary = run
        .finish(
            result
                .as_ref()
                .map(|_| Step::Done)
                .map_err(|e| e.to_string()),
        )
        .await;
    tracing::info!(run_id = %summary.run_id, counts = ?summary.counts, "webhook run recorded");
    result
}

async fn apply_in_run(
    deps: &Deps,
    run: &mut TaskRun,
    events: &[(String, HookEvent)],
    now: DateTime<Utc>,
) -> Result<Vec<String>, SyncError> {
    let store = &deps.store;
    let mut failed: Vec<String> = Vec::new();
    // Learner created: register the person unless already known (a stored
    // user from `lms-users` knows more than the payload).
    for (id, ev) in events
        .iter()
        .filter(|(_, e)| e.kind == HookKind::LearnerCreated)
    {
        let Some(p) = ev.person.as_ref() else {
            tracing::info!(event_id = %ev.event_id, "learner created without a person record; the next lms-users run reads them");
            continue;
        };
        match register(store, p).await {
            Ok(true) => run.counts.created += 1,
            Ok(false) => run.counts.unchanged += 1,
            Err(e) => {
                tracing::warn!(event_id = %ev.event_id, error = %e, "learner not registered");
                failed.push(id.clone());
            }
        }
    }
    // Transcript events, by learner.
    let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // The latest event time per learner: the refresh covers activity up to
    // then (an event without a time covers nothing beyond the fetch).
    let mut hook_at: HashMap<String, DateTime<Utc>> = HashMap::new();
    for (id, ev) in events {
        if let (true, Some(uid)) = (ev.kind.refreshes_transcript(), ev.person_id.as_ref()) {
            by_user.entry(uid.clone()).or_default().push(id.clone());
            if let Some(t) = ev.created_at {
                let e = hook_at.entry(uid.clone()).or_insert(t);
                *e = (*e).max(t);
            }
        }
    }
    if by_user.is_empty() {
        return Ok(failed);
    }
    let np = deps.northpass()?;
    let learners: BTreeSet<String> = by_user.keys().cloned().collect();
    // Keyed reads of these learners only: profiles, markers, partners.
    let looked = people_of(store, &learners).await?;
    let ids: Vec<String> = by_user
        .keys()
        .filter(|u| looked.partner_users.contains_key(*u))
        .cloned()
        .collect();
    tracing::info!(
        learners = by_user.len(),
        partner_learners = ids.len(),
        "webhook transcripts to fetch"
    );
    let mut got = Vec::new();
    let mut fetch = Box::pin(np.fetch_all_transcripts(ids.clone(), deps.options.concurrency));
    while let Some((uid, r)) = fetch.next().await {
        match r {
            Ok(entries) => got.push((uid, entries)),
            Err(e) => {
                tracing::warn!(user = %uid, error = %e, "webhook transcript fetch failed");
                run.counts.failed += 1;
                failed.extend(by_user.get(&uid).cloned().unwrap_or_default());
            }
        }
    }
    drop(fetch);
    let fetched: BTreeSet<String> = got.iter().map(|(u, _)| u.clone()).collect();
    let mut writer = ChunkWriter::new(
        store,
        &looked.active_at,
        &looked.partner_users,
        &looked.markers,
        now,
        deps.options.transcript_max_age,
    )
    .with_hook_times(hook_at);
    writer.write(run, got).await?;
    drop(writer);
    let partners: BTreeSet<String> = fetched
        .iter()
        .filter_map(|u| looked.partner_users.get(u))
        .flatten()
        .cloned()
        .collect();
    let failed_partners = recompute_partners(deps, run, partners, now).await?;
    if !failed_partners.is_empty() {
        // A learner's numbers are not on every dashboard: retry them.
        for uid in &fetched {
            if looked
                .partner_users
                .get(uid)
                .is_some_and(|ps| ps.iter().any(|p| failed_partners.contains(p)))
            {
                failed.extend(by_user.get(uid).cloned().unwrap_or_default());
            }
        }
    }
    Ok(failed)
}

/// Stores a person the portal has never seen; `false` when it already
/// knows them (nothing written).
async fn register(
    store: &portal_core::store::Store,
    p: &portal_core::sources::Person,
) -> Result<bool, SyncError> {
    let user = crate::convert::user(p);
    let mut items = user_items(&user)?.into_iter();
    let Some(profile) = items.next() else {
        return Ok(false);
    };
    match store.put_new(profile).await {
        Ok(()) => {}
        Err(StoreError::Conflict { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    for rest in items {
        store.put(rest).await?;
    }
    Ok(true)
}

/// The local stand-in for the SQS event source (portal-dev, tests): one
/// receive of up to 10 messages (long poll of `wait_secs`), handled like a
/// Lambda batch; the messages that did not fail are deleted, the others
/// come back after the queue's visibility timeout. Returns
/// `(received, failed)`.
pub async fn poll_queue(
    deps: &Deps,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait_secs: i32,
) -> Result<(usize, usize), SyncError> {
    let err = |e: String| SyncError::Invalid(format!("webhook queue {queue_url}: {e}"));
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        .send()
        .await
        .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
    let messages = out.messages();
    if messages.is_empty() {
        return Ok((0, 0));
    }
    let mut receipts: HashMap<String, String> = HashMap::new();
    let records: Vec<SqsMessage> = messages
        .iter()
        .filter_map(|m| {
            let id = m.message_id()?.to_string();
            receipts.insert(id.clone(), m.receipt_handle()?.to_string());
            Some(SqsMessage {
                message_id: id,
                body: m.body().unwrap_or_default().to_string(),
                event_source: "aws:sqs".into(),
            })
        })
        .collect();
    let n = records.len();
    let answer = handle_sqs(deps, SqsEvent { records }).await;
    let failed: BTreeSet<&str> = answer.failed_ids().into_iter().collect();
    for (id, receipt) in &receipts {
        if failed.contains(id.as_str()) {
            continue;
        }
        sqs.delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
    }
    Ok((n, failed.len()))
}

/// Recomputes exactly the partners the refreshed learners belong to;
/// returns those whose recompute failed.
async fn recompute_partners(
    deps: &Deps,
    run: &mut TaskRun,
    partners: BTreeSet<String>,
    now: DateTime<Utc>,
) -> Result<BTreeSet<String>, SyncError> {
    let mut touched = Touched::Nothing;
    touched.add(partners);
    recompute(deps, run, &touched, None, &Budget::unlimited(), now).await?;
    Ok(failed_partners(run).into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sqs_events_are_told_from_sync_requests() {
        let ev = json!({"Records": [{"messageId": "m-1", "body": "{}",
            "eventSource": "aws:sqs", "receiptHandle": "r"}]});
        assert!(is_sqs_event(&ev));
        let parsed: SqsEvent = serde_json::from_value(ev).unwrap();
        assert_eq!(parsed.records[0].message_id, "m-1");
        assert!(!is_sqs_event(&json!({"task": "lms-users"})));
        assert!(!is_sqs_event(&json!({"Records": []})));
        assert!(!is_sqs_event(
            &json!({"Records": [{"eventSource": "aws:s3"}]})
        ));
    }

    #[test]
    fn the_batch_response_names_failed_messages() {
        let r = SqsBatchResponse {
            batch_item_failures: vec![BatchItemFailure {
                item_identifier: "m-2".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m-2"}]})
        );
        assert_eq!(r.failed_ids(), vec!["m-2"]);
    }
}
