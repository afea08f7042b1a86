//! Handler futures boxed where they are made, so the routers stay small.
//!
//! In a debug build every local of an async fn's poll function gets its own
//! stack slot: a `match` whose arms each await a large handler future holds
//! all of those futures on the stack at once, and the routers' frames grew
//! past a tokio worker's 2 MiB (`tests/tests/web_admin.rs` overflowed on
//! "add award": routes → web → admin dispatch → recompute, 1.8 MB).
//! `Box::pin(handler(..))` inside the router does not help, since
//! `handler(..)` is still built in the router's frame. Built in [`boxed`]'s
//! own short frame instead, the future is on the heap before it is first
//! polled, and the router keeps one pointer per arm.

use std::future::Future;
use std::pin::Pin;

/// `make()`'s future, on the heap. Call as `boxed(|| handler(a, b)).await`.
#[inline(never)]
pub fn boxed<Fut: Future>(make: impl FnOnce() -> Fut) -> Pin<Box<Fut>> {
    Box::pin(make())
}
