//! Measurement 7 (issue 15): what the forecast and trend reports read, and
//! what the daily history snapshot stores.
//!
//! - `tier-at-risk` and `trends` through the real handler (as in
//!   `reads.rs`), their items read held to the summaries plus what their
//!   window needs (functions/reports/src/forecast.rs, trends.rs);
//! - the snapshot the full sync's `crm-push` run wrote
//!   (functions/sync/src/history.rs), read back item by item: each
//!   partner's month item holds its keys and one point per day, so a year
//!   is 12 items' keys plus 365 points per partner. The model is checked
//!   against a whole month of points written for a few partners through
//!   the same store call (`Store::append_history`) and removed after.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use portal_core::config::Config;
use portal_core::model::PartnerSummary;
use portal_core::rules::history::HistoryPoint;
use portal_core::store::capacity::{item_size, write_units};
use portal_core::store::{keys, Item, QuerySpec, SkCondition, Store};
use serde::Serialize;

use crate::reads::{app_state, get, RouteReads};
use crate::results::{f, Row, Section};

/// DynamoDB bills 100 bytes of overhead per stored item on top of its size
/// (developer guide, "Item sizes and formats").
const STORAGE_OVERHEAD: usize = 100;
/// On-demand storage, us-east-1, $/GB-month (as `cost.rs` prices it).
const STORAGE_PER_GB_MONTH: f64 = 0.25;
/// On-demand writes, $/million WRU (as `cost.rs` prices it).
const PER_MILLION_WRU: f64 = 1.25;
/// Partners whose month is written in full to check the model.
const SAMPLE: usize = 5;
/// The model must give a whole month's measured size within this share.
const MODEL_TOLERANCE: f64 = 0.05;

#[derive(Debug, Clone, Serialize)]
pub struct HistoryBench {
    pub summaries: usize,
    pub tier_at_risk: RouteReads,
    /// Rows expiring inside the default window (90 days) + organisation
    /// certifications: what `tier-at-risk` needs beyond the summaries.
    pub rows_ending_in_window: usize,
    pub org_certs: usize,
    pub trends: RouteReads,
    /// Every certification row: what `trends` reads beyond the summaries
    /// (completion dates are in no index).
    pub cert_rows: usize,
    /// Of those, the rows completed or expiring since `trends_from`: the
    /// ones the default report's numbers come from.
    pub rows_in_trend_window: usize,
    pub trends_from: DateTime<Utc>,
    /// `GET /api/partners/{id}/history` of the first sampled partner.
    pub history_route: Option<RouteReads>,
    pub snapshot: SnapshotStorage,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SnapshotStorage {
    /// The day the sync's snapshot covered (its marker).
    pub day: Option<NaiveDate>,
    /// Tracked partners, and those with a stored point for `day`.
    pub tracked: usize,
    pub partners: usize,
    /// Σ over partners of a month item's size without its points.
    pub month_keys_bytes: usize,
    /// Σ over partners of one point's size (one day of the program).
    pub point_bytes: usize,
    /// A year: 12 month items (size + storage overhead) and 365 points per partner.
    pub bytes_per_year: usize,
    pub items_per_year: usize,
    /// On-demand write units of one day's snapshot, averaged over a month
    /// (an append is billed on the item's size after it).
    pub write_units_per_day: f64,
    /// The check: `(partner, measured bytes of a 31-point month, model)`.
    pub sample: Vec<(String, usize, usize)>,
}

impl SnapshotStorage {
    pub fn dollars_per_month_after_a_year(&self) -> f64 {
        self.bytes_per_year as f64 / 1e9 * STORAGE_PER_GB_MONTH
    }
    pub fn write_dollars_per_month(&self) -> f64 {
        self.write_units_per_day * 365.25 / 12.0 / 1e6 * PER_MILLION_WRU
    }
    /// Largest relative error of the model on the sampled months.
    pub fn model_error(&self) -> Option<f64> {
        self.sample
            .iter()
            .map(|(_, measured, model)| {
                (*model as f64 - *measured as f64).abs() / (*measured).max(1) as f64
            })
            .reduce(f64::max)
    }
}

fn month_of(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// A month item's size without its points, and one point's average size.
fn split(item: &Item) -> Option<(usize, usize)> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let n = match item.get("points")? {
        AttributeValue::L(l) if !l.is_empty() => l.len(),
        _ => return None,
    };
    let mut empty = item.clone();
    empty.insert("points".into(), AttributeValue::L(Vec::new()));
    let keys = item_size(&empty);
    Some((keys, (item_size(item) - keys) / n))
}

async fn month_item(store: &Store, partner_id: &str, month: &str) -> anyhow::Result<Option<Item>> {
    Ok(store
        .query(
            &QuerySpec::partition(keys::history_pk(partner_id))
                .sk(SkCondition::Eq(keys::history_sk(month))),
        )
        .await?
        .into_iter()
        .next())
}

/// Reads back the stored snapshot of every tracked partner and writes a
/// whole month for [`SAMPLE`] of them (removed after).
async fn snapshot_storage(
    store: &Store,
    summaries: &[PartnerSummary],
    config: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<SnapshotStorage> {
    let day = store.history_marker().await?;
    let tracked: Vec<&PartnerSummary> = summaries.iter().filter(|s| s.tracked).collect();
    let mut out = SnapshotStorage {
        day,
        tracked: tracked.len(),
        ..Default::default()
    };
    let Some(day) = day else {
        return Ok(out);
    };
    let month = month_of(day);
    let splits: Vec<(usize, usize)> = futures::stream::iter(tracked.iter())
        .map(|s| {
            let month = month.clone();
            async move { month_item(store, &s.partner_id, &month).await }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?
        .iter()
        .flatten()
        .filter_map(split)
        .collect();
    out.partners = splits.len();
    out.month_keys_bytes = splits.iter().map(|(k, _)| k).sum();
    out.point_bytes = splits.iter().map(|(_, p)| p).sum();
    out.bytes_per_year = splits
        .iter()
        .map(|(k, p)| 12 * (k + STORAGE_OVERHEAD) + 365 * p)
        .sum();
    out.items_per_year = 12 * splits.len();
    out.write_units_per_day = splits
        .iter()
        .map(|(k, p)| (1..=31).map(|d| write_units(k + d * p)).sum::<f64>() / 31.0)
        .sum();

    // A month two months ahead, so no day the sync writes is touched; the
    // partners' current numbers as each day's point (same size).
    let first = (day.with_day(1).expect("day 1") + Duration::days(62))
        .with_day(1)
        .expect("day 1");
    let sample_month = month_of(first);
    for s in tracked.iter().take(SAMPLE) {
        let v = s.view(now, config.warning_days, &config.tiers);
        let mut d = first;
        while month_of(d) == sample_month {
            store
                .append_history(&s.partner_id, &HistoryPoint::from_view(d, &v))
                .await?;
            d += Duration::days(1);
        }
        let item = month_item(store, &s.partner_id, &sample_month).await?;
        let today = month_item(store, &s.partner_id, &month).await?;
        if let (Some(item), Some((k, p))) = (item, today.as_ref().and_then(split)) {
            let days = match item.get("points") {
                Some(aws_sdk_dynamodb::types::AttributeValue::L(l)) => l.len(),
                _ => 0,
            };
            out.sample
                .push((s.partner_id.clone(), item_size(&item), k + days * p));
        }
        store
            .delete(
                &keys::history_pk(&s.partner_id),
                &keys::history_sk(&sample_month),
            )
            .await?;
    }
    Ok(out)
}

/// Rows completed or expiring in `[from, now]`.
fn in_window(r: &portal_core::model::CertRow, from: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let inside = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t >= from && t <= now);
    inside(r.completed_at) || inside(r.expires_at)
}

pub async fn measure(
    config: &Config,
    store: &Store,
    now: DateTime<Utc>,
) -> anyhow::Result<HistoryBench> {
    use portal_core::reports::{forecast, trends};
    let summaries = store.all_summaries().await?;
    // The window counts read the store the way the handlers do, before
    // their own reads are counted.
    let end = forecast::window_end(now, forecast::DEFAULT_DAYS) + Duration::milliseconds(1);
    let rows_ending_in_window = store.expiring_certs(now, end).await?.len();
    let org_certs = store.all_org_certs().await?.len();
    let rows = store.all_cert_rows().await?;
    let trends_from = trends::reads_from(&trends::parse_trend(&[])?, now);
    let rows_in_trend_window = rows
        .iter()
        .filter(|r| in_window(&r.row, trends_from, now))
        .count();
    let state = app_state(config, store);
    let tier_at_risk = get(&state, store, "/api/reports/tier-at-risk", true).await?;
    let trends = get(&state, store, "/api/reports/trends", true).await?;
    let snapshot = snapshot_storage(store, &summaries, config, now).await?;
    let history_route = match snapshot.sample.first() {
        Some((pid, _, _)) => {
            Some(get(&state, store, &format!("/api/partners/{pid}/history"), true).await?)
        }
        None => None,
    };
    Ok(HistoryBench {
        summaries: summaries.len(),
        tier_at_risk,
        rows_ending_in_window,
        org_certs,
        trends,
        cert_rows: rows.len(),
        rows_in_trend_window,
        trends_from,
        history_route,
        snapshot,
    })
}

pub fn section(h: &HistoryBench, data_label: &str) -> Section {
    let mut s = Section::new("7", "History snapshot, tier-at-risk and trends (issue 15)");
    s.rows.push(Row::new(
        "partner summaries in the table",
        h.summaries.to_string(),
    ));
    let t = &h.tier_at_risk;
    let bound = h.summaries + h.rows_ending_in_window + h.org_certs;
    s.rows.push(
        Row::new(
            "tier-at-risk: DynamoDB requests / items read",
            format!("{} / {}", t.requests, t.items_read),
        )
        .target(
            format!(
                "items ≤ summaries + rows expiring in the 90-day window + org certifications = {} + {} + {} = {bound}",
                h.summaries, h.rows_ending_in_window, h.org_certs
            ),
            t.status == 200 && t.items_read as usize <= bound,
        )
        .note(format!("HTTP {}, handler {} ms", t.status, f(t.ms, 0))),
    );
    let t = &h.trends;
    let bound = h.summaries + h.cert_rows;
    s.rows.push(
        Row::new(
            "trends: DynamoDB requests / items read",
            format!("{} / {}", t.requests, t.items_read),
        )
        .target(
            format!(
                "items ≤ summaries + certification rows = {} + {} = {bound}",
                h.summaries, h.cert_rows
            ),
            t.status == 200 && t.items_read as usize <= bound,
        )
        .note(format!(
            "HTTP {}, handler {} ms; completion dates are in no index, so the rows are the smallest set holding them (functions/reports/src/trends.rs); {} of the {} rows ({}%) were completed or expire in the default window (12 months and the year before, from {})",
            t.status,
            f(t.ms, 0),
            h.rows_in_trend_window,
            h.cert_rows,
            f(100.0 * h.rows_in_trend_window as f64 / h.cert_rows.max(1) as f64, 0),
            h.trends_from.format("%Y-%m-%d")
        )),
    );
    if let Some(r) = &h.history_route {
        s.rows.push(
            Row::new(
                "partner history route: DynamoDB requests / items read",
                format!("{} / {}", r.requests, r.items_read),
            )
            .note(format!(
                "`{}`, HTTP {}: the dashboard's partition and the history months",
                r.route, r.status
            )),
        );
    }
    let sn = &h.snapshot;
    if sn.partners == 0 {
        s.rows.push(Row::not_run(
            "history snapshot storage per year",
            "bytes and $ (for scale)",
            format!(
                "no stored snapshot to measure (marker {:?}, {} tracked partners)",
                sn.day, sn.tracked
            ),
        ));
    } else {
        s.rows.push(
            Row::new(
                "history snapshot storage per year",
                format!(
                    "{} MB ({} bytes, {} items) = ${}/month of storage after a year",
                    f(sn.bytes_per_year as f64 / 1e6, 2),
                    sn.bytes_per_year,
                    sn.items_per_year,
                    f(sn.dollars_per_month_after_a_year(), 4)
                ),
            )
            .note(format!(
                "{} partners with a point for {}: one day = {} bytes of points; a year = 365 points + 12 month items ({} bytes of keys a month in all, plus DynamoDB's {STORAGE_OVERHEAD} bytes per item) per partner; ${STORAGE_PER_GB_MONTH}/GB-month, so each further year adds as much",
                sn.partners,
                sn.day.map(|d| d.to_string()).unwrap_or_default(),
                sn.point_bytes,
                sn.month_keys_bytes
            )),
        );
        s.rows.push(
            Row::new(
                "history snapshot writes per day",
                format!(
                    "{} WRU = ${}/month",
                    f(sn.write_units_per_day, 0),
                    f(sn.write_dollars_per_month(), 4)
                ),
            )
            .note("one UpdateItem per partner, billed on the month item's size after the append, averaged over a 31-day month; $1.25/M WRU"),
        );
        let err = sn.model_error();
        s.rows.push(
            Row::new(
                "storage model vs a measured 31-day month item",
                match err {
                    Some(e) => format!(
                        "{}% largest error ({} partners)",
                        f(100.0 * e, 1),
                        sn.sample.len()
                    ),
                    None => "—".into(),
                },
            )
            .target(
                format!("≤ {:.0} %", 100.0 * MODEL_TOLERANCE),
                err.is_some_and(|e| e <= MODEL_TOLERANCE),
            )
            .note(
                sn.sample
                    .iter()
                    .map(|(p, m, e)| format!("{p}: {m} measured / {e} model bytes"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        );
    }
    s.notes.push(format!("Data: {data_label}, after the full sync (its crm-push run wrote the day's snapshot). Reports called in-process (portal_reports::routes::handle) against moto; 'items read' = items returned by DynamoDB to the handler (store counters). The 31-day month is written through Store::append_history for the first {SAMPLE} tracked partners, two months ahead of the snapshot, and deleted after; each day's point there is the partner's current numbers, so the check covers the item accounting (keys, list overhead, points), not day-to-day variation of a point's size."));
    s.raw = serde_json::to_value(h).unwrap_or_default();
    s
}
