//! Status of one record at an instant.
//!
//! Decisions:
//! - **Expired from the expiry instant on**: `expires_at <= now` is expired
//!   (the program has no grace period, so on the expiry instant itself the
//!   certification no longer counts).
//! - **Expiring window is inclusive**: a record expiring exactly
//!   `warning_days` days from now is already *expiring*. The first reminder
//!   threshold equals the window (90 days), so the day a holder gets the
//!   90-day reminder the dashboard shows the certification as expiring too.

use chrono::{DateTime, Duration, Utc};

use crate::model::{CertRow, CertStatus, ProgressStatus};

impl CertRow {
    /// The row's status at `now`: [`record_status`], unless staff set one
    /// or it awaits approval ([`effective_status`]).
    pub fn status(&self, now: DateTime<Utc>, warning_days: u32) -> CertStatus {
        effective_status(
            record_status(self.progress, self.expires_at, now, warning_days),
            self.status_override,
            self.awaiting_approval,
        )
    }
}

/// The status shown: a status staff set wins; else a complete certification
/// that needs approval is in admin review while it would count; else the
/// computed one (the precedence of `super::programs`).
pub fn effective_status(
    computed: CertStatus,
    status_override: Option<CertStatus>,
    awaiting_approval: bool,
) -> CertStatus {
    match status_override {
        Some(s) => s,
        None if awaiting_approval && computed.counts() => CertStatus::AdminReview,
        None => computed,
    }
}

/// Status of a record with `progress` and effective expiry `expires_at`
/// (see [`super::expiry`]). A completed record without any expiry (no LMS
/// value and no completion date to compute one) is active: there is no
/// instant at which it could have expired.
pub fn record_status(
    progress: ProgressStatus,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    warning_days: u32,
) -> CertStatus {
    match progress {
        ProgressStatus::Enrolled => CertStatus::Enrolled,
        ProgressStatus::InProgress => CertStatus::InProgress,
        ProgressStatus::Completed => match expires_at {
            None => CertStatus::Active,
            Some(exp) => expiry_status(exp, now, warning_days),
        },
    }
}

/// Status of a completed record (or an organisation certification) that
/// ends at `expires_at`: expired, expiring or active.
pub fn expiry_status(
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    warning_days: u32,
) -> CertStatus {
    if expires_at <= now {
        CertStatus::Expired
    } else if expires_at - now <= Duration::days(i64::from(warning_days)) {
        CertStatus::Expiring
    } else {
        CertStatus::Active
    }
}

/// Whether a completed record with this effective expiry counts at `now`.
pub fn is_current(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expires_at.is_none_or(|exp| exp > now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    }

    #[test]
    fn enrolled_and_in_progress_ignore_dates() {
        let past = Some(now() - Duration::days(1));
        assert_eq!(
            record_status(ProgressStatus::Enrolled, past, now(), 90),
            CertStatus::Enrolled
        );
        assert_eq!(
            record_status(ProgressStatus::InProgress, past, now(), 90),
            CertStatus::InProgress
        );
    }

    #[test]
    fn expiry_exactly_now_is_expired() {
        assert_eq!(
            record_status(ProgressStatus::Completed, Some(now()), now(), 90),
            CertStatus::Expired
        );
        assert!(!is_current(Some(now()), now()));
    }

    #[test]
    fn one_second_before_expiry_is_expiring() {
        let exp = now() + Duration::seconds(1);
        assert_eq!(
            record_status(ProgressStatus::Completed, Some(exp), now(), 90),
            CertStatus::Expiring
        );
        assert!(is_current(Some(exp), now()));
    }

    #[test]
    fn exactly_90_days_is_expiring_inclusive() {
        let exp = now() + Duration::days(90);
        assert_eq!(
            record_status(ProgressStatus::Completed, Some(exp), now(), 90),
            CertStatus::Expiring
        );
    }

    #[test]
    fn just_over_90_days_is_active() {
        let exp = now() + Duration::days(90) + Duration::seconds(1);
        assert_eq!(
            record_status(ProgressStatus::Completed, Some(exp), now(), 90),
            CertStatus::Active
        );
    }

    #[test]
    fn warning_window_is_configurable() {
        let exp = now() + Duration::days(45);
        assert_eq!(expiry_status(exp, now(), 30), CertStatus::Active);
        assert_eq!(expiry_status(exp, now(), 60), CertStatus::Expiring);
        // A zero window means nothing is ever "expiring", only active/expired.
        assert_eq!(expiry_status(exp, now(), 0), CertStatus::Active);
    }

    #[test]
    fn completed_without_any_expiry_is_active() {
        assert_eq!(
            record_status(ProgressStatus::Completed, None, now(), 90),
            CertStatus::Active
        );
        assert!(is_current(None, now()));
    }

    #[test]
    fn only_active_and_expiring_count() {
        let counting: Vec<_> = CertStatus::ALL.into_iter().filter(|s| s.counts()).collect();
        assert_eq!(counting, vec![CertStatus::Active, CertStatus::Expiring]);
    }
}
