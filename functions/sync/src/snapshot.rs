//! Every partner's members, loaded whole for the one computation that
//! needs them all: the full `lms-enrollments` run, which fetches every
//! partner user's transcript. Incremental runs and the recompute read by
//! key instead (`portal_core::recompute`). Typed structs only — a few tens
//! of MB for the reference data set.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use portal_core::model::{Contact, LmsGroup, LmsUser, Membership, Partner};
use portal_core::rules::members::normalize_email;
use portal_core::store::Store;

use crate::error::SyncError;

/// The groups a partner can be linked to: those the LMS still lists.
pub async fn active_groups(store: &Store) -> Result<Vec<LmsGroup>, SyncError> {
    let mut groups = store.all_groups().await?;
    groups.retain(|g| g.active);
    Ok(groups)
}

pub struct Snapshot {
    pub partners: Vec<Partner>,
    pub users: HashMap<String, LmsUser>,
    /// Normalised e-mail → user ids.
    pub users_by_email: HashMap<String, Vec<String>>,
    /// Account id → its contacts.
    pub contacts_by_partner: HashMap<String, Vec<Contact>>,
    /// Group id → members, for groups linked to a partner only.
    pub memberships: HashMap<String, Vec<Membership>>,
}

impl Snapshot {
    pub async fn load(store: &Store) -> Result<Snapshot, SyncError> {
        let partners = store.all_partners().await?;
        let users: HashMap<String, LmsUser> = store
            .all_users()
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let mut users_by_email: HashMap<String, Vec<String>> = HashMap::new();
        for u in users.values() {
            let e = normalize_email(&u.email);
            if !e.is_empty() {
                users_by_email.entry(e).or_default().push(u.id.clone());
            }
        }
        for ids in users_by_email.values_mut() {
            ids.sort();
        }
        let mut contacts_by_partner: HashMap<String, Vec<Contact>> = HashMap::new();
        for c in store.all_contacts().await? {
            if let Some(a) = c.account_id.clone() {
                contacts_by_partner.entry(a).or_default().push(c);
            }
        }
        let mut memberships = HashMap::new();
        let linked: BTreeSet<&str> = partners
            .iter()
            .filter_map(|p| p.lms_group_id.as_deref())
            .collect();
        for gid in linked {
            memberships.insert(gid.to_string(), store.group_members(gid).await?);
        }
        Ok(Snapshot {
            partners,
            users,
            users_by_email,
            contacts_by_partner,
            memberships,
        })
    }

    /// Users that may belong to `partner` (group members, users with a
    /// contact's e-mail or link) — the rules then decide who counts.
    pub fn candidate_users(&self, partner: &Partner) -> Vec<LmsUser> {
        let mut ids: BTreeSet<&str> = BTreeSet::new();
        if let Some(g) = partner.lms_group_id.as_deref() {
            for m in self.memberships.get(g).into_iter().flatten() {
                ids.insert(&m.user_id);
            }
        }
        for c in self
            .contacts_by_partner
            .get(&partner.id)
            .into_iter()
            .flatten()
        {
            for id in self
                .users_by_email
                .get(&normalize_email(&c.email))
                .into_iter()
                .flatten()
            {
                ids.insert(id);
            }
            if let Some(id) = c.lms_user_id.as_deref() {
                ids.insert(id);
            }
        }
        ids.into_iter()
            .filter_map(|id| self.users.get(id).cloned())
            .collect()
    }

    /// Active partner users (of any partner): whose transcripts we fetch.
    /// Map user id → partner ids.
    pub fn partner_users(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for p in &self.partners {
            for u in self.members(p) {
                out.entry(u).or_default().insert(p.id.clone());
            }
        }
        out
    }

    /// Ids of the users that count for `partner` (the rules' membership).
    pub fn members(&self, partner: &Partner) -> Vec<String> {
        let users = self.candidate_users(partner);
        let contacts = self
            .contacts_by_partner
            .get(&partner.id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let memberships = partner
            .lms_group_id
            .as_deref()
            .and_then(|g| self.memberships.get(g))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        portal_core::rules::members::partner_members(
            partner,
            partner.lms_group_id.as_deref(),
            memberships,
            contacts,
            &users,
        )
        .into_keys()
        .map(str::to_string)
        .collect()
    }
}
