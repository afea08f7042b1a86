//! Send-rate throttle: spaces sends evenly at `per_second` so a burst of
//! reminders stays under the account's SES maximum send rate instead of
//! collecting throttling errors.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Throttle {
    /// `per_second` messages per second; 0 means unthrottled.
    pub fn per_second(per_second: f64) -> Throttle {
        let interval = if per_second > 0.0 {
            Duration::from_secs_f64(1.0 / per_second)
        } else {
            Duration::ZERO
        };
        Throttle {
            interval,
            next: Mutex::new(None),
        }
    }

    /// Waits for the next free send slot. Slots are reserved under the lock
    /// and slept on outside it, so concurrent senders queue up in order
    /// without holding each other up longer than one interval each.
    pub async fn acquire(&self) {
        if self.interval.is_zero() {
            return;
        }
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_sends_at_the_rate() {
        let t = Throttle::per_second(10.0);
        let start = Instant::now();
        for _ in 0..5 {
            t.acquire().await;
        }
        // First send is immediate, the next four wait 100 ms each.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_is_unthrottled() {
        let t = Throttle::per_second(0.0);
        let start = Instant::now();
        for _ in 0..100 {
            t.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
