//! Writing with counts: every write goes through `put_if_changed`-style
//! hashing (no write for an unchanged item), split into created / updated
//! so the run record can tell them apart.

use std::collections::HashMap;

use portal_core::store::{ItemKey, Store, StoreItem};
use portal_core::task_run::Counts;

use crate::error::SyncError;

/// Writes `items` (25 per batch), skipping unchanged ones; adds to
/// `counts` created/updated/unchanged. Returns the keys actually written.
pub async fn put_counted(
    store: &Store,
    items: Vec<StoreItem>,
    counts: &mut Counts,
) -> Result<Vec<ItemKey>, SyncError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<ItemKey> = items.iter().map(|i| i.key().clone()).collect();
    let (known, _) = store.stored_hashes(&keys).await?;
    put_known(store, items, &known, counts).await
}

/// Like [`put_counted`] with hashes the caller already loaded.
pub async fn put_known(
    store: &Store,
    items: Vec<StoreItem>,
    known: &HashMap<ItemKey, String>,
    counts: &mut Counts,
) -> Result<Vec<ItemKey>, SyncError> {
    let mut written = Vec::new();
    for it in &items {
        match known.get(it.key()) {
            Some(h) if h == it.content_hash() => counts.unchanged += 1,
            Some(_) => {
                counts.updated += 1;
                written.push(it.key().clone());
            }
            None => {
                counts.created += 1;
                written.push(it.key().clone());
            }
        }
    }
    store.put_if_changed_known(items, known).await?;
    Ok(written)
}
