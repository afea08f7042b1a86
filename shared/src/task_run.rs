//! Task runtime shared by the scheduled functions (sync, reminders): a lease
//! lock so two invocations never run the same task, a run record with
//! counts, takeover of stuck runs, the incremental watermark and
//! checkpoint/continuation across invocations.
//!
//! Usage, one invocation:
//! ```text
//! let run = match TaskRun::begin(&store, "lms-users", Mode::Full, clock.now()).await? {
//!     Begin::Started(run) => run,
//!     Begin::AlreadyRunning(summary) => return Ok(summary),
//! };
//! // ... work, counting into run.counts, checking run.budget ...
//! run.finish(Ok(Step::Done)).await  // or Ok(Step::Checkpoint(cursor)), or Err(msg)
//! ```
//!
//! Two clocks on purpose: leases and run records use the wall clock (a lock
//! must expire in real time even when the business clock is pinned by
//! `PORTAL_NOW`), while the watermark uses the business instant the caller
//! passes in, because it is compared with the sources' `updated_at` stamps,
//! which live on the business timeline (equal to wall time in production).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::runs::{RunRecord, RunStatus};

use crate::store::leases::DEFAULT_LEASE;
use crate::store::{Lease, Store, StoreError, TaskState};

/// A run is stuck when its lease (renewed while it works) is older than
/// this; the next invocation takes it over.
pub const STUCK_AFTER: Duration = DEFAULT_LEASE;

/// Renew the lease when less than this is left of it, so a long local run
/// (no Lambda time limit) is never mistaken for a stuck one.
const RENEW_WHEN_LEFT: Duration = Duration::minutes(20);

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("task store: {0}")]
    Store(#[from] StoreError),
    #[error("unknown mode '{0}' (expected incremental or full)")]
    BadMode(String),
}

/// Incremental runs fetch what changed since the watermark; full runs fetch
/// everything and mark what vanished as inactive.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Incremental,
    Full,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Incremental => "incremental",
            Mode::Full => "full",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = TaskError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "incremental" | "" => Ok(Mode::Incremental),
            "full" => Ok(Mode::Full),
            other => Err(TaskError::BadMode(other.to_string())),
        }
    }
}

/// What a run did to the data, summed over all its invocations.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(default)]
pub struct Counts {
    /// Source records looked at.
    pub processed: u64,
    /// Items written that did not exist before.
    pub created: u64,
    /// Items rewritten because their content changed.
    pub updated: u64,
    /// Items whose content was equal: nothing written.
    pub unchanged: u64,
    /// Records marked inactive (vanished or excluded), or rows removed.
    pub deactivated: u64,
    /// Records that could not be fetched or written (the run goes on).
    pub failed: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.processed += o.processed;
        self.created += o.created;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.deactivated += o.deactivated;
        self.failed += o.failed;
    }
    /// Data items written (created + updated + deactivated).
    pub fn written(&self) -> u64 {
        self.created + self.updated + self.deactivated
    }
}

/// The JSON run summary a function returns (and the run record stores).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct RunSummary {
    pub task: String,
    pub run_id: String,
    pub mode: Mode,
    pub status: RunStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: Counts,
    pub error: Option<String>,
    /// Invocations this run took so far (1 + continuations).
    pub invocations: u32,
    /// Human-readable note ("already running since …", "took over …").
    pub message: Option<String>,
    /// Free-form numbers of the task (requests per source, pages …).
    pub details: Value,
}

impl RunSummary {
    pub fn is_success(&self) -> bool {
        self.status == RunStatus::Succeeded
    }
}

/// Remaining time of the current invocation. `deadline: None` = no limit
/// (local runs, tests that do not test checkpoints).
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub deadline: Option<Instant>,
    /// Checkpoint when less than this is left.
    pub margin: StdDuration,
}

impl Budget {
    pub fn unlimited() -> Self {
        Budget {
            deadline: None,
            margin: StdDuration::ZERO,
        }
    }
    /// `total` from now, checkpointing when `margin` is left.
    pub fn of(total: StdDuration, margin: StdDuration) -> Self {
        Budget {
            deadline: Some(Instant::now() + total),
            margin,
        }
    }
    /// Whether the task must stop and save a checkpoint now.
    pub fn exhausted(&self) -> bool {
        self.deadline
            .is_some_and(|d| d.saturating_duration_since(Instant::now()) <= self.margin)
    }
}

/// What the task body returns to [`TaskRun::finish`].
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Done,
    /// Continue later from this cursor (task-specific JSON, < 300 KB).
    Checkpoint(Value),
    /// Done except for what the message names: the run ends `partial`.
    Partial(String),
}

/// Outcome of [`TaskRun::begin`].
#[derive(Debug)]
pub enum Begin {
    Started(Box<TaskRun>),
    AlreadyRunning(RunSummary),
}

/// Continuation data kept in `TaskState.checkpoint` between invocations.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
struct Continuation {
    run_id: String,
    mode: Mode,
    /// Wall-clock start of the first invocation (run record key).
    started_at: Option<DateTime<Utc>>,
    /// Business instant at the first invocation: the next watermark.
    business_start: Option<DateTime<Utc>>,
    counts: Counts,
    invocations: u32,
    cursor: Value,
}

/// One invocation of a task, holding its lease.
#[derive(Debug)]
pub struct TaskRun {
    store: Store,
    lease: Lease,
    state: TaskState,
    pub task: String,
    pub run_id: String,
    /// The mode of the run (a continuation keeps the mode of its first
    /// invocation, whatever the new invocation asked for).
    pub mode: Mode,
    pub started_at: DateTime<Utc>,
    /// Business instant this run started at (first invocation).
    pub business_start: DateTime<Utc>,
    /// Start of the last successful run; `None` → fetch everything.
    pub watermark: Option<DateTime<Utc>>,
    /// Cursor of the interrupted invocation this one continues.
    pub cursor: Option<Value>,
    /// Counts of this run so far (earlier invocations included).
    pub counts: Counts,
    pub invocations: u32,
    /// Set when a stuck run's lease was taken over.
    pub took_over: Option<String>,
    pub details: Value,
}

fn new_run_id() -> String {
    let r: u64 = rand::rng().random();
    format!("{}-{r:016x}", Utc::now().format("%Y%m%dT%H%M%S"))
}

impl TaskRun {
    /// Takes the lease of `task` (taking over a stuck one), loads the
    /// watermark and any checkpoint, and writes a `running` run record.
    /// `business_now` is the business clock (`Clock::now`), used for the
    /// watermark.
    pub async fn begin(
        store: &Store,
        task: &str,
        mode: Mode,
        business_now: DateTime<Utc>,
    ) -> Result<Begin, TaskError> {
        let wall = Utc::now();
        let prior = store.get_lease(task).await?;
        let run_id = new_run_id();
        let lease = match store.acquire_lease(task, &run_id, wall, STUCK_AFTER).await {
            Ok(l) => l,
            Err(StoreError::AlreadyHeld {
                owner,
                since,
                expires_at,
                ..
            }) => {
                let msg = format!(
                    "task {task} is already running (run {owner} since {since}, lease until {expires_at})"
                );
                tracing::info!(task, %owner, "already running; not starting");
                return Ok(Begin::AlreadyRunning(RunSummary {
                    task: task.to_string(),
                    mode,
                    status: RunStatus::AlreadyRunning,
                    message: Some(msg),
                    ..Default::default()
                }));
            }
            Err(e) => return Err(e.into()),
        };
        // A lease that was there and had expired belonged to a stuck run.
        let took_over = prior.filter(|p| p.expires_at <= wall).map(|p| p.owner);
        let state = store.get_task_state(task).await?.unwrap_or(TaskState {
            task: task.to_string(),
            ..Default::default()
        });
        let cont: Option<Continuation> = state
            .checkpoint
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        if let Some(stuck) = &took_over {
            tracing::warn!(task, stuck_run = %stuck, "took over the lease of a stuck run");
            mark_taken_over(store, task, stuck).await;
        }
        let mut run = TaskRun {
            store: store.clone(),
            lease,
            task: task.to_string(),
            run_id: run_id.clone(),
            mode,
            started_at: wall,
            business_start: business_now,
            watermark: state.watermark,
            cursor: None,
            counts: Counts::default(),
            invocations: 1,
            took_over,
            details: Value::Null,
            state,
        };
        if let Some(c) = cont {
            // Continue the interrupted run under its own id and mode.
            run.run_id = c.run_id;
            run.mode = c.mode;
            run.started_at = c.started_at.unwrap_or(wall);
            run.business_start = c.business_start.unwrap_or(business_now);
            run.counts = c.counts;
            run.invocations = c.invocations + 1;
            run.cursor = Some(c.cursor);
            tracing::info!(task, run_id = %run.run_id, invocation = run.invocations, "continuing from checkpoint");
        }
        run.write_record(RunStatus::Running, None, None).await?;
        Ok(Begin::Started(Box::new(run)))
    }

    /// Renews the lease when it is getting short; call between units of
    /// work. Fails when someone took the lease over (we must stop).
    pub async fn heartbeat(&mut self) -> Result<(), TaskError> {
        let now = Utc::now();
        if self.lease.expires_at - now < RENEW_WHEN_LEFT {
            self.lease = self
                .store
                .renew_lease(&self.lease, now, STUCK_AFTER)
                .await?;
        }
        Ok(())
    }

    /// Ends this invocation: saves watermark / checkpoint, the run record,
    /// releases the lease and returns the summary.
    pub async fn finish(mut self, result: Result<Step, String>) -> RunSummary {
        let finished = Utc::now();
        let (status, error) = match &result {
            Ok(Step::Done) => (RunStatus::Succeeded, None),
            Ok(Step::Checkpoint(_)) => (RunStatus::Checkpointed, None),
            Ok(Step::Partial(m)) => (RunStatus::Partial, Some(m.clone())),
            Err(e) => (RunStatus::Failed, Some(e.clone())),
        };
        let mut state = self.state.clone();
        state.last_run_id = Some(self.run_id.clone());
        state.updated_at = Some(finished);
        match result {
            Ok(Step::Done) => {
                state.watermark = Some(self.business_start);
                state.checkpoint = None;
            }
            Ok(Step::Checkpoint(cursor)) => {
                let c = Continuation {
                    run_id: self.run_id.clone(),
                    mode: self.mode,
                    started_at: Some(self.started_at),
                    business_start: Some(self.business_start),
                    counts: self.counts,
                    invocations: self.invocations,
                    cursor,
                };
                state.checkpoint = serde_json::to_value(c).ok();
            }
            // A failed run drops its checkpoint: the next run starts over,
            // which is safe (writes are idempotent) and avoids resuming from
            // a cursor that may be the cause of the failure. A partial one
            // keeps the watermark for the same reason.
            Ok(Step::Partial(_)) | Err(_) => state.checkpoint = None,
        }
        let mut bookkeeping_error = None;
        if let Err(e) = self.store.put_task_state(&state).await {
            bookkeeping_error = Some(format!("saving task state: {e}"));
        }
        let end = (status != RunStatus::Checkpointed).then_some(finished);
        if let Err(e) = self.write_record(status, end, error.clone()).await {
            bookkeeping_error.get_or_insert(format!("saving run record: {e}"));
        }
        if let Err(e) = self.store.release_lease(&self.lease).await {
            tracing::warn!(task = %self.task, error = %e, "could not release lease (it expires by itself)");
        }
        let (status, error) = match bookkeeping_error {
            // Without a saved state the next run cannot continue: report it.
            Some(b) if status != RunStatus::Failed => (RunStatus::Failed, Some(b)),
            _ => (status, error),
        };
        self.state = state;
        let message = self
            .took_over
            .as_ref()
            .map(|o| format!("took over the lease of stuck run {o}"));
        RunSummary {
            task: self.task.clone(),
            run_id: self.run_id.clone(),
            mode: self.mode,
            status,
            started_at: Some(self.started_at),
            finished_at: Some(finished),
            counts: self.counts,
            error,
            invocations: self.invocations,
            message,
            details: std::mem::take(&mut self.details),
        }
    }

    async fn write_record(
        &self,
        status: RunStatus,
        finished_at: Option<DateTime<Utc>>,
        error: Option<String>,
    ) -> Result<(), StoreError> {
        let c = &self.counts;
        let rec = RunRecord {
            task: self.task.clone(),
            run_id: self.run_id.clone(),
            mode: self.mode.as_str().to_string(),
            started_at: self.started_at,
            finished_at,
            status,
            processed: c.processed,
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
            deactivated: c.deactivated,
            failed: c.failed,
            error,
            invocations: self.invocations,
            ..Default::default()
        };
        self.store
            .put_run(&self.task, self.started_at, &self.run_id, &rec)
            .await
    }
}

/// Marks the run record of a stuck run as taken over, so the history does
/// not show it `running` forever. Best effort: the record may be gone.
async fn mark_taken_over(store: &Store, task: &str, run_id: &str) {
    let runs: Vec<RunRecord> = match store.recent_runs(task, 20).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(task, error = %e, "could not read run history");
            return;
        }
    };
    if let Some(mut r) = runs.into_iter().find(|r| r.run_id == run_id) {
        if r.status == RunStatus::Running {
            r.status = RunStatus::TakenOver;
            r.error = Some("stuck for more than 30 minutes; lease taken over".into());
            let _ = store.put_run(task, r.started_at, run_id, &r).await;
        }
    }
}

/// Latest runs of a task, newest first (status report).
pub async fn recent_runs(
    store: &Store,
    task: &str,
    limit: usize,
) -> Result<Vec<RunRecord>, TaskError> {
    Ok(store.recent_runs(task, limit).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("full".parse::<Mode>().unwrap(), Mode::Full);
        assert_eq!("Incremental".parse::<Mode>().unwrap(), Mode::Incremental);
        assert!("sometimes".parse::<Mode>().is_err());
    }

    #[test]
    fn budget() {
        assert!(!Budget::unlimited().exhausted());
        assert!(Budget::of(StdDuration::from_millis(10), StdDuration::from_secs(1)).exhausted());
        assert!(!Budget::of(StdDuration::from_secs(60), StdDuration::from_secs(1)).exhausted());
    }

    #[test]
    fn counts_add() {
        let mut a = Counts {
            processed: 1,
            created: 2,
            ..Default::default()
        };
        a.add(&Counts {
            updated: 3,
            deactivated: 1,
            ..Default::default()
        });
        assert_eq!(a.written(), 6);
    }
}
