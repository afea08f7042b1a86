//! The portal's web pages for PAMs and admins: server-rendered HTML
//! (minijinja, auto-escaped) that works without JavaScript; the one static
//! script only adds copy buttons.
//!
//! Pages never reimplement the API: they call the report and admin route
//! functions in-process with a request they build ([`api_call`]), carrying
//! the session's grant ([`session::PageGrant`]), so the same parameters,
//! validation and access rules apply to a page and to its export.
//!
//! | module | pages |
//! |---|---|
//! | [`session`] | sign-in (token, e-mail link), sign-out, CSRF, `?token=` |
//! | [`layout`] | templates, the stylesheet and script, page headers |
//! | [`home`] | `/`: KPIs, breakdowns, partners needing attention, sync status |
//! | [`reports`] | `/reports/{name}`: filters, search, sort, paging, export |
//! | [`partner`] | `/partners/{id}`: the dashboard plus staff tools |
//! | [`people`] | `/people?q=`, `/people/{user_id}`: search, a person's certifications and reminders |
//! | [`admin`] | `/admin/sync`, `/admin/tokens`, `/admin/mail` |

pub mod admin;
pub mod home;
pub mod layout;
pub mod partner;
pub mod people;
pub mod reports;
pub mod session;

use crate::boxed::boxed;
use lambda_http::http::{header, Method, Request as HttpRequest};
use lambda_http::{Body, Request};
use portal_core::access::{constant_time_eq, Grant};
use serde_json::Value;

use crate::http::{ApiError, ApiResult};
use crate::AppState;
use session::{Gate, PageGrant, Session};

/// A decoded `application/x-www-form-urlencoded` body.
#[derive(Debug, Default, Clone)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(req: &Request) -> Form {
        let bytes: &[u8] = req.body().as_ref();
        Form(
            url::form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The trimmed value, `None` when blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }
    pub fn csrf_matches(&self, s: &Session) -> bool {
        self.get("csrf")
            .is_some_and(|f| constant_time_eq(f.as_bytes(), s.csrf().as_bytes()))
    }
}

/// `path?query` with the pairs encoded (no `?` when there are none).
pub fn href(path: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return path.to_string();
    }
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    format!("{path}?{q}")
}

/// Calls an API route function in-process as `grant`: `path_and_query`
/// under `/api`, an optional JSON body. The caller's Host is kept so links
/// the API builds point where the browser is.
pub fn api_request(
    req: &Request,
    grant: &Grant,
    method: Method,
    path_and_query: &str,
    body: Option<Value>,
) -> Result<Request, ApiError> {
    let mut b = HttpRequest::builder().method(method).uri(path_and_query);
    for h in [
        header::HOST,
        header::HeaderName::from_static("x-forwarded-proto"),
    ] {
        if let Some(v) = req.headers().get(&h) {
            b = b.header(h, v.clone());
        }
    }
    // The API takes JSON bodies only when declared as such.
    let body = match body {
        Some(v) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::Text(v.to_string())
        }
        None => Body::Empty,
    };
    let mut r = b
        .body(body)
        .map_err(|e| ApiError::Internal(format!("building an API request: {e}")))?;
    r.extensions_mut().insert(PageGrant(grant.clone()));
    Ok(r)
}

/// The JSON body of an API answer.
pub fn json_of(resp: &lambda_http::Response<Body>) -> Result<Value, ApiError> {
    serde_json::from_slice(resp.body().as_ref())
        .map_err(|e| ApiError::Internal(format!("API answer is not JSON: {e}")))
}

/// Page routes; `None` when the path is not a page (the API's dispatcher
/// goes on). Returns the route pattern for the log.
pub async fn dispatch(
    state: &AppState,
    req: &Request,
    method: &Method,
    segs: &[&str],
) -> Option<(&'static str, ApiResult)> {
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let (label, result) = match segs {
        ["static", "portal.css"] if get => ("/static/portal.css", Ok(layout::stylesheet())),
        ["static", "portal.js"] if get => ("/static/portal.js", Ok(layout::script())),
        ["login"] if post => ("/login", boxed(|| session::login_token(state, req)).await),
        ["login", "email"] if post => (
            "/login/email",
            boxed(|| session::login_email(state, req)).await,
        ),
        ["login", "link", secret] if get => (
            "/login/link/{secret}",
            boxed(|| session::login_link_page(state, req, secret)).await,
        ),
        ["login", "link", secret] if post => (
            "/login/link/{secret}",
            boxed(|| session::login_link(state, req, secret)).await,
        ),
        ["logout"] if post => ("/logout", boxed(|| session::logout(state, req)).await),
        [] if get => ("/", boxed(|| signed_in(state, req, Page::Home)).await),
        ["reports"] if get => (
            "/reports",
            boxed(|| signed_in(state, req, Page::Reports)).await,
        ),
        ["reports", name] if get => (
            "/reports/{name}",
            boxed(|| signed_in(state, req, Page::Report(name))).await,
        ),
        ["partners", id] if get => (
            "/partners/{id}",
            boxed(|| signed_in(state, req, Page::Partner(id))).await,
        ),
        ["people"] if get => (
            "/people",
            boxed(|| signed_in(state, req, Page::People)).await,
        ),
        ["people", id] if get => (
            "/people/{user_id}",
            boxed(|| signed_in(state, req, Page::Person(id))).await,
        ),
        ["admin", "sync"] if get => (
            "/admin/sync",
            boxed(|| signed_in(state, req, Page::Sync)).await,
        ),
        ["admin", "tokens"] if get => (
            "/admin/tokens",
            boxed(|| signed_in(state, req, Page::Tokens)).await,
        ),
        ["admin", "mail"] if get => (
            "/admin/mail",
            boxed(|| signed_in(state, req, Page::Mail)).await,
        ),
        ["admin", ..] | ["partners", _, ..] if post => {
            ("(portal form)", boxed(|| form_post(state, req, segs)).await)
        }
        ["login"]
        | ["login", "email"]
        | ["login", "link", _]
        | ["logout"]
        | ["reports", ..]
        | ["partners", _]
        | ["people", ..]
        | ["admin", "sync" | "tokens" | "mail"] => ("(method)", Err(ApiError::MethodNotAllowed)),
        _ => return None,
    };
    Some((label, result.or_else(layout::error_for)))
}

enum Page<'a> {
    Home,
    Reports,
    Report(&'a str),
    Partner(&'a str),
    People,
    Person(&'a str),
    Sync,
    Tokens,
    Mail,
}

async fn signed_in(state: &AppState, req: &Request, page: Page<'_>) -> ApiResult {
    let s = match boxed(|| session::gate(state, req)).await? {
        Gate::In(s) => s,
        Gate::Answer(r) => return Ok(r),
    };
    let ctx = boxed(|| layout::Chrome::load(state, &s)).await?;
    match page {
        Page::Home => boxed(|| home::page(state, req, &s, &ctx)).await,
        Page::Reports => reports::index(&s, &ctx),
        Page::Report(name) => boxed(|| reports::page(state, req, &s, &ctx, name)).await,
        Page::Partner(id) => boxed(|| partner::page(state, req, &s, &ctx, id)).await,
        Page::People => boxed(|| people::search(state, req, &s, &ctx)).await,
        Page::Person(id) => boxed(|| people::person(state, &s, &ctx, id)).await,
        Page::Sync => boxed(|| admin::sync_page(state, req, &s, &ctx)).await,
        Page::Tokens => boxed(|| admin::tokens_page(state, req, &s, &ctx, None)).await,
        Page::Mail => boxed(|| admin::mail_page(state, &s, &ctx)).await,
    }
}

async fn form_post(state: &AppState, req: &Request, segs: &[&str]) -> ApiResult {
    let (s, form) = match boxed(|| session::gate_post(state, req)).await? {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    match segs {
        ["admin", "sync", task, action] => {
            boxed(|| admin::sync_action(state, req, &s, task, action, &form)).await
        }
        ["admin", "tokens"] => boxed(|| admin::create_token(state, req, &s, &form)).await,
        ["admin", "tokens", id, "revoke"] => {
            boxed(|| admin::revoke_token(state, req, &s, id)).await
        }
        ["partners", id, "awards"] => boxed(|| partner::add_award(state, req, &s, id, &form)).await,
        ["partners", id, what @ ("awards" | "org-certs"), item, "remove"] => {
            boxed(|| partner::remove(state, req, &s, id, what, item)).await
        }
        ["partners", id, "group"] => {
            boxed(|| partner::group(state, req, &s, id, false, &form)).await
        }
        ["partners", id, "group", "clear"] => {
            boxed(|| partner::group(state, req, &s, id, true, &form)).await
        }
        ["partners", id, "link", "revoke"] => {
            boxed(|| partner::revoke_link(state, req, &s, id, &form)).await
        }
        _ => Err(ApiError::NotFound),
    }
}
