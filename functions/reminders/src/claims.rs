//! Exactly-once bookkeeping: one claim item per reminder (user, course,
//! expiry, stage) — or per PAM and week for the digest — claimed *before*
//! the mail goes out.
//!
//! The three-state claim (`claimed` → `sent`, or `claimed` → `released`
//! when the send failed; a `claimed` item older than the claim timeout is a
//! crashed run's and may be claimed again) lives in the store
//! (`Store::claim_reminder` & co., PutItem only — the role has no
//! DeleteItem). This module names the keys and keeps the call sites short.

use chrono::{DateTime, Duration, Utc};
use portal_core::store::keys;
use portal_core::store::{Result, Store};

pub use portal_core::store::access::{ClaimOutcome, ReminderClaim as Claim};

/// Reminder claim key (defined with the claims in the store, where the
/// portal's person page reads them too).
pub use portal_core::store::access::reminder_key;

/// Digest claim key: one digest per PAM and ISO week.
pub fn digest_key(email: &str, now: DateTime<Utc>) -> String {
    use chrono::Datelike;
    let w = now.iso_week();
    format!(
        "DIGEST#{}#{:04}-W{:02}",
        keys::normalize_email(email),
        w.year(),
        w.week()
    )
}

/// Claims `key` unless it was sent, or is claimed and not yet stale.
pub async fn claim(
    store: &Store,
    key: &str,
    run_id: &str,
    now: DateTime<Utc>,
    timeout: Duration,
    keep_until: DateTime<Utc>,
) -> Result<ClaimOutcome> {
    store
        .claim_reminder(key, run_id, now, timeout, keep_until)
        .await
}

/// `Ok(false)`: the claim was taken over meanwhile (nothing written).
pub async fn mark_sent(
    store: &Store,
    claim: &Claim,
    now: DateTime<Utc>,
    message_id: &str,
) -> Result<bool> {
    store.mark_reminder_sent(claim, now, message_id).await
}

/// Gives the claim back so the next run retries.
pub async fn release(store: &Store, claim: &Claim, error: &str) -> Result<bool> {
    store.release_reminder(claim, error).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keys_change_with_expiry_and_week() {
        let e1 = Utc.with_ymd_and_hms(2027, 2, 21, 0, 0, 0).unwrap();
        let e2 = Utc.with_ymd_and_hms(2029, 2, 21, 0, 0, 0).unwrap();
        assert_eq!(
            reminder_key("u1", "c1", e1, 90),
            "u1#c1#2027-02-21T00:00:00.000Z#90d"
        );
        assert_ne!(
            reminder_key("u1", "c1", e1, 90),
            reminder_key("u1", "c1", e2, 90)
        );
        let mon = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        assert_eq!(digest_key("Pat@X.io", mon), "DIGEST#pat@x.io#2026-W48");
        assert_eq!(
            digest_key("pat@x.io", mon + Duration::days(6)),
            digest_key("pat@x.io", mon)
        );
    }
}
