//! Impartner PRM client (OData-like, `Authorization: prm-key`).
//!
//! Lists page by `take`/`skip` (ordered by `Id`, so paging is stable)
//! until `skip >= count`; writes go back as `PATCH` arrays of at most 50
//! records, and the ModifyManyResult is judged per record so one rejected
//! account does not hide 49 accepted ones.
//!
//! Record keys are read case-insensitively: production serves camelCase
//! (`id`, `partner_Tier__cf`), the schema spells PascalCase (`Id`,
//! `Partner_Tier__cf`); both must work, so every key is brought to
//! PascalCase (first letter upper-cased) before the record is parsed.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::error::SourceError;
use super::northpass::parse_base;
use super::transport::{parse_json, ClientStats, Transport, TransportConfig};
use super::wire::{string_from_value, u64_from_value, Account, CrmUser, Region};
use crate::retry::RetryPolicy;

pub const SOURCE: &str = "impartner";

/// The API's maximum records per `PATCH`.
pub const PATCH_CHUNK: usize = 50;

/// Fields requested for `Account` (docs/source-contract.md): asking for exactly these
/// keeps pages small and makes a renamed field show up as `None` instead
/// of silently reading something else.
pub const ACCOUNT_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Partner_Tier__cf",
    "Account_Status__cf",
    "Account_Owner__cf",
    "Account_Owner_Email__cf",
    "Partner_Type__cf",
    "Website",
    "CrmId",
    "MailingCountry",
    "RegionId",
    "ParentAccountId",
    "PrimaryUserId",
    "Updated",
];

/// Fields requested for `Region` (names of `Account.RegionId`).
pub const REGION_FIELDS: &[&str] = &["Id", "Name"];

/// The configuration that holds the credentials, named in auth errors.
const KEY_HINT: &str =
    "IMPARTNER_API_KEY and IMPARTNER_TENANT_ID (Authorization: prm-key, X-PRM-TenantId)";

/// Fields requested for `User`.
pub const USER_FIELDS: &[&str] = &[
    "Id",
    "Email",
    "FirstName",
    "LastName",
    "Title",
    "Phone",
    "AccountId",
    "AccountName",
    "IsActive",
    "Contact_Status__cf",
    "Updated",
];

#[derive(Clone)]
pub struct ImpartnerConfig {
    pub base_url: String,
    pub api_key: String,
    pub tenant_id: String,
    /// Sustained requests/second of the whole client (default 10; the
    /// contract names no limit, so we stay as polite as with Northpass).
    pub rate_limit: f64,
    /// Requests back to back after idling (default 1).
    pub burst: u32,
    /// Requests in flight at once (default 4).
    pub max_concurrency: usize,
    /// Deadline of one attempt (default 60 s: 500-record pages are big).
    pub timeout: Duration,
    pub max_retries: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    /// Records per page, at most 500 (default 500).
    pub take: u32,
}

impl ImpartnerConfig {
    pub fn new(
        base_url: impl Into<String>,
        api_key: impl Into<String>,
        tenant_id: impl Into<String>,
    ) -> Self {
        let retry = RetryPolicy::SOURCES;
        ImpartnerConfig {
            base_url: base_url.into(),
            api_key: api_key.into(),
            tenant_id: tenant_id.into(),
            rate_limit: 10.0,
            burst: 1,
            max_concurrency: 4,
            timeout: Duration::from_secs(60),
            max_retries: retry.max_retries,
            retry_base_delay: retry.base_delay,
            retry_max_delay: retry.max_delay,
            take: 500,
        }
    }
}

/// Hand-written so the key never reaches a log through `{:?}`.
impl fmt::Debug for ImpartnerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImpartnerConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("tenant_id", &self.tenant_id)
            .field("rate_limit", &self.rate_limit)
            .field("burst", &self.burst)
            .field("max_concurrency", &self.max_concurrency)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("take", &self.take)
            .finish()
    }
}

/// Result of [`ImpartnerClient::patch_accounts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PatchOutcome {
    /// Ids the API accepted.
    pub succeeded: Vec<String>,
    /// `(id, message)` of every record the API rejected (or never
    /// answered for, or that had no `Id` to send).
    pub failed: Vec<(String, String)>,
}

/// Cheap to clone; clones share limiter, counters and connection pool.
#[derive(Clone)]
pub struct ImpartnerClient {
    transport: Arc<Transport>,
    base: Url,
    take: u32,
}

impl fmt::Debug for ImpartnerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImpartnerClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Envelope<D> {
    #[serde(default, alias = "Success")]
    success: Option<bool>,
    #[serde(default, alias = "Message")]
    message: Option<Value>,
    #[serde(default, alias = "Errors")]
    errors: Option<Value>,
    #[serde(alias = "Data")]
    data: Option<D>,
}

#[derive(Deserialize)]
struct ListData {
    #[serde(default, alias = "Count")]
    count: Option<Value>,
    #[serde(default, alias = "Results")]
    results: Vec<Value>,
}

/// The ModifyManyResult of a `PATCH`: `results` at the top level, one per
/// record in request order. An older shape nested them under
/// `data.results`; both are read.
#[derive(Deserialize)]
struct ModifyManyResult {
    #[serde(default, alias = "Success")]
    success: Option<bool>,
    #[serde(default, alias = "Message")]
    message: Option<Value>,
    #[serde(default, alias = "Errors")]
    errors: Option<Value>,
    #[serde(default, alias = "Results")]
    results: Option<Vec<PatchResult>>,
    #[serde(default, alias = "Data")]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct PatchResult {
    #[serde(default, alias = "Id")]
    id: Option<Value>,
    #[serde(default, alias = "Success")]
    success: Option<bool>,
    #[serde(default, alias = "Message")]
    message: Option<Value>,
    #[serde(default, alias = "Errors")]
    errors: Option<Value>,
    /// The record as saved; carries its `id`.
    #[serde(default, alias = "Data")]
    data: Option<Value>,
}

impl PatchResult {
    fn id(&self) -> Option<String> {
        self.id.as_ref().and_then(string_from_value).or_else(|| {
            let m = self.data.as_ref()?.as_object()?;
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("id"))
                .and_then(|(_, v)| string_from_value(v))
        })
    }
}

impl<D> Envelope<D> {
    /// `success: false` → `Api` with the service's message; a missing
    /// `success` is read as true when `data` is there (tolerance).
    fn into_data(self, url: &Url) -> Result<D, SourceError> {
        if self.success == Some(false) {
            return Err(SourceError::Api {
                source_name: SOURCE,
                message: full_message(self.message.as_ref(), self.errors.as_ref()),
            });
        }
        if let Some(errors) = errors_text(self.errors.as_ref()) {
            tracing::warn!(source = SOURCE, url = url.path(), %errors,
                "successful answer carries errors");
        }
        self.data.ok_or_else(|| SourceError::Malformed {
            source_name: SOURCE,
            url: url.to_string(),
            detail: "envelope without data".into(),
        })
    }
}

/// `errors: [{"code", "message"}]` as `"code: message; ..."`, `None` when
/// there are none.
fn errors_text(v: Option<&Value>) -> Option<String> {
    let list = v?.as_array()?;
    let parts: Vec<String> = list
        .iter()
        .filter_map(|e| match e {
            Value::Object(m) => {
                let get = |k: &str| {
                    m.iter()
                        .find(|(key, _)| key.eq_ignore_ascii_case(k))
                        .and_then(|(_, v)| string_from_value(v))
                };
                match (get("code"), get("message")) {
                    (Some(c), Some(m)) => Some(format!("{c}: {m}")),
                    (None, Some(m)) => Some(m),
                    (Some(c), None) => Some(c),
                    (None, None) => None,
                }
            }
            other => string_from_value(other),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The service's message and its `errors[]`, for a failure report.
fn full_message(message: Option<&Value>, errors: Option<&Value>) -> String {
    match (message.and_then(string_from_value), errors_text(errors)) {
        (Some(m), Some(e)) if !m.contains(&e) => format!("{m} ({e})"),
        (Some(m), _) => m,
        (None, Some(e)) => e,
        (None, None) => "no message".to_string(),
    }
}

/// Brings every key of a record to PascalCase (first letter upper-cased):
/// `partner_Tier__cf` → `Partner_Tier__cf`, `crmId` → `CrmId`. A record
/// carrying both spellings keeps the first one seen.
pub fn pascal_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::with_capacity(m.len());
            for (k, v) in m {
                let mut chars = k.chars();
                let key = match chars.next() {
                    Some(c) => c.to_uppercase().chain(chars).collect(),
                    None => k,
                };
                out.entry(key).or_insert(v);
            }
            Value::Object(out)
        }
        other => other,
    }
}

impl ImpartnerClient {
    pub fn new(cfg: ImpartnerConfig) -> Result<Self, SourceError> {
        let config_err = |detail: String| SourceError::Config {
            source_name: SOURCE,
            detail,
        };
        let base = parse_base(&cfg.base_url).map_err(config_err)?;
        let mut key = HeaderValue::from_str(&format!("prm-key {}", cfg.api_key))
            .map_err(|_| config_err("API key is not a valid header value".into()))?;
        key.set_sensitive(true);
        let tenant = HeaderValue::from_str(&cfg.tenant_id)
            .map_err(|_| config_err("tenant id is not a valid header value".into()))?;
        let mut auth = HeaderMap::new();
        auth.insert(AUTHORIZATION, key);
        auth.insert("x-prm-tenantid", tenant);
        let transport = Transport::new(TransportConfig {
            source: SOURCE,
            auth,
            rate_per_sec: cfg.rate_limit,
            burst: cfg.burst,
            max_concurrency: cfg.max_concurrency,
            timeout: cfg.timeout,
            retry: RetryPolicy {
                max_retries: cfg.max_retries,
                base_delay: cfg.retry_base_delay,
                max_delay: cfg.retry_max_delay,
                ..RetryPolicy::SOURCES
            },
            key_hint: KEY_HINT,
        })?;
        Ok(ImpartnerClient {
            transport,
            base,
            take: cfg.take.clamp(1, 500),
        })
    }

    pub fn stats(&self) -> ClientStats {
        self.transport.stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.transport.stats.reset()
    }

    /// All accounts, or those updated after `since`.
    pub async fn accounts(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Account>, SourceError> {
        collect(self.accounts_pages(since)).await
    }

    pub fn accounts_pages(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> impl Stream<Item = Result<Vec<Account>, SourceError>> + Send + 'static {
        self.list("Account", ACCOUNT_FIELDS, since)
    }

    /// All partner contacts, or those updated after `since`.
    pub async fn users(&self, since: Option<DateTime<Utc>>) -> Result<Vec<CrmUser>, SourceError> {
        collect(self.users_pages(since)).await
    }

    pub fn users_pages(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> impl Stream<Item = Result<Vec<CrmUser>, SourceError>> + Send + 'static {
        self.list("User", USER_FIELDS, since)
    }

    /// Every `Region` as `id → name`: `Account.RegionId` points here.
    /// Callers read it once per run and resolve names from it.
    pub async fn regions(&self) -> Result<std::collections::HashMap<String, String>, SourceError> {
        let list: Vec<Region> = collect(self.list("Region", REGION_FIELDS, None)).await?;
        Ok(list
            .into_iter()
            .filter_map(|r| Some((r.id, r.name?.trim().to_string())))
            .filter(|(_, n)| !n.is_empty())
            .collect())
    }

    /// Writes fields back onto accounts, 50 records per call. Each record
    /// is a JSON object with `Id` plus the fields to set.
    ///
    /// Per-record rejections land in `failed` with the CRM's message. The
    /// top-level `success` is false as soon as one record failed, so it is
    /// only believed for the whole chunk when no per-record `results` came
    /// back; then the chunk's records fail with the service's message and
    /// the push carries on with the next chunk. Transport failures that survive the
    /// retries, and auth errors, end the push with `Err` (PATCH sets
    /// absolute values, so the next run redoes it safely).
    pub async fn patch_accounts(&self, records: &[Value]) -> Result<PatchOutcome, SourceError> {
        let mut outcome = PatchOutcome::default();
        let url = self.object_url("Account");
        for chunk in records.chunks(PATCH_CHUNK) {
            let mut ids = Vec::with_capacity(chunk.len());
            let mut body = Vec::with_capacity(chunk.len());
            for rec in chunk {
                match rec.get("Id").and_then(string_from_value) {
                    Some(id) => {
                        ids.push(id);
                        body.push(rec.clone());
                    }
                    None => outcome
                        .failed
                        .push((String::new(), "record has no Id".to_string())),
                }
            }
            if body.is_empty() {
                continue;
            }
            let body = Value::Array(body);
            let answer = self
                .transport
                .request(Method::PATCH, &url, Some(&body), &[], |reply| {
                    parse_json::<ModifyManyResult>(SOURCE, &url, &reply.body)
                })
                .await;
            let answer = match answer.map_err(map_api_error) {
                Ok(a) => a,
                Err(SourceError::Api { message, .. }) => {
                    tracing::warn!(source = SOURCE, records = ids.len(), %message,
                        "PATCH chunk rejected");
                    outcome
                        .failed
                        .extend(ids.into_iter().map(|id| (id, message.clone())));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let nested = answer
                .data
                .as_ref()
                .and_then(|d| d.as_object())
                .and_then(|d| d.iter().find(|(k, _)| k.eq_ignore_ascii_case("results")))
                .and_then(|(_, v)| serde_json::from_value::<Vec<PatchResult>>(v.clone()).ok());
            match answer.results.or(nested) {
                Some(results) => judge_chunk(&ids, results, &mut outcome),
                None if answer.success == Some(false) => {
                    let message = full_message(answer.message.as_ref(), answer.errors.as_ref());
                    tracing::warn!(source = SOURCE, records = ids.len(), %message,
                        "PATCH chunk rejected");
                    outcome
                        .failed
                        .extend(ids.into_iter().map(|id| (id, message.clone())));
                }
                None => {
                    return Err(SourceError::Malformed {
                        source_name: SOURCE,
                        url: url.to_string(),
                        detail: "PATCH answer without results".into(),
                    })
                }
            }
        }
        Ok(outcome)
    }

    fn object_url(&self, object: &str) -> Url {
        let mut u = self.base.clone();
        {
            let mut path = u
                .path_segments_mut()
                .expect("base URL was checked to be http(s)");
            path.pop_if_empty();
            path.extend(["api", "objects", "v1", object]);
        }
        u
    }

    fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        object: &'static str,
        fields: &'static [&'static str],
        since: Option<DateTime<Utc>>,
    ) -> BoxStream<'static, Result<Vec<T>, SourceError>> {
        let client = self.clone();
        let filter = since.map(updated_filter);
        // State: next `skip`, or None once the last page was read.
        stream::try_unfold(Some(0u64), move |skip| {
            let client = client.clone();
            let filter = filter.clone();
            async move {
                let Some(skip) = skip else {
                    return Ok(None);
                };
                let mut url = client.object_url(object);
                {
                    let mut q = url.query_pairs_mut();
                    q.append_pair("fields", &fields.join(","));
                    // Without an order, skip/take pages may overlap or miss
                    // records when the service's natural order shifts.
                    q.append_pair("orderby", "Id");
                    q.append_pair("take", &client.take.to_string());
                    q.append_pair("skip", &skip.to_string());
                    if let Some(f) = &filter {
                        q.append_pair("filter", f);
                    }
                }
                let env: Envelope<ListData> = client
                    .transport
                    .request(Method::GET, &url, None, &[], |reply| {
                        parse_json(SOURCE, &url, &reply.body)
                    })
                    .await
                    .map_err(map_api_error)?;
                let data = env.into_data(&url)?;
                let count = data.count.as_ref().and_then(u64_from_value);
                let got = data.results.len() as u64;
                let items = client.parse_records::<T>(object, data.results)?;
                // Advance by what actually came (a server may cap `take`
                // lower than asked). Stop at `count`, or on an empty page
                // so a wrong `count` cannot make us loop forever.
                let next_skip = skip + got;
                let done = got == 0
                    || match count {
                        Some(c) => next_skip >= c,
                        // No count: a short page is the last one.
                        None => got < u64::from(client.take),
                    };
                Ok(Some((items, (!done).then_some(next_skip))))
            }
        })
        .boxed()
    }

    /// Reads records one by one so an unreadable one (no `Id`) is skipped
    /// and counted instead of failing the page. A page on which *every*
    /// record is unreadable is an error: the service speaks a shape we do
    /// not know, and reading it as "no records" would untrack everyone.
    fn parse_records<T: DeserializeOwned>(
        &self,
        object: &'static str,
        raw: Vec<Value>,
    ) -> Result<Vec<T>, SourceError> {
        let total = raw.len();
        let mut out = Vec::with_capacity(total);
        let mut skipped = 0;
        let mut first_error = None;
        for r in raw {
            match serde_json::from_value::<T>(pascal_keys(r)) {
                Ok(t) => out.push(t),
                Err(e) => {
                    skipped += 1;
                    tracing::warn!(source = SOURCE, object, error = %e, "skipping record");
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        if skipped > 0 {
            self.transport.stats.add_skipped(skipped);
        }
        if total > 0 && out.is_empty() {
            return Err(SourceError::Unreadable {
                source_name: SOURCE,
                object,
                count: total,
                detail: first_error.unwrap_or_default(),
            });
        }
        Ok(out)
    }
}

/// `(Updated > 'YYYY-MM-DDTHH:MM:SS')` in UTC, one second before `since`:
/// the filter is strict and has whole seconds only, so a record updated in
/// the same second as the watermark would otherwise be missed. Fetching it
/// twice is harmless (an unchanged record writes nothing).
pub fn updated_filter(since: DateTime<Utc>) -> String {
    let t = since - chrono::Duration::seconds(1);
    format!("(Updated > '{}')", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// A 4xx whose body is the service's `success: false` envelope is an API
/// answer with a message, not an anonymous client error.
fn map_api_error(e: SourceError) -> SourceError {
    if let SourceError::Client { body, .. } = &e {
        if let Ok(env) = serde_json::from_str::<Envelope<Value>>(body) {
            if env.success == Some(false) {
                return SourceError::Api {
                    source_name: SOURCE,
                    message: full_message(env.message.as_ref(), env.errors.as_ref()),
                };
            }
        }
    }
    e
}

/// Matches per-record results to the ids sent: by id when the result
/// names one, else by position (the API answers in request order).
fn judge_chunk(ids: &[String], results: Vec<PatchResult>, outcome: &mut PatchOutcome) {
    let mut answered = vec![false; ids.len()];
    for (i, r) in results.into_iter().enumerate() {
        let pos = match r.id() {
            Some(id) => ids.iter().position(|x| *x == id),
            None => (i < ids.len()).then_some(i),
        };
        let Some(pos) = pos else {
            continue; // an answer for something we did not send
        };
        if answered[pos] {
            continue;
        }
        answered[pos] = true;
        let id = ids[pos].clone();
        if r.success.unwrap_or(false) {
            outcome.succeeded.push(id);
        } else {
            outcome
                .failed
                .push((id, full_message(r.message.as_ref(), r.errors.as_ref())));
        }
    }
    for (id, seen) in ids.iter().zip(answered) {
        if !seen {
            outcome
                .failed
                .push((id.clone(), "no result returned for this record".into()));
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn updated_filter_format() {
        let since = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.700+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(updated_filter(since), "(Updated > '2025-12-31T22:59:59')");
    }

    #[test]
    fn envelope_success_false_is_an_api_error() {
        let url = Url::parse("http://x/api").unwrap();
        let env: Envelope<ListData> =
            serde_json::from_value(json!({"success": false, "message": "Invalid filter"})).unwrap();
        match env.into_data(&url) {
            Err(SourceError::Api {
                message,
                source_name,
            }) => {
                assert_eq!(message, "Invalid filter");
                assert_eq!(source_name, "impartner");
            }
            _ => panic!("expected Api error"),
        }
        let env: Envelope<ListData> = serde_json::from_value(json!({"success": true})).unwrap();
        assert!(matches!(
            env.into_data(&url),
            Err(SourceError::Malformed { .. })
        ));
        let env: Envelope<ListData> =
            serde_json::from_value(json!({"data": {"count": "3", "results": []}, "extra": 1}))
                .unwrap();
        assert!(env.into_data(&url).is_ok());
    }

    #[test]
    fn client_error_with_envelope_becomes_api() {
        let e = map_api_error(SourceError::Client {
            source_name: SOURCE,
            status: 400,
            url: "u".into(),
            body: r#"{"success":false,"message":"Unknown field Foo"}"#.into(),
        });
        assert!(
            matches!(e, SourceError::Api { ref message, .. } if message == "Unknown field Foo")
        );
        let e = map_api_error(SourceError::Client {
            source_name: SOURCE,
            status: 404,
            url: "u".into(),
            body: "not found".into(),
        });
        assert!(matches!(e, SourceError::Client { status: 404, .. }));
    }

    #[test]
    fn patch_results_are_judged_per_record() {
        let ids: Vec<String> = ["1", "2", "3", "4"].iter().map(|s| s.to_string()).collect();
        let results: Vec<PatchResult> = serde_json::from_value(json!([
            {"id": 2, "success": false, "message": "Field is read-only"},
            {"id": "1", "success": true},
            {"id": "99", "success": true},
            {"success": false}
        ]))
        .unwrap();
        let mut out = PatchOutcome::default();
        judge_chunk(&ids, results, &mut out);
        assert_eq!(out.succeeded, vec!["1".to_string()]);
        // Position fallback: the 4th answer (no id) is for the 4th record.
        assert_eq!(
            out.failed,
            vec![
                ("2".to_string(), "Field is read-only".to_string()),
                ("4".to_string(), "no message".to_string()),
                (
                    "3".to_string(),
                    "no result returned for this record".to_string()
                ),
            ]
        );
    }

    #[test]
    fn keys_of_either_case_read_the_same() {
        let camel = pascal_keys(
            json!({"id": 7, "partner_Tier__cf": "Select", "crmId": "001x",
            "regionId": 2, "region": {"id": 2, "name": "EMEA"}}),
        );
        let a: Account = serde_json::from_value(camel).unwrap();
        assert_eq!(a.id, "7");
        assert_eq!(a.partner_tier.as_deref(), Some("Select"));
        assert_eq!(a.crm_id.as_deref(), Some("001x"));
        assert_eq!(a.region_id.as_deref(), Some("2"));
        assert_eq!(a.region.as_deref(), Some("EMEA"));
        let u: CrmUser = serde_json::from_value(pascal_keys(
            json!({"id": 1, "account": {"id": 9}, "contact_Status__cf": "Terminated"}),
        ))
        .unwrap();
        assert_eq!(u.account_id.as_deref(), Some("9"));
        assert_eq!(u.contact_status.as_deref(), Some("Terminated"));
    }

    #[test]
    fn a_page_of_only_unreadable_records_is_an_error() {
        let c = ImpartnerClient::new(ImpartnerConfig::new("http://h:1", "k", "t")).unwrap();
        let err = c
            .parse_records::<Account>("Account", vec![json!({"Name": "x"}), json!({"ID_": 1})])
            .unwrap_err();
        assert!(
            matches!(err, SourceError::Unreadable { count: 2, .. }),
            "{err:?}"
        );
        let ok = c
            .parse_records::<Account>("Account", vec![json!({"Name": "x"}), json!({"id": 1})])
            .unwrap();
        assert_eq!(ok.len(), 1);
        assert!(c
            .parse_records::<Account>("Account", vec![])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn modify_many_result_shapes() {
        let top: ModifyManyResult = serde_json::from_value(json!({
            "success": false, "message": "1 of 2 records failed", "errors": [],
            "results": [
                {"success": true, "errors": [], "data": {"id": 1}},
                {"success": false, "errors": [{"code": "400", "message": "Invalid field 'X'"}],
                 "data": {"Id": 2}}
            ]
        }))
        .unwrap();
        let mut out = PatchOutcome::default();
        judge_chunk(&["1".into(), "2".into()], top.results.unwrap(), &mut out);
        assert_eq!(out.succeeded, vec!["1".to_string()]);
        assert_eq!(
            out.failed,
            vec![("2".to_string(), "400: Invalid field 'X'".to_string())]
        );
        assert_eq!(
            full_message(
                Some(&json!("Bad")),
                Some(&json!([{"code": "E1", "message": "no such field Foo"}]))
            ),
            "Bad (E1: no such field Foo)"
        );
    }

    #[test]
    fn object_url_and_debug() {
        let cfg = ImpartnerConfig::new("http://h:1/prm", "secret-prm-key", "t1");
        assert!(!format!("{cfg:?}").contains("secret-prm-key"));
        let c = ImpartnerClient::new(cfg).unwrap();
        assert_eq!(
            c.object_url("Account").as_str(),
            "http://h:1/prm/api/objects/v1/Account"
        );
        assert!(!format!("{c:?}").contains("secret-prm-key"));
    }
}
