//! The forecast routes: the `tier-at-risk` report (registered with the
//! other reports in `routes`, which filters, sorts, pages and exports it)
//! and `GET /api/partners/{id}/forecast`. The numbers are
//! `portal_core::reports::forecast`'s; this module only reads the store.

use lambda_http::http::StatusCode;
use lambda_http::Request;
use portal_core::reports::forecast::{self, TierAtRiskRow};
use portal_core::reports::rows::Scored;
use portal_core::reports::ReportQuery;

use crate::auth::{authenticate, TokenIn};
use crate::http::{self, query_pairs, ApiError, ApiResult};
use crate::AppState;

/// Rows of `tier-at-risk` for the partners the caller may see (`scored`,
/// already filtered by scope, region, tier and owner). Reads, beyond the
/// summaries the caller read: the certification rows expiring inside the
/// window (one range of the expiry index) and the organisation
/// certifications (one type-index Query; there are few).
pub async fn tier_at_risk(
    state: &AppState,
    scored: &[Scored<'_>],
    q: &ReportQuery,
) -> Result<Vec<TierAtRiskRow>, ApiError> {
    let days = forecast::window_days(q.days)?;
    let now = state.clock.now();
    // The index range is half-open [from, to); one millisecond past the
    // window's last instant keeps it.
    let (ending, org_certs) = futures::try_join!(
        state.store.expiring_certs(
            now,
            forecast::window_end(now, days) + chrono::Duration::milliseconds(1)
        ),
        state.store.all_org_certs(),
    )?;
    Ok(forecast::tier_at_risk(
        scored,
        ending.iter().map(|c| (c.partner_id.as_str(), &c.row)),
        &org_certs,
        now,
        days,
    ))
}

/// `GET /api/partners/{id}/forecast?days=N`: the step series of projected
/// NPCU, the drop date and the renewals that prevent it. Same access as the
/// dashboard (a partner link sees its own partner, a PAM theirs); one Query
/// on the partner's partition.
pub async fn partner_forecast(state: &AppState, req: &Request, id: &str) -> ApiResult {
    let pairs = query_pairs(req);
    let grant = authenticate(state, req, &pairs, TokenIn::HeaderOrQuery).await?;
    let days = forecast::parse_window(&pairs)?;
    let view = crate::dashboards::load_all(state, &grant, id).await?;
    let f = forecast::partner_forecast(&view, state.clock.now(), days);
    Ok(http::json(StatusCode::OK, &f))
}
