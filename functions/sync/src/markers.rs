//! Transcript bookkeeping, in the user's own partition:
//!
//! - the fetch marker (`USER#<id>` / `TRANSCRIPT`, type index `TFETCH`,
//!   sorted by fetch time): when the user's transcript was last fetched and
//!   what was known then. Written by `lms-enrollments` and the webhook
//!   consumer; an incremental run reads the markers older than
//!   `SYNC_TRANSCRIPT_MAX_AGE_HOURS` with one range Query;
//! - the due item (`USER#<id>` / `TDUE`, type index `TDUE`): this user's
//!   transcript should be fetched by the next incremental run — they were
//!   active in the LMS (`lms-users`), joined a partner group (`lms-groups`)
//!   or became reachable through a CRM contact (`crm-contacts`). An
//!   incremental `lms-enrollments` run reads the due items and the aged
//!   markers instead of every user of every partner, and removes the items
//!   it handled.

use chrono::{DateTime, Utc};
use portal_core::store::{keys, schema, ItemKey, Keys, QuerySpec, SkCondition, Store, StoreItem};
use serde::{Deserialize, Serialize};

use crate::error::SyncError;

/// Sort key and type-index name of the fetch marker. Asked for in
/// `store/keys.rs` (docs/requests/sync.md); defined here meanwhile.
pub(crate) const MARKER_SK: &str = "TRANSCRIPT";
pub const MARKER_ENTITY: &str = "TFETCH";

/// When a user's transcript was last fetched, and what we knew then.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub(crate) struct FetchMarker {
    pub user_id: String,
    pub fetched_at: Option<DateTime<Utc>>,
    /// The user's `last_active_at` when fetched: a different value now
    /// means course activity since.
    pub last_active_at: Option<DateTime<Utc>>,
    /// Set by `lms-groups` when the user joined a partner group.
    pub stale: bool,
    /// Courses of the records stored for the user: records that vanish
    /// from a later transcript are deleted without reading the old ones.
    pub courses: Vec<String>,
    /// Set when a webhook event made this fetch (`hooks.rs`): the latest
    /// event time it covers. Activity up to then (`last_active_at` not
    /// after it) is already in the stored transcript, so an incremental
    /// run need not fetch it again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_at: Option<DateTime<Utc>>,
}

impl FetchMarker {
    /// Whether activity stamped `active` is covered by a webhook refresh.
    pub fn covers_activity(&self, active: Option<DateTime<Utc>>) -> bool {
        matches!((self.hook_at, active), (Some(h), Some(a)) if a <= h)
    }
}

pub(crate) fn marker_item(m: &FetchMarker) -> Result<StoreItem, SyncError> {
    // Sorted by fetch time in the type index, so the aged ones are a range.
    let order = format!(
        "{}#{}",
        m.fetched_at.map(keys::ts).unwrap_or_default(),
        m.user_id
    );
    Ok(StoreItem::new(
        Keys::new(keys::user_pk(&m.user_id), MARKER_SK, MARKER_ENTITY).typed(order),
        m,
    )?)
}

/// Markers of transcripts fetched before `before` (never-fetched ones
/// included): one range Query of the type index.
pub(crate) async fn aged_markers(
    store: &Store,
    before: DateTime<Utc>,
) -> Result<Vec<FetchMarker>, SyncError> {
    let items = store
        .query(
            &QuerySpec::partition(MARKER_ENTITY)
                .index(schema::GSI1)
                // "#" sorts before every timestamp and starts the order key
                // of a marker never fetched (DynamoDB refuses an empty bound).
                .sk(SkCondition::Between("#".into(), keys::ts(before))),
        )
        .await?;
    Ok(serde_dynamo::from_items(items).map_err(portal_core::store::StoreError::from)?)
}

/// Sort key and type-index name of the due item.
pub(crate) const DUE_SK: &str = "TDUE";
pub const DUE_ENTITY: &str = "TDUE";

/// "Fetch this user's transcript at the next incremental run."
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub(crate) struct DueItem {
    pub user_id: String,
    /// Set when the user joined a partner (group or contact): fetched even
    /// when a webhook refresh covers their activity. Activity alone is
    /// judged against the fetch marker (`tasks/enrollments.rs`).
    pub joined: bool,
    pub queued_at: Option<DateTime<Utc>>,
}

impl DueItem {
    pub fn key(&self) -> ItemKey {
        ItemKey::new(keys::user_pk(&self.user_id), DUE_SK)
    }
}

fn due_item(d: &DueItem) -> Result<StoreItem, SyncError> {
    Ok(StoreItem::new(
        Keys::new(keys::user_pk(&d.user_id), DUE_SK, DUE_ENTITY).typed(d.user_id.clone()),
        d,
    )?)
}

/// Queues the transcripts of these users for the next incremental run.
/// An item already queued keeps `joined` (a later activity does not
/// downgrade it); the later `queued_at` wins, so a run that read the older
/// item does not remove the newer one.
pub(crate) async fn queue(store: &Store, due: Vec<DueItem>) -> Result<(), SyncError> {
    if due.is_empty() {
        return Ok(());
    }
    let keys: Vec<ItemKey> = due.iter().map(DueItem::key).collect();
    let old: std::collections::HashMap<ItemKey, DueItem> = store.get_items_as(&keys).await?;
    let items = due
        .into_iter()
        .map(|mut d| {
            if let Some(o) = old.get(&d.key()) {
                d.joined |= o.joined;
                d.queued_at = d.queued_at.max(o.queued_at);
            }
            due_item(&d)
        })
        .collect::<Result<Vec<_>, _>>()?;
    store.batch_put(items).await?;
    Ok(())
}

/// Every queued user (one paginated Query of the type index).
pub(crate) async fn queued(store: &Store) -> Result<Vec<DueItem>, SyncError> {
    Ok(store.query_type_as::<DueItem>(DUE_ENTITY).await?)
}

/// Removes the due items of `handled` that were queued before `run_start`
/// (one queued meanwhile is kept for the next run).
pub(crate) async fn unqueue(
    store: &Store,
    handled: &[DueItem],
    run_start: DateTime<Utc>,
) -> Result<(), SyncError> {
    let keys: Vec<ItemKey> = handled
        .iter()
        .filter(|d| d.queued_at.is_none_or(|q| q <= run_start))
        .map(DueItem::key)
        .collect();
    if !keys.is_empty() {
        store.batch_delete(keys).await?;
    }
    Ok(())
}

/// Queues the transcripts of users who joined a partner (group or
/// contact), for the next incremental run.
pub async fn mark_for_refetch(
    store: &Store,
    user_ids: &[String],
    now: DateTime<Utc>,
) -> Result<(), SyncError> {
    queue(
        store,
        user_ids
            .iter()
            .map(|id| DueItem {
                user_id: id.clone(),
                joined: true,
                queued_at: Some(now),
            })
            .collect(),
    )
    .await
}
