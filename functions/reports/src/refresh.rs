//! The reports function's side of the one partner recompute
//! (`portal_core::recompute`): an admin change (manual award, organisation
//! certification, group pin, certification definition or status) shows at
//! once instead of after the next scheduled sync, computed by the same use
//! case the sync runs, from keyed reads of that partner only.

use portal_core::model::{Partner, PartnerSummary};
use portal_core::recompute::dynamo::StoreInputs;
use portal_core::recompute::{self, PartnerPeople, RecomputeError, RuleSettings};

use crate::http::ApiError;
use crate::AppState;

impl From<RecomputeError> for ApiError {
    fn from(e: RecomputeError) -> Self {
        match e {
            RecomputeError::Store(s) => s.into(),
        }
    }
}

/// The people of `partner` as the recompute sees them (the staff partner
/// page shows the same people).
pub async fn load_people(state: &AppState, partner: &Partner) -> Result<PartnerPeople, ApiError> {
    let inputs = StoreInputs::new(&state.store);
    // On the heap: in debug builds a large future on a worker's stack
    // adds up with the routers' frames (boxed.rs).
    Ok(Box::pin(recompute::load_people(
        &inputs,
        &partner.id,
        partner.lms_group_id.as_deref(),
    ))
    .await?)
}

/// Rebuilds and stores the summary and rows of `partner_id`; `None` when
/// the partner does not exist.
pub async fn recompute_partner(
    state: &AppState,
    partner_id: &str,
) -> Result<Option<PartnerSummary>, ApiError> {
    // An admin's change lands whole: one transaction when it fits.
    let inputs = StoreInputs::new(&state.store).atomic();
    let settings = RuleSettings {
        categories: &state.categories,
        default_validity_months: state.default_validity_months,
    };
    let out = Box::pin(recompute::recompute_partner(
        &inputs,
        partner_id,
        settings,
        state.clock.now(),
    ))
    .await?;
    Ok(out.map(|o| o.summary))
}
