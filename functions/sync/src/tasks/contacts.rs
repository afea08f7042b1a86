//! `crm-contacts`: Impartner users → contacts, linked to LMS users by
//! case-insensitive e-mail. Internal-domain and shared-mailbox contacts are
//! skipped (and deactivated if we had them); a full run deactivates
//! contacts gone from the CRM. Links are recomputed for every stored
//! contact on each run, so an LMS e-mail change is reflected even when the
//! CRM record did not change.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::StreamExt;
use portal_core::model::{Contact, LmsUser};
use portal_core::rules::filters::contact_exclusion;
use portal_core::rules::members::normalize_email;
use portal_core::store::entities::{account_contact_key, contact_items};
use portal_core::store::{keys, ItemKey};
use portal_core::task_run::{Mode, TaskRun};

use super::Fetched;
use crate::convert;
use crate::deps::Deps;
use crate::error::SyncError;
use crate::guard;
use crate::markers::mark_for_refetch;
use crate::refresh::Touched;
use crate::write::put_counted;

/// The LMS user a contact e-mail points at: an active one first, then the
/// smallest id, so the choice is stable between runs.
fn link_for(email: &str, by_email: &HashMap<String, Vec<&LmsUser>>) -> Option<String> {
    let users = by_email.get(&normalize_email(email))?;
    users
        .iter()
        .min_by_key(|u| (!u.is_active(), u.id.as_str()))
        .map(|u| u.id.clone())
}

pub async fn fetch(deps: &Deps, run: &mut TaskRun, force: bool) -> Result<Fetched, SyncError> {
    let prm = deps.impartner()?;
    let store = &deps.store;
    let cfg = &deps.config;
    let since = match run.mode {
        Mode::Incremental => run.watermark,
        Mode::Full => None,
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut touched_partners: BTreeSet<String> = BTreeSet::new();
    let mut stale_lookups: Vec<ItemKey> = Vec::new();

    // The whole listing first, so a full run can be judged by the guard
    // before it writes anything.
    let mut failure: Option<SyncError> = None;
    let mut listed = Vec::new();
    let mut pages = Box::pin(prm.users_pages(since));
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => listed.extend(p),
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        }
    }
    let read = listed.len();
    // What is stored: a full run reads every contact and user (it re-links
    // them all and judges vanished ones); an incremental run reads only the
    // listed contacts and the users their e-mails name (issue 17).
    let (stored, users): (HashMap<String, Contact>, Vec<LmsUser>) = match run.mode {
        Mode::Full => (
            store
                .all_contacts()
                .await?
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect(),
            store.all_users().await?,
        ),
        Mode::Incremental => {
            let ids: Vec<String> = listed.iter().map(|u| u.id.clone()).collect();
            let emails: BTreeSet<String> = listed
                .iter()
                .filter_map(|u| u.email.as_deref())
                .map(normalize_email)
                .filter(|e| !e.is_empty())
                .collect();
            (
                stored_contacts(store, &ids).await?,
                users_with(store, &emails).await?,
            )
        }
    };
    let mut by_email: HashMap<String, Vec<&LmsUser>> = HashMap::new();
    for u in &users {
        let e = normalize_email(&u.email);
        if !e.is_empty() {
            by_email.entry(e).or_default().push(u);
        }
    }
    let mut out: Vec<Contact> = Vec::new();
    {
        for u in listed {
            run.counts.processed += 1;
            seen.insert(u.id.clone());
            let old = stored.get(&u.id);
            let mut c = convert::contact(&u, old, &cfg.inactive_contact_statuses);
            let excluded =
                contact_exclusion(&c.email, &cfg.internal_domains, &cfg.shared_mailboxes);
            if excluded.is_some() {
                // Skipped; one we had before is kept but inactive.
                match old {
                    Some(o) if o.active => {
                        c.active = false;
                        run.counts.deactivated += 1;
                    }
                    Some(_) => c.active = false,
                    None => continue,
                }
            }
            c.lms_user_id = link_for(&c.email, &by_email);
            if let Some(o) = old {
                let (oe, ne) = (normalize_email(&o.email), normalize_email(&c.email));
                if !oe.is_empty() && oe != ne {
                    stale_lookups.push(ItemKey::new(
                        keys::email_pk(&oe),
                        keys::email_contact_sk(&c.id),
                    ));
                }
                // Moved to another partner: its copy under the old one goes.
                if let Some(acc) = o
                    .account_id
                    .as_deref()
                    .filter(|a| c.account_id.as_deref() != Some(*a))
                {
                    stale_lookups.push(account_contact_key(acc, &c.id));
                }
            }
            out.push(c);
        }
    }

    // Not in this run's pages (full runs only: an incremental run read only
    // the listed ones): the vanished are deactivated, and every contact is
    // re-linked by e-mail against the LMS users now stored.
    let mut rest: Vec<Contact> = Vec::new();
    for c in stored.values().filter(|c| !seen.contains(&c.id)) {
        let mut n = c.clone();
        // Only a complete listing tells who is gone.
        if run.mode == Mode::Full && failure.is_none() && n.active {
            n.active = false;
            run.counts.deactivated += 1;
        }
        n.lms_user_id = link_for(&n.email, &by_email);
        if &n != c {
            rest.push(n);
        }
    }
    if run.mode == Mode::Full && failure.is_none() {
        let was_active = |id: &str| stored.get(id).is_some_and(|o| o.active);
        let dropping = out
            .iter()
            .chain(&rest)
            .filter(|c| !c.active && was_active(&c.id))
            .count();
        guard::check(
            &run.task,
            guard::Drops {
                kind: "contacts",
                stored_active: stored.values().filter(|c| c.active).count(),
                read,
                dropping,
            },
            cfg.untrack_guard_percent,
            force,
        )?;
    }
    let (p1, w1) = write_contacts(deps, run, &out, &stored).await?;
    let (p2, w2) = write_contacts(deps, run, &rest, &stored).await?;
    touched_partners.extend(p1.into_iter().chain(p2));
    // Users a changed contact reaches may have just become partner users:
    // their transcripts are queued for the next incremental enrollment run
    // (not on a first sync, which a full enrollment run follows).
    if run.mode == Mode::Incremental || !stored.is_empty() {
        let ids: Vec<String> = w1
            .iter()
            .chain(&w2)
            .filter_map(|c| by_email.get(&normalize_email(&c.email)))
            .flatten()
            .map(|u| u.id.clone())
            .collect();
        mark_for_refetch(store, &ids, cfg.clock.now()).await?;
    }
    if !stale_lookups.is_empty() {
        store.batch_delete(stale_lookups).await?;
    }
    let mut touched = Touched::Nothing;
    touched.add(touched_partners);
    Ok(match failure {
        Some(e) => Fetched::Failed(touched, e),
        None => Fetched::Done(touched),
    })
}

/// Writes contacts (unchanged ones cost nothing); returns the partners
/// whose membership may have changed (old and new account) and the
/// contacts written.
async fn write_contacts<'c>(
    deps: &Deps,
    run: &mut TaskRun,
    contacts: &'c [Contact],
    stored: &HashMap<String, Contact>,
) -> Result<(BTreeSet<String>, Vec<&'c Contact>), SyncError> {
    let mut items = Vec::new();
    for c in contacts {
        items.extend(contact_items(c)?);
    }
    let written: HashSet<ItemKey> = put_counted(&deps.store, items, &mut run.counts)
        .await?
        .into_iter()
        .collect();
    let mut partners = BTreeSet::new();
    let mut changed = Vec::new();
    for c in contacts {
        if written.contains(&ItemKey::new(keys::contact_pk(&c.id), keys::PROFILE)) {
            partners.extend(c.account_id.clone());
            if let Some(o) = stored.get(&c.id) {
                partners.extend(o.account_id.clone());
            }
            changed.push(c);
        }
    }
    Ok((partners, changed))
}

/// The stored contacts of `ids` (one BatchGetItem per 100).
async fn stored_contacts(
    store: &portal_core::store::Store,
    ids: &[String],
) -> Result<HashMap<String, Contact>, SyncError> {
    let keys: Vec<ItemKey> = ids
        .iter()
        .map(|id| ItemKey::new(keys::contact_pk(id), keys::PROFILE))
        .collect();
    Ok(store
        .get_items_as::<Contact>(&keys)
        .await?
        .into_values()
        .map(|c| (c.id.clone(), c))
        .collect())
}

/// The LMS users with any of `emails` (a lookup Query per e-mail, then
/// one BatchGetItem of their profiles).
async fn users_with(
    store: &portal_core::store::Store,
    emails: &BTreeSet<String>,
) -> Result<Vec<LmsUser>, SyncError> {
    let mut keys = Vec::new();
    for e in emails {
        for link in store.lookup_email(e).await? {
            if let Some(id) = link.user_id {
                keys.push(ItemKey::new(keys::user_pk(&id), keys::PROFILE));
            }
        }
    }
    Ok(store
        .get_items_as::<LmsUser>(&keys)
        .await?
        .into_values()
        .collect())
}
