//! The largest stored item per entity type, measured as DynamoDB counts an
//! item (attribute names + values, `portal_core::store::capacity`): an item
//! over 400 KB is refused, so an entity whose items grow with a partner
//! (the per-partner summary once held one entry per certification) would
//! break the recompute of every partner after the largest.

use portal_core::store::capacity::item_size;
use portal_core::store::keys::entity;
use portal_core::store::Store;

use crate::results::{Row, Section};

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// Entity types read (through the type index): the per-partner ones.
const KINDS: [&str; 4] = [
    entity::SUMMARY,
    entity::CERT,
    entity::PARTNER,
    entity::ORGCERT,
];

/// `(entity, items, largest item in bytes)` per kind.
pub async fn largest(store: &Store) -> anyhow::Result<Vec<(&'static str, usize, usize)>> {
    let mut out = Vec::new();
    for kind in KINDS {
        let items = store.query_type(kind).await?;
        let max = items.iter().map(item_size).max().unwrap_or(0);
        out.push((kind, items.len(), max));
    }
    Ok(out)
}

pub fn section(sizes: &[(&'static str, usize, usize)], data_label: &str) -> Section {
    let mut s = Section::new("4i", "Largest stored item per entity type");
    for (kind, n, max) in sizes {
        s.rows.push(
            Row::new(
                format!("largest {kind} item ({n} items, {data_label})"),
                format!("{max} bytes"),
            )
            .target("< 400 KB", *max < MAX_ITEM_BYTES),
        );
    }
    s
}
