//! "Run now" for sync tasks. The reports function must not link the sync
//! code into its Lambda (size, and the sync's own time limit), so it talks
//! to a [`TaskRunner`]: in AWS an execution of the sync state machine, locally
//! an in-process closure the dev runner / tests provide.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

/// Task names the sync schedules (the payload `task` of the sync function).
pub const TASKS: &[&str] = &[
    "lms-users",
    "lms-groups",
    "lms-courses",
    "lms-enrollments",
    "crm-partners",
    "crm-contacts",
    "crm-push",
    "lms-recert",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    Full,
    Incremental,
}

impl RunMode {
    pub fn parse(s: &str) -> Option<RunMode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Some(RunMode::Full),
            "incremental" => Some(RunMode::Incremental),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Full => "full",
            RunMode::Incremental => "incremental",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("running tasks on demand is not configured here")]
    NotConfigured,
    #[error("could not start the task: {0}")]
    Failed(String),
}

/// Starts a sync task without waiting for it to finish.
pub trait TaskRunner: Send + Sync {
    /// Returns how it was started (e.g. `"invoked"`), for the answer.
    fn start(&self, task: &str, mode: RunMode) -> BoxFuture<'_, Result<String, RunnerError>>;

    /// [`start`](TaskRunner::start) with `force` (let the run through the
    /// sync's mass-untrack guard). A runner that cannot pass it on refuses
    /// a forced run rather than start an unforced one.
    fn start_with(
        &self,
        task: &str,
        mode: RunMode,
        force: bool,
    ) -> BoxFuture<'_, Result<String, RunnerError>> {
        if force {
            return Box::pin(async {
                Err(RunnerError::Failed(
                    "this runner cannot force a run".to_string(),
                ))
            });
        }
        self.start(task, mode)
    }
}

/// No runner configured: "run now" answers 503.
pub struct NoRunner;

impl TaskRunner for NoRunner {
    fn start(&self, _: &str, _: RunMode) -> BoxFuture<'_, Result<String, RunnerError>> {
        Box::pin(async { Err(RunnerError::NotConfigured) })
    }
}

/// AWS: `StartExecution` of the sync state machine (returns at once; the
/// execution invokes the sync until the run no longer checkpoints, and a
/// failed run fails it, which the template alarms on).
pub struct StateMachineRunner {
    pub client: aws_sdk_sfn::Client,
    pub state_machine_arn: String,
}

impl TaskRunner for StateMachineRunner {
    fn start(&self, task: &str, mode: RunMode) -> BoxFuture<'_, Result<String, RunnerError>> {
        self.start_with(task, mode, false)
    }

    fn start_with(
        &self,
        task: &str,
        mode: RunMode,
        force: bool,
    ) -> BoxFuture<'_, Result<String, RunnerError>> {
        let mut input = serde_json::json!({ "task": task, "mode": mode.as_str() });
        if force {
            input["force"] = serde_json::json!(true);
        }
        let input = input.to_string();
        Box::pin(async move {
            let out = self
                .client
                .start_execution()
                .state_machine_arn(&self.state_machine_arn)
                .input(input)
                .send()
                .await
                .map_err(|e| {
                    RunnerError::Failed(aws_sdk_sfn::error::DisplayErrorContext(e).to_string())
                })?;
            Ok(format!("started execution {}", out.execution_arn()))
        })
    }
}

/// The future an in-process run returns.
pub type RunFuture = BoxFuture<'static, Result<(), String>>;

/// In-process runner (dev server, tests): spawns `f(task, mode)` on the
/// runtime and answers at once, like the async invoke does.
#[derive(Clone)]
pub struct FnRunner {
    f: Arc<dyn Fn(String, RunMode, bool) -> RunFuture + Send + Sync>,
    can_force: bool,
}

impl FnRunner {
    pub fn new(f: impl Fn(String, RunMode) -> RunFuture + Send + Sync + 'static) -> Self {
        FnRunner {
            f: Arc::new(move |task, mode, _| f(task, mode)),
            can_force: false,
        }
    }

    /// A runner whose closure also takes `force`.
    pub fn with_force(
        f: impl Fn(String, RunMode, bool) -> RunFuture + Send + Sync + 'static,
    ) -> Self {
        FnRunner {
            f: Arc::new(f),
            can_force: true,
        }
    }
}

impl fmt::Debug for FnRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnRunner")
    }
}

impl TaskRunner for FnRunner {
    fn start(&self, task: &str, mode: RunMode) -> BoxFuture<'_, Result<String, RunnerError>> {
        self.start_with(task, mode, false)
    }

    fn start_with(
        &self,
        task: &str,
        mode: RunMode,
        force: bool,
    ) -> BoxFuture<'_, Result<String, RunnerError>> {
        if force && !self.can_force {
            return Box::pin(async {
                Err(RunnerError::Failed(
                    "this runner cannot force a run".to_string(),
                ))
            });
        }
        let fut = (self.f)(task.to_string(), mode, force);
        let task = task.to_string();
        Box::pin(async move {
            tokio::spawn(async move {
                match fut.await {
                    Ok(()) => {
                        tracing::info!(%task, mode = mode.as_str(), "in-process run finished")
                    }
                    Err(e) => tracing::warn!(%task, error = %e, "in-process run failed"),
                }
            });
            Ok("started in-process".to_string())
        })
    }
}
