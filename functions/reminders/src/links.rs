//! Unsubscribe links in mail. The reports API verifies the token and
//! records the opt-out (`GET|POST /unsubscribe/{token}`); both sides use
//! the shared `portal_core::access::{unsubscribe_token, verify_unsubscribe}`
//! so the format is defined in one place.

use portal_core::access;

/// Gives the unsubscribe URL of an address (`None`: no link, no header).
pub trait UnsubscribeLinks: Send + Sync {
    fn url(&self, email: &str) -> Option<String>;
}

/// `<base>/unsubscribe/<access::unsubscribe_token(key, email)>`.
pub struct HmacLinks {
    base_url: String,
    key: Vec<u8>,
}

impl HmacLinks {
    pub fn new(base_url: &str, key: &[u8]) -> HmacLinks {
        HmacLinks {
            base_url: base_url.trim_end_matches('/').to_string(),
            key: key.to_vec(),
        }
    }

    pub fn token(&self, email: &str) -> String {
        access::unsubscribe_token(&self.key, email)
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

    #[test]
    fn token_is_stable_case_insensitive_and_keyed() {
        let a = HmacLinks::new("https://p.example/", b"k1");
        let b = HmacLinks::new("https://p.example", b"k2");
        assert_eq!(a.token("Ann@X.io"), a.token(" ann@x.io"));
        assert_ne!(a.token("ann@x.io"), b.token("ann@x.io"));
        let url = a.url("Ann@X.io").unwrap();
        let token = url
            .strip_prefix("https://p.example/unsubscribe/")
            .unwrap_or_else(|| panic!("{url}"));
        // What the reports route checks: the same key verifies it to the
        // normalised address, another key does not.
        assert_eq!(
            access::verify_unsubscribe(b"k1", token).as_deref(),
            Some("ann@x.io")
        );
        assert_eq!(access::verify_unsubscribe(b"k2", token), None);
    }
}
