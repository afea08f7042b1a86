//! The `/_sim/*` control endpoints, on both servers, so the dev runner and
//! tests in other processes can drive a running simulator. They take no key
//! and meet no faults, rate limit or counters (they are not the API).
//!
//! - `GET  /_sim/health`        → `{"ok": true}`
//! - `GET  /_sim/stats`         → [`SimStats`](super::SimStats) of both servers
//! - `POST /_sim/stats/reset`   → zero the counters of both servers
//! - `GET  /_sim/options`       → this server's [`ServerOptions`](super::ServerOptions)
//! - `POST /_sim/options`       → merge a partial options object into this
//!   server's options (durations in ms), e.g. `{"rate_limit": 5, "p_5xx": 0.1}`
//! - `POST /_sim/mutate`        → apply a [`Mutation`](super::Mutation)
//!   (`{"type": "set_tier", "account_id": 100001, "tier": "Premier"}`);
//!   200 `{"ok": true, "id", "at"}`, 404/409/422 `{"ok": false, "error"}`
//! - `GET  /_sim/clock`         → `{"now": RFC 3339}`; `POST` `{"now": ..}` sets it

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::state::Shared;
use super::{Mutation, Server, ServerOptions, SimError};

#[derive(Clone)]
struct Ctl {
    shared: Arc<Shared>,
    server: Server,
}

pub(crate) fn router(shared: Arc<Shared>, server: Server) -> Router {
    Router::new()
        .route("/_sim/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/_sim/stats", get(stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .route("/_sim/options", get(get_options).post(set_options))
        .route("/_sim/mutate", post(mutate))
        .route("/_sim/clock", get(get_clock).post(set_clock))
        .with_state(Ctl { shared, server })
}

fn fail(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({"ok": false, "error": msg}))).into_response()
}

async fn stats(State(c): State<Ctl>) -> Response {
    Json(c.shared.stats()).into_response()
}

async fn reset_stats(State(c): State<Ctl>) -> Response {
    c.shared.reset_stats();
    Json(json!({"ok": true})).into_response()
}

fn current_options(c: &Ctl) -> ServerOptions {
    c.shared
        .server(c.server)
        .faults
        .lock()
        .expect("faults lock")
        .options()
        .clone()
}

async fn get_options(State(c): State<Ctl>) -> Response {
    Json(current_options(&c)).into_response()
}

async fn set_options(State(c): State<Ctl>, body: axum::body::Bytes) -> Response {
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&body) else {
        return fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "body must be a JSON object",
        );
    };
    let mut merged = serde_json::to_value(current_options(&c)).expect("serialisable");
    for (k, v) in patch {
        merged[k] = v;
    }
    match serde_json::from_value::<ServerOptions>(merged) {
        Ok(opts) => {
            c.shared.set_options(c.server, opts.clone());
            Json(opts).into_response()
        }
        Err(e) => fail(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

async fn mutate(State(c): State<Ctl>, body: axum::body::Bytes) -> Response {
    let m: Mutation = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return fail(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    };
    match c.shared.mutate(m) {
        Ok(out) => Json(json!({"ok": true, "id": out.id, "at": out.at})).into_response(),
        Err(e) => {
            let status = match e {
                SimError::NotFound { .. } => StatusCode::NOT_FOUND,
                SimError::Conflict(_) => StatusCode::CONFLICT,
                SimError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            };
            fail(status, &e.to_string())
        }
    }
}

async fn get_clock(State(c): State<Ctl>) -> Response {
    Json(json!({"now": c.shared.world().now()})).into_response()
}

async fn set_clock(State(c): State<Ctl>, body: axum::body::Bytes) -> Response {
    let now = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("now").and_then(Value::as_str).map(str::to_string))
        .and_then(|s| crate::datagen::dates::parse_any(&s));
    match now {
        Some(t) => {
            let t: DateTime<Utc> = t;
            c.shared.world().set_clock(t);
            Json(json!({"now": c.shared.world().now()})).into_response()
        }
        None => fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "body must be {\"now\": \"<RFC 3339>\"}",
        ),
    }
}
