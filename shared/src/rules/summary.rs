//! Per-partner summary: built at sync time from all the partner's data,
//! read by all-partner reports at any later instant.
//!
//! The summary stores *counts by expiry* (per category and expiry bucket,
//! and users by the expiry of their last certification), not totals and not
//! one entry per certification: [`view`] gives the numbers at any later
//! `now` without a re-sync — a certification that expires between two syncs
//! drops out of the totals — and the item's size is bounded by the number
//! of categories × expiry buckets, whatever the partner's size.
//!
//! Buckets ([`expiry_bucket`]) are UTC days: a certification counts until
//! the first midnight at or after its expiry, so at every midnight (and at
//! the instant the summary was computed) the numbers are exactly those of
//! the per-certification rule; between two midnights an expired
//! certification may count until the next one. Expiries more than
//! [`DAY_BUCKETS`] days after the computation are bucketed by month.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, Utc};

use super::expiry::record_expiry;
use super::members::{normalize_email, partner_members};
use super::npcu::{course_index, record_npcu};
use super::renewal::dedup_records;
use super::status::{expiry_status, is_current};
use super::tier::standing;
use crate::model::{
    BucketCount, CategoryMap, CategoryTotals, CertStatus, Contact, Course, Enrollment, LmsGroup,
    LmsUser, ManualAward, Membership, OrgCertification, Partner, PartnerSummary, ProgressStatus,
    SummaryCert, SummaryOrgCert, SummaryView, TierRequirements, UNCATEGORIZED,
};

impl PartnerSummary {
    /// Numbers at `now` ([`view`]): certs expired at `now` are dropped.
    pub fn view(
        &self,
        now: DateTime<Utc>,
        warning_days: u32,
        tiers: &TierRequirements,
    ) -> SummaryView {
        view(self, now, warning_days, tiers)
    }
}

/// Everything known about one partner, borrowed. The slices may contain
/// other partners' rows too (they are filtered), but for speed callers
/// should pass the partner's slice when they have it.
#[derive(Debug, Clone, Copy)]
pub struct PartnerData<'a> {
    pub partner: &'a Partner,
    /// The matched group; when `None`, `partner.lms_group_id` is used.
    pub group: Option<&'a LmsGroup>,
    pub memberships: &'a [Membership],
    pub contacts: &'a [Contact],
    pub users: &'a [LmsUser],
    pub enrollments: &'a [Enrollment],
    pub courses: &'a [Course],
    pub manual_awards: &'a [ManualAward],
    pub org_certs: &'a [OrgCertification],
    pub categories: &'a CategoryMap,
    /// Validity for records whose course is not in `courses`.
    pub default_validity_months: u32,
}

impl<'a> PartnerData<'a> {
    fn group_id(&self) -> Option<&'a str> {
        self.group
            .map(|g| g.id.as_str())
            .or(self.partner.lms_group_id.as_deref())
    }

    /// Member users of the partner, by id (each once).
    pub fn members(&self) -> BTreeMap<&'a str, &'a LmsUser> {
        partner_members(
            self.partner,
            self.group_id(),
            self.memberships,
            self.contacts,
            self.users,
        )
        .into_iter()
        .map(|(id, (u, _))| (id, u))
        .collect()
    }

    /// The members' records — LMS enrollments plus manual awards — with one
    /// record per user × course after renewal. A manual award given by
    /// e-mail is attributed to every member with that e-mail; an award whose
    /// holder is not an LMS member of this partner is not counted here.
    pub fn member_records(&self) -> Vec<Enrollment> {
        let members = self.members();
        member_records(&members, self.enrollments, self.manual_awards)
    }
}

fn member_records(
    members: &BTreeMap<&str, &LmsUser>,
    enrollments: &[Enrollment],
    awards: &[ManualAward],
) -> Vec<Enrollment> {
    let mut by_email: HashMap<String, Vec<&str>> = HashMap::new();
    for (id, u) in members {
        by_email
            .entry(normalize_email(&u.email))
            .or_default()
            .push(id);
    }
    let mut records: Vec<Enrollment> = enrollments
        .iter()
        .filter(|e| members.contains_key(e.user_id.as_str()))
        .cloned()
        .collect();
    for a in awards {
        let holders: Vec<&str> = match (&a.user_id, &a.email) {
            (Some(uid), _) => members
                .get_key_value(uid.as_str())
                .map(|(k, _)| *k)
                .into_iter()
                .collect(),
            (None, Some(email)) => by_email
                .get(&normalize_email(email))
                .cloned()
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        };
        records.extend(holders.into_iter().map(|uid| a.to_enrollment(uid)));
    }
    dedup_records(records)
}

/// Build the summary of `data.partner` at `now`.
pub fn build_partner_summary(data: &PartnerData<'_>, now: DateTime<Utc>) -> PartnerSummary {
    let p = data.partner;
    let members = data.members();
    let courses = course_index(data.courses);
    let mut rows_by_progress: BTreeMap<String, u32> = BTreeMap::new();
    let certs: Vec<SummaryCert> = member_records(&members, data.enrollments, data.manual_awards)
        .into_iter()
        .filter_map(|r| {
            let course = courses.get(r.course_id.as_str()).copied()?;
            if course.npcu == 0 {
                return None;
            }
            // A dashboard row (see `rules::rows`): any progress.
            *rows_by_progress
                .entry(r.progress.as_str().to_string())
                .or_default() += 1;
            if r.progress != ProgressStatus::Completed {
                return None;
            }
            let expires_at = record_expiry(&r, Some(course), data.default_validity_months);
            is_current(expires_at, now).then(|| SummaryCert {
                category: data.categories.category_for(course),
                npcu: course.npcu,
                completed_at: r.completed_at,
                expires_at,
                user_id: r.user_id,
                course_id: r.course_id,
            })
        })
        .collect();
    let org_certs = data
        .org_certs
        .iter()
        .filter(|o| o.partner_id == p.id && o.npcu > 0 && o.ends_at > now)
        .map(|o| SummaryOrgCert {
            id: o.id.clone(),
            name: o.name.clone(),
            category: o.category.clone(),
            npcu: o.npcu,
            starts_at: o.starts_at,
            ends_at: o.ends_at,
        })
        .collect();
    let mut summary = PartnerSummary {
        partner_id: p.id.clone(),
        name: p.name.clone(),
        tier: p.tier.clone(),
        region: p.region.clone(),
        country: p.country.clone(),
        owner_name: p.owner_name.clone(),
        owner_email: p.owner_email.clone(),
        partner_type: p.partner_type.clone(),
        tracked: p.tracked,
        lms_group_id: data.group_id().map(str::to_string),
        lms_group_name: data.group.map(|g| g.name.clone()),
        user_count: u32::try_from(members.len()).unwrap_or(u32::MAX),
        rows_by_progress,
        org_certs,
        computed_at: now,
        ..Default::default()
    };
    count_certs(&mut summary, &certs);
    summary
}

/// Expiries up to this many days after the summary's computation are
/// bucketed by day (24 months of validity fit); later ones by month.
pub const DAY_BUCKETS: u64 = 800;

/// Bucket key of a never-expiring certification.
pub const NEVER: &str = "never";

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc()
}

/// The first midnight (UTC) at or after `t`.
fn ceil_midnight(t: DateTime<Utc>) -> NaiveDate {
    let d = t.date_naive();
    if midnight(d) == t {
        d
    } else {
        d + Days::new(1)
    }
}

/// The expiry bucket of `expires_at` in a summary computed at
/// `computed_at`: `never`; else `YYYY-MM-DD`, the day of the first midnight
/// at or after the expiry — the bucket counts until that midnight; or, when
/// that day is more than [`DAY_BUCKETS`] days after `computed_at`,
/// `YYYY-MM`, counted until the month is over.
pub fn expiry_bucket(expires_at: Option<DateTime<Utc>>, computed_at: DateTime<Utc>) -> String {
    let Some(e) = expires_at else {
        return NEVER.to_string();
    };
    let day = ceil_midnight(e);
    if day > computed_at.date_naive() + Days::new(DAY_BUCKETS) {
        day.format("%Y-%m").to_string()
    } else {
        day.format("%Y-%m-%d").to_string()
    }
}

/// The instant a bucket stops counting; `None` = never (also for a key
/// this version does not know, so nothing is silently dropped).
pub fn bucket_end(key: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = NaiveDate::parse_from_str(key, "%Y-%m-%d") {
        return Some(midnight(d));
    }
    let first = NaiveDate::parse_from_str(&format!("{key}-01"), "%Y-%m-%d").ok()?;
    let next = first.checked_add_months(Months::new(1))?;
    debug_assert_eq!(next.day(), 1);
    Some(midnight(next))
}

/// Sets the counts of `summary` from its counted certifications `certs`
/// (one per user × course), bucketed against `summary.computed_at`.
pub fn count_certs(summary: &mut PartnerSummary, certs: &[SummaryCert]) {
    let at = summary.computed_at;
    let mut counts: BTreeMap<String, BTreeMap<String, BucketCount>> = BTreeMap::new();
    // The last expiry per user (overall and per category); `None` = never,
    // which outlasts any date.
    let later = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
        (None, _) | (_, None) => None,
        (Some(x), Some(y)) => Some(x.max(y)),
    };
    let mut last: BTreeMap<&str, Option<DateTime<Utc>>> = BTreeMap::new();
    let mut last_in: BTreeMap<(String, &str), Option<DateTime<Utc>>> = BTreeMap::new();
    for c in certs {
        let cat = c.category.clone().unwrap_or_else(|| UNCATEGORIZED.into());
        let b = counts
            .entry(cat.clone())
            .or_default()
            .entry(expiry_bucket(c.expires_at, at))
            .or_default();
        b.certifications += 1;
        b.npcu += u32::from(c.npcu);
        last.entry(&c.user_id)
            .and_modify(|e| *e = later(*e, c.expires_at))
            .or_insert(c.expires_at);
        last_in
            .entry((cat, &c.user_id))
            .and_modify(|e| *e = later(*e, c.expires_at))
            .or_insert(c.expires_at);
    }
    for ((cat, _), e) in last_in {
        if let Some(b) = counts
            .get_mut(&cat)
            .and_then(|m| m.get_mut(&expiry_bucket(e, at)))
        {
            b.users += 1;
        }
    }
    let mut users_by_expiry: BTreeMap<String, u32> = BTreeMap::new();
    for e in last.into_values() {
        *users_by_expiry.entry(expiry_bucket(e, at)).or_default() += 1;
    }
    summary.counts = counts;
    summary.users_by_expiry = users_by_expiry;
    summary.legacy_certs.clear();
}

/// Partner NPCU at `now`, straight from the data (no summary): Σ over the
/// distinct member users of their active certifications. Organisation
/// certifications are not included (see [`view`] for the total with them).
pub fn partner_npcu(data: &PartnerData<'_>, now: DateTime<Utc>) -> u32 {
    let courses = course_index(data.courses);
    data.member_records()
        .iter()
        .map(|r| {
            record_npcu(
                r,
                courses.get(r.course_id.as_str()).copied(),
                now,
                data.default_validity_months,
            )
        })
        .sum()
}

/// Numbers of `summary` at `now` (see [`PartnerSummary::view`]). Buckets
/// ended at `now` are dropped; organisation certifications count while
/// `starts_at <= now < ends_at` and add NPCU and certifications but no
/// users.
pub fn view(
    summary: &PartnerSummary,
    now: DateTime<Utc>,
    warning_days: u32,
    tiers: &TierRequirements,
) -> SummaryView {
    // An item from before the counts: count its list the same way.
    let converted;
    let summary = if summary.legacy_certs.is_empty() {
        summary
    } else {
        let mut s = summary.clone();
        let certs = std::mem::take(&mut s.legacy_certs);
        count_certs(&mut s, &certs);
        converted = s;
        &converted
    };
    let mut v = SummaryView::default();
    let current = |key: &str| bucket_end(key).is_none_or(|end| end > now);
    for (cat, buckets) in &summary.counts {
        for (key, b) in buckets {
            let end = bucket_end(key);
            if end.is_some_and(|end| end <= now) {
                continue;
            }
            let t = v.by_category.entry(cat.clone()).or_default();
            t.npcu += b.npcu;
            t.certifications += b.certifications;
            t.users += b.users;
            v.npcu += b.npcu;
            v.certifications += b.certifications;
            if end.map(|e| expiry_status(e, now, warning_days)) == Some(CertStatus::Expiring) {
                v.expiring += b.certifications;
            }
        }
    }
    v.certified_users = summary
        .users_by_expiry
        .iter()
        .filter(|(k, _)| current(k))
        .map(|(_, n)| *n)
        .sum();
    for o in summary
        .org_certs
        .iter()
        .filter(|o| o.starts_at <= now && o.ends_at > now)
    {
        let cat = o.category.clone().unwrap_or_else(|| UNCATEGORIZED.into());
        let t: &mut CategoryTotals = v.by_category.entry(cat).or_default();
        t.npcu += u32::from(o.npcu);
        t.certifications += 1;
        v.npcu += u32::from(o.npcu);
        v.certifications += 1;
        if expiry_status(o.ends_at, now, warning_days) == CertStatus::Expiring {
            v.expiring += 1;
        }
    }
    let s = standing(tiers, summary.tier.as_ref(), v.npcu);
    v.required_npcu = s.required.unwrap_or(0);
    v.gap = s.gap;
    v.meets_requirement = s.meets();
    v.standing = s.standing;
    v
}

/// Total dashboard rows of the summary's partner (any status).
pub fn row_count(summary: &PartnerSummary) -> u32 {
    summary.rows_by_progress.values().sum()
}

#[cfg(test)]
mod bucket_tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn a_bucket_ends_at_the_first_midnight_at_or_after_the_expiry() {
        let computed = at(2026, 11, 23, 9);
        assert_eq!(expiry_bucket(None, computed), NEVER);
        assert_eq!(bucket_end(NEVER), None);
        // Exactly midnight: that day; later that day: the next.
        assert_eq!(
            expiry_bucket(Some(at(2027, 1, 5, 0)), computed),
            "2027-01-05"
        );
        assert_eq!(
            expiry_bucket(Some(at(2027, 1, 5, 13)), computed),
            "2027-01-06"
        );
        assert_eq!(bucket_end("2027-01-06"), Some(at(2027, 1, 6, 0)));
        // Far off: by month, counted until the month is over.
        let far = expiry_bucket(Some(at(2029, 3, 10, 8)), computed);
        assert_eq!(far, "2029-03");
        assert_eq!(bucket_end(&far), Some(at(2029, 4, 1, 0)));
        assert_eq!(bucket_end("2029-12"), Some(at(2030, 1, 1, 0)));
        // A key this version does not know never silently drops counts.
        assert_eq!(bucket_end("someday"), None);
    }

    #[test]
    fn users_count_until_their_last_certification_ends() {
        let computed = at(2026, 11, 23, 0);
        let mut s = PartnerSummary {
            computed_at: computed,
            ..Default::default()
        };
        let cert = |user: &str, course: &str, cat: &str, days: i64| SummaryCert {
            user_id: user.into(),
            course_id: course.into(),
            category: Some(cat.into()),
            npcu: 2,
            expires_at: Some(computed + chrono::Duration::days(days)),
            ..Default::default()
        };
        count_certs(
            &mut s,
            &[
                cert("ann", "a", "K2", 10),
                cert("ann", "b", "K2", 100),
                cert("ann", "c", "RPA", 5),
                cert("bob", "a", "K2", 10),
            ],
        );
        let t = TierRequirements::default();
        let v = |days: i64| s.view(computed + chrono::Duration::days(days), 90, &t);
        assert_eq!((v(0).certified_users, v(0).by_category["K2"].users), (2, 2));
        assert_eq!(v(0).by_category["RPA"].users, 1);
        assert_eq!((v(0).npcu, v(0).expiring), (8, 3));
        // Day 5: Ann's RPA ends; day 10: Bob's only and Ann's first K2.
        assert!(!v(5).by_category.contains_key("RPA"));
        assert_eq!(v(5).certified_users, 2);
        let later = v(10);
        assert_eq!((later.certified_users, later.npcu), (1, 2));
        assert_eq!(later.by_category["K2"].users, 1);
        assert_eq!((v(100).npcu, v(100).certified_users), (0, 0));
        assert!(v(100).by_category.is_empty());
    }
}
