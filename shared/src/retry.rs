//! Backoff between retries: one policy type for every caller. Each caller
//! keeps its own numbers as a named policy ([`RetryPolicy::SOURCES`],
//! [`RetryPolicy::MAIL`], [`RetryPolicy::STORE_BATCH`]); what it retries
//! (a retryable HTTP error, SES throttling, unprocessed batch items) stays
//! with the caller.
//!
//! The delay before retry `n` (0-based) is drawn below the ceiling
//! `min(max_delay, base_delay · 2^n)` as the policy's [`Jitter`] says.

use std::future::Future;
use std::time::Duration;

/// How a delay is drawn below the backoff ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// The ceiling itself: a fixed schedule.
    None,
    /// Uniform in `[0, ceiling]`: rather than "exponential plus a little
    /// noise", so that when many concurrent requests fail together (a 5xx
    /// burst) their retries spread over the whole window instead of coming
    /// back in lock step.
    Full,
    /// Uniform in `[ceiling / 2, ceiling]`: spread, but never much shorter
    /// than the ceiling.
    Half,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts).
    pub max_retries: u32,
    /// Ceiling of the first retry's delay.
    pub base_delay: Duration,
    /// Largest backoff ceiling, however many retries came before.
    pub max_delay: Duration,
    pub jitter: Jitter,
    /// A server asking for a longer `Retry-After` than this is capped: a
    /// Lambda run cannot sleep for an hour, it would rather fail and
    /// resume from its checkpoint later.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The LMS and CRM clients: 5 retries, 200 ms doubling to 10 s, full
    /// jitter, `Retry-After` honoured up to 60 s.
    pub const SOURCES: RetryPolicy = RetryPolicy {
        max_retries: 5,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(10),
        jitter: Jitter::Full,
        max_retry_after: Duration::from_secs(60),
    };

    /// SES throttling: 5 attempts in all, 200 ms doubling to 5 s, no
    /// jitter (SES gives no `Retry-After`).
    pub const MAIL: RetryPolicy = RetryPolicy {
        max_retries: 4,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(5),
        jitter: Jitter::None,
        max_retry_after: Duration::ZERO,
    };

    /// Items DynamoDB returns unprocessed (throttling): 10 retries, 50 ms
    /// doubling to 5 s, jittered — the AWS recommendation for
    /// BatchWriteItem / BatchGetItem.
    pub const STORE_BATCH: RetryPolicy = RetryPolicy {
        max_retries: 10,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(5),
        jitter: Jitter::Half,
        max_retry_after: Duration::ZERO,
    };

    /// No waiting; for unit tests.
    pub fn immediate(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            jitter: Jitter::None,
            max_retry_after: Duration::ZERO,
        }
    }

    /// Attempts in total, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }

    /// The backoff ceiling before retry number `retry` (0-based):
    /// `min(max_delay, base_delay · 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        // 2^31 overflows any sane base delay; saturate instead of wrapping.
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The delay before retry number `retry`, given a uniform random
    /// `unit` in `[0, 1)` (injected so tests are deterministic) and the
    /// server's `Retry-After`, if any. The server's value is a floor: we
    /// never come back earlier than asked.
    pub fn delay(&self, retry: u32, unit: f64, retry_after: Option<Duration>) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let ceiling = self.ceiling(retry);
        let drawn = match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => ceiling.mul_f64(unit),
            Jitter::Half => ceiling.mul_f64(0.5 + 0.5 * unit),
        };
        match retry_after {
            Some(ra) => drawn.max(ra.min(self.max_retry_after)),
            None => drawn,
        }
    }

    /// `delay` with a fresh random number.
    pub fn delay_random(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        self.delay(retry, rand::random::<f64>(), retry_after)
    }

    /// Runs `op` until it is done, fails for good, or stays throttled for
    /// every attempt; then `Err((last error, attempts made))`.
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
                Attempt::Throttled(e) if attempt >= self.max_attempts() => {
                    return Err((e, attempt))
                }
                Attempt::Throttled(_) => {
                    let wait = self.delay_random(attempt - 1, None);
                    tracing::warn!(attempt, ?wait, "throttled, backing off");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// What one attempt of [`RetryPolicy::run`] gave.
pub(crate) enum Attempt<T, E> {
    Done(T),
    /// Worth retrying after a back-off.
    Throttled(E),
    /// Fails the same way every time: not retried.
    Failed(E),
}

/// Parses a `Retry-After` header. The contract says seconds; the HTTP-date
/// form is accepted too because proxies in front of real SaaS APIs send it.
/// Fractional seconds are tolerated. Anything else is ignored (the normal
/// backoff applies).
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            jitter: Jitter::Full,
            max_retry_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn ceiling_doubles_and_caps() {
        let p = policy();
        let got: Vec<u128> = (0..7).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1600, 2000, 2000]);
        // Huge retry numbers saturate instead of overflowing.
        assert_eq!(p.ceiling(40), Duration::from_secs(2));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(2));
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let p = policy();
        assert_eq!(p.delay(3, 0.0, None), Duration::ZERO);
        assert_eq!(p.delay(3, 0.5, None), Duration::from_millis(400));
        assert_eq!(p.delay(3, 1.0, None), Duration::from_millis(800));
        // Out-of-range randomness is clamped, not trusted.
        assert_eq!(p.delay(3, 7.0, None), Duration::from_millis(800));
        assert_eq!(p.delay(3, f64::NAN, None), Duration::ZERO);
        for _ in 0..1000 {
            let d = p.delay_random(2, None);
            assert!(d <= Duration::from_millis(400), "{d:?}");
        }
    }

    #[test]
    fn half_jitter_stays_in_the_upper_half_and_none_is_the_ceiling() {
        let p = RetryPolicy {
            max_retries: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            jitter: Jitter::Half,
            max_retry_after: Duration::ZERO,
        };
        assert_eq!(p.delay(0, 0.0, None), Duration::from_millis(50));
        assert_eq!(p.delay(0, 1.0, None), Duration::from_millis(100));
        for _ in 0..1000 {
            let d = p.delay_random(3, None);
            assert!(d >= Duration::from_millis(400) && d <= Duration::from_millis(800));
            let d = p.delay_random(30, None);
            assert!(d >= Duration::from_millis(500) && d <= Duration::from_millis(1000));
        }
        let fixed = RetryPolicy {
            jitter: Jitter::None,
            ..p
        };
        assert_eq!(fixed.delay_random(2, None), Duration::from_millis(400));
        assert_eq!(
            RetryPolicy::immediate(3).delay_random(5, None),
            Duration::ZERO
        );
    }

    #[test]
    fn each_callers_numbers() {
        let s = RetryPolicy::SOURCES;
        assert_eq!(
            (s.max_attempts(), s.ceiling(0), s.ceiling(9)),
            (6, Duration::from_millis(200), Duration::from_secs(10))
        );
        let m = RetryPolicy::MAIL;
        assert_eq!(
            (m.max_attempts(), m.ceiling(0), m.ceiling(9)),
            (5, Duration::from_millis(200), Duration::from_secs(5))
        );
        let b = RetryPolicy::STORE_BATCH;
        assert_eq!(
            (b.max_attempts(), b.ceiling(0), b.ceiling(9)),
            (11, Duration::from_millis(50), Duration::from_secs(5))
        );
    }

    #[test]
    fn retry_after_is_a_floor_and_is_capped() {
        let p = policy();
        // Server asks for 3 s: we wait at least that, even with jitter 0.
        assert_eq!(
            p.delay(0, 0.0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        // A jittered backoff longer than Retry-After wins.
        assert_eq!(
            p.delay(6, 1.0, Some(Duration::from_millis(10))),
            Duration::from_secs(2)
        );
        // An absurd Retry-After is capped.
        assert_eq!(
            p.delay(0, 0.0, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn retry_after_parsing() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 10:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        // A date in the past means "now".
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn run_retries_throttling_then_succeeds() {
        let calls = Cell::new(0);
        let start = tokio::time::Instant::now();
        let r: Result<u32, (&str, u32)> = RetryPolicy::MAIL
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
    async fn run_gives_up_after_max_attempts_and_never_retries_rejections() {
        let p = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::MAIL
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
