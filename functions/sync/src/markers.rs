//! Fetch markers: one small item per user (`USER#<id>` / `TRANSCRIPT`,
//! type index `TFETCH`) saying when the user's transcript was last fetched
//! and what was known then. Written by `lms-enrollments`, flagged stale by
//! `lms-groups`, read by the recompute (only users with a marker have
//! stored enrollments).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use portal_core::store::{keys, Keys, Store, StoreItem};
use serde::{Deserialize, Serialize};

use crate::error::SyncError;

/// Sort key and type-index name of the fetch marker. Asked for in
/// `store/keys.rs` (docs/requests/sync.md); defined here meanwhile.
pub(crate) const MARKER_SK: &str = "TRANSCRIPT";
pub const MARKER_ENTITY: &str = "TFETCH";

/// Users whose transcripts were ever stored (they have a marker): only
/// their enrollments need reading when recomputing.
pub async fn fetched_users(store: &Store) -> Result<HashSet<String>, SyncError> {
    Ok(store
        .query_type_as::<FetchMarker>(MARKER_ENTITY)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect())
}

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
    Ok(StoreItem::new(
        Keys::new(keys::user_pk(&m.user_id), MARKER_SK, MARKER_ENTITY).typed(m.user_id.clone()),
        m,
    )?)
}

/// Flags the markers of `user_ids` so the next incremental run fetches
/// them (users without a marker are fetched anyway).
pub async fn mark_for_refetch(store: &Store, user_ids: &[String]) -> Result<(), SyncError> {
    for id in user_ids {
        if let Some(mut m) = store
            .get_as::<FetchMarker>(&keys::user_pk(id), MARKER_SK)
            .await?
        {
            if !m.stale {
                m.stale = true;
                store.put(marker_item(&m)?).await?;
            }
        }
    }
    Ok(())
}
