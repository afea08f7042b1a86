//! Which certifications are due in a run — pure date arithmetic, no I/O.
//!
//! A certification expiring at `e` crosses threshold `T` days at
//! `d = e − T`. A run covers the threshold dates in `(after, until]`, where
//! `after` is the previous successful run's instant (or `until` − the
//! first-run catch-up window) and `until` is now. So a missed day is caught
//! up by the next run, and a run never covers a date twice.

use chrono::{DateTime, Duration, Utc};

/// Threshold dates `(after, until]` a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub after: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The run's window. `max_catch_up` bounds how far back a run looks after a
/// long outage (and how long a failing recipient is retried), so reads stay
/// bounded.
pub fn window(
    last_success: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    first_run_catch_up: Duration,
    max_catch_up: Duration,
) -> Window {
    let after = last_success
        .unwrap_or(now - first_run_catch_up)
        .max(now - max_catch_up)
        .min(now);
    Window { after, until: now }
}

/// Stages of a run, ascending: the thresholds plus 0 (the "expired today"
/// notice) when enabled.
pub fn stages(thresholds: &[u32], expired_notice: bool) -> Vec<u32> {
    let mut s: Vec<u32> = thresholds.iter().copied().filter(|t| *t > 0).collect();
    if expired_notice {
        s.push(0);
    }
    s.sort_unstable();
    s.dedup();
    s
}

fn days(t: u32) -> Duration {
    Duration::days(i64::from(t))
}

/// Half-open expiry ranges `[from, to)` to Query (the store's
/// `expiring_certs` contract) so that exactly the expiries
/// `(after + T, until + T]` of every stage are read; overlapping ranges
/// (long catch-ups) are merged so no row is read twice.
pub fn query_ranges(w: Window, stages: &[u32]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let ms = Duration::milliseconds(1);
    let mut r: Vec<_> = stages
        .iter()
        .map(|t| (w.after + days(*t) + ms, w.until + days(*t) + ms))
        .filter(|(a, b)| a < b)
        .collect();
    r.sort();
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (a, b) in r {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The stage a certification expiring at `expiry` is due for in this run:
/// the smallest threshold it crossed (after a catch-up, one mail about the
/// most urgent stage, not one per stage). Certifications already expired at
/// `until` are due only for the expired notice (stage 0).
pub fn due_stage(w: Window, stages: &[u32], expiry: DateTime<Utc>) -> Option<u32> {
    let crossed = |t: u32| {
        let d = expiry - days(t);
        w.after < d && d <= w.until
    };
    let t = stages.iter().copied().find(|t| crossed(*t))?;
    (t == 0 || expiry > w.until).then_some(t)
}

/// Whole days left, rounded up: a certification expiring in 89 days and
/// 3 hours has "90 days left", matching the threshold that fired.
pub fn days_left(expiry: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let ms = (expiry - now).num_milliseconds();
    let day = Duration::days(1).num_milliseconds();
    ms.div_euclid(day) + i64::from(ms.rem_euclid(day) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    }
    fn first_run() -> Window {
        window(None, now(), Duration::days(1), Duration::days(31))
    }

    #[test]
    fn first_run_covers_only_the_catch_up_window() {
        assert_eq!(
            first_run(),
            Window {
                after: now() - Duration::days(1),
                until: now()
            }
        );
        let late = window(
            Some(now() - Duration::days(100)),
            now(),
            Duration::days(1),
            Duration::days(31),
        );
        assert_eq!(late.after, now() - Duration::days(31));
    }

    #[test]
    fn exact_thresholds_are_due_neighbours_are_not() {
        let st = stages(&[90, 60, 30], false);
        let w = first_run();
        let at = |d: i64| now() + Duration::days(d);
        for (d, want) in [
            (90, Some(90)),
            (60, Some(60)),
            (30, Some(30)),
            (89, None),
            (61, None),
            (31, None),
            (0, None),
            (-1, None),
        ] {
            assert_eq!(due_stage(w, &st, at(d)), want, "{d} days");
        }
        let with_notice = stages(&[90, 60, 30], true);
        assert_eq!(due_stage(w, &with_notice, at(0)), Some(0));
        assert_eq!(due_stage(w, &with_notice, at(-1)), None);
    }

    #[test]
    fn catch_up_picks_the_most_urgent_stage_once() {
        let st = stages(&[90, 60, 30], false);
        // Last success 40 days ago: a cert at 55 days crossed 90 and 60.
        let w = window(
            Some(now() - Duration::days(40)),
            now(),
            Duration::days(1),
            Duration::days(60),
        );
        assert_eq!(due_stage(w, &st, now() + Duration::days(55)), Some(60));
        // Expired during the outage and no notice configured: nothing.
        assert_eq!(due_stage(w, &st, now() - Duration::days(5)), None);
    }

    #[test]
    fn ranges_read_exactly_the_due_expiries_and_merge() {
        let st = stages(&[90, 60, 30], false);
        let r = query_ranges(first_run(), &st);
        assert_eq!(r.len(), 3);
        let ms = Duration::milliseconds(1);
        assert_eq!(
            r[0],
            (
                now() + Duration::days(29) + ms,
                now() + Duration::days(30) + ms
            )
        );
        // A 40-day window makes 30/60/90 overlap: one merged range.
        let w = window(
            Some(now() - Duration::days(40)),
            now(),
            Duration::days(1),
            Duration::days(60),
        );
        let r = query_ranges(w, &st);
        assert_eq!(
            r,
            vec![(
                now() - Duration::days(10) + ms,
                now() + Duration::days(90) + ms
            )]
        );
        // A second run at the same instant reads nothing.
        let same = window(Some(now()), now(), Duration::days(1), Duration::days(31));
        assert!(query_ranges(same, &st).is_empty());
    }

    #[test]
    fn days_left_rounds_up() {
        assert_eq!(days_left(now() + Duration::days(90), now()), 90);
        assert_eq!(
            days_left(now() + Duration::days(89) + Duration::hours(3), now()),
            90
        );
        assert_eq!(days_left(now(), now()), 0);
    }
}
