//! `GET /api/partners/{id}/history?from=&to=`: one point a day, from the
//! stored daily snapshots where there is one, else reconstructed from the
//! dates of the partner's certifications today and marked
//! `reconstructed: true` (see [`crate::rules::history`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use super::dashboard::DashboardView;
use super::params::ParamError;
use crate::model::CertStatus;
use crate::rules::forecast::{start_of_day, Holding};
use crate::rules::history::{reconstruct, CategoryPoint, Held, HistoryPoint};

/// Days answered when `from` is not given (ending at `to`).
pub const DEFAULT_SPAN_DAYS: i64 = 30;
/// Longest range one request may ask for.
pub const MAX_SPAN_DAYS: i64 = 731;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryDay {
    pub date: NaiveDate,
    pub npcu: u32,
    pub certified_users: u32,
    pub certifications: u32,
    pub required_npcu: u32,
    pub by_category: BTreeMap<String, CategoryPoint>,
    /// Rebuilt from today's records, not a stored snapshot.
    pub reconstructed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartnerHistory {
    pub partner_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The first stored snapshot in the range (`None`: all reconstructed).
    pub first_snapshot: Option<NaiveDate>,
    pub points: Vec<HistoryDay>,
}

fn day(p: &HistoryPoint, reconstructed: bool) -> HistoryDay {
    HistoryDay {
        date: p.date,
        npcu: p.npcu,
        certified_users: p.certified_users,
        certifications: p.certifications,
        required_npcu: p.required_npcu,
        by_category: p
            .by_category
            .keys()
            .map(|k| (k.clone(), p.category(k)))
            .collect(),
        reconstructed,
    }
}

/// `from`/`to` of the request (`YYYY-MM-DD`; `token` is the credential):
/// `to` defaults to today and may not be later, `from` defaults to
/// [`DEFAULT_SPAN_DAYS`] before it; at most [`MAX_SPAN_DAYS`] days.
pub fn parse_range(
    pairs: &[(String, String)],
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), ParamError> {
    let date = |name: &str, v: &str| {
        NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
            ParamError::new(name, format!("'{}' is not a date (YYYY-MM-DD)", v.trim()))
        })
    };
    let (mut from, mut to) = (None, None);
    for (k, v) in pairs {
        match k.as_str() {
            "token" => {}
            "from" | "to" if v.trim().is_empty() => {}
            "from" => from = Some(date("from", v)?),
            "to" => to = Some(date("to", v)?),
            other => {
                return Err(ParamError::new(
                    other,
                    "unknown or not supported by this route",
                ))
            }
        }
    }
    let to = to.unwrap_or(today);
    if to > today {
        return Err(ParamError::new(
            "to",
            format!("{to} is in the future (today is {today}; see the forecast for later dates)"),
        ));
    }
    let from = from.unwrap_or(to - Duration::days(DEFAULT_SPAN_DAYS - 1));
    if from > to {
        return Err(ParamError::new(
            "from",
            format!("{from} is after to ({to})"),
        ));
    }
    if (to - from).num_days() >= MAX_SPAN_DAYS {
        return Err(ParamError::new(
            "from",
            format!("at most {MAX_SPAN_DAYS} days at once"),
        ));
    }
    Ok((from, to))
}

/// What the dashboard holds, for reconstructing past days.
pub fn held_of_view(view: &DashboardView, now: DateTime<Utc>) -> Vec<Held<'_>> {
    let completed = |s: CertStatus| {
        matches!(
            s,
            CertStatus::Active | CertStatus::Expiring | CertStatus::Expired
        )
    };
    let mut out: Vec<Held<'_>> = view
        .categories
        .iter()
        .flat_map(|c| c.rows.iter().map(move |r| (c.category.as_str(), r)))
        .filter(|(_, l)| completed(l.status) && l.npcu > 0)
        .map(|(cat, l)| Held {
            holding: Holding {
                key: format!("{}#{}", l.user_id, l.course_id),
                npcu: l.npcu,
                starts_at: l.completed_at.map(|c| c.min(now)),
                ends_at: l.expires_at,
            },
            user_id: Some(l.user_id.as_str()),
            category: Some(cat),
        })
        .collect();
    let date = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(start_of_day)
    };
    for o in view.org_certifications.iter().filter(|o| o.npcu > 0) {
        out.push(Held {
            holding: Holding {
                key: format!("org#{}", o.id),
                npcu: o.npcu,
                starts_at: date(&o.starts_on),
                ends_at: date(&o.ends_on),
            },
            user_id: None,
            category: o.category.as_deref(),
        });
    }
    out
}

/// The daily points of `view`'s partner over `[from, to]`: `stored` (its
/// snapshots in the range) where they exist, reconstructed elsewhere.
pub fn partner_history(
    view: &DashboardView,
    stored: &[HistoryPoint],
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> PartnerHistory {
    let by_date: BTreeMap<NaiveDate, &HistoryPoint> = stored.iter().map(|p| (p.date, p)).collect();
    let held = held_of_view(view, now);
    let mut points = Vec::new();
    let mut d = from;
    while d <= to {
        points.push(match by_date.get(&d) {
            Some(p) => day(p, false),
            // 0: no requirement configured for the tier (as stored snapshots say).
            None => day(
                &reconstruct(&held, d, view.required_npcu.unwrap_or(0)),
                true,
            ),
        });
        d += Duration::days(1);
    }
    PartnerHistory {
        partner_id: view.partner_id.clone(),
        from,
        to,
        first_snapshot: by_date.keys().next().copied(),
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn range_defaults_and_bad_input() {
        assert_eq!(
            parse_range(&pairs(&[]), today()),
            Ok((today() - Duration::days(29), today()))
        );
        assert_eq!(
            parse_range(
                &pairs(&[("from", "2026-11-01"), ("to", "2026-11-10"), ("token", "t")]),
                today()
            ),
            Ok((
                NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 11, 10).unwrap()
            ))
        );
        for (q, param) in [
            (vec![("from", "yesterday")], "from"),
            (vec![("to", "2026-13-01")], "to"),
            (vec![("to", "2026-11-24")], "to"),
            (vec![("from", "2026-11-20"), ("to", "2026-11-10")], "from"),
            (vec![("from", "2020-01-01")], "from"),
            (vec![("days", "3")], "days"),
            (vec![("days", "")], "days"),
        ] {
            assert_eq!(
                parse_range(&pairs(&q), today()).unwrap_err().param,
                param,
                "{q:?}"
            );
        }
    }
}
