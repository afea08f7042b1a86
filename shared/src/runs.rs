//! The run record every job stores (`TASK#<task>/RUN#<started>#<run id>`,
//! written by `Store::put_run`) and its status: the sync tasks through
//! `task_run::TaskRun`, the reminder and digest jobs through
//! `portal_reminders::run` (whose `RunSummary` is this type). The admin API
//! and the portal's sync and mail pages read it. Pure: no I/O.
//!
//! Reads what every writer stored before there was one type: the sync's
//! records (with `unchanged`, `invocations`), the reminders' (with the mail
//! counters) and the store's older generic shape; fields a record lacks
//! read as zero / empty, statuses were always these snake_case words.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// State of a run, stored as its snake_case name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Finished; for a sync task the watermark moved to this run's start.
    #[default]
    Succeeded,
    /// Stopped with an error; watermark and checkpoint unchanged, so the
    /// next run redoes the work (every write is idempotent).
    Failed,
    /// Out of time: a checkpoint was saved and a new invocation continues.
    Checkpointed,
    /// Another invocation holds the lease; nothing was done (returned,
    /// never stored).
    AlreadyRunning,
    /// Stored while a run is under way.
    Running,
    /// A stuck `running` record whose lease a later run took over.
    TakenOver,
    /// Reminders: finished, but some sends failed (they are retried).
    Partial,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Checkpointed => "checkpointed",
            RunStatus::AlreadyRunning => "already_running",
            RunStatus::Running => "running",
            RunStatus::TakenOver => "taken_over",
            RunStatus::Partial => "partial",
        }
    }
}

/// The stored name; honours width and alignment (`{:<9}`) like a string.
impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Compares with the stored name (`status == "succeeded"`).
impl PartialEq<str> for RunStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RunStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One run of a job, as stored and listed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct RunRecord {
    pub task: String,
    pub run_id: String,
    /// `full` / `incremental` (sync), `daily` / `weekly` (reminders, digest).
    pub mode: String,
    /// Wall-clock start of the run (of its first invocation); part of the key.
    pub started_at: DateTime<Utc>,
    /// `None` while running or checkpointed.
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    /// Records looked at (reminders: items due).
    pub processed: u64,
    /// Records created (reminders: items sent).
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deactivated: u64,
    /// Records that could not be fetched or written (reminders: failed sends).
    pub failed: u64,
    pub error: Option<String>,
    /// Invocations the run took (sync: 1 + continuations).
    pub invocations: u32,

    // Mail jobs (reminders, PAM digest); zero / empty for the sync.
    /// Threshold dates covered: `(window_after, window_until]`.
    pub window_after: Option<DateTime<Utc>>,
    pub window_until: Option<DateTime<Utc>>,
    /// Reminders: certification × stage items due. Digest: PAMs considered.
    pub due: u64,
    /// Items delivered (reminders: certifications listed in sent mails).
    pub sent: u64,
    pub emails_sent: u64,
    pub emails_failed: u64,
    /// Due items skipped, by reason name.
    pub skipped: BTreeMap<String, u64>,
    /// Rows the due-date Query returned (to compare with `due`).
    pub rows_read: u64,
}

impl RunRecord {
    /// Counts `n` due items skipped for `reason` (nothing for 0).
    pub fn skip(&mut self, reason: impl AsRef<str>, n: u64) {
        if n > 0 {
            *self.skipped.entry(reason.as_ref().to_string()).or_default() += n;
        }
    }

    pub fn skipped_for(&self, reason: impl AsRef<str>) -> u64 {
        self.skipped.get(reason.as_ref()).copied().unwrap_or(0)
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Through DynamoDB's item format, the way `Store::recent_runs` reads.
    fn stored(v: serde_json::Value) -> RunRecord {
        let item: serde_dynamo::Item = serde_dynamo::to_item(v).unwrap();
        serde_dynamo::from_item(item).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn reads_a_sync_record_of_before() {
        let r = stored(json!({
            "task": "lms-users", "run_id": "r1", "mode": "incremental",
            "started_at": "2026-11-30T10:00:00Z", "finished_at": null,
            "status": "taken_over", "processed": 7, "created": 1, "updated": 2,
            "unchanged": 4, "deactivated": 0, "failed": 0,
            "error": "stuck for more than 30 minutes; lease taken over",
            "invocations": 2,
        }));
        assert_eq!(r.status, RunStatus::TakenOver);
        assert_eq!(r.started_at, at("2026-11-30T10:00:00Z"));
        assert_eq!((r.processed, r.unchanged, r.invocations), (7, 4, 2));
        assert_eq!((r.due, r.emails_sent, r.skipped_total()), (0, 0, 0));
    }

    #[test]
    fn reads_a_reminders_record_of_before() {
        let r = stored(json!({
            "task": "reminders", "run_id": "u-1", "mode": "daily",
            "started_at": "2026-12-01T06:00:00Z",
            "finished_at": "2026-12-01T06:00:03Z", "status": "partial",
            "processed": 5, "created": 4, "failed": 1, "error": null,
            "window_after": "2026-11-30T06:00:00Z",
            "window_until": "2026-12-01T06:00:00Z",
            "due": 5, "sent": 4, "emails_sent": 3, "emails_failed": 1,
            "skipped": {"opted_out": 2}, "rows_read": 6,
        }));
        assert_eq!(r.status, RunStatus::Partial);
        assert_eq!(r.status, "partial");
        assert_eq!(
            (r.due, r.sent, r.emails_sent, r.emails_failed),
            (5, 4, 3, 1)
        );
        assert_eq!(r.skipped_for("opted_out"), 2);
        assert_eq!(r.window_until, Some(at("2026-12-01T06:00:00Z")));
        assert_eq!((r.updated, r.invocations), (0, 0));
    }

    #[test]
    fn reads_the_older_generic_record_and_round_trips() {
        let r = stored(json!({
            "task": "enrollments", "run_id": "r0", "mode": "full",
            "started_at": "2026-11-01T00:00:00Z", "status": "running",
            "processed": 1, "created": 0, "updated": 0, "deactivated": 0,
            "failed": 0,
        }));
        assert_eq!(r.status, RunStatus::Running);
        assert_eq!(r.finished_at, None);
        let again: RunRecord = stored(serde_json::to_value(&r).unwrap());
        assert_eq!(again, r);
    }

    #[test]
    fn every_status_round_trips_by_name() {
        use RunStatus::*;
        for s in [
            Succeeded,
            Failed,
            Checkpointed,
            AlreadyRunning,
            Running,
            TakenOver,
            Partial,
        ] {
            let v = serde_json::to_value(s).unwrap();
            assert_eq!(v, json!(s.as_str()));
            assert_eq!(serde_json::from_value::<RunStatus>(v).unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(format!("[{:<9}]", Partial), "[partial  ]");
        assert!(serde_json::from_value::<RunStatus>(json!("sometimes")).is_err());
    }

    #[test]
    fn skips_count_by_reason() {
        let mut r = RunRecord::default();
        r.skip("no_email", 2);
        r.skip("no_email", 1);
        r.skip("opted_out", 0);
        assert_eq!(r.skipped_for("no_email"), 3);
        assert_eq!(r.skipped_for("opted_out"), 0);
        assert!(!r.skipped.contains_key("opted_out"));
        assert_eq!(r.skipped_total(), 3);
    }
}
