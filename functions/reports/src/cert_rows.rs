//! The certification rows a report needs, read the cheaper of two ways
//! for the number of partners it shows.

use std::collections::{BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt};

use crate::http::ApiError;
use crate::AppState;

/// Partitions (or groups) read at once.
pub(crate) const PARTITION_CONCURRENCY: usize = 8;

/// Certification rows of the partners `ids`, by partner. Few partners: one
/// Query per partition, a few at a time (reads only their rows). Most of
/// the `total` partners (an admin's or a big PAM's report): one paginated
/// Query on the type index, ~1 MB a page, instead of hundreds of Queries —
/// the same items billed, far fewer round trips; rows of partners not in
/// `ids` are dropped here and never leave the function.
pub async fn of_partners(
    state: &AppState,
    ids: Vec<String>,
    total: usize,
) -> Result<HashMap<String, Vec<portal_core::model::CertRow>>, ApiError> {
    if ids.len() > PARTITION_CONCURRENCY && ids.len() * 2 > total {
        let wanted: BTreeSet<String> = ids.into_iter().collect();
        let mut by_partner: HashMap<String, Vec<portal_core::model::CertRow>> = HashMap::new();
        for r in state.store.all_cert_rows().await? {
            if wanted.contains(&r.partner_id) {
                by_partner.entry(r.partner_id).or_default().push(r.row);
            }
        }
        return Ok(by_partner);
    }
    // Owned ids and a cloned store handle keep the futures free of
    // borrowed closure arguments (which would make them non-`Send`).
    futures::stream::iter(ids)
        .map(|id| {
            let store = state.store.clone();
            async move {
                let d = store.partner_dashboard(&id).await?;
                Ok::<_, ApiError>((id, d.certs))
            }
        })
        .buffer_unordered(PARTITION_CONCURRENCY)
        .try_collect()
        .await
}
