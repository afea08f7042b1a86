//! Benchmarks of the portal (issue 8): the portal's transcript fetch vs the
//! replaced program at the rate limit, whole and incremental sync costs,
//! report and reminder reads, Lambda artefacts and the monthly cost; the
//! history snapshot and forecast reads (issue 15) and the webhook path's
//! freshness (issue 20).
//!
//! Run everything with `scripts/bench.sh [--quick]`; the binary
//! `portal-bench` does the measuring and writes `BENCHMARKS.md` and
//! `bench/results/*.json`.

pub mod artefacts;
pub mod baseline;
pub mod compute;
pub mod cost;
pub mod enroll;
pub mod history;
pub mod hooks;
pub mod items;
pub mod reads;
pub mod results;
pub mod select;
pub mod sync;
