//! The portal home's trend chart, drawn on the server as SVG: NPCU gained
//! (new certifications, above the zero line) and lost (expirations, below
//! it) per month of the `trends` report, and the net as a line. As with
//! the dashboard chart (`crate::chart`), this module computes the geometry
//! and `templates/trend_chart.html` holds the markup and the text
//! alternative (`<title>`/`<desc>`, a sentence and a table by month);
//! colours are SVG attributes, nothing inline for the CSP.

use serde::Serialize;
use serde_json::Value;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;

/// One period of the chart (and a row of its table).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrendBar {
    pub period: String,
    pub new_certifications: u64,
    pub expirations: u64,
    pub new_npcu: u64,
    pub expired_npcu: u64,
    pub net_npcu: i64,
    /// Left edge and width of the period's slot.
    pub x: f64,
    pub w: f64,
    /// The gained bar: top and height (it ends at the zero line).
    pub up_y: f64,
    pub up_h: f64,
    /// The lost bar: it starts at the zero line.
    pub down_h: f64,
    /// Centre of the slot, for labels and the net line.
    pub cx: f64,
    pub net_y: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tick {
    pub at: f64,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrendChart {
    pub width: f64,
    pub height: f64,
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
    pub zero_y: f64,
    pub bars: Vec<TrendBar>,
    pub net_path: String,
    pub y_ticks: Vec<Tick>,
    pub from: String,
    pub to: String,
    pub description: String,
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The chart of `rows` (rows of `trends` without `group`, oldest first);
/// `None` when there are none.
pub fn trend_chart(rows: &[Value]) -> Option<TrendChart> {
    let first = rows.first()?;
    let last = rows.last()?;
    let up_max = rows.iter().map(|r| num(&r["new_npcu"])).max().unwrap_or(0);
    let down_max = rows
        .iter()
        .map(|r| num(&r["expired_npcu"]))
        .max()
        .unwrap_or(0);
    // A scale of at least 1 each way keeps an empty program drawable.
    let (up, down) = (up_max.max(1) as f64, down_max.max(1) as f64);
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
    let zero_y = y0 + (y1 - y0) * up / (up + down);
    let scale = (y1 - y0) / (up + down);
    let slot = (x1 - x0) / rows.len() as f64;
    let y_of = |v: f64| zero_y - v * scale;
    let bars: Vec<TrendBar> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (n, e) = (num(&r["new_npcu"]), num(&r["expired_npcu"]));
            let net = r["net_npcu"].as_i64().unwrap_or(n as i64 - e as i64);
            let x = x0 + slot * i as f64;
            TrendBar {
                period: r["period"].as_str().unwrap_or("").to_string(),
                new_certifications: num(&r["new_certifications"]),
                expirations: num(&r["expirations"]),
                new_npcu: n,
                expired_npcu: e,
                net_npcu: net,
                x: round(x + slot * 0.15),
                w: round(slot * 0.7),
                up_y: round(y_of(n as f64)),
                up_h: round(n as f64 * scale),
                down_h: round(e as f64 * scale),
                cx: round(x + slot / 2.0),
                net_y: round(y_of(net as f64)),
            }
        })
        .collect();
    let net_path = bars
        .iter()
        .enumerate()
        .map(|(i, b)| format!("{}{} {}", if i == 0 { "M" } else { "L" }, b.cx, b.net_y))
        .collect::<Vec<_>>()
        .join(" ");
    let y_ticks = vec![
        Tick {
            at: round(y_of(up)),
            label: format!("+{}", up_max.max(1)),
        },
        Tick {
            at: round(zero_y),
            label: "0".into(),
        },
        Tick {
            at: round(y_of(-down)),
            label: format!("−{}", down_max.max(1)),
        },
    ];
    let gained: u64 = bars.iter().map(|b| b.new_npcu).sum();
    let lost: u64 = bars.iter().map(|b| b.expired_npcu).sum();
    let certs: u64 = bars.iter().map(|b| b.new_certifications).sum();
    let from = first["period"].as_str().unwrap_or("").to_string();
    let to = last["period"].as_str().unwrap_or("").to_string();
    let net = gained as i64 - lost as i64;
    let description = format!(
        "From {from} to {to}: {certs} new certifications brought {gained} NPCU, expirations took {lost} NPCU, a net change of {}{net} NPCU.",
        if net > 0 { "+" } else { "" }
    );
    Some(TrendChart {
        width: WIDTH,
        height: HEIGHT,
        x0,
        x1,
        y0,
        y1,
        zero_y: round(zero_y),
        bars,
        net_path,
        y_ticks,
        from,
        to,
        description,
    })
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bars_scale_both_ways_from_the_zero_line() {
        let rows = vec![
            json!({"period": "2026-11", "new_certifications": 2, "new_npcu": 4, "expirations": 1, "expired_npcu": 2, "net_npcu": 2}),
            json!({"period": "2026-12", "new_certifications": 0, "new_npcu": 0, "expirations": 0, "expired_npcu": 0, "net_npcu": 0}),
        ];
        let c = trend_chart(&rows).unwrap();
        assert_eq!(c.bars.len(), 2);
        // 4 up and 2 down share the plot: the zero line at two thirds.
        let plot = c.y1 - c.y0;
        assert!((c.zero_y - (c.y0 + plot * 4.0 / 6.0)).abs() < 0.2);
        assert!((c.bars[0].up_h - plot * 4.0 / 6.0).abs() < 0.2);
        assert!((c.bars[0].down_h - plot * 2.0 / 6.0).abs() < 0.2);
        assert_eq!(c.bars[1].up_h, 0.0);
        assert!(c.net_path.starts_with('M'));
        assert!(c
            .description
            .contains("2 new certifications brought 4 NPCU"));
        assert!(c.description.contains("net change of +2 NPCU"));
        assert!(trend_chart(&[]).is_none());
    }
}
