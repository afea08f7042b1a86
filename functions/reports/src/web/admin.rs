//! Admin pages: the sync dashboard (`/admin/sync`: tasks, leases, runs,
//! Run now / Reset), tokens (`/admin/tokens`: create, list, revoke) and
//! mail (`/admin/mail`: reminder and digest runs, sent and skipped).
//! Every action goes through the admin API's own functions
//! (`crate::admin::dispatch`) as the session's grant, so a PAM gets the
//! API's 404 and input is validated once.

use crate::boxed::boxed;
use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use minijinja::context;
use serde_json::{json, Value};

use super::layout::{self, Chrome};
use super::session::{see_other, Session};
use super::{api_request, href, json_of, Form};
use crate::auth::require_admin;
use crate::http::{query_pairs, ApiError, ApiResult};
use crate::AppState;

/// Calls `/api/admin/<rest>` in-process as the session (the admin routes
/// check the grant themselves).
pub(super) async fn admin_api(
    state: &AppState,
    req: &Request,
    s: &Session,
    method: Method,
    rest: &str,
    body: Option<Value>,
) -> ApiResult {
    let inner = api_request(
        req,
        &s.grant,
        method.clone(),
        &format!("/api/admin/{rest}"),
        body,
    )?;
    let path = inner.uri().path().to_string();
    let segs: Vec<&str> = path.trim_matches('/').split('/').skip(2).collect();
    boxed(|| crate::admin::dispatch(state, &inner, &method, &segs))
        .await
        .1
}

/// Notices a form's redirect may ask for (fixed texts: nothing from the
/// address is echoed).
fn notice(req: &Request) -> Option<&'static str> {
    let done = query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v)?;
    Some(match done.as_str() {
        "run" => "Run started.",
        "reset" => "Lock reset.",
        "not-locked" => "The task was not locked.",
        "revoked" => "Revoked.",
        _ => return None,
    })
}

pub async fn sync_page(state: &AppState, req: &Request, s: &Session, chrome: &Chrome) -> ApiResult {
    require_admin(&s.grant)?;
    let tasks = json_of(&admin_api(state, req, s, Method::GET, "tasks", None).await?)?;
    let mut lines = Vec::new();
    for t in tasks["data"].as_array().cloned().unwrap_or_default() {
        let name = t["task"].as_str().unwrap_or_default().to_string();
        // The task list also holds the reminder jobs' records; they have no
        // run-now or reset here, and their runs are not sync runs.
        if !crate::runner::TASKS.contains(&name.as_str()) {
            continue;
        }
        let runs = json_of(
            &admin_api(
                state,
                req,
                s,
                Method::GET,
                &format!("tasks/{name}/runs?limit=5"),
                None,
            )
            .await?,
        )?;
        lines.push(json!({ "task": t, "runs": runs["data"] }));
    }
    let running = lines
        .iter()
        .any(|l| l["task"]["running"].as_bool().unwrap_or(false));
    let hooks = boxed(|| crate::hooks::overview(state)).await?;
    let html = layout::render(
        "sync.html",
        Some(chrome),
        context! { tasks => lines, running => running, hooks => hooks, notice => notice(req), error => Option::<String>::None },
    )?;
    layout::ok(html)
}

/// `POST /admin/sync/{task}/run` (field `mode`) and `…/reset` (field
/// `force`).
pub async fn sync_action(
    state: &AppState,
    req: &Request,
    s: &Session,
    task: &str,
    action: &str,
    form: &Form,
) -> ApiResult {
    require_admin(&s.grant)?;
    let (rest, done) = match action {
        "run" => {
            let mode = form.text("mode").unwrap_or_else(|| "incremental".into());
            (
                href(&format!("tasks/{task}/run"), &[("mode".into(), mode)]),
                "run",
            )
        }
        "reset" => {
            let force = form.get("force").is_some_and(|v| v == "true");
            let pairs = if force {
                vec![("force".to_string(), "true".to_string())]
            } else {
                Vec::new()
            };
            (href(&format!("tasks/{task}/reset"), &pairs), "reset")
        }
        _ => return Err(ApiError::NotFound),
    };
    let resp = admin_api(state, req, s, Method::POST, &rest, None).await?;
    let done = if done == "reset" && json_of(&resp)?["reset"] == false {
        "not-locked"
    } else {
        done
    };
    Ok(see_other(&format!("/admin/sync?done={done}")))
}

pub async fn tokens_page(
    state: &AppState,
    req: &Request,
    s: &Session,
    chrome: &Chrome,
    created: Option<Value>,
) -> ApiResult {
    require_admin(&s.grant)?;
    let tokens = json_of(&admin_api(state, req, s, Method::GET, "tokens", None).await?)?;
    let html = layout::render(
        "tokens.html",
        Some(chrome),
        context! { tokens => tokens["data"], created => created, notice => notice(req) },
    )?;
    layout::ok(html)
}

/// `POST /admin/tokens` (fields `kind` = `pam` | `partner_link`,
/// `owner_email`, `label`, `partner_id`). The new secret is shown on the
/// answer page only — never put in an address.
pub async fn create_token(state: &AppState, req: &Request, s: &Session, form: &Form) -> ApiResult {
    require_admin(&s.grant)?;
    let body = match form.get("kind") {
        Some("partner_link") => json!({
            "kind": "partner_link",
            "partner_id": form.text("partner_id").unwrap_or_default(),
        }),
        _ => json!({
            "kind": "pam",
            "owner_email": form.text("owner_email").unwrap_or_default(),
            "label": form.text("label"),
        }),
    };
    let chrome = Chrome::load(state, s).await?;
    match admin_api(state, req, s, Method::POST, "tokens", Some(body)).await {
        Ok(resp) => tokens_page(state, req, s, &chrome, Some(json_of(&resp)?)).await,
        Err(e @ (ApiError::BadRequest(_) | ApiError::Unavailable(_))) => {
            let mut r = layout::error_page(e.status(), &e.to_string())?;
            *r.status_mut() = StatusCode::BAD_REQUEST;
            Ok(r)
        }
        Err(e) => Err(e),
    }
}

/// `POST /admin/tokens/{id}/revoke`.
pub async fn revoke_token(state: &AppState, req: &Request, s: &Session, id: &str) -> ApiResult {
    require_admin(&s.grant)?;
    admin_api(state, req, s, Method::DELETE, &format!("tokens/{id}"), None).await?;
    Ok(see_other("/admin/tokens?done=revoked"))
}

/// The mail jobs' task names (the reminders function's `Job::task`) and
/// how each is titled here.
const MAIL_JOBS: [(&str, &str); 2] = [
    ("reminders", "Expiry reminders (daily)"),
    ("pam-digest", "PAM digest (weekly)"),
];
/// Runs listed per job.
const MAIL_RUNS: usize = 20;

/// `/admin/mail`: the reminder and digest runs as the reminders function
/// recorded them (`functions/reminders/src/summary.rs`: due, sent, mails
/// sent / failed, skipped by reason), newest first. Read as JSON: the
/// page shows what the record holds and needs no copy of its type.
pub async fn mail_page(state: &AppState, s: &Session, chrome: &Chrome) -> ApiResult {
    require_admin(&s.grant)?;
    let mut jobs = Vec::new();
    for (task, title) in MAIL_JOBS {
        let runs: Vec<Value> = state.store.recent_runs(task, MAIL_RUNS).await?;
        let runs: Vec<Value> = runs
            .into_iter()
            .map(|mut r| {
                // Reasons as a list of (reason, count), largest first.
                let mut skipped: Vec<(String, u64)> = r["skipped"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.replace('_', " "), v.as_u64().unwrap_or(0)))
                            .collect()
                    })
                    .unwrap_or_default();
                skipped.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                r["skipped_total"] = json!(skipped.iter().map(|(_, n)| n).sum::<u64>());
                r["skipped_list"] = json!(skipped
                    .into_iter()
                    .map(|(reason, n)| json!({ "reason": reason, "count": n }))
                    .collect::<Vec<_>>());
                r
            })
            .collect();
        jobs.push(json!({ "task": task, "title": title, "runs": runs }));
    }
    let html = layout::render("mail.html", Some(chrome), context! { jobs => jobs })?;
    layout::ok(html)
}
