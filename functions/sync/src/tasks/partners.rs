//! `crm-partners`: Impartner accounts → partner profiles. Partners in an
//! untracked tier (`Pending`) or `Inactive` are kept with `tracked =
//! false`; a full run also untracks accounts gone from the CRM (never
//! deletes: history and pinned links survive a comeback) — unless that
//! would untrack too many at once (`guard`). New partners are matched to
//! their LMS group right away.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::StreamExt;
use portal_core::model::Partner;
use portal_core::store::entities::partner_item;
use portal_core::task_run::{Mode, TaskRun};

use super::Fetched;
use crate::convert;
use crate::deps::Deps;
use crate::error::SyncError;
use crate::guard;
use crate::link::relink_partners;
use crate::refresh::Touched;
use crate::write::put_counted;

pub async fn fetch(deps: &Deps, run: &mut TaskRun, force: bool) -> Result<Fetched, SyncError> {
    let prm = deps.impartner()?;
    let store = &deps.store;
    let untracked = &deps.config.untracked_tiers;
    let since = match run.mode {
        Mode::Incremental => run.watermark,
        Mode::Full => None,
    };
    let stored: HashMap<String, Partner> = store
        .all_partners()
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    // Once per run: every account of the run resolves its `RegionId` here.
    let regions = prm.regions().await?;

    // The whole listing first (a few thousand accounts at most), so a full
    // run can be judged by the guard before it writes anything.
    let mut failure: Option<SyncError> = None;
    let mut read: Vec<Partner> = Vec::new();
    let mut pages = Box::pin(prm.accounts_pages(since));
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => read.extend(
                p.iter()
                    .map(|a| convert::partner(a, stored.get(&a.id), untracked, &regions)),
            ),
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        }
    }
    let seen: HashSet<String> = read.iter().map(|p| p.id.clone()).collect();
    // Only a complete listing tells who is gone.
    let gone: Vec<Partner> = if run.mode == Mode::Full && failure.is_none() {
        stored
            .values()
            .filter(|p| !seen.contains(&p.id) && p.tracked)
            .map(|p| Partner {
                tracked: false,
                ..p.clone()
            })
            .collect()
    } else {
        Vec::new()
    };
    if run.mode == Mode::Full && failure.is_none() {
        let untracking = read
            .iter()
            .filter(|p| !p.tracked && stored.get(&p.id).is_some_and(|o| o.tracked))
            .count();
        guard::check(
            &run.task,
            guard::Drops {
                kind: "partners",
                stored_active: stored.values().filter(|p| p.tracked).count(),
                read: read.len(),
                dropping: gone.len() + untracking,
            },
            deps.config.untrack_guard_percent,
            force,
        )?;
    }

    let mut touched_ids: BTreeSet<String> = BTreeSet::new();
    let mut items = Vec::new();
    for mut p in read {
        run.counts.processed += 1;
        if let Some(old) = stored.get(&p.id) {
            // Our own push bumps `Updated` in the CRM; a bump with no
            // other change must not rewrite the partner.
            let mut cmp = p.clone();
            cmp.updated_at = old.updated_at;
            if &cmp == old {
                p = cmp;
            }
        }
        items.push(partner_item(&p)?);
    }
    for k in put_counted(store, items, &mut run.counts).await? {
        if let Some(id) = k.pk.strip_prefix("PARTNER#") {
            touched_ids.insert(id.to_string());
        }
    }
    if !gone.is_empty() {
        run.counts.deactivated += gone.len() as u64;
        touched_ids.extend(gone.iter().map(|p| p.id.clone()));
        let items = gone
            .iter()
            .map(partner_item)
            .collect::<Result<Vec<_>, _>>()?;
        let mut c = portal_core::task_run::Counts::default();
        put_counted(store, items, &mut c).await?;
    }

    let mut partners = store.all_partners().await?;
    let groups = crate::snapshot::active_groups(store).await?;
    touched_ids.extend(
        relink_partners(
            store,
            &mut partners,
            &groups,
            &deps.config.legal_forms,
            &mut run.counts,
        )
        .await?,
    );
    let mut touched = Touched::Nothing;
    touched.add(touched_ids);
    Ok(match failure {
        Some(e) => Fetched::Failed(touched, e),
        None => Fetched::Done(touched),
    })
}
