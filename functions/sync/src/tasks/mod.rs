//! The tasks, one module each, and the shared shape of their checkpoint:
//! a fetch phase (only `lms-enrollments` and `lms-groups` can stop inside
//! it; the list tasks are a few hundred pages and finish in one
//! invocation) followed by the summary recompute, which can stop after any
//! partner.

mod contacts;
mod courses;
pub(crate) mod enrollments;
mod groups;
mod partners;
mod push;
mod recert;
mod users;

use chrono::{DateTime, Utc};
use portal_core::task_run::{Budget, Step, TaskRun};
use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::error::SyncError;
use crate::refresh::{recompute, Touched};
use crate::task_name::TaskName;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Fetch,
    Recompute,
}

/// Checkpoint of every task (`TaskRun::cursor`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct Cursor {
    pub phase: Phase,
    /// Fetch phase: last id done (users / groups, in id order).
    /// Recompute phase: last partner id done.
    pub after: Option<String>,
    /// Partners to recompute, gathered so far.
    pub touched: Touched,
}

impl Cursor {
    pub fn from_run(run: &TaskRun) -> Cursor {
        run.cursor
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }
    pub fn step(&self) -> Result<Step, SyncError> {
        serde_json::to_value(self)
            .map(Step::Checkpoint)
            .map_err(|e| SyncError::Invalid(format!("checkpoint: {e}")))
    }
}

pub async fn run(
    deps: &Deps,
    task: TaskName,
    run: &mut TaskRun,
    budget: Budget,
    now: DateTime<Utc>,
    force: bool,
) -> Result<Step, SyncError> {
    let cursor = Cursor::from_run(run);
    let touched = if cursor.phase == Phase::Recompute {
        // The fetch phase finished in an earlier invocation.
        cursor.touched.clone()
    } else {
        let r = match task {
            TaskName::LmsUsers => users::fetch(deps, run).await?,
            TaskName::LmsCourses => courses::fetch(deps, run).await?,
            TaskName::CrmPartners => partners::fetch(deps, run, force).await?,
            TaskName::LmsGroups => groups::fetch(deps, run, &cursor, &budget).await?,
            TaskName::CrmContacts => contacts::fetch(deps, run, force).await?,
            TaskName::LmsEnrollments => {
                enrollments::fetch(deps, run, &cursor, &budget, now).await?
            }
            TaskName::CrmPush => return push::push(deps, run, now).await.map(|()| Step::Done),
            TaskName::LmsRecert => return recert::enrol_due(deps, run, now).await,
        };
        match r {
            Fetched::Done(t) => t,
            Fetched::Checkpoint(c) => return c.step(),
            Fetched::Failed(t, e) => {
                // Data written before the failure stays; the partners it
                // touched are recomputed now, because a re-run would see
                // those items unchanged and not know to recompute them.
                if let Err(re) =
                    finish_with_recompute(deps, run, t, None, &Budget::unlimited(), now).await
                {
                    tracing::error!(error = %re, "recompute after a failed fetch failed too");
                }
                return Err(e);
            }
        }
    };
    let after = (cursor.phase == Phase::Recompute)
        .then_some(cursor.after.clone())
        .flatten();
    let step = finish_with_recompute(deps, run, touched, after, &budget, now).await?;
    if step == Step::Done && run.counts.failed > 0 {
        let partners = crate::refresh::failed_partners(run);
        if !partners.is_empty() {
            // Every other partner is recomputed: the run is partial, and
            // keeps the watermark so the next run retries these.
            return Ok(Step::Partial(format!(
                "{} record(s) failed; recompute failed for partner(s) {}; the next run retries them",
                run.counts.failed,
                partners.join(", ")
            )));
        }
        // Everything else is written and recomputed; failing the run keeps
        // the watermark where it was so the next run retries the failures.
        return Err(SyncError::Invalid(format!(
            "{} record(s) could not be fetched or written (see logs); the next run retries them",
            run.counts.failed
        )));
    }
    Ok(step)
}

/// Outcome of a fetch phase.
pub enum Fetched {
    /// Fetched everything; these partners need recomputing.
    Done(Touched),
    /// Out of time inside the fetch phase.
    Checkpoint(Cursor),
    /// A source or store failure ended the fetch; what was written so far
    /// touched these partners.
    Failed(Touched, SyncError),
}

async fn finish_with_recompute(
    deps: &Deps,
    run: &mut TaskRun,
    touched: Touched,
    after: Option<String>,
    budget: &Budget,
    now: DateTime<Utc>,
) -> Result<Step, SyncError> {
    if touched == Touched::Nothing {
        return Ok(Step::Done);
    }
    match recompute(deps, run, &touched, after.as_deref(), budget, now).await? {
        None => Ok(Step::Done),
        Some(last) => Cursor {
            phase: Phase::Recompute,
            after: Some(last),
            touched,
        }
        .step(),
    }
}
