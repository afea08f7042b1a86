//! Batch writes (25 per `BatchWriteItem`, DynamoDB's limit) with retry of
//! `UnprocessedItems`, and `put_if_changed`, which writes nothing for items
//! whose content hash equals the stored one.
//!
//! How existing hashes are read (cost, in DynamoDB terms):
//! - [`Store::put_if_changed`] reads them itself with `BatchGetItem`
//!   (100 keys per request) projecting only `PK, SK, h`. Projection reduces
//!   bytes on the wire, not read units: DynamoDB charges reads by full item
//!   size (½ RRU per 4 KB, eventually consistent). Still cheap compared with
//!   writing: a write costs 1 WRU per 1 KB and a WRU is ~5× the price of an
//!   RRU, so for typical items (< 4 KB) checking costs ≈ 1/10–1/20 of an
//!   unneeded write.
//! - [`Store::put_if_changed_known`] takes hashes the caller already holds
//!   (e.g. from the `query_type` it ran anyway to list existing users) and
//!   reads nothing at all. Keys missing from `known` are treated as new.
//!
//! A conditional `PutItem` (`h <> :h`) is not used: a failed condition is
//! still billed as a write, and `BatchWriteItem` takes no conditions.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, ReturnConsumedCapacity,
    WriteRequest,
};

use crate::retry::RetryPolicy;

use super::{
    capacity, caps, schema, sdk_err, ItemKey, OpStats, Result, Store, StoreError, StoreItem,
};

/// DynamoDB's per-request limits.
pub const WRITE_BATCH: usize = 25;
pub const READ_BATCH: usize = 100;

/// Outcome of a batch write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Items written (or deleted).
    pub written: usize,
    /// Items skipped because the stored hash was equal.
    pub unchanged: usize,
    /// Items deleted (batch deletes, stale rows of `replace_prefix`).
    pub deleted: usize,
    /// Duplicate keys in the input (the last one was kept).
    pub duplicates: usize,
    /// `BatchWriteItem` requests sent, retries included.
    pub write_requests: usize,
    /// `BatchGetItem` requests sent to read stored hashes.
    pub read_requests: usize,
    /// Items that came back unprocessed at least once and were re-sent.
    pub retried_items: usize,
}

impl WriteStats {
    fn add(&mut self, o: WriteStats) {
        self.written += o.written;
        self.unchanged += o.unchanged;
        self.deleted += o.deleted;
        self.duplicates += o.duplicates;
        self.write_requests += o.write_requests;
        self.read_requests += o.read_requests;
        self.retried_items += o.retried_items;
    }
}

/// Sends `requests` in chunks of [`WRITE_BATCH`]; `send` returns the
/// unprocessed requests of one call, which are re-sent after a back-off
/// until none remain or the policy gives up. Separate from the SDK so the
/// retry loop is unit-tested (moto never reports unprocessed items).
pub async fn write_with_retry<F, Fut>(
    requests: Vec<WriteRequest>,
    policy: &RetryPolicy,
    mut send: F,
) -> Result<WriteStats>
where
    F: FnMut(Vec<WriteRequest>) -> Fut,
    Fut: Future<Output = Result<Vec<WriteRequest>>>,
{
    let mut stats = WriteStats::default();
    let mut rest = requests.into_iter().peekable();
    while rest.peek().is_some() {
        let mut pending: Vec<WriteRequest> = rest.by_ref().take(WRITE_BATCH).collect();
        let mut retry = 0u32;
        loop {
            let sent = pending.len();
            stats.write_requests += 1;
            let unprocessed = send(pending).await?;
            stats.written += sent - unprocessed.len();
            if unprocessed.is_empty() {
                break;
            }
            if retry >= policy.max_retries {
                return Err(StoreError::Unprocessed {
                    op: "BatchWriteItem",
                    remaining: unprocessed.len(),
                    attempts: retry + 1,
                });
            }
            stats.retried_items += unprocessed.len();
            tracing::debug!(
                unprocessed = unprocessed.len(),
                retry,
                "BatchWriteItem returned unprocessed items; backing off"
            );
            tokio::time::sleep(policy.delay_random(retry, None)).await;
            retry += 1;
            pending = unprocessed;
        }
    }
    Ok(stats)
}

/// Keeps the last item per key (BatchWriteItem rejects a request that
/// names one key twice). Returns the items in first-seen order and the
/// number of duplicates dropped.
fn dedup(items: Vec<StoreItem>) -> (Vec<StoreItem>, usize) {
    let mut index: HashMap<ItemKey, usize> = HashMap::new();
    let mut out: Vec<StoreItem> = Vec::with_capacity(items.len());
    let mut dups = 0;
    for it in items {
        match index.get(it.key()) {
            Some(&i) => {
                out[i] = it;
                dups += 1;
            }
            None => {
                index.insert(it.key().clone(), out.len());
                out.push(it);
            }
        }
    }
    (out, dups)
}

impl Store {
    async fn send_batch(&self, reqs: Vec<WriteRequest>) -> Result<Vec<WriteRequest>> {
        let sent = reqs.len();
        let units: f64 = reqs.iter().map(request_units).sum();
        let reqs_entities: Vec<String> =
            reqs.iter().map(|r| request_entity(r).to_string()).collect();
        let out = self
            .client
            .batch_write_item()
            .request_items(&self.table, reqs)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_err("BatchWriteItem", e))?;
        let unprocessed = out
            .unprocessed_items()
            .and_then(|m| m.get(&self.table))
            .cloned()
            .unwrap_or_default();
        // Per-entity counts of what was applied: everything sent minus what
        // comes back unprocessed (resent later and counted then).
        let mut applied: HashMap<&str, i64> = HashMap::new();
        for r in &reqs_entities {
            *applied.entry(r.as_str()).or_default() += 1;
        }
        for r in &unprocessed {
            *applied.entry(request_entity(r)).or_default() -= 1;
        }
        self.record_written(
            applied
                .iter()
                .flat_map(|(e, &n)| std::iter::repeat_n(*e, usize::try_from(n).unwrap_or(0))),
        );
        self.record(
            "BatchWriteItem",
            OpStats {
                requests: 1,
                items_written: (sent - unprocessed.len()) as u64,
                capacity_units: caps(out.consumed_capacity()),
                // Unprocessed requests are not billed (they are resent).
                write_units: units - unprocessed.iter().map(request_units).sum::<f64>(),
                ..Default::default()
            },
        );
        Ok(unprocessed)
    }

    async fn write_requests(&self, reqs: Vec<WriteRequest>) -> Result<WriteStats> {
        let policy = self.retry;
        write_with_retry(reqs, &policy, |r| self.send_batch(r)).await
    }

    /// Writes every item (no hash check), 25 per request.
    pub async fn batch_put(&self, items: Vec<StoreItem>) -> Result<WriteStats> {
        let (items, duplicates) = dedup(items);
        let reqs = items
            .into_iter()
            .map(|it| put_request(it.into_attributes()))
            .collect::<Result<Vec<_>>>()?;
        let mut stats = self.write_requests(reqs).await?;
        stats.duplicates = duplicates;
        Ok(stats)
    }

    /// Deletes every key, 25 per request.
    pub async fn batch_delete(&self, keys: Vec<ItemKey>) -> Result<WriteStats> {
        let unique: HashSet<ItemKey> = keys.into_iter().collect();
        let reqs = unique
            .into_iter()
            .map(|k| {
                DeleteRequest::builder()
                    .set_key(Some(k.to_attrs()))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| StoreError::Schema(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut stats = self.write_requests(reqs).await?;
        // The retry loop counts accepted requests as "written".
        stats.deleted = std::mem::take(&mut stats.written);
        Ok(stats)
    }

    /// Writes only the items whose content changed, reading the stored
    /// hashes with `BatchGetItem` first (see the module docs for the cost).
    pub async fn put_if_changed(&self, items: Vec<StoreItem>) -> Result<WriteStats> {
        let (items, duplicates) = dedup(items);
        let keys: Vec<ItemKey> = items.iter().map(|i| i.key().clone()).collect();
        let (known, read_requests) = self.stored_hashes(&keys).await?;
        let mut stats = self.write_changed(items, &known).await?;
        stats.duplicates = duplicates;
        stats.read_requests = read_requests;
        Ok(stats)
    }

    /// Like [`Store::put_if_changed`] with hashes the caller already has
    /// (from [`hashes_of`]); reads nothing.
    pub async fn put_if_changed_known(
        &self,
        items: Vec<StoreItem>,
        known: &HashMap<ItemKey, String>,
    ) -> Result<WriteStats> {
        let (items, duplicates) = dedup(items);
        let mut stats = self.write_changed(items, known).await?;
        stats.duplicates = duplicates;
        Ok(stats)
    }

    async fn write_changed(
        &self,
        items: Vec<StoreItem>,
        known: &HashMap<ItemKey, String>,
    ) -> Result<WriteStats> {
        let mut stats = WriteStats::default();
        let mut changed = Vec::new();
        for it in items {
            if known.get(it.key()).map(String::as_str) == Some(it.content_hash()) {
                stats.unchanged += 1;
            } else {
                changed.push(put_request(it.into_attributes())?);
            }
        }
        stats.add(self.write_requests(changed).await?);
        Ok(stats)
    }

    /// Stored `h` of each existing key (absent keys are left out), and the
    /// number of BatchGetItem requests it took.
    pub async fn stored_hashes(
        &self,
        keys: &[ItemKey],
    ) -> Result<(HashMap<ItemKey, String>, usize)> {
        let (items, requests) = self.batch_get(keys, true).await?;
        Ok((hashes_of(&items), requests))
    }

    /// The items stored under `keys` (absent ones are left out), whole.
    pub async fn get_items(&self, keys: &[ItemKey]) -> Result<Vec<super::Item>> {
        Ok(self.batch_get(keys, false).await?.0)
    }

    /// BatchGetItem of `keys`, 100 a request, unprocessed keys retried with
    /// back-off; only `PK`, `SK` and `h` when `hashes_only`. Returns the
    /// items found and the requests sent.
    async fn batch_get(
        &self,
        keys: &[ItemKey],
        hashes_only: bool,
    ) -> Result<(Vec<super::Item>, usize)> {
        let mut found = Vec::new();
        let mut requests = 0usize;
        for chunk in keys.chunks(READ_BATCH) {
            let mut pending: Vec<_> = chunk.iter().map(ItemKey::to_attrs).collect();
            let mut retry = 0u32;
            while !pending.is_empty() {
                let asked = pending.len();
                let mut ka =
                    KeysAndAttributes::builder().set_keys(Some(std::mem::take(&mut pending)));
                if hashes_only {
                    ka = ka
                        .projection_expression("#pk, #sk, #h")
                        .expression_attribute_names("#pk", schema::PK)
                        .expression_attribute_names("#sk", schema::SK)
                        .expression_attribute_names("#h", schema::HASH);
                }
                let ka = ka.build().map_err(|e| StoreError::Schema(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| sdk_err("BatchGetItem", e))?;
                requests += 1;
                let items = out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                // Billed per key asked by the whole item's size, not the
                // projection; a projected item's size is not known here, and
                // the portal's items are far below 4 KB: ½ unit each
                // (eventually consistent).
                let read_units = if hashes_only {
                    capacity::read_units(0, false) * asked as f64
                } else {
                    items
                        .iter()
                        .map(|i| capacity::read_units(capacity::item_size(i), false))
                        .sum::<f64>()
                        + capacity::read_units(0, false) * asked.saturating_sub(items.len()) as f64
                };
                self.record(
                    "BatchGetItem",
                    OpStats {
                        requests: 1,
                        items_read: items.len() as u64,
                        capacity_units: caps(out.consumed_capacity()),
                        read_units,
                        ..Default::default()
                    },
                );
                found.extend(items);
                pending = out
                    .unprocessed_keys()
                    .and_then(|m| m.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if !pending.is_empty() {
                    if retry >= self.retry.max_retries {
                        return Err(StoreError::Unprocessed {
                            op: "BatchGetItem",
                            remaining: pending.len(),
                            attempts: retry + 1,
                        });
                    }
                    tokio::time::sleep(self.retry.delay_random(retry, None)).await;
                    retry += 1;
                }
            }
        }
        Ok((found, requests))
    }
}

/// `key → h` of loaded items (items without `h` are skipped, so they count
/// as changed and get rewritten with one).
pub fn hashes_of(items: &[super::Item]) -> HashMap<ItemKey, String> {
    items
        .iter()
        .filter_map(|it| {
            let key = ItemKey::of(it).ok()?;
            match it.get(schema::HASH) {
                Some(AttributeValue::S(h)) => Some((key, h.clone())),
                _ => None,
            }
        })
        .collect()
}

/// Write units of one batch request: a put by its item's size, a delete
/// at the minimum (its item's size is not known here).
fn request_units(r: &WriteRequest) -> f64 {
    match r.put_request() {
        Some(p) => capacity::write_units(capacity::item_size(p.item())),
        None => capacity::write_units(0),
    }
}

/// Entity type of a write request: the item's `et` for a put; deletes carry
/// only the key ([`super::stats::DELETED`]).
fn request_entity(r: &WriteRequest) -> &str {
    match r.put_request() {
        Some(p) => super::entity_of(p.item()),
        None => super::stats::DELETED,
    }
}

fn put_request(item: super::Item) -> Result<WriteRequest> {
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(|e| StoreError::Schema(e.to_string()))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Keys;
    use std::cell::RefCell;

    fn req(i: usize) -> WriteRequest {
        let it = StoreItem::new(
            Keys::new(format!("P#{i}"), "S", "T"),
            &serde_json::json!({"v": i}),
        )
        .unwrap();
        put_request(it.into_attributes()).unwrap()
    }

    fn pk_of(r: &WriteRequest) -> String {
        r.put_request()
            .and_then(|p| p.item().get(crate::store::schema::PK))
            .and_then(|v| v.as_s().ok())
            .cloned()
            .expect("a put with a string PK")
    }

    #[tokio::test]
    async fn retries_unprocessed_until_done() {
        let calls = RefCell::new(Vec::<usize>::new());
        // What the "server" accepted, in order: each key must be there once.
        let accepted = RefCell::new(Vec::<String>::new());
        // Every call leaves its last two requests unprocessed, twice.
        let failures = RefCell::new(2);
        let stats = write_with_retry(
            (0..30).map(req).collect(),
            &RetryPolicy::immediate(5),
            |batch| {
                calls.borrow_mut().push(batch.len());
                let mut f = failures.borrow_mut();
                let keep = if *f > 0 && batch.len() > 2 {
                    *f -= 1;
                    batch.len() - 2
                } else {
                    batch.len()
                };
                accepted
                    .borrow_mut()
                    .extend(batch[..keep].iter().map(pk_of));
                let unprocessed = batch[keep..].to_vec();
                async move { Ok(unprocessed) }
            },
        )
        .await
        .unwrap();
        // 25 (2 back) → 2 → then the remaining 5 (2 back) → 2.
        assert_eq!(*calls.borrow(), vec![25, 2, 5, 2]);
        let mut got = accepted.borrow().clone();
        got.sort();
        let mut want: Vec<String> = (0..30).map(|i| format!("P#{i}")).collect();
        want.sort();
        assert_eq!(got, want, "every key written exactly once");
        // The two left back are the ones retried, right after.
        assert_eq!(accepted.borrow()[23..25], ["P#23", "P#24"]);
        assert_eq!(stats.written, 30);
        assert_eq!(stats.retried_items, 4);
        assert_eq!(stats.write_requests, 4);
    }

    #[tokio::test]
    async fn gives_up_after_max_retries() {
        let mut calls = 0;
        let err = write_with_retry(
            (0..3).map(req).collect(),
            &RetryPolicy::immediate(2),
            |batch| {
                calls += 1;
                async move { Ok(batch[..1].to_vec()) }
            },
        )
        .await
        .unwrap_err();
        assert_eq!(calls, 3);
        assert!(matches!(
            err,
            StoreError::Unprocessed {
                remaining: 1,
                attempts: 3,
                ..
            }
        ));
    }

    #[test]
    fn dedup_keeps_last() {
        let a = StoreItem::new(Keys::new("P", "1", "T"), &serde_json::json!({"v": 1})).unwrap();
        let b = StoreItem::new(Keys::new("P", "2", "T"), &serde_json::json!({"v": 2})).unwrap();
        let a2 = StoreItem::new(Keys::new("P", "1", "T"), &serde_json::json!({"v": 3})).unwrap();
        let (out, d) = dedup(vec![a, b, a2.clone()]);
        assert_eq!(d, 1);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], a2);
    }
}
