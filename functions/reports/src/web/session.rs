//! Portal sign-in: the session cookie, the two ways in (a token posted in a
//! form, a one-time link sent by e-mail), sign-out, the anti-forgery token
//! of every form, and `?token=` links turned into a session plus a redirect
//! to the same address without the token.
//!
//! The cookie holds a random secret; the table holds only its hash
//! (`portal_core::store::sessions`).

use chrono::Utc;
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use minijinja::context;
use portal_core::access::{constant_time_eq, generate_token, Grant};
use portal_core::mail::Email;
use portal_core::store::ratelimit::{RateDecision, RateLimit};
use portal_core::store::sessions::{login_link_ttl, session_max, LoginLink, SessionRecord};
use portal_core::store::{keys::normalize_email, TokenKind, TokenRecord};

use super::layout;
use super::Form;
use crate::http::{self, query_pairs, ApiError, ApiResult};
use crate::AppState;

pub const SESSION_COOKIE: &str = "portal_session";
/// Anti-forgery cookie of the sign-in forms, which have no session yet
/// (double-submit: the form field must equal the cookie).
pub const LOGIN_CSRF_COOKIE: &str = "portal_login_csrf";

/// A signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub record: SessionRecord,
    pub grant: Grant,
}

impl Session {
    pub fn csrf(&self) -> &str {
        &self.record.csrf
    }
}

/// The grant of a page's own request to the API code (reports, admin):
/// set by the portal on requests it builds in-process, never taken from
/// the network (extensions do not travel over HTTP).
#[derive(Clone, Debug)]
pub struct PageGrant(pub Grant);

/// Grant of an in-process page request, if this is one.
pub fn page_grant(req: &Request) -> Option<Grant> {
    req.extensions().get::<PageGrant>().map(|g| g.0.clone())
}

/// Grant of the session cookie, for safe (GET/HEAD) API requests only: an
/// export link clicked in the portal is authorised by the cookie, while
/// state-changing API calls still need a bearer token, so a cookie can
/// never be ridden by a forged cross-site request.
pub async fn cookie_grant(state: &AppState, req: &Request) -> Result<Option<Grant>, ApiError> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(None);
    }
    Ok(current(state, req).await?.map(|s| s.grant))
}

/// Value of cookie `name` in the request.
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn grant_of(kind: TokenKind, scope: Option<String>) -> Option<Grant> {
    Grant::from_record(&TokenRecord {
        kind,
        scope,
        ..Default::default()
    })
}

/// The live session of this request, touched when due.
pub async fn current(state: &AppState, req: &Request) -> Result<Option<Session>, ApiError> {
    let Some(secret) = cookie(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    let now = Utc::now();
    let Some(mut record) = state.store.session_by_secret(&secret, now).await? else {
        return Ok(None);
    };
    if record.needs_touch(now) {
        record = state.store.touch_session(&secret, &record, now).await?;
    }
    // Only staff sign in to the portal; a record without a usable grant
    // (never written by this code) is treated as signed out.
    Ok(grant_of(record.kind, record.scope.clone())
        .filter(|g| !matches!(g, Grant::PartnerLink { .. }))
        .map(|grant| Session { record, grant }))
}

/// `Secure` always, except for a browser talking plain HTTP to this
/// machine (the dev runner), where a `Secure` cookie would never be sent.
fn cookie_attrs(req: &Request) -> &'static str {
    let base = http::base_url(None, req);
    if base.starts_with("http://localhost") || base.starts_with("http://127.0.0.1") {
        "Path=/; HttpOnly; SameSite=Lax"
    } else {
        "Path=/; HttpOnly; Secure; SameSite=Lax"
    }
}

fn set_cookie(resp: &mut Response<Body>, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A 303 to `location` (a path on this site).
pub fn see_other(location: &str) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Starts a session for `grant` and answers with a redirect to `location`
/// carrying its cookie.
async fn start(
    state: &AppState,
    req: &Request,
    grant: &Grant,
    who: String,
    location: &str,
) -> ApiResult {
    let now = Utc::now();
    let (kind, scope) = grant.kind_and_scope();
    let secret = generate_token();
    let record = SessionRecord {
        kind,
        scope,
        who,
        csrf: generate_token(),
        created_at: now,
        last_seen: now,
    };
    state.store.put_session(&secret, &record).await?;
    tracing::info!(kind = ?kind, "portal sign-in");
    let mut r = see_other(location);
    set_cookie(
        &mut r,
        format!(
            "{SESSION_COOKIE}={secret}; {}; Max-Age={}",
            cookie_attrs(req),
            session_max().num_seconds()
        ),
    );
    set_cookie(
        &mut r,
        format!("{LOGIN_CSRF_COOKIE}=; {}; Max-Age=0", cookie_attrs(req)),
    );
    Ok(r)
}

/// The sign-in page (both forms), with `message` above them.
pub fn sign_in_page(req: &Request, status: StatusCode, message: Option<&str>) -> ApiResult {
    let csrf = cookie(req, LOGIN_CSRF_COOKIE).unwrap_or_else(generate_token);
    let html = layout::render(
        "signin.html",
        None,
        context! { message => message, csrf => &csrf },
    )?;
    let mut r = layout::page(status, html);
    set_cookie(
        &mut r,
        format!(
            "{LOGIN_CSRF_COOKIE}={csrf}; {}; Max-Age=3600",
            cookie_attrs(req)
        ),
    );
    Ok(r)
}

fn login_csrf_ok(req: &Request, form: &Form) -> bool {
    match (cookie(req, LOGIN_CSRF_COOKIE), form.get("csrf")) {
        (Some(c), Some(f)) => constant_time_eq(c.as_bytes(), f.as_bytes()),
        _ => false,
    }
}

/// The answer to a form whose anti-forgery token is missing or wrong.
pub fn forged() -> ApiResult {
    layout::error_page(
        StatusCode::FORBIDDEN,
        "This form has expired or did not come from the portal. Reload the page and try again.",
    )
}

/// `POST /login` (field `token`): the admin seed token or a PAM token.
pub async fn login_token(state: &AppState, req: &Request) -> ApiResult {
    let form = Form::parse(req);
    if !login_csrf_ok(req, &form) {
        return forged();
    }
    if let Some(r) = over_limit(state, req, None).await? {
        return Ok(r);
    }
    let token = form.get("token").unwrap_or_default().trim().to_string();
    match crate::auth::resolve(state, &token).await? {
        Some(g @ (Grant::Admin | Grant::Pam { .. })) if !token.is_empty() => {
            let who = match &g {
                Grant::Pam { owner_email } => owner_email.clone(),
                _ => "admin".to_string(),
            };
            start(state, req, &g, who, "/").await
        }
        _ => sign_in_page(
            req,
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid. Check it and try again."),
        ),
    }
}

/// Sign-in attempts (`POST /login`, `POST /login/email`) one client may
/// make: far above a person mistyping, far below guessing at any useful
/// rate.
pub const LOGIN_PER_CLIENT: RateLimit = RateLimit {
    max: 20,
    window: chrono::Duration::minutes(15),
};
/// Sign-in links one address may be sent, from any number of clients: a
/// mailbox is not flooded however many machines ask.
pub const LOGIN_PER_EMAIL: RateLimit = RateLimit {
    max: 5,
    window: chrono::Duration::minutes(15),
};

/// The client's address: API Gateway's `sourceIp` (the TCP peer it saw;
/// a client-set `X-Forwarded-For` cannot change it), else — served
/// locally, where there is no request context — the first
/// `X-Forwarded-For` entry.
pub fn client_ip(req: &Request) -> String {
    #[allow(irrefutable_let_patterns)] // one variant with this crate's features
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        if let Some(ip) = ctx.http.source_ip.as_deref().filter(|s| !s.is_empty()) {
            return ip.to_string();
        }
    }
    req.headers()
        .get("x-forwarded-for")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split(',').next())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("local")
        .to_string()
}

/// Counts this attempt against the client's limit (`email: None`) or the
/// address's; `Some(429 page)` when over it.
async fn over_limit(
    state: &AppState,
    req: &Request,
    email: Option<&str>,
) -> Result<Option<Response<Body>>, ApiError> {
    let (bucket, subject, limit) = match email {
        None => ("login-ip", client_ip(req), LOGIN_PER_CLIENT),
        Some(e) => ("login-email", e.to_string(), LOGIN_PER_EMAIL),
    };
    let decision = state
        .store
        .count_attempt(bucket, &subject, limit, Utc::now())
        .await?;
    let RateDecision::Limited { retry_after, .. } = decision else {
        return Ok(None);
    };
    tracing::warn!(bucket, "sign-in rate limit reached");
    let secs = retry_after.num_seconds().max(1);
    let minutes = (secs + 59) / 60;
    let message = format!(
        "Too many sign-in attempts. Please wait {minutes} minute{} and try again.",
        if minutes == 1 { "" } else { "s" }
    );
    let mut r = sign_in_page(req, StatusCode::TOO_MANY_REQUESTS, Some(&message))?;
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(Some(r))
}

/// The grant an e-mail address signs in with: an admin address, or the
/// owner (PAM) of at least one partner in the CRM data.
async fn grant_for_email(state: &AppState, email: &str) -> Result<Option<Grant>, ApiError> {
    if state.admin_emails.iter().any(|a| a == email) {
        return Ok(Some(Grant::Admin));
    }
    let partners = state.store.all_partners().await?;
    let owns = partners.iter().any(|p| {
        p.owner_email
            .as_deref()
            .is_some_and(|o| normalize_email(o) == email)
    });
    Ok(owns.then(|| Grant::Pam {
        owner_email: email.to_string(),
    }))
}

const LINK_SENT: &str = "If this address may use the portal, a sign-in link is on its way. It works once, for 15 minutes.";

/// `POST /login/email` (field `email`): mails a one-time link to a known
/// address. The page reads the same whether or not the address is known,
/// so it cannot be used to find out who is a PAM.
pub async fn login_email(state: &AppState, req: &Request) -> ApiResult {
    let form = Form::parse(req);
    if !login_csrf_ok(req, &form) {
        return forged();
    }
    if let Some(r) = over_limit(state, req, None).await? {
        return Ok(r);
    }
    let email = normalize_email(form.get("email").unwrap_or_default());
    if !email.contains('@') || email.len() > 254 {
        return sign_in_page(
            req,
            StatusCode::BAD_REQUEST,
            Some("Enter an e-mail address."),
        );
    }
    // Counted before the address is looked up: known and unknown
    // addresses reach their limit alike and get the same answer.
    if let Some(r) = over_limit(state, req, Some(&email)).await? {
        return Ok(r);
    }
    let Some(mailer) = &state.mailer else {
        return sign_in_page(
            req,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("Sign-in by e-mail is not configured here; sign in with a token."),
        );
    };
    if let Some(grant) = grant_for_email(state, &email).await? {
        let (kind, scope) = grant.kind_and_scope();
        let secret = generate_token();
        let link = LoginLink {
            kind,
            scope,
            email: email.clone(),
            expires_at: Utc::now() + login_link_ttl(),
        };
        state.store.put_login_link(&secret, &link).await?;
        let url = format!(
            "{}/login/link/{secret}",
            http::base_url(state.public_base_url.as_deref(), req)
        );
        let html = layout::render_mail(&url)?;
        let mail = Email {
            to: email.clone(),
            subject: "Your sign-in link to the partner portal".into(),
            text: format!(
                "Open this link to sign in to the partner portal:\n\n{url}\n\nIt works once, for 15 minutes. If you did not ask for it, ignore this message."
            ),
            html,
            unsubscribe_url: None,
        };
        // A failed send is logged but answered like a success: the answer
        // must not tell known addresses from unknown ones.
        if let Err(e) = mailer.send(&mail).await {
            tracing::error!(error = %e, "sign-in link not sent");
        }
    }
    sign_in_page(req, StatusCode::OK, Some(LINK_SENT))
}

/// `GET /login/link/{secret}`: a page with a "Sign in" button, nothing
/// used. Mail scanners and link previewers open links before the person
/// does; if the GET spent the link, the person's own click would fail.
pub async fn login_link_page(state: &AppState, req: &Request, secret: &str) -> ApiResult {
    match state.store.peek_login_link(secret, Utc::now()).await? {
        Some(link) => {
            let html = layout::render(
                "signin_link.html",
                None,
                context! { email => &link.email, action => format!("/login/link/{secret}") },
            )?;
            Ok(layout::page(StatusCode::OK, html))
        }
        None => sign_in_page(req, StatusCode::BAD_REQUEST, Some(LINK_USED)),
    }
}

/// `POST /login/link/{secret}`: uses the one-time link and signs in. The
/// form needs no anti-forgery token — the secret in its address is what
/// authorises it — but a post from another site is refused, so no page
/// elsewhere can sign a visitor in as someone else with a link of its own.
pub async fn login_link(state: &AppState, req: &Request, secret: &str) -> ApiResult {
    if !same_origin(state, req) {
        return forged();
    }
    match state.store.take_login_link(secret, Utc::now()).await? {
        Some(link) => match grant_of(link.kind, link.scope) {
            Some(g) => start(state, req, &g, link.email, "/").await,
            None => sign_in_page(req, StatusCode::BAD_REQUEST, Some(LINK_USED)),
        },
        None => sign_in_page(req, StatusCode::BAD_REQUEST, Some(LINK_USED)),
    }
}

/// Whether a form post may come from another site. Browsers say so in
/// `Sec-Fetch-Site`; where that is missing, an `Origin` naming another
/// site refuses it. `Origin: null` is what our own pages send (they set
/// `Referrer-Policy: no-referrer`) and tells nothing; a post with neither
/// header (a script, an old client) is let through.
fn same_origin(state: &AppState, req: &Request) -> bool {
    let h = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(site) = h("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = h("origin").filter(|o| o != "null") else {
        return true;
    };
    let host_ok = h("host").is_some_and(|host| {
        origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(&host))
    });
    // Behind a custom domain the Host may be the API's own name.
    let configured_ok = state
        .public_base_url
        .as_deref()
        .is_some_and(|b| b.trim_end_matches('/').eq_ignore_ascii_case(&origin));
    host_ok || configured_ok
}

const LINK_USED: &str =
    "This sign-in link has expired or was already used. Ask for a new one below.";

/// `POST /logout`: ends the session (its item is deleted) and clears the
/// cookie.
pub async fn logout(state: &AppState, req: &Request) -> ApiResult {
    let form = Form::parse(req);
    let Some(session) = current(state, req).await? else {
        return Ok(see_other("/"));
    };
    if !form.csrf_matches(&session) {
        return forged();
    }
    if let Some(secret) = cookie(req, SESSION_COOKIE) {
        state.store.delete_session(&secret).await?;
    }
    let mut r = see_other("/");
    set_cookie(
        &mut r,
        format!("{SESSION_COOKIE}=; {}; Max-Age=0", cookie_attrs(req)),
    );
    Ok(r)
}

/// What a page request gets past the gate: a session, or the answer to
/// send instead (sign-in page, redirect after `?token=`).
pub enum Gate {
    In(Session),
    Answer(Response<Body>),
}

/// Gate of every signed-in page. A `?token=` in the address signs in and
/// redirects to the same address without it, so the token does not stay
/// in the address bar, history or bookmarks.
pub async fn gate(state: &AppState, req: &Request) -> Result<Gate, ApiError> {
    let pairs = query_pairs(req);
    if let Some((_, token)) = pairs.iter().find(|(k, _)| k == "token") {
        if req.method() == Method::GET || req.method() == Method::HEAD {
            return Ok(Gate::Answer(
                match crate::auth::resolve(state, token.trim()).await? {
                    Some(g @ (Grant::Admin | Grant::Pam { .. })) => {
                        let who = match &g {
                            Grant::Pam { owner_email } => owner_email.clone(),
                            _ => "admin".to_string(),
                        };
                        let rest: Vec<(String, String)> =
                            pairs.into_iter().filter(|(k, _)| k != "token").collect();
                        let location = super::href(req.uri().path(), &rest);
                        start(state, req, &g, who, &location).await?
                    }
                    _ => sign_in_page(
                        req,
                        StatusCode::UNAUTHORIZED,
                        Some("The token in that link is not valid."),
                    )?,
                },
            ));
        }
    }
    match current(state, req).await? {
        Some(s) => Ok(Gate::In(s)),
        None => {
            let status = if req.uri().path() == "/" {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            Ok(Gate::Answer(sign_in_page(req, status, None)?))
        }
    }
}

/// Gate of every state-changing form: a session and its anti-forgery
/// token.
pub async fn gate_post(
    state: &AppState,
    req: &Request,
) -> Result<Result<(Session, Form), Response<Body>>, ApiError> {
    let Some(session) = current(state, req).await? else {
        return Ok(Err(sign_in_page(req, StatusCode::UNAUTHORIZED, None)?));
    };
    let form = Form::parse(req);
    if !form.csrf_matches(&session) {
        return Ok(Err(forged()?));
    }
    Ok(Ok((session, form)))
}
