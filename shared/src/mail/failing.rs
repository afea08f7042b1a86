//! A [`Mailer`] wrapper that fails chosen recipients and hands every other
//! message to the wrapped (real) mailer — so a test or a drill can break
//! delivery for some people while everybody else still goes through SES.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use super::{Email, MailError, Mailer};
use crate::rules::members::normalize_email;

pub struct FailFor {
    inner: Arc<dyn Mailer>,
    /// Lower-cased addresses that fail; changeable while in use so a test
    /// can "repair" delivery between two runs.
    failing: Mutex<HashSet<String>>,
}

impl FailFor {
    pub fn new(inner: Arc<dyn Mailer>, addresses: &[&str]) -> FailFor {
        let f = FailFor {
            inner,
            failing: Mutex::new(HashSet::new()),
        };
        f.set(addresses);
        f
    }

    /// Replaces the failing set (empty = deliver everything).
    pub fn set(&self, addresses: &[&str]) {
        let mut g = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        *g = addresses.iter().map(|a| normalize_email(a)).collect();
    }

    fn fails(&self, to: &str) -> bool {
        let g = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        g.contains(&normalize_email(to))
    }
}

impl Mailer for FailFor {
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<String, MailError>> {
        if self.fails(&email.to) {
            let err = MailError::Transport {
                to: email.to.clone(),
                message: "delivery disabled for this recipient (FailFor)".into(),
            };
            return Box::pin(async move { Err(err) });
        }
        self.inner.send(email)
    }
}
