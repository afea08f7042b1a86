//! `GET /api/partners/{id}/history?from=&to=`: the partner's daily points,
//! from the sync's snapshots (`store::history`) where they exist and
//! reconstructed before them (`portal_core::reports::history`). Same
//! access as the dashboard; one Query on the partner's partition and one
//! on its history months.

use lambda_http::http::StatusCode;
use lambda_http::Request;
use portal_core::reports::history::{parse_range, partner_history};

use crate::auth::{authenticate, TokenIn};
use crate::http::{self, query_pairs, ApiResult};
use crate::AppState;

pub async fn partner_history_json(state: &AppState, req: &Request, id: &str) -> ApiResult {
    let pairs = query_pairs(req);
    let grant = authenticate(state, req, &pairs, TokenIn::HeaderOrQuery).await?;
    let now = state.clock.now();
    let (from, to) = parse_range(&pairs, now.date_naive())?;
    let view = crate::dashboards::load_all(state, &grant, id).await?;
    let stored = state.store.history(id, from, to).await?;
    Ok(http::json(
        StatusCode::OK,
        &partner_history(&view, &stored, from, to, now),
    ))
}
