//! Partner ↔ LMS group links: recomputed from the stored partners and
//! groups by both `crm-partners` and `lms-groups`, so whichever runs last
//! leaves the right link (a pinned link always wins, see
//! `rules::matching`).

use std::collections::BTreeSet;

use portal_core::model::{LmsGroup, Partner};
use portal_core::rules::matching::{GroupMatcher, LegalForms};
use portal_core::store::entities::partner_item;
use portal_core::store::Store;
use portal_core::task_run::Counts;

use crate::error::SyncError;
use crate::write::put_counted;

/// Re-matches every partner against `groups`; writes partners whose link
/// changed and returns their ids (their summaries must be recomputed).
pub async fn relink_partners(
    store: &Store,
    partners: &mut [Partner],
    groups: &[LmsGroup],
    legal_forms: &LegalForms,
    counts: &mut Counts,
) -> Result<BTreeSet<String>, SyncError> {
    let matcher = GroupMatcher::with_legal_forms(groups, legal_forms);
    let mut changed = Vec::new();
    let mut ids = BTreeSet::new();
    for p in partners.iter_mut() {
        let found = matcher.match_partner(p).map(|m| m.group_id);
        // A pinned link to a group that is (still) missing stays pinned:
        // the admin's decision is not undone by a sync.
        if p.group_pinned && found.is_none() {
            continue;
        }
        if p.lms_group_id != found {
            tracing::info!(partner = %p.id, old = ?p.lms_group_id, new = ?found, "partner group link changed");
            p.lms_group_id = found;
            changed.push(partner_item(p)?);
            ids.insert(p.id.clone());
        }
    }
    put_counted(store, changed, counts).await?;
    Ok(ids)
}
