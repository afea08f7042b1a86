//! The request loop both clients share: concurrency permit → rate-limit
//! slot → send → classify → retry with backoff. Keeping it in one place
//! means both clients count, limit and retry the same way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::Method;
use serde::Serialize;
use tokio::sync::Semaphore;
use url::Url;

use super::error::{SourceError, SourceName};
use super::ratelimit::RateLimiter;
use crate::retry::{parse_retry_after, RetryPolicy};

/// Counters of one client since it was built (or since `reset_stats`).
/// Read them in benchmarks and tests: `requests` is what the source saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClientStats {
    /// HTTP requests sent (every attempt, retries included).
    pub requests: u64,
    /// Attempts that were retries of a failed one.
    pub retries: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// 5xx answers received.
    pub server_errors: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Bodies that could not be parsed (truncated, invalid).
    pub malformed: u64,
    /// Records skipped because even tolerant parsing could not read them.
    pub skipped_records: u64,
}

#[derive(Debug, Default)]
pub(crate) struct StatsCell {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    timeouts: AtomicU64,
    malformed: AtomicU64,
    skipped_records: AtomicU64,
}

impl StatsCell {
    pub(crate) fn snapshot(&self) -> ClientStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClientStats {
            requests: r(&self.requests),
            retries: r(&self.retries),
            rate_limited: r(&self.rate_limited),
            server_errors: r(&self.server_errors),
            timeouts: r(&self.timeouts),
            malformed: r(&self.malformed),
            skipped_records: r(&self.skipped_records),
        }
    }

    pub(crate) fn reset(&self) {
        for a in [
            &self.requests,
            &self.retries,
            &self.rate_limited,
            &self.server_errors,
            &self.timeouts,
            &self.malformed,
            &self.skipped_records,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_skipped(&self, n: u64) {
        self.skipped_records.fetch_add(n, Ordering::Relaxed);
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// What a successful exchange hands to the caller's parser.
pub(crate) struct Reply {
    pub body: Vec<u8>,
}

pub(crate) struct Transport {
    pub source: SourceName,
    http: reqwest::Client,
    /// Auth headers, marked sensitive so reqwest never prints them.
    auth: HeaderMap,
    limiter: RateLimiter,
    permits: Semaphore,
    retry: RetryPolicy,
    /// Set by the first 401/403. The key of a client never changes, so
    /// every later request would fail the same way: fail them before
    /// sending, so 500 concurrent transcript fetches with a bad key cost
    /// the source one request, not 500.
    auth_failed: std::sync::atomic::AtomicU16,
    key_hint: &'static str,
    pub stats: StatsCell,
}

pub(crate) struct TransportConfig {
    pub source: SourceName,
    pub auth: HeaderMap,
    pub rate_per_sec: f64,
    pub burst: u32,
    pub max_concurrency: usize,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Named in authentication errors: which configuration to check.
    pub key_hint: &'static str,
}

impl Transport {
    pub(crate) fn new(cfg: TransportConfig) -> Result<Arc<Self>, SourceError> {
        let config_err = |detail: String| SourceError::Config {
            source_name: cfg.source,
            detail,
        };
        if !(cfg.rate_per_sec.is_finite() && cfg.rate_per_sec > 0.0) {
            return Err(config_err(format!(
                "rate limit must be > 0 requests/second, got {}",
                cfg.rate_per_sec
            )));
        }
        if cfg.timeout.is_zero() {
            return Err(config_err("timeout must be > 0".into()));
        }
        let http = reqwest::Client::builder()
            // One deadline for connect + headers + body: a hung server
            // (headers sent, body never finished) is caught too.
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            // Never follow redirects: `X-Api-Key` is a custom header that
            // reqwest would forward to whatever host a redirect names.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portal-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config_err(format!("HTTP client: {e}")))?;
        Ok(Arc::new(Transport {
            source: cfg.source,
            http,
            auth: cfg.auth,
            limiter: RateLimiter::new(cfg.rate_per_sec, cfg.burst),
            permits: Semaphore::new(cfg.max_concurrency.max(1)),
            retry: cfg.retry,
            auth_failed: std::sync::atomic::AtomicU16::new(0),
            key_hint: cfg.key_hint,
            stats: StatsCell::default(),
        }))
    }

    /// Sends `method url [json body]` until it succeeds, fails permanently
    /// or runs out of retries. `ok_extra` lists non-2xx statuses the caller
    /// treats as success (409 on "already a member"). `parse` turns the body
    /// into a value; a retryable parse error (`Malformed`) is retried like
    /// a transport failure because truncated bodies are transient.
    pub(crate) async fn request<T>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        ok_extra: &[u16],
        parse: impl Fn(Reply) -> Result<T, SourceError>,
    ) -> Result<T, SourceError> {
        let mut retry = 0u32;
        loop {
            let outcome = match self.attempt(&method, url, body, ok_extra).await {
                Ok(reply) => parse(reply).inspect_err(|e| {
                    if matches!(e, SourceError::Malformed { .. }) {
                        bump(&self.stats.malformed);
                    }
                }),
                Err(e) => Err(e),
            };
            let err = match outcome {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !err.is_retryable() || retry >= self.retry.max_retries {
                if err.is_retryable() {
                    tracing::warn!(source = self.source, %method, path = url.path(),
                        attempts = retry + 1, error = %err, "giving up after retries");
                }
                return Err(err);
            }
            let retry_after = match &err {
                SourceError::RateLimited { retry_after, .. } => *retry_after,
                _ => None,
            };
            let delay = self.retry.delay_random(retry, retry_after);
            tracing::debug!(source = self.source, %method, path = url.path(), retry,
                delay_ms = delay.as_millis() as u64, error = %err, "retrying");
            bump(&self.stats.retries);
            retry += 1;
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        ok_extra: &[u16],
    ) -> Result<Reply, SourceError> {
        // Permit first, slot second: taking a rate slot and then queueing
        // for a permit would let requests bunch up behind the semaphore and
        // leave together, above the rate.
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.check_auth()?;
        self.limiter.acquire().await;
        // Again: the key may have been refused while we queued.
        self.check_auth()?;

        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .headers(self.auth.clone());
        if let Some(b) = body {
            req = req.json(b);
        }
        bump(&self.stats.requests);
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(url, e)),
        };
        let status = resp.status();
        if status.is_success() || ok_extra.contains(&status.as_u16()) {
            return match resp.bytes().await {
                Ok(b) => Ok(Reply { body: b.to_vec() }),
                // The headers came but the body broke off: same as a
                // truncated body, retried as malformed.
                Err(e) if e.is_timeout() => Err(self.timeout(url)),
                Err(e) => {
                    bump(&self.stats.malformed);
                    Err(SourceError::Malformed {
                        source_name: self.source,
                        url: url.to_string(),
                        detail: format!("body read failed: {e}"),
                    })
                }
            };
        }
        match status.as_u16() {
            // Redirects are never followed (see `new`); an API that answers
            // one sends us to its login page, i.e. it did not accept the key.
            s @ (401 | 403 | 300..=399) => {
                self.auth_failed.store(s, Ordering::Relaxed);
                tracing::error!(
                    source = self.source,
                    status = s,
                    key = self.key_hint,
                    "authentication failed; not retrying"
                );
                Err(SourceError::Auth {
                    source_name: self.source,
                    status: s,
                    key: self.key_hint,
                })
            }
            429 => {
                bump(&self.stats.rate_limited);
                let retry_after = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
                // Pause the whole client, not just this request: every other
                // in-flight task would hit the same empty bucket.
                let pause = retry_after
                    .unwrap_or(self.limiter.interval())
                    .min(self.retry.max_retry_after);
                self.limiter
                    .pause_until(tokio::time::Instant::now() + pause);
                Err(SourceError::RateLimited {
                    source_name: self.source,
                    retry_after,
                })
            }
            // 408 is the server's own timeout: transient like ours.
            408 => Err(self.timeout(url)),
            s if status.is_server_error() => {
                bump(&self.stats.server_errors);
                Err(SourceError::Server {
                    source_name: self.source,
                    status: s,
                    url: url.to_string(),
                })
            }
            s => {
                let text = resp.text().await.unwrap_or_default();
                Err(SourceError::Client {
                    source_name: self.source,
                    status: s,
                    url: url.to_string(),
                    body: truncate(&text, 500),
                })
            }
        }
    }

    fn check_auth(&self) -> Result<(), SourceError> {
        match self.auth_failed.load(Ordering::Relaxed) {
            0 => Ok(()),
            status => Err(SourceError::Auth {
                source_name: self.source,
                status,
                key: self.key_hint,
            }),
        }
    }

    fn timeout(&self, url: &Url) -> SourceError {
        bump(&self.stats.timeouts);
        SourceError::Timeout {
            source_name: self.source,
            url: url.to_string(),
        }
    }

    fn transport_error(&self, url: &Url, e: reqwest::Error) -> SourceError {
        if e.is_timeout() {
            return self.timeout(url);
        }
        SourceError::Http {
            source_name: self.source,
            url: url.to_string(),
            // reqwest's Display names the URL, never the headers, so the
            // API key cannot leak through here.
            detail: error_chain(&e),
        }
    }
}

/// Display of an error and its causes ("error sending request: connection
/// refused"), since reqwest's top-level message alone hides the cause.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// At most `max` bytes of `s`, cut on a char boundary.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Parses a JSON body, reporting where it broke (truncated bodies end with
/// "EOF while parsing").
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    source: SourceName,
    url: &Url,
    body: &[u8],
) -> Result<T, SourceError> {
    serde_json::from_slice(body).map_err(|e| SourceError::Malformed {
        source_name: source,
        url: url.to_string(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("ééé", 3), "é…");
    }

    #[test]
    fn malformed_json_names_the_problem() {
        let url = Url::parse("http://x/v2/people").unwrap();
        let err =
            parse_json::<serde_json::Value>("northpass", &url, br#"{"data": [1, 2"#).unwrap_err();
        match err {
            SourceError::Malformed { detail, url, .. } => {
                assert!(detail.contains("EOF"), "{detail}");
                assert_eq!(url, "http://x/v2/people");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
