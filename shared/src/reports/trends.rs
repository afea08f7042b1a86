//! The `trends` report (new certifications, expirations and net NPCU per
//! month or week, with the same period a year before) and the two reports
//! over certification rows that need no membership picture:
//! `recent-certifications` and `popular-courses`.
//!
//! Decisions:
//! - A *certification* is what the forecast counts
//!   ([`Holding::from_row`]): a completed row of a course worth NPCU.
//! - A row is one user × course (a renewal replaces the earlier period),
//!   so a renewed certification shows as new in its latest period only and
//!   its earlier expiry is not an expiration: the rows hold no history.
//! - An expiration is an expiry date that has passed (`<= now`); expiries
//!   ahead are the forecast's business, not a trend.
//! - Periods are calendar months or ISO weeks (Monday to Sunday), UTC. The
//!   current period is the last row and runs to `now`; the year before of
//!   a week is the week 52 weeks earlier (the same ISO week number almost
//!   always).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use serde::Serialize;

use super::params::ParamError;
use super::table::ReportRow;
use crate::model::{CertRow, PartnerSummary, UNCATEGORIZED};
use crate::rules::forecast::{start_of_day, Holding};

/// Periods a trends report shows when `periods` is not given.
pub const DEFAULT_PERIODS: u32 = 12;
/// Most periods a trends report shows (two years of months).
pub const MAX_PERIODS: u32 = 104;

/// `by`: the length of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum By {
    #[default]
    Month,
    Week,
}

/// `group`: what a period's numbers are broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Region,
    Tier,
    Owner,
    Category,
}

/// The trend-specific parameters (`by`, `group`, `periods`); the common
/// ones are [`super::params::parse`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendQuery {
    pub by: By,
    pub group: Option<Group>,
    pub periods: u32,
}

/// Reads `by`, `group` and `periods` from the request's pairs (the other
/// parameters are checked by [`super::params::parse`]); a bad value names
/// itself.
pub fn parse_trend(pairs: &[(String, String)]) -> Result<TrendQuery, ParamError> {
    let mut q = TrendQuery {
        by: By::Month,
        group: None,
        periods: DEFAULT_PERIODS,
    };
    for (k, v) in pairs {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "by" => {
                q.by = match v.to_ascii_lowercase().as_str() {
                    "month" => By::Month,
                    "week" => By::Week,
                    _ => {
                        return Err(ParamError::new(
                            "by",
                            format!("unknown period '{v}' (expected month or week)"),
                        ))
                    }
                }
            }
            "group" => {
                q.group = Some(match v.to_ascii_lowercase().as_str() {
                    "region" => Group::Region,
                    "tier" => Group::Tier,
                    "owner" => Group::Owner,
                    "category" => Group::Category,
                    _ => {
                        return Err(ParamError::new(
                            "group",
                            format!(
                                "unknown grouping '{v}' (expected region, tier, owner or category)"
                            ),
                        ))
                    }
                })
            }
            "periods" => {
                q.periods = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PERIODS).contains(n))
                    .ok_or_else(|| {
                        ParamError::new(
                            "periods",
                            format!("'{v}' is not a whole number in 1..={MAX_PERIODS}"),
                        )
                    })?
            }
            _ => {}
        }
    }
    Ok(q)
}

/// One period: `[start, end)`, and its label (`2026-11`, `2026-W48`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

fn month_start(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("day 1 exists")
}

fn period_at(by: By, start: NaiveDate) -> Period {
    let (label, end) = match by {
        By::Month => (
            format!("{:04}-{:02}", start.year(), start.month()),
            start + Months::new(1),
        ),
        By::Week => {
            let w = start.iso_week();
            (
                format!("{:04}-W{:02}", w.year(), w.week()),
                start + Duration::days(7),
            )
        }
    };
    Period {
        label,
        start: start_of_day(start),
        end: start_of_day(end),
    }
}

/// The `n` periods ending with the one holding `now`, oldest first.
pub fn periods(by: By, n: u32, now: DateTime<Utc>) -> Vec<Period> {
    let today = now.date_naive();
    let current = match by {
        By::Month => month_start(today),
        By::Week => today - Duration::days(i64::from(today.weekday().num_days_from_monday())),
    };
    (0..n)
        .rev()
        .map(|k| {
            let start = match by {
                By::Month => current - Months::new(k),
                By::Week => current - Duration::days(7 * i64::from(k)),
            };
            period_at(by, start)
        })
        .collect()
}

/// The same period a year before.
pub fn year_before(by: By, p: &Period) -> Period {
    let start = p.start.date_naive();
    period_at(
        by,
        match by {
            By::Month => start - Months::new(12),
            By::Week => start - Duration::days(364),
        },
    )
}

/// The first instant whose rows a trends report needs: the start of the
/// year before its oldest period.
pub fn reads_from(q: &TrendQuery, now: DateTime<Utc>) -> DateTime<Utc> {
    periods(q.by, q.periods, now)
        .first()
        .map(|p| year_before(q.by, p).start)
        .unwrap_or(now)
}

/// One period × group of the trends report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendRow {
    pub period: String,
    pub period_start: String,
    /// The group's value (`all` without `group`; `(none)` when the partner
    /// has no region / tier / owner).
    pub group: String,
    pub new_certifications: u32,
    pub new_npcu: u32,
    pub expirations: u32,
    pub expired_npcu: u32,
    /// `new_npcu - expired_npcu`.
    pub net_npcu: i64,
    pub new_certifications_year_before: u32,
    pub expirations_year_before: u32,
    pub net_npcu_year_before: i64,
    /// `new_certifications` against the year before, percent; empty when
    /// the year before had none.
    pub new_certifications_yoy_pct: Option<i64>,
}

impl ReportRow for TrendRow {
    const COLUMNS: &'static [&'static str] = &[
        "period",
        "period_start",
        "group",
        "new_certifications",
        "new_npcu",
        "expirations",
        "expired_npcu",
        "net_npcu",
        "new_certifications_year_before",
        "expirations_year_before",
        "net_npcu_year_before",
        "new_certifications_yoy_pct",
    ];
}

const NONE: &str = "(none)";

fn group_of(g: Option<Group>, s: &PartnerSummary, row: &CertRow) -> String {
    let text = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(NONE)
            .to_string()
    };
    match g {
        None => "all".into(),
        Some(Group::Region) => text(s.region.as_deref()),
        Some(Group::Tier) => text(s.tier.as_ref().map(|t| t.as_str())),
        Some(Group::Owner) => text(s.owner_email.as_deref().or(s.owner_name.as_deref())),
        Some(Group::Category) => text(row.category.as_deref().or(Some(UNCATEGORIZED))),
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    new: u32,
    new_npcu: u32,
    expired: u32,
    expired_npcu: u32,
}

impl Tally {
    fn net(&self) -> i64 {
        i64::from(self.new_npcu) - i64::from(self.expired_npcu)
    }
}

/// Rows of the trends report: for each period (oldest first) and group
/// (alphabetical), from the certification rows `rows` of the partners
/// shown (each with its partner's summary). Every group seen in the read
/// range gets a row in every period, zeros included, so a chart or a
/// spreadsheet has no holes.
pub fn trends<'a>(
    rows: impl IntoIterator<Item = (&'a PartnerSummary, &'a CertRow)>,
    q: &TrendQuery,
    now: DateTime<Utc>,
) -> Vec<TrendRow> {
    let shown = periods(q.by, q.periods, now);
    let before: Vec<Period> = shown.iter().map(|p| year_before(q.by, p)).collect();
    // Every period the rows are tallied into, shown or a year before.
    let mut all: Vec<&Period> = shown.iter().chain(before.iter()).collect();
    all.sort_by_key(|p| p.start);
    all.dedup_by_key(|p| p.start);
    let find = |t: DateTime<Utc>| -> Option<DateTime<Utc>> {
        if t > now {
            return None;
        }
        all.iter()
            .find(|p| p.start <= t && t < p.end)
            .map(|p| p.start)
    };
    let mut tally: BTreeMap<(DateTime<Utc>, String), Tally> = BTreeMap::new();
    let mut groups: BTreeSet<String> = BTreeSet::new();
    for (s, row) in rows {
        let Some(h) = Holding::from_row(row) else {
            continue;
        };
        let new = h.starts_at.and_then(find);
        let ended = h.ends_at.and_then(find);
        if new.is_none() && ended.is_none() {
            continue;
        }
        let g = group_of(q.group, s, row);
        groups.insert(g.clone());
        if let Some(start) = new {
            let t = tally.entry((start, g.clone())).or_default();
            t.new += 1;
            t.new_npcu += h.npcu;
        }
        if let Some(start) = ended {
            let t = tally.entry((start, g)).or_default();
            t.expired += 1;
            t.expired_npcu += h.npcu;
        }
    }
    if q.group.is_none() {
        groups.insert("all".into());
    }
    let mut out = Vec::with_capacity(shown.len() * groups.len());
    for (p, b) in shown.iter().zip(&before) {
        for g in &groups {
            let key = |start| (start, g.clone());
            let t = tally.get(&key(p.start)).copied().unwrap_or_default();
            let y = tally.get(&key(b.start)).copied().unwrap_or_default();
            out.push(TrendRow {
                period: p.label.clone(),
                period_start: p.start.date_naive().to_string(),
                group: g.clone(),
                new_certifications: t.new,
                new_npcu: t.new_npcu,
                expirations: t.expired,
                expired_npcu: t.expired_npcu,
                net_npcu: t.net(),
                new_certifications_year_before: y.new,
                expirations_year_before: y.expired,
                net_npcu_year_before: y.net(),
                new_certifications_yoy_pct: (y.new > 0)
                    .then(|| (i64::from(t.new) - i64::from(y.new)) * 100 / i64::from(y.new)),
            });
        }
    }
    out
}

/// A certification completed within the last `days` days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentCertRow {
    pub partner_id: String,
    pub partner_name: String,
    pub tier: Option<String>,
    pub owner_email: Option<String>,
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    pub course_id: String,
    pub course_name: String,
    pub category: Option<String>,
    pub npcu: u32,
    pub completed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl ReportRow for RecentCertRow {
    const COLUMNS: &'static [&'static str] = &[
        "partner_id",
        "partner_name",
        "tier",
        "owner_email",
        "user_id",
        "user_name",
        "email",
        "course_id",
        "course_name",
        "category",
        "npcu",
        "completed_at",
        "expires_at",
    ];
}

/// Default window of `recent-certifications` and `inactive-users`, days.
pub const DEFAULT_RECENT_DAYS: u32 = 30;

/// Certifications completed in `(now - days, now]`, newest first.
pub fn recent_certifications<'a>(
    rows: impl IntoIterator<Item = (&'a PartnerSummary, &'a CertRow)>,
    now: DateTime<Utc>,
    days: u32,
) -> Vec<RecentCertRow> {
    let since = now - Duration::days(i64::from(days));
    let mut out: Vec<RecentCertRow> = rows
        .into_iter()
        .filter(|(_, r)| Holding::from_row(r).is_some())
        .filter(|(_, r)| r.completed_at.is_some_and(|c| c > since && c <= now))
        .map(|(p, c)| RecentCertRow {
            partner_id: p.partner_id.clone(),
            partner_name: p.name.clone(),
            tier: p.tier.as_ref().map(|t| t.as_str().to_string()),
            owner_email: p.owner_email.clone(),
            user_id: c.user_id.clone(),
            user_name: c.user_name.clone(),
            email: c.email.clone(),
            course_id: c.course_id.clone(),
            course_name: c.course_name.clone(),
            category: c.category.clone(),
            npcu: u32::from(c.npcu),
            completed_at: c.completed_at,
            expires_at: c.expires_at,
        })
        .collect();
    out.sort_by(|a, b| {
        b.completed_at
            .cmp(&a.completed_at)
            .then_with(|| a.partner_id.cmp(&b.partner_id))
            .then_with(|| a.user_id.cmp(&b.user_id))
            .then_with(|| a.course_id.cmp(&b.course_id))
    });
    out
}

/// One certification course and how it is taken by the partners shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PopularCourseRow {
    pub course_id: String,
    pub course_name: String,
    pub category: Option<String>,
    /// The course's NPCU value.
    pub npcu: u32,
    /// Rows of the course (any progress): enrolments, per partner × user.
    pub enrollments: u32,
    /// Completed rows, per partner × user (a user of two partners counts
    /// for each, as in each partner's numbers).
    pub completions: u32,
    /// Distinct users who completed it.
    pub distinct_users: u32,
    /// Partners with at least one completion.
    pub partners: u32,
    /// NPCU its certifications bring now (completed, not expired), summed
    /// over the partners.
    pub active_npcu: u32,
}

impl ReportRow for PopularCourseRow {
    const COLUMNS: &'static [&'static str] = &[
        "course_id",
        "course_name",
        "category",
        "npcu",
        "enrollments",
        "completions",
        "distinct_users",
        "partners",
        "active_npcu",
    ];
}

/// Courses by completions (most first), from the certification rows of
/// the partners shown.
pub fn popular_courses<'a>(
    rows: impl IntoIterator<Item = (&'a str, &'a CertRow)>,
    now: DateTime<Utc>,
) -> Vec<PopularCourseRow> {
    #[derive(Default)]
    struct Acc<'a> {
        row: Option<&'a CertRow>,
        enrollments: u32,
        completions: u32,
        users: BTreeSet<&'a str>,
        partners: BTreeSet<&'a str>,
        active_npcu: u32,
    }
    let mut by_course: BTreeMap<&str, Acc> = BTreeMap::new();
    for (pid, r) in rows {
        let a = by_course.entry(r.course_id.as_str()).or_default();
        a.row.get_or_insert(r);
        a.enrollments += 1;
        if r.progress == crate::model::ProgressStatus::Completed {
            a.completions += 1;
            a.users.insert(r.user_id.as_str());
            a.partners.insert(pid);
            if let Some(h) = Holding::from_row(r).filter(|h| h.counts_at(now)) {
                a.active_npcu += h.npcu;
            }
        }
    }
    let mut out: Vec<PopularCourseRow> = by_course
        .into_iter()
        .filter_map(|(id, a)| {
            let r = a.row?;
            Some(PopularCourseRow {
                course_id: id.to_string(),
                course_name: r.course_name.clone(),
                category: r.category.clone(),
                npcu: u32::from(r.npcu),
                enrollments: a.enrollments,
                completions: a.completions,
                distinct_users: u32::try_from(a.users.len()).unwrap_or(u32::MAX),
                partners: u32::try_from(a.partners.len()).unwrap_or(u32::MAX),
                active_npcu: a.active_npcu,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.completions
            .cmp(&a.completions)
            .then_with(|| {
                a.course_name
                    .to_lowercase()
                    .cmp(&b.course_name.to_lowercase())
            })
            .then_with(|| a.course_id.cmp(&b.course_id))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ProgressStatus, Tier};
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn cert(user: &str, course: &str, npcu: u8, done: DateTime<Utc>, months: u32) -> CertRow {
        CertRow {
            user_id: user.into(),
            course_id: course.into(),
            course_name: course.to_uppercase(),
            category: Some("K2".into()),
            npcu,
            progress: ProgressStatus::Completed,
            completed_at: Some(done),
            expires_at: Some(done + Months::new(months)),
            ..Default::default()
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parameters_parse_and_bad_ones_name_themselves() {
        let q = parse_trend(&pairs(&[("by", "week"), ("group", "Region")])).unwrap();
        assert_eq!(
            (q.by, q.group, q.periods),
            (By::Week, Some(Group::Region), 12)
        );
        for (k, v) in [
            ("by", "day"),
            ("group", "country"),
            ("periods", "0"),
            ("periods", "x"),
        ] {
            assert_eq!(parse_trend(&pairs(&[(k, v)])).unwrap_err().param, k);
        }
    }

    #[test]
    fn months_and_weeks_end_with_the_current_one() {
        let now = at(2026, 12, 2);
        let m = periods(By::Month, 3, now);
        let labels: Vec<&str> = m.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["2026-10", "2026-11", "2026-12"]);
        assert_eq!(year_before(By::Month, &m[2]).label, "2025-12");
        let w = periods(By::Week, 2, now);
        // 2026-12-02 is a Wednesday of ISO week 49.
        assert_eq!(w[1].label, "2026-W49");
        assert_eq!(w[1].start.date_naive().to_string(), "2026-11-30");
        assert_eq!(w[0].label, "2026-W48");
        assert_eq!(year_before(By::Week, &w[1]).label, "2025-W49");
    }

    #[test]
    fn counts_new_and_expired_per_period_with_the_year_before() {
        let now = at(2026, 12, 2);
        let s = PartnerSummary {
            partner_id: "p1".into(),
            region: Some("EMEA".into()),
            tier: Some(Tier::Premier),
            ..Default::default()
        };
        let rows = [
            cert("u1", "a", 2, at(2026, 11, 5), 24),
            cert("u2", "a", 2, at(2025, 11, 20), 24),
            // Completed 2024-11, expired 2025-11: an expiration a year before.
            cert("u3", "b", 3, at(2024, 11, 10), 12),
            // Expires 2026-11-15: an expiration this November.
            cert("u4", "b", 3, at(2025, 11, 15), 12),
            // Expires next year: not an expiration yet.
            cert("u5", "b", 3, at(2026, 12, 1), 12),
            CertRow {
                progress: ProgressStatus::InProgress,
                ..cert("u6", "a", 2, at(2026, 11, 6), 24)
            },
        ];
        let q = TrendQuery {
            by: By::Month,
            group: Some(Group::Region),
            periods: 2,
        };
        let out = trends(rows.iter().map(|r| (&s, r)), &q, now);
        assert_eq!(out.len(), 2);
        let nov = &out[0];
        assert_eq!(
            (nov.period.as_str(), nov.group.as_str()),
            ("2026-11", "EMEA")
        );
        assert_eq!((nov.new_certifications, nov.new_npcu), (1, 2));
        assert_eq!((nov.expirations, nov.expired_npcu), (1, 3));
        assert_eq!(nov.net_npcu, -1);
        // 2025-11: u2 (2) and u4 (3) new, u3 expired.
        assert_eq!(nov.new_certifications_year_before, 2);
        assert_eq!(nov.expirations_year_before, 1);
        assert_eq!(nov.net_npcu_year_before, 2);
        assert_eq!(nov.new_certifications_yoy_pct, Some(-50));
        let dec = &out[1];
        assert_eq!((dec.new_certifications, dec.expirations), (1, 0));
        assert_eq!(dec.new_certifications_yoy_pct, None);
    }

    #[test]
    fn recent_and_popular() {
        let now = at(2026, 12, 2);
        let s = PartnerSummary {
            partner_id: "p1".into(),
            ..Default::default()
        };
        let rows = [
            cert("u1", "a", 2, at(2026, 11, 30), 24),
            cert("u2", "a", 2, at(2026, 10, 1), 24),
            cert("u1", "b", 1, at(2026, 11, 20), 24),
        ];
        let recent = recent_certifications(rows.iter().map(|r| (&s, r)), now, 30);
        let got: Vec<(&str, &str)> = recent
            .iter()
            .map(|r| (r.user_id.as_str(), r.course_id.as_str()))
            .collect();
        assert_eq!(got, [("u1", "a"), ("u1", "b")]);
        let pop = popular_courses(rows.iter().map(|r| ("p1", r)), now);
        assert_eq!(pop[0].course_id, "a");
        assert_eq!((pop[0].completions, pop[0].distinct_users), (2, 2));
        assert_eq!(pop[0].active_npcu, 4);
        assert_eq!(pop[1].completions, 1);
    }
}
