//! Unsubscribe links in mail. The reports API verifies the token, asks the
//! person to confirm (`GET /unsubscribe/{token}`) and records the opt-out
//! only on `POST` (the button, or a mail client's RFC 8058 one-click);
//! both sides use the shared
//! `portal_core::access::{unsubscribe_token, verify_unsubscribe}` so the
//! format is defined in one place.

use portal_core::access;
use portal_core::clock::Clock;

/// Gives the unsubscribe URL of an address (`None`: no link, no header).
pub trait UnsubscribeLinks: Send + Sync {
    fn url(&self, email: &str) -> Option<String>;
}

/// `<base>/unsubscribe/<access::unsubscribe_token(key, email, now)>`: the
/// address encrypted and authenticated, valid for
/// [`access::UNSUBSCRIBE_VALIDITY_DAYS`] from the mail.
pub struct HmacLinks {
    base_url: String,
    key: Vec<u8>,
    clock: Clock,
}

impl HmacLinks {
    pub fn new(base_url: &str, key: &[u8]) -> HmacLinks {
        HmacLinks {
            base_url: base_url.trim_end_matches('/').to_string(),
            key: key.to_vec(),
            clock: Clock::System,
        }
    }

    /// Expiry counted from this clock (the business clock, so a pinned
    /// `PORTAL_NOW` issues links the reports function, pinned the same,
    /// accepts).
    pub fn with_clock(mut self, clock: Clock) -> HmacLinks {
        self.clock = clock;
        self
    }

    pub fn token(&self, email: &str) -> String {
        access::unsubscribe_token(&self.key, email, self.clock.now())
    }
}

impl UnsubscribeLinks for HmacLinks {
    fn url(&self, email: &str) -> Option<String> {
        Some(format!(
            "{}/unsubscribe/{}",
            self.base_url,
            self.token(email)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn token_is_keyed_normalised_hides_the_address_and_expires() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let a = HmacLinks::new("https://p.example/", b"k1").with_clock(Clock::Fixed(t0));
        let url = a.url("Ann@X.io").unwrap();
        let token = url
            .strip_prefix("https://p.example/unsubscribe/")
            .unwrap_or_else(|| panic!("{url}"));
        assert!(!token.to_lowercase().contains("ann"), "{token}");
        // What the reports route checks: the same key verifies it to the
        // normalised address, another key does not; a year on it is dead.
        let ok = access::verify_unsubscribe(b"k1", token, t0).unwrap();
        assert_eq!(ok.email, "ann@x.io");
        assert_eq!(access::verify_unsubscribe(b"k2", token, t0), None);
        let late = t0 + Duration::days(access::UNSUBSCRIBE_VALIDITY_DAYS + 1);
        assert_eq!(access::verify_unsubscribe(b"k1", token, late), None);
    }
}
