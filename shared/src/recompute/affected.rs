//! Which partners a change touches, found by keyed reads: a changed user
//! reaches partners through the groups they are a member of (their
//! `MEMBEROF#` items, then the partners linked to those groups) and through
//! contacts with their e-mail. What this reads follows the number of
//! changed users, plus one read of the partner profiles (the group → partner
//! links live on them; a program has about as many partners as groups).

use std::collections::{BTreeMap, BTreeSet};

use super::LOOKUPS_AT_ONCE;
use crate::model::Membership;
use crate::rules::members::normalize_email;
use crate::store::entities::EmailLink;
use crate::store::keys;
use crate::store::{QuerySpec, Result, SkCondition, Store};

/// A changed user: its id and every e-mail it had or has (an e-mail change
/// moves the user between partners).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangedUser {
    pub id: String,
    pub emails: Vec<String>,
}

/// The groups `user_id` is a member of (one Query of its partition).
pub async fn groups_of_user(store: &Store, user_id: &str) -> Result<Vec<String>> {
    let items = store
        .query(
            &QuerySpec::partition(keys::user_pk(user_id))
                .sk(SkCondition::BeginsWith(keys::member_of_sk(""))),
        )
        .await?;
    let members: Vec<Membership> = serde_dynamo::from_items(items)?;
    Ok(members.into_iter().map(|m| m.group_id).collect())
}

/// Partners linked to any of `groups` (read from the partner profiles).
pub async fn partners_of_groups(
    store: &Store,
    groups: &BTreeSet<String>,
) -> Result<BTreeSet<String>> {
    Ok(partners_by_group(store, groups)
        .await?
        .into_values()
        .flatten()
        .collect())
}

/// Group id → the partners linked to it, for the groups of `wanted` (no
/// read when there are none).
async fn partners_by_group(
    store: &Store,
    wanted: &BTreeSet<String>,
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut by_group: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(by_group);
    }
    for p in store.all_partners().await? {
        if let Some(g) = p.lms_group_id.as_deref().filter(|g| wanted.contains(*g)) {
            by_group.entry(g.to_string()).or_default().push(p.id);
        }
    }
    Ok(by_group)
}

/// Partners whose members may include any of `users` (as member of the
/// partner's group or reached by a contact's e-mail, active or not).
pub async fn partners_of_users(store: &Store, users: &[ChangedUser]) -> Result<BTreeSet<String>> {
    Ok(partners_by_user(store, users)
        .await?
        .into_values()
        .flatten()
        .collect())
}

/// [`partners_of_users`], user by user (a caller that must map a partner's
/// failure back to the users that touched it).
pub async fn partners_by_user(
    store: &Store,
    users: &[ChangedUser],
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if users.is_empty() {
        return Ok(out);
    }
    let mut groups: Vec<(String, Vec<String>)> = Vec::with_capacity(users.len());
    for chunk in users.chunks(LOOKUPS_AT_ONCE) {
        let reads: Vec<_> = chunk.iter().map(|u| groups_of_user(store, &u.id)).collect();
        let found = futures::future::try_join_all(reads).await?;
        groups.extend(chunk.iter().map(|u| u.id.clone()).zip(found));
    }
    let wanted: BTreeSet<String> = groups.iter().flat_map(|(_, g)| g.iter().cloned()).collect();
    let by_group = partners_by_group(store, &wanted).await?;
    for (uid, gs) in &groups {
        let set = out.entry(uid.clone()).or_default();
        for g in gs {
            set.extend(by_group.get(g).into_iter().flatten().cloned());
        }
    }

    // By e-mail: the contacts with any e-mail a user had or has.
    let pairs: Vec<(String, String)> = users
        .iter()
        .flat_map(|u| u.emails.iter().map(|e| (u.id.clone(), normalize_email(e))))
        .filter(|(_, e)| !e.is_empty())
        .collect();
    let mut links: Vec<(String, Vec<EmailLink>)> = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(LOOKUPS_AT_ONCE) {
        let reads: Vec<_> = chunk.iter().map(|(_, e)| store.lookup_email(e)).collect();
        let found = futures::future::try_join_all(reads).await?;
        links.extend(chunk.iter().map(|(u, _)| u.clone()).zip(found));
    }
    let contact_links: Vec<EmailLink> = links
        .iter()
        .flat_map(|(_, l)| l.iter().filter(|l| l.contact_id.is_some()).cloned())
        .collect();
    if contact_links.is_empty() {
        return Ok(out);
    }
    let accounts: BTreeMap<String, String> = store
        .contacts_of(&contact_links)
        .await?
        .into_iter()
        .filter_map(|c| Some((c.id, c.account_id?)))
        .collect();
    for (uid, ls) in links {
        let set = out.entry(uid).or_default();
        for cid in ls.iter().filter_map(|l| l.contact_id.as_deref()) {
            set.extend(accounts.get(cid).cloned());
        }
    }
    Ok(out)
}
