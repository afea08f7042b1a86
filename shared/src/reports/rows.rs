//! Rows of each report. All-partner reports are built from
//! [`PartnerSummary`] + its [`SummaryView`] at `now` only (never from
//! enrollments), so they cost one index Query whatever the data size.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::table::ReportRow;
use crate::model::{
    CertRow, CertStatus, Contact, LmsUser, Partner, PartnerSummary, Standing, SummaryView, Tier,
    TierRequirements,
};

/// A partner summary with its numbers at the report instant.
#[derive(Debug, Clone)]
pub struct Scored<'a> {
    pub summary: &'a PartnerSummary,
    pub view: SummaryView,
}

/// Views of the tracked partners among `summaries` at `now` (untracked
/// partners — excluded by the sync filters or gone from the CRM — are kept
/// in the table for history but are not part of the program's reports).
pub fn score<'a>(
    summaries: impl IntoIterator<Item = &'a PartnerSummary>,
    now: DateTime<Utc>,
    warning_days: u32,
    tiers: &TierRequirements,
) -> Vec<Scored<'a>> {
    summaries
        .into_iter()
        .filter(|s| s.tracked)
        .map(|s| Scored {
            summary: s,
            view: s.view(now, warning_days, tiers),
        })
        .collect()
}

/// One partner with its numbers (gaps, partners without groups).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartnerRow {
    pub partner_id: String,
    pub name: String,
    pub tier: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
    pub lms_group_id: Option<String>,
    pub lms_group_name: Option<String>,
    pub user_count: u32,
    pub certified_users: u32,
    pub certifications: u32,
    pub expiring: u32,
    pub npcu: u32,
    /// `None` (an empty cell) when the tier has no configured requirement.
    pub required_npcu: Option<u32>,
    /// `None` when the tier has no configured requirement.
    pub gap: Option<u32>,
    /// True only when a configured requirement is met.
    pub meets_requirement: bool,
    /// "met", "below" or "tier not configured".
    pub standing: Standing,
}

impl ReportRow for PartnerRow {
    const COLUMNS: &'static [&'static str] = &[
        "partner_id",
        "name",
        "tier",
        "region",
        "country",
        "owner_name",
        "owner_email",
        "lms_group_id",
        "lms_group_name",
        "user_count",
        "certified_users",
        "certifications",
        "expiring",
        "npcu",
        "required_npcu",
        "gap",
        "meets_requirement",
        "standing",
    ];
}

pub fn partner_row(s: &Scored<'_>) -> PartnerRow {
    let p = s.summary;
    PartnerRow {
        partner_id: p.partner_id.clone(),
        name: p.name.clone(),
        tier: p.tier.as_ref().map(Tier::to_string),
        region: p.region.clone(),
        country: p.country.clone(),
        owner_name: p.owner_name.clone(),
        owner_email: p.owner_email.clone(),
        lms_group_id: p.lms_group_id.clone(),
        lms_group_name: p.lms_group_name.clone(),
        user_count: p.user_count,
        certified_users: s.view.certified_users,
        certifications: s.view.certifications,
        expiring: s.view.expiring,
        npcu: s.view.npcu,
        required_npcu: configured(&s.view, s.view.required_npcu),
        gap: configured(&s.view, s.view.gap),
        meets_requirement: s.view.meets_requirement,
        standing: s.view.standing,
    }
}

/// `value` when the partner's tier has a configured requirement: a row
/// shows no required NPCU and no gap for a tier nothing is configured for
/// (rather than a 0 that reads as "nothing required").
fn configured(v: &SummaryView, value: u32) -> Option<u32> {
    (v.standing != Standing::TierNotConfigured).then_some(value)
}

fn by_name(a: &PartnerRow, b: &PartnerRow) -> std::cmp::Ordering {
    a.name
        .to_lowercase()
        .cmp(&b.name.to_lowercase())
        .then_with(|| a.partner_id.cmp(&b.partner_id))
}

/// Leaderboard line: a partner and its rank by NPCU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaderboardRow {
    /// Competition rank among the rows shown (ties share a rank: 1, 2, 2, 4).
    pub rank: u32,
    #[serde(flatten)]
    pub partner: PartnerRow,
}

impl ReportRow for LeaderboardRow {
    const COLUMNS: &'static [&'static str] = &[
        "rank",
        "partner_id",
        "name",
        "tier",
        "region",
        "country",
        "owner_name",
        "owner_email",
        "lms_group_id",
        "lms_group_name",
        "user_count",
        "certified_users",
        "certifications",
        "expiring",
        "npcu",
        "required_npcu",
        "gap",
        "meets_requirement",
        "standing",
    ];
}

/// Partners by NPCU, highest first (ties by name), ranked.
pub fn leaderboard(scored: &[Scored<'_>]) -> Vec<LeaderboardRow> {
    let mut rows: Vec<PartnerRow> = scored.iter().map(partner_row).collect();
    rows.sort_by(|a, b| b.npcu.cmp(&a.npcu).then_with(|| by_name(a, b)));
    let mut out = Vec::with_capacity(rows.len());
    let mut rank = 0;
    let mut prev: Option<u32> = None;
    for (i, r) in rows.into_iter().enumerate() {
        if prev != Some(r.npcu) {
            rank = i as u32 + 1;
            prev = Some(r.npcu);
        }
        out.push(LeaderboardRow { rank, partner: r });
    }
    out
}

/// Partners below their tier requirement, largest shortfall first, then
/// the partners whose tier has no configured requirement ("tier not
/// configured": they cannot be said to meet it, so they are listed, after
/// the real gaps).
pub fn gaps(scored: &[Scored<'_>]) -> Vec<PartnerRow> {
    let mut rows: Vec<PartnerRow> = scored
        .iter()
        .filter(|s| s.view.standing != Standing::Met)
        .map(partner_row)
        .collect();
    // `None` (not configured) sorts below every shortfall.
    rows.sort_by(|a, b| b.gap.cmp(&a.gap).then_with(|| by_name(a, b)));
    rows
}

/// Partners without an LMS group (their staff cannot be counted).
pub fn without_groups(scored: &[Scored<'_>]) -> Vec<PartnerRow> {
    let mut rows: Vec<PartnerRow> = scored
        .iter()
        .filter(|s| {
            s.summary
                .lms_group_id
                .as_deref()
                .is_none_or(|g| g.trim().is_empty())
        })
        .map(partner_row)
        .collect();
    rows.sort_by(by_name);
    rows
}

/// The program in numbers (one row).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverviewRow {
    pub active_partners: u32,
    pub total_npcu: u32,
    pub certified_users: u32,
    pub certifications: u32,
    /// Certifications / active partners, rounded to 2 decimals (0 when
    /// there are no partners).
    pub avg_certifications_per_partner: f64,
    pub partners_meeting_tier: u32,
    pub partners_below_tier: u32,
    /// Partners whose tier has no configured requirement (neither meeting
    /// nor below).
    pub partners_tier_not_configured: u32,
    pub expiring: u32,
}

impl ReportRow for OverviewRow {
    const COLUMNS: &'static [&'static str] = &[
        "active_partners",
        "total_npcu",
        "certified_users",
        "certifications",
        "avg_certifications_per_partner",
        "partners_meeting_tier",
        "partners_below_tier",
        "partners_tier_not_configured",
        "expiring",
    ];
}

pub fn overview(scored: &[Scored<'_>]) -> OverviewRow {
    let n = scored.len() as u32;
    let sum = |f: fn(&SummaryView) -> u32| scored.iter().map(|s| f(&s.view)).sum::<u32>();
    let certifications = sum(|v| v.certifications);
    let count = |st: Standing| scored.iter().filter(|s| s.view.standing == st).count() as u32;
    OverviewRow {
        active_partners: n,
        total_npcu: sum(|v| v.npcu),
        certified_users: sum(|v| v.certified_users),
        certifications,
        avg_certifications_per_partner: if n == 0 {
            0.0
        } else {
            (f64::from(certifications) / f64::from(n) * 100.0).round() / 100.0
        },
        partners_meeting_tier: count(Standing::Met),
        partners_below_tier: count(Standing::Below),
        partners_tier_not_configured: count(Standing::TierNotConfigured),
        expiring: sum(|v| v.expiring),
    }
}

/// Owner report line: PAM → partner with its standing and portal link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OwnerRow {
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
    pub partner_id: String,
    pub name: String,
    pub tier: Option<String>,
    pub region: Option<String>,
    pub npcu: u32,
    pub required_npcu: Option<u32>,
    pub gap: Option<u32>,
    pub meets_requirement: bool,
    pub standing: Standing,
    /// `None` when the partner has no link yet (the sync creates them).
    pub portal_link: Option<String>,
}

impl ReportRow for OwnerRow {
    const COLUMNS: &'static [&'static str] = &[
        "owner_name",
        "owner_email",
        "partner_id",
        "name",
        "tier",
        "region",
        "npcu",
        "required_npcu",
        "gap",
        "meets_requirement",
        "standing",
        "portal_link",
    ];
}

/// Every partner under its PAM, ordered by PAM then partner name.
pub fn owners(scored: &[Scored<'_>], link: impl Fn(&str) -> Option<String>) -> Vec<OwnerRow> {
    let mut rows: Vec<OwnerRow> = scored
        .iter()
        .map(|s| {
            let p = s.summary;
            OwnerRow {
                owner_name: p.owner_name.clone(),
                owner_email: p.owner_email.clone(),
                partner_id: p.partner_id.clone(),
                name: p.name.clone(),
                tier: p.tier.as_ref().map(Tier::to_string),
                region: p.region.clone(),
                npcu: s.view.npcu,
                required_npcu: configured(&s.view, s.view.required_npcu),
                gap: configured(&s.view, s.view.gap),
                meets_requirement: s.view.meets_requirement,
                standing: s.view.standing,
                portal_link: link(&p.partner_id),
            }
        })
        .collect();
    let key = |r: &OwnerRow| {
        (
            r.owner_name.is_none(),
            r.owner_name.as_deref().unwrap_or("").to_lowercase(),
            r.owner_email.clone().unwrap_or_default(),
            r.name.to_lowercase(),
            r.partner_id.clone(),
        )
    };
    rows.sort_by_key(key);
    rows
}

/// One user × course record with its status (user certifications report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserCertRow {
    pub partner_id: String,
    pub partner_name: String,
    pub tier: Option<String>,
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    pub course_id: String,
    pub course_name: String,
    pub category: Option<String>,
    pub npcu: u32,
    pub status: CertStatus,
    pub completed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub source: String,
}

impl ReportRow for UserCertRow {
    const COLUMNS: &'static [&'static str] = &[
        "partner_id",
        "partner_name",
        "tier",
        "user_id",
        "user_name",
        "email",
        "course_id",
        "course_name",
        "category",
        "npcu",
        "status",
        "completed_at",
        "expires_at",
        "source",
    ];
}

/// Filters of the user certifications report.
#[derive(Debug, Clone, Default)]
pub struct CertFilter<'a> {
    pub status: Option<CertStatus>,
    /// Course id or name, case-insensitive.
    pub course: Option<&'a str>,
    pub category: Option<&'a str>,
}

impl CertFilter<'_> {
    pub fn matches(&self, row: &CertRow, status: CertStatus) -> bool {
        let eq = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        self.status.is_none_or(|s| s == status)
            && self
                .course
                .is_none_or(|c| eq(&row.course_id, c) || eq(&row.course_name, c))
            && self
                .category
                .is_none_or(|c| row.category.as_deref().is_some_and(|x| eq(x, c)))
    }
}

/// Rows of one partner's certification records that pass `filter`.
pub fn user_cert_rows(
    partner: &PartnerSummary,
    certs: &[CertRow],
    filter: &CertFilter<'_>,
    now: DateTime<Utc>,
    warning_days: u32,
) -> Vec<UserCertRow> {
    certs
        .iter()
        .filter_map(|c| {
            let status = c.status(now, warning_days);
            filter.matches(c, status).then(|| UserCertRow {
                partner_id: partner.partner_id.clone(),
                partner_name: partner.name.clone(),
                tier: partner.tier.as_ref().map(Tier::to_string),
                user_id: c.user_id.clone(),
                user_name: c.user_name.clone(),
                email: c.email.clone(),
                course_id: c.course_id.clone(),
                course_name: c.course_name.clone(),
                category: c.category.clone(),
                npcu: u32::from(c.npcu),
                status,
                completed_at: c.completed_at,
                expires_at: c.expires_at,
                source: match c.source {
                    crate::model::RecordSource::Lms => "lms".into(),
                    crate::model::RecordSource::Manual => "manual".into(),
                },
            })
        })
        .collect()
}

/// Default order of the user certifications report.
pub fn sort_user_certs(rows: &mut [UserCertRow]) {
    rows.sort_by_key(|r| {
        (
            r.partner_name.to_lowercase(),
            r.user_name.to_lowercase(),
            r.course_name.to_lowercase(),
            r.user_id.clone(),
            r.course_id.clone(),
        )
    });
}

/// A certification expiring soon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpiringRow {
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
    /// Whole days left (rounded down).
    pub days_left: i64,
}

impl ReportRow for ExpiringRow {
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
        "days_left",
    ];
}

/// Completed certifications of `partner` expiring in `(now, now + days]`
/// — the same inclusive window as the `expiring` status — soonest first.
/// `rows` may come from the expiry index (which is month-bucketed, so it
/// can return more than the window); this filters exactly.
pub fn expiring_rows<'a>(
    rows: impl IntoIterator<Item = (&'a PartnerSummary, &'a CertRow)>,
    now: DateTime<Utc>,
    days: u32,
) -> Vec<ExpiringRow> {
    let until = now + chrono::Duration::days(i64::from(days));
    let mut out: Vec<ExpiringRow> = rows
        .into_iter()
        .filter(|(_, c)| c.progress == crate::model::ProgressStatus::Completed)
        .filter(|(_, c)| c.expires_at.is_some_and(|e| e > now && e <= until))
        .map(|(p, c)| ExpiringRow {
            partner_id: p.partner_id.clone(),
            partner_name: p.name.clone(),
            tier: p.tier.as_ref().map(Tier::to_string),
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
            days_left: c.expires_at.map(|e| (e - now).num_days()).unwrap_or(0),
        })
        .collect();
    out.sort_by_key(|r| {
        (
            r.expires_at,
            r.partner_name.to_lowercase(),
            r.user_id.clone(),
        )
    });
    out
}

/// A CRM contact without an LMS account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactRow {
    pub contact_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub partner_id: String,
    pub name: String,
    pub tier: Option<String>,
    pub region: Option<String>,
    pub owner_email: Option<String>,
    pub npcu: u32,
    /// `None` when the tier has no configured requirement.
    pub required_npcu: Option<u32>,
}

impl ReportRow for ContactRow {
    const COLUMNS: &'static [&'static str] = &[
        "contact_id",
        "email",
        "first_name",
        "last_name",
        "title",
        "partner_id",
        "name",
        "tier",
        "region",
        "owner_email",
        "npcu",
        "required_npcu",
    ];
}

/// Active contacts of the scored (tracked, visible) partners that have no
/// LMS user, by partner then e-mail.
pub fn contacts_not_in_lms(contacts: &[Contact], scored: &[Scored<'_>]) -> Vec<ContactRow> {
    let by_id: HashMap<&str, &Scored<'_>> = scored
        .iter()
        .map(|s| (s.summary.partner_id.as_str(), s))
        .collect();
    let mut rows: Vec<ContactRow> = contacts
        .iter()
        .filter(|c| c.active && c.lms_user_id.is_none())
        .filter_map(|c| {
            let s = by_id.get(c.account_id.as_deref()?)?;
            Some(ContactRow {
                contact_id: c.id.clone(),
                email: c.email.clone(),
                first_name: c.first_name.clone(),
                last_name: c.last_name.clone(),
                title: c.title.clone(),
                partner_id: s.summary.partner_id.clone(),
                name: s.summary.name.clone(),
                tier: s.summary.tier.as_ref().map(Tier::to_string),
                region: s.summary.region.clone(),
                owner_email: s.summary.owner_email.clone(),
                npcu: s.view.npcu,
                required_npcu: configured(&s.view, s.view.required_npcu),
            })
        })
        .collect();
    rows.sort_by_key(|r| (r.name.to_lowercase(), r.email.to_lowercase()));
    rows
}

/// An LMS user that belongs to no partner, with a guess of which.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrphanRow {
    pub user_id: String,
    pub email: String,
    pub user_name: String,
    pub created_at: Option<DateTime<Utc>>,
    pub last_active_at: Option<DateTime<Utc>>,
    pub suggested_partner_id: Option<String>,
    pub suggested_partner_name: Option<String>,
}

impl ReportRow for OrphanRow {
    const COLUMNS: &'static [&'static str] = &[
        "user_id",
        "email",
        "user_name",
        "created_at",
        "last_active_at",
        "suggested_partner_id",
        "suggested_partner_name",
    ];
}

/// Lower-cased domain of an e-mail address.
pub(crate) fn email_domain(email: &str) -> Option<String> {
    let d = email.trim().rsplit_once('@')?.1.trim().to_lowercase();
    (!d.is_empty()).then_some(d)
}

/// Lower-cased host of a website without `www.`.
pub(crate) fn website_domain(site: &str) -> Option<String> {
    let s = site.trim().to_lowercase();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(&s);
    let host = s.split(['/', ':', '?']).next()?.trim();
    let host = host.strip_prefix("www.").unwrap_or(host);
    (!host.is_empty() && host.contains('.')).then(|| host.to_string())
}

/// Active LMS users not in `members` (every user counted by some partner),
/// with a partner suggested by e-mail domain: the partner whose active
/// contacts most often share the domain, else the partner whose website is
/// that domain. Ambiguous ties suggest nothing rather than a coin flip.
pub fn orphans(
    users: &[LmsUser],
    members: &BTreeSet<String>,
    partners: &[Partner],
    contacts: &[Contact],
) -> Vec<OrphanRow> {
    let tracked: HashMap<&str, &Partner> = partners
        .iter()
        .filter(|p| p.tracked)
        .map(|p| (p.id.as_str(), p))
        .collect();
    let mut by_domain: HashMap<String, BTreeMap<&str, u32>> = HashMap::new();
    for c in contacts.iter().filter(|c| c.active) {
        if let (Some(d), Some(pid)) = (email_domain(&c.email), c.account_id.as_deref()) {
            if tracked.contains_key(pid) {
                *by_domain.entry(d).or_default().entry(pid).or_default() += 1;
            }
        }
    }
    let mut by_site: HashMap<String, Vec<&str>> = HashMap::new();
    for p in tracked.values() {
        if let Some(d) = p.website.as_deref().and_then(website_domain) {
            by_site.entry(d).or_default().push(p.id.as_str());
        }
    }
    let suggest = |email: &str| -> Option<&Partner> {
        let d = email_domain(email)?;
        if let Some(counts) = by_domain.get(&d) {
            let best = counts.values().max()?;
            let top: Vec<&&str> = counts
                .iter()
                .filter(|(_, n)| *n == best)
                .map(|(p, _)| p)
                .collect();
            return (top.len() == 1).then(|| tracked[*top[0]]);
        }
        match by_site.get(&d).map(Vec::as_slice) {
            Some([one]) => Some(tracked[one]),
            _ => None,
        }
    };
    let mut rows: Vec<OrphanRow> = users
        .iter()
        .filter(|u| u.is_active() && !members.contains(&u.id))
        .map(|u| {
            let s = suggest(&u.email);
            OrphanRow {
                user_id: u.id.clone(),
                email: u.email.clone(),
                user_name: u.display_name(),
                created_at: u.created_at,
                last_active_at: u.last_active_at,
                suggested_partner_id: s.map(|p| p.id.clone()),
                suggested_partner_name: s.map(|p| p.name.clone()),
            }
        })
        .collect();
    rows.sort_by_key(|r| (r.email.to_lowercase(), r.user_id.clone()));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SummaryCert, Tier};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    }

    fn summary(id: &str, name: &str, tier: Tier, npcu: &[u8]) -> PartnerSummary {
        summary_expiring(id, name, tier, npcu, now() + chrono::Duration::days(365))
    }

    fn summary_expiring(
        id: &str,
        name: &str,
        tier: Tier,
        npcu: &[u8],
        expires_at: DateTime<Utc>,
    ) -> PartnerSummary {
        let mut s = PartnerSummary {
            partner_id: id.into(),
            name: name.into(),
            tier: Some(tier),
            tracked: true,
            lms_group_id: Some(format!("g{id}")),
            computed_at: now(),
            ..Default::default()
        };
        let certs: Vec<SummaryCert> = npcu
            .iter()
            .enumerate()
            .map(|(i, n)| SummaryCert {
                user_id: format!("u{id}{i}"),
                course_id: format!("c{i}"),
                npcu: *n,
                expires_at: Some(expires_at),
                ..Default::default()
            })
            .collect();
        crate::rules::summary::count_certs(&mut s, &certs);
        s
    }

    #[test]
    fn every_row_type_serialises_exactly_its_columns() {
        fn check<T: ReportRow>(row: T) {
            let cells = row.cells();
            let mut keys: Vec<&str> = cells.keys().map(String::as_str).collect();
            let mut cols = T::COLUMNS.to_vec();
            keys.sort();
            cols.sort();
            assert_eq!(keys, cols);
        }
        let s = [summary("1", "A", Tier::Select, &[2])];
        let sc = score(&s, now(), 90, &TierRequirements::default());
        check(partner_row(&sc[0]));
        check(leaderboard(&sc).remove(0));
        check(overview(&sc));
        check(owners(&sc, |_| None).remove(0));
        let cert = CertRow::default();
        check(user_cert_rows(&s[0], &[cert], &CertFilter::default(), now(), 90).remove(0));
        let c = CertRow {
            progress: crate::model::ProgressStatus::Completed,
            expires_at: Some(now() + chrono::Duration::days(3)),
            ..Default::default()
        };
        check(expiring_rows([(&s[0], &c)], now(), 90).remove(0));
        let contact = Contact {
            id: "k".into(),
            active: true,
            account_id: Some("1".into()),
            ..Default::default()
        };
        check(contacts_not_in_lms(&[contact], &sc).remove(0));
        let u = LmsUser {
            id: "x".into(),
            ..Default::default()
        };
        check(orphans(&[u], &BTreeSet::new(), &[], &[]).remove(0));
    }

    #[test]
    fn leaderboard_ranks_ties_and_gaps_sort_by_shortfall() {
        let s = [
            summary("1", "Beta", Tier::Premier, &[2, 2]),
            summary("2", "alpha", Tier::Select, &[2, 2]),
            summary("3", "Gamma", Tier::Registered, &[1]),
            summary("4", "Delta", Tier::Certified, &[2, 2, 2]),
        ];
        let sc = score(&s, now(), 90, &TierRequirements::default());
        let lb = leaderboard(&sc);
        let got: Vec<(u32, &str, u32)> = lb
            .iter()
            .map(|r| (r.rank, r.partner.name.as_str(), r.partner.npcu))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "Delta", 6),
                (2, "alpha", 4),
                (2, "Beta", 4),
                (4, "Gamma", 1)
            ]
        );
        let g = gaps(&sc);
        let got: Vec<(&str, Option<u32>)> = g.iter().map(|r| (r.name.as_str(), r.gap)).collect();
        assert_eq!(
            got,
            vec![("Beta", Some(16)), ("alpha", Some(6)), ("Gamma", Some(4))]
        );
        let o = overview(&sc);
        assert_eq!(o.active_partners, 4);
        assert_eq!(o.total_npcu, 15);
        assert_eq!(o.certifications, 8);
        assert_eq!(o.avg_certifications_per_partner, 2.0);
        assert_eq!(o.partners_meeting_tier, 1);
        assert_eq!(o.partners_below_tier, 3);
        assert_eq!(o.partners_tier_not_configured, 0);
    }

    #[test]
    fn unconfigured_tier_is_reported_as_such_never_as_met() {
        let tier = |t: &str| Tier::parse(t).unwrap();
        let s = [
            summary("1", "Plus", tier("premier plus"), &[2, 2]),
            summary("2", "Dist", tier("Distributor"), &[2, 2, 2]),
            summary("3", "Sel", Tier::Select, &[2]),
            summary("4", "Cert", Tier::Certified, &[]),
        ];
        let sc = score(&s, now(), 90, &TierRequirements::default());
        let lb = leaderboard(&sc);
        let by_name = |n: &str| lb.iter().find(|r| r.partner.name == n).unwrap();
        let dist = &by_name("Dist").partner;
        assert_eq!(dist.standing, Standing::TierNotConfigured);
        assert!(!dist.meets_requirement);
        assert_eq!((dist.required_npcu, dist.gap), (None, None));
        assert_eq!(dist.tier.as_deref(), Some("Distributor"));
        let plus = &by_name("Plus").partner;
        assert_eq!(plus.tier.as_deref(), Some("premier plus"), "the CRM's text");
        assert_eq!((plus.required_npcu, plus.gap), (Some(20), Some(16)));
        assert_eq!(plus.standing, Standing::Below);
        assert_eq!(by_name("Cert").partner.standing, Standing::Met);

        // Gaps: the real shortfalls first, then the unconfigured tier.
        let g = gaps(&sc);
        let g: Vec<(&str, Standing)> = g.iter().map(|r| (r.name.as_str(), r.standing)).collect();
        assert_eq!(
            g,
            vec![
                ("Plus", Standing::Below),
                ("Sel", Standing::Below),
                ("Dist", Standing::TierNotConfigured)
            ]
        );
        let o = overview(&sc);
        assert_eq!(
            (
                o.partners_meeting_tier,
                o.partners_below_tier,
                o.partners_tier_not_configured
            ),
            (1, 2, 1)
        );
        let cells = partner_row(&sc[1]).cells();
        assert_eq!(cells["standing"], serde_json::json!("tier not configured"));
        assert_eq!(cells["required_npcu"], serde_json::Value::Null);

        // Configuring the tier is enough: no code knows "Distributor".
        let mut tiers = TierRequirements::default();
        tiers.by_tier.insert(tier("DISTRIBUTOR"), 6);
        let sc = score(&s, now(), 90, &tiers);
        let o = overview(&sc);
        assert_eq!(o.partners_tier_not_configured, 0);
        assert_eq!(o.partners_meeting_tier, 2);
    }

    #[test]
    fn untracked_partners_are_left_out_and_expired_certs_do_not_count() {
        let a = summary_expiring("1", "A", Tier::Select, &[2], now());
        let mut b = summary("2", "B", Tier::Select, &[2]);
        b.tracked = false;
        let s = [a, b];
        let sc = score(&s, now(), 90, &TierRequirements::default());
        assert_eq!(sc.len(), 1);
        assert_eq!(sc[0].view.npcu, 0);
    }

    #[test]
    fn orphan_suggestions_by_contact_domain_then_website() {
        let partners = vec![
            Partner {
                id: "p1".into(),
                name: "Acme".into(),
                tracked: true,
                website: Some("https://www.acme.com/about".into()),
                ..Default::default()
            },
            Partner {
                id: "p2".into(),
                name: "Bolt".into(),
                tracked: true,
                ..Default::default()
            },
        ];
        let contacts = vec![Contact {
            id: "c".into(),
            email: "x@bolt.io".into(),
            active: true,
            account_id: Some("p2".into()),
            ..Default::default()
        }];
        let users: Vec<LmsUser> = ["a@acme.com", "b@BOLT.io", "c@gmail.com", "m@acme.com"]
            .iter()
            .enumerate()
            .map(|(i, e)| LmsUser {
                id: format!("u{i}"),
                email: e.to_string(),
                ..Default::default()
            })
            .collect();
        let members = BTreeSet::from(["u3".to_string()]);
        let rows = orphans(&users, &members, &partners, &contacts);
        let got: Vec<(&str, Option<&str>)> = rows
            .iter()
            .map(|r| (r.user_id.as_str(), r.suggested_partner_id.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![("u0", Some("p1")), ("u1", Some("p2")), ("u2", None)]
        );
    }

    #[test]
    fn expiring_window_is_exact_and_inclusive() {
        let s = summary("1", "A", Tier::Select, &[]);
        let mk = |d: i64, done: bool| CertRow {
            user_id: format!("u{d}"),
            progress: if done {
                crate::model::ProgressStatus::Completed
            } else {
                crate::model::ProgressStatus::InProgress
            },
            expires_at: Some(now() + chrono::Duration::days(d)),
            ..Default::default()
        };
        let certs = [
            mk(0, true),
            mk(30, true),
            mk(31, true),
            mk(10, false),
            mk(5, true),
        ];
        let rows = expiring_rows(certs.iter().map(|c| (&s, c)), now(), 30);
        let got: Vec<i64> = rows.iter().map(|r| r.days_left).collect();
        assert_eq!(got, vec![5, 30]);
    }
}
