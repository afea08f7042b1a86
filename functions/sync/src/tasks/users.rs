//! `lms-users`: Northpass people → `USER#` profiles (+ e-mail lookups),
//! page by page. Full runs mark people gone from the LMS as deactivated.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use portal_core::model::LmsUser;
use portal_core::recompute::affected::{self, ChangedUser};
use portal_core::store::entities::user_items;
use portal_core::store::{keys, ItemKey};
use portal_core::task_run::{Mode, TaskRun};

use super::Fetched;
use crate::convert;
use crate::deps::Deps;
use crate::error::SyncError;
use crate::markers::{self, DueItem};
use crate::refresh::Touched;
use crate::write::put_counted;

pub async fn fetch(deps: &Deps, run: &mut TaskRun) -> Result<Fetched, SyncError> {
    let np = deps.northpass()?;
    let store = &deps.store;
    let now = deps.config.clock.now();
    let since = match run.mode {
        Mode::Incremental => run.watermark,
        Mode::Full => None,
    };
    let mut seen: HashSet<String> = HashSet::new();
    // The users whose profile changed, with their old and new e-mail.
    let mut changed: Vec<ChangedUser> = Vec::new();
    let mut stale_lookups: Vec<ItemKey> = Vec::new();

    let mut failure: Option<SyncError> = None;
    let mut pages = Box::pin(np.people_pages(since));
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        };
        // What is stored of this page's people: keyed reads, in
        // proportion to the page (not the table).
        let keys: Vec<ItemKey> = page
            .iter()
            .map(|p| ItemKey::new(keys::user_pk(&p.id), keys::PROFILE))
            .collect();
        let stored: HashMap<ItemKey, LmsUser> = store.get_items_as(&keys).await?;
        let mut items = Vec::with_capacity(page.len() * 2);
        let mut users = Vec::with_capacity(page.len());
        for p in &page {
            run.counts.processed += 1;
            let u = convert::user(p);
            seen.insert(u.id.clone());
            let old = stored.get(&ItemKey::new(keys::user_pk(&u.id), keys::PROFILE));
            if let Some(old) = old {
                let (o, n) = (
                    keys::normalize_email(&old.email),
                    keys::normalize_email(&u.email),
                );
                if !o.is_empty() && o != n {
                    stale_lookups
                        .push(ItemKey::new(keys::email_pk(&o), keys::email_user_sk(&u.id)));
                }
            }
            items.extend(user_items(&u)?);
            users.push((u, old.cloned()));
        }
        let written: HashSet<ItemKey> = put_counted(store, items, &mut run.counts)
            .await?
            .into_iter()
            .collect();
        let mut due = Vec::new();
        for (u, old) in users {
            if !written.contains(&ItemKey::new(keys::user_pk(&u.id), keys::PROFILE)) {
                continue;
            }
            // Course activity (Northpass stamps it on the person): the
            // next incremental enrollment run looks at this transcript.
            if old
                .as_ref()
                .is_none_or(|o| o.last_active_at != u.last_active_at)
            {
                due.push(DueItem {
                    user_id: u.id.clone(),
                    queued_at: Some(now),
                    ..Default::default()
                });
            }
            changed.push(changed_user(&u, old.as_ref()));
        }
        markers::queue(store, due).await?;
        run.heartbeat().await?;
    }

    // Only a complete listing tells who is gone; a full run may read every
    // stored user.
    if run.mode == Mode::Full && failure.is_none() {
        // Gone from the LMS: kept (history, links) but no longer counted.
        let mut gone = Vec::new();
        for u in store.all_users().await? {
            if !seen.contains(&u.id) && u.is_active() {
                let mut u = u.clone();
                u.deactivated_at = Some(now);
                gone.push(u);
            }
        }
        let items = gone.iter().map(user_items).collect::<Result<Vec<_>, _>>()?;
        let mut c = portal_core::task_run::Counts::default();
        put_counted(store, items.into_iter().flatten().collect(), &mut c).await?;
        run.counts.deactivated += gone.len() as u64;
        run.counts.unchanged += c.unchanged;
        changed.extend(gone.iter().map(|u| changed_user(u, None)));
    }
    if !stale_lookups.is_empty() {
        run.counts.deactivated += stale_lookups.len() as u64;
        store.batch_delete(stale_lookups).await?;
    }

    // Partners of the changed users, by their groups and by their old and
    // new e-mails (an e-mail change can move a user between partners).
    let mut touched = Touched::Nothing;
    touched.add(affected::partners_of_users(store, &changed).await?);
    Ok(match failure {
        Some(e) => Fetched::Failed(touched, e),
        None => Fetched::Done(touched),
    })
}

fn changed_user(u: &LmsUser, old: Option<&LmsUser>) -> ChangedUser {
    let mut emails = vec![u.email.clone()];
    emails.extend(old.map(|o| o.email.clone()).filter(|e| e != &u.email));
    ChangedUser {
        id: u.id.clone(),
        emails,
    }
}
