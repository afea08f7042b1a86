//! Reports over who belongs to a partner (its LMS group ∪ users reached by
//! its contacts' e-mails, [`crate::rules::members`]): `inactive-users`,
//! `lms-users-not-in-crm` and `group-audit`, the quarterly membership audit
//! the program advises (docs/source-contract.md lists the reports).
//!
//! Decisions:
//! - Members are [`partner_members`]'s: deactivated LMS users are not
//!   members, so they are never "inactive" nor audited.
//! - `lms-users-not-in-crm` and `group-audit` look at *group* members only:
//!   a user reached by a contact's e-mail has a CRM contact by definition.
//! - A contact is any active CRM contact with the user's e-mail (any
//!   account) or linked to the user's id: someone known to the CRM under
//!   another partner is not "missing from the CRM" (the audit flags it).
//! - The audit's domain check: the member's e-mail domain equals the
//!   domain of one of the partner's active contacts or of its website
//!   (`www.` dropped). Subdomains do not match: `mail.acme.com` is another
//!   domain to the audit, which asks a person to look.
//! - Several groups: the member is in the LMS group of more than one
//!   tracked partner. The other partners are named when the caller may see
//!   them, else counted, so the audit never discloses a partner beyond the
//!   caller's scope.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::rows::{email_domain, website_domain};
use super::table::ReportRow;
use crate::model::{Contact, LmsUser, Membership, Partner, PartnerSummary};
use crate::rules::members::{normalize_email, partner_members, Reach};

/// One member of one partner shown by a report.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub summary: &'a PartnerSummary,
    pub partner: &'a Partner,
    pub user: &'a LmsUser,
    pub reach: Reach,
}

/// The membership picture the three reports need: the profiles of the
/// partners shown (with their summaries), the memberships of the tracked
/// partners' groups, the CRM contacts and the LMS users.
pub struct Picture<'a> {
    pub shown: Vec<(&'a PartnerSummary, &'a Partner)>,
    pub memberships: &'a [Membership],
    pub contacts: &'a [Contact],
    pub users: &'a [LmsUser],
}

impl<'a> Picture<'a> {
    /// Every member of every partner shown, by partner then user id.
    pub fn members(&self) -> Vec<Member<'a>> {
        let mut out = Vec::new();
        for (s, p) in &self.shown {
            let m = partner_members(
                p,
                p.lms_group_id.as_deref(),
                self.memberships,
                self.contacts,
                self.users,
            );
            out.extend(m.into_values().map(|(user, reach)| Member {
                summary: s,
                partner: p,
                user,
                reach,
            }));
        }
        out
    }
}

/// A partner user with no LMS activity in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InactiveUserRow {
    pub partner_id: String,
    pub partner_name: String,
    pub owner_email: Option<String>,
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    /// `None`: never active.
    pub last_active_at: Option<DateTime<Utc>>,
    /// Whole days since the last activity; `None` when never active.
    pub days_inactive: Option<i64>,
    /// `group`, `contact` or `group, contact`: how the user belongs.
    pub member_via: String,
}

impl ReportRow for InactiveUserRow {
    const COLUMNS: &'static [&'static str] = &[
        "partner_id",
        "partner_name",
        "owner_email",
        "user_id",
        "user_name",
        "email",
        "last_active_at",
        "days_inactive",
        "member_via",
    ];
}

fn via(r: Reach) -> String {
    match (r.via_group, r.via_contact) {
        (true, true) => "group, contact",
        (true, false) => "group",
        _ => "contact",
    }
    .into()
}

/// Members with no LMS activity since `now - days` (never active
/// included), longest inactive first.
pub fn inactive_users(
    members: &[Member<'_>],
    now: DateTime<Utc>,
    days: u32,
) -> Vec<InactiveUserRow> {
    let since = now - Duration::days(i64::from(days));
    let mut out: Vec<InactiveUserRow> = members
        .iter()
        .filter(|m| m.user.last_active_at.is_none_or(|t| t <= since))
        .map(|m| InactiveUserRow {
            partner_id: m.summary.partner_id.clone(),
            partner_name: m.summary.name.clone(),
            owner_email: m.summary.owner_email.clone(),
            user_id: m.user.id.clone(),
            user_name: m.user.display_name(),
            email: m.user.email.clone(),
            last_active_at: m.user.last_active_at,
            days_inactive: m.user.last_active_at.map(|t| (now - t).num_days()),
            member_via: via(m.reach),
        })
        .collect();
    out.sort_by(|a, b| {
        a.last_active_at
            .cmp(&b.last_active_at)
            .then_with(|| {
                a.partner_name
                    .to_lowercase()
                    .cmp(&b.partner_name.to_lowercase())
            })
            .then_with(|| a.partner_id.cmp(&b.partner_id))
            .then_with(|| a.user_id.cmp(&b.user_id))
    });
    out
}

/// A group member of a partner unknown to the CRM.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LmsUserRow {
    pub partner_id: String,
    pub partner_name: String,
    pub owner_email: Option<String>,
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    pub created_at: Option<DateTime<Utc>>,
    pub last_active_at: Option<DateTime<Utc>>,
}

impl ReportRow for LmsUserRow {
    const COLUMNS: &'static [&'static str] = &[
        "partner_id",
        "partner_name",
        "owner_email",
        "user_id",
        "user_name",
        "email",
        "created_at",
        "last_active_at",
    ];
}

/// Group members with no active CRM contact (by e-mail or linked id), by
/// partner then e-mail.
pub fn lms_users_not_in_crm(members: &[Member<'_>], contacts: &[Contact]) -> Vec<LmsUserRow> {
    let emails: BTreeSet<String> = contacts
        .iter()
        .filter(|c| c.active)
        .map(|c| normalize_email(&c.email))
        .filter(|e| !e.is_empty())
        .collect();
    let linked: BTreeSet<&str> = contacts
        .iter()
        .filter(|c| c.active)
        .filter_map(|c| c.lms_user_id.as_deref())
        .collect();
    let mut out: Vec<LmsUserRow> = members
        .iter()
        .filter(|m| m.reach.via_group)
        .filter(|m| {
            !emails.contains(&normalize_email(&m.user.email))
                && !linked.contains(m.user.id.as_str())
        })
        .map(|m| LmsUserRow {
            partner_id: m.summary.partner_id.clone(),
            partner_name: m.summary.name.clone(),
            owner_email: m.summary.owner_email.clone(),
            user_id: m.user.id.clone(),
            user_name: m.user.display_name(),
            email: m.user.email.clone(),
            created_at: m.user.created_at,
            last_active_at: m.user.last_active_at,
        })
        .collect();
    out.sort_by(|a, b| {
        a.partner_name
            .to_lowercase()
            .cmp(&b.partner_name.to_lowercase())
            .then_with(|| a.partner_id.cmp(&b.partner_id))
            .then_with(|| a.email.to_lowercase().cmp(&b.email.to_lowercase()))
            .then_with(|| a.user_id.cmp(&b.user_id))
    });
    out
}

/// What the audit found about one group member.
pub const FINDING_DOMAIN: &str = "domain not the partner's";
pub const FINDING_GROUPS: &str = "in several partner groups";

/// One finding of the membership audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupAuditRow {
    pub partner_id: String,
    pub partner_name: String,
    pub owner_email: Option<String>,
    pub lms_group_id: Option<String>,
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    /// [`FINDING_DOMAIN`] or [`FINDING_GROUPS`] (a member can have both:
    /// two rows).
    pub finding: String,
    /// The partner's domains, or the other partners whose groups hold the
    /// member.
    pub detail: String,
}

impl ReportRow for GroupAuditRow {
    const COLUMNS: &'static [&'static str] = &[
        "partner_id",
        "partner_name",
        "owner_email",
        "lms_group_id",
        "user_id",
        "user_name",
        "email",
        "finding",
        "detail",
    ];
}

/// The membership audit of the partners shown. `partners` are every
/// partner (tracked ones' groups are partner groups); `visible` says
/// whether the caller may see a partner (by id).
pub fn group_audit(
    members: &[Member<'_>],
    partners: &[Partner],
    memberships: &[Membership],
    contacts: &[Contact],
    visible: impl Fn(&Partner) -> bool,
) -> Vec<GroupAuditRow> {
    // Partner groups: the LMS group of each tracked partner (a group can
    // be the group of two partners; each counts).
    let mut partners_of_group: HashMap<&str, Vec<&Partner>> = HashMap::new();
    for p in partners.iter().filter(|p| p.tracked) {
        if let Some(g) = p.lms_group_id.as_deref() {
            partners_of_group.entry(g).or_default().push(p);
        }
    }
    let mut partners_of_user: HashMap<&str, BTreeMap<&str, &Partner>> = HashMap::new();
    for m in memberships {
        for p in partners_of_group
            .get(m.group_id.as_str())
            .into_iter()
            .flatten()
        {
            partners_of_user
                .entry(m.user_id.as_str())
                .or_default()
                .insert(p.id.as_str(), p);
        }
    }
    let mut domains: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for c in contacts.iter().filter(|c| c.active) {
        if let (Some(pid), Some(d)) = (c.account_id.as_deref(), email_domain(&c.email)) {
            domains.entry(pid).or_default().insert(d);
        }
    }
    let mut out = Vec::new();
    for m in members.iter().filter(|m| m.reach.via_group) {
        let row = |finding: &str, detail: String| GroupAuditRow {
            partner_id: m.summary.partner_id.clone(),
            partner_name: m.summary.name.clone(),
            owner_email: m.summary.owner_email.clone(),
            lms_group_id: m.partner.lms_group_id.clone(),
            user_id: m.user.id.clone(),
            user_name: m.user.display_name(),
            email: m.user.email.clone(),
            finding: finding.into(),
            detail,
        };
        let mut own: BTreeSet<String> = domains
            .get(m.partner.id.as_str())
            .cloned()
            .unwrap_or_default();
        own.extend(m.partner.website.as_deref().and_then(website_domain));
        let theirs = email_domain(&m.user.email);
        if theirs.as_ref().is_none_or(|d| !own.contains(d)) {
            let known = if own.is_empty() {
                "the partner has no contact or website domain".to_string()
            } else {
                format!(
                    "partner domains: {}",
                    own.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            out.push(row(
                FINDING_DOMAIN,
                format!("{}; {known}", theirs.as_deref().unwrap_or("no domain")),
            ));
        }
        let others: Vec<&Partner> = partners_of_user
            .get(m.user.id.as_str())
            .into_iter()
            .flat_map(|ps| ps.values())
            .filter(|p| p.id != m.partner.id)
            .copied()
            .collect();
        if !others.is_empty() {
            let named: Vec<&str> = others
                .iter()
                .filter(|p| visible(p))
                .map(|p| p.name.as_str())
                .collect();
            let hidden = others.len() - named.len();
            let mut detail = format!("also in the group of {}", named.join(", "));
            if hidden > 0 {
                if named.is_empty() {
                    detail = format!("also in the groups of {hidden} other partner(s)");
                } else {
                    detail.push_str(&format!(" and {hidden} other partner(s)"));
                }
            }
            out.push(row(FINDING_GROUPS, detail));
        }
    }
    out.sort_by(|a, b| {
        a.partner_name
            .to_lowercase()
            .cmp(&b.partner_name.to_lowercase())
            .then_with(|| a.partner_id.cmp(&b.partner_id))
            .then_with(|| a.email.to_lowercase().cmp(&b.email.to_lowercase()))
            .then_with(|| a.user_id.cmp(&b.user_id))
            .then_with(|| a.finding.cmp(&b.finding))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn user(id: &str, email: &str, active: Option<DateTime<Utc>>) -> LmsUser {
        LmsUser {
            id: id.into(),
            email: email.into(),
            last_active_at: active,
            ..Default::default()
        }
    }

    fn partner(id: &str, group: &str, site: Option<&str>) -> Partner {
        Partner {
            id: id.into(),
            name: format!("Partner {id}"),
            tracked: true,
            lms_group_id: Some(group.into()),
            website: site.map(str::to_string),
            ..Default::default()
        }
    }

    fn member(g: &str, u: &str) -> Membership {
        Membership {
            group_id: g.into(),
            user_id: u.into(),
        }
    }

    fn contact(email: &str, account: &str) -> Contact {
        Contact {
            id: format!("c-{email}"),
            email: email.into(),
            account_id: Some(account.into()),
            active: true,
            ..Default::default()
        }
    }

    #[test]
    fn the_three_membership_reports() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
        let partners = vec![
            partner("p1", "g1", Some("https://www.acme.com/")),
            partner("p2", "g2", None),
            partner("p3", "g3", None),
        ];
        let summaries: Vec<PartnerSummary> = partners
            .iter()
            .map(|p| PartnerSummary {
                partner_id: p.id.clone(),
                name: p.name.clone(),
                tracked: true,
                ..Default::default()
            })
            .collect();
        let users = vec![
            user("u1", "ann@acme.com", Some(now - Duration::days(5))),
            user("u2", "bob@gmail.com", Some(now - Duration::days(100))),
            user("u3", "cy@beta.io", None),
            // Reached only through p1's contact: a member, never audited.
            user("u4", "dee@contact.org", None),
        ];
        let memberships = vec![
            member("g1", "u1"),
            member("g1", "u2"),
            member("g1", "u3"),
            member("g2", "u3"),
            member("g3", "u3"),
        ];
        let contacts = vec![
            contact("dee@contact.org", "p1"),
            contact("cy@beta.io", "p2"),
        ];
        let pic = Picture {
            shown: vec![(&summaries[0], &partners[0])],
            memberships: &memberships,
            contacts: &contacts,
            users: &users,
        };
        let members = pic.members();
        assert_eq!(members.len(), 4);

        let inactive = inactive_users(&members, now, 30);
        let ids: Vec<&str> = inactive.iter().map(|r| r.user_id.as_str()).collect();
        // Never active first (by id), then the longest inactive.
        assert_eq!(ids, ["u3", "u4", "u2"]);
        assert_eq!(inactive[2].days_inactive, Some(100));
        assert_eq!(inactive[1].member_via, "contact");

        let missing = lms_users_not_in_crm(&members, &contacts);
        let ids: Vec<&str> = missing.iter().map(|r| r.user_id.as_str()).collect();
        // u3 has a contact (at p2); u4 is not a group member.
        assert_eq!(ids, ["u1", "u2"]);

        let audit = group_audit(&members, &partners, &memberships, &contacts, |p| {
            p.id != "p3"
        });
        let found: Vec<(&str, &str)> = audit
            .iter()
            .map(|r| (r.user_id.as_str(), r.finding.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("u2", FINDING_DOMAIN),
                ("u3", FINDING_DOMAIN),
                ("u3", FINDING_GROUPS)
            ]
        );
        assert!(audit[0].detail.contains("acme.com"), "{}", audit[0].detail);
        // p3 is outside the caller's scope: counted, not named.
        assert_eq!(
            audit[2].detail,
            "also in the group of Partner p2 and 1 other partner(s)"
        );
    }
}
