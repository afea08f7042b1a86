//! Writes that must land together: the changed items of a set *and* one
//! item that describes them (a partner's dashboard rows and its summary,
//! `recompute::dynamo`), so a reader never sees the summary of one state
//! next to the rows of another.
//!
//! When the changes fit one `TransactWriteItems` (100 actions, 4 MB) they
//! are one transaction: all or nothing. Larger changes cannot be atomic in
//! DynamoDB; they are written rows first and the describing item last, so a
//! failure part-way leaves the old describing item (what the all-partner
//! reports read), and the next recompute, which rewrites only what differs,
//! finishes the job.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{Delete, Put, ReturnConsumedCapacity, TransactWriteItem};

use super::batch::WriteStats;
use super::{
    capacity, caps, entity_of, sdk_err, stats, ItemKey, OpStats, Result, Store, StoreError,
    StoreItem,
};

/// DynamoDB's limits of one `TransactWriteItems`.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

/// How [`Store::write_together`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Landing {
    /// One transaction (rows and the last item together).
    Atomic,
    /// Batches for the rows, then the last item on its own.
    Ordered,
}

impl Store {
    /// Writes `puts`, deletes `deletes` and writes `last` (the item that
    /// describes them) together: with `atomic`, one transaction when it
    /// fits; else (or when it does not fit) the rows first and `last` after
    /// them (see the module docs). Every item of `puts` is taken as
    /// changed: the caller diffed.
    pub async fn write_together(
        &self,
        puts: Vec<StoreItem>,
        deletes: Vec<ItemKey>,
        last: Option<StoreItem>,
        atomic: bool,
    ) -> Result<(WriteStats, Landing)> {
        let mut stats = WriteStats::default();
        if let Some(last) = last {
            let bytes: usize = puts
                .iter()
                .chain(std::iter::once(&last))
                .map(|i| capacity::item_size(i.attributes()))
                .sum();
            if atomic
                && puts.len() + deletes.len() < MAX_TRANSACTION_ITEMS
                && bytes < MAX_TRANSACTION_BYTES
            {
                stats.written = puts.len() + 1;
                stats.deleted = deletes.len();
                self.transact(puts, deletes, last).await?;
                return Ok((stats, Landing::Atomic));
            }
            let mut rows = self.write_rows(puts, deletes).await?;
            self.put(last).await?;
            rows.written += 1;
            return Ok((rows, Landing::Ordered));
        }
        stats = self.write_rows(puts, deletes).await?;
        Ok((stats, Landing::Ordered))
    }

    async fn write_rows(&self, puts: Vec<StoreItem>, deletes: Vec<ItemKey>) -> Result<WriteStats> {
        let mut rows = if puts.is_empty() {
            WriteStats::default()
        } else {
            self.put_changed(puts).await?
        };
        if !deletes.is_empty() {
            let deleted = self.batch_delete(deletes).await?;
            rows.deleted = deleted.deleted;
            rows.write_requests += deleted.write_requests;
            rows.retried_items += deleted.retried_items;
        }
        Ok(rows)
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
