//! The replaced program's transcript fetch, reimplemented faithfully for
//! comparison only: one user at a time, strictly sequential, a fixed 125 ms
//! pause after *every* request (its whole rate-limit strategy), following
//! `links.next` until it is absent.
//!
//! Two choices where the old program's behaviour is not documented, made so
//! the comparison measures scheduling only:
//! - page size `limit=100`, the same as the portal's client, so both send
//!   the same number of requests for the same users;
//! - on a 429 it waits `Retry-After` and asks again (rather than losing the
//!   user). At its pace (< 8 req/s) it never meets a 10 req/s bucket anyway.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

/// The old program's fixed pause after each request.
pub const PAUSE_AFTER_REQUEST: Duration = Duration::from_millis(125);

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("GET {url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("bad base url: {0}")]
    Url(#[from] url::ParseError),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BaselineStats {
    pub requests: u64,
    pub rate_limited: u64,
    pub users: u64,
    pub records: u64,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    data: Vec<Value>,
    #[serde(default)]
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<String>,
}

pub struct BaselineClient {
    http: reqwest::Client,
    base: url::Url,
    api_key: String,
}

impl BaselineClient {
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, BaselineError> {
        Ok(BaselineClient {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: url::Url::parse(base_url)?,
            api_key: api_key.to_string(),
        })
    }

    /// Fetches every user's transcript the old way; returns the counters and
    /// the wall time.
    pub async fn fetch_all(
        &self,
        person_ids: &[String],
    ) -> Result<(BaselineStats, Duration), BaselineError> {
        let mut stats = BaselineStats::default();
        let start = Instant::now();
        for pid in person_ids {
            let mut url = self.base.join(&format!("v2/transcripts/{pid}"))?;
            url.query_pairs_mut()
                .append_pair("page", "1")
                .append_pair("limit", "100");
            let mut next = Some(url.to_string());
            while let Some(u) = next.take() {
                let page = self.get_page(&u, &mut stats).await?;
                stats.records += page.data.len() as u64;
                next = page.links.and_then(|l| l.next);
            }
            stats.users += 1;
        }
        Ok((stats, start.elapsed()))
    }

    async fn get_page(&self, url: &str, stats: &mut BaselineStats) -> Result<Page, BaselineError> {
        loop {
            stats.requests += 1;
            let resp = self
                .http
                .get(url)
                .header("X-Api-Key", &self.api_key)
                .send()
                .await?;
            let status = resp.status();
            if status.as_u16() == 429 {
                stats.rate_limited += 1;
                let wait = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            if !status.is_success() {
                return Err(BaselineError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            let page: Page = resp.json().await?;
            tokio::time::sleep(PAUSE_AFTER_REQUEST).await;
            return Ok(page);
        }
    }
}
