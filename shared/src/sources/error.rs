//! Typed errors of the source API clients.
//!
//! The variants split along what the caller (and the retry loop) must do:
//! `Auth` and `Client` are permanent and never retried, `RateLimited`,
//! `Server`, `Timeout`, `Malformed` and `Http` are transient and retried
//! with backoff, `Api` is the service saying "no" in its own envelope.

use std::time::Duration;

/// Which source system an error (or a client) belongs to; named in every
/// error so a failed sync run says at once *which* side is broken.
pub type SourceName = &'static str;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// 401/403: the key (or tenant) is wrong. Retrying cannot help, and
    /// hammering a SaaS API with a bad key risks getting it locked, so this
    /// fails fast.
    /// A redirect (Impartner answers a bad key with a 302 to its login
    /// page) is the same failure: `status` is then the 3xx.
    #[error("{source_name}: authentication failed (HTTP {status}{}); check {key}", redirect_text(.status))]
    Auth {
        source_name: SourceName,
        status: u16,
        /// The configuration that holds the credentials, e.g.
        /// `IMPARTNER_API_KEY and IMPARTNER_TENANT_ID`.
        key: &'static str,
    },

    /// 429 after all retries were spent.
    #[error("{source_name}: rate limited (HTTP 429){}", retry_after_text(.retry_after))]
    RateLimited {
        source_name: SourceName,
        retry_after: Option<Duration>,
    },

    /// 5xx after all retries were spent.
    #[error("{source_name}: server error (HTTP {status}) at {url}")]
    Server {
        source_name: SourceName,
        status: u16,
        url: String,
    },

    /// Any other unexpected 4xx (404 on a vanished id, 400 on a bad
    /// filter): a request bug or a missing record, not retried.
    #[error("{source_name}: unexpected HTTP {status} at {url}: {body}")]
    Client {
        source_name: SourceName,
        status: u16,
        url: String,
        body: String,
    },

    /// The request (connect, headers or body) took longer than the
    /// configured timeout, on the last attempt.
    #[error("{source_name}: request timed out at {url}")]
    Timeout {
        source_name: SourceName,
        url: String,
    },

    /// The body was not the JSON we expect (truncated, invalid, wrong
    /// shape), on the last attempt.
    #[error("{source_name}: malformed response from {url}: {detail}")]
    Malformed {
        source_name: SourceName,
        url: String,
        detail: String,
    },

    /// The service answered its own envelope with `success: false`.
    #[error("{source_name}: API error: {message}")]
    Api {
        source_name: SourceName,
        message: String,
    },

    /// Transport failure (connection refused/reset, DNS, TLS) on the last
    /// attempt.
    #[error("{source_name}: HTTP transport error at {url}: {detail}")]
    Http {
        source_name: SourceName,
        url: String,
        detail: String,
    },

    /// Every record of a non-empty page failed to parse: the service
    /// answers in a shape this client does not know. Not retried (the
    /// same page would come back the same) and never read as "no records".
    #[error(
        "{source_name}: all {count} {object} records of a page were unreadable (first: {detail})"
    )]
    Unreadable {
        source_name: SourceName,
        object: &'static str,
        count: usize,
        detail: String,
    },

    /// The client configuration cannot work (bad base URL, zero rate).
    #[error("{source_name}: invalid client configuration: {detail}")]
    Config {
        source_name: SourceName,
        detail: String,
    },
}

fn redirect_text(status: &u16) -> &'static str {
    if (300..400).contains(status) {
        ", redirected to a login page"
    } else {
        ""
    }
}

fn retry_after_text(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", Retry-After {}s", d.as_secs()),
        None => String::new(),
    }
}

impl SourceError {
    /// The source system this error came from.
    pub fn source_name(&self) -> SourceName {
        match self {
            SourceError::Auth { source_name, .. }
            | SourceError::RateLimited { source_name, .. }
            | SourceError::Server { source_name, .. }
            | SourceError::Client { source_name, .. }
            | SourceError::Timeout { source_name, .. }
            | SourceError::Malformed { source_name, .. }
            | SourceError::Api { source_name, .. }
            | SourceError::Http { source_name, .. }
            | SourceError::Unreadable { source_name, .. }
            | SourceError::Config { source_name, .. } => source_name,
        }
    }

    /// Whether the retry loop may try again. `Api` is not retried: a
    /// `success:false` envelope is a deliberate answer (bad filter, bad
    /// field), and repeating the same request gives the same answer.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SourceError::RateLimited { .. }
                | SourceError::Server { .. }
                | SourceError::Timeout { .. }
                | SourceError::Malformed { .. }
                | SourceError::Http { .. }
        )
    }

    /// Whether the error is an authentication failure (wrong key/tenant).
    pub fn is_auth(&self) -> bool {
        matches!(self, SourceError::Auth { .. })
    }
}
