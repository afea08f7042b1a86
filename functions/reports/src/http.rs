//! Response building: JSON/HTML/file bodies, the security headers every
//! answer carries, and the error type every handler returns.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use portal_core::reports::ParamError;
use portal_core::store::StoreError;
use serde::Serialize;

/// A failed request. Messages are safe to show: internal details are
/// logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadParam(#[from] ParamError),
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("invalid or revoked token")]
    InvalidToken,
    /// Unknown *or* out of the caller's scope — the same answer, so a PAM
    /// cannot probe which partner ids exist.
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParam(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `{"error": "...", "parameter": "..."}` (parameter only for 400s
    /// about a query parameter).
    pub fn into_response(self) -> Response<Body> {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let mut body = serde_json::json!({ "error": self.to_string() });
        if let ApiError::BadParam(p) = &self {
            body["parameter"] = serde_json::Value::String(p.param.clone());
        }
        let mut r = json(self.status(), &body);
        if matches!(self, ApiError::Unauthorized | ApiError::InvalidToken) {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"portal\""),
            );
        }
        r
    }
}

pub type ApiResult = Result<Response<Body>, ApiError>;

/// Headers on every answer: reports hold personal data and URLs may carry
/// tokens, so nothing is cached and no Referer leaks a link to other sites.
pub fn secure(mut r: Response<Body>) -> Response<Body> {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// HSTS on every answer to a request that came over HTTPS (API Gateway
/// serves only HTTPS and says so in `X-Forwarded-Proto`): browsers then
/// never try the portal over plain HTTP, where a token could be read. Not
/// on plain-HTTP answers (local runs), where the header means nothing.
pub fn hsts(mut r: Response<Body>, req: &lambda_http::Request) -> Response<Body> {
    if is_https(req) {
        r.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    r
}

/// Whether the client reached us over HTTPS: the first proxy's
/// `X-Forwarded-Proto`, else the request URI's scheme.
pub fn is_https(req: &lambda_http::Request) -> bool {
    match req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some(p) => p
            .split(',')
            .next()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")),
        None => req.uri().scheme_str() == Some("https"),
    }
}

/// 400 for a query parameter given more than once: which value counts
/// would be a guess (`mode=full&mode=incremental`).
pub fn reject_duplicates(pairs: &[(String, String)]) -> Result<(), ApiError> {
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(e, _)| e == k) {
            return Err(ParamError::new(k, "given more than once").into());
        }
    }
    Ok(())
}

fn build(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(s) => build(status, "application/json", Body::Text(s)),
        Err(e) => {
            tracing::error!(error = %e, "JSON encoding failed");
            build(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                Body::Text(r#"{"error":"internal error"}"#.into()),
            )
        }
    }
}

/// An HTML page. The CSP allows inline styles only — no script can run
/// even if escaping were ever bypassed.
pub fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut r = build(status, "text/html; charset=utf-8", Body::Text(page));
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

/// A download (`Content-Disposition: attachment`).
pub fn file(content_type: &str, filename: &str, bytes: Vec<u8>) -> Response<Body> {
    let body = if content_type.starts_with("text/") {
        match String::from_utf8(bytes) {
            Ok(s) => Body::Text(s),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    } else {
        Body::Binary(bytes)
    };
    let mut r = build(StatusCode::OK, content_type, body);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// Decoded query pairs of a request, in order.
pub fn query_pairs(req: &lambda_http::Request) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The request body as JSON of type `T`: 415 unless the body is declared
/// `Content-Type: application/json` (a form post from another site cannot
/// declare it without a CORS preflight), 400 saying what is wrong with it.
pub fn json_body<T: serde::de::DeserializeOwned>(
    req: &lambda_http::Request,
) -> Result<T, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if declared.as_deref() != Some("application/json") {
        return Err(ApiError::UnsupportedMediaType(
            "the body must be JSON, sent with 'Content-Type: application/json'".into(),
        ));
    }
    let bytes: &[u8] = req.body().as_ref();
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// Base URL for links: the configured one, else the request's Host
/// (`http` for localhost, `https` otherwise — API Gateway is HTTPS only).
pub fn base_url(configured: Option<&str>, req: &lambda_http::Request) -> String {
    if let Some(b) = configured {
        return b.trim_end_matches('/').to_string();
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let proto = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or(
            if host.starts_with("127.0.0.1") || host.starts_with("localhost") {
                "http"
            } else {
                "https"
            },
        );
    format!("{proto}://{host}")
}
