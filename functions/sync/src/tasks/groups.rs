//! `lms-groups`: groups, their memberships, and partner ↔ group matching.
//! Incremental runs re-read the memberships of groups updated since the
//! watermark (a membership change bumps the group in Northpass); full runs
//! re-read every group's. Users newly added to a group get their transcript
//! marked for re-fetch.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::StreamExt;
use portal_core::model::{LmsGroup, Membership};
use portal_core::store::entities::{group_item, member_of_item, membership_item, membership_keys};
use portal_core::store::ItemKey;
use portal_core::task_run::{Budget, Mode, TaskRun};

use super::{Cursor, Fetched, Phase};
use crate::convert;
use crate::deps::Deps;
use crate::error::SyncError;
use crate::link::relink_partners;
use crate::markers::mark_for_refetch;
use crate::snapshot::active_groups;
use crate::write::put_counted;
use portal_core::recompute::affected::partners_of_groups;

pub async fn fetch(
    deps: &Deps,
    run: &mut TaskRun,
    cursor: &Cursor,
    budget: &Budget,
) -> Result<Fetched, SyncError> {
    let np = deps.northpass()?;
    let store = &deps.store;
    let since = match run.mode {
        Mode::Incremental => run.watermark,
        Mode::Full => None,
    };
    let stored: HashMap<String, LmsGroup> = store
        .all_groups()
        .await?
        .into_iter()
        .map(|g| (g.id.clone(), g))
        .collect();

    // Groups are few (≈1,400 in a real program): list them whole.
    let mut fetched: Vec<LmsGroup> = Vec::new();
    let mut pages = Box::pin(np.groups_pages(since));
    while let Some(page) = pages.next().await {
        fetched.extend(page?.iter().map(convert::group));
    }
    // On a continuation the profiles were written already; rewriting is a
    // no-op (unchanged hashes), so only count them the first time.
    let mut scratch = portal_core::task_run::Counts::default();
    let counts = if cursor.after.is_none() {
        &mut run.counts
    } else {
        &mut scratch
    };
    counts.processed += fetched.len() as u64;
    let items = fetched
        .iter()
        .map(group_item)
        .collect::<Result<Vec<_>, _>>()?;
    put_counted(store, items, counts).await?;

    let mut touched = cursor.touched.clone();
    let mut touched_groups: BTreeSet<String> = BTreeSet::new();
    if run.mode == Mode::Full && cursor.after.is_none() {
        // Gone from the LMS: marked inactive, never deleted (its
        // memberships stay as they were, for history). Partners linked to
        // it are unlinked by the re-match below, which sees active groups
        // only; a group that comes back is reactivated by the write above.
        let seen: HashSet<&str> = fetched.iter().map(|g| g.id.as_str()).collect();
        let vanished: Vec<LmsGroup> = stored
            .values()
            .filter(|g| g.active && !seen.contains(g.id.as_str()))
            .map(|g| LmsGroup {
                active: false,
                ..g.clone()
            })
            .collect();
        if !vanished.is_empty() {
            run.counts.deactivated += vanished.len() as u64;
            touched_groups.extend(vanished.iter().map(|g| g.id.clone()));
            let items = vanished
                .iter()
                .map(group_item)
                .collect::<Result<Vec<_>, _>>()?;
            store.batch_put(items).await?;
        }
    }

    // Memberships, in group-id order so a checkpoint is a group id.
    let mut ids: Vec<String> = fetched.iter().map(|g| g.id.clone()).collect();
    ids.sort();
    ids.retain(|id| cursor.after.as_deref().is_none_or(|a| id.as_str() > a));
    let chunk = deps.options.concurrency.max(1);
    let mut last_done: Option<String> = None;
    for batch in ids.chunks(chunk) {
        if last_done.is_some() && budget.exhausted() {
            touched.add(partners_of_groups(store, &touched_groups).await?);
            return Ok(Fetched::Checkpoint(Cursor {
                phase: Phase::Fetch,
                after: last_done,
                touched,
            }));
        }
        let mut results = Box::pin(np.fetch_all_memberships(batch.to_vec(), chunk));
        let mut got: Vec<(String, Vec<Membership>)> = Vec::new();
        let mut failure: Option<SyncError> = None;
        while let Some((gid, r)) = results.next().await {
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    failure.get_or_insert(e.into());
                    continue;
                }
            };
            let members = r
                .into_iter()
                .map(|m| Membership {
                    group_id: m.group_id,
                    user_id: m.person_id,
                })
                .collect();
            got.push((gid, members));
        }
        for (gid, members) in got {
            if apply_memberships(deps, run, &gid, members, run.mode == Mode::Full).await? {
                touched_groups.insert(gid);
            }
        }
        if let Some(e) = failure {
            touched.add(partners_of_groups(store, &touched_groups).await?);
            return Ok(Fetched::Failed(touched, e));
        }
        last_done = batch.last().cloned();
        run.heartbeat().await?;
    }

    // Re-match every partner against the groups now stored.
    let mut partners = store.all_partners().await?;
    let groups = active_groups(store).await?;
    let relinked = relink_partners(
        store,
        &mut partners,
        &groups,
        &deps.config.legal_forms,
        &mut run.counts,
    )
    .await?;
    touched.add(relinked);
    touched.add(partners_of_groups(store, &touched_groups).await?);
    Ok(Fetched::Done(touched))
}

/// Makes the stored members of `gid` equal `members` (each membership is
/// two items: in the group's partition and, as `MEMBEROF#`, in the user's);
/// returns whether anything changed. Added users are marked for a
/// transcript re-fetch. A full run also writes the user-side items of
/// unchanged memberships where they are missing (tables synced before
/// they existed), without counting them.
async fn apply_memberships(
    deps: &Deps,
    run: &mut TaskRun,
    gid: &str,
    members: Vec<Membership>,
    full: bool,
) -> Result<bool, SyncError> {
    let store = &deps.store;
    let existing: HashSet<String> = store
        .group_members(gid)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    let wanted: HashSet<String> = members.iter().map(|m| m.user_id.clone()).collect();
    run.counts.processed += members.len() as u64;
    let added: Vec<&Membership> = members
        .iter()
        .filter(|m| !existing.contains(&m.user_id))
        .collect();
    let removed: Vec<ItemKey> = existing
        .iter()
        .filter(|u| !wanted.contains(*u))
        .flat_map(|u| membership_keys(gid, u))
        .collect();
    run.counts.unchanged += (members.len() - added.len()) as u64;
    let mut scratch = portal_core::task_run::Counts::default();
    if full {
        let user_side = members
            .iter()
            .filter(|m| existing.contains(&m.user_id))
            .map(member_of_item)
            .collect::<Result<Vec<_>, _>>()?;
        put_counted(store, user_side, &mut scratch).await?;
    }
    if added.is_empty() && removed.is_empty() {
        return Ok(false);
    }
    let items = added
        .iter()
        .map(|m| membership_item(m))
        .collect::<Result<Vec<_>, _>>()?;
    let user_side = added
        .iter()
        .map(|m| member_of_item(m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut c = portal_core::task_run::Counts::default();
    put_counted(store, items, &mut c).await?;
    put_counted(store, user_side, &mut scratch).await?;
    run.counts.created += c.created + c.updated;
    if !removed.is_empty() {
        run.counts.deactivated += (removed.len() / 2) as u64;
        store.batch_delete(removed).await?;
    }
    // Queued for the next incremental enrollment run — except on a full
    // run of a group that had no members yet (a first sync: the full
    // enrollment run that follows fetches everyone anyway).
    if !existing.is_empty() || !full {
        let ids: Vec<String> = added.iter().map(|m| m.user_id.clone()).collect();
        mark_for_refetch(store, &ids, deps.config.clock.now()).await?;
    }
    Ok(true)
}
