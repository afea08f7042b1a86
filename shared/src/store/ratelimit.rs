//! Attempt counters with a time limit: how often a client or an address
//! tried something (the portal's sign-in forms) within a window.
//!
//! One item per subject (`RATE#<bucket>#<sha256 of subject>` / `COUNT`)
//! holding the count and the end of its window. The window opens with
//! the first attempt and lasts the limit's length; every attempt is one
//! UpdateItem `ADD` conditioned on the window still being open, so
//! concurrent Lambda containers share the count without a
//! read-modify-write race. When the window is over (or there is none), a
//! conditional PutItem opens a new one; of two containers doing that at
//! once, one wins and the other counts into its window. The subject (an
//! IP address, an e-mail) is stored only hashed, and the item's TTL
//! removes it once the window has ended.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, ReturnValue};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::access::hash_token;
use super::keys::{self, entity};
use super::schema;
use super::stats::OpStats;
use super::{cap, sdk_err, Keys, Result, Store, StoreError, StoreItem};

/// At most `max` attempts per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

/// The answer to one counted attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Within the limit; `count` attempts so far in this window.
    Allowed { count: u64 },
    /// Over the limit until the window ends, `retry_after` from now (at
    /// least one second).
    Limited { count: u64, retry_after: Duration },
}

impl RateDecision {
    pub fn is_limited(&self) -> bool {
        matches!(self, RateDecision::Limited { .. })
    }
}

impl RateLimit {
    /// Decision for the `count`-th attempt of a window ending at `end`.
    pub fn decide(&self, count: u64, now: DateTime<Utc>, end: DateTime<Utc>) -> RateDecision {
        if count <= u64::from(self.max) {
            RateDecision::Allowed { count }
        } else {
            RateDecision::Limited {
                count,
                retry_after: (end - now).max(Duration::seconds(1)),
            }
        }
    }
}

/// The stored counter.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Counter {
    count: u64,
    /// End of the window in epoch ms: a number, for the conditions.
    window_end_ms: i64,
}

/// Counting into an open window and opening a new one can each lose a
/// race once; a third round means something is wrong.
const ROUNDS: usize = 3;

impl Store {
    /// Counts one attempt of `subject` in `bucket` (e.g. `login-ip`,
    /// `login-email`) and says whether it is within `limit`. Attempts over
    /// the limit are counted too; the wait ends with the window.
    pub async fn count_attempt(
        &self,
        bucket: &str,
        subject: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<RateDecision> {
        let pk = keys::rate_pk(bucket, &hash_token(subject));
        let now_ms = AttributeValue::N(now.timestamp_millis().to_string());
        for _ in 0..ROUNDS {
            if let Some(c) = self.add_to_open_window(&pk, &now_ms).await? {
                let end = DateTime::from_timestamp_millis(c.window_end_ms).unwrap_or(now);
                return Ok(limit.decide(c.count, now, end));
            }
            let end = now + limit.window;
            let counter = Counter {
                count: 1,
                window_end_ms: end.timestamp_millis(),
            };
            let item = StoreItem::new(
                Keys::new(pk.clone(), keys::RATE_SK, entity::RATE).ttl(end),
                &counter,
            )?;
            match self
                .put_conditional(
                    item,
                    "attribute_not_exists(#pk) OR #end <= :now",
                    &[("#pk", schema::PK), ("#end", "window_end_ms")],
                    &[(":now", now_ms.clone())],
                )
                .await
            {
                Ok(()) => return Ok(limit.decide(1, now, end)),
                // Another container opened the window first: count into it.
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Malformed(format!(
            "{pk}: the counter changed {ROUNDS} times during one attempt"
        )))
    }

    /// `ADD 1` while the window is open; `None` when there is no open one.
    async fn add_to_open_window(
        &self,
        pk: &str,
        now_ms: &AttributeValue,
    ) -> Result<Option<Counter>> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PK, AttributeValue::S(pk.to_string()))
            .key(schema::SK, AttributeValue::S(keys::RATE_SK.to_string()))
            .update_expression("ADD #n :one")
            .condition_expression("#end > :now")
            .expression_attribute_names("#n", "count")
            .expression_attribute_names("#end", "window_end_ms")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", now_ms.clone())
            .return_values(ReturnValue::AllNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match res {
            Ok(out) => {
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
                self.record_written([entity::RATE]);
                let attrs = out.attributes().cloned().unwrap_or_default();
                Ok(Some(serde_dynamo::from_item(attrs)?))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.record(
                    "UpdateItem",
                    OpStats {
                        requests: 1,
                        conditional_failures: 1,
                        write_units: 1.0,
                        ..Default::default()
                    },
                );
                Ok(None)
            }
            Err(e) => Err(sdk_err("UpdateItem", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn over_the_limit_waits_until_the_window_ends() {
        let l = RateLimit {
            max: 3,
            window: Duration::minutes(15),
        };
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 7, 30).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 12, 1, 10, 15, 0).unwrap();
        assert_eq!(l.decide(3, now, end), RateDecision::Allowed { count: 3 });
        assert_eq!(
            l.decide(4, now, end),
            RateDecision::Limited {
                count: 4,
                retry_after: Duration::seconds(450)
            }
        );
        // At the very end the wait is still a whole second, never zero.
        assert!(l.decide(9, end, end).is_limited());
        assert_eq!(
            l.decide(9, end, end),
            RateDecision::Limited {
                count: 9,
                retry_after: Duration::seconds(1)
            }
        );
    }
}
