//! Who belongs to a partner: users in the partner's LMS group, plus users
//! reached through the partner's CRM contacts by e-mail — each user once.
//!
//! Decisions:
//! - E-mails compare trimmed and case-insensitively (real data mixes case).
//! - Only **active** contacts of the partner (`account_id == partner.id`)
//!   reach users: an inactive contact has left the partner.
//! - **Deactivated LMS users are not members**: they have been offboarded,
//!   so their certifications no longer represent the partner's staff.
//! - Membership or contact links to a user id absent from `users` are
//!   ignored (dangling references in dirty data).
//! - Several LMS people with the same e-mail are distinct users: each is a
//!   member once. "Count once" is per user id.

use std::collections::{BTreeMap, HashMap};

use crate::model::{Contact, LmsUser, Membership, Partner};

/// How a member was reached (both can be true; the user still counts once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reach {
    pub via_group: bool,
    pub via_contact: bool,
}

/// Normalise an e-mail for comparison: e-mails are compared
/// case-insensitively everywhere in the portal (members, store keys,
/// opt-outs, unsubscribe tokens). The one normaliser; the store re-exports
/// it as `store::keys::normalize_email`.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Members of `partner` whose group is `group_id` (usually
/// `partner.lms_group_id`), keyed by user id (sorted, each once).
/// The slices may hold other partners' data; only matching rows are used.
pub fn partner_members<'a>(
    partner: &Partner,
    group_id: Option<&str>,
    memberships: &[Membership],
    contacts: &[Contact],
    users: &'a [LmsUser],
) -> BTreeMap<&'a str, (&'a LmsUser, Reach)> {
    let by_id: HashMap<&str, &LmsUser> = users.iter().map(|u| (u.id.as_str(), u)).collect();
    let mut by_email: HashMap<String, Vec<&LmsUser>> = HashMap::new();
    for u in users {
        let e = normalize_email(&u.email);
        if !e.is_empty() {
            by_email.entry(e).or_default().push(u);
        }
    }

    let mut out: BTreeMap<&'a str, (&'a LmsUser, Reach)> = BTreeMap::new();
    let mut add = |u: &'a LmsUser, group: bool| {
        if !u.is_active() {
            return;
        }
        let entry = out.entry(u.id.as_str()).or_insert((u, Reach::default()));
        if group {
            entry.1.via_group = true;
        } else {
            entry.1.via_contact = true;
        }
    };

    if let Some(gid) = group_id {
        for m in memberships.iter().filter(|m| m.group_id == gid) {
            if let Some(u) = by_id.get(m.user_id.as_str()) {
                add(u, true);
            }
        }
    }
    for c in contacts
        .iter()
        .filter(|c| c.active && c.account_id.as_deref() == Some(partner.id.as_str()))
    {
        let e = normalize_email(&c.email);
        if !e.is_empty() {
            for u in by_email.get(&e).into_iter().flatten() {
                add(u, false);
            }
        }
        if let Some(u) = c.lms_user_id.as_deref().and_then(|id| by_id.get(id)) {
            add(u, false);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn user(id: &str, email: &str) -> LmsUser {
        LmsUser {
            id: id.into(),
            email: email.into(),
            ..Default::default()
        }
    }

    fn contact(email: &str, account: &str, active: bool) -> Contact {
        Contact {
            id: format!("c-{email}"),
            email: email.into(),
            account_id: Some(account.into()),
            active,
            ..Default::default()
        }
    }

    fn partner() -> Partner {
        Partner {
            id: "P1".into(),
            name: "Acme".into(),
            lms_group_id: Some("G1".into()),
            ..Default::default()
        }
    }

    fn member(g: &str, u: &str) -> Membership {
        Membership {
            group_id: g.into(),
            user_id: u.into(),
        }
    }

    #[test]
    fn group_and_contact_reach_the_same_user_once() {
        let users = vec![user("u1", "John@Acme.com"), user("u2", "jane@acme.com")];
        let ms = vec![member("G1", "u1"), member("G2", "u2")];
        let cs = vec![
            contact(" john@ACME.com ", "P1", true),
            contact("jane@acme.com", "P1", true),
        ];
        let m = partner_members(&partner(), Some("G1"), &ms, &cs, &users);
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), vec!["u1", "u2"]);
        assert_eq!(
            m["u1"].1,
            Reach {
                via_group: true,
                via_contact: true
            }
        );
        assert_eq!(
            m["u2"].1,
            Reach {
                via_group: false,
                via_contact: true
            }
        );
    }

    #[test]
    fn other_partners_contacts_and_inactive_contacts_do_not_reach() {
        let users = vec![user("u1", "a@x.com"), user("u2", "b@x.com")];
        let cs = vec![
            contact("a@x.com", "P2", true),
            contact("b@x.com", "P1", false),
        ];
        assert!(partner_members(&partner(), Some("G1"), &[], &cs, &users).is_empty());
    }

    #[test]
    fn deactivated_and_dangling_users_are_not_members() {
        let mut gone = user("u1", "a@x.com");
        gone.deactivated_at = Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
        let users = vec![gone];
        let ms = vec![member("G1", "u1"), member("G1", "ghost")];
        assert!(partner_members(&partner(), Some("G1"), &ms, &[], &users).is_empty());
    }

    #[test]
    fn duplicate_people_with_one_email_are_each_members() {
        let users = vec![user("u1", "a@x.com"), user("u2", "A@X.com")];
        let cs = vec![contact("a@x.com", "P1", true)];
        let m = partner_members(&partner(), None, &[], &cs, &users);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn contact_lms_user_id_link_reaches_user() {
        let users = vec![user("u1", "other@x.com")];
        let mut c = contact("a@x.com", "P1", true);
        c.lms_user_id = Some("u1".into());
        let m = partner_members(&partner(), None, &[], &[c], &users);
        assert!(m.contains_key("u1"));
    }
}
