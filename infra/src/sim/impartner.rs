//! The Impartner PRM simulator: `GET/PATCH /api/objects/v1/{Object}`.
//!
//! Choices where docs/source-contract.md is silent (OData-like behaviour):
//! - `take` defaults to 100; `take` > 500 is clamped to 500 (so a client
//!   that advances `skip` by the `take` it asked for, not by what it got,
//!   misses records — as it would in production). Non-integer or negative
//!   `take`/`skip` → 400.
//! - Records come in ascending `Id` order (stable across pages).
//! - `fields=` selects fields in the order given; `Id` is always included.
//!   Without `fields` every stored field is returned. Request field names
//!   are PascalCase as in the schema (first letter of either case is
//!   accepted); a name the tenant does not have (including the ones
//!   `ServerOptions::missing_fields` takes away) → HTTP 400 `{"success":
//!   false, "message", "errors": [..]}` (also for a bad `filter`). A known
//!   field the record does not carry (e.g. a write-back field never
//!   pushed) is `null`.
//! - Record keys are served camelCase (`id`, `partner_Tier__cf`, `crmId`),
//!   as production does; `ServerOptions::pascal_case` serves the schema's
//!   PascalCase instead.
//! - `Account.Region` is an object reference (`{"id", "name"}`), the name
//!   also reachable through `RegionId` and `GET /api/objects/v1/Region`.
//!   The data set keeps the region's name; its id comes from [`region_id`].
//! - `orderby=<field>` is accepted (records come in ascending `Id` order
//!   whatever it says: the only order the client asks for).
//! - `count` is the number of records matching the filter, before paging.
//! - A wrong key answers 401, or with `ServerOptions::auth_redirect` a 302
//!   to the login page, as the real tenant may.
//! - PATCH answers a ModifyManyResult, HTTP 200 whenever the batch itself
//!   is valid (a JSON array of 1..=50 objects): `{"success": <all records
//!   succeeded>, "message", "errors", "results": [{"success", "errors":
//!   [{"code","message"}], "data": {"id"}}]}`, one per record in request
//!   order. A record fails on its own for an unknown or missing Id or a
//!   field the tenant does not have or that is read-only. A successful
//!   record bumps `Updated`, like any CRM write. More than 50 → 400.
//! - `Id` in a PATCH may be a number or a numeric string; results echo it
//!   as a number when it parses.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::errors::impartner as failure;
use super::filter;
use super::middleware::{api_layer, Ctx};
use super::mutation::record_id;
use super::state::Shared;
use super::{control, Server, ServerOptions};
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
    "RegionId",
    "ParentAccountId",
    "PrimaryUserId",
    "Created",
    "Updated",
    // write-back (push of certification results): the tenant's own
    // custom fields; there is no `Certification_Count__cf`.
    "Total_NPCU__cf",
    "Nintex_CE_Certifications__cf",
    "Nintex_K2_Certifications__cf",
    "Nintex_for_Salesforce_Certifications__cf",
    "Nintex_GTM_Certifications__cf",
    "LMS_Account_ID__cf",
    "LMS_Group_Name__cf",
    "LMS_Training_Dashboard__cf",
];

pub(crate) const REGION_FIELDS: &[&str] = &["Id", "Name"];

/// Regions of the tenant. Names the data set uses beyond these get ids
/// from 100 up, in name order (see [`region_id`]).
const REGIONS: &[(i64, &str)] = &[(1, "AMER"), (2, "EMEA"), (3, "APJ")];

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
    "Contact_Status__cf",
    "Created",
    "Updated",
];

/// Fields a PATCH may not set: the system owns them.
const READ_ONLY: &[&str] = &[
    "Id",
    "Created",
    "Updated",
    "Region",
    "ParentAccountId",
    "PrimaryUserId",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Object {
    Account,
    User,
    Region,
}

impl Object {
    fn name(self) -> &'static str {
        match self {
            Object::Account => "Account",
            Object::User => "User",
            Object::Region => "Region",
        }
    }

    /// The schema's spelling of `field` if this tenant has it (the first
    /// letter may come in either case).
    fn known(self, field: &str, opts: &ServerOptions) -> Option<&'static str> {
        let list = match self {
            Object::Account => ACCOUNT_FIELDS,
            Object::User => USER_FIELDS,
            Object::Region => REGION_FIELDS,
        };
        let f = pascal(field);
        list.iter()
            .find(|k| **k == f)
            .copied()
            .filter(|k| !opts.missing_fields.iter().any(|m| m == k))
    }
}

/// First letter upper-cased: the schema's spelling of a camelCase key.
fn pascal(k: &str) -> String {
    let mut c = k.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// First letter lower-cased: production's spelling of a schema key.
fn camel(k: &str) -> String {
    let mut c = k.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The id of a region name (see [`REGIONS`]).
pub(crate) fn region_id(name: &str, all_names: &[String]) -> i64 {
    if let Some((id, _)) = REGIONS.iter().find(|(_, n)| *n == name) {
        return *id;
    }
    let mut extra: Vec<&String> = all_names
        .iter()
        .filter(|n| !REGIONS.iter().any(|(_, r)| r == n))
        .collect();
    extra.sort();
    extra.dedup();
    100 + extra.iter().position(|n| *n == name).unwrap_or(0) as i64
}

fn region_names(accounts: &[PrmRecord]) -> Vec<String> {
    accounts
        .iter()
        .filter_map(|a| a.get("Region").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// The Region table: the fixed ones plus any other name the accounts use.
fn region_records(accounts: &[PrmRecord]) -> Vec<PrmRecord> {
    let names = region_names(accounts);
    let mut out: Vec<(i64, String)> = REGIONS.iter().map(|(i, n)| (*i, n.to_string())).collect();
    for n in &names {
        let id = region_id(n, &names);
        if !out.iter().any(|(i, _)| *i == id) {
            out.push((id, n.clone()));
        }
    }
    out.sort();
    out.into_iter()
        .map(|(id, name)| {
            let mut m = Map::new();
            m.insert("Id".into(), json!(id));
            m.insert("Name".into(), json!(name));
            m
        })
        .collect()
}

/// An account as the API shows it: the data set's region name becomes the
/// `Region` reference and `RegionId`.
fn served_account(r: &PrmRecord, names: &[String]) -> PrmRecord {
    let mut out = r.clone();
    match r.get("Region").and_then(Value::as_str) {
        Some(n) => {
            let id = region_id(n, names);
            out.insert("Region".into(), json!({"id": id, "name": n}));
            out.insert("RegionId".into(), json!(id));
        }
        None => {
            out.insert("Region".into(), Value::Null);
            out.insert("RegionId".into(), Value::Null);
        }
    }
    out
}

fn options(ctx: &Ctx) -> ServerOptions {
    ctx.shared
        .server(Server::Impartner)
        .faults
        .lock()
        .expect("faults lock")
        .options()
        .clone()
}

/// Keys in the case this server serves.
fn cased(m: Map<String, Value>, pascal_case: bool) -> Value {
    if pascal_case {
        return Value::Object(m);
    }
    Value::Object(m.into_iter().map(|(k, v)| (camel(&k), v)).collect())
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
        .route("/api/objects/v1/Region", get(list_regions))
        .route(
            "/api/objects/v1/{object}",
            get(unknown_object).patch(unknown_object),
        )
        .route_layer(from_fn_with_state(ctx.clone(), api_layer))
        .layer(from_fn_with_state(ctx.clone(), login_redirect))
        .with_state(ctx)
        .merge(control::router(shared, Server::Impartner))
        .fallback(|| async { failure(StatusCode::NOT_FOUND, "Resource not found") })
}

/// With `auth_redirect`, a refused key is sent to the login page (302)
/// instead of answered 401, as a real tenant may do.
async fn login_redirect(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::UNAUTHORIZED && options(&ctx).auth_redirect {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, "/login?ReturnUrl=%2Fapi")],
            "",
        )
            .into_response();
    }
    resp
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

async fn list_regions(State(ctx): State<Ctx>, Query(q): Query<Vec<(String, String)>>) -> Response {
    list(&ctx, Object::Region, q)
}

fn list(ctx: &Ctx, object: Object, q: Vec<(String, String)>) -> Response {
    let opts = options(ctx);
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
                    let Some(f) = object.known(f, &opts) else {
                        return failure(StatusCode::BAD_REQUEST, &format!("Invalid field '{f}'"));
                    };
                    if !list.iter().any(|x| x == f) {
                        list.push(f.to_string());
                    }
                }
                fields = Some(list);
            }
            "orderby" => {
                let f = v.split_whitespace().next().unwrap_or("");
                if object.known(f, &opts).is_none() {
                    return failure(
                        StatusCode::BAD_REQUEST,
                        &format!("Invalid orderby field '{f}'"),
                    );
                }
            }
            "filter" if !v.trim().is_empty() => match filter::parse(v, |f| {
                object.known(f, &opts).is_some()
            }) {
                Ok(e) => expr = Some(e),
                Err(m) => return failure(StatusCode::BAD_REQUEST, &format!("Invalid filter: {m}")),
            },
            _ => {}
        }
    }
    let w = ctx.shared.world();
    let names = region_names(&w.data.accounts);
    let records: Vec<PrmRecord> = match object {
        Object::Account => w
            .data
            .accounts
            .iter()
            .map(|a| served_account(a, &names))
            .collect(),
        Object::User => w.data.users.clone(),
        Object::Region => region_records(&w.data.accounts),
    };
    drop(w);
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
            None => cased(r.clone(), opts.pascal_case),
            Some(fs) => {
                let mut out = Map::new();
                for f in fs {
                    out.insert(f.clone(), r.get(f).cloned().unwrap_or(Value::Null));
                }
                cased(out, opts.pascal_case)
            }
        })
        .collect();
    Json(json!({
        "success": true,
        "message": null,
        "errors": [],
        "data": {"count": count, "entity": object.name(), "results": results},
    }))
    .into_response()
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
    let opts = options(&ctx);
    let mut w = ctx.shared.world();
    let stamp = dates::fmt_z(w.now());
    let mut all_ok = true;
    let results: Vec<Value> = items
        .iter()
        .map(|item| {
            let (id_echo, outcome) = patch_one(&mut w.data.accounts, item, &stamp, &opts);
            let id_key = if opts.pascal_case { "Id" } else { "id" };
            match outcome {
                Ok(()) => json!({"success": true, "errors": [], "data": {id_key: id_echo}}),
                Err(m) => {
                    all_ok = false;
                    json!({"success": false, "errors": [{"code": "400", "message": m}],
                        "data": {id_key: id_echo}})
                }
            }
        })
        .collect();
    let failed = results.iter().filter(|r| r["success"] == false).count();
    let message = (!all_ok).then(|| format!("{failed} of {} records failed", results.len()));
    Json(json!({"success": all_ok, "message": message, "errors": [], "results": results}))
        .into_response()
}

fn patch_one(
    accounts: &mut [PrmRecord],
    item: &Value,
    stamp: &str,
    opts: &ServerOptions,
) -> (Value, Result<(), String>) {
    let Some(obj) = item.as_object() else {
        return (Value::Null, Err("Record must be a JSON object".into()));
    };
    let raw_id = obj
        .get("Id")
        .or_else(|| obj.get("id"))
        .cloned()
        .unwrap_or(Value::Null);
    let id = match &raw_id {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let Some(id) = id else {
        return (raw_id, Err("Id is required".into()));
    };
    let echo = json!(id);
    let mut set = Vec::new();
    for (k, v) in obj.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("id")) {
        let Some(field) = Object::Account.known(k, opts) else {
            return (echo, Err(format!("Invalid field '{k}'")));
        };
        if READ_ONLY.contains(&field) {
            return (echo, Err(format!("Field '{k}' is read-only")));
        }
        set.push((field, v));
    }
    let Some(rec) = accounts.iter_mut().find(|a| record_id(a) == Some(id)) else {
        return (echo, Err(format!("Account with Id {id} not found")));
    };
    for (k, v) in set {
        rec.insert(k.to_string(), v.clone());
    }
    rec.insert("Updated".into(), json!(stamp));
    (echo, Ok(()))
}
