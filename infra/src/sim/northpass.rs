//! The Northpass LMS simulator: JSON:API-style lists under `/v2`.
//!
//! Choices where docs/source-contract.md is silent (what JSON:API services
//! commonly do):
//! - `page` is 1-based, default 1; `limit` default 25. `limit` > 100 is
//!   clamped to 100 (JSON:API servers cap page size rather than reject it),
//!   so a client must page by `links.next`, not by its own arithmetic.
//!   `page`/`limit` that are not positive integers → 400.
//! - `links.next` is absolute and repeats every query parameter (filter,
//!   limit) with `page + 1`; it is absent on the last page (and on an empty
//!   or beyond-the-end page). `links.self` is always there. With
//!   `ServerOptions::next_drops_params` it carries only `page`, dropping
//!   `limit` and `filter[...]` as production was seen to do.
//! - `GET /v2/properties/courses` never carries `links.next` (production's
//!   quirk): a client pages it until a short or empty page.
//! - Members are added and removed through
//!   `POST`/`DELETE /v2/groups/{id}/relationships/people` with
//!   `{"data": [{"type": "people", "id"}]}`; adding a member again → 422.
//! - `ServerOptions::omit_retry_after` answers 429 without `Retry-After`.
//! - `meta.total_count` is on people, groups, memberships and courses; the
//!   transcript and properties lists carry no `meta` ("some lists").
//! - `filter[updated_at][gteq]` is accepted on people, groups and courses and
//!   compares instants (the value may carry an offset; none = UTC). Any other
//!   `filter[...]` → 400, so a typo does not silently return everything.
//! - Order is stable (creation order), so records changed while a client is
//!   paging are not skipped or repeated.
//! - Errors use the JSON:API `{"errors": [{"status", "title", "detail"}]}`.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::errors::northpass as error;
use super::middleware::{api_layer, Ctx};
use super::mutation;
use super::state::Shared;
use super::{control, Server, SimError};
use crate::datagen::dates;

pub(crate) const MAX_LIMIT: usize = 100;
pub(crate) const DEFAULT_LIMIT: usize = 25;
const FILTER_UPDATED: &str = "filter[updated_at][gteq]";

type Params = Query<Vec<(String, String)>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let ctx = Ctx {
        shared: shared.clone(),
        server: Server::Northpass,
    };
    Router::new()
        .route("/v2/people", get(people))
        .route("/v2/groups", get(groups))
        .route("/v2/groups/{id}/memberships", get(memberships))
        .route(
            "/v2/groups/{id}/relationships/people",
            post(add_membership).delete(remove_people),
        )
        .route("/v2/courses", get(courses))
        .route("/v2/properties/courses", get(properties))
        .route("/v2/transcripts/{id}", get(transcripts))
        .route_layer(from_fn_with_state(ctx.clone(), api_layer))
        .layer(from_fn_with_state(ctx.clone(), strip_retry_after))
        .with_state(ctx)
        .merge(control::router(shared, Server::Northpass))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not Found", "no such endpoint") })
}

fn options(ctx: &Ctx) -> super::ServerOptions {
    ctx.shared
        .server(Server::Northpass)
        .faults
        .lock()
        .expect("faults lock")
        .options()
        .clone()
}

/// `omit_retry_after`: a 429 goes out without the header.
async fn strip_retry_after(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::TOO_MANY_REQUESTS && options(&ctx).omit_retry_after {
        resp.headers_mut().remove(header::RETRY_AFTER);
    }
    resp
}

fn bad_request(detail: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "Bad Request", detail)
}

struct PageReq {
    page: usize,
    limit: usize,
    since: Option<DateTime<Utc>>,
    params: Vec<(String, String)>,
    /// `links.next` carries only `page` (`next_drops_params`).
    drop_params: bool,
}

/// The page request, or the 400 detail.
fn parse_page(
    params: Vec<(String, String)>,
    allow_filter: bool,
    ctx: &Ctx,
) -> Result<PageReq, String> {
    let mut page = 1;
    let mut limit = DEFAULT_LIMIT;
    let mut since = None;
    for (k, v) in &params {
        match k.as_str() {
            "page" => {
                page = v
                    .parse::<usize>()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or("page must be a positive integer")?
            }
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|l| *l >= 1)
                    .ok_or("limit must be a positive integer")?
                    .min(MAX_LIMIT)
            }
            FILTER_UPDATED if allow_filter => {
                since = Some(
                    dates::parse_any(v)
                        .ok_or("filter[updated_at][gteq] must be an RFC 3339 date-time")?,
                )
            }
            k if k.starts_with("filter") => {
                return Err(format!("unsupported filter {k}"));
            }
            // Unknown non-filter parameters are ignored, as most APIs do.
            _ => {}
        }
    }
    Ok(PageReq {
        page,
        limit,
        since,
        params,
        drop_params: options(ctx).next_drops_params,
    })
}

fn updated_since(updated_at: &str, since: Option<DateTime<Utc>>) -> bool {
    match since {
        None => true,
        Some(s) => dates::parse_any(updated_at).is_some_and(|t| t >= s),
    }
}

fn link(base: &str, path: &str, req: &PageReq, page: usize) -> String {
    let mut url = url::Url::parse(&format!("{base}{path}")).expect("valid base url");
    if req.drop_params {
        url.query_pairs_mut().append_pair("page", &page.to_string());
        return url.to_string();
    }
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in &req.params {
            if k != "page" && k != "limit" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("page", &page.to_string());
        q.append_pair("limit", &req.limit.to_string());
    }
    url.to_string()
}

/// One page of `items` (already filtered) as a JSON:API document.
fn page_doc<T: Serialize>(
    base: &str,
    path: &str,
    req: &PageReq,
    items: &[&T],
    total_count: bool,
    next_link: bool,
) -> Response {
    let start = (req.page - 1).saturating_mul(req.limit);
    let end = start.saturating_add(req.limit).min(items.len());
    let data: Vec<Value> = if start < items.len() {
        items[start..end]
            .iter()
            .map(|i| serde_json::to_value(i).expect("serialisable"))
            .collect()
    } else {
        Vec::new()
    };
    let mut links = Map::new();
    links.insert("self".into(), json!(link(base, path, req, req.page)));
    if next_link && end < items.len() && start < items.len() {
        links.insert("next".into(), json!(link(base, path, req, req.page + 1)));
    }
    let mut doc = Map::new();
    doc.insert("data".into(), Value::Array(data));
    doc.insert("links".into(), Value::Object(links));
    if total_count {
        doc.insert("meta".into(), json!({"total_count": items.len()}));
    }
    Json(Value::Object(doc)).into_response()
}

async fn people(State(ctx): State<Ctx>, Query(q): Params) -> Response {
    updated_list(
        &ctx,
        q,
        "/v2/people",
        |d| &d.people,
        |p| &p.attributes.updated_at,
    )
}

async fn groups(State(ctx): State<Ctx>, Query(q): Params) -> Response {
    updated_list(
        &ctx,
        q,
        "/v2/groups",
        |d| &d.groups,
        |g| &g.attributes.updated_at,
    )
}

async fn courses(State(ctx): State<Ctx>, Query(q): Params) -> Response {
    updated_list(
        &ctx,
        q,
        "/v2/courses",
        |d| &d.courses,
        |c| &c.attributes.updated_at,
    )
}

/// A top-level list that supports `filter[updated_at][gteq]`, paged.
fn updated_list<T: Serialize>(
    ctx: &Ctx,
    q: Vec<(String, String)>,
    path: &str,
    list: impl Fn(&crate::datagen::Dataset) -> &Vec<T>,
    updated_at: impl Fn(&T) -> &str,
) -> Response {
    let req = match parse_page(q, true, ctx) {
        Ok(r) => r,
        Err(e) => return bad_request(&e),
    };
    let w = ctx.shared.world();
    let items: Vec<&T> = list(&w.data)
        .iter()
        .filter(|x| updated_since(updated_at(x), req.since))
        .collect();
    page_doc(
        &ctx.shared.northpass.base_url,
        path,
        &req,
        &items,
        true,
        true,
    )
}

async fn properties(State(ctx): State<Ctx>, Query(q): Params) -> Response {
    let req = match parse_page(q, false, &ctx) {
        Ok(r) => r,
        Err(e) => return bad_request(&e),
    };
    let w = ctx.shared.world();
    let items: Vec<_> = w.data.properties.iter().collect();
    let base = &ctx.shared.northpass.base_url;
    page_doc(base, "/v2/properties/courses", &req, &items, false, false)
}

async fn memberships(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Params) -> Response {
    let req = match parse_page(q, false, &ctx) {
        Ok(r) => r,
        Err(e) => return bad_request(&e),
    };
    let w = ctx.shared.world();
    if !w.data.groups.iter().any(|g| g.id == id) {
        return error(StatusCode::NOT_FOUND, "Not Found", "no such group");
    }
    let items: Vec<_> = w
        .data
        .memberships
        .get(&id)
        .map(|l| l.iter().collect())
        .unwrap_or_default();
    let path = format!("/v2/groups/{id}/memberships");
    page_doc(
        &ctx.shared.northpass.base_url,
        &path,
        &req,
        &items,
        true,
        true,
    )
}

async fn transcripts(State(ctx): State<Ctx>, Path(id): Path<String>, Query(q): Params) -> Response {
    let req = match parse_page(q, false, &ctx) {
        Ok(r) => r,
        Err(e) => return bad_request(&e),
    };
    let w = ctx.shared.world();
    let Some(list) = w.data.transcripts.get(&id) else {
        return error(StatusCode::NOT_FOUND, "Not Found", "no such person");
    };
    let items: Vec<_> = list.iter().collect();
    let path = format!("/v2/transcripts/{id}");
    page_doc(
        &ctx.shared.northpass.base_url,
        &path,
        &req,
        &items,
        false,
        true,
    )
}

/// The person id in a POST body: the shape of docs/source-contract.md and
/// the other usual JSON:API shapes are all accepted:
/// `{"data": {"type": "memberships", "relationships": {"person": {"data": {"id"}}}}}`,
/// `{"data": {"type": "people", "id": ..}}` and `{"data": [{"type": "people", "id": ..}]}`
/// (the last may carry several people).
fn person_ids(body: &Value) -> Option<Vec<String>> {
    let data = body.get("data")?;
    let one = |d: &Value| -> Option<String> {
        d.pointer("/relationships/person/data/id")
            .or_else(|| d.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match data {
        Value::Array(items) => items.iter().map(one).collect(),
        d => one(d).map(|id| vec![id]),
    }
}

/// `POST /v2/groups/{id}/relationships/people` → 201 with the new
/// membership(s); 404 unknown group, 422 unknown person, bad body or
/// already a member.
async fn add_membership(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(ids) = serde_json::from_slice::<Value>(&body)
        .ok()
        .as_ref()
        .and_then(person_ids)
    else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Entity",
            "body must be {\"data\": {\"relationships\": {\"person\": {\"data\": {\"id\": ..}}}}}",
        );
    };
    let mut w = ctx.shared.world();
    if !w.data.groups.iter().any(|g| g.id == id) {
        return error(StatusCode::NOT_FOUND, "Not Found", "no such group");
    }
    let stamp = dates::fmt_z(w.now());
    let mut created = Vec::new();
    for pid in &ids {
        if !w.data.people.iter().any(|p| &p.id == pid) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unprocessable Entity",
                &format!("no such person {pid}"),
            );
        }
        match mutation::add_member(&mut w, &id, pid, &stamp) {
            Ok(mid) => created.push(mid),
            Err(SimError::Conflict(m)) => {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "Unprocessable Entity", &m)
            }
            Err(e) => return error(StatusCode::NOT_FOUND, "Not Found", &e.to_string()),
        }
    }
    let list = w.data.memberships.get(&id).cloned().unwrap_or_default();
    let items: Vec<Value> = list
        .iter()
        .filter(|m| created.contains(&m.id))
        .map(|m| serde_json::to_value(m).expect("serialisable"))
        .collect();
    let data = if items.len() == 1 {
        items.into_iter().next().expect("one")
    } else {
        Value::Array(items)
    };
    (StatusCode::CREATED, Json(json!({ "data": data }))).into_response()
}

/// `DELETE /v2/groups/{id}/relationships/people` with the people in the
/// body → 204; 404 when one is not a member (the others are removed).
async fn remove_people(
    State(ctx): State<Ctx>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(ids) = serde_json::from_slice::<Value>(&body)
        .ok()
        .as_ref()
        .and_then(person_ids)
    else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Entity",
            "body must be {\"data\": [{\"type\": \"people\", \"id\": ..}]}",
        );
    };
    let mut w = ctx.shared.world();
    let stamp = dates::fmt_z(w.now());
    let mut missing = None;
    for pid in &ids {
        if let Err(e) = mutation::remove_member(&mut w, &id, pid, &stamp) {
            missing.get_or_insert(e.to_string());
        }
    }
    match missing {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(e) => error(StatusCode::NOT_FOUND, "Not Found", &e),
    }
}
