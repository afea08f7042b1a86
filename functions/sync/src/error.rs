//! Errors of the sync tasks. Every message names the side at fault
//! (northpass / impartner / store / config) so a failed run says at once
//! where to look.

use portal_core::config::ConfigError;
use portal_core::sources::SourceError;
use portal_core::store::StoreError;
use portal_core::task_run::TaskError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Already names the source (`northpass: authentication failed …`).
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("task runtime: {0}")]
    Task(#[from] TaskError),
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Invalid(String),
    /// The mass-untrack guard refused a run (see `guard`).
    #[error("{0}")]
    Guard(String),
    /// A run ended failed or partial. The invocation fails on it so that
    /// Lambda's `Errors` metric (the template's alarm) and the failure
    /// queue see it; the run record holds the whole summary.
    #[error("{task}: run {outcome}: {detail}")]
    RunIncomplete {
        task: String,
        outcome: &'static str,
        detail: String,
    },
}

impl From<portal_core::recompute::RecomputeError> for SyncError {
    fn from(e: portal_core::recompute::RecomputeError) -> Self {
        match e {
            portal_core::recompute::RecomputeError::Store(s) => SyncError::Store(s),
        }
    }
}
