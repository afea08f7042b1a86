//! Writes that must land together: a set of items under one partition prefix
//! replaced *and* one item that describes them (a partner's dashboard rows
//! and its summary), so a reader never sees the summary of one state next to
//! the rows of another.
//!
//! When the changes fit one `TransactWriteItems` (100 actions, 4 MB) they
//! are one transaction: all or nothing. Larger changes cannot be atomic in
//! DynamoDB; they are written rows first and the describing item last, so a
//! failure part-way leaves the old describing item (what the all-partner
//! reports read), and the next recompute, which rewrites only what differs,
//! finishes the job.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{Delete, Put, ReturnConsumedCapacity, TransactWriteItem};

use super::batch::{hashes_of, WriteStats};
use super::{
    capacity, caps, entity_of, sdk_err, stats, ItemKey, OpStats, QuerySpec, Result, SkCondition,
    Store, StoreError, StoreItem,
};

/// DynamoDB's limits of one `TransactWriteItems`.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// How [`Store::replace_prefix_with`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// One transaction (rows and the last item together).
    Atomic,
    /// Batches for the rows, then the last item on its own.
    Ordered,
}

impl Store {
    /// Makes the items under `pk` starting with `sk_prefix` exactly `items`
    /// and writes `last` with them: one transaction when it fits, else the
    /// rows first and `last` after them (see the module docs).
    pub async fn replace_prefix_with(
        &self,
        pk: &str,
        sk_prefix: &str,
        items: Vec<StoreItem>,
        last: StoreItem,
    ) -> Result<(WriteStats, Landing)> {
        if last.key().pk == pk && last.key().sk.starts_with(sk_prefix) {
            return Err(StoreError::Malformed(format!(
                "the last item {}/{} lies inside the replaced prefix",
                last.key().pk,
                last.key().sk
            )));
        }
        let existing = self
            .query(&QuerySpec::partition(pk).sk(SkCondition::BeginsWith(sk_prefix.to_string())))
            .await?;
        let known = hashes_of(&existing);
        let mut stale: HashSet<ItemKey> = existing
            .iter()
            .filter_map(|i| ItemKey::of(i).ok())
            .collect();
        let mut latest: HashMap<ItemKey, StoreItem> = HashMap::new();
        for it in items {
            if it.key().pk != pk || !it.key().sk.starts_with(sk_prefix) {
                return Err(StoreError::Malformed(format!(
                    "item {}/{} is outside {pk}/{sk_prefix}*",
                    it.key().pk,
                    it.key().sk
                )));
            }
            stale.remove(it.key());
            latest.insert(it.key().clone(), it);
        }
        let mut stats = WriteStats::default();
        let mut changed = Vec::new();
        for (key, it) in latest {
            if known.get(&key).map(String::as_str) == Some(it.content_hash()) {
                stats.unchanged += 1;
            } else {
                changed.push(it);
            }
        }
        let bytes: usize = changed
            .iter()
            .chain(std::iter::once(&last))
            .map(|i| capacity::item_size(i.attributes()))
            .sum();
        if changed.len() + stale.len() < MAX_TRANSACTION_ITEMS && bytes < MAX_TRANSACTION_BYTES {
            stats.written = changed.len() + 1;
            stats.deleted = stale.len();
            self.transact(changed, stale.into_iter().collect(), last)
                .await?;
            return Ok((stats, Landing::Atomic));
        }
        let mut rows = self.put_changed(changed).await?;
        let deleted = self.batch_delete(stale.into_iter().collect()).await?;
        rows.deleted = deleted.deleted;
        rows.write_requests += deleted.write_requests;
        rows.retried_items += deleted.retried_items;
        rows.unchanged = stats.unchanged;
        self.put(last).await?;
        rows.written += 1;
        Ok((rows, Landing::Ordered))
    }

    async fn put_changed(&self, items: Vec<StoreItem>) -> Result<WriteStats> {
        // Every item here differs from what is stored: no hash to compare.
        self.put_if_changed_known(items, &HashMap::new()).await
    }

    async fn transact(
        &self,
        puts: Vec<StoreItem>,
        deletes: Vec<ItemKey>,
        last: StoreItem,
    ) -> Result<()> {
        let mut actions = Vec::with_capacity(puts.len() + deletes.len() + 1);
        let mut entities: Vec<String> = Vec::new();
        let mut units = 0.0;
        for it in puts.into_iter().chain(std::iter::once(last)) {
            let attrs = it.into_attributes();
            // A transactional write costs two write units per unit of size.
            units += 2.0 * capacity::write_units(capacity::item_size(&attrs));
            entities.push(entity_of(&attrs).to_string());
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(attrs))
                .build()
                .map_err(|e| StoreError::Schema(e.to_string()))?;
            actions.push(TransactWriteItem::builder().put(put).build());
        }
        for key in deletes {
            units += 2.0 * capacity::write_units(0);
            entities.push(stats::DELETED.to_string());
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key.to_attrs()))
                .build()
                .map_err(|e| StoreError::Schema(e.to_string()))?;
            actions.push(TransactWriteItem::builder().delete(delete).build());
        }
        let n = actions.len() as u64;
        let out = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_err("TransactWriteItems", e))?;
        self.record(
            "TransactWriteItems",
            OpStats {
                requests: 1,
                items_written: n,
                capacity_units: caps(out.consumed_capacity()),
                write_units: units,
                ..Default::default()
            },
        );
        self.record_written(entities.iter().map(String::as_str));
        Ok(())
    }
}

impl Store {
    /// A partner's dashboard rows become exactly `rows`, together with its
    /// summary (admin recomputes; see the module docs for "together").
    pub async fn replace_partner(
        &self,
        summary: &crate::model::PartnerSummary,
        rows: &[crate::model::CertRow],
    ) -> Result<(WriteStats, Landing)> {
        let id = &summary.partner_id;
        let items = rows
            .iter()
            .map(|r| super::entities::cert_row_item(id, r))
            .collect::<Result<Vec<_>>>()?;
        self.replace_prefix_with(
            &super::keys::partner_pk(id),
            "CERT#",
            items,
            super::entities::summary_item(summary)?,
        )
        .await
    }
}
