//! Sync-task bookkeeping: a lease lock (so two runs never overlap), the
//! task state (incremental watermark, checkpoint to continue in a new
//! invocation) and run records kept 90 days for history.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use crate::runs::RunRecord;

use super::keys::{self, entity};
use super::{Keys, QuerySpec, Result, SkCondition, Store, StoreError, StoreItem};

/// A task running longer than this is stuck (docs/source-contract.md) — the
/// lease length
/// to use, so a crashed run's lock is taken over after it.
pub const DEFAULT_LEASE: Duration = Duration::minutes(30);

/// How long run records are kept (DynamoDB TTL deletes them afterwards).
pub const RUN_RETENTION: Duration = Duration::days(90);

/// A held lock on a task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub task: String,
    pub owner: String,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `expires_at` in epoch milliseconds: a number, so the takeover
    /// condition can compare it with `<=` in DynamoDB.
    pub expires_ms: i64,
    /// `acquired_at` in epoch ms; with `owner` it identifies this very
    /// acquisition, so a renew/release never touches a newer lease of the
    /// same owner name.
    pub acquired_ms: i64,
}

/// Incremental-sync state of a task (one item per task, listed through the
/// type index for the task status report).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct TaskState {
    pub task: String,
    /// Start time of the last successful run: the next incremental run
    /// fetches what changed since then.
    pub watermark: Option<DateTime<Utc>>,
    /// Where an interrupted run continues (cursor, page, remaining ids…);
    /// `None` when the last run finished.
    pub checkpoint: Option<serde_json::Value>,
    pub last_run_id: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

fn lease_item(l: &Lease) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(keys::task_pk(&l.task), keys::LOCK_SK, entity::LOCK),
        l,
    )
}

fn lease_at(task: &str, owner: &str, now: DateTime<Utc>, ttl: Duration) -> Lease {
    let expires_at = now + ttl;
    Lease {
        task: task.to_string(),
        owner: owner.to_string(),
        acquired_at: now,
        expires_at,
        expires_ms: expires_at.timestamp_millis(),
        acquired_ms: now.timestamp_millis(),
    }
}

impl Store {
    /// Takes the lock of `task` for `ttl` if it is free, expired (a stuck
    /// run: its `expires_at <= now`) or already ours; otherwise
    /// [`StoreError::AlreadyHeld`] naming the holder. One conditional
    /// PutItem (plus a GetItem to name the holder on conflict).
    pub async fn acquire_lease(
        &self,
        task: &str,
        owner: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Lease> {
        let lease = lease_at(task, owner, now, ttl);
        let res = self
            .put_conditional(
                lease_item(&lease)?,
                "attribute_not_exists(#pk) OR #exp <= :now OR #owner = :owner",
                &[
                    ("#pk", super::schema::PK),
                    ("#exp", "expires_ms"),
                    ("#owner", "owner"),
                ],
                &[
                    (
                        ":now",
                        AttributeValue::N(now.timestamp_millis().to_string()),
                    ),
                    (":owner", AttributeValue::S(owner.to_string())),
                ],
            )
            .await;
        match res {
            Ok(()) => {
                tracing::info!(task, owner, expires_at = %lease.expires_at, "lease acquired");
                Ok(lease)
            }
            Err(StoreError::Conflict { .. }) => {
                let holder: Option<Lease> =
                    self.get_as(&keys::task_pk(task), keys::LOCK_SK).await?;
                Err(match holder {
                    Some(h) => StoreError::AlreadyHeld {
                        task: task.to_string(),
                        owner: h.owner,
                        since: h.acquired_at,
                        expires_at: h.expires_at,
                    },
                    // Released between our write and our read: report it
                    // as held anyway; the caller's next attempt succeeds.
                    None => StoreError::AlreadyHeld {
                        task: task.to_string(),
                        owner: String::from("(released meanwhile)"),
                        since: now,
                        expires_at: now,
                    },
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Extends a lease we hold to `now + ttl`; [`StoreError::LeaseLost`] if
    /// someone took it over meanwhile.
    pub async fn renew_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<Lease> {
        let mut renewed = lease_at(&lease.task, &lease.owner, now, ttl);
        renewed.acquired_at = lease.acquired_at;
        renewed.acquired_ms = lease.acquired_ms;
        match self
            .put_conditional(
                lease_item(&renewed)?,
                "#owner = :owner AND #acq = :acq",
                &[("#owner", "owner"), ("#acq", "acquired_ms")],
                &[
                    (":owner", AttributeValue::S(lease.owner.clone())),
                    (":acq", AttributeValue::N(lease.acquired_ms.to_string())),
                ],
            )
            .await
        {
            Ok(()) => Ok(renewed),
            Err(StoreError::Conflict { .. }) => Err(StoreError::LeaseLost {
                task: lease.task.clone(),
                owner: lease.owner.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Releases a lease we hold. `Ok(false)` when it was no longer ours (taken
    /// over after expiry) — nothing is deleted then.
    pub async fn release_lease(&self, lease: &Lease) -> Result<bool> {
        match self
            .delete_conditional(
                &keys::task_pk(&lease.task),
                keys::LOCK_SK,
                Some("#owner = :owner AND #acq = :acq"),
                &[("#owner", "owner"), ("#acq", "acquired_ms")],
                &[
                    (":owner", AttributeValue::S(lease.owner.clone())),
                    (":acq", AttributeValue::N(lease.acquired_ms.to_string())),
                ],
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict { .. }) => {
                tracing::warn!(task = %lease.task, owner = %lease.owner, "lease was taken over before release");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Releases a lease we hold by expiring it (`expires_at = now`) with a
    /// conditional PutItem instead of deleting it: for functions whose role
    /// has no DeleteItem (reminders). The next [`Store::acquire_lease`] at
    /// or after `now` takes it at once. `Ok(false)` when it was no longer
    /// ours — nothing is written then.
    pub async fn expire_lease(&self, lease: &Lease, now: DateTime<Utc>) -> Result<bool> {
        match self.renew_lease(lease, now, Duration::zero()).await {
            Ok(_) => Ok(true),
            Err(StoreError::LeaseLost { .. }) => {
                tracing::warn!(task = %lease.task, owner = %lease.owner, "lease was taken over before release");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Current holder of a task's lock (expired or not).
    pub async fn get_lease(&self, task: &str) -> Result<Option<Lease>> {
        self.get_as(&keys::task_pk(task), keys::LOCK_SK).await
    }

    pub async fn get_task_state(&self, task: &str) -> Result<Option<TaskState>> {
        self.get_as(&keys::task_pk(task), keys::STATE_SK).await
    }

    pub async fn put_task_state(&self, state: &TaskState) -> Result<()> {
        let item = StoreItem::new(
            Keys::new(keys::task_pk(&state.task), keys::STATE_SK, entity::TASK)
                .typed(state.task.clone()),
            state,
        )?;
        self.put(item).await
    }

    /// Every task's state (type index), for the status report.
    pub async fn all_task_states(&self) -> Result<Vec<TaskState>> {
        self.query_type_as(entity::TASK).await
    }

    /// Writes a run record `TASK#<task>/RUN#<started>#<run id>` with a TTL of
    /// started + 90 days. Writing it again (same task/start/id) updates it.
    pub async fn put_run<T: Serialize>(
        &self,
        task: &str,
        started: DateTime<Utc>,
        run_id: &str,
        run: &T,
    ) -> Result<()> {
        let item = StoreItem::new(
            Keys::new(
                keys::task_pk(task),
                keys::run_sk(started, run_id),
                entity::RUN,
            )
            .ttl(started + RUN_RETENTION),
            run,
        )?;
        self.put(item).await
    }

    /// Convenience for the standard [`RunRecord`].
    pub async fn put_run_record(&self, run: &RunRecord) -> Result<()> {
        self.put_run(&run.task, run.started_at, &run.run_id, run)
            .await
    }

    /// The newest `limit` runs of a task, newest first.
    pub async fn recent_runs<T: DeserializeOwned>(
        &self,
        task: &str,
        limit: usize,
    ) -> Result<Vec<T>> {
        let items = self
            .query(
                &QuerySpec::partition(keys::task_pk(task))
                    .sk(SkCondition::BeginsWith(keys::RUN_PREFIX.into()))
                    .descending()
                    .limit(limit),
            )
            .await?;
        Ok(serde_dynamo::from_items(items)?)
    }
}
