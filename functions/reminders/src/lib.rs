//! Lambda `reminders`: certification expiry reminders (daily) and the PAM
//! digest (weekly), one function, the event selects the job.
//!
//! The dev runner and the tests call [`run`] in-process with the same
//! [`Deps`] the Lambda builds in `main.rs` ([`Deps::from_config`]).
//!
//! - [`window`]: which threshold dates a run covers (pure).
//! - `daily` / `digest`: the two jobs.
//! - [`claims`]: exactly-once claim records.
//! - [`links`]: signed unsubscribe links.
//! - [`mail_events`]: SES bounces and complaints (an SNS event) become
//!   suppressions; [`mail_events::handle_any`] is the Lambda's entry.

mod at_risk;
pub mod claims;
mod daily;
mod deliver;
mod digest;
pub mod event;
pub mod links;
mod lookups;
pub mod mail_events;
pub mod settings;
pub mod summary;
pub mod window;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use portal_core::config::Config;
use portal_core::mail::{Mailer, SesMailer};
use portal_core::runs::RunStatus;
use portal_core::store::leases::DEFAULT_LEASE;
use portal_core::store::{Store, StoreError, TaskState};

pub use event::{parse_event, EventError, Job};
pub use links::{HmacLinks, UnsubscribeLinks};
pub use settings::Settings;
pub use summary::{RunSummary, SkipReason};

/// What a run needs. Cheap to build; `mailer` is a trait object so a test
/// can wrap the real SES mailer (see `portal_core::mail::FailFor`).
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    pub mailer: Arc<dyn Mailer>,
    pub settings: Settings,
    /// Unsubscribe links; `None` sends mail without link and list headers.
    pub links: Option<Arc<dyn UnsubscribeLinks>>,
}

impl Deps {
    /// The Lambda's wiring: store + SES mailer from `config` and the SDK
    /// config, reminder settings from `config`. `links` is built by the
    /// caller because its key may have to be fetched first
    /// ([`portal_core::secrets`]).
    pub fn from_config(
        config: &Config,
        sdk: &aws_config::SdkConfig,
        links: Option<Arc<dyn UnsubscribeLinks>>,
    ) -> Result<Deps, portal_core::config::ConfigError> {
        let settings = Settings::from_config(config);
        let mailer = SesMailer::from_sdk_config(sdk, config.require_mail_from()?)
            .configuration_set(config.mail_configuration_set.clone())
            .rate_per_second(settings.mail_rate_per_second)
            .build();
        Ok(Deps {
            store: Store::from_sdk_config(sdk, config.table.clone()),
            mailer: Arc::new(mailer),
            settings,
            links,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Event(#[from] EventError),
    /// The run finished with mails that could not be sent (`partial`). The
    /// Lambda invocation fails on it so the template's alarm on the
    /// function's errors sees it; the run record is stored first.
    #[error("{task}: run partial: {failed} of {due} failed (run {run_id})")]
    Partial {
        task: String,
        run_id: String,
        due: u64,
        failed: u64,
    },
}

/// Runs `job` as of `now`: takes the task lock, runs, stores the run record
/// and (reminders) the new watermark, frees the lock.
pub async fn run(deps: &Deps, job: Job, now: DateTime<Utc>) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().to_string();
    let task = job.task();
    let store = &deps.store;
    let lease = store
        .acquire_lease(task, &run_id, now, DEFAULT_LEASE)
        .await?;
    let state = store.get_task_state(task).await?;

    let mut summary = RunSummary {
        task: task.to_string(),
        run_id: run_id.clone(),
        mode: job.mode().to_string(),
        started_at: now,
        status: RunStatus::Running,
        ..Default::default()
    };
    let result = match job {
        Job::Reminders => {
            let last = state.as_ref().and_then(|s| s.watermark);
            daily::run(deps, now, &run_id, last, &mut summary)
                .await
                .map(Some)
        }
        Job::PamDigest => digest::run(deps, now, &run_id, &mut summary)
            .await
            .map(|()| Some(now)),
    };
    // Elapsed time on top of the run's instant keeps records consistent
    // when the clock is pinned (PORTAL_NOW).
    let finished = now + Duration::from_std(started.elapsed()).unwrap_or_default();
    summary.finished_at = Some(finished);
    summary.processed = summary.due;
    summary.created = summary.sent;

    let outcome = match result {
        Ok(watermark) => {
            summary.status = if summary.failed > 0 {
                RunStatus::Partial
            } else {
                RunStatus::Succeeded
            };
            store
                .put_task_state(&TaskState {
                    task: task.to_string(),
                    watermark,
                    checkpoint: None,
                    last_run_id: Some(run_id.clone()),
                    updated_at: Some(finished),
                })
                .await
                .map_err(RunError::from)
        }
        Err(e) => {
            summary.status = RunStatus::Failed;
            summary.error = Some(e.to_string());
            Err(RunError::from(e))
        }
    };
    if let Err(e) = store.put_run(task, now, &run_id, &summary).await {
        tracing::error!(task, error = %e, "could not store the run record");
    }
    // Expired, not deleted: the function's role has no DeleteItem
    // (docs/requests/ops.md).
    if let Err(e) = store.expire_lease(&lease, now).await {
        tracing::warn!(task, error = %e, "could not free the task lock; it expires by itself");
    }
    tracing::info!(
        task,
        run_id,
        status = %summary.status,
        due = summary.due,
        sent = summary.sent,
        failed = summary.failed,
        skipped = ?summary.skipped,
        "run finished"
    );
    outcome.map(|()| summary)
}

/// The Lambda handler body: event → job → [`run`]; a `partial` run is an
/// error ([`RunError::Partial`]) so the invocation counts as failed.
pub async fn handle(
    deps: &Deps,
    payload: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<RunSummary, RunError> {
    let job = parse_event(payload)?;
    let summary = run(deps, job, now).await?;
    if summary.status == RunStatus::Partial {
        return Err(RunError::Partial {
            task: summary.task,
            run_id: summary.run_id,
            due: summary.due,
            failed: summary.failed,
        });
    }
    Ok(summary)
}
