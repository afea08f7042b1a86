//! Admin operations: sync task status/history, run now, reset a stuck
//! lock, tokens, manual awards / organisation certifications (add,
//! remove), group pins (set, clear).
//! Every route is admin-only; anyone else gets the same 404 as an unknown
//! path.

use crate::boxed::boxed;
use chrono::{DateTime, Datelike, Duration, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::Request;
use portal_core::access::{
    current_link_version, generate_token, generate_token_id, next_link_version,
    parse_partner_link_id, partner_link_id, partner_link_record, partner_link_token,
    stale_live_links, Grant,
};
use portal_core::clock::parse_instant;
use portal_core::model::{LmsGroup, ManualAward, OrgCertification};
use portal_core::store::leases::RunRecord;
use portal_core::store::{entities, keys, TokenRecord};
use serde::{Deserialize, Serialize};

use crate::auth::{authenticate, require_admin, TokenIn};
use crate::http::{self, json_body, query_pairs, ApiError, ApiResult};
use crate::programs;
use crate::refresh::recompute_partner;
use crate::runner::{RunMode, RunnerError, TASKS};
use crate::AppState;

/// Dispatches `/api/admin/<rest>`; returns the route label for the log.
pub async fn dispatch(
    state: &AppState,
    req: &Request,
    method: &Method,
    rest: &[&str],
) -> (&'static str, ApiResult) {
    let label = label(method, rest);
    let pairs = query_pairs(req);
    // Admin routes take the token from the header (or a web session), never
    // from the URL.
    let grant = match boxed(|| authenticate(state, req, &pairs, TokenIn::Header)).await {
        Ok(g) => g,
        Err(e) => return (label, Err(e)),
    };
    if let Err(e) = require_admin(&grant) {
        return (label, Err(e));
    }
    let m = method.clone();
    let result = match (m, rest) {
        (Method::GET, ["tasks"]) => boxed(|| tasks(state)).await,
        (Method::GET, ["tasks", task, "runs"]) => boxed(|| runs(state, task, &pairs)).await,
        (Method::POST, ["tasks", task, "run"]) => boxed(|| run_now(state, task, &pairs)).await,
        (Method::POST, ["tasks", task, "reset"]) => boxed(|| reset(state, task, &pairs)).await,
        (Method::GET, ["tokens"]) => boxed(|| list_tokens(state)).await,
        (Method::POST, ["tokens"]) => boxed(|| create_token(state, req)).await,
        (Method::DELETE, ["tokens", id]) => boxed(|| revoke_token(state, req, id)).await,
        (Method::POST, ["awards"]) => boxed(|| award(state, req)).await,
        (Method::PUT, ["partners", id, "group"]) => boxed(|| pin_group(state, req, id)).await,
        (Method::DELETE, ["partners", id, "group"]) => boxed(|| unpin_group(state, id)).await,
        (Method::DELETE, ["partners", id, "awards", award]) => {
            boxed(|| remove_award(state, id, award)).await
        }
        (Method::DELETE, ["partners", id, "org-certs", org]) => {
            boxed(|| remove_org_cert(state, id, org)).await
        }
        // Certification programs (issue 16): `crate::programs`.
        (Method::GET, ["certifications"]) => boxed(|| programs::list(state)).await,
        (Method::POST, ["certifications"]) => boxed(|| programs::create(state, req)).await,
        (Method::GET, ["certifications", id]) => boxed(|| programs::get(state, id)).await,
        (Method::PUT, ["certifications", id]) => boxed(|| programs::replace(state, req, id)).await,
        (Method::DELETE, ["certifications", id]) => boxed(|| programs::remove(state, id)).await,
        (Method::PUT, ["status"]) => boxed(|| programs::set_status(state, req)).await,
        (Method::GET, ["status"]) => boxed(|| programs::get_status(state, &pairs)).await,
        _ => Err(ApiError::NotFound),
    };
    (label, result)
}

fn label(method: &Method, rest: &[&str]) -> &'static str {
    match (method.as_str(), rest) {
        ("GET", ["tasks"]) => "/api/admin/tasks",
        ("GET", ["tasks", _, "runs"]) => "/api/admin/tasks/{task}/runs",
        ("POST", ["tasks", _, "run"]) => "/api/admin/tasks/{task}/run",
        ("POST", ["tasks", _, "reset"]) => "/api/admin/tasks/{task}/reset",
        (_, ["tokens"]) => "/api/admin/tokens",
        (_, ["tokens", _]) => "/api/admin/tokens/{id}",
        (_, ["awards"]) => "/api/admin/awards",
        (_, ["partners", _, "group"]) => "/api/admin/partners/{id}/group",
        (_, ["partners", _, "awards", _]) => "/api/admin/partners/{id}/awards/{award}",
        (_, ["partners", _, "org-certs", _]) => "/api/admin/partners/{id}/org-certs/{org}",
        (_, ["certifications"]) => "/api/admin/certifications",
        (_, ["certifications", _]) => "/api/admin/certifications/{id}",
        (_, ["status"]) => "/api/admin/status",
        _ => "/api/admin/(unknown)",
    }
}

fn known_task(task: &str) -> Result<(), ApiError> {
    if TASKS.contains(&task) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "unknown task '{task}' (known: {})",
            TASKS.join(", ")
        )))
    }
}

/// Only the listed parameters (plus `token`) are accepted.
fn only_params(pairs: &[(String, String)], allowed: &[&str]) -> Result<(), ApiError> {
    match pairs
        .iter()
        .find(|(k, _)| k != "token" && !allowed.contains(&k.as_str()))
    {
        Some((k, _)) => Err(portal_core::reports::ParamError::new(
            k,
            "unknown or not supported by this route",
        )
        .into()),
        None => Ok(()),
    }
}

#[derive(Serialize)]
struct LockView {
    owner: String,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// The lease ran out: a run past its time limit (DESIGN: stuck after
    /// 30 minutes), which the next run takes over or an admin resets.
    stuck: bool,
}

#[derive(Serialize)]
struct TaskView {
    task: String,
    running: bool,
    lock: Option<LockView>,
    watermark: Option<DateTime<Utc>>,
    has_checkpoint: bool,
    last_run: Option<RunRecord>,
}

/// Leases are wall-clock facts (the sync takes them with the real time),
/// so "stuck" is judged by the real time even when the business clock is
/// pinned with `PORTAL_NOW`.
fn wall_now() -> DateTime<Utc> {
    Utc::now()
}

async fn tasks(state: &AppState) -> ApiResult {
    let now = wall_now();
    let states = state.store.all_task_states().await?;
    let mut names: Vec<String> = TASKS.iter().map(|s| s.to_string()).collect();
    names.extend(states.iter().map(|s| s.task.clone()));
    names.sort();
    names.dedup();
    let mut out = Vec::with_capacity(names.len());
    for task in names {
        let st = states.iter().find(|s| s.task == task);
        let lease = state.store.get_lease(&task).await?;
        let last: Vec<RunRecord> = state.store.recent_runs(&task, 1).await?;
        let lock = lease.map(|l| LockView {
            stuck: l.expires_at <= now,
            owner: l.owner,
            acquired_at: l.acquired_at,
            expires_at: l.expires_at,
        });
        out.push(TaskView {
            running: lock.as_ref().is_some_and(|l| !l.stuck),
            lock,
            watermark: st.and_then(|s| s.watermark),
            has_checkpoint: st.is_some_and(|s| s.checkpoint.is_some()),
            last_run: last.into_iter().next(),
            task,
        });
    }
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "data": out }),
    ))
}

async fn runs(state: &AppState, task: &str, pairs: &[(String, String)]) -> ApiResult {
    known_task(task)?;
    only_params(pairs, &["limit"])?;
    let limit = match pairs.iter().find(|(k, _)| k == "limit") {
        Some((_, v)) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| portal_core::reports::ParamError::new("limit", "expected 1..=100"))?,
        None => 20,
    };
    let runs: Vec<RunRecord> = state.store.recent_runs(task, limit).await?;
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "data": runs, "meta": { "limit": limit } }),
    ))
}

async fn run_now(state: &AppState, task: &str, pairs: &[(String, String)]) -> ApiResult {
    known_task(task)?;
    only_params(pairs, &["mode", "force"])?;
    // Lets a full CRM run through the mass-untrack guard.
    let force = match pairs.iter().find(|(k, _)| k == "force") {
        Some((_, v)) if v == "true" => true,
        Some((_, v)) if v == "false" => false,
        Some((_, v)) => {
            return Err(portal_core::reports::ParamError::new(
                "force",
                format!("expected true or false, got '{v}'"),
            )
            .into())
        }
        None => false,
    };
    let mode = match pairs.iter().find(|(k, _)| k == "mode") {
        Some((_, v)) => RunMode::parse(v).ok_or_else(|| {
            portal_core::reports::ParamError::new(
                "mode",
                format!("unknown mode '{v}' (expected full or incremental)"),
            )
        })?,
        None => RunMode::Incremental,
    };
    match state.runner.start_with(task, mode, force).await {
        Ok(how) => Ok(http::json(
            StatusCode::ACCEPTED,
            &serde_json::json!({ "task": task, "mode": mode.as_str(), "force": force, "status": how }),
        )),
        Err(RunnerError::NotConfigured) => Err(ApiError::Unavailable(
            RunnerError::NotConfigured.to_string(),
        )),
        Err(e) => Err(ApiError::Internal(e.to_string())),
    }
}

/// Clears the lock of a task. A lock still within its lease belongs to a
/// run that may be alive; it is only cleared with `?force=true`.
async fn reset(state: &AppState, task: &str, pairs: &[(String, String)]) -> ApiResult {
    known_task(task)?;
    only_params(pairs, &["force"])?;
    let force = pairs.iter().any(|(k, v)| k == "force" && v == "true");
    let Some(lease) = state.store.get_lease(task).await? else {
        return Ok(http::json(
            StatusCode::OK,
            &serde_json::json!({ "task": task, "reset": false, "reason": "not locked" }),
        ));
    };
    if lease.expires_at > wall_now() && !force {
        return Err(ApiError::Conflict(format!(
            "task {task} is running (lease held by {} until {}); add force=true to clear it anyway",
            lease.owner, lease.expires_at
        )));
    }
    let released = state.store.release_lease(&lease).await?;
    tracing::warn!(%task, owner = %lease.owner, "task lock reset by an admin");
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "task": task, "reset": released, "previous_owner": lease.owner }),
    ))
}

/// Token list without secrets (they are not stored).
async fn list_tokens(state: &AppState) -> ApiResult {
    let mut t = state.store.all_tokens().await?;
    t.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "data": t }),
    ))
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum NewToken {
    Admin {
        label: Option<String>,
        expires_at: Option<String>,
    },
    Pam {
        owner_email: String,
        label: Option<String>,
        expires_at: Option<String>,
    },
    PartnerLink {
        partner_id: String,
    },
}

/// Years an admin date may have: anything outside is a typo (`+99999`,
/// `0201`) that would sort, expire or export wrongly for ever.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=2200;

/// Longest free-text field (labels, notes, names): far above any real
/// label, far below DynamoDB's 400 KB item limit.
const MAX_TEXT: usize = 500;
/// Longest id (partner, course, user, group).
const MAX_ID: usize = 200;

fn opt_instant(field: &str, v: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    v.map(|s| instant(field, s)).transpose()
}

fn text_field(field: &str, v: &Option<String>, max: usize) -> Result<(), ApiError> {
    match v {
        Some(s) if s.chars().count() > max => Err(ApiError::BadRequest(format!(
            "'{field}': at most {max} characters"
        ))),
        _ => Ok(()),
    }
}

fn id_field(field: &str, v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() {
        return Err(ApiError::BadRequest(format!("'{field}' is required")));
    }
    text_field(field, &Some(v.to_string()), MAX_ID)
}

/// A plausible mailbox address: one `@`, a local part and a dotted domain
/// of letters, digits and hyphens, no spaces, within RFC 5321's lengths.
/// Not a full RFC 5322 parser: enough to catch `@`, `a@b` and pasted text.
pub fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
    e.len() <= 254 && local_ok && domain_ok
}

fn email_field(field: &str, v: &str) -> Result<String, ApiError> {
    let e = v.trim().to_lowercase();
    if valid_email(&e) {
        Ok(e)
    } else {
        Err(ApiError::BadRequest(format!(
            "'{field}': expected an e-mail address like name@example.com"
        )))
    }
}

/// A token's `expires_at`: in the future (a token born expired is a
/// mistake, not a wish).
fn token_expiry(v: Option<&str>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let e = opt_instant("expires_at", v)?;
    if e.is_some_and(|e| e <= now) {
        return Err(ApiError::BadRequest(
            "'expires_at': must be in the future".into(),
        ));
    }
    Ok(e)
}

fn link_key(state: &AppState) -> Result<&str, ApiError> {
    state.link_key.as_ref().map(|k| k.expose()).ok_or_else(|| {
        ApiError::Unavailable("partner links are not configured (PORTAL_LINK_KEY)".into())
    })
}

/// The live link of `partner_id` at version `from` or above, issued by
/// conditional writes when needed (`Store::ensure_partner_link`).
async fn live_link(
    state: &AppState,
    partner_id: &str,
    from: u32,
) -> Result<(u32, String), ApiError> {
    let key = link_key(state)?;
    let now = state.clock.now();
    let link_of = |v: u32| {
        (
            partner_link_token(key, partner_id, v),
            partner_link_record(partner_id, v, now),
        )
    };
    Ok(state
        .store
        .ensure_partner_link(partner_id, from, &link_of)
        .await?)
}

fn link_json(base: &str, partner_id: &str, version: u32, token: &str) -> serde_json::Value {
    serde_json::json!({
        "id": partner_link_id(partner_id, version),
        "kind": "partner_link",
        "scope": partner_id,
        "version": version,
        "token": token,
        "url": format!("{base}/p/{token}"),
    })
}

/// `POST /api/admin/tokens`: the plaintext token is in this answer only.
async fn create_token(state: &AppState, req: &Request) -> ApiResult {
    let body: NewToken = json_body(req)?;
    let now = state.clock.now();
    let base = http::base_url(state.public_base_url.as_deref(), req);
    let (grant, label, expires_at) = match body {
        NewToken::Admin { label, expires_at } => {
            text_field("label", &label, MAX_TEXT)?;
            (
                Grant::Admin,
                label,
                token_expiry(expires_at.as_deref(), now)?,
            )
        }
        NewToken::Pam {
            owner_email,
            label,
            expires_at,
        } => {
            text_field("label", &label, MAX_TEXT)?;
            let e = email_field("owner_email", &owner_email)?;
            // A PAM token always expires: without a date, after the
            // configured default, so a forgotten token does not work for
            // ever.
            let expires = token_expiry(expires_at.as_deref(), now)?
                .unwrap_or(now + Duration::days(i64::from(state.pam_token_days)));
            (Grant::Pam { owner_email: e }, label, Some(expires))
        }
        NewToken::PartnerLink { partner_id } => {
            id_field("partner_id", &partner_id)?;
            link_key(state)?;
            if state.store.get_partner(&partner_id).await?.is_none() {
                return Err(ApiError::BadRequest(format!(
                    "'partner_id': unknown partner '{partner_id}'"
                )));
            }
            // Re-issuing returns the current link (derivation is
            // deterministic); a partner without a live one gets the next
            // version above every revoked one.
            let tokens = state.store.all_tokens().await?;
            let from = current_link_version(&tokens, &partner_id)
                .unwrap_or_else(|| next_link_version(&tokens, &partner_id));
            let (version, token) = live_link(state, &partner_id, from).await?;
            return Ok(http::json(
                StatusCode::CREATED,
                &link_json(&base, &partner_id, version, &token),
            ));
        }
    };
    let (kind, scope) = grant.kind_and_scope();
    let token = generate_token();
    let rec = TokenRecord {
        id: generate_token_id(),
        kind,
        scope: scope.clone(),
        label,
        created_at: Some(now),
        expires_at,
        revoked_at: None,
    };
    state.store.put_token(&token, &rec).await?;
    tracing::info!(id = %rec.id, kind = ?kind, "token created");
    Ok(http::json(
        StatusCode::CREATED,
        &serde_json::json!({ "id": rec.id, "kind": kind, "scope": scope, "expires_at": expires_at, "token": token }),
    ))
}

/// `DELETE /api/admin/tokens/{id}`. Revoking a partner link tombstones its
/// record (it can never be stored again), issues the next version — or
/// returns the live one a concurrent push or revoke already issued — and
/// closes any other live link of the partner left from older data, so the
/// partner ends with exactly one live link, which the next CRM push
/// publishes.
async fn revoke_token(state: &AppState, req: &Request, id: &str) -> ApiResult {
    if let Some((partner_id, version)) = parse_partner_link_id(id) {
        let key = link_key(state)?;
        let now = state.clock.now();
        // By hash (strongly consistent) for the current key, and by id for
        // records stored under an earlier key.
        let direct = state
            .store
            .tombstone_token(&partner_link_token(key, &partner_id, version), now)
            .await?;
        let by_id = state.store.tombstone_token_id(id, now).await?;
        if !direct && by_id == 0 {
            return Err(ApiError::NotFound);
        }
        let (next, token) = live_link(state, &partner_id, version.saturating_add(1)).await?;
        let tokens = state.store.all_tokens().await?;
        for stale in stale_live_links(&tokens, &partner_id, next) {
            state.store.tombstone_token_id(&stale.id, now).await?;
        }
        let base = http::base_url(state.public_base_url.as_deref(), req);
        tracing::info!(%id, replacement = next, "partner link revoked");
        return Ok(http::json(
            StatusCode::OK,
            &serde_json::json!({
                "revoked": id,
                "replacement": link_json(&base, &partner_id, next, &token),
            }),
        ));
    }
    if !state.store.revoke_token(id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(%id, "token revoked");
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "revoked": id }),
    ))
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum NewAward {
    /// A personal completion recorded by hand.
    Award {
        partner_id: String,
        user_id: Option<String>,
        email: Option<String>,
        course_id: String,
        completed_at: String,
        expires_at: Option<String>,
        recorded_by: Option<String>,
        note: Option<String>,
    },
    /// A company-wide certification.
    Org {
        partner_id: String,
        name: String,
        category: Option<String>,
        npcu: u8,
        starts_at: String,
        ends_at: String,
    },
}

fn instant(field: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    let t = parse_instant(v).ok_or_else(|| {
        ApiError::BadRequest(format!("'{field}': not a date or RFC 3339 instant"))
    })?;
    if !YEARS.contains(&t.year()) {
        return Err(ApiError::BadRequest(format!(
            "'{field}': year {} is outside {}..={}",
            t.year(),
            YEARS.start(),
            YEARS.end()
        )));
    }
    Ok(t)
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", &generate_token()[..16])
}

/// `POST /api/admin/awards`, then the partner's summary is recomputed so
/// the dashboard and reports show it at once.
async fn award(state: &AppState, req: &Request) -> ApiResult {
    let body: NewAward = json_body(req)?;
    let partner_id = match &body {
        NewAward::Award { partner_id, .. } | NewAward::Org { partner_id, .. } => partner_id.clone(),
    };
    id_field("partner_id", &partner_id)?;
    match &body {
        NewAward::Award {
            user_id,
            email,
            course_id,
            recorded_by,
            note,
            ..
        } => {
            id_field("course_id", course_id)?;
            text_field("user_id", user_id, MAX_ID)?;
            text_field("recorded_by", recorded_by, MAX_TEXT)?;
            text_field("note", note, MAX_TEXT)?;
            if let Some(e) = email {
                email_field("email", e)?;
            }
        }
        NewAward::Org { name, category, .. } => {
            text_field("name", &Some(name.clone()), MAX_TEXT)?;
            text_field("category", category, MAX_TEXT)?;
        }
    }
    if state.store.get_partner(&partner_id).await?.is_none() {
        return Err(ApiError::BadRequest(format!(
            "'partner_id': unknown partner '{partner_id}'"
        )));
    }
    let created = match body {
        NewAward::Award {
            user_id,
            email,
            course_id,
            completed_at,
            expires_at,
            recorded_by,
            note,
            ..
        } => {
            if user_id.is_none() && email.is_none() {
                return Err(ApiError::BadRequest(
                    "'user_id' or 'email' is required".into(),
                ));
            }
            if state.store.get_course(&course_id).await?.is_none() {
                return Err(ApiError::BadRequest(format!(
                    "'course_id': unknown course '{course_id}'"
                )));
            }
            let completed_at = instant("completed_at", &completed_at)?;
            let expires_at = opt_instant("expires_at", expires_at.as_deref())?;
            if expires_at.is_some_and(|e| e <= completed_at) {
                return Err(ApiError::BadRequest(
                    "'expires_at' must be after 'completed_at'".into(),
                ));
            }
            let a = ManualAward {
                id: new_id("award"),
                user_id,
                email: email.map(|e| e.trim().to_lowercase()),
                course_id,
                completed_at,
                expires_at,
                recorded_by,
                note,
            };
            state.store.put(entities::award_item(&a)?).await?;
            serde_json::to_value(&a).map_err(|e| ApiError::Internal(e.to_string()))?
        }
        NewAward::Org {
            name,
            category,
            npcu,
            starts_at,
            ends_at,
            ..
        } => {
            let (starts_at, ends_at) = (
                instant("starts_at", &starts_at)?,
                instant("ends_at", &ends_at)?,
            );
            if ends_at <= starts_at {
                return Err(ApiError::BadRequest(
                    "'ends_at' must be after 'starts_at'".into(),
                ));
            }
            if name.trim().is_empty() {
                return Err(ApiError::BadRequest("'name' is required".into()));
            }
            let o = OrgCertification {
                id: new_id("org"),
                partner_id: partner_id.clone(),
                name,
                category,
                npcu,
                starts_at,
                ends_at,
            };
            state.store.put(entities::org_cert_item(&o)?).await?;
            serde_json::to_value(&o).map_err(|e| ApiError::Internal(e.to_string()))?
        }
    };
    let summary = recompute_partner(state, &partner_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let view = summary.view(state.clock.now(), state.warning_days, &state.tiers);
    Ok(http::json(
        StatusCode::CREATED,
        &serde_json::json!({ "created": created, "partner": { "partner_id": partner_id, "npcu": view.npcu, "required_npcu": view.required_npcu, "meets_requirement": view.meets_requirement } }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pin {
    group_id: String,
}

/// `PUT /api/admin/partners/{id}/group`: a pinned link wins over automatic
/// matching (the sync keeps `group_pinned` partners as they are).
async fn pin_group(state: &AppState, req: &Request, id: &str) -> ApiResult {
    let body: Pin = json_body(req)?;
    id_field("group_id", &body.group_id)?;
    let Some(mut partner) = state.store.get_partner(id).await? else {
        return Err(ApiError::NotFound);
    };
    let group: Option<LmsGroup> = state
        .store
        .get_as(&keys::group_pk(&body.group_id), keys::PROFILE)
        .await?;
    let Some(group) = group else {
        return Err(ApiError::BadRequest(format!(
            "'group_id': unknown LMS group '{}'",
            body.group_id
        )));
    };
    partner.lms_group_id = Some(group.id.clone());
    partner.group_pinned = true;
    state.store.put(entities::partner_item(&partner)?).await?;
    let summary = recompute_partner(state, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let view = summary.view(state.clock.now(), state.warning_days, &state.tiers);
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "partner_id": id, "lms_group_id": group.id, "lms_group_name": group.name, "group_pinned": true, "npcu": view.npcu }),
    ))
}

/// The partner's numbers after a change, recomputed at once.
async fn recomputed(state: &AppState, partner_id: &str) -> Result<serde_json::Value, ApiError> {
    let summary = recompute_partner(state, partner_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let view = summary.view(state.clock.now(), state.warning_days, &state.tiers);
    Ok(
        serde_json::json!({ "partner_id": partner_id, "npcu": view.npcu, "required_npcu": view.required_npcu, "meets_requirement": view.meets_requirement }),
    )
}

/// `DELETE /api/admin/partners/{id}/group`: the pin is lifted; the group
/// stays linked until the next sync's automatic matching decides.
async fn unpin_group(state: &AppState, id: &str) -> ApiResult {
    let Some(mut partner) = state.store.get_partner(id).await? else {
        return Err(ApiError::NotFound);
    };
    let was_pinned = partner.group_pinned;
    if was_pinned {
        partner.group_pinned = false;
        state.store.put(entities::partner_item(&partner)?).await?;
        tracing::info!(partner = %id, "group pin cleared");
    }
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "partner_id": id, "lms_group_id": partner.lms_group_id, "group_pinned": false, "was_pinned": was_pinned }),
    ))
}

/// `DELETE /api/admin/partners/{id}/awards/{award}`: removes a manual
/// award and recomputes the partner it was given through (awards belong to
/// a person, not a partner; other partners of the same person follow at
/// the next sync, as for an award added).
async fn remove_award(state: &AppState, partner_id: &str, award_id: &str) -> ApiResult {
    id_field("award", award_id)?;
    if state.store.get_partner(partner_id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    if !state
        .store
        .delete(&keys::award_pk(award_id), keys::PROFILE)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    tracing::info!(partner = %partner_id, award = %award_id, "manual award removed");
    let partner = recomputed(state, partner_id).await?;
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "removed": award_id, "partner": partner }),
    ))
}

/// `DELETE /api/admin/partners/{id}/org-certs/{org}`.
async fn remove_org_cert(state: &AppState, partner_id: &str, org_id: &str) -> ApiResult {
    id_field("org", org_id)?;
    if !state
        .store
        .delete(&keys::partner_pk(partner_id), &keys::orgcert_sk(org_id))
        .await?
    {
        return Err(ApiError::NotFound);
    }
    tracing::info!(partner = %partner_id, org = %org_id, "organisation certification removed");
    let partner = recomputed(state, partner_id).await?;
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "removed": org_id, "partner": partner }),
    ))
}
