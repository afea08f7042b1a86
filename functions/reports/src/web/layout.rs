//! The portal's one layout: templates (`functions/reports/templates`,
//! compiled in), the served stylesheet — the partner dashboard's styles
//! ([`crate::render::STYLE`]) plus the portal's — and script, the security
//! headers of a page, and the header every signed-in page shows (who, the
//! navigation, when the data was last synced).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use minijinja::{context, Environment, Value};
use portal_core::access::Grant;

use super::session::Session;
use crate::http::{ApiError, ApiResult};
use crate::AppState;

/// Styles the portal adds to the dashboard's: navigation, forms, buttons,
/// a visible keyboard focus.
const PORTAL_STYLE: &str = include_str!("../../templates/portal.css");
const SCRIPT: &str = include_str!("../../templates/portal.js");

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Ids in paths (`/partners/{id}`) are percent-encoded.
    env.add_filter("urlencode", |v: String| -> String {
        url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
    });
    for (name, src) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("signin.html", include_str!("../../templates/signin.html")),
        (
            "signin_link.html",
            include_str!("../../templates/signin_link.html"),
        ),
        ("error.html", include_str!("../../templates/error.html")),
        ("home.html", include_str!("../../templates/home.html")),
        (
            "trend_chart.html",
            include_str!("../../templates/trend_chart.html"),
        ),
        ("reports.html", include_str!("../../templates/reports.html")),
        ("report.html", include_str!("../../templates/report.html")),
        ("partner.html", include_str!("../../templates/partner.html")),
        ("sync.html", include_str!("../../templates/sync.html")),
        ("people.html", include_str!("../../templates/people.html")),
        ("mail.html", include_str!("../../templates/mail.html")),
        ("person.html", include_str!("../../templates/person.html")),
        ("tokens.html", include_str!("../../templates/tokens.html")),
        (
            "signin_mail.html",
            include_str!("../../templates/signin_mail.html"),
        ),
    ] {
        // `.html` names get minijinja's HTML auto-escaping; a template that
        // fails to parse is a bug every page test catches.
        env.add_template(name, src).expect("portal template parses");
    }
    env
});

/// Page-independent context of a signed-in page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Chrome {
    pub who: String,
    pub admin: bool,
    pub csrf: String,
    /// Start of the most recent successful sync run of any task.
    pub synced_at: Option<String>,
}

fn minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl Chrome {
    pub async fn load(state: &AppState, s: &Session) -> Result<Chrome, ApiError> {
        let states = state.store.all_task_states().await?;
        Ok(Chrome {
            who: s.record.who.clone(),
            admin: matches!(s.grant, Grant::Admin),
            csrf: s.csrf().to_string(),
            // Sync tasks only: the reminder jobs keep a watermark in the
            // same kind of record, and mail is not data.
            synced_at: states
                .iter()
                .filter(|t| crate::runner::TASKS.contains(&t.task.as_str()))
                .filter_map(|t| t.watermark)
                .max()
                .map(minute),
        })
    }
}

/// Renders template `name` with `ctx` plus the chrome (`None` on the
/// signed-out pages).
pub fn render(name: &str, chrome: Option<&Chrome>, ctx: Value) -> Result<String, ApiError> {
    ENV.get_template(name)
        .and_then(|t| t.render(context! { chrome => chrome, ..ctx }))
        .map_err(|e| ApiError::Internal(format!("template {name}: {e}")))
}

/// The HTML body of the sign-in mail.
pub fn render_mail(url: &str) -> Result<String, ApiError> {
    render("signin_mail.html", None, context! { url => url })
}

/// Scripts only from this site (none inline), no framing, forms only to
/// this site. Inline `style` attributes stay allowed for the dashboard's
/// progress bar width.
const CSP: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// An HTML page with the portal's security headers (`no-store` is added
/// to every answer by `http::secure`).
pub fn page(status: StatusCode, html: String) -> Response<Body> {
    let mut r = Response::new(Body::Text(html));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    r
}

pub fn ok(html: String) -> ApiResult {
    Ok(page(StatusCode::OK, html))
}

pub fn error_page(status: StatusCode, message: &str) -> ApiResult {
    let html = render(
        "error.html",
        None,
        context! { status => status.as_u16(), message => message },
    )?;
    Ok(page(status, html))
}

/// An API error as a page: the same status, a message a person can act on.
pub fn error_for(e: ApiError) -> ApiResult {
    let status = e.status();
    let message = match &e {
        ApiError::NotFound => "There is no such page, or you may not see it.".to_string(),
        ApiError::Unauthorized | ApiError::InvalidToken => "Please sign in again.".to_string(),
        ApiError::Internal(detail) => {
            tracing::error!(error = %detail, "page failed");
            "Something went wrong. Please try again.".to_string()
        }
        other => other.to_string(),
    };
    error_page(status, &message)
}

fn asset(content_type: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Body::Text(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

static STYLESHEET: LazyLock<String> =
    LazyLock::new(|| format!("{}\n{PORTAL_STYLE}", crate::render::STYLE));

/// `/static/portal.css`: the one stylesheet of the portal and the
/// partner dashboard.
pub fn stylesheet() -> Response<Body> {
    asset("text/css; charset=utf-8", STYLESHEET.clone())
}

/// `/static/portal.js`: copy buttons (progressive enhancement).
pub fn script() -> Response<Body> {
    asset("text/javascript; charset=utf-8", SCRIPT.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrome() -> Chrome {
        Chrome {
            who: "<b>pam@x.io</b>".into(),
            admin: true,
            csrf: "c".into(),
            synced_at: None,
        }
    }

    #[test]
    fn pages_render_and_escape() {
        let html = render(
            "home.html",
            Some(&chrome()),
            context! {
                kpi => serde_json::json!({"active_partners": 3}),
                by_tier => vec![serde_json::json!({"key": "<i>x</i>", "partners": 1})],
                by_region => Vec::<Value>::new(),
                by_owner => Vec::<Value>::new(),
                below => vec![serde_json::json!({"partner_id": "p1", "name": "<script>x</script>", "gap": 2})],
                below_total => 1,
                expiring => Vec::<Value>::new(),
                tasks => vec![serde_json::json!({"task": "lms-users", "last": {"status": "succeeded", "mode": "full", "started_at": "2026-12-01T00:00:00Z", "finished_at": null}})],
            },
        )
        .unwrap();
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>x"));
        assert!(html.contains("&lt;b&gt;pam@x.io") && html.contains("&lt;i&gt;x"));
        assert!(html.contains(r#"href="/static/portal.css""#));
        assert!(!html.contains("<script>"), "no inline script");
    }

    #[test]
    fn people_person_and_mail_pages_render_and_escape() {
        let evil = "<img src=x onerror=alert(1)>";
        let people = render(
            "people.html",
            Some(&chrome()),
            context! {
                q => evil, searched => true, too_long => false, min => 2, max => 100,
                users => vec![serde_json::json!({"id": "u1", "name": evil, "email": "a@b.io", "active": true})],
                contacts => vec![serde_json::json!({"name": evil, "email": "c@d.io", "partner_id": "p1", "partner_name": evil, "active": true, "lms_user_id": null})],
                more_users => false, more_contacts => false,
            },
        )
        .unwrap();
        let person = render(
            "person.html",
            Some(&chrome()),
            context! {
                user => serde_json::json!({"id": "u1", "name": evil, "email": "a@b.io", "active": true}),
                partners => vec![serde_json::json!({"id": "p1", "name": evil, "via": "group"})],
                groups => Vec::<Value>::new(), contacts => Vec::<Value>::new(),
                certs => vec![serde_json::json!({"course_id": "c1", "course_name": evil, "npcu": 2, "status": "active", "manual": true})],
                reminders => vec![serde_json::json!({"course_name": evil, "stage": 30, "state": "sent", "error": evil})],
                opted_out => false, stages => vec![30, 60, 90],
            },
        )
        .unwrap();
        let mail = render(
            "mail.html",
            Some(&chrome()),
            context! { jobs => vec![serde_json::json!({"task": "reminders", "title": "Reminders", "runs": [
                {"run_id": "r1", "started_at": "2026-12-01T06:00:00Z", "status": "failed", "error": evil, "due": 3, "sent": 1,
                 "emails_sent": 1, "emails_failed": 0, "skipped_list": [{"reason": "opted out", "count": 2}]}]})] },
        )
        .unwrap();
        for html in [&people, &person, &mail] {
            assert!(!html.contains("<img"), "escaped");
            assert!(html.contains("&lt;img"));
        }
        assert!(mail.contains("opted out: 2"));
        assert!(person.contains("30, 60, 90 days"));
    }
}
