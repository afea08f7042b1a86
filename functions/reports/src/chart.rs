//! The dashboard's NPCU chart, drawn on the server as SVG: the last
//! [`CHART_MONTHS_BACK`] months, the forecast for the next
//! [`CHART_MONTHS_AHEAD`], the tier requirement as a line and the drop
//! date marked. This module computes the geometry; the markup is the
//! template `templates/forecast_chart.html` (auto-escaped, like every
//! page), which also carries the text alternative: a `<title>`/`<desc>`,
//! a sentence, a month-by-month table and the renewals list.
//!
//! Why hand-written SVG: a few paths and lines, no chart library to ship
//! or load at run time, and nothing inline for the CSP to allow — colours
//! and dashes are SVG presentation attributes, not `style`.
//!
//! The past is the sync's stored daily history (`store::history`) where it
//! exists, and before it is reconstructed from the completion and expiry
//! dates of the partner's current certification rows: a certification
//! that was renewed shows only its latest period, so the reconstructed
//! past can be lower than it was.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use portal_core::reports::dashboard::DashboardView;
use portal_core::reports::forecast::{
    dashboard_holdings, days_in_months, partner_forecast, PartnerForecast, CHART_MONTHS_AHEAD,
    CHART_MONTHS_BACK,
};
use portal_core::rules::forecast::{self as rules, Holding, Step};
use portal_core::rules::history::HistoryPoint;
use serde::Serialize;

/// The SVG's coordinate system (`viewBox`); it scales to its box.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub at: f64,
    pub label: String,
}

/// One line of the text alternative.
#[derive(Debug, Clone, Serialize)]
pub struct ChartRow {
    pub date: String,
    pub npcu: u32,
    /// "stored", "reconstructed", "today" or "forecast".
    pub kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    /// Plot area.
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
    pub from: String,
    pub to: String,
    /// Step paths (`d` attributes).
    pub past_path: String,
    pub forecast_path: String,
    pub today_x: f64,
    /// `None` when the partner's tier has no configured requirement.
    pub required_npcu: Option<u32>,
    /// `None` when the tier requires nothing (or is not configured).
    pub required_y: Option<f64>,
    pub drop_x: Option<f64>,
    pub drop_on: Option<String>,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    /// The `<desc>` and the visible summary sentence.
    pub description: String,
    pub rows: Vec<ChartRow>,
    pub reconstructed: bool,
    /// Days of the past drawn from stored history points.
    pub stored_days: usize,
    pub forecast: PartnerForecast,
}

fn months_back(d: NaiveDate, n: u32) -> NaiveDate {
    d.checked_sub_months(Months::new(n)).unwrap_or(d)
}

/// The "nice" top of the y axis: the next multiple of 5 above the data.
fn y_top(max: u32) -> u32 {
    (max / 5 + 1) * 5
}

struct Scale {
    from: NaiveDate,
    days: f64,
    top: f64,
}

impl Scale {
    fn x(&self, d: NaiveDate) -> f64 {
        let k = (d - self.from).num_days() as f64 / self.days.max(1.0);
        LEFT + k.clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }
    fn y(&self, v: u32) -> f64 {
        let k = f64::from(v) / self.top.max(1.0);
        HEIGHT - BOTTOM - k.clamp(0.0, 1.0) * (HEIGHT - TOP - BOTTOM)
    }
}

fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A step path through `steps` (each value holds until the next point),
/// drawn to `end`.
fn step_path(s: &Scale, steps: &[Step], end: NaiveDate) -> String {
    let mut out = String::new();
    for (i, st) in steps.iter().enumerate() {
        let (x, y) = (r1(s.x(st.date)), r1(s.y(st.npcu)));
        if i == 0 {
            out.push_str(&format!("M{x} {y}"));
        } else {
            out.push_str(&format!(" H{x} V{y}"));
        }
    }
    if !steps.is_empty() {
        out.push_str(&format!(" H{}", r1(s.x(end))));
    }
    out
}

/// Value of a step series on `d`.
fn value_on(steps: &[Step], d: NaiveDate) -> u32 {
    steps
        .iter()
        .rev()
        .find(|s| s.date <= d)
        .or(steps.first())
        .map_or(0, |s| s.npcu)
}

/// The chart of the partner of `view` at `now`; `None` when there is
/// nothing to draw (no certification ever and nothing required).
pub fn dashboard_chart(view: &DashboardView, now: DateTime<Utc>) -> Option<Chart> {
    dashboard_chart_with_history(view, now, &[])
}

/// The past as steps: a stored point's NPCU on its day, the value
/// reconstructed from `holdings` on a day without one.
fn past_steps(
    holdings: &[Holding],
    stored: &[HistoryPoint],
    from: NaiveDate,
    today: NaiveDate,
) -> Vec<Step> {
    let rebuilt = rules::steps(holdings, from, today);
    if stored.is_empty() {
        return rebuilt;
    }
    let by_day: std::collections::BTreeMap<NaiveDate, u32> =
        stored.iter().map(|p| (p.date, p.npcu)).collect();
    let mut out: Vec<Step> = Vec::new();
    let mut d = from;
    while d <= today {
        let npcu = by_day
            .get(&d)
            .copied()
            .unwrap_or_else(|| value_on(&rebuilt, d));
        if out.last().is_none_or(|s| s.npcu != npcu) {
            out.push(Step { date: d, npcu });
        }
        d += chrono::Duration::days(1);
    }
    out
}

/// [`dashboard_chart`] with the partner's stored history points of the
/// chart's past (`stored`, any order; points outside it are ignored).
pub fn dashboard_chart_with_history(
    view: &DashboardView,
    now: DateTime<Utc>,
    stored: &[HistoryPoint],
) -> Option<Chart> {
    let today = now.date_naive();
    let from = months_back(today, CHART_MONTHS_BACK);
    let ahead = days_in_months(now, CHART_MONTHS_AHEAD);
    let forecast = partner_forecast(view, now, ahead);
    let to = forecast.to;
    let holdings: Vec<Holding> = dashboard_holdings(view, now)
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    if holdings.is_empty() && view.required_npcu.unwrap_or(0) == 0 {
        return None;
    }
    let stored: Vec<HistoryPoint> = stored
        .iter()
        .filter(|p| p.date >= from && p.date <= today)
        .cloned()
        .collect();
    let stored_days: std::collections::BTreeSet<NaiveDate> =
        stored.iter().map(|p| p.date).collect();
    let past = past_steps(&holdings, &stored, from, today);
    let max = past
        .iter()
        .chain(&forecast.steps)
        .map(|s| s.npcu)
        .chain([view.required_npcu.unwrap_or(0), view.npcu])
        .max()
        .unwrap_or(0);
    let scale = Scale {
        from,
        days: (to - from).num_days() as f64,
        top: f64::from(y_top(max)),
    };
    let top = y_top(max);
    let step = if top > 20 { top / 5 } else { 5 };
    let y_ticks = (0..=top)
        .step_by(step.max(1) as usize)
        .map(|v| Tick {
            at: r1(scale.y(v)),
            label: v.to_string(),
        })
        .collect();
    // A row per first of the month, a tick on every other one (`Mon YYYY`).
    let next_month = |d: NaiveDate| d.checked_add_months(Months::new(1));
    let mut m = NaiveDate::from_ymd_opt(from.year(), from.month(), 1).unwrap_or(from);
    if m <= from {
        m = next_month(m).unwrap_or(to);
    }
    let mut x_ticks = Vec::new();
    let mut rows = Vec::new();
    while m <= to {
        if rows.len() % 2 == 0 {
            x_ticks.push(Tick {
                at: r1(scale.x(m)),
                label: m.format("%b %Y").to_string(),
            });
        }
        let (npcu, kind) = if m <= today {
            let kind = if stored_days.contains(&m) {
                "stored"
            } else {
                "reconstructed"
            };
            (value_on(&past, m), kind)
        } else {
            (value_on(&forecast.steps, m), "forecast")
        };
        rows.push(ChartRow {
            date: m.to_string(),
            npcu,
            kind,
        });
        match next_month(m) {
            Some(n) => m = n,
            None => break,
        }
    }
    rows.push(ChartRow {
        date: today.to_string(),
        npcu: view.npcu,
        kind: "today",
    });
    if let Some(d) = forecast.drops_below_on {
        rows.push(ChartRow {
            date: d.to_string(),
            npcu: value_on(&forecast.steps, d),
            kind: "forecast",
        });
    }
    rows.sort_by(|a, b| a.date.cmp(&b.date));
    rows.dedup_by(|a, b| a.date == b.date);

    let description = describe(view, &forecast, from);
    Some(Chart {
        width: WIDTH,
        height: HEIGHT,
        x0: LEFT,
        x1: WIDTH - RIGHT,
        y0: TOP,
        y1: HEIGHT - BOTTOM,
        from: from.to_string(),
        to: to.to_string(),
        past_path: step_path(&scale, &past, today),
        forecast_path: step_path(&scale, &forecast.steps, to),
        today_x: r1(scale.x(today)),
        required_npcu: view.required_npcu,
        required_y: view
            .required_npcu
            .filter(|r| *r > 0)
            .map(|r| r1(scale.y(r))),
        drop_x: forecast.drops_below_on.map(|d| r1(scale.x(d))),
        drop_on: forecast.drops_below_on.map(|d| d.to_string()),
        x_ticks,
        y_ticks,
        description,
        rows,
        // Some day of the past had no stored point.
        reconstructed: (stored_days.len() as i64) <= (today - from).num_days(),
        stored_days: stored_days.len(),
        forecast,
    })
}

fn describe(view: &DashboardView, f: &PartnerForecast, from: NaiveDate) -> String {
    let Some(required) = view.required_npcu else {
        return format!(
            "NPCU from {from} to {}: {} today; no requirement is configured for this tier. \
             Without renewals it stands at {} on {}.",
            f.to, view.npcu, f.projected_npcu, f.to
        );
    };
    let mut s = format!(
        "NPCU from {from} to {}: {} today against {required} required.",
        f.to, view.npcu
    );
    match (f.drops_below_on, view.meets_requirement) {
        (Some(d), _) => s.push_str(&format!(
            " Without renewals it drops below the requirement on {d} and stands at {} on {}.",
            f.projected_npcu, f.to
        )),
        (None, true) => s.push_str(&format!(
            " Without renewals it stays at or above the requirement until {} ({} NPCU then).",
            f.to, f.projected_npcu
        )),
        (None, false) => s.push_str(&format!(
            " It is below the requirement now; without new certifications it stands at {} on {}.",
            f.projected_npcu, f.to
        )),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use portal_core::model::CertStatus;
    use portal_core::reports::dashboard::{CategoryBlock, CertLine};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    }

    fn line(user: &str, npcu: u32, done: i64, exp: i64) -> CertLine {
        let c = now() + Duration::days(done);
        let e = now() + Duration::days(exp);
        CertLine {
            user_id: user.into(),
            user_name: user.to_uppercase(),
            email: format!("{user}@x.io"),
            course_id: "c".into(),
            course_name: "Course".into(),
            npcu,
            status: if e > now() {
                CertStatus::Active
            } else {
                CertStatus::Expired
            },
            expiring: false,
            completed_at: Some(c),
            expires_at: Some(e),
            completed_on: Some(c.format("%Y-%m-%d").to_string()),
            expires_on: Some(e.format("%Y-%m-%d").to_string()),
        }
    }

    fn view(lines: Vec<CertLine>, npcu: u32, required: u32) -> DashboardView {
        DashboardView {
            partner_id: "P".into(),
            name: "P".into(),
            tier: Some("Registered".into()),
            region: None,
            country: None,
            owner_name: None,
            owner_email: None,
            npcu,
            required_npcu: Some(required),
            gap: Some(required.saturating_sub(npcu)),
            meets_requirement: npcu >= required,
            standing: if npcu >= required {
                portal_core::model::Standing::Met
            } else {
                portal_core::model::Standing::Below
            },
            progress_percent: 100,
            certified_users: 0,
            certifications: 0,
            expiring: 0,
            categories: vec![CategoryBlock {
                category: "K2".into(),
                users: 0,
                npcu,
                certifications: 0,
                rows: lines,
            }],
            rows_total: 0,
            rows_shown: 0,
            next_cursor: None,
            org_certifications: vec![],
            computed_at: Some(now()),
            generated_at: now(),
        }
    }

    #[test]
    fn chart_marks_the_drop_and_lists_the_renewal() {
        // 2 + 2 + 1 = 5 of 5 required; u2's cert ends in 40 days.
        let v = view(
            vec![
                line("u1", 2, -200, 500),
                line("u2", 2, -100, 40),
                line("u3", 1, -30, 700),
                line("u4", 2, -700, -20),
            ],
            5,
            5,
        );
        let c = dashboard_chart(&v, now()).unwrap();
        assert_eq!(c.drop_on.as_deref(), Some("2027-01-02"));
        assert!(c.drop_x.unwrap() > c.today_x);
        assert_eq!(c.forecast.renewals.len(), 1);
        assert_eq!(c.forecast.renewals[0].user_id, "u2");
        assert!(c.description.contains("2027-01-02"), "{}", c.description);
        // The reconstructed past includes u4 until it expired.
        let first = c.rows.first().unwrap();
        assert_eq!(
            (first.date.as_str(), first.kind),
            ("2025-12-01", "reconstructed")
        );
        assert_eq!(first.npcu, 2);
        assert!(c.rows.iter().any(|r| r.kind == "today" && r.npcu == 5));
        assert!(c.past_path.starts_with('M') && c.forecast_path.contains('H'));
        assert!(c.required_y.is_some());
    }

    #[test]
    fn stored_history_replaces_the_reconstruction_where_it_exists() {
        // Rebuilt from today's lines, 2025-12-01 shows only u1 (2): u9's
        // certification, since renewed, was there too per the snapshot.
        let v = view(vec![line("u1", 2, -400, 500)], 2, 2);
        let day = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
        let point = |date: NaiveDate, npcu: u32| HistoryPoint {
            date,
            npcu,
            certified_users: 0,
            certifications: 0,
            required_npcu: 2,
            by_category: Default::default(),
        };
        let stored = vec![point(day, 7), point(day + chrono::Duration::days(1), 7)];
        let c = dashboard_chart_with_history(&v, now(), &stored).unwrap();
        let first = c.rows.first().unwrap();
        assert_eq!(
            (first.date.as_str(), first.kind, first.npcu),
            ("2025-12-01", "stored", 7)
        );
        assert_eq!(c.stored_days, 2);
        assert!(c.reconstructed, "the other days are rebuilt");
        // The day after the stored ones falls back to the rebuilt value.
        let rebuilt = dashboard_chart(&v, now()).unwrap();
        assert_eq!(rebuilt.rows[0].npcu, 2);
        assert_eq!(rebuilt.stored_days, 0);
        assert_ne!(c.past_path, rebuilt.past_path);
    }

    #[test]
    fn nothing_to_draw() {
        assert!(dashboard_chart(&view(vec![], 0, 0), now()).is_none());
    }
}
