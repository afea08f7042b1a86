//! `/partners/{id}` for staff: the dashboard the partner sees (rendered by
//! `crate::render`, the same template) plus, for admins, the tools: manual
//! awards and organisation certifications, and the portal link. A PAM
//! gets the API's 404 for a partner outside their scope.

use lambda_http::http::Method;
use lambda_http::Request;
use minijinja::context;
use serde_json::json;

use super::layout::{self, Chrome};
use super::session::{see_other, Session};
use super::{api_request, Form};
use crate::auth::require_admin;
use crate::http::{query_pairs, ApiError, ApiResult};
use crate::AppState;

/// The `<main>` content of the partner's own dashboard page, so staff see
/// exactly what the partner sees.
fn dashboard_body(page: &str) -> &str {
    let start = page.find("<main>").map(|i| i + "<main>".len());
    let end = page.rfind("</main>");
    match (start, end) {
        (Some(s), Some(e)) if s <= e => &page[s..e],
        _ => "",
    }
}

pub async fn page(
    state: &AppState,
    req: &Request,
    s: &Session,
    chrome: &Chrome,
    id: &str,
) -> ApiResult {
    let pairs = query_pairs(req);
    let cursor = crate::routes::dashboard_cursor(&pairs);
    let view = crate::routes::load_dashboard_page(state, &s.grant, id, cursor).await?;
    let full = crate::render::dashboard(&view).map_err(|e| ApiError::Internal(e.to_string()))?;
    let done = query_pairs(req)
        .into_iter()
        .any(|(k, v)| k == "done" && v == "award")
        .then_some("Saved. The numbers above include it.");
    let html = layout::render(
        "partner.html",
        Some(chrome),
        context! {
            d => &view,
            // Rendered (and escaped) by the dashboard template itself.
            dashboard => minijinja::Value::from_safe_string(dashboard_body(&full).to_string()),
            notice => done,
        },
    )?;
    layout::ok(html)
}

/// `POST /partners/{id}/awards`: a manual award (`kind=award`: `email`,
/// `course_id`, `completed_at`, optional `expires_at`, `note`) or an
/// organisation certification (`kind=org`: `name`, `category`, `npcu`,
/// `starts_at`, `ends_at`), through the admin API.
pub async fn add_award(
    state: &AppState,
    req: &Request,
    s: &Session,
    id: &str,
    form: &Form,
) -> ApiResult {
    require_admin(&s.grant)?;
    let body = match form.get("kind") {
        Some("org") => {
            let npcu: u8 = form.text("npcu").unwrap_or_default().parse().map_err(|_| {
                ApiError::BadRequest("'npcu': expected a whole number 0-255".into())
            })?;
            json!({
                "kind": "org",
                "partner_id": id,
                "name": form.text("name").unwrap_or_default(),
                "category": form.text("category"),
                "npcu": npcu,
                "starts_at": form.text("starts_at").unwrap_or_default(),
                "ends_at": form.text("ends_at").unwrap_or_default(),
            })
        }
        _ => json!({
            "kind": "award",
            "partner_id": id,
            "email": form.text("email"),
            "course_id": form.text("course_id").unwrap_or_default(),
            "completed_at": form.text("completed_at").unwrap_or_default(),
            "expires_at": form.text("expires_at"),
            "recorded_by": s.record.who,
            "note": form.text("note"),
        }),
    };
    let inner = api_request(req, &s.grant, Method::POST, "/api/admin/awards", Some(body))?;
    Box::pin(crate::admin::dispatch(
        state,
        &inner,
        &Method::POST,
        &["awards"],
    ))
    .await
    .1?;
    let pid: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    Ok(see_other(&format!("/partners/{pid}?done=award")))
}
