//! Who is calling: a bearer token (header) or `?token=` (so a PAM can
//! click a report URL) resolved to a [`Grant`]. The configured admin token
//! is compared by hash in constant time; every other token is looked up by
//! its hash (one GetItem) — the table never holds a usable secret.

use lambda_http::http::header;
use portal_core::access::{verify_token, Grant};

use crate::http::ApiError;
use crate::AppState;

/// The presented token, if any: the `Authorization: Bearer` header wins
/// over `?token=`.
pub fn presented_token(req: &lambda_http::Request, query: &[(String, String)]) -> Option<String> {
    let from_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        });
    from_header
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.trim().to_string())
        })
        .filter(|t| !t.is_empty())
}

/// The caller's grant: no token → 401; unknown, expired or revoked → 401.
/// Without a token, a portal page's own request carries its grant and a
/// signed-in browser's GET its session cookie (`web::session`).
pub async fn authenticate(
    state: &AppState,
    req: &lambda_http::Request,
    query: &[(String, String)],
) -> Result<Grant, ApiError> {
    if let Some(g) = crate::web::session::page_grant(req) {
        return Ok(g);
    }
    let Some(token) = presented_token(req, query) else {
        return crate::web::session::cookie_grant(state, req)
            .await?
            .ok_or(ApiError::Unauthorized);
    };
    resolve(state, &token).await?.ok_or(ApiError::InvalidToken)
}

/// Grant of a token, `None` when it is not (or no longer) valid.
pub async fn resolve(state: &AppState, token: &str) -> Result<Option<Grant>, ApiError> {
    if let Some(h) = &state.admin_token_hash {
        if verify_token(token, h) {
            return Ok(Some(Grant::Admin));
        }
    }
    let rec = state
        .store
        .token_by_secret(token, state.clock.now())
        .await?;
    Ok(rec.as_ref().and_then(Grant::from_record))
}

/// Admin-only routes answer 404 to anyone else (not 403): a PAM or a
/// partner link learns nothing about what exists there.
pub fn require_admin(grant: &Grant) -> Result<(), ApiError> {
    if grant.is_admin() {
        Ok(())
    } else {
        Err(ApiError::NotFound)
    }
}

/// Reports are for admins and PAMs; a partner link sees only its dashboard.
pub fn require_staff(grant: &Grant) -> Result<(), ApiError> {
    match grant {
        Grant::Admin | Grant::Pam { .. } => Ok(()),
        Grant::PartnerLink { .. } => Err(ApiError::NotFound),
    }
}
