//! Outgoing e-mail: an [`Email`] value, the [`Mailer`] trait that sends it,
//! the SES v2 implementation ([`SesMailer`], with a send-rate throttle and
//! retries of throttling errors), a [`FailFor`] wrapper that makes chosen
//! recipients fail (tests, drills) and the HTML + text [`templates`] of the
//! reminder and PAM digest mails.
//!
//! Callers depend on `Arc<dyn Mailer>` so a test can wrap the real SES
//! client instead of faking SES for everybody.

mod failing;
mod ses;
pub mod templates;
mod throttle;

use futures::future::BoxFuture;

pub use failing::FailFor;
pub use ses::{SesMailer, SesMailerBuilder};
pub use throttle::Throttle;

/// One message to one recipient. Bodies are already rendered (see
/// [`templates`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// One-click unsubscribe URL. When set, the message carries
    /// `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 8058), which
    /// mailbox providers require of bulk senders.
    pub unsubscribe_url: Option<String>,
}

impl Email {
    /// Extra header lines (name, value) of this message.
    pub fn list_headers(&self) -> Vec<(&'static str, String)> {
        match &self.unsubscribe_url {
            Some(url) => vec![
                ("List-Unsubscribe", format!("<{url}>")),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()),
            ],
            None => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// SES refused this message for good (bad address, unverified sender,
    /// account paused…): retrying the same message now will not help.
    #[error("message to {to} rejected: {message}")]
    Rejected { to: String, message: String },
    /// SES kept throttling us through every retry.
    #[error("message to {to} still throttled after {attempts} attempts")]
    Throttled { to: String, attempts: u32 },
    /// Network/service trouble; a later run may succeed.
    #[error("sending to {to} failed: {message}")]
    Transport { to: String, message: String },
    #[error("template {name} failed: {message}")]
    Template { name: String, message: String },
}

/// Sends one [`Email`]; returns the provider's message id.
///
/// Boxed futures (not `async fn`) so the trait stays usable as
/// `Arc<dyn Mailer>`.
pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<String, MailError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_headers_only_with_an_unsubscribe_url() {
        let mut e = Email {
            to: "a@b.c".into(),
            subject: "s".into(),
            html: "h".into(),
            text: "t".into(),
            unsubscribe_url: None,
        };
        assert!(e.list_headers().is_empty());
        e.unsubscribe_url = Some("https://p.example/unsubscribe/tok".into());
        assert_eq!(
            e.list_headers(),
            vec![
                (
                    "List-Unsubscribe",
                    "<https://p.example/unsubscribe/tok>".to_string()
                ),
                (
                    "List-Unsubscribe-Post",
                    "List-Unsubscribe=One-Click".to_string()
                ),
            ]
        );
    }
}
