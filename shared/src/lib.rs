//! Domain crate of the partner certification portal.
//!
//! `model`, `rules`, `reports` and `clock` are pure (no I/O); `store`,
//! `sources` and `mail` are thin adapters over DynamoDB, the two source
//! APIs and SES; `recompute` is the one partner recompute (a use case over
//! a narrow port that the store implements).

pub mod access;
pub mod clock;
pub mod config;
pub mod event;
pub mod mail;
pub mod model;
pub mod recompute;
pub mod reports;
pub mod retry;
pub mod rules;
pub mod runs;
pub mod secrets;
pub mod sources;
pub mod store;
pub mod task_run;
