//! The local dev runner behind `portal-dev up` and the pieces tests and
//! benchmarks reuse:
//! - [`stack`]: emulator + simulators + table + sender identity, owned by
//!   one value whose drop stops everything;
//! - [`lambda_rie`]: a Lambda Runtime API emulator to run the built
//!   function binaries exactly as Lambda does;
//! - [`state_machine`]: an interpreter of the template's sync state
//!   machine, to drive its loop against a function under [`lambda_rie`];
//! - [`procs`]: process-tree helpers ("nothing left behind" checks).

pub mod lambda_rie;
pub mod procs;
pub mod serve;
pub mod stack;
pub mod state_machine;
