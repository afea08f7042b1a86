//! One partner's dashboard at an instant: the numbers come from its
//! summary (same as every report, so the dashboard never disagrees with
//! the leaderboard), the lines from its certification rows. The JSON route
//! and the HTML page serialise the same [`DashboardView`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{
    CertRow, CertStatus, OrgCertification, Partner, PartnerSummary, Standing, SummaryView, Tier,
    TierRequirements, UNCATEGORIZED,
};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DashboardView {
    pub partner_id: String,
    pub name: String,
    pub tier: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
    pub npcu: u32,
    /// `None` when the partner's tier has no configured requirement.
    pub required_npcu: Option<u32>,
    /// `None` when the partner's tier has no configured requirement.
    pub gap: Option<u32>,
    /// True only when a configured requirement is met.
    pub meets_requirement: bool,
    /// "met", "below" or "tier not configured" (the page then says so
    /// instead of showing a requirement).
    pub standing: Standing,
    /// NPCU as a share of the requirement, 0–100 (100 when nothing is
    /// required, 0 when no requirement is configured), for the progress bar.
    pub progress_percent: u32,
    pub certified_users: u32,
    pub certifications: u32,
    pub expiring: u32,
    /// Product categories, alphabetical with "Uncategorized" last.
    pub categories: Vec<CategoryBlock>,
    /// The partner's certification lines in all (from its summary) and on
    /// this page: the lines are read a page at a time, so a partner of any
    /// size renders.
    pub rows_total: u32,
    pub rows_shown: u32,
    /// `?cursor=` of the next page of lines; `None` on the last page.
    pub next_cursor: Option<String>,
    pub org_certifications: Vec<OrgCertLine>,
    /// When the summary was computed by the sync (`None`: never).
    pub computed_at: Option<DateTime<Utc>>,
    pub generated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryBlock {
    pub category: String,
    /// Distinct users with a counted certification in the category.
    pub users: u32,
    pub npcu: u32,
    pub certifications: u32,
    /// The records of the category (any status) on this page of lines.
    pub rows: Vec<CertLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertLine {
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    pub course_id: String,
    pub course_name: String,
    pub npcu: u32,
    pub status: CertStatus,
    pub expiring: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Dates as `YYYY-MM-DD` for display.
    pub completed_on: Option<String>,
    pub expires_on: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrgCertLine {
    pub id: String,
    pub name: String,
    pub category: Option<String>,
    pub npcu: u32,
    pub status: CertStatus,
    pub starts_on: String,
    pub ends_on: String,
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Category sort key: alphabetical, case-insensitive, "Uncategorized" last.
fn category_key(c: &str) -> (bool, String) {
    (c == UNCATEGORIZED, c.to_lowercase())
}

/// The dashboard of one partner, or `None` when neither its profile nor
/// its summary exists (unknown partner). `certs` may be one page of the
/// partner's rows (the numbers come from the summary either way); the
/// caller sets `next_cursor`.
pub fn build(
    profile: Option<&Partner>,
    summary: Option<&PartnerSummary>,
    certs: &[CertRow],
    org_certs: &[OrgCertification],
    now: DateTime<Utc>,
    warning_days: u32,
    tiers: &TierRequirements,
) -> Option<DashboardView> {
    // The profile is the fresher source of identity fields (written by the
    // CRM sync); the summary may lag until the next recompute.
    let fallback;
    let summary = match summary {
        Some(s) => s,
        None => {
            let p = profile?;
            fallback = PartnerSummary {
                partner_id: p.id.clone(),
                name: p.name.clone(),
                tier: p.tier.clone(),
                computed_at: now,
                ..Default::default()
            };
            &fallback
        }
    };
    let view: SummaryView = summary.view(now, warning_days, tiers);
    let pick = |p: Option<&Option<String>>, s: &Option<String>| p.cloned().flatten().or(s.clone());

    let mut blocks: BTreeMap<(bool, String), CategoryBlock> = BTreeMap::new();
    for (cat, t) in &view.by_category {
        blocks.insert(
            category_key(cat),
            CategoryBlock {
                category: cat.clone(),
                users: t.users,
                npcu: t.npcu,
                certifications: t.certifications,
                rows: Vec::new(),
            },
        );
    }
    let mut lines: Vec<&CertRow> = certs.iter().collect();
    lines.sort_by_key(|c| {
        (
            c.user_name.to_lowercase(),
            c.course_name.to_lowercase(),
            c.user_id.clone(),
            c.course_id.clone(),
        )
    });
    for c in lines {
        let cat = c.category.clone().unwrap_or_else(|| UNCATEGORIZED.into());
        let status = c.status(now, warning_days);
        blocks
            .entry(category_key(&cat))
            .or_insert_with(|| CategoryBlock {
                category: cat.clone(),
                users: 0,
                npcu: 0,
                certifications: 0,
                rows: Vec::new(),
            })
            .rows
            .push(CertLine {
                user_id: c.user_id.clone(),
                user_name: c.user_name.clone(),
                email: c.email.clone(),
                course_id: c.course_id.clone(),
                course_name: c.course_name.clone(),
                npcu: u32::from(c.npcu),
                status,
                expiring: status == CertStatus::Expiring,
                completed_at: c.completed_at,
                expires_at: c.expires_at,
                completed_on: c.completed_at.map(day),
                expires_on: c.expires_at.map(day),
            });
    }
    let mut orgs: Vec<OrgCertLine> = org_certs
        .iter()
        .map(|o| OrgCertLine {
            id: o.id.clone(),
            name: o.name.clone(),
            category: o.category.clone(),
            npcu: u32::from(o.npcu),
            status: if o.starts_at > now {
                CertStatus::Enrolled
            } else {
                crate::rules::status::expiry_status(o.ends_at, now, warning_days)
            },
            starts_on: day(o.starts_at),
            ends_on: day(o.ends_at),
        })
        .collect();
    orgs.sort_by_key(|o| o.name.to_lowercase());

    let configured = view.standing != Standing::TierNotConfigured;
    let progress_percent = if !configured {
        0
    } else if view.required_npcu == 0 {
        100
    } else {
        (u64::from(view.npcu) * 100 / u64::from(view.required_npcu)).min(100) as u32
    };
    Some(DashboardView {
        partner_id: summary.partner_id.clone(),
        name: profile.map_or_else(|| summary.name.clone(), |p| p.name.clone()),
        tier: profile
            .map_or(summary.tier.as_ref(), |p| p.tier.as_ref())
            .map(Tier::to_string),
        region: pick(profile.map(|p| &p.region), &summary.region),
        country: pick(profile.map(|p| &p.country), &summary.country),
        owner_name: pick(profile.map(|p| &p.owner_name), &summary.owner_name),
        owner_email: pick(profile.map(|p| &p.owner_email), &summary.owner_email),
        npcu: view.npcu,
        required_npcu: configured.then_some(view.required_npcu),
        gap: configured.then_some(view.gap),
        meets_requirement: view.meets_requirement,
        standing: view.standing,
        progress_percent,
        certified_users: view.certified_users,
        certifications: view.certifications,
        expiring: view.expiring,
        categories: blocks.into_values().collect(),
        rows_total: crate::rules::summary::row_count(summary)
            .max(u32::try_from(certs.len()).unwrap_or(u32::MAX)),
        rows_shown: u32::try_from(certs.len()).unwrap_or(u32::MAX),
        next_cursor: None,
        org_certifications: orgs,
        computed_at: summary_computed(
            summary,
            profile.is_some() && summary.counts.is_empty() && summary.legacy_certs.is_empty(),
        ),
        generated_at: now,
    })
}

/// A fallback summary (built here from the profile) has no real compute
/// time; report `None` rather than pretending it was synced now.
fn summary_computed(s: &PartnerSummary, maybe_fallback: bool) -> Option<DateTime<Utc>> {
    if maybe_fallback && s.user_count == 0 && s.org_certs.is_empty() && s.lms_group_id.is_none() {
        None
    } else {
        Some(s.computed_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ProgressStatus, SummaryCert, Tier};
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    }

    fn row(user: &str, course: &str, cat: Option<&str>, npcu: u8, exp_days: i64) -> CertRow {
        CertRow {
            user_id: user.into(),
            user_name: user.to_uppercase(),
            course_id: course.into(),
            course_name: course.into(),
            category: cat.map(str::to_string),
            npcu,
            progress: ProgressStatus::Completed,
            completed_at: Some(now() - Duration::days(100)),
            expires_at: Some(now() + Duration::days(exp_days)),
            ..Default::default()
        }
    }

    #[test]
    fn numbers_from_summary_lines_grouped_by_category() {
        let rows = vec![
            row("u1", "K2 Basics", Some("K2"), 1, 400),
            row("u2", "K2 Pro", Some("K2"), 2, 30),
            row("u1", "RPA", None, 2, -5),
        ];
        let mut summary = PartnerSummary {
            partner_id: "P".into(),
            name: "Acme".into(),
            tier: Some(Tier::Registered),
            tracked: true,
            computed_at: now(),
            rows_by_progress: [("completed".to_string(), 3)].into(),
            ..Default::default()
        };
        let facts: Vec<SummaryCert> = rows
            .iter()
            .filter(|r| r.expires_at.unwrap() > now())
            .map(|r| SummaryCert {
                user_id: r.user_id.clone(),
                course_id: r.course_id.clone(),
                category: r.category.clone(),
                npcu: r.npcu,
                completed_at: r.completed_at,
                expires_at: r.expires_at,
            })
            .collect();
        crate::rules::summary::count_certs(&mut summary, &facts);
        let d = build(
            None,
            Some(&summary),
            &rows,
            &[],
            now(),
            90,
            &TierRequirements::default(),
        )
        .unwrap();
        assert_eq!((d.npcu, d.required_npcu, d.gap), (3, Some(5), Some(2)));
        assert_eq!(d.standing, Standing::Below);
        assert!(!d.meets_requirement);
        assert_eq!(d.progress_percent, 60);
        let cats: Vec<(&str, u32, u32, usize)> = d
            .categories
            .iter()
            .map(|c| (c.category.as_str(), c.users, c.npcu, c.rows.len()))
            .collect();
        assert_eq!(cats, vec![("K2", 2, 3, 2), (UNCATEGORIZED, 0, 0, 1)]);
        assert!(d.categories[0].rows[1].expiring);
        assert_eq!(d.categories[1].rows[0].status, CertStatus::Expired);
        assert_eq!(d.expiring, 1);
        assert_eq!((d.rows_total, d.rows_shown, d.next_cursor), (3, 3, None));

        // One page of the lines: the numbers stay the summary's.
        let d = build(
            None,
            Some(&summary),
            &rows[..1],
            &[],
            now(),
            90,
            &TierRequirements::default(),
        )
        .unwrap();
        assert_eq!((d.npcu, d.certified_users), (3, 2));
        assert_eq!((d.rows_total, d.rows_shown), (3, 1));
    }

    #[test]
    fn unknown_partner_is_none_and_profile_only_is_zero() {
        assert!(build(
            None,
            None,
            &[],
            &[],
            now(),
            90,
            &TierRequirements::default()
        )
        .is_none());
        let p = Partner {
            id: "P".into(),
            name: "New".into(),
            tier: Some(Tier::Certified),
            ..Default::default()
        };
        let d = build(
            Some(&p),
            None,
            &[],
            &[],
            now(),
            90,
            &TierRequirements::default(),
        )
        .unwrap();
        assert_eq!(
            (d.npcu, d.required_npcu, d.progress_percent),
            (0, Some(0), 100)
        );
        assert!(d.meets_requirement);
        assert_eq!(d.computed_at, None);
    }

    #[test]
    fn unconfigured_tier_is_not_met_and_shows_no_requirement() {
        let p = Partner {
            id: "P".into(),
            name: "Agg".into(),
            tier: Tier::parse("Distributor"),
            ..Default::default()
        };
        let mut summary = PartnerSummary {
            partner_id: "P".into(),
            tier: p.tier.clone(),
            tracked: true,
            computed_at: now(),
            ..Default::default()
        };
        crate::rules::summary::count_certs(
            &mut summary,
            &[SummaryCert {
                user_id: "u".into(),
                course_id: "c".into(),
                npcu: 2,
                expires_at: Some(now() + Duration::days(300)),
                ..Default::default()
            }],
        );
        let d = build(
            Some(&p),
            Some(&summary),
            &[],
            &[],
            now(),
            90,
            &TierRequirements::default(),
        )
        .unwrap();
        assert_eq!(d.tier.as_deref(), Some("Distributor"));
        assert_eq!(d.standing, Standing::TierNotConfigured);
        assert!(!d.meets_requirement);
        assert_eq!((d.npcu, d.required_npcu, d.gap), (2, None, None));
        assert_eq!(d.progress_percent, 0);
    }
}
