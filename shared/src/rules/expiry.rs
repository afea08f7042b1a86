//! Effective expiry of a completion.
//!
//! The LMS `expires_at` wins when present (the LMS may apply its own
//! per-course or per-learner validity); otherwise expiry is the completion
//! instant plus the course validity in **calendar months**, keeping the time
//! of day.
//!
//! Month-end rule: when the target month is shorter than the completion
//! day, the date is **clamped to the last day of the target month**
//! (29 Feb 2024 + 24 months = 28 Feb 2026; 31 Jan + 1 month = 28 or 29 Feb).
//! Why clamp rather than roll over into the next month: the certification
//! is valid for N *months*; rolling over (to 1 Mar) would grant days beyond
//! the named month and make the result depend on how long February is.
//! Clamping never exceeds N months, and it is what `chrono::Months`,
//! PostgreSQL intervals and most calendars do, so the numbers match what a
//! PAM computes by hand or in a spreadsheet (`EDATE`).

use chrono::{DateTime, Months, Utc};

use crate::model::{Course, Enrollment};

/// `at` plus `months` calendar months, clamped to the end of the target
/// month. Saturates at chrono's maximum date instead of panicking on absurd
/// inputs (a corrupt validity must not crash a sync).
pub fn add_months(at: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    at.checked_add_months(Months::new(months))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Effective expiry from raw dates: the LMS value when present, else
/// `completed_at + validity_months`, else `None` (nothing to compute from).
pub fn effective_expiry(
    lms_expires_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    validity_months: u32,
) -> Option<DateTime<Utc>> {
    lms_expires_at.or_else(|| completed_at.map(|c| add_months(c, validity_months)))
}

/// Effective expiry of a record. `course` gives the validity; when the
/// course is unknown (deleted from the catalog and never seen) the default
/// `default_validity_months` applies.
pub fn record_expiry(
    record: &Enrollment,
    course: Option<&Course>,
    default_validity_months: u32,
) -> Option<DateTime<Utc>> {
    let months = course.map_or(default_validity_months, |c| c.validity_months);
    effective_expiry(record.expires_at, record.completed_at, months)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProgressStatus;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 10, 30, 0).unwrap()
    }

    #[test]
    fn leap_day_plus_24_months_clamps_to_28_feb() {
        assert_eq!(add_months(at(2024, 2, 29), 24), at(2026, 2, 28));
    }

    #[test]
    fn leap_day_plus_48_months_lands_on_leap_day() {
        assert_eq!(add_months(at(2024, 2, 29), 48), at(2028, 2, 29));
    }

    #[test]
    fn jan_31_plus_one_month_is_end_of_february() {
        assert_eq!(add_months(at(2025, 1, 31), 1), at(2025, 2, 28));
        assert_eq!(add_months(at(2024, 1, 31), 1), at(2024, 2, 29));
    }

    #[test]
    fn aug_31_plus_one_month_is_sep_30() {
        assert_eq!(add_months(at(2025, 8, 31), 1), at(2025, 9, 30));
    }

    #[test]
    fn plain_date_keeps_day_and_time() {
        assert_eq!(add_months(at(2024, 11, 23), 24), at(2026, 11, 23));
        assert_eq!(add_months(at(2024, 11, 23), 0), at(2024, 11, 23));
    }

    #[test]
    fn absurd_validity_saturates_instead_of_panicking() {
        assert_eq!(
            add_months(at(2024, 1, 1), u32::MAX),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn lms_expiry_wins_over_computed() {
        let lms = at(2025, 6, 1);
        assert_eq!(
            effective_expiry(Some(lms), Some(at(2024, 1, 1)), 24),
            Some(lms)
        );
    }

    #[test]
    fn computed_from_completion_when_lms_has_none() {
        assert_eq!(
            effective_expiry(None, Some(at(2024, 3, 15)), 12),
            Some(at(2025, 3, 15))
        );
        assert_eq!(effective_expiry(None, None, 24), None);
    }

    #[test]
    fn record_expiry_uses_course_validity_then_default() {
        let rec = Enrollment {
            user_id: "u".into(),
            course_id: "c".into(),
            progress: ProgressStatus::Completed,
            completed_at: Some(at(2024, 1, 10)),
            ..Default::default()
        };
        let course = Course {
            id: "c".into(),
            validity_months: 12,
            ..Default::default()
        };
        assert_eq!(
            record_expiry(&rec, Some(&course), 24),
            Some(at(2025, 1, 10))
        );
        assert_eq!(record_expiry(&rec, None, 36), Some(at(2027, 1, 10)));
    }
}
