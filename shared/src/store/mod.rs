//! DynamoDB store: one table (single-table design), thin adapter between the
//! domain model and `aws-sdk-dynamodb`. Entities are mapped with
//! `serde_dynamo`; the store only adds its own key attributes (`PK`, `SK`,
//! `GSI*`, `ttl`, `h`, `et`) around them.
//!
//! - [`schema`]: key schema, GSIs and TTL attribute, defined once.
//! - [`keys`]: how every key string is built (the layout table is there).
//! - generic operations on [`Store`] (this file): get / put / put_new /
//!   delete / paginated queries / table creation.
//! - [`batch`]: batch writes of 25 with UnprocessedItems retry, and
//!   `put_if_changed` (content hash, no write for an unchanged item).
//! - [`tasks`]: lease lock, task state (watermark, checkpoint), run records.
//! - [`access`]: tokens by hash, reminder claims, opt-outs.
//! - [`suppressions`]: addresses SES reported as hard-bounced or complaining.
//! - [`sessions`]: web sign-in sessions and one-time sign-in links.
//! - [`ratelimit`]: attempt counters per client / address with a TTL.
//! - [`hooks`]: webhook event dedupe (TTL) and the webhook counters.
//! - [`entities`]: typed helpers for the model (dashboard, summaries, …).
//! - [`history`]: each partner's daily numbers, one item per month.
//! - [`transact`]: rows and the item describing them written together
//!   (one transaction, or ordered so a failure leaves the old state).
//! - [`pages`]: reads bounded by the page (a walk over Queries, resumable
//!   from an opaque cursor) and BatchGetItem of whole items.
//! - [`stats`]: request/item counters per operation, with the capacity
//!   units ([`capacity`]) on-demand DynamoDB would bill for them.

pub mod access;
pub mod batch;
pub mod capacity;
pub mod entities;
pub mod history;
pub mod hooks;
pub mod keys;
pub mod leases;
pub mod pages;
pub mod programs;
pub mod ratelimit;
pub mod schema;
pub mod sessions;
pub mod stats;
pub mod suppressions;
pub mod transact;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, TableStatus};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::retry::RetryPolicy;

pub use access::{TokenKind, TokenRecord};
pub use batch::WriteStats;
pub use entities::{ExpiringCert, PartnerCertRow, PartnerDashboard};
pub use leases::{Lease, TaskState};
pub use stats::{OpStats, StatsSnapshot, StoreStats};

/// A raw DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found the item already there / changed.
    #[error("conditional write failed for {pk} / {sk}")]
    Conflict { pk: String, sk: String },
    /// The task lease is held by someone else and has not expired.
    #[error("task {task} is locked by {owner} since {since} (until {expires_at})")]
    AlreadyHeld {
        task: String,
        owner: String,
        since: chrono::DateTime<chrono::Utc>,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// Renew/release of a lease that someone else took over meanwhile.
    #[error("lease on task {task} is no longer held by {owner}")]
    LeaseLost { task: String, owner: String },
    #[error("DynamoDB {op} failed: {message}")]
    Dynamo { op: &'static str, message: String },
    #[error("{op}: {remaining} items still unprocessed after {attempts} attempts")]
    Unprocessed {
        op: &'static str,
        remaining: usize,
        attempts: u32,
    },
    #[error("item (de)serialisation failed: {0}")]
    Serde(#[from] serde_dynamo::Error),
    #[error("entity field `{0}` collides with an attribute the store owns")]
    ReservedAttribute(String),
    #[error("malformed item: {0}")]
    Malformed(String),
    #[error("table schema: {0}")]
    Schema(String),
    #[error("table {table} not active after {waited:?}")]
    NotActive { table: String, waited: Duration },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn sdk_err<E, R>(op: &'static str, e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Dynamo {
        op,
        message: DisplayErrorContext(&e).to_string(),
    }
}

/// Primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        ItemKey {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    pub fn of(item: &Item) -> Result<ItemKey> {
        Ok(ItemKey {
            pk: s_attr(item, schema::PK)?.to_string(),
            sk: s_attr(item, schema::SK)?.to_string(),
        })
    }

    pub(crate) fn to_attrs(&self) -> Item {
        HashMap::from([
            (schema::PK.to_string(), AttributeValue::S(self.pk.clone())),
            (schema::SK.to_string(), AttributeValue::S(self.sk.clone())),
        ])
    }
}

pub(crate) fn s_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s),
        _ => Err(StoreError::Malformed(format!(
            "missing string attribute {name}"
        ))),
    }
}

/// Keys and bookkeeping attributes the store puts around an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub pk: String,
    pub sk: String,
    /// Value of the `et` attribute (see [`keys::entity`]).
    pub entity: &'static str,
    /// `(GSI1PK, GSI1SK)` — type index entry.
    pub gsi1: Option<(String, String)>,
    /// `(GSI2PK, GSI2SK)` — expiry index entry.
    pub gsi2: Option<(String, String)>,
    /// DynamoDB TTL, epoch seconds.
    pub ttl: Option<i64>,
}

impl Keys {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, entity: &'static str) -> Self {
        Keys {
            pk: pk.into(),
            sk: sk.into(),
            entity,
            gsi1: None,
            gsi2: None,
            ttl: None,
        }
    }
    /// Index in the type index under `entity` with sort value `id`.
    pub fn typed(mut self, id: impl Into<String>) -> Self {
        self.gsi1 = Some((self.entity.to_string(), id.into()));
        self
    }
    pub fn gsi2(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi2 = Some((pk.into(), sk.into()));
        self
    }
    pub fn ttl(mut self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.ttl = Some(at.timestamp());
        self
    }
}

/// An entity serialised with its keys, ready to write. Carries the content
/// hash `h` of everything else, so unchanged items can be skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreItem {
    key: ItemKey,
    attrs: Item,
    hash: String,
}

impl StoreItem {
    pub fn new<T: Serialize + ?Sized>(keys: Keys, value: &T) -> Result<StoreItem> {
        let mut attrs: Item = serde_dynamo::to_item(value)?;
        if let Some(clash) = schema::RESERVED.iter().find(|r| attrs.contains_key(**r)) {
            return Err(StoreError::ReservedAttribute((*clash).to_string()));
        }
        let s = |v: &str| AttributeValue::S(v.to_string());
        attrs.insert(schema::PK.into(), s(&keys.pk));
        attrs.insert(schema::SK.into(), s(&keys.sk));
        attrs.insert(schema::ENTITY.into(), s(keys.entity));
        if let Some((p, k)) = &keys.gsi1 {
            attrs.insert(schema::GSI1PK.into(), s(p));
            attrs.insert(schema::GSI1SK.into(), s(k));
        }
        if let Some((p, k)) = &keys.gsi2 {
            attrs.insert(schema::GSI2PK.into(), s(p));
            attrs.insert(schema::GSI2SK.into(), s(k));
        }
        if let Some(t) = keys.ttl {
            attrs.insert(schema::TTL.into(), AttributeValue::N(t.to_string()));
        }
        let hash = content_hash(&attrs);
        attrs.insert(schema::HASH.into(), s(&hash));
        Ok(StoreItem {
            key: ItemKey::new(keys.pk, keys.sk),
            attrs,
            hash,
        })
    }

    pub fn key(&self) -> &ItemKey {
        &self.key
    }
    /// Hex SHA-256 of the item's attributes (keys included, `h` excluded).
    pub fn content_hash(&self) -> &str {
        &self.hash
    }
    pub fn attributes(&self) -> &Item {
        &self.attrs
    }
    pub fn into_attributes(self) -> Item {
        self.attrs
    }
}

/// Deterministic hash of an item: attribute names sorted, sets sorted, every
/// value length-prefixed, `h` itself left out. Keys and index attributes are
/// included on purpose: a row whose expiry moved must be rewritten even if
/// the entity looked the same otherwise.
pub fn content_hash(item: &Item) -> String {
    fn put(h: &mut Sha256, tag: u8, bytes: &[u8]) {
        h.update([tag]);
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    }
    fn value(h: &mut Sha256, v: &AttributeValue) {
        match v {
            AttributeValue::S(s) => put(h, b'S', s.as_bytes()),
            AttributeValue::N(n) => put(h, b'N', n.as_bytes()),
            AttributeValue::B(b) => put(h, b'B', b.as_ref()),
            AttributeValue::Bool(b) => put(h, b'T', &[u8::from(*b)]),
            AttributeValue::Null(_) => put(h, b'0', &[]),
            AttributeValue::Ss(v) | AttributeValue::Ns(v) => {
                let mut v: Vec<&String> = v.iter().collect();
                v.sort();
                put(h, b's', &(v.len() as u64).to_be_bytes());
                for s in v {
                    put(h, b'S', s.as_bytes());
                }
            }
            AttributeValue::Bs(v) => {
                let mut v: Vec<&[u8]> = v.iter().map(|b| b.as_ref()).collect();
                v.sort();
                put(h, b'b', &(v.len() as u64).to_be_bytes());
                for b in v {
                    put(h, b'B', b);
                }
            }
            AttributeValue::L(l) => {
                put(h, b'L', &(l.len() as u64).to_be_bytes());
                for x in l {
                    value(h, x);
                }
            }
            AttributeValue::M(m) => map(h, m, false),
            // Future SDK variants: hash their debug form so they at least
            // change the hash when they change.
            other => put(h, b'?', format!("{other:?}").as_bytes()),
        }
    }
    fn map(h: &mut Sha256, m: &HashMap<String, AttributeValue>, top: bool) {
        let mut names: Vec<&String> = m.keys().filter(|k| !(top && *k == schema::HASH)).collect();
        names.sort();
        put(h, b'M', &(names.len() as u64).to_be_bytes());
        for k in names {
            put(h, b'k', k.as_bytes());
            value(h, &m[k]);
        }
    }
    let mut h = Sha256::new();
    map(&mut h, item, true);
    hex::encode(h.finalize())
}

/// Sort-key condition of a Query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkCondition {
    Any,
    Eq(String),
    BeginsWith(String),
    /// Inclusive on both ends (DynamoDB `BETWEEN`).
    Between(String, String),
}

/// A Query on the table or one of its indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    pub index: Option<&'static str>,
    pub pk: String,
    pub sk: SkCondition,
    /// Newest/highest sort key first.
    pub descending: bool,
    /// Stop after this many items (across pages).
    pub limit: Option<usize>,
}

impl QuerySpec {
    pub fn partition(pk: impl Into<String>) -> Self {
        QuerySpec {
            index: None,
            pk: pk.into(),
            sk: SkCondition::Any,
            descending: false,
            limit: None,
        }
    }
    pub fn sk(mut self, sk: SkCondition) -> Self {
        self.sk = sk;
        self
    }
    pub fn index(mut self, index: &'static str) -> Self {
        self.index = Some(index);
        self
    }
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
}

/// Handle on the table. Cheap to clone (the SDK client and the counters are
/// shared).
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    stats: StoreStats,
    retry: RetryPolicy,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Store {
        Store {
            client,
            table: table.into(),
            stats: StoreStats::default(),
            retry: RetryPolicy::STORE_BATCH,
        }
    }

    pub fn from_sdk_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Store {
        Store::new(Client::new(config), table)
    }

    /// Loads the AWS configuration from the environment (`AWS_ENDPOINT_URL`
    /// points it at the local emulator; unset means real AWS).
    pub async fn from_env(table: impl Into<String>) -> Store {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Store::from_sdk_config(&config, table)
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Store {
        self.retry = retry;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }
    pub fn client(&self) -> &Client {
        &self.client
    }
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }
    pub fn reset_stats(&self) {
        self.stats.reset()
    }

    pub(crate) fn record(&self, op: &'static str, delta: OpStats) {
        self.stats.record(op, delta)
    }

    pub(crate) fn record_written<'a>(&self, entities: impl IntoIterator<Item = &'a str>) {
        self.stats.record_written(entities)
    }

    /// Creates the table from [`schema::TABLE`], waits until it is ACTIVE and
    /// enables TTL. Returns `false` when it already existed (TTL is then
    /// still ensured), so callers can run it on every start-up.
    pub async fn create_table(&self) -> Result<bool> {
        let t = &schema::TABLE;
        let created = match self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(t.billing_mode())
            .set_attribute_definitions(Some(t.sdk_attribute_definitions()?))
            .set_key_schema(Some(t.sdk_key_schema()?))
            .set_global_secondary_indexes(Some(t.sdk_gsis()?))
            .send()
            .await
        {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                false
            }
            Err(e) => return Err(sdk_err("CreateTable", e)),
        };
        self.record("CreateTable", req());
        self.wait_active(Duration::from_secs(120)).await?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(t.ttl_attribute)
                    .build()
                    .map_err(|e| StoreError::Schema(e.to_string()))?,
            )
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                // Enabling TTL twice is rejected by DynamoDB; that is fine.
                let msg = DisplayErrorContext(&e).to_string();
                if msg.contains("already enabled") {
                    Ok(())
                } else {
                    Err(sdk_err("UpdateTimeToLive", e))
                }
            })?;
        self.record("UpdateTimeToLive", req());
        Ok(created)
    }

    async fn wait_active(&self, max: Duration) -> Result<()> {
        let start = std::time::Instant::now();
        loop {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| sdk_err("DescribeTable", e))?;
            self.record("DescribeTable", req());
            let table = out.table();
            let table_active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
            let gsis_active = table
                .map(|t| t.global_secondary_indexes())
                .unwrap_or_default()
                .iter()
                .all(|g| {
                    g.index_status()
                        .is_none_or(|s| *s == aws_sdk_dynamodb::types::IndexStatus::Active)
                });
            if table_active && gsis_active {
                return Ok(());
            }
            if start.elapsed() > max {
                return Err(StoreError::NotActive {
                    table: self.table.clone(),
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Deletes the table (tests and local resets only).
    pub async fn delete_table(&self) -> Result<()> {
        self.client
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| sdk_err("DeleteTable", e))?;
        self.record("DeleteTable", req());
        Ok(())
    }

    /// Strongly consistent GetItem (the callers are admin reads and lock
    /// checks, where stale data would be wrong, and it is one item).
    pub async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(ItemKey::new(pk, sk).to_attrs()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_err("GetItem", e))?;
        let item = out.item().cloned();
        self.record(
            "GetItem",
            OpStats {
                requests: 1,
                items_read: u64::from(item.is_some()),
                read_units: capacity::read_units(
                    item.as_ref().map_or(0, capacity::item_size),
                    true,
                ),
                capacity_units: cap(out.consumed_capacity()),
                ..Default::default()
            },
        );
        Ok(item)
    }

    pub async fn get_as<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>> {
        match self.get(pk, sk).await? {
            Some(item) => Ok(Some(serde_dynamo::from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Unconditional PutItem (overwrites).
    pub async fn put(&self, item: StoreItem) -> Result<()> {
        let attrs = item.into_attributes();
        let units = capacity::write_units(capacity::item_size(&attrs));
        let entity = entity_of(&attrs).to_string();
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| sdk_err("PutItem", e))?;
        self.record(
            "PutItem",
            OpStats {
                requests: 1,
                items_written: 1,
                capacity_units: cap(out.consumed_capacity()),
                write_units: units,
                ..Default::default()
            },
        );
        self.record_written([entity.as_str()]);
        Ok(())
    }

    /// PutItem only if no item with this key exists; otherwise
    /// [`StoreError::Conflict`] (idempotency records, claims, new tokens).
    pub async fn put_new(&self, item: StoreItem) -> Result<()> {
        let key = item.key().clone();
        self.put_conditional(
            item,
            "attribute_not_exists(#pk)",
            &[("#pk", schema::PK)],
            &[],
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict { .. } => StoreError::Conflict {
                pk: key.pk,
                sk: key.sk,
            },
            other => other,
        })
    }

    /// PutItem with a condition expression; a failed check is
    /// [`StoreError::Conflict`].
    pub async fn put_conditional(
        &self,
        item: StoreItem,
        condition: &str,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) -> Result<()> {
        let key = item.key().clone();
        let attrs = item.into_attributes();
        let units = capacity::write_units(capacity::item_size(&attrs));
        let entity = entity_of(&attrs).to_string();
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .condition_expression(condition)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        for (k, v) in names {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            req = req.expression_attribute_values(*k, v.clone());
        }
        match req.send().await {
            Ok(out) => {
                self.record(
                    "PutItem",
                    OpStats {
                        requests: 1,
                        items_written: 1,
                        capacity_units: cap(out.consumed_capacity()),
                        write_units: units,
                        ..Default::default()
                    },
                );
                self.record_written([entity.as_str()]);
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.record(
                    "PutItem",
                    OpStats {
                        requests: 1,
                        conditional_failures: 1,
                        write_units: units,
                        ..Default::default()
                    },
                );
                Err(StoreError::Conflict {
                    pk: key.pk,
                    sk: key.sk,
                })
            }
            Err(e) => Err(sdk_err("PutItem", e)),
        }
    }

    /// DeleteItem; `true` when an item was there.
    pub async fn delete(&self, pk: &str, sk: &str) -> Result<bool> {
        self.delete_conditional(pk, sk, None, &[], &[]).await
    }

    /// DeleteItem with an optional condition; a failed check is
    /// [`StoreError::Conflict`]. Returns whether an item was removed.
    pub async fn delete_conditional(
        &self,
        pk: &str,
        sk: &str,
        condition: Option<&str>,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) -> Result<bool> {
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(ItemKey::new(pk, sk).to_attrs()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_condition_expression(condition.map(str::to_string));
        for (k, v) in names {
            req = req.expression_attribute_names(*k, *v);
        }
        for (k, v) in values {
            req = req.expression_attribute_values(*k, v.clone());
        }
        match req.send().await {
            Ok(out) => {
                let existed = out.attributes().is_some_and(|a| !a.is_empty());
                self.record(
                    "DeleteItem",
                    OpStats {
                        requests: 1,
                        items_written: u64::from(existed),
                        capacity_units: cap(out.consumed_capacity()),
                        // Billed by the deleted item's size (≥ 1 WRU).
                        write_units: capacity::write_units(
                            out.attributes().map_or(0, capacity::item_size),
                        ),
                        ..Default::default()
                    },
                );
                if existed {
                    self.record_written(out.attributes().map(entity_of));
                }
                Ok(existed)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.record(
                    "DeleteItem",
                    OpStats {
                        requests: 1,
                        conditional_failures: 1,
                        write_units: 1.0,
                        ..Default::default()
                    },
                );
                Err(StoreError::Conflict {
                    pk: pk.to_string(),
                    sk: sk.to_string(),
                })
            }
            Err(e) => Err(sdk_err("DeleteItem", e)),
        }
    }

    /// Runs a Query to the end, following `LastEvaluatedKey` past each 1 MB
    /// page. Each page counts as one request in [`Store::stats`].
    pub async fn query(&self, spec: &QuerySpec) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (items, next) = self.query_page(spec, start.take()).await?;
            out.extend(items);
            if let Some(limit) = spec.limit {
                if out.len() >= limit {
                    out.truncate(limit);
                    break;
                }
            }
            match next {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(out)
    }

    /// One page of a Query (for HTTP paging): the items and the
    /// `LastEvaluatedKey` to pass back as `start`.
    pub async fn query_page(
        &self,
        spec: &QuerySpec,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>)> {
        let (pk_name, sk_name) = match spec.index {
            None => (schema::PK, schema::SK),
            Some(i) => schema::TABLE
                .gsis
                .iter()
                .find(|g| g.name == i)
                .map(|g| (g.hash_key, g.range_key))
                .ok_or_else(|| StoreError::Schema(format!("unknown index {i}")))?,
        };
        let cond = match &spec.sk {
            SkCondition::Any => "#pk = :pk",
            SkCondition::Eq(_) => "#pk = :pk AND #sk = :a",
            SkCondition::BeginsWith(_) => "#pk = :pk AND begins_with(#sk, :a)",
            SkCondition::Between(..) => "#pk = :pk AND #sk BETWEEN :a AND :b",
        };
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(spec.index.map(str::to_string))
            .key_condition_expression(cond)
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", AttributeValue::S(spec.pk.clone()))
            .scan_index_forward(!spec.descending)
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if spec.sk != SkCondition::Any {
            req = req.expression_attribute_names("#sk", sk_name);
        }
        match &spec.sk {
            SkCondition::Any => {}
            SkCondition::Eq(a) | SkCondition::BeginsWith(a) => {
                req = req.expression_attribute_values(":a", AttributeValue::S(a.clone()));
            }
            SkCondition::Between(a, b) => {
                req = req
                    .expression_attribute_values(":a", AttributeValue::S(a.clone()))
                    .expression_attribute_values(":b", AttributeValue::S(b.clone()));
            }
        }
        if let Some(limit) = spec.limit {
            req = req.limit(i32::try_from(limit).unwrap_or(i32::MAX));
        }
        let out = req.send().await.map_err(|e| sdk_err("Query", e))?;
        let items = out.items().to_vec();
        self.record(
            "Query",
            OpStats {
                requests: 1,
                items_read: items.len() as u64,
                capacity_units: cap(out.consumed_capacity()),
                // Queries here are eventually consistent (the default).
                read_units: capacity::query_page_units(&items, false),
                ..Default::default()
            },
        );
        let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        Ok((items, next))
    }

    /// Every item of one partition (e.g. a partner dashboard) — one Query,
    /// more requests only when the partition exceeds 1 MB.
    pub async fn query_partition(&self, pk: &str) -> Result<Vec<Item>> {
        self.query(&QuerySpec::partition(pk)).await
    }

    /// Every item of one entity type via the type index (GSI1), in id order.
    pub async fn query_type(&self, entity: &str) -> Result<Vec<Item>> {
        self.query(&QuerySpec::partition(entity).index(schema::GSI1))
            .await
    }

    /// Typed variant of [`Store::query_type`].
    pub async fn query_type_as<T: DeserializeOwned>(&self, entity: &str) -> Result<Vec<T>> {
        let items = self.query_type(entity).await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    /// Items whose expiry index key lies in `[from, to)`: one Query per
    /// calendar month touched ([`expiry_specs`]), so only due items are
    /// read. Ordered by expiry.
    pub async fn query_expiring(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        for spec in expiry_specs(from, to) {
            out.extend(self.query(&spec).await?);
        }
        Ok(out)
    }
}

/// The Queries of the expiry index for `[from, to)`: one per calendar
/// month touched, each bounded by `BETWEEN from AND to`, in time order.
pub fn expiry_specs(
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Vec<QuerySpec> {
    let (a, b) = (keys::ts(from), keys::ts(to));
    // "<to>#user#course" sorts after "<to>", so BETWEEN excludes items
    // expiring exactly at `to`: the range is half-open.
    keys::expiry_months(from, to)
        .into_iter()
        .map(|month| {
            QuerySpec::partition(month)
                .index(schema::GSI2)
                .sk(SkCondition::Between(a.clone(), b.clone()))
        })
        .collect()
}

fn req() -> OpStats {
    OpStats {
        requests: 1,
        ..Default::default()
    }
}

pub(crate) fn cap(c: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>) -> f64 {
    c.and_then(|c| c.capacity_units()).unwrap_or(0.0)
}

pub(crate) fn caps(c: &[aws_sdk_dynamodb::types::ConsumedCapacity]) -> f64 {
    c.iter().filter_map(|c| c.capacity_units()).sum()
}

/// The entity type (`et`) of a raw item, for the per-entity write counts.
pub(crate) fn entity_of(attrs: &Item) -> &str {
    attrs
        .get(schema::ENTITY)
        .and_then(|v| v.as_s().ok())
        .map_or(stats::UNTYPED, String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct E {
        id: String,
        n: u32,
    }

    #[test]
    fn store_item_adds_keys_and_hash() {
        let it = StoreItem::new(
            Keys::new("A#1", "PROFILE", "A").typed("1"),
            &E {
                id: "1".into(),
                n: 2,
            },
        )
        .unwrap();
        let a = it.attributes();
        assert_eq!(a["PK"], AttributeValue::S("A#1".into()));
        assert_eq!(a["GSI1PK"], AttributeValue::S("A".into()));
        assert_eq!(a["GSI1SK"], AttributeValue::S("1".into()));
        assert_eq!(a["n"], AttributeValue::N("2".into()));
        assert_eq!(a["h"], AttributeValue::S(it.content_hash().into()));
        // The stored hash is reproducible from the stored item.
        assert_eq!(content_hash(a), it.content_hash());
    }

    #[test]
    fn hash_changes_with_content_not_order() {
        let mk = |n| StoreItem::new(Keys::new("A#1", "P", "A"), &E { id: "1".into(), n }).unwrap();
        assert_eq!(mk(1).content_hash(), mk(1).content_hash());
        assert_ne!(mk(1).content_hash(), mk(2).content_hash());
        let mut m1 = Item::new();
        m1.insert("x".into(), AttributeValue::Ss(vec!["a".into(), "b".into()]));
        let mut m2 = Item::new();
        m2.insert("x".into(), AttributeValue::Ss(vec!["b".into(), "a".into()]));
        assert_eq!(content_hash(&m1), content_hash(&m2));
    }

    #[test]
    fn reserved_attribute_is_refused() {
        #[derive(Serialize)]
        struct Bad {
            h: String,
        }
        let e = StoreItem::new(Keys::new("A", "B", "X"), &Bad { h: "x".into() }).unwrap_err();
        assert!(matches!(e, StoreError::ReservedAttribute(ref a) if a == "h"));
    }
}
