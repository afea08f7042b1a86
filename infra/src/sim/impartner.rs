//! The Impartner PRM simulator: `GET/PATCH /api/objects/v1/{Object}`.
//!
//! Choices where SOURCES.md is silent (OData-like behaviour):
//! - `take` defaults to 100; `take` > 500 is clamped to 500 (so a client
//!   that advances `skip` by the `take` it asked for, not by what it got,
//!   misses records — as it would in production). Non-integer or negative
//!   `take`/`skip` → 400.
//! - Records come in ascending `Id` order (stable across pages).
//! - `fields=` selects fields in the order given; `Id` is always included.
//!   Without `fields` every stored field is returned. Field names are
//!   case-sensitive; an unknown name → HTTP 400 `{"success": false,
//!   "message"}` (also for a bad `filter`). A known field the record does
//!   not carry (e.g. a write-back field never pushed) is `null`.
//! - `count` is the number of records matching the filter, before paging.
//! - PATCH: HTTP 200 whenever the batch itself is valid (a JSON array of
//!   1..=50 objects); each record succeeds or fails on its own (unknown Id,
//!   missing Id, unknown or read-only field). A successful record bumps
//!   `Updated`, like any CRM write. More than 50 → 400.
//! - `Id` in a PATCH may be a number or a numeric string; results echo it
//!   as a number when it parses.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::faults::{api_layer, Ctx};
use super::filter;
use super::mutation::record_id;
use super::state::Shared;
use super::{control, Server};
use crate::datagen::{dates, PrmRecord};

pub(crate) const MAX_TAKE: usize = 500;
pub(crate) const DEFAULT_TAKE: usize = 100;
pub(crate) const MAX_PATCH: usize = 50;

pub(crate) const ACCOUNT_FIELDS: &[&str] = &[
    "Id",
    "Name",
    "Partner_Tier__cf",
    "Account_Status__cf",
    "Account_Owner__cf",
    "Account_Owner_Email__cf",
    "Partner_Type__cf",
    "Website",
    "CrmId",
    "MailingCountry",
    "Region",
    "Created",
    "Updated",
    // write-back (push of certification results)
    "Total_NPCU__cf",
    "Certification_Count__cf",
    "LMS_Group_Name__cf",
    "LMS_Training_Dashboard__cf",
];

pub(crate) const USER_FIELDS: &[&str] = &[
    "Id",
    "Email",
    "FirstName",
    "LastName",
    "Title",
    "Phone",
    "AccountId",
    "AccountName",
    "IsActive",
    "Created",
    "Updated",
];

/// Fields a PATCH may not set: the system owns them.
const READ_ONLY: &[&str] = &["Id", "Created", "Updated"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Object {
    Account,
    User,
}

impl Object {
    fn known(self, field: &str) -> bool {
        match self {
            Object::Account => ACCOUNT_FIELDS.contains(&field) || is_category_field(field),
            Object::User => USER_FIELDS.contains(&field),
        }
    }
}

/// `<Category>_Certifications__cf`, one per product category; the category
/// list is the portal's configuration, so any `[A-Za-z0-9_]+` prefix is
/// accepted (e.g. `Automation_Cloud_Certifications__cf`).
fn is_category_field(f: &str) -> bool {
    f.strip_suffix("_Certifications__cf")
        .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let ctx = Ctx {
        shared: shared.clone(),
        server: Server::Impartner,
    };
    Router::new()
        .route(
            "/api/objects/v1/Account",
            get(list_accounts).patch(patch_accounts),
        )
        .route("/api/objects/v1/User", get(list_users))
        .route(
            "/api/objects/v1/{object}",
            get(unknown_object).patch(unknown_object),
        )
        .route_layer(from_fn_with_state(ctx.clone(), api_layer))
        .with_state(ctx)
        .merge(control::router(shared, Server::Impartner))
        .fallback(|| async { failure(StatusCode::NOT_FOUND, "Resource not found") })
}

/// `{"success": false, "message": ..}` with an HTTP status.
pub(crate) fn failure(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"success": false, "message": message}))).into_response()
}

async fn unknown_object(Path(object): Path<String>) -> Response {
    failure(
        StatusCode::NOT_FOUND,
        &format!("Object type '{object}' not found"),
    )
}

async fn list_accounts(State(ctx): State<Ctx>, Query(q): Query<Vec<(String, String)>>) -> Response {
    list(&ctx, Object::Account, q)
}

async fn list_users(State(ctx): State<Ctx>, Query(q): Query<Vec<(String, String)>>) -> Response {
    list(&ctx, Object::User, q)
}

fn list(ctx: &Ctx, object: Object, q: Vec<(String, String)>) -> Response {
    let mut take = DEFAULT_TAKE;
    let mut skip = 0usize;
    let mut fields: Option<Vec<String>> = None;
    let mut expr = None;
    for (k, v) in &q {
        match k.as_str() {
            "take" => match v.parse::<usize>() {
                Ok(t) => take = t.min(MAX_TAKE),
                Err(_) => {
                    return failure(
                        StatusCode::BAD_REQUEST,
                        "take must be a non-negative integer",
                    )
                }
            },
            "skip" => match v.parse::<usize>() {
                Ok(s) => skip = s,
                Err(_) => {
                    return failure(
                        StatusCode::BAD_REQUEST,
                        "skip must be a non-negative integer",
                    )
                }
            },
            "fields" => {
                let mut list = vec!["Id".to_string()];
                for f in v.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if !object.known(f) {
                        return failure(StatusCode::BAD_REQUEST, &format!("Invalid field '{f}'"));
                    }
                    if !list.iter().any(|x| x == f) {
                        list.push(f.to_string());
                    }
                }
                fields = Some(list);
            }
            "filter" if !v.trim().is_empty() => match filter::parse(v, |f| object.known(f)) {
                Ok(e) => expr = Some(e),
                Err(m) => return failure(StatusCode::BAD_REQUEST, &format!("Invalid filter: {m}")),
            },
            _ => {}
        }
    }
    let w = ctx.shared.world();
    let records = match object {
        Object::Account => &w.data.accounts,
        Object::User => &w.data.users,
    };
    let mut hits: Vec<&PrmRecord> = records
        .iter()
        .filter(|r| expr.as_ref().is_none_or(|e| filter::matches(e, r)))
        .collect();
    hits.sort_by_key(|r| record_id(r).unwrap_or(i64::MAX));
    let count = hits.len();
    let results: Vec<Value> = hits
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|r| match &fields {
            None => Value::Object(r.clone()),
            Some(fs) => {
                let mut out = Map::new();
                for f in fs {
                    out.insert(f.clone(), r.get(f).cloned().unwrap_or(Value::Null));
                }
                Value::Object(out)
            }
        })
        .collect();
    Json(json!({"success": true, "data": {"count": count, "results": results}})).into_response()
}

async fn patch_accounts(State(ctx): State<Ctx>, body: axum::body::Bytes) -> Response {
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&body) else {
        return failure(
            StatusCode::BAD_REQUEST,
            "Body must be a JSON array of records",
        );
    };
    if items.is_empty() || items.len() > MAX_PATCH {
        return failure(
            StatusCode::BAD_REQUEST,
            &format!(
                "A batch holds 1 to {MAX_PATCH} records, got {}",
                items.len()
            ),
        );
    }
    let mut w = ctx.shared.world();
    let stamp = dates::fmt_z(w.now());
    let results: Vec<Value> = items
        .iter()
        .map(|item| {
            let (id_echo, outcome) = patch_one(&mut w.data.accounts, item, &stamp);
            match outcome {
                Ok(()) => json!({"id": id_echo, "success": true, "message": null}),
                Err(m) => json!({"id": id_echo, "success": false, "message": m}),
            }
        })
        .collect();
    Json(json!({"success": true, "data": {"results": results}})).into_response()
}

fn patch_one(accounts: &mut [PrmRecord], item: &Value, stamp: &str) -> (Value, Result<(), String>) {
    let Some(obj) = item.as_object() else {
        return (Value::Null, Err("Record must be a JSON object".into()));
    };
    let raw_id = obj.get("Id").cloned().unwrap_or(Value::Null);
    let id = match &raw_id {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let Some(id) = id else {
        return (raw_id, Err("Id is required".into()));
    };
    let echo = json!(id);
    for k in obj.keys().filter(|k| k.as_str() != "Id") {
        if !Object::Account.known(k) {
            return (echo, Err(format!("Invalid field '{k}'")));
        }
        if READ_ONLY.contains(&k.as_str()) {
            return (echo, Err(format!("Field '{k}' is read-only")));
        }
    }
    let Some(rec) = accounts.iter_mut().find(|a| record_id(a) == Some(id)) else {
        return (echo, Err(format!("Account with Id {id} not found")));
    };
    for (k, v) in obj.iter().filter(|(k, _)| k.as_str() != "Id") {
        rec.insert(k.clone(), v.clone());
    }
    rec.insert("Updated".into(), json!(stamp));
    (echo, Ok(()))
}
