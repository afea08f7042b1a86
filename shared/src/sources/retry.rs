//! Retry policy: exponential backoff with full jitter, honouring
//! `Retry-After`.
//!
//! Full jitter (sleep a uniform random time in `[0, min(cap, base·2^n)]`)
//! rather than "exponential plus a little noise": when many concurrent
//! requests fail together (a 5xx burst), it spreads their retries over the
//! whole window instead of sending them back in lock step.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts).
    pub max_retries: u32,
    /// Ceiling of the first retry's delay.
    pub base_delay: Duration,
    /// Largest backoff ceiling, however many retries came before.
    pub max_delay: Duration,
    /// A server asking for a longer `Retry-After` than this is capped: a
    /// Lambda run cannot sleep for an hour, it would rather fail and
    /// resume from its checkpoint later.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
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
        let jittered = self.ceiling(retry).mul_f64(unit);
        match retry_after {
            Some(ra) => jittered.max(ra.min(self.max_retry_after)),
            None => jittered,
        }
    }

    /// `delay` with a fresh random number.
    pub fn delay_random(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        self.delay(retry, rand::random::<f64>(), retry_after)
    }
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

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
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
}
