//! Retry of throttling errors with exponential backoff. Only throttling is
//! retried here: a rejected message fails the same way every time, and
//! transport errors are already retried by the SDK's own retry layer.

use std::future::Future;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub max_attempts: u32,
    /// Wait before the 2nd attempt; doubled for each further one.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// What one attempt gave.
pub(crate) enum Attempt<T, E> {
    Done(T),
    Throttled(E),
    Failed(E),
}

impl RetryPolicy {
    fn delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(16));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// Runs `op` until it is done, fails for good, or stays throttled for
    /// `max_attempts`; then `Err((last error, attempts made))`.
    pub(crate) async fn run<T, E, F, Fut>(&self, mut op: F) -> Result<T, (E, u32)>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Attempt<T, E>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match op().await {
                Attempt::Done(v) => return Ok(v),
                Attempt::Failed(e) => return Err((e, attempt)),
                Attempt::Throttled(e) if attempt >= self.max_attempts.max(1) => {
                    return Err((e, attempt))
                }
                Attempt::Throttled(_) => {
                    let wait = self.delay(attempt - 1);
                    tracing::warn!(attempt, ?wait, "send throttled, backing off");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn retries_throttling_then_succeeds() {
        let calls = Cell::new(0);
        let p = RetryPolicy::default();
        let start = tokio::time::Instant::now();
        let r: Result<u32, (&str, u32)> = p
            .run(|| {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 3 {
                        Attempt::Throttled("slow down")
                    } else {
                        Attempt::Done(n)
                    }
                }
            })
            .await;
        assert_eq!(r.ok(), Some(3));
        // 200 ms + 400 ms of backoff.
        assert_eq!(start.elapsed(), Duration::from_millis(600));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts_and_never_retries_rejections() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..Default::default()
        };
        let calls = Cell::new(0);
        let r: Result<(), _> = p
            .run(|| {
                calls.set(calls.get() + 1);
                async { Attempt::Throttled("x") }
            })
            .await;
        assert_eq!(r.err(), Some(("x", 3)));
        assert_eq!(calls.get(), 3);

        calls.set(0);
        let r: Result<(), _> = p
            .run(|| {
                calls.set(calls.get() + 1);
                async { Attempt::Failed("bad address") }
            })
            .await;
        assert_eq!(r.err(), Some(("bad address", 1)));
        assert_eq!(calls.get(), 1);
    }
}
