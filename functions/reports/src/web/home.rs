//! `/` signed in: the overview KPIs, breakdowns by tier, region and owner,
//! the partners needing attention and the last run of every sync task.
//! Numbers come from the report routes (the caller's scope applies); the
//! trend chart is the `trends` report's last 12 months
//! ([`crate::trend_chart`]).

use std::collections::BTreeMap;

use lambda_http::Request;
use minijinja::context;
use portal_core::store::leases::RunRecord;
use serde::Serialize;
use serde_json::Value;

use super::layout::{self, Chrome};
use super::reports::{all_rows, rows_page};
use super::session::Session;
use crate::http::{ApiError, ApiResult};
use crate::runner::TASKS;
use crate::AppState;

#[derive(Serialize, Default)]
struct Group {
    key: String,
    partners: u64,
    meeting: u64,
    npcu: u64,
    certified_users: u64,
    expiring: u64,
}

/// Partner rows grouped by the cell `field` (blank → "—"), largest first.
fn breakdown(rows: &[Value], field: &str) -> Vec<Group> {
    let mut by: BTreeMap<String, Group> = BTreeMap::new();
    for r in rows {
        let key = r[field]
            .as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("—")
            .to_string();
        let g = by.entry(key.clone()).or_insert_with(|| Group {
            key,
            ..Default::default()
        });
        let n = |f: &str| r[f].as_u64().unwrap_or(0);
        g.partners += 1;
        g.meeting += u64::from(r["meets_requirement"].as_bool().unwrap_or(false));
        g.npcu += n("npcu");
        g.certified_users += n("certified_users");
        g.expiring += n("expiring");
    }
    let mut out: Vec<Group> = by.into_values().collect();
    out.sort_by(|a, b| b.partners.cmp(&a.partners).then_with(|| a.key.cmp(&b.key)));
    out
}

#[derive(Serialize)]
struct TaskLine {
    task: String,
    last: Option<RunRecord>,
}

pub async fn page(state: &AppState, req: &Request, s: &Session, chrome: &Chrome) -> ApiResult {
    let overview = rows_page(state, req, s, "overview", &[]).await?;
    let kpi = overview.rows.into_iter().next().unwrap_or(Value::Null);
    let partners = all_rows(state, req, s, "leaderboard", &[]).await?;
    let below = rows_page(state, req, s, "gaps", &[("sort", "-gap"), ("limit", "10")]).await?;
    let expiring = rows_page(
        state,
        req,
        s,
        "leaderboard",
        &[("sort", "-expiring"), ("limit", "10")],
    )
    .await?;
    let expiring: Vec<Value> = expiring
        .rows
        .into_iter()
        .filter(|r| r["expiring"].as_u64().unwrap_or(0) > 0)
        .collect();
    let trend = rows_page(
        state,
        req,
        s,
        "trends",
        &[("by", "month"), ("periods", "12")],
    )
    .await?;
    let trend = crate::trend_chart::trend_chart(&trend.rows);
    let mut tasks = Vec::with_capacity(TASKS.len());
    for t in TASKS {
        let last: Vec<RunRecord> = state
            .store
            .recent_runs(t, 1)
            .await
            .map_err(ApiError::from)?;
        tasks.push(TaskLine {
            task: t.to_string(),
            last: last.into_iter().next(),
        });
    }
    // The gaps report ends with the "tier not configured" partners; this
    // list is the ones below a configured requirement.
    let below_total = kpi["partners_below_tier"].as_u64().unwrap_or(below.total);
    let below_rows: Vec<Value> = below
        .rows
        .into_iter()
        .filter(|r| r["standing"] == "below")
        .collect();
    let html = layout::render(
        "home.html",
        Some(chrome),
        context! {
            kpi => kpi,
            trend => trend,
            by_tier => breakdown(&partners, "tier"),
            by_region => breakdown(&partners, "region"),
            by_owner => breakdown(&partners, "owner_name"),
            below => below_rows,
            below_total => below_total,
            expiring => expiring,
            tasks => tasks,
        },
    )?;
    layout::ok(html)
}
