//! Northpass webhook bookkeeping: which events were received (dedupe) and
//! how many were received, duplicated, rejected, ignored, processed or
//! failed (the admin's view of the webhook path).
//!
//! - One item per event id (`HOOK#<event id>` / `EVENT`), written with a
//!   conditional PutItem: of two deliveries of the same event (Northpass
//!   redelivers for 24 hours, docs/source-contract.md), only the first
//!   gets through; the item's TTL removes it after [`DEDUPE_FOR`].
//! - One counter item (`HOOKS` / `COUNTERS`): every count is one UpdateItem
//!   `ADD`, so concurrent receivers and consumers share it without a
//!   read-modify-write race (as `store/ratelimit.rs` counts attempts).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{self, entity};
use super::schema;
use super::stats::OpStats;
use super::{cap, sdk_err, Keys, Result, Store, StoreError, StoreItem};

/// How long an event id is remembered: past Northpass' 24 hours of
/// redeliveries, with room for a delivery stuck in its queue.
pub const DEDUPE_FOR: Duration = Duration::days(3);

/// A received event, as remembered for dedupe.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct HookEventRecord {
    pub event_id: String,
    pub event_type: String,
    pub received_at: Option<DateTime<Utc>>,
}

/// The webhook counters.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(default)]
pub struct HookCounters {
    /// New events, enqueued for the consumer.
    pub received: u64,
    /// Redeliveries of an event already received: no-ops.
    pub duplicates: u64,
    /// Payloads that are not an event (logged, answered 2xx, dropped).
    pub rejected: u64,
    /// Events of a type the portal does not act on.
    pub ignored: u64,
    /// Events the consumer applied.
    pub processed: u64,
    /// Consumer attempts that failed (the message is retried, then DLQ).
    pub failed: u64,
}

/// One counter of [`HookCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookCounter {
    Received,
    Duplicates,
    Rejected,
    Ignored,
    Processed,
    Failed,
}

impl HookCounter {
    fn attr(self) -> &'static str {
        match self {
            HookCounter::Received => "received",
            HookCounter::Duplicates => "duplicates",
            HookCounter::Rejected => "rejected",
            HookCounter::Ignored => "ignored",
            HookCounter::Processed => "processed",
            HookCounter::Failed => "failed",
        }
    }
}

impl Store {
    /// Remembers `event_id`; `true` the first time, `false` for a
    /// redelivery (nothing written).
    pub async fn claim_hook_event(
        &self,
        event_id: &str,
        event_type: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let rec = HookEventRecord {
            event_id: event_id.to_string(),
            event_type: event_type.to_string(),
            received_at: Some(now),
        };
        let item = StoreItem::new(
            Keys::new(keys::hook_pk(event_id), keys::HOOK_SK, entity::HOOK).ttl(now + DEDUPE_FOR),
            &rec,
        )?;
        match self.put_new(item).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Forgets `event_id` (the event could not be enqueued: its
    /// redelivery must get through).
    pub async fn release_hook_event(&self, event_id: &str) -> Result<()> {
        self.delete(&keys::hook_pk(event_id), keys::HOOK_SK)
            .await
            .map(|_| ())
    }

    pub async fn get_hook_event(&self, event_id: &str) -> Result<Option<HookEventRecord>> {
        self.get_as(&keys::hook_pk(event_id), keys::HOOK_SK).await
    }

    /// Adds `by` to `counter` (one UpdateItem `ADD`; creates the item).
    pub async fn count_hook(&self, counter: HookCounter, by: u64) -> Result<()> {
        if by == 0 {
            return Ok(());
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                schema::PK,
                AttributeValue::S(keys::HOOK_COUNTERS_PK.to_string()),
            )
            .key(
                schema::SK,
                AttributeValue::S(keys::HOOK_COUNTERS_SK.to_string()),
            )
            .update_expression("ADD #n :by SET #et = :et")
            .expression_attribute_names("#n", counter.attr())
            .expression_attribute_names("#et", "et")
            .expression_attribute_values(":by", AttributeValue::N(by.to_string()))
            .expression_attribute_values(":et", AttributeValue::S(entity::HOOK_COUNTERS.into()))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem", e))?;
        self.record(
            "UpdateItem",
            OpStats {
                requests: 1,
                items_written: 1,
                capacity_units: cap(out.consumed_capacity()),
                write_units: 1.0,
                ..Default::default()
            },
        );
        self.record_written([entity::HOOK_COUNTERS]);
        Ok(())
    }

    /// The counters (all zero before the first event).
    pub async fn hook_counters(&self) -> Result<HookCounters> {
        Ok(self
            .get_as::<HookCounters>(keys::HOOK_COUNTERS_PK, keys::HOOK_COUNTERS_SK)
            .await?
            .unwrap_or_default())
    }
}
