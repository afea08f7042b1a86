//! The forecast as the reports show it: the tier-at-risk report's rows and
//! one partner's forecast (API, dashboard chart), both from the pure rules
//! of [`crate::rules::forecast`].
//!
//! The report reads no more than the summaries plus what the window needs:
//! a partner's NPCU now comes from its summary (the number every report
//! shows), and only the certification rows that *end inside the window*
//! (one range of the expiry index) and the organisation certifications are
//! turned into dated holdings; everything else the partner holds counts
//! unchanged to the window's end.

use std::collections::HashMap;

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::Serialize;

use super::dashboard::DashboardView;
use super::params::ParamError;
use super::rows::Scored;
use super::table::ReportRow;
use crate::model::{CertRow, CertStatus, OrgCertification};
use crate::rules::forecast::{self, end_of_day, start_of_day, Holding, Step};

/// Default window of the tier-at-risk report and the forecast route, days.
pub const DEFAULT_DAYS: u32 = 90;
/// Accepted window, days (two years: past that, every certification of
/// the default validity has come up for renewal once).
pub const MIN_DAYS: u32 = 1;
pub const MAX_DAYS: u32 = 730;

/// Months of the dashboard chart: back (history) and forward (forecast).
pub const CHART_MONTHS_BACK: u32 = 12;
pub const CHART_MONTHS_AHEAD: u32 = 6;

/// The window of a request: `days` as parsed by the report parameters
/// (`None` = not given), checked against [`MIN_DAYS`]..=[`MAX_DAYS`].
pub fn window_days(days: Option<u32>) -> Result<u32, ParamError> {
    let d = days.unwrap_or(DEFAULT_DAYS);
    if (MIN_DAYS..=MAX_DAYS).contains(&d) {
        Ok(d)
    } else {
        Err(ParamError::new(
            "days",
            format!("{d} is out of range {MIN_DAYS}..={MAX_DAYS}"),
        ))
    }
}

/// `days` of a route that takes only it (and the credential): any other
/// parameter, or a `days` that is not a whole number in range, names
/// itself.
pub fn parse_window(pairs: &[(String, String)]) -> Result<u32, ParamError> {
    let mut days = None;
    for (k, v) in pairs {
        match k.as_str() {
            "token" => {}
            "days" if v.trim().is_empty() => {}
            "days" => {
                days = Some(v.trim().parse::<u32>().map_err(|_| {
                    ParamError::new("days", format!("'{}' is not a whole number", v.trim()))
                })?)
            }
            other => {
                return Err(ParamError::new(
                    other,
                    "unknown or not supported by this route",
                ))
            }
        }
    }
    window_days(days)
}

/// The last date of a window of `days` from `now`.
pub fn window_end_date(now: DateTime<Utc>, days: u32) -> NaiveDate {
    now.date_naive() + chrono::Duration::days(i64::from(days))
}

/// The last instant of that window: the report's `projected_npcu` is NPCU
/// at this instant.
pub fn window_end(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    end_of_day(window_end_date(now, days))
}

/// A partner meeting its tier now that drops below it within the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierAtRiskRow {
    pub partner_id: String,
    pub name: String,
    pub tier: Option<String>,
    pub owner_email: Option<String>,
    pub required_npcu: u32,
    /// NPCU now.
    pub npcu: u32,
    /// NPCU on the window's last day, nobody renewing.
    pub projected_npcu: u32,
    /// `YYYY-MM-DD`: the first date it is below its requirement.
    pub drops_below_on: String,
    /// The fewest renewals that keep it in tier over the window.
    pub renewals_needed: u32,
}

impl ReportRow for TierAtRiskRow {
    const COLUMNS: &'static [&'static str] = &[
        "partner_id",
        "name",
        "tier",
        "owner_email",
        "required_npcu",
        "npcu",
        "projected_npcu",
        "drops_below_on",
        "renewals_needed",
    ];
}

/// Rows of the tier-at-risk report over `[now, window end]`.
///
/// `ending` are certification rows (by partner) whose expiry lies in the
/// window — rows of other partners and rows that do not count now are
/// ignored; `org_certs` the organisation certifications (any partner).
/// Partners whose tier has no configured requirement, and partners below
/// it already, are not at risk: they are in the gaps report.
pub fn tier_at_risk<'a>(
    scored: &[Scored<'_>],
    ending: impl IntoIterator<Item = (&'a str, &'a CertRow)>,
    org_certs: &[OrgCertification],
    now: DateTime<Utc>,
    days: u32,
) -> Vec<TierAtRiskRow> {
    let to = window_end_date(now, days);
    let last = end_of_day(to);
    let mut dated: HashMap<&str, Vec<Holding>> = HashMap::new();
    for (pid, row) in ending {
        if let Some(h) = Holding::from_row(row) {
            // Counted now (as in the summary, whatever its completion date)
            // and ending inside the window.
            if h.ends_at.is_some_and(|e| e > now && e <= last) {
                dated.entry(pid).or_default().push(Holding {
                    starts_at: None,
                    ..h
                });
            }
        }
    }
    for o in org_certs {
        if let Some(h) = Holding::from_org(o) {
            dated.entry(o.partner_id.as_str()).or_default().push(h);
        }
    }
    let mut rows: Vec<TierAtRiskRow> = scored
        .iter()
        .filter(|s| s.view.meets_requirement)
        .filter_map(|s| {
            let p = s.summary;
            let mut holdings = dated.remove(p.partner_id.as_str()).unwrap_or_default();
            if holdings.is_empty() {
                return None;
            }
            // Everything else it holds now counts to the window's end.
            let dated_now = forecast::npcu_at(&holdings, now);
            holdings.push(Holding {
                key: "rest".into(),
                npcu: s.view.npcu.saturating_sub(dated_now),
                starts_at: None,
                ends_at: None,
            });
            let f = forecast::forecast(&holdings, s.view.required_npcu, now, to);
            let drop = f.drops_below_on?;
            Some(TierAtRiskRow {
                partner_id: p.partner_id.clone(),
                name: p.name.clone(),
                tier: p.tier.as_ref().map(|t| t.as_str().to_string()),
                owner_email: p.owner_email.clone(),
                required_npcu: s.view.required_npcu,
                npcu: s.view.npcu,
                projected_npcu: f.projected_npcu,
                drops_below_on: drop.to_string(),
                renewals_needed: u32::try_from(f.renewals.picks.len()).unwrap_or(u32::MAX),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        a.drops_below_on
            .cmp(&b.drops_below_on)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.partner_id.cmp(&b.partner_id))
    });
    rows
}

/// One certification to renew.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenewalLine {
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    pub course_id: String,
    pub course_name: String,
    pub npcu: u32,
    pub expires_at: Option<DateTime<Utc>>,
    /// `YYYY-MM-DD`: its expiry date (renew before it).
    pub expires_on: Option<String>,
}

/// One partner's forecast (`GET /api/partners/{id}/forecast`, the chart).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartnerForecast {
    pub partner_id: String,
    pub as_of: NaiveDate,
    /// The window's last date.
    pub to: NaiveDate,
    pub days: u32,
    /// `None` when the partner's tier has no configured requirement.
    pub required_npcu: Option<u32>,
    pub meets_requirement: bool,
    pub npcu: u32,
    pub projected_npcu: u32,
    /// The projected NPCU: the value on `as_of`, then a point on each date
    /// it changes (nobody renewing, nothing new completed).
    pub steps: Vec<Step>,
    /// The first date below the requirement (`None`: stays in tier, or is
    /// below already).
    pub drops_below_on: Option<NaiveDate>,
    /// The fewest renewals that keep it in tier, soonest expiring first.
    pub renewals: Vec<RenewalLine>,
    /// Renew by this date: the first renewal's expiry.
    pub renew_by: Option<String>,
}

/// The dashboard's certifications as holdings, each with its line (`None`
/// for organisation certifications). A personal certification counts from
/// its completion — capped at `now`, so a completion date in the future
/// (clock skew in the source) does not hide a certification the summary
/// counts — to its expiry; an organisation one between its dates.
pub fn dashboard_holdings(
    view: &DashboardView,
    now: DateTime<Utc>,
) -> Vec<(Holding, Option<&super::dashboard::CertLine>)> {
    let completed = |s: CertStatus| {
        matches!(
            s,
            CertStatus::Active | CertStatus::Expiring | CertStatus::Expired
        )
    };
    let mut out: Vec<(Holding, Option<&super::dashboard::CertLine>)> = view
        .categories
        .iter()
        .flat_map(|c| &c.rows)
        .filter(|l| completed(l.status) && l.npcu > 0)
        .map(|l| {
            (
                Holding {
                    key: format!("{}#{}", l.user_id, l.course_id),
                    npcu: l.npcu,
                    starts_at: l.completed_at.map(|c| c.min(now)),
                    ends_at: l.expires_at,
                },
                Some(l),
            )
        })
        .collect();
    let date = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(start_of_day)
    };
    for o in view.org_certifications.iter().filter(|o| o.npcu > 0) {
        // Whole days are all the view keeps, and all a date's value needs.
        out.push((
            Holding {
                key: format!("org#{}", o.id),
                npcu: o.npcu,
                starts_at: date(&o.starts_on),
                ends_at: date(&o.ends_on),
            },
            None,
        ));
    }
    out
}

/// The forecast of the partner of `view` over `days` from `now`.
pub fn partner_forecast(view: &DashboardView, now: DateTime<Utc>, days: u32) -> PartnerForecast {
    let to = window_end_date(now, days);
    let pairs = dashboard_holdings(view, now);
    let holdings: Vec<Holding> = pairs.iter().map(|(h, _)| h.clone()).collect();
    // The requirement is the one the dashboard shows; a tier without a
    // configured requirement is never "met", so it has no drop date.
    let required = view.required_npcu;
    let f = forecast::forecast(&holdings, required.unwrap_or(0), now, to);
    let meets = view.meets_requirement;
    let renewals: Vec<RenewalLine> = if meets {
        f.renewals
            .picks
            .iter()
            .filter_map(|i| pairs[*i].1.map(|l| (l, &pairs[*i].0)))
            .map(|(l, h)| RenewalLine {
                user_id: l.user_id.clone(),
                user_name: l.user_name.clone(),
                email: l.email.clone(),
                course_id: l.course_id.clone(),
                course_name: l.course_name.clone(),
                npcu: h.npcu,
                expires_at: l.expires_at,
                expires_on: l.expires_on.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    PartnerForecast {
        partner_id: view.partner_id.clone(),
        as_of: now.date_naive(),
        to,
        days,
        required_npcu: required,
        meets_requirement: meets,
        npcu: view.npcu,
        projected_npcu: f.projected_npcu,
        steps: f.steps,
        drops_below_on: if meets { f.drops_below_on } else { None },
        renew_by: renewals.first().and_then(|r| r.expires_on.clone()),
        renewals,
    }
}

/// Days from `now`'s date to the same date `months` later.
pub fn days_in_months(now: DateTime<Utc>, months: u32) -> u32 {
    let from = now.date_naive();
    let to = from.checked_add_months(Months::new(months)).unwrap_or(from);
    u32::try_from((to - from).num_days()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PartnerSummary, ProgressStatus, SummaryView, Tier};
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    }

    fn row(user: &str, npcu: u8, exp_days: i64) -> CertRow {
        CertRow {
            user_id: user.into(),
            course_id: "c".into(),
            npcu,
            progress: ProgressStatus::Completed,
            completed_at: Some(now() - Duration::days(300)),
            expires_at: Some(now() + Duration::days(exp_days)),
            ..Default::default()
        }
    }

    fn summary(id: &str) -> PartnerSummary {
        PartnerSummary {
            partner_id: id.into(),
            name: format!("Partner {id}"),
            tier: Some(Tier::Registered),
            tracked: true,
            ..Default::default()
        }
    }

    fn scored<'a>(s: &'a PartnerSummary, npcu: u32, required: u32) -> Scored<'a> {
        Scored {
            summary: s,
            view: SummaryView {
                npcu,
                required_npcu: required,
                meets_requirement: npcu >= required,
                gap: required.saturating_sub(npcu),
                ..Default::default()
            },
        }
    }

    #[test]
    fn at_risk_partners_with_drop_date_and_renewals() {
        let (a, b, c) = (summary("A"), summary("B"), summary("C"));
        // A: 6 now, needs 5; a 2-NPCU cert ends in 10 days -> 4: at risk.
        // B: 5 now, needs 5; what ends in the window ends after it.
        // C: below already.
        let scored = vec![scored(&a, 6, 5), scored(&b, 5, 5), scored(&c, 3, 5)];
        let ra = row("u1", 2, 10);
        let rb = row("u2", 2, 200);
        let rc = row("u3", 1, 5);
        let ending = vec![("A", &ra), ("B", &rb), ("C", &rc)];
        let rows = tier_at_risk(&scored, ending, &[], now(), 90);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.partner_id, "A");
        assert_eq!((r.npcu, r.projected_npcu, r.required_npcu), (6, 4, 5));
        assert_eq!(r.drops_below_on, "2026-12-03");
        assert_eq!(r.renewals_needed, 1);
        // A shorter window ends before the drop.
        assert!(tier_at_risk(&scored, vec![("A", &ra)], &[], now(), 9).is_empty());
    }

    #[test]
    fn window_days_default_and_range() {
        assert_eq!(window_days(None), Ok(90));
        assert_eq!(window_days(Some(730)), Ok(730));
        for bad in [0, 731, 3650] {
            assert_eq!(window_days(Some(bad)).unwrap_err().param, "days");
        }
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            parse_window(&pairs(&[("days", "30"), ("token", "t")])),
            Ok(30)
        );
        assert_eq!(parse_window(&pairs(&[("days", "")])), Ok(90));
        assert_eq!(
            parse_window(&pairs(&[("days", "x")])).unwrap_err().param,
            "days"
        );
        assert_eq!(
            parse_window(&pairs(&[("days", "-1")])).unwrap_err().param,
            "days"
        );
        assert_eq!(
            parse_window(&pairs(&[("tier", "a")])).unwrap_err().param,
            "tier"
        );
    }

    #[test]
    fn window_bounds() {
        assert_eq!(
            window_end(now(), 1),
            Utc.with_ymd_and_hms(2026, 11, 24, 23, 59, 59).unwrap() + Duration::milliseconds(999)
        );
        assert_eq!(days_in_months(now(), 6), 181);
    }
}
