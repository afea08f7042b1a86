//! `lms-users`: Northpass people → `USER#` profiles (+ e-mail lookups),
//! page by page. Full runs mark people gone from the LMS as deactivated.

use std::collections::{BTreeSet, HashSet};

use futures::StreamExt;
use portal_core::model::LmsUser;
use portal_core::store::entities::user_items;
use portal_core::store::{keys, ItemKey};
use portal_core::tasks::{Mode, TaskRun};

use super::Fetched;
use crate::convert;
use crate::deps::Deps;
use crate::error::SyncError;
use crate::recompute::Touched;
use crate::snapshot::Snapshot;
use crate::write::put_counted;

pub async fn fetch(deps: &Deps, run: &mut TaskRun) -> Result<Fetched, SyncError> {
    let np = deps.northpass()?;
    let store = &deps.store;
    let since = match run.mode {
        Mode::Incremental => run.watermark,
        Mode::Full => None,
    };
    let mut snap = Snapshot::load(store).await?;
    let mut seen: HashSet<String> = HashSet::new();
    let mut changed: Vec<LmsUser> = Vec::new();
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
        let mut items = Vec::with_capacity(page.len() * 2);
        let mut users = Vec::with_capacity(page.len());
        for p in &page {
            run.counts.processed += 1;
            let u = convert::user(p);
            seen.insert(u.id.clone());
            if let Some(old) = snap.users.get(&u.id) {
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
            users.push(u);
        }
        let written: HashSet<ItemKey> = put_counted(store, items, &mut run.counts)
            .await?
            .into_iter()
            .collect();
        changed.extend(
            users
                .into_iter()
                .filter(|u| written.contains(&ItemKey::new(keys::user_pk(&u.id), keys::PROFILE))),
        );
        run.heartbeat().await?;
    }

    // Only a complete listing tells who is gone.
    if run.mode == Mode::Full && failure.is_none() {
        // Gone from the LMS: kept (history, links) but no longer counted.
        let now = deps.config.clock.now();
        let mut gone = Vec::new();
        for u in snap.users.values() {
            if !seen.contains(&u.id) && u.is_active() {
                let mut u = u.clone();
                u.deactivated_at = Some(now);
                gone.push(u);
            }
        }
        let items = gone.iter().map(user_items).collect::<Result<Vec<_>, _>>()?;
        let mut c = portal_core::tasks::Counts::default();
        put_counted(store, items.into_iter().flatten().collect(), &mut c).await?;
        run.counts.deactivated += gone.len() as u64;
        run.counts.unchanged += c.unchanged;
        changed.extend(gone);
    }
    if !stale_lookups.is_empty() {
        run.counts.deactivated += stale_lookups.len() as u64;
        store.batch_delete(stale_lookups).await?;
    }

    // Partners of the changed users before and after the change (an
    // e-mail change can move a user between partners).
    let ids: BTreeSet<String> = changed.iter().map(|u| u.id.clone()).collect();
    let mut touched = Touched::Nothing;
    touched.add(snap.partners_of_users(&ids));
    snap.replace_users(changed);
    touched.add(snap.partners_of_users(&ids));
    Ok(match failure {
        Some(e) => Fetched::Failed(touched, e),
        None => Fetched::Done(touched),
    })
}
