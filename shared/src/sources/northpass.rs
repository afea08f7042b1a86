//! Northpass LMS client (JSON:API style, `X-Api-Key`).
//!
//! Lists are paged by following `links.next` until it is absent, with the
//! first request's `limit` and `filter[...]` put back on every link that
//! dropped them; `GET /v2/properties/courses`, which can end without a
//! `links.next` while more pages exist, is paged until a short or empty
//! page instead. Every
//! list has a whole-list function (`people`) and a page stream
//! (`people_pages`) so a sync can write page by page without holding
//! 33,000 people in memory.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use url::Url;

use super::error::SourceError;
use super::transport::{parse_json, ClientStats, Transport, TransportConfig};
use super::wire::{
    datetime_from_value, f64_from_value, npcu_from_value, string_from_value, u64_from_value,
    Course, CourseProperties, Group, Membership, Person, ProgressStatus, TranscriptEntry,
};
use crate::retry::RetryPolicy;

pub const SOURCE: &str = "northpass";

/// Course enrolment through a group (`enrol.rs` next to this file).
mod enrol;
/// Webhook payloads (pure parsing; `hooks.rs` next to this file).
pub mod hooks;

/// Upper bound on pages of one list: a server whose `links.next` never
/// ends must not keep a Lambda busy forever.
const MAX_PAGES: usize = 100_000;

#[derive(Clone)]
pub struct NorthpassConfig {
    /// e.g. `https://api.northpass.com` (a path prefix is kept).
    pub base_url: String,
    pub api_key: String,
    /// Sustained requests/second of the whole client (default 10, the
    /// documented limit).
    pub rate_limit_per_sec: f64,
    /// Requests allowed back to back after idling (default 1: strict
    /// pacing, because the server's own bucket may still be partly drained
    /// by an earlier run with the same key).
    pub burst: u32,
    /// Requests in flight at once, over all concurrent callers (default 8).
    pub max_concurrency: usize,
    /// Deadline of one attempt, connect to last body byte (default 30 s).
    pub timeout: Duration,
    /// Retries after the first attempt (default 5).
    pub max_retries: u32,
    /// First backoff ceiling (default 200 ms); doubles per retry.
    pub retry_base_delay: Duration,
    /// Largest backoff ceiling (default 10 s).
    pub retry_max_delay: Duration,
    /// `limit` per page, at most 100 (default 100).
    pub page_limit: u32,
}

impl NorthpassConfig {
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        let retry = RetryPolicy::SOURCES;
        NorthpassConfig {
            base_url: base_url.into(),
            api_key: api_key.into(),
            rate_limit_per_sec: 10.0,
            burst: 1,
            max_concurrency: 8,
            timeout: Duration::from_secs(30),
            max_retries: retry.max_retries,
            retry_base_delay: retry.base_delay,
            retry_max_delay: retry.max_delay,
            page_limit: 100,
        }
    }
}

/// Hand-written so the key never reaches a log through `{:?}`.
impl fmt::Debug for NorthpassConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NorthpassConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("burst", &self.burst)
            .field("max_concurrency", &self.max_concurrency)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("page_limit", &self.page_limit)
            .finish()
    }
}

/// Cheap to clone: clones share one connection pool, one rate limiter, one
/// concurrency limit and one set of counters.
#[derive(Clone)]
pub struct NorthpassClient {
    transport: Arc<Transport>,
    base: Url,
    page_limit: u32,
}

impl fmt::Debug for NorthpassClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NorthpassClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// A JSON:API list page as far as we rely on it. `data` is kept as raw
/// values so one unreadable item is skipped instead of failing the page.
#[derive(Deserialize)]
struct Page {
    data: Vec<Value>,
    #[serde(default)]
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<String>,
}

/// One JSON:API resource, loosely.
#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    id: Value,
    #[serde(default)]
    attributes: Map<String, Value>,
    #[serde(default)]
    relationships: Map<String, Value>,
}

impl Resource {
    fn id(&self) -> Option<String> {
        string_from_value(&self.id)
    }
    fn string(&self, key: &str) -> Option<String> {
        self.attributes.get(key).and_then(string_from_value)
    }
    fn date(&self, key: &str) -> Option<DateTime<Utc>> {
        self.attributes.get(key).and_then(datetime_from_value)
    }
    /// `relationships.<name>.data.id`.
    fn related_id(&self, name: &str) -> Option<String> {
        self.relationships
            .get(name)?
            .get("data")?
            .get("id")
            .and_then(string_from_value)
    }
}

/// What to do with one list item: keep it, ignore it on purpose (a
/// non-course transcript), or skip it as unreadable (counted, logged).
enum Item<T> {
    Keep(T),
    Ignore,
    Unreadable(&'static str),
}

type Convert<T> = Arc<dyn Fn(Resource) -> Item<T> + Send + Sync>;

impl NorthpassClient {
    pub fn new(cfg: NorthpassConfig) -> Result<Self, SourceError> {
        let config_err = |detail: String| SourceError::Config {
            source_name: SOURCE,
            detail,
        };
        let base = parse_base(&cfg.base_url).map_err(config_err)?;
        let mut key = HeaderValue::from_str(&cfg.api_key)
            .map_err(|_| config_err("API key is not a valid header value".into()))?;
        key.set_sensitive(true);
        let mut auth = HeaderMap::new();
        auth.insert("x-api-key", key);
        let transport = Transport::new(TransportConfig {
            source: SOURCE,
            auth,
            rate_per_sec: cfg.rate_limit_per_sec,
            burst: cfg.burst,
            max_concurrency: cfg.max_concurrency,
            timeout: cfg.timeout,
            retry: RetryPolicy {
                max_retries: cfg.max_retries,
                base_delay: cfg.retry_base_delay,
                max_delay: cfg.retry_max_delay,
                ..RetryPolicy::SOURCES
            },
            key_hint: "NORTHPASS_API_KEY (X-Api-Key)",
        })?;
        Ok(NorthpassClient {
            transport,
            base,
            // The API refuses limits above 100; 0 would page forever.
            page_limit: cfg.page_limit.clamp(1, 100),
        })
    }

    /// Counters since the client was built or `reset_stats`.
    pub fn stats(&self) -> ClientStats {
        self.transport.stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.transport.stats.reset()
    }

    // ---- people -------------------------------------------------------

    /// All people, or those updated at or after `since`.
    pub async fn people(&self, since: Option<DateTime<Utc>>) -> Result<Vec<Person>, SourceError> {
        collect(self.people_pages(since)).await
    }

    pub fn people_pages(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> impl Stream<Item = Result<Vec<Person>, SourceError>> + Send + 'static {
        self.list(
            &["v2", "people"],
            since,
            Arc::new(convert_person),
            Paging::Links,
        )
    }

    // ---- groups -------------------------------------------------------

    pub async fn groups(&self, since: Option<DateTime<Utc>>) -> Result<Vec<Group>, SourceError> {
        collect(self.groups_pages(since)).await
    }

    pub fn groups_pages(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> impl Stream<Item = Result<Vec<Group>, SourceError>> + Send + 'static {
        self.list(
            &["v2", "groups"],
            since,
            Arc::new(convert_group),
            Paging::Links,
        )
    }

    /// Members of one group.
    pub async fn group_memberships(&self, group_id: &str) -> Result<Vec<Membership>, SourceError> {
        let gid = group_id.to_string();
        let convert: Convert<Membership> = Arc::new(move |r| convert_membership(&gid, r));
        collect(self.list(
            &["v2", "groups", group_id, "memberships"],
            None,
            convert,
            Paging::Links,
        ))
        .await
    }

    /// Memberships of many groups, at most `concurrency` groups at a time
    /// (the shared rate limiter still paces the requests). Yields
    /// `(group_id, result)` in completion order.
    pub fn fetch_all_memberships<I>(
        &self,
        group_ids: I,
        concurrency: usize,
    ) -> impl Stream<Item = (String, Result<Vec<Membership>, SourceError>)> + Send + 'static
    where
        I: IntoIterator<Item = String>,
        I::IntoIter: Send + 'static,
    {
        let client = self.clone();
        stream::iter(group_ids)
            .map(move |gid| {
                let client = client.clone();
                async move {
                    let r = client.group_memberships(&gid).await;
                    (gid, r)
                }
            })
            .buffer_unordered(concurrency.max(1))
    }

    // ---- courses ------------------------------------------------------

    pub async fn courses(&self, since: Option<DateTime<Utc>>) -> Result<Vec<Course>, SourceError> {
        collect(self.courses_pages(since)).await
    }

    pub fn courses_pages(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> impl Stream<Item = Result<Vec<Course>, SourceError>> + Send + 'static {
        self.list(
            &["v2", "courses"],
            since,
            Arc::new(convert_course),
            Paging::Links,
        )
    }

    /// Custom properties (NPCU, category) of every course. Not incremental:
    /// the endpoint has no `updated_at` filter.
    pub async fn course_properties(&self) -> Result<Vec<CourseProperties>, SourceError> {
        collect(self.course_properties_pages()).await
    }

    pub fn course_properties_pages(
        &self,
    ) -> impl Stream<Item = Result<Vec<CourseProperties>, SourceError>> + Send + 'static {
        self.list(
            &["v2", "properties", "courses"],
            None,
            Arc::new(convert_properties),
            Paging::UntilShort,
        )
    }

    // ---- transcripts --------------------------------------------------

    /// One person's course records. Records of other resource types
    /// (learning paths, events) are dropped here, as the contract says the
    /// portal ignores them.
    pub async fn transcripts(&self, person_id: &str) -> Result<Vec<TranscriptEntry>, SourceError> {
        let pid = person_id.to_string();
        let convert: Convert<TranscriptEntry> = Arc::new(move |r| convert_transcript(&pid, r));
        collect(self.list(
            &["v2", "transcripts", person_id],
            None,
            convert,
            Paging::Links,
        ))
        .await
    }

    /// Transcripts of many people, at most `concurrency` people at a time,
    /// all paced by the client's one rate limiter. Yields
    /// `(person_id, result)` in completion order; a failure of one person
    /// does not stop the others (the sync records it and moves on), except
    /// that an auth failure makes every later request fail at once.
    pub fn fetch_all_transcripts<I>(
        &self,
        person_ids: I,
        concurrency: usize,
    ) -> impl Stream<Item = (String, Result<Vec<TranscriptEntry>, SourceError>)> + Send + 'static
    where
        I: IntoIterator<Item = String>,
        I::IntoIter: Send + 'static,
    {
        let client = self.clone();
        stream::iter(person_ids)
            .map(move |pid| {
                let client = client.clone();
                async move {
                    let r = client.transcripts(&pid).await;
                    (pid, r)
                }
            })
            .buffer_unordered(concurrency.max(1))
    }

    // ---- writes -------------------------------------------------------

    /// Adds a person to a group through
    /// `POST /v2/groups/{id}/relationships/people`. "Already a member"
    /// (422, or 409 from JSON:API servers that use it) counts as done,
    /// which also makes the retry of a POST whose answer was lost safe.
    pub async fn add_member(&self, group_id: &str, person_id: &str) -> Result<(), SourceError> {
        let url = self.endpoint(&["v2", "groups", group_id, "relationships", "people"]);
        let body = json!({ "data": [ { "type": "people", "id": person_id } ] });
        self.transport
            .request(Method::POST, &url, Some(&body), &[409, 422], |_| Ok(()))
            .await
    }

    /// Removes a person from a group (offboarding) through
    /// `DELETE /v2/groups/{id}/relationships/people`. "Not a member" (404)
    /// counts as done: the goal state is reached either way.
    pub async fn remove_member(&self, group_id: &str, person_id: &str) -> Result<(), SourceError> {
        let url = self.endpoint(&["v2", "groups", group_id, "relationships", "people"]);
        let body = json!({ "data": [ { "type": "people", "id": person_id } ] });
        self.transport
            .request(Method::DELETE, &url, Some(&body), &[404], |_| Ok(()))
            .await
    }

    // ---- paging machinery ---------------------------------------------

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut u = self.base.clone();
        {
            let mut path = u
                .path_segments_mut()
                .expect("base URL was checked to be http(s)");
            path.pop_if_empty();
            // `push` percent-encodes, so an id with `/` cannot escape its
            // path segment.
            for s in segments {
                path.push(s);
            }
        }
        u
    }

    fn list<T: Send + 'static>(
        &self,
        segments: &[&str],
        since: Option<DateTime<Utc>>,
        convert: Convert<T>,
        paging: Paging,
    ) -> BoxStream<'static, Result<Vec<T>, SourceError>> {
        let mut first = self.endpoint(segments);
        {
            let mut q = first.query_pairs_mut();
            q.append_pair("page", "1");
            q.append_pair("limit", &self.page_limit.to_string());
            if let Some(since) = since {
                // Whole seconds, floored: `gteq` on a floored instant
                // returns a superset, never misses a record.
                q.append_pair(
                    "filter[updated_at][gteq]",
                    &since.to_rfc3339_opts(SecondsFormat::Secs, true),
                );
            }
        }
        // Put back on every followed link (see the module doc).
        let sticky: Vec<(String, String)> = first
            .query_pairs()
            .filter(|(k, _)| k == "limit" || k.starts_with("filter["))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let limit = self.page_limit as usize;
        let client = self.clone();
        stream::try_unfold((Some(first), 0usize), move |(next, pages)| {
            let client = client.clone();
            let convert = convert.clone();
            let sticky = sticky.clone();
            async move {
                let Some(url) = next else {
                    return Ok(None);
                };
                if pages >= MAX_PAGES {
                    return Err(SourceError::Malformed {
                        source_name: SOURCE,
                        url: url.to_string(),
                        detail: format!("more than {MAX_PAGES} pages; links.next never ends"),
                    });
                }
                let (items, next, raw) = client.fetch_page(&url, &convert).await?;
                let next = match paging {
                    Paging::Links => next,
                    // An empty page is the last. A link is followed when
                    // there is one (a server may cap `limit` below ours, so
                    // "short" is only judged without a link); without one,
                    // a full page is followed by the next page number.
                    Paging::UntilShort if raw == 0 => None,
                    Paging::UntilShort => next.or_else(|| (raw >= limit).then(|| next_page(&url))),
                };
                let next = next.map(|n| reapply(n, &sticky));
                Ok(Some((items, (next, pages + 1))))
            }
        })
        .boxed()
    }

    async fn fetch_page<T>(
        &self,
        url: &Url,
        convert: &Convert<T>,
    ) -> Result<(Vec<T>, Option<Url>, usize), SourceError> {
        let page: Page = self
            .transport
            .request(Method::GET, url, None, &[], |reply| {
                parse_json(SOURCE, url, &reply.body)
            })
            .await?;
        let mut items = Vec::with_capacity(page.data.len());
        let mut skipped = 0u64;
        let total = page.data.len() as u64;
        let mut first_why: Option<&'static str> = None;
        for raw in page.data {
            let item = match serde_json::from_value::<Resource>(raw) {
                Ok(r) => convert(r),
                Err(_) => Item::Unreadable("not a JSON:API resource"),
            };
            match item {
                Item::Keep(t) => items.push(t),
                Item::Ignore => {}
                Item::Unreadable(why) => {
                    skipped += 1;
                    first_why.get_or_insert(why);
                    tracing::warn!(source = SOURCE, path = url.path(), why, "skipping record");
                }
            }
        }
        if skipped > 0 {
            self.transport.stats.add_skipped(skipped);
            if items.is_empty() && skipped == total {
                return Err(SourceError::Unreadable {
                    source_name: SOURCE,
                    object: "JSON:API",
                    count: total as usize,
                    detail: first_why.unwrap_or("unreadable").to_string(),
                });
            }
        }
        let next = match page.links.and_then(|l| l.next) {
            Some(n) if !n.is_empty() => Some(self.resolve_next(url, &n)?),
            _ => None,
        };
        if next.as_ref() == Some(url) {
            return Err(SourceError::Malformed {
                source_name: SOURCE,
                url: url.to_string(),
                detail: "links.next points at the same page".into(),
            });
        }
        Ok((items, next, total as usize))
    }

    /// `links.next` is absolute per the contract, but we only ever send the
    /// key to our own base: a next link on another origin (a proxy's
    /// internal host name, or something hostile) keeps its path and query
    /// and is re-rooted on the configured base origin.
    fn resolve_next(&self, current: &Url, next: &str) -> Result<Url, SourceError> {
        let joined = current.join(next).map_err(|e| SourceError::Malformed {
            source_name: SOURCE,
            url: current.to_string(),
            detail: format!("bad links.next {next:?}: {e}"),
        })?;
        if joined.origin() == self.base.origin() {
            return Ok(joined);
        }
        tracing::warn!(
            source = SOURCE,
            next_host = joined.host_str().unwrap_or(""),
            "links.next on another origin; re-rooting on the configured base URL"
        );
        let mut u = self.base.clone();
        u.set_path(joined.path());
        u.set_query(joined.query());
        Ok(u)
    }
}

/// How a list ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Paging {
    /// When `links.next` is absent.
    Links,
    /// At the first short or empty page (`links.next` is not trusted to
    /// be there).
    UntilShort,
}

/// `url` with `page` one higher (1 when it had none).
fn next_page(url: &Url) -> Url {
    let page = url
        .query_pairs()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .unwrap_or(1);
    set_params(url.clone(), &[("page".to_string(), (page + 1).to_string())])
}

/// `next` with our `limit` and `filter[...]` back in place.
fn reapply(next: Url, sticky: &[(String, String)]) -> Url {
    set_params(next, sticky)
}

/// `url` with each of `params` set to its value (replacing any value the
/// URL had), every other parameter kept in order.
fn set_params(mut url: Url, params: &[(String, String)]) -> Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !params.iter().any(|(p, _)| p == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept.iter().chain(params.iter()));
    url
}

/// Parses the base URL and makes sure it can carry path segments.
pub(crate) fn parse_base(s: &str) -> Result<Url, String> {
    let u = Url::parse(s.trim()).map_err(|e| format!("bad base URL {s:?}: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.cannot_be_a_base() {
        return Err(format!("base URL must be http(s): {s:?}"));
    }
    Ok(u)
}

async fn collect<T>(
    pages: impl Stream<Item = Result<Vec<T>, SourceError>>,
) -> Result<Vec<T>, SourceError> {
    pages
        .try_fold(Vec::new(), |mut all, page| async move {
            all.extend(page);
            Ok(all)
        })
        .await
}

// ---- item conversions (pure, unit-tested) ---------------------------------

fn convert_person(r: Resource) -> Item<Person> {
    let Some(id) = r.id() else {
        return Item::Unreadable("person without id");
    };
    Item::Keep(Person {
        email: r.string("email"),
        first_name: r.string("first_name"),
        last_name: r.string("last_name"),
        created_at: r.date("created_at"),
        updated_at: r.date("updated_at"),
        last_active_at: r.date("last_active_at"),
        deactivated_at: r.date("deactivated_at"),
        id,
    })
}

fn convert_group(r: Resource) -> Item<Group> {
    let Some(id) = r.id() else {
        return Item::Unreadable("group without id");
    };
    Item::Keep(Group {
        name: r.string("name").unwrap_or_default(),
        description: r.string("description"),
        user_count: r.attributes.get("user_count").and_then(u64_from_value),
        updated_at: r.date("updated_at"),
        id,
    })
}

fn convert_membership(group_id: &str, r: Resource) -> Item<Membership> {
    // The contract names `relationships.person.data.id`; a flat
    // `person_id` attribute is accepted as a fallback.
    match r.related_id("person").or_else(|| r.string("person_id")) {
        Some(person_id) => Item::Keep(Membership {
            group_id: group_id.to_string(),
            person_id,
        }),
        None => Item::Unreadable("membership without person id"),
    }
}

fn convert_course(r: Resource) -> Item<Course> {
    let Some(id) = r.id() else {
        return Item::Unreadable("course without id");
    };
    Item::Keep(Course {
        // Older records carry `title` instead of `name`.
        name: r
            .string("name")
            .or_else(|| r.string("title"))
            .unwrap_or_default(),
        status: r.string("status"),
        permalink: r.string("permalink"),
        updated_at: r.date("updated_at"),
        id,
    })
}

fn convert_properties(r: Resource) -> Item<CourseProperties> {
    // The record id is the course id; `relationships.course` repeats it and
    // wins when both are present because it says what it means.
    let Some(course_id) = r.related_id("course").or_else(|| r.id()) else {
        return Item::Unreadable("course properties without course id");
    };
    let props = r.attributes.get("properties").and_then(Value::as_object);
    Item::Keep(CourseProperties {
        course_id,
        npcu: npcu_from_value(props.and_then(|p| p.get("npcu"))),
        category: props
            .and_then(|p| p.get("category"))
            .and_then(string_from_value)
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()),
    })
}

fn convert_transcript(person_id: &str, r: Resource) -> Item<TranscriptEntry> {
    // Absent type = course: the field was added later and old records are
    // all courses.
    if let Some(kind) = r.string("resource_type") {
        if !kind.eq_ignore_ascii_case("course") {
            return Item::Ignore;
        }
    }
    let Some(course_id) = r.string("resource_id") else {
        return Item::Unreadable("transcript without resource_id");
    };
    Item::Keep(TranscriptEntry {
        person_id: person_id.to_string(),
        course_id,
        course_name: r.string("name"),
        status: ProgressStatus::parse(&r.string("progress_status").unwrap_or_default()),
        enrolled_at: r.date("enrolled_at"),
        started_at: r.date("started_at"),
        completed_at: r.date("completed_at"),
        expires_at: r.date("expires_at"),
        score: r.attributes.get("score").and_then(f64_from_value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(v: Value) -> Resource {
        serde_json::from_value(v).unwrap()
    }

    fn keep<T>(i: Item<T>) -> T {
        match i {
            Item::Keep(t) => t,
            Item::Ignore => panic!("ignored"),
            Item::Unreadable(why) => panic!("unreadable: {why}"),
        }
    }

    #[test]
    fn person_tolerates_nulls_numbers_and_unknown_fields() {
        let p = keep(convert_person(res(json!({
            "id": 123, "type": "people",
            "attributes": {
                "email": "Jane.Doe@Partner.COM", "first_name": "Jane", "last_name": null,
                "created_at": "2024-01-02T03:04:05Z",
                "updated_at": "2026-05-06 07:08:09",
                "last_active_at": "", "deactivated_at": null,
                "brand_new_field": [1, 2, 3]
            },
            "links": {"self": "x"}
        }))));
        assert_eq!(p.id, "123");
        assert_eq!(p.email.as_deref(), Some("Jane.Doe@Partner.COM"));
        assert_eq!(p.last_name, None);
        assert_eq!(p.last_active_at, None);
        assert!(p.is_active());
        assert_eq!(
            p.updated_at.unwrap().to_rfc3339(),
            "2026-05-06T07:08:09+00:00"
        );
        assert!(matches!(
            convert_person(res(json!({"attributes": {}}))),
            Item::Unreadable(_)
        ));
    }

    #[test]
    fn course_name_or_title() {
        let c = keep(convert_course(res(json!({
            "id": "c1", "attributes": {"title": "Old Course", "status": "live"}
        }))));
        assert_eq!(c.name, "Old Course");
        let c = keep(convert_course(res(json!({
            "id": "c2", "attributes": {"name": "New", "title": "Old"}
        }))));
        assert_eq!(c.name, "New");
        let c = keep(convert_course(res(json!({"id": "c3"}))));
        assert_eq!(c.name, "");
    }

    #[test]
    fn properties_npcu_and_category() {
        let p = keep(convert_properties(res(json!({
            "id": "c1", "type": "course_properties",
            "attributes": {"properties": {"npcu": "2", "category": " RPA "}},
            "relationships": {"course": {"data": {"id": "c1", "type": "courses"}}}
        }))));
        assert_eq!((p.course_id.as_str(), p.npcu), ("c1", 2));
        assert_eq!(p.category.as_deref(), Some("RPA"));
        let p = keep(convert_properties(res(json!({
            "id": "c2", "attributes": {"properties": {"npcu": 7, "category": ""}}
        }))));
        assert_eq!((p.course_id.as_str(), p.npcu, p.category), ("c2", 0, None));
        let p = keep(convert_properties(res(
            json!({"id": "c3", "attributes": {}}),
        )));
        assert_eq!(p.npcu, 0);
    }

    #[test]
    fn membership_person_from_relationship() {
        let m = keep(convert_membership(
            "g1",
            res(json!({
                "id": "m1",
                "relationships": {
                    "person": {"data": {"id": "p9", "type": "people"}},
                    "group": {"data": {"id": "g1", "type": "groups"}}
                }
            })),
        ));
        assert_eq!(m.person_id, "p9");
        assert_eq!(m.group_id, "g1");
        assert!(matches!(
            convert_membership(
                "g1",
                res(json!({"id": "m2", "relationships": {"person": {"data": null}}}))
            ),
            Item::Unreadable(_)
        ));
    }

    #[test]
    fn transcripts_keep_courses_only() {
        let t = keep(convert_transcript(
            "p1",
            res(json!({
                "id": "t1",
                "attributes": {
                    "resource_id": "c1", "resource_type": "course", "name": "Course 1",
                    "progress_status": "completed",
                    "enrolled_at": "2025-01-01T00:00:00Z",
                    "completed_at": "2025-02-01T10:00:00+01:00",
                    "expires_at": null, "score": "87"
                }
            })),
        ));
        assert_eq!(t.status, ProgressStatus::Completed);
        assert_eq!(t.course_id, "c1");
        assert_eq!(t.score, Some(87.0));
        assert_eq!(t.expires_at, None);
        assert_eq!(
            t.completed_at.unwrap().to_rfc3339(),
            "2025-02-01T09:00:00+00:00"
        );
        assert!(matches!(
            convert_transcript(
                "p1",
                res(
                    json!({"id": "t2", "attributes": {"resource_id": "lp", "resource_type": "learning_path"}})
                )
            ),
            Item::Ignore
        ));
        assert!(matches!(
            convert_transcript(
                "p1",
                res(json!({"id": "t3", "attributes": {"resource_type": "course"}}))
            ),
            Item::Unreadable(_)
        ));
    }

    #[test]
    fn page_envelope_requires_data_and_tolerates_missing_links() {
        let p: Page =
            serde_json::from_value(json!({"data": [], "meta": {"total_count": 0}})).unwrap();
        assert!(p.links.is_none());
        assert!(serde_json::from_value::<Page>(json!({"links": {}})).is_err());
    }

    fn client(base: &str) -> NorthpassClient {
        NorthpassClient::new(NorthpassConfig::new(base, "k")).unwrap()
    }

    #[test]
    fn endpoints_keep_prefix_and_encode_ids() {
        let c = client("http://h:1/np/");
        assert_eq!(
            c.endpoint(&["v2", "transcripts", "a/b"]).as_str(),
            "http://h:1/np/v2/transcripts/a%2Fb"
        );
        let c = client("http://h:1");
        assert_eq!(
            c.endpoint(&["v2", "people"]).as_str(),
            "http://h:1/v2/people"
        );
    }

    #[test]
    fn next_links_are_kept_on_our_origin() {
        let c = client("http://127.0.0.1:9000");
        let cur = Url::parse("http://127.0.0.1:9000/v2/people?page=1&limit=100").unwrap();
        let n = c
            .resolve_next(&cur, "http://127.0.0.1:9000/v2/people?page=2&limit=100")
            .unwrap();
        assert_eq!(
            n.as_str(),
            "http://127.0.0.1:9000/v2/people?page=2&limit=100"
        );
        let n = c.resolve_next(&cur, "/v2/people?page=3").unwrap();
        assert_eq!(n.as_str(), "http://127.0.0.1:9000/v2/people?page=3");
        let n = c
            .resolve_next(&cur, "https://evil.example/v2/people?page=4")
            .unwrap();
        assert_eq!(n.as_str(), "http://127.0.0.1:9000/v2/people?page=4");
    }

    #[test]
    fn config_debug_hides_the_key_and_bad_config_is_rejected() {
        let cfg = NorthpassConfig::new("http://h", "super-secret-key");
        assert!(!format!("{cfg:?}").contains("super-secret-key"));
        let c = NorthpassClient::new(cfg.clone()).unwrap();
        assert!(!format!("{c:?}").contains("super-secret-key"));
        let bad = NorthpassConfig {
            rate_limit_per_sec: 0.0,
            ..cfg.clone()
        };
        assert!(matches!(
            NorthpassClient::new(bad),
            Err(SourceError::Config { .. })
        ));
        assert!(NorthpassClient::new(NorthpassConfig::new("not a url", "k")).is_err());
        assert!(NorthpassClient::new(NorthpassConfig::new("http://h", "bad\nkey")).is_err());
    }
}
