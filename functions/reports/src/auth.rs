//! Who is calling, resolved to a [`Grant`] in one place ([`authenticate`]).
//! Credentials, in order:
//! 1. `Authorization: Bearer <token>`, on every route;
//! 2. the web portal's session cookie (`web::session`), on `GET`/`HEAD`
//!    only, so a cookie can never be ridden by a forged cross-site write;
//! 3. `?token=`, only where [`TokenIn::HeaderOrQuery`] allows it — `GET`
//!    of report pages/exports and dashboards, so a PAM can click a URL. A
//!    write never takes a token from the URL, where it would end up in
//!    browser history, proxy logs and Referer headers.
//!
//! The configured admin token is compared by hash in constant time; every
//! other token is looked up by its hash (one GetItem) — the table never
//! holds a usable secret.

use lambda_http::http::{header, Method};
use portal_core::access::{verify_token, Grant};

use crate::http::ApiError;
use crate::AppState;

/// Where a route accepts a bearer token from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenIn {
    /// The `Authorization` header only (admin routes, every write).
    Header,
    /// The header, or `?token=` on a `GET`/`HEAD` (report pages, exports,
    /// dashboards); any other method still needs the header.
    HeaderOrQuery,
}

fn bearer(req: &lambda_http::Request) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        })
        .filter(|t| !t.is_empty())
}

/// The presented token, if any: the `Authorization: Bearer` header wins
/// over `?token=`, which counts only where `from` allows it.
pub fn presented_token(
    req: &lambda_http::Request,
    query: &[(String, String)],
    from: TokenIn,
) -> Option<String> {
    let query_ok =
        from == TokenIn::HeaderOrQuery && matches!(*req.method(), Method::GET | Method::HEAD);
    bearer(req).or_else(|| {
        query_ok
            .then(|| {
                query
                    .iter()
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.trim().to_string())
            })
            .flatten()
            .filter(|t| !t.is_empty())
    })
}

/// The caller's grant: no credentials → 401; unknown, expired or revoked
/// token → 401. A portal page's own in-process request carries its grant;
/// a signed-in browser's GET carries its session cookie (`web::session`).
pub async fn authenticate(
    state: &AppState,
    req: &lambda_http::Request,
    query: &[(String, String)],
    from: TokenIn,
) -> Result<Grant, ApiError> {
    if let Some(g) = crate::web::session::page_grant(req) {
        return Ok(g);
    }
    if let Some(t) = bearer(req) {
        return resolve(state, &t).await?.ok_or(ApiError::InvalidToken);
    }
    if let Some(g) = crate::web::session::cookie_grant(state, req).await? {
        return Ok(g);
    }
    if from == TokenIn::Header
        && query.iter().any(|(k, _)| k == "token")
        && !matches!(*req.method(), Method::GET | Method::HEAD)
    {
        return Err(ApiError::BadRequest(
            "a token in the URL is not accepted here: send it in the Authorization header".into(),
        ));
    }
    let token = presented_token(req, query, from).ok_or(ApiError::Unauthorized)?;
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
