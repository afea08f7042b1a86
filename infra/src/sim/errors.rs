//! The error bodies of the two servers, as the real APIs send them
//! (docs/source-contract.md): the routes answer with them, and so do the
//! injected faults of [`super::middleware`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A JSON:API error answer (Northpass).
pub(crate) fn northpass(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({"errors": [{
        "status": status.as_u16().to_string(),
        "title": title,
        "detail": detail,
    }]});
    (status, Json(body)).into_response()
}

/// `{"success": false, "message": .., "errors": [..]}` with an HTTP status
/// (Impartner).
pub(crate) fn impartner(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"success": false, "message": message,
            "errors": [{"code": status.as_u16().to_string(), "message": message}]})),
    )
        .into_response()
}
