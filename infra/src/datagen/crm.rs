//! The Impartner side: `Account` (one per partner company) and `User`
//! (partner contacts).
//!
//! Dirt: every tier the CRM uses (`super::CRM_TIERS`, Premier Plus and
//! Aggregator included) and one the default configuration does not list
//! (`super::UNCONFIGURED_TIER`), Pending / blank / null tiers, Inactive accounts, accounts whose LMS
//! group is named differently (see `lms`), accounts with no group; contacts
//! that are LMS users (same e-mail, sometimes other case), contacts with no
//! LMS user, internal-domain contacts, shared mailboxes (`sales@...`),
//! inactive contacts, accounts without an owner; `CrmId` of 15 or 18 chars.
//! `Updated` is always `YYYY-MM-DDTHH:MM:SSZ` (one system, one spelling).

use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeDelta;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::lms::{Generator, Lms, PersonKind};
use super::names::*;
use super::{dates, PrmRecord, INTERNAL_DOMAIN, SHARED_MAILBOXES};

const ACCOUNT_ID_BASE: i64 = 100_001;
const USER_ID_BASE: i64 = 500_001;

/// Keys inserted in sorted order: the JSON is the same whether or not
/// serde_json's `preserve_order` feature is on somewhere in the build.
fn record(fields: BTreeMap<&str, Value>) -> PrmRecord {
    fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

fn crm_id(g: &mut Generator) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let len = if g.chance(0.5) { 12 } else { 15 };
    let tail: String = (0..len)
        .map(|_| ALNUM[g.rng.random_range(0..ALNUM.len())] as char)
        .collect();
    format!("001{tail}")
}

pub(crate) fn generate(g: &mut Generator, lms: &Lms) -> (Vec<PrmRecord>, Vec<PrmRecord>) {
    let pams: Vec<(String, String)> = (0..g.scale.pams)
        .map(|_| {
            let (f, l) = (g.pick(FIRST), g.pick(LAST));
            let e = g.email(f, l, INTERNAL_DOMAIN);
            // Owner e-mails typed by hand in the CRM: some in mixed case.
            let e = g.dirty_case(&e);
            (format!("{f} {l}"), e)
        })
        .collect();

    let mut accounts = Vec::with_capacity(lms.companies.len());
    for (i, c) in lms.companies.iter().enumerate() {
        let created = g.days_ago(100.0, 2_500.0);
        let updated = if g.chance(0.02) {
            g.days_ago(0.001, 0.25)
        } else {
            g.between(created, g.as_of - TimeDelta::hours(6))
        };
        let owner = if g.chance(0.03) {
            None
        } else {
            Some(pams[g.rng.random_range(0..pams.len())].clone())
        };
        let mut f = BTreeMap::new();
        f.insert("Id", json!(ACCOUNT_ID_BASE + i as i64));
        f.insert("Name", json!(c.name));
        f.insert("Partner_Tier__cf", c.tier.map_or(Value::Null, |t| json!(t)));
        f.insert("Account_Status__cf", json!(c.status));
        f.insert(
            "Account_Owner__cf",
            owner.as_ref().map_or(Value::Null, |o| json!(o.0)),
        );
        f.insert(
            "Account_Owner_Email__cf",
            owner.as_ref().map_or(Value::Null, |o| json!(o.1)),
        );
        f.insert("Partner_Type__cf", json!(g.pick(PARTNER_TYPES)));
        f.insert(
            "Website",
            if g.chance(0.9) {
                json!(format!("https://www.{}", c.domain))
            } else {
                Value::Null
            },
        );
        f.insert("CrmId", json!(crm_id(g)));
        f.insert("MailingCountry", json!(c.country.0));
        f.insert("Region", json!(c.country.1));
        f.insert("Created", json!(dates::fmt_z(created)));
        f.insert("Updated", json!(dates::fmt_z(updated)));
        accounts.push(record(f));
    }

    // Contacts: ~70% are LMS partner users of the account's group, the rest
    // are not in the LMS (incl. internal and shared-mailbox addresses).
    let target = g.scale.contacts;
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (ci, c) in lms.companies.iter().enumerate() {
        if let Some(gi) = c.group {
            for &pi in &lms.members[gi] {
                if lms.person_kind[pi] == PersonKind::Partner {
                    pairs.push((ci, pi));
                }
            }
        }
    }
    pairs.shuffle(&mut g.rng);
    pairs.truncate(target * 7 / 10);

    struct Draft {
        account: usize,
        email: String,
        first: String,
        last: String,
    }
    let mut drafts: Vec<Draft> = Vec::with_capacity(target);
    for &(ci, pi) in &pairs {
        let p = &lms.people[pi].attributes;
        let email = if g.chance(0.2) {
            p.email.to_lowercase()
        } else {
            p.email.clone()
        };
        drafts.push(Draft {
            account: ci,
            email,
            first: p.first_name.clone(),
            last: p.last_name.clone(),
        });
    }
    let mut mailboxes = BTreeSet::new();
    let n_accounts = lms.companies.len();
    while drafts.len() < target {
        let ci = g.rng.random_range(0..n_accounts);
        let domain = lms.companies[ci].domain.clone();
        let (f, l) = (g.pick(FIRST), g.pick(LAST));
        let r: f64 = g.rng.random();
        let (email, first, last) = if r < 0.1 {
            // Shared mailbox, once per account and name.
            let mb = g.pick(&SHARED_MAILBOXES);
            if !mailboxes.insert((ci, mb)) {
                continue;
            }
            (format!("{mb}@{domain}"), mb.to_string(), String::new())
        } else if r < 0.17 {
            (g.email(f, l, INTERNAL_DOMAIN), f.to_string(), l.to_string())
        } else {
            let e = g.email(f, l, &domain);
            (g.dirty_case(&e), f.to_string(), l.to_string())
        };
        drafts.push(Draft {
            account: ci,
            email,
            first,
            last,
        });
    }
    drafts.shuffle(&mut g.rng);

    let users = drafts
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let created = g.days_ago(30.0, 2_000.0);
            let updated = if g.chance(0.01) {
                g.days_ago(0.001, 0.25)
            } else {
                g.between(created, g.as_of - TimeDelta::hours(6))
            };
            let acc = &accounts[d.account];
            let mut f = BTreeMap::new();
            f.insert("Id", json!(USER_ID_BASE + i as i64));
            f.insert("Email", json!(d.email));
            f.insert("FirstName", json!(d.first));
            f.insert("LastName", json!(d.last));
            f.insert(
                "Title",
                if g.chance(0.8) {
                    json!(g.pick(TITLES))
                } else {
                    Value::Null
                },
            );
            f.insert(
                "Phone",
                if g.chance(0.6) {
                    json!(format!(
                        "+1 555 01{:02} {:03}",
                        g.rng.random_range(0..100),
                        g.rng.random_range(0..1000)
                    ))
                } else {
                    Value::Null
                },
            );
            f.insert("AccountId", acc["Id"].clone());
            f.insert("AccountName", acc["Name"].clone());
            f.insert("IsActive", json!(g.chance(0.95)));
            // Derived from the index, not the RNG, so adding the field
            // left every other generated value as it was.
            f.insert(
                "Contact_Status__cf",
                json!(match i % 23 {
                    7 => "Terminated",
                    13 => "Suspended",
                    _ => "Active",
                }),
            );
            f.insert("Created", json!(dates::fmt_z(created)));
            f.insert("Updated", json!(dates::fmt_z(updated)));
            record(f)
        })
        .collect::<Vec<PrmRecord>>();
    link_accounts(&mut accounts, &users);
    (accounts, users)
}

/// `PrimaryUserId` (the account's first contact) and, for some accounts,
/// `ParentAccountId`; derived, not drawn, so the RNG sequence is unchanged.
fn link_accounts(accounts: &mut [PrmRecord], users: &[PrmRecord]) {
    let mut first: BTreeMap<i64, i64> = BTreeMap::new();
    for u in users {
        if let (Some(a), Some(id)) = (u["AccountId"].as_i64(), u["Id"].as_i64()) {
            let e = first.entry(a).or_insert(id);
            *e = (*e).min(id);
        }
    }
    for (i, a) in accounts.iter_mut().enumerate() {
        let id = a["Id"].as_i64().unwrap_or(0);
        a.insert(
            "PrimaryUserId".into(),
            first.get(&id).map_or(Value::Null, |u| json!(u)),
        );
        a.insert(
            "ParentAccountId".into(),
            if i % 17 == 5 {
                json!(ACCOUNT_ID_BASE)
            } else {
                Value::Null
            },
        );
    }
}
