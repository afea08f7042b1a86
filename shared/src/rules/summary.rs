//! Per-partner summary: built at sync time from all the partner's data,
//! read by all-partner reports at any later instant.
//!
//! The summary stores *facts* (each counted certification with its dates),
//! not totals, so [`view`] gives the right numbers at any later `now` without
//! a re-sync: a certification that expires between two syncs drops out of
//! the totals on its expiry instant.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::expiry::record_expiry;
use super::members::{normalize_email, partner_members};
use super::npcu::{course_index, record_npcu};
use super::renewal::dedup_records;
use super::status::{expiry_status, is_current};
use super::tier::standing;
use crate::model::{
    CategoryMap, CategoryTotals, CertStatus, Contact, Course, Enrollment, LmsGroup, LmsUser,
    ManualAward, Membership, OrgCertification, Partner, PartnerSummary, ProgressStatus,
    SummaryCert, SummaryOrgCert, SummaryView, TierRequirements, UNCATEGORIZED,
};

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
    let certs = member_records(&members, data.enrollments, data.manual_awards)
        .into_iter()
        .filter_map(|r| {
            let course = courses.get(r.course_id.as_str()).copied()?;
            if r.progress != ProgressStatus::Completed || course.npcu == 0 {
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
    PartnerSummary {
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
        certs,
        org_certs,
        computed_at: now,
    }
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

/// Numbers of `summary` at `now` (see [`PartnerSummary::view`]). Personal
/// certs expired at `now` are dropped; organisation certifications count
/// while `starts_at <= now < ends_at` and add NPCU and certifications but
/// no users.
pub fn view(
    summary: &PartnerSummary,
    now: DateTime<Utc>,
    warning_days: u32,
    tiers: &TierRequirements,
) -> SummaryView {
    let mut v = SummaryView::default();
    let mut users: BTreeSet<&str> = BTreeSet::new();
    let mut cat_users: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();

    for c in summary
        .certs
        .iter()
        .filter(|c| is_current(c.expires_at, now))
    {
        let cat = c.category.clone().unwrap_or_else(|| UNCATEGORIZED.into());
        let t = v.by_category.entry(cat.clone()).or_default();
        t.npcu += u32::from(c.npcu);
        t.certifications += 1;
        cat_users.entry(cat).or_default().insert(&c.user_id);
        users.insert(&c.user_id);
        v.npcu += u32::from(c.npcu);
        v.certifications += 1;
        if c.expires_at.map(|e| expiry_status(e, now, warning_days)) == Some(CertStatus::Expiring) {
            v.expiring += 1;
        }
    }
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
    for (cat, set) in cat_users {
        if let Some(t) = v.by_category.get_mut(&cat) {
            t.users = u32::try_from(set.len()).unwrap_or(u32::MAX);
        }
    }
    v.certified_users = u32::try_from(users.len()).unwrap_or(u32::MAX);
    let s = standing(tiers, summary.tier.as_ref(), v.npcu);
    v.required_npcu = s.required.unwrap_or(0);
    v.gap = s.gap;
    v.meets_requirement = s.meets();
    v.standing = s.standing;
    v
}
