//! Recertification enrolment (issue 16, item 3): when a certification whose
//! definition names a recertification course is due for the enrolment, and
//! what became of an enrolment. Pure date arithmetic, no I/O.
//!
//! - **Due.** A certification expiring at `e` is due on the UTC day of
//!   `e − recert_days_before` and stays due until it expires. A run enrols
//!   every certification due on or before its day and not yet expired, so a
//!   missed day is caught up by the next run (as the reminders do, see
//!   `functions/reminders/src/window.rs`); the stored enrolment per
//!   (person, certification, expiry) is what keeps a later run from
//!   enrolling again.
//! - **Outcome.** `completed` when the person's record of the recert course
//!   is completed on or after the enrolment; else `expired` once the expiry
//!   it was made for has passed; else `enrolled`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::model::{Enrollment, ProgressStatus};

/// The UTC day a certification expiring at `expires_at` becomes due.
pub fn due_on(expires_at: DateTime<Utc>, days_before: u32) -> NaiveDate {
    (expires_at - Duration::days(i64::from(days_before))).date_naive()
}

/// Whether the enrolment is due at `now`: its due day is today or earlier,
/// and the certification has not expired yet.
pub fn is_due(expires_at: DateTime<Utc>, days_before: u32, now: DateTime<Utc>) -> bool {
    expires_at > now && due_on(expires_at, days_before) <= now.date_naive()
}

/// The half-open expiry range `[from, to)` that holds every certification
/// due at `now` for a lead time of at most `max_days_before`: from now (not
/// expired) to the start of tomorrow + the lead time (due today or before).
pub fn scan_range(now: DateTime<Utc>, max_days_before: u32) -> (DateTime<Utc>, DateTime<Utc>) {
    let tomorrow = (now.date_naive() + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    (
        now + Duration::milliseconds(1),
        tomorrow + Duration::days(i64::from(max_days_before)),
    )
}

/// What became of an enrolment.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Enrolled,
    Completed,
    Expired,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Enrolled => "enrolled",
            Outcome::Completed => "completed",
            Outcome::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [Outcome::Enrolled, Outcome::Completed, Outcome::Expired]
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// The outcome of an enrolment made at `enrolled_at` for the expiry
/// `expires_at`, given the person's stored record of the recert course.
pub fn outcome(
    enrolled_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    recert_record: Option<&Enrollment>,
    now: DateTime<Utc>,
) -> Outcome {
    // The LMS stamps whole seconds; the enrolment time is ours, so a
    // completion within the same second counts.
    let since = enrolled_at - Duration::seconds(1);
    let completed = recert_record.is_some_and(|r| {
        r.progress == ProgressStatus::Completed && r.completed_at.is_some_and(|c| c >= since)
    });
    if completed {
        Outcome::Completed
    } else if expires_at <= now {
        Outcome::Expired
    } else {
        Outcome::Enrolled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn due_from_the_day_lead_time_before_expiry_until_expiry() {
        let exp = t(2026, 3, 31, 15);
        assert_eq!(
            due_on(exp, 30),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        // The day before the due day: not yet, even late in the evening.
        assert!(!is_due(exp, 30, t(2026, 2, 28, 23)));
        // From the first hour of the due day.
        assert!(is_due(exp, 30, t(2026, 3, 1, 0)));
        // A missed day is caught up: still due later on.
        assert!(is_due(exp, 30, t(2026, 3, 20, 7)));
        // Not at or after the expiry.
        assert!(!is_due(exp, 30, exp));
        assert!(!is_due(exp, 30, t(2026, 4, 2, 7)));
        // Another lead time moves the day.
        assert!(!is_due(exp, 7, t(2026, 3, 20, 7)));
        assert!(is_due(exp, 7, t(2026, 3, 24, 0)));
    }

    #[test]
    fn the_scan_range_holds_exactly_the_due_expiries() {
        let now = t(2026, 3, 1, 7);
        let (from, to) = scan_range(now, 30);
        assert!(from > now);
        // Due today (1 March) means expiring on 31 March at the latest.
        assert_eq!(to, t(2026, 4, 1, 0));
        // Every due expiry is inside, the first not-yet-due one is not.
        for exp in [
            now + Duration::hours(1),
            t(2026, 3, 31, 23),
            to - Duration::milliseconds(1),
        ] {
            assert!(is_due(exp, 30, now), "{exp}");
            assert!(from <= exp && exp < to, "{exp}");
        }
        assert!(!is_due(to, 30, now));
        assert!(!is_due(now, 30, now));
    }

    #[test]
    fn outcome_completed_expired_or_enrolled() {
        let enrolled = t(2026, 3, 1, 7);
        let exp = t(2026, 3, 31, 0);
        let rec = |p: ProgressStatus, done: Option<DateTime<Utc>>| Enrollment {
            user_id: "u".into(),
            course_id: "r".into(),
            progress: p,
            completed_at: done,
            ..Default::default()
        };
        let now = t(2026, 3, 10, 0);
        assert_eq!(outcome(enrolled, exp, None, now), Outcome::Enrolled);
        let started = rec(ProgressStatus::InProgress, None);
        assert_eq!(
            outcome(enrolled, exp, Some(&started), now),
            Outcome::Enrolled
        );
        let done = rec(ProgressStatus::Completed, Some(t(2026, 3, 5, 0)));
        assert_eq!(outcome(enrolled, exp, Some(&done), now), Outcome::Completed);
        // A completion from before the enrolment is an older take.
        let old = rec(ProgressStatus::Completed, Some(t(2024, 3, 5, 0)));
        assert_eq!(outcome(enrolled, exp, Some(&old), now), Outcome::Enrolled);
        let later = t(2026, 4, 1, 0);
        assert_eq!(outcome(enrolled, exp, Some(&old), later), Outcome::Expired);
        assert_eq!(
            outcome(enrolled, exp, Some(&done), later),
            Outcome::Completed
        );
        assert_eq!(Outcome::parse(" Expired"), Some(Outcome::Expired));
        assert_eq!(Outcome::parse("nope"), None);
    }
}
