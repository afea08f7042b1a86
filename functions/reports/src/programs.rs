//! Admin routes of certification programs (issue 16): definitions
//! (`/api/admin/certifications`) and manual statuses (`/api/admin/status`).
//! The rules are `portal_core::rules::programs`; the items
//! `portal_core::store::programs`.
//!
//! A definition change applies at each partner's next recompute (every
//! sync run recomputes the partners it touched; the nightly full run all of
//! them), because recomputing every partner inside an API call would not
//! fit its time. A manual status change recomputes the person's partners at
//! once.

use std::collections::BTreeSet;

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::Request;
use portal_core::access::generate_token;
use portal_core::model::{
    CertDefinition, CertStatus, Contact, LmsUser, Require, StatusChange,
    DEFAULT_RECERT_DAYS_BEFORE, DEFAULT_VALIDITY_MONTHS,
};
use portal_core::rules::programs::check_definition;
use portal_core::store::programs::settable;
use portal_core::store::{keys, ItemKey};
use serde::Deserialize;

use crate::http::{self, json_body, ApiError, ApiResult};
use crate::refresh::recompute_partner;
use crate::AppState;

/// Longest note or name.
const MAX_TEXT: usize = 500;

fn default_validity() -> u32 {
    DEFAULT_VALIDITY_MONTHS
}

fn default_recert_days() -> u32 {
    DEFAULT_RECERT_DAYS_BEFORE
}

/// The body of `POST` / `PUT /api/admin/certifications[/{id}]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefinitionBody {
    name: String,
    courses: Vec<String>,
    #[serde(default)]
    require: Require,
    #[serde(default = "default_validity")]
    validity_months: u32,
    #[serde(default)]
    npcu: u8,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    recert_course_id: Option<String>,
    #[serde(default)]
    recert_group_id: Option<String>,
    #[serde(default = "default_recert_days")]
    recert_days_before: u32,
    #[serde(default)]
    requires_approval: bool,
    #[serde(default)]
    updated_by: Option<String>,
}

fn too_long(field: &str, v: Option<&str>) -> Result<(), ApiError> {
    match v {
        Some(s) if s.chars().count() > MAX_TEXT => Err(ApiError::BadRequest(format!(
            "'{field}': at most {MAX_TEXT} characters"
        ))),
        _ => Ok(()),
    }
}

/// Checks the body and the courses it names; the definition to store.
async fn definition(
    state: &AppState,
    id: String,
    b: DefinitionBody,
) -> Result<CertDefinition, ApiError> {
    too_long("name", Some(&b.name))?;
    too_long("category", b.category.as_deref())?;
    too_long("updated_by", b.updated_by.as_deref())?;
    let d = CertDefinition {
        id,
        name: b.name.trim().to_string(),
        courses: b.courses.iter().map(|c| c.trim().to_string()).collect(),
        require: b.require,
        validity_months: b.validity_months,
        npcu: b.npcu,
        category: b
            .category
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()),
        recert_course_id: b
            .recert_course_id
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()),
        recert_group_id: b
            .recert_group_id
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty()),
        recert_days_before: b.recert_days_before,
        requires_approval: b.requires_approval,
        updated_at: Some(state.clock.now()),
        updated_by: b.updated_by,
    };
    check_definition(&d).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    for (field, c) in d
        .courses
        .iter()
        .map(|c| ("courses", c))
        .chain(d.recert_course_id.iter().map(|c| ("recert_course_id", c)))
    {
        if state.store.get_course(c).await?.is_none() {
            return Err(ApiError::BadRequest(format!(
                "'{field}': unknown course '{c}'"
            )));
        }
    }
    Ok(d)
}

fn json_value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /api/admin/certifications`.
pub async fn list(state: &AppState) -> ApiResult {
    let mut defs = state.store.all_definitions().await?;
    defs.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then(a.id.cmp(&b.id))
    });
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "data": defs }),
    ))
}

/// `GET /api/admin/certifications/{id}`.
pub async fn get(state: &AppState, id: &str) -> ApiResult {
    let d = state
        .store
        .get_definition(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(http::json(StatusCode::OK, &d))
}

const APPLIES: &str =
    "at each partner's next recompute (the next sync run; every partner at the nightly full run)";

/// `POST /api/admin/certifications`.
pub async fn create(state: &AppState, req: &Request) -> ApiResult {
    let body: DefinitionBody = json_body(req)?;
    let id = format!("cert-{}", &generate_token()[..16]);
    let d = definition(state, id, body).await?;
    state.store.put_definition(&d).await?;
    tracing::info!(certification = %d.id, "certification defined");
    Ok(http::json(
        StatusCode::CREATED,
        &serde_json::json!({ "created": json_value(&d)?, "applies": APPLIES }),
    ))
}

/// `PUT /api/admin/certifications/{id}`: replaces the definition.
pub async fn replace(state: &AppState, req: &Request, id: &str) -> ApiResult {
    let body: DefinitionBody = json_body(req)?;
    if state.store.get_definition(id).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let d = definition(state, id.to_string(), body).await?;
    state.store.put_definition(&d).await?;
    tracing::info!(certification = %d.id, "certification changed");
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "updated": json_value(&d)?, "applies": APPLIES }),
    ))
}

/// `DELETE /api/admin/certifications/{id}`: its courses count on their own
/// again from the next recompute; manual statuses on it are kept.
pub async fn remove(state: &AppState, id: &str) -> ApiResult {
    if !state.store.delete_definition(id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(certification = %id, "certification removed");
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "removed": id, "applies": APPLIES }),
    ))
}

/// The body of `PUT /api/admin/status`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    certification: String,
    /// `null` clears it.
    status: Option<String>,
    #[serde(default)]
    note: Option<String>,
    /// Who sets it (name or e-mail), for the history.
    #[serde(default)]
    by: Option<String>,
}

/// The LMS user a status body names.
async fn person(state: &AppState, b: &StatusBody) -> Result<LmsUser, ApiError> {
    match (&b.user_id, &b.email) {
        (Some(id), _) => state
            .store
            .get_user(id.trim())
            .await?
            .ok_or_else(|| ApiError::BadRequest(format!("'user_id': unknown LMS user '{id}'"))),
        (None, Some(email)) => {
            for link in state.store.lookup_email(email).await? {
                if let Some(id) = link.user_id {
                    if let Some(u) = state.store.get_user(&id).await? {
                        return Ok(u);
                    }
                }
            }
            Err(ApiError::BadRequest(format!(
                "'email': no LMS user with e-mail '{email}'"
            )))
        }
        (None, None) => Err(ApiError::BadRequest(
            "'user_id' or 'email' is required".into(),
        )),
    }
}

/// The tracked partners `user` belongs to (by group or by an active
/// contact with the same e-mail), as the staff person page finds them.
async fn partners_of(state: &AppState, user: &LmsUser) -> Result<Vec<String>, ApiError> {
    let store = &state.store;
    let (partners, links) =
        futures::try_join!(store.all_partners(), store.lookup_email(&user.email))?;
    let grouped: Vec<(&str, ItemKey)> = partners
        .iter()
        .filter(|p| p.tracked)
        .filter_map(|p| {
            let g = p.lms_group_id.as_deref()?;
            Some((
                p.id.as_str(),
                ItemKey::new(keys::group_pk(g), keys::member_sk(&user.id)),
            ))
        })
        .collect();
    let member_keys: Vec<ItemKey> = grouped.iter().map(|(_, k)| k.clone()).collect();
    let (found, _) = store.stored_hashes(&member_keys).await?;
    let mut out: BTreeSet<String> = grouped
        .iter()
        .filter(|(_, k)| found.contains_key(k))
        .map(|(p, _)| p.to_string())
        .collect();
    let contacts: Vec<Contact> = store.contacts_of(&links).await?;
    let tracked: BTreeSet<&str> = partners
        .iter()
        .filter(|p| p.tracked)
        .map(|p| p.id.as_str())
        .collect();
    out.extend(
        contacts
            .iter()
            .filter(|c| c.active)
            .filter_map(|c| c.account_id.clone())
            .filter(|a| tracked.contains(a.as_str())),
    );
    Ok(out.into_iter().collect())
}

/// `PUT /api/admin/status`: sets or (with `"status": null`) clears the
/// manual status of a person's certification, then recomputes the
/// person's partners so their numbers change at once.
pub async fn set_status(state: &AppState, req: &Request) -> ApiResult {
    let b: StatusBody = json_body(req)?;
    too_long("note", b.note.as_deref())?;
    too_long("by", b.by.as_deref())?;
    let certification = b.certification.trim().to_string();
    if certification.is_empty() || certification.contains('#') {
        return Err(ApiError::BadRequest(
            "'certification' is required (a certification definition id or a course id)".into(),
        ));
    }
    let status: Option<CertStatus> = match b.status.as_deref() {
        None => None,
        Some(s) => {
            let st: CertStatus = s.parse().map_err(|_| {
                ApiError::BadRequest(format!(
                    "'status': unknown status '{s}' (one of {}, or null to clear)",
                    CertStatus::MANUAL.map(CertStatus::as_str).join(", ")
                ))
            })?;
            if !settable(st) {
                return Err(ApiError::BadRequest(format!(
                    "'status': '{s}' comes from the data and cannot be set (one of {}, or null to clear)",
                    CertStatus::MANUAL.map(CertStatus::as_str).join(", ")
                )));
            }
            Some(st)
        }
    };
    let user = person(state, &b).await?;
    let known = state.store.get_definition(&certification).await?.is_some()
        || state
            .store
            .get_course(&certification)
            .await?
            .is_some_and(|c| c.npcu > 0);
    if !known {
        return Err(ApiError::BadRequest(format!(
            "'certification': '{certification}' is neither a certification definition nor a course with NPCU"
        )));
    }
    let change = StatusChange {
        status,
        note: b
            .note
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        by: b.by.or_else(|| Some("admin".into())),
        at: Some(Utc::now()),
    };
    let saved = state
        .store
        .set_manual_status(&user.id, &certification, change)
        .await?;
    tracing::info!(user = %user.id, certification = %certification, status = ?status, "manual status set");
    let mut partners = Vec::new();
    for p in partners_of(state, &user).await? {
        if let Some(s) = recompute_partner(state, &p).await? {
            let v = s.view(state.clock.now(), state.warning_days, &state.tiers);
            partners.push(serde_json::json!({ "partner_id": p, "npcu": v.npcu, "required_npcu": v.required_npcu, "meets_requirement": v.meets_requirement }));
        }
    }
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "status": json_value(&saved)?, "partners": partners }),
    ))
}

/// `GET /api/admin/status?user_id=&certification=`: the status and its
/// history.
pub async fn get_status(state: &AppState, pairs: &[(String, String)]) -> ApiResult {
    let param = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (Some(user), Some(cert)) = (param("user_id"), param("certification")) else {
        return Err(ApiError::BadRequest(
            "'user_id' and 'certification' are required".into(),
        ));
    };
    let m = state
        .store
        .get_manual_status(user, cert)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(http::json(StatusCode::OK, &m))
}
