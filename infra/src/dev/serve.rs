//! The dev HTTP server: every request goes to `portal_reports::handle` —
//! the very function the `reports` Lambda runs — through
//! `portal_reports::local::router`, plus two dev-only pages on the same
//! port (so the one URL printed at start-up leads to everything):
//! `/dev/mail` (the reminder e-mails moto accepted) and `/dev/mail/{n}`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use portal_reports::AppState;
use tokio::net::TcpListener;

use crate::emulator::{Emulator, SentEmail};

#[derive(Clone)]
struct Dev {
    emulator: Arc<Emulator>,
}

/// The router: dev pages first, everything else to the Lambda handler.
pub fn router(app: AppState, emulator: Arc<Emulator>) -> Router {
    Router::new()
        .route("/dev/mail", get(mail_list))
        .route("/dev/mail/{n}", get(mail_one))
        .with_state(Dev { emulator })
        .merge(portal_reports::local::router(app))
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// `127.0.0.1:port` (0 = any free port).
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

async fn mail_list(State(dev): State<Dev>) -> Response {
    let mails = match dev.emulator.sent_emails().await {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("emulator: {e}")).into_response(),
    };
    Html(render_list(&mails, dev.emulator.endpoint())).into_response()
}

async fn mail_one(State(dev): State<Dev>, Path(n): Path<usize>) -> Response {
    let mails = match dev.emulator.sent_emails().await {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("emulator: {e}")).into_response(),
    };
    let Some(m) = n.checked_sub(1).and_then(|i| mails.get(i)) else {
        return (StatusCode::NOT_FOUND, "no such message").into_response();
    };
    let mut resp = Html(format!(
        "<!doctype html><meta charset=utf-8><title>{subject}</title>\
         <p><a href=\"/dev/mail\">&larr; all mail</a></p>\
         <p><b>From:</b> {from}<br><b>To:</b> {to}<br><b>Subject:</b> {subject}</p><hr>{body}",
        subject = esc(&m.subject),
        from = esc(&m.source),
        to = esc(&m.to.join(", ")),
        // The body is the portal's own HTML mail (template-escaped); the
        // sandbox CSP below keeps any script in it inert all the same.
        body = m.body,
    ))
    .into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    resp
}

fn render_list(mails: &[SentEmail], emulator: &str) -> String {
    let mut s = String::from(
        "<!doctype html><meta charset=utf-8><title>Reminder e-mails (local)</title>\
         <style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left}\
         tr:nth-child(even){background:#f3f3f3}</style>",
    );
    let _ = write!(
        s,
        "<h1>{} e-mail(s) accepted by the local SES</h1>\
         <p>Raw data: <a href=\"{e}/moto-api/data.json\">{e}/moto-api/data.json</a></p>\
         <table><tr><th>#</th><th>To</th><th>Subject</th></tr>",
        mails.len(),
        e = esc(emulator)
    );
    for (i, m) in mails.iter().enumerate() {
        let _ = write!(
            s,
            "<tr><td>{n}</td><td>{to}</td><td><a href=\"/dev/mail/{n}\">{subject}</a></td></tr>",
            n = i + 1,
            to = esc(&m.to.join(", ")),
            subject = esc(&m.subject),
        );
    }
    s.push_str("</table>");
    s
}

/// Minimal HTML escaping for text placed in element content/attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_escapes_what_it_shows() {
        let m = SentEmail {
            id: "1".into(),
            source: "a@b".into(),
            to: vec!["x@y.io".into()],
            cc: vec![],
            bcc: vec![],
            subject: "<script>alert(1)</script>".into(),
            body: String::new(),
            raw: serde_json::Value::Null,
        };
        let html = render_list(&[m], "http://127.0.0.1:1");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("href=\"/dev/mail/1\""));
    }
}
