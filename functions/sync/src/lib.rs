//! Lambda `sync`: keeps DynamoDB in step with Northpass (LMS) and Impartner
//! (PRM). Library part, shared by the Lambda entry (`main.rs`), the local
//! dev runner and the reports function ("run now").
//!
//! Entry points:
//! - [`run_task`]: one invocation of one task within a [`Budget`]; may end
//!   `checkpointed` (call again to continue).
//! - [`run_to_completion`]: the local loop — invokes until the run is done.
//! - [`run_all`]: every task in dependency order ([`TaskName::ALL`]).
//! - [`handler::handle`]: the Lambda event handler (EventBridge or direct).
//! - [`hooks::handle_sqs`]: the webhook consumer (SQS batches).

pub mod convert;
pub mod deps;
pub mod error;
mod guard;
pub mod handler;
mod history;
pub mod hooks;
mod link;
mod markers;
mod refresh;
mod snapshot;
pub mod task_name;
mod tasks;
mod write;

pub use deps::{Deps, SyncOptions};
pub use error::SyncError;
pub use markers::DUE_ENTITY as TRANSCRIPT_DUE_ENTITY;
/// Entity type of the per-user transcript fetch markers (sync bookkeeping).
pub use markers::MARKER_ENTITY as FETCH_MARKER_ENTITY;
pub use portal_core::task_run::{Budget, Counts, Mode, RunStatus, RunSummary};
pub use task_name::TaskName;

use portal_core::task_run::{Begin, TaskRun};

/// One invocation of `task`: takes the lease (or reports "already
/// running"), runs until done or until `budget` is nearly spent (then saves
/// a checkpoint), records the run and returns its summary. Never panics on
/// source or store errors: they end up in `summary.error`.
pub async fn run_task(deps: &Deps, task: TaskName, mode: Mode, budget: Budget) -> RunSummary {
    run_task_with(deps, task, mode, budget, false).await
}

/// [`run_task`], with `force` set: the mass-untrack guard of the CRM
/// tasks lets the run through (an admin decided the drop is real).
pub async fn run_task_with(
    deps: &Deps,
    task: TaskName,
    mode: Mode,
    budget: Budget,
    force: bool,
) -> RunSummary {
    let now = deps.config.clock.now();
    let mut run = match TaskRun::begin(&deps.store, task.as_str(), mode, now).await {
        Ok(Begin::Started(run)) => run,
        Ok(Begin::AlreadyRunning(summary)) => return summary,
        Err(e) => {
            return RunSummary {
                task: task.as_str().to_string(),
                mode,
                status: RunStatus::Failed,
                error: Some(format!("could not start: {e}")),
                ..Default::default()
            }
        }
    };
    let np_before = deps.northpass.as_ref().map(|c| c.stats().requests);
    let prm_before = deps.impartner.as_ref().map(|c| c.stats().requests);
    let result = tasks::run(deps, task, &mut run, budget, now, force).await;
    // Tasks may have put their own details (the push's rejections).
    let mut details = match std::mem::take(&mut run.details) {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    details.insert(
        "northpass_requests".into(),
        serde_json::json!(deps
            .northpass
            .as_ref()
            .zip(np_before)
            .map(|(c, b)| c.stats().requests - b)),
    );
    details.insert(
        "impartner_requests".into(),
        serde_json::json!(deps
            .impartner
            .as_ref()
            .zip(prm_before)
            .map(|(c, b)| c.stats().requests - b)),
    );
    if task == history::SNAPSHOT_AFTER && matches!(result, Ok(portal_core::task_run::Step::Done)) {
        history::after_run(deps, now, &mut details).await;
    }
    run.details = serde_json::Value::Object(details);
    let result = result.map_err(|e| {
        tracing::error!(task = task.as_str(), error = %e, "task failed");
        e.to_string()
    });
    let summary = run.finish(result).await;
    tracing::info!(
        task = task.as_str(),
        run_id = %summary.run_id,
        status = summary.status.as_str(),
        counts = ?summary.counts,
        "task invocation ended"
    );
    summary
}

/// Runs `task` to the end in this process, one "invocation" per `budget`
/// (a fresh one each time): the local stand-in for the state machine that
/// invokes the sync again while it checkpoints (template.yaml).
/// `per_invocation` = `None` → a single unlimited invocation.
pub async fn run_to_completion(
    deps: &Deps,
    task: TaskName,
    mode: Mode,
    per_invocation: Option<std::time::Duration>,
) -> RunSummary {
    run_to_completion_with(deps, task, mode, per_invocation, false).await
}

/// [`run_to_completion`] with the `force` of [`run_task_with`].
pub async fn run_to_completion_with(
    deps: &Deps,
    task: TaskName,
    mode: Mode,
    per_invocation: Option<std::time::Duration>,
    force: bool,
) -> RunSummary {
    // A run that never progresses must not loop forever.
    const MAX_INVOCATIONS: u32 = 10_000;
    loop {
        let budget = match per_invocation {
            Some(d) => Budget::of(d, std::time::Duration::ZERO),
            None => Budget::unlimited(),
        };
        let s = run_task_with(deps, task, mode, budget, force).await;
        if s.status != RunStatus::Checkpointed || s.invocations >= MAX_INVOCATIONS {
            return s;
        }
    }
}

/// Every task in dependency order, each to completion. Stops at the first
/// failed task (later tasks would build on incomplete data) — unless it
/// failed only because it is already running elsewhere.
pub async fn run_all(
    deps: &Deps,
    mode: Mode,
    per_invocation: Option<std::time::Duration>,
) -> Vec<RunSummary> {
    let mut out = Vec::new();
    for task in TaskName::ALL {
        let s = run_to_completion(deps, task, mode, per_invocation).await;
        let stop = s.status == RunStatus::Failed;
        out.push(s);
        if stop {
            break;
        }
    }
    out
}
