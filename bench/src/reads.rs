//! Measurement 4: DynamoDB requests and items read per report route, per
//! partner dashboard and per daily reminder run, through the real handlers
//! in-process, counted by the store's own counters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use portal_core::config::{Config, Secret};
use portal_core::mail::{Email, MailError, Mailer};
use portal_core::store::Store;
use serde::Serialize;

use crate::results::{f, Row, Section};
use crate::sync::{ops_of, Op};

/// Routes of the reports API measured here (every report of docs/source-contract.md).
pub const REPORTS: &[&str] = &[
    "overview",
    "leaderboard",
    "gaps",
    "owners",
    "user-certifications",
    "expiring",
    "partners-without-groups",
    "contacts-not-in-lms",
    "orphans",
    "tier-at-risk",
    "trends",
    "recent-certifications",
    "popular-courses",
    "inactive-users",
    "lms-users-not-in-crm",
    "group-audit",
];
/// All-partner reports: they read per-partner summaries
/// (docs/source-contract.md).
const ALL_PARTNER: &[&str] = &["overview", "leaderboard", "gaps", "owners"];
/// Row reports that page in DynamoDB by cursor (functions/reports/src/paged.rs):
/// a JSON page reads at most twice its `limit`, whatever the data size.
const CURSOR_PAGED: &[&str] = &["user-certifications", "expiring", "contacts-not-in-lms"];
/// Partners of the `ref` data set, and the scale the projection is for.
const REF_PARTNERS: f64 = 1_200.0;
const PROJECTED_SCALE: f64 = 10.0;
/// API Gateway's timeout and the reports function's memory.
const LIMIT_MS: f64 = 30_000.0;
const LIMIT_MB: f64 = 512.0;

const ADMIN_TOKEN: &str = "bench-admin-token";
const LINK_KEY: &str = "bench-link-key";

#[derive(Debug, Clone, Serialize)]
pub struct RouteReads {
    pub route: String,
    /// The request as measured (path and query), when it has a query.
    pub request: String,
    pub status: u16,
    pub ms: f64,
    pub requests: u64,
    pub items_read: u64,
    /// Read units on-demand DynamoDB would bill for the request.
    pub read_units: f64,
    pub ops: BTreeMap<String, Op>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reads {
    pub summaries: usize,
    pub routes: Vec<RouteReads>,
    /// The row report's paging compared: its first cursor page, the page
    /// its `next_cursor` leads to, and offset paging (`page=1`, the web
    /// pages' way: the whole set read and sorted).
    pub paging: Vec<RouteReads>,
    pub dashboards: Vec<RouteReads>,
    pub reminders_items_read: u64,
    pub reminders_due: u64,
    pub reminders_requests: u64,
    pub reminders_mails: u64,
    pub reminders_ms: f64,
    pub reminders_read_units: f64,
    pub reminders_write_units: f64,
    /// The instant the reminder and digest runs were given.
    pub reminders_at: DateTime<Utc>,
    pub digest_items_read: u64,
    pub digest_requests: u64,
    pub digest_mails: u64,
    pub digest_ms: f64,
    pub digest_read_units: f64,
    pub digest_write_units: f64,
}

/// Counts mails instead of sending them: the SES call is not what is
/// measured, and moto would need a verified identity first.
#[derive(Default)]
struct CountingMailer(std::sync::atomic::AtomicU64);

impl Mailer for CountingMailer {
    fn send<'a>(&'a self, _email: &'a Email) -> BoxFuture<'a, Result<String, MailError>> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Box::pin(async move { Ok(format!("bench-{n}")) })
    }
}

/// The reports handler's state as the bench calls it: admin token and
/// link key of the bench.
pub fn app_state(config: &Config, store: &Store) -> portal_reports::AppState {
    portal_reports::AppState::new(config, store.clone())
        .with_admin_token(ADMIN_TOKEN)
        .with_link_key(Secret::new(LINK_KEY.to_string()))
}

/// One GET through the real handler, in-process, with the store's counters
/// taken around it.
pub async fn get(
    state: &portal_reports::AppState,
    store: &Store,
    path: &str,
    auth: bool,
) -> anyhow::Result<RouteReads> {
    let mut b = lambda_http::http::Request::builder()
        .method("GET")
        .uri(format!("http://localhost{path}"))
        .header("host", "localhost");
    if auth {
        b = b.header("authorization", format!("Bearer {ADMIN_TOKEN}"));
    }
    let req = b.body(lambda_http::Body::Empty)?;
    let before = store.stats();
    let t = Instant::now();
    let resp = portal_reports::routes::handle(state, req)
        .await
        .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let d = store.stats().since(&before);
    let ops = ops_of(&d);
    Ok(RouteReads {
        route: path.split('?').next().unwrap_or(path).to_string(),
        request: path.to_string(),
        status: resp.status().as_u16(),
        ms,
        requests: d.total_requests(),
        items_read: d.total().items_read,
        read_units: d.total().read_units,
        ops,
    })
}

impl RouteReads {
    /// The route, or the request when it has a query (a cursor shortened).
    fn label(&self) -> String {
        if !self.request.contains('?') {
            return self.route.clone();
        }
        match self.request.split_once("cursor=") {
            Some((head, _)) => format!("{head}cursor=…"),
            None => self.request.clone(),
        }
    }
}

/// The `next_cursor` of the JSON answer to `path`.
async fn next_cursor(
    state: &portal_reports::AppState,
    path: &str,
) -> anyhow::Result<Option<String>> {
    let req = lambda_http::http::Request::builder()
        .method("GET")
        .uri(format!("http://localhost{path}"))
        .header("host", "localhost")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(lambda_http::Body::Empty)?;
    let resp = portal_reports::routes::handle(state, req)
        .await
        .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    let v: serde_json::Value = serde_json::from_slice(resp.body().as_ref())?;
    Ok(v["next_cursor"].as_str().map(str::to_string))
}

/// One DynamoDB request from Lambda in the region (a Query page of up to
/// 1 MB, a GetItem), taken as sequential: the projection's time unit. The
/// emulator's own latency is not DynamoDB's, so measured ms do not scale.
const REQUEST_MS: f64 = 30.0;
/// Memory per MB of items read: the items parsed plus the rows built from
/// them (an estimate, ≈ 3×).
const MEMORY_PER_MB: f64 = 3.0;

/// What a request of `x` would take at 10× `ref`.
struct Projection {
    items: f64,
    requests: f64,
    ms: f64,
    data_mb: f64,
    memory_mb: f64,
}

/// A cursor page reads the same at any size (bounded by its `limit`);
/// every other read grows with the data (partners, their rows, users and
/// contacts all scale together in the generator): its items and data by
/// the scale, its requests to at least one per MB read, and — when it
/// already sends one request per group or partner — by the scale too.
fn projected(x: &RouteReads, summaries: usize) -> Projection {
    let name = x.route.rsplit('/').next().unwrap_or("");
    let cursor_page = CURSOR_PAGED.contains(&name) && !x.request.contains("page=");
    let scale = if cursor_page {
        1.0
    } else {
        REF_PARTNERS * PROJECTED_SCALE / summaries.max(1) as f64
    };
    // A read unit (eventually consistent) is half of 4 KB: the data read.
    let data_mb = x.read_units * 8.0 / 1024.0 * scale;
    let per_entity = x.requests as f64 >= summaries as f64 / 2.0 && !cursor_page;
    let requests = if cursor_page {
        x.requests as f64
    } else if per_entity {
        x.requests as f64 * scale
    } else {
        (x.requests as f64).max(data_mb.ceil())
    };
    let ms = requests * REQUEST_MS;
    Projection {
        items: x.items_read as f64 * scale,
        requests,
        ms,
        data_mb,
        memory_mb: data_mb * MEMORY_PER_MB,
    }
}

/// Runs every report route, `dashboards` partner dashboards (JSON by admin
/// token and HTML by private link) and the daily reminder run.
pub async fn measure(
    config: &Config,
    store: &Store,
    now: DateTime<Utc>,
    dashboards: usize,
) -> anyhow::Result<Reads> {
    let summaries = store.all_summaries().await?;
    let state = app_state(config, store);
    let mut routes = Vec::new();
    for r in REPORTS {
        routes.push(get(&state, store, &format!("/api/reports/{r}"), true).await?);
    }
    let mut paging = Vec::new();
    let first = "/api/reports/user-certifications?limit=100";
    paging.push(get(&state, store, first, true).await?);
    if let Some(c) = next_cursor(&state, first).await? {
        paging.push(get(&state, store, &format!("{first}&cursor={c}"), true).await?);
    }
    paging.push(get(&state, store, &format!("{first}&page=1"), true).await?);
    let mut dash = Vec::new();
    for s in summaries.iter().take(dashboards) {
        let pid = &s.partner_id;
        dash.push(get(&state, store, &format!("/api/partners/{pid}"), true).await?);
        let link = portal_core::access::partner_link_token(LINK_KEY, pid, 1);
        store
            .put_token(
                &link,
                &portal_core::access::partner_link_record(pid, 1, now),
            )
            .await?;
        dash.push(get(&state, store, &format!("/p/{link}"), false).await?);
    }

    let mailer = Arc::new(CountingMailer::default());
    let deps = portal_reminders::Deps {
        store: store.clone(),
        mailer: mailer.clone(),
        settings: portal_reminders::Settings::from_config(config),
        links: None,
    };
    // A day on which something is due: the first certification whose
    // 30-day reminder date lies ahead, plus a minute. On a day with nothing
    // due "items read ÷ items due" is undefined.
    let remind_at = store
        .all_cert_rows()
        .await?
        .iter()
        .filter_map(|r| r.row.expires_at)
        .filter(|e| *e > now + chrono::Duration::days(31))
        .min()
        .map_or(now, |e| {
            e - chrono::Duration::days(30) + chrono::Duration::minutes(1)
        });
    let before = store.stats();
    let t = Instant::now();
    let s = portal_reminders::run(&deps, portal_reminders::Job::Reminders, remind_at).await?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let d = store.stats().since(&before);
    let sent_before = mailer.0.load(std::sync::atomic::Ordering::Relaxed);
    let before_digest = store.stats();
    let t = Instant::now();
    portal_reminders::run(&deps, portal_reminders::Job::PamDigest, remind_at).await?;
    let digest_ms = t.elapsed().as_secs_f64() * 1e3;
    let dd = store.stats().since(&before_digest);
    let sent_after = mailer.0.load(std::sync::atomic::Ordering::Relaxed);
    Ok(Reads {
        summaries: summaries.len(),
        routes,
        paging,
        dashboards: dash,
        // Only the reads of the due certifications count against "items
        // due"; the lock/claim bookkeeping is GetItem/PutItem.
        reminders_items_read: d.op("Query").items_read,
        reminders_due: s.due,
        reminders_requests: d.total_requests(),
        reminders_mails: sent_before,
        reminders_ms: ms,
        reminders_read_units: d.total().read_units,
        reminders_write_units: d.total().write_units,
        reminders_at: remind_at,
        digest_items_read: dd.total().items_read,
        digest_requests: dd.total_requests(),
        digest_mails: sent_after - sent_before,
        digest_ms,
        digest_read_units: dd.total().read_units,
        digest_write_units: dd.total().write_units,
    })
}

pub fn section(r: &Reads, data_label: &str) -> Section {
    let mut s = Section::new("4", "Reads per report route, dashboard and reminder run");
    let mut md = String::from("| route | HTTP | DynamoDB requests | items read | by operation | handler ms |\n|---|---:|---:|---:|---|---:|\n");
    for x in r
        .routes
        .iter()
        .chain(r.paging.iter())
        .chain(r.dashboards.iter())
    {
        let ops = x
            .ops
            .iter()
            .map(|(k, o)| format!("{k} {}×/{} items", o.requests, o.items_read))
            .collect::<Vec<_>>()
            .join(", ");
        md.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} |\n",
            x.label(),
            x.status,
            x.requests,
            x.items_read,
            ops,
            f(x.ms, 1)
        ));
    }
    s.markdown = md;
    s.rows.push(Row::new(
        "partner summaries in the table",
        r.summaries.to_string(),
    ));
    for x in &r.routes {
        let row = Row::new(
            format!("{} DynamoDB requests / items read", x.route),
            format!("{} / {}", x.requests, x.items_read),
        );
        let name = x.route.rsplit('/').next().unwrap_or("");
        s.rows.push(if ALL_PARTNER.contains(&name) {
            row.target(
                format!("items ≤ summaries ({})", r.summaries),
                x.status == 200 && x.items_read as usize <= r.summaries,
            )
        } else if x.status != 200 {
            row.note(format!("HTTP {}", x.status))
        } else {
            row
        });
    }
    // Items read per request and the projection at 10× ref, per route.
    for x in r.routes.iter().chain(r.paging.iter()) {
        let p = projected(x, r.summaries);
        let name = x.route.rsplit('/').next().unwrap_or("");
        let label = x.label();
        let mut row = Row::new(
            format!("{label}: items read / request → at 10× ref"),
            format!(
                "{} → {:.0} ({:.0} requests ≈ {:.1} s, {:.1} MB read ≈ {:.0} MB memory)",
                x.items_read,
                p.items,
                p.requests,
                p.ms / 1e3,
                p.data_mb,
                p.memory_mb
            ),
        );
        let fits = p.ms <= LIMIT_MS && p.memory_mb <= LIMIT_MB;
        let cursor_page = CURSOR_PAGED.contains(&name) && !x.request.contains("page=");
        // Every measured cursor request uses the default page size.
        let limit = u64::from(portal_core::reports::params::DEFAULT_LIMIT);
        row = if cursor_page && name == "contacts-not-in-lms" {
            // Contacts with an LMS user are skipped: always a bounded scan.
            let bound = portal_reports::paged::SCAN_ITEMS as u64;
            row.target(
                format!("≤ {bound} items (bounded scan); < 30 s, < 512 MB"),
                x.status == 200 && x.items_read <= bound && fits,
            )
        } else if cursor_page {
            row.target(
                format!("≤ 2× limit ({}) items; < 30 s, < 512 MB", 2 * limit),
                x.status == 200 && x.items_read <= 2 * limit && fits,
            )
        } else {
            row.target("< 30 s and < 512 MB at 10× ref", x.status == 200 && fits)
        };
        if x.request.contains("page=") {
            row = row.note("offset paging (the web pages): reads and sorts the whole set");
        } else if name == "orphans" {
            row = row
                .note("whole set: users, contacts and memberships, by the type index (admin only)");
        }
        s.rows.push(row);
    }
    for x in &r.dashboards {
        let queries = x.ops.get("Query").map_or(0, |o| o.requests);
        let gets = x.ops.get("GetItem").map_or(0, |o| o.requests);
        let other = x.requests - queries - gets;
        let label = if x.route.starts_with("/p/") {
            "/p/{link}"
        } else {
            "/api/partners/{id}"
        };
        s.rows.push(
            Row::new(
                format!("dashboard {label}: Query / GetItem / other"),
                format!("{queries} / {gets} / {other}"),
            )
            .target(
                "1 Query (+ ≤ 1 GetItem)",
                x.status == 200 && queries == 1 && gets <= 1 && other == 0,
            )
            .note(format!("HTTP {}, {} items", x.status, x.items_read)),
        );
    }
    let ratio = r.reminders_items_read as f64 / (r.reminders_due.max(1)) as f64;
    s.rows.push(
        Row::new(
            "reminders: items read ÷ items due",
            format!(
                "{} ({} / {})",
                f(ratio, 2),
                r.reminders_items_read,
                r.reminders_due
            ),
        )
        .target("≤ 1.1", r.reminders_due > 0 && ratio <= 1.1)
        .note(if r.reminders_due == 0 {
            "nothing due in the window: ratio undefined".to_string()
        } else {
            format!(
                "run as of {} (first day with a reminder due); {} mails, {} DynamoDB requests",
                r.reminders_at.format("%Y-%m-%d %H:%M"),
                r.reminders_mails,
                r.reminders_requests
            )
        }),
    );
    s.notes.push(format!(
        "Projection at 10× ref ({} partners): cursor pages read the same at any size; every other read scales with the data from this run's {} partners; time = requests × {REQUEST_MS} ms (sequential DynamoDB requests; the emulator's latency is not DynamoDB's), memory ≈ {MEMORY_PER_MB}× the data read.",
        REF_PARTNERS * PROJECTED_SCALE,
        r.summaries
    ));
    s.notes.push("tier-at-risk and trends are held to their bounds (summaries + what their window needs) in §7.".into());
    s.notes.push(format!("Data: {data_label}, after the full sync of measurement 2. Handlers called in-process (portal_reports::routes::handle, portal_reminders::run) against moto; 'items read' = items returned by DynamoDB to the handler."));
    s.raw = serde_json::to_value(r).unwrap_or_default();
    s
}
