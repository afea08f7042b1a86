//! `crm-partners`: Impartner accounts → partner profiles. Partners in an
//! untracked tier (`Pending`) or `Inactive` are kept with `tracked =
//! false`; a full run also untracks accounts gone from the CRM (never
//! deletes: history and pinned links survive a comeback). New partners are
//! matched to their LMS group right away.

use std::collections::{BTreeSet, HashMap, HashSet};

use futures::StreamExt;
use portal_core::model::Partner;
use portal_core::store::entities::partner_item;
use portal_core::tasks::{Mode, TaskRun};

use super::Fetched;
use crate::convert;
use crate::deps::Deps;
use crate::error::SyncError;
use crate::link::relink_partners;
use crate::recompute::Touched;
use crate::write::put_counted;

pub async fn fetch(deps: &Deps, run: &mut TaskRun) -> Result<Fetched, SyncError> {
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
    let mut seen: HashSet<String> = HashSet::new();
    let mut touched_ids: BTreeSet<String> = BTreeSet::new();

    let mut failure: Option<SyncError> = None;
    let mut pages = Box::pin(prm.accounts_pages(since));
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        };
        let mut items = Vec::new();
        for a in page {
            run.counts.processed += 1;
            seen.insert(a.id.clone());
            let mut p = convert::partner(&a, stored.get(&a.id), untracked);
            if let Some(old) = stored.get(&a.id) {
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
    }
    // Only a complete listing tells who is gone.
    if run.mode == Mode::Full && failure.is_none() {
        let mut gone = Vec::new();
        for p in stored
            .values()
            .filter(|p| !seen.contains(&p.id) && p.tracked)
        {
            let mut p = p.clone();
            p.tracked = false;
            touched_ids.insert(p.id.clone());
            gone.push(partner_item(&p)?);
        }
        run.counts.deactivated += gone.len() as u64;
        let mut c = portal_core::tasks::Counts::default();
        put_counted(store, gone, &mut c).await?;
    }

    let mut partners = store.all_partners().await?;
    let groups = crate::tasks::groups::active_groups(store).await?;
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
