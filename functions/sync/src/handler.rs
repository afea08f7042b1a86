//! Lambda entry logic: event parsing, running, and how a checkpointed run
//! goes on. In AWS the sync runs under a Step Functions state machine
//! (`SyncStateMachine` in template.yaml): the function never invokes
//! itself; it returns the next request (`{"continue": true, "next": ..}`)
//! and the state machine invokes it again, so a long run is an execution
//! with a history, not a chain of self-invocations.

use std::time::{Duration, Instant};

use portal_core::event::Event;
use portal_core::task_run::{Budget, Mode, RunStatus, RunSummary};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::deps::Deps;
use crate::error::SyncError;
use crate::task_name::TaskName;

/// What to run: one task or `all` (in dependency order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub task: String,
    #[serde(default)]
    pub mode: Mode,
    /// For `all` continuations: the task to resume from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Let a run through the mass-untrack guard (an admin's decision).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// Accepts the EventBridge scheduled event (`{"detail-type": "Scheduled
/// Event", "detail": {...}}`) and the bare payload (manual run,
/// continuation): [`Event`].
pub fn parse_event(event: &Value) -> Result<Request, SyncError> {
    let req = serde_json::from_value::<Event<Request>>(event.clone())
        .map_err(|e| SyncError::Invalid(format!("bad sync request {event}: {e}")))?
        .into_request();
    if req.task != "all" {
        req.task.parse::<TaskName>().map_err(SyncError::Invalid)?;
    }
    Ok(req)
}

/// Key of the invocation output the state machine's Choice reads: `true`
/// when the run checkpointed and must be invoked again with [`NEXT_KEY`].
pub const CONTINUE_KEY: &str = "continue";
/// Key of the next request (a [`Request`]) in a `continue` output.
pub const NEXT_KEY: &str = "next";

/// How a checkpointed run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuation {
    /// In this process, right away (local runs, tests).
    Loop,
    /// Stop and return the next request (`continue: true`, `next`) for the
    /// caller to invoke again: the Step Functions loop in AWS.
    Return,
}

/// Handles one event. `deadline` is the invocation's deadline (Lambda
/// context), `None` locally. Returns the JSON summary: one run, or for
/// `all` `{"task": "all", "status": .., "runs": [..]}`, with
/// `"continue": false` when the request is done, or `"continue": true` and
/// `"next": <request>` when it checkpointed under
/// [`Continuation::Return`]. A run that ended failed or partial is
/// [`SyncError::RunIncomplete`] instead (the run record is stored either
/// way), which fails the state machine's execution.
pub async fn handle(
    deps: &Deps,
    event: &Value,
    deadline: Option<Instant>,
    continuation: &Continuation,
) -> Result<Value, SyncError> {
    let req = parse_event(event)?;
    let budget = || Budget {
        deadline,
        margin: deps.options.checkpoint_margin,
    };
    let tasks: Vec<TaskName> = if req.task == "all" {
        let from = match &req.from {
            Some(f) => Some(f.parse::<TaskName>().map_err(SyncError::Invalid)?),
            None => None,
        };
        TaskName::ALL
            .into_iter()
            .skip_while(|t| from.is_some_and(|f| *t != f))
            .collect()
    } else {
        vec![req.task.parse::<TaskName>().map_err(SyncError::Invalid)?]
    };

    let mut runs: Vec<RunSummary> = Vec::new();
    let mut next: Option<Request> = None;
    for task in tasks {
        let mut s = crate::run_task_with(deps, task, req.mode, budget(), req.force).await;
        // Locally, keep going in this process (fresh budget each time).
        while s.status == RunStatus::Checkpointed && *continuation == Continuation::Loop {
            let fresh = Budget {
                deadline: deadline.map(|_| Instant::now() + Duration::from_secs(900)),
                margin: deps.options.checkpoint_margin,
            };
            s = crate::run_task_with(deps, task, req.mode, fresh, req.force).await;
        }
        let status = s.status;
        runs.push(s);
        match status {
            RunStatus::Checkpointed => {
                next = Some(Request {
                    task: req.task.clone(),
                    mode: req.mode,
                    from: (req.task == "all").then(|| task.as_str().to_string()),
                    force: req.force,
                });
                tracing::info!(task = %task, "checkpointed: returning the next request");
                break;
            }
            RunStatus::Failed => break,
            // A partial run wrote everything but what failed: later tasks
            // go on; the invocation still fails below.
            RunStatus::Succeeded | RunStatus::AlreadyRunning | RunStatus::Partial => {}
            // States of a stored record, never of a finished invocation.
            RunStatus::Running | RunStatus::TakenOver => {}
        }
    }
    // An `all` request whose earlier task ended partial fails here even if
    // a later task checkpointed: the execution fails (and alarms), and the
    // later task's checkpoint stays stored for its next run to resume.
    if let Some(e) = runs.iter().find_map(incomplete) {
        tracing::error!(runs = %json!(runs), "sync invocation failed: {e}");
        return Err(e);
    }
    let mut out = if req.task != "all" {
        serde_json::to_value(runs.pop().unwrap_or_default())
            .map_err(|e| SyncError::Invalid(e.to_string()))?
    } else {
        let status = runs
            .iter()
            .map(|r| r.status)
            .find(|s| *s != RunStatus::Succeeded)
            .unwrap_or(RunStatus::Succeeded);
        json!({ "task": "all", "mode": req.mode, "status": status, "runs": runs })
    };
    out[CONTINUE_KEY] = json!(next.is_some());
    if let Some(next) = next {
        out[NEXT_KEY] =
            serde_json::to_value(next).map_err(|e| SyncError::Invalid(e.to_string()))?;
    }
    Ok(out)
}

/// A run that must fail the invocation: it failed, or it finished with
/// records it could not fetch or write (partial).
fn incomplete(run: &RunSummary) -> Option<SyncError> {
    let (outcome, detail) = match run.status {
        RunStatus::Failed => (
            "failed",
            run.error
                .clone()
                .unwrap_or_else(|| "no error recorded".into()),
        ),
        RunStatus::Partial => (
            "partial",
            run.error
                .clone()
                .unwrap_or_else(|| format!("{} records failed", run.counts.failed)),
        ),
        RunStatus::Succeeded if run.counts.failed > 0 => (
            "partial",
            format!(
                "{} of {} records failed",
                run.counts.failed, run.counts.processed
            ),
        ),
        _ => return None,
    };
    Some(SyncError::RunIncomplete {
        task: run.task.clone(),
        outcome,
        detail: format!("{detail} (run {})", run.run_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_event_and_direct_payload() {
        let ev = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
            "detail": {"task": "lms-users", "mode": "full"}});
        assert_eq!(
            parse_event(&ev).unwrap(),
            Request {
                task: "lms-users".into(),
                mode: Mode::Full,
                from: None,
                force: false,
            }
        );
        let direct = json!({"task": "crm-push"});
        assert_eq!(parse_event(&direct).unwrap().mode, Mode::Incremental);
        assert_eq!(
            parse_event(&json!({"task": "all", "mode": "full"}))
                .unwrap()
                .task,
            "all"
        );
    }

    #[test]
    fn bad_requests_say_why() {
        let e = parse_event(&json!({"task": "nope"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown task"), "{e}");
        let e = parse_event(&json!({"task": "lms-users", "mode": "sometimes"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sometimes"), "{e}");
        assert!(parse_event(&json!({})).is_err());
    }
}
