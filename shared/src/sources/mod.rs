//! HTTP clients of the two source systems (Northpass LMS, Impartner PRM).
//!
//! Thin adapters: they speak the wire contract of `docs/source-contract.md`
//! and hand out
//! tolerant *wire* records ([`wire`]); mapping them onto the domain model is
//! the sync's job. Both clients share one request loop ([`transport`]):
//! a concurrency limit, one rate limiter per client ([`ratelimit`]),
//! retries with jittered backoff ([`crate::retry`]) and typed errors
//! ([`error`]).

pub mod error;
pub mod impartner;
pub mod northpass;
pub mod ratelimit;
mod transport;
pub mod wire;

pub use error::{SourceError, SourceName};
pub use impartner::{ImpartnerClient, ImpartnerConfig, PatchOutcome};
pub use northpass::{NorthpassClient, NorthpassConfig};
pub use ratelimit::RateLimiter;
pub use transport::ClientStats;
pub use wire::{
    Account, Course, CourseProperties, CrmUser, Group, Membership, Person, ProgressStatus,
    TranscriptEntry,
};
