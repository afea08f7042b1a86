//! One client-side rate limiter shared by every concurrent request of a
//! client.
//!
//! GCRA (generic cell rate algorithm, the "virtual scheduling" form of a
//! token bucket): the limiter keeps a single *theoretical arrival time*
//! (TAT). Each caller *reserves* the next slot under a short mutex and then
//! sleeps until that instant, outside the lock. This gives:
//! - exact pacing (no polling, no refill task), so a sync runs *at* the
//!   limit instead of probing it with 429s;
//! - fairness: slots are handed out in the order callers arrive, so a
//!   burst of per-user fetches cannot starve a paging loop;
//! - testability: it reads `tokio::time::Instant`, so tests drive it with
//!   paused time instead of the wall clock.
//!
//! A caller that is cancelled while sleeping forfeits its slot; that only
//! makes the limiter slower, never faster, which is the safe direction.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    /// Time between two requests at the sustained rate (1 / rate).
    interval: Duration,
    /// How far ahead of the TAT a request may go: (burst - 1) intervals.
    tolerance: Duration,
    /// Theoretical arrival time of the next request.
    tat: Mutex<Instant>,
}

impl RateLimiter {
    /// A limiter allowing `rate_per_sec` requests per second on average and
    /// up to `burst` requests back to back after an idle period.
    ///
    /// # Panics
    /// If `rate_per_sec` is not a positive finite number (the client
    /// constructors validate this first and report a config error).
    pub fn new(rate_per_sec: f64, burst: u32) -> Self {
        assert!(
            rate_per_sec.is_finite() && rate_per_sec > 0.0,
            "rate limit must be a positive number of requests per second"
        );
        let interval = Duration::from_secs_f64(1.0 / rate_per_sec);
        let tolerance = interval * burst.max(1).saturating_sub(1);
        RateLimiter {
            interval,
            tolerance,
            tat: Mutex::new(Instant::now()),
        }
    }

    /// Minimum spacing between two requests at the sustained rate.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Reserves the next slot and returns the instant at which the caller
    /// may send. Never blocks.
    pub fn reserve(&self) -> Instant {
        let now = Instant::now();
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        let base = (*tat).max(now);
        // The earliest this request conforms: TAT minus the burst
        // tolerance, but never in the past.
        let allowed_at = base.checked_sub(self.tolerance).map_or(now, |t| t.max(now));
        *tat = base + self.interval;
        allowed_at
    }

    /// Waits for the caller's turn.
    pub async fn acquire(&self) {
        let at = self.reserve();
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Lets nobody through before `until` (the server told us to back off
    /// with `Retry-After`). Shared by all requests, so one 429 pauses the
    /// whole client instead of each concurrent task hitting the wall on its
    /// own. After the pause, traffic restarts at the sustained rate, not
    /// with a burst, because the server's own bucket is still empty.
    pub fn pause_until(&self, until: Instant) {
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        let restart = until + self.tolerance;
        if restart > *tat {
            *tat = restart;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn sequential_requests_are_spaced_by_the_interval() {
        let limiter = RateLimiter::new(10.0, 1);
        let start = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..5 {
            limiter.acquire().await;
            seen.push(Instant::now() - start);
        }
        assert_eq!(seen, vec![ms(0), ms(100), ms(200), ms(300), ms(400)]);
    }

    #[tokio::test(start_paused = true)]
    async fn burst_goes_at_once_then_the_sustained_rate() {
        let limiter = RateLimiter::new(10.0, 3);
        let start = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..6 {
            limiter.acquire().await;
            seen.push(Instant::now() - start);
        }
        // Three tokens in the bucket, then one every 100 ms.
        assert_eq!(seen, vec![ms(0), ms(0), ms(0), ms(100), ms(200), ms(300)]);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_refills_but_never_beyond_the_burst() {
        let limiter = RateLimiter::new(10.0, 2);
        limiter.acquire().await;
        limiter.acquire().await;
        // Idle for far longer than needed to refill two tokens.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let start = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..4 {
            limiter.acquire().await;
            seen.push(Instant::now() - start);
        }
        assert_eq!(seen, vec![ms(0), ms(0), ms(100), ms(200)]);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_never_exceed_the_rate_in_any_window() {
        let limiter = Arc::new(RateLimiter::new(10.0, 1));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..35 {
            let l = limiter.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now() - start
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        // 35 requests at 10/s take 3.4 s: the limiter is not slower than
        // needed either.
        assert_eq!(*times.last().unwrap(), ms(3400));
        // Sliding 1 s window (half-open): never more than 10 requests.
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().filter(|u| **u < *t + ms(1000)).count();
            assert!(in_window <= 10, "{in_window} requests within 1 s of {t:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slots_are_granted_in_arrival_order() {
        let limiter = RateLimiter::new(5.0, 1);
        // Reserve in order 0..8; each reservation is later than the last.
        let slots: Vec<Instant> = (0..8).map(|_| limiter.reserve()).collect();
        assert!(slots.windows(2).all(|w| w[1] - w[0] == ms(200)));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_until_holds_everyone_back_then_resumes_at_the_rate() {
        let limiter = RateLimiter::new(10.0, 5);
        let start = Instant::now();
        limiter.acquire().await;
        limiter.pause_until(start + Duration::from_secs(2));
        let mut seen = Vec::new();
        for _ in 0..3 {
            limiter.acquire().await;
            seen.push(Instant::now() - start);
        }
        // No burst after the pause: the server's bucket is empty too.
        assert_eq!(seen, vec![ms(2000), ms(2100), ms(2200)]);
        // A pause in the past changes nothing.
        limiter.pause_until(start);
        let before = Instant::now();
        limiter.acquire().await;
        assert_eq!(Instant::now() - before, ms(100));
    }

    #[test]
    #[should_panic(expected = "positive")]
    fn zero_rate_is_rejected() {
        let _ = RateLimiter::new(0.0, 1);
    }
}
