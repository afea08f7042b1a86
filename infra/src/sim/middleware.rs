//! The API middleware both servers put in front of their routes: count the
//! request, authenticate, then apply the server's faults and limits
//! ([`super::faults`]) — 429s, injected 5xx, delays, hangs, cut bodies.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors;
use super::faults::{Decision, FaultAction};
use super::state::Shared;
use super::Server;

/// Per-request context of the API middleware.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub server: Server,
}

/// The API middleware (a `route_layer`, so the matched route template is
/// known): count, authenticate, rate-limit, inject faults, maybe cut the body.
/// Auth comes before the bucket because the limit is "per key".
pub(crate) async fn api_layer(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "UNMATCHED".to_string());
    let key = format!("{} {}", req.method(), route);
    let srv = ctx.shared.server(ctx.server);
    {
        let mut st = srv.stats();
        *st.requests.entry(key.clone()).or_default() += 1;
        st.total_requests += 1;
    }
    if let Some(resp) = authenticate(&ctx, &req) {
        srv.stats().unauthorized += 1;
        return resp;
    }
    let scripted = srv.faults.lock().expect("faults lock").scripted(&key);
    if let Some(action) = scripted {
        match action {
            FaultAction::Status { code, retry_after } => {
                let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if code == StatusCode::TOO_MANY_REQUESTS {
                    srv.stats().rate_limited += 1;
                    let mut resp = rate_limited(ctx.server, retry_after.unwrap_or(1));
                    if retry_after.is_none() {
                        resp.headers_mut().remove(header::RETRY_AFTER);
                    }
                    return resp;
                }
                srv.stats().injected_5xx += 1;
                return server_error(ctx.server, code);
            }
            FaultAction::Hang(d) => {
                srv.stats().hangs += 1;
                tokio::time::sleep(d).await;
                return (StatusCode::GATEWAY_TIMEOUT, "upstream timed out").into_response();
            }
            FaultAction::Delay(d) => {
                tokio::time::sleep(d).await;
                return next.run(req).await;
            }
            FaultAction::Truncate => {
                srv.stats().malformed += 1;
                let resp = next.run(req).await;
                return truncate(resp).await;
            }
        }
    }
    let decision = srv
        .faults
        .lock()
        .expect("faults lock")
        .decide(Instant::now());
    let (delay, hang, fail_5xx, malformed) = match decision {
        Decision::RateLimited { retry_after } => {
            srv.stats().rate_limited += 1;
            return rate_limited(ctx.server, retry_after);
        }
        Decision::Serve {
            delay,
            hang,
            fail_5xx,
            malformed,
        } => (delay, hang, fail_5xx, malformed),
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if hang {
        srv.stats().hangs += 1;
        let hang_for = srv.faults.lock().expect("faults lock").options().hang;
        tokio::time::sleep(hang_for).await;
        // What a load balancer answers once its own upstream timeout fires.
        return (StatusCode::GATEWAY_TIMEOUT, "upstream timed out").into_response();
    }
    if let Some(code) = fail_5xx {
        srv.stats().injected_5xx += 1;
        return server_error(ctx.server, code);
    }
    let resp = next.run(req).await;
    if malformed {
        srv.stats().malformed += 1;
        return truncate(resp).await;
    }
    resp
}

/// `None` when the request carries the right credentials, else the 401.
fn authenticate(ctx: &Ctx, req: &Request) -> Option<Response> {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let keys = &ctx.shared.keys;
    match ctx.server {
        Server::Northpass => {
            if h("x-api-key") == Some(keys.northpass_key.as_str()) {
                None
            } else {
                Some(errors::northpass(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "missing or invalid X-Api-Key",
                ))
            }
        }
        Server::Impartner => {
            let want = format!("prm-key {}", keys.impartner_key);
            let auth_ok = h("authorization") == Some(want.as_str());
            let tenant_ok = h("x-prm-tenantid") == Some(keys.impartner_tenant.as_str());
            if auth_ok && tenant_ok {
                None
            } else {
                Some(errors::impartner(
                    StatusCode::UNAUTHORIZED,
                    "Invalid API key or tenant (Authorization: prm-key <key>, X-PRM-TenantId)",
                ))
            }
        }
    }
}

fn rate_limited(server: Server, retry_after: u64) -> Response {
    let mut resp = match server {
        Server::Northpass => errors::northpass(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
            "rate limit exceeded",
        ),
        Server::Impartner => {
            errors::impartner(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded")
        }
    };
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&retry_after.to_string()).expect("digits"),
    );
    resp
}

/// Real 5xx bodies are not always the API's JSON: a 502/503 from the edge is
/// HTML, so clients must not assume they can parse an error body.
fn server_error(server: Server, code: StatusCode) -> Response {
    if code == StatusCode::INTERNAL_SERVER_ERROR {
        match server {
            Server::Northpass => errors::northpass(code, "Internal Server Error", "injected fault"),
            Server::Impartner => errors::impartner(code, "An unexpected error occurred"),
        }
    } else {
        let html = format!(
            "<html><body><h1>{} {}</h1></body></html>",
            code.as_u16(),
            code.canonical_reason().unwrap_or("")
        );
        (code, [(header::CONTENT_TYPE, "text/html")], html).into_response()
    }
}

/// Keep status and headers, serve only the first half of the body. Any
/// proper prefix of a JSON object/array is unparseable. Content-Length is
/// recomputed: a lying length would make hyper abort the connection, which
/// is a different fault (a connection reset), not a truncated document.
async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let cut = bytes.slice(0..bytes.len() / 2);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(cut))
}
