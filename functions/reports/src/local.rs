//! Local HTTP server for the dev runner and tests: hyper (through axum)
//! receives the request, it becomes a `lambda_http::Request`, and the very
//! same [`crate::handle`] the Lambda runs answers it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use lambda_http::Body;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::AppState;

/// Largest accepted request body (admin JSON bodies are tiny).
const MAX_BODY: usize = 1 << 20;

/// A running local server.
pub struct LocalServer {
    pub addr: SocketAddr,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl LocalServer {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn adapter(
    State(state): State<Arc<AppState>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let mut r =
                axum::response::Response::new(axum::body::Body::from("request body too large"));
            *r.status_mut() = axum::http::StatusCode::PAYLOAD_TOO_LARGE;
            return r;
        }
    };
    // API Gateway hands text bodies over as text; mirror that.
    let body = if bytes.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(s) => Body::Text(s),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    let lreq = lambda_http::Request::from_parts(parts, body);
    let resp = match crate::handle(&state, lreq).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "handler failed");
            let mut r = lambda_http::Response::new(Body::from("internal error"));
            *r.status_mut() = lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    };
    let (parts, body) = resp.into_parts();
    let bytes: Vec<u8> = body.as_ref().to_vec();
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Every path to the Lambda handler; the dev runner merges its own pages
/// into this router so one port serves both.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .fallback(adapter)
        .with_state(Arc::new(state))
}

/// Binds `addr` (use port 0 for a random one) and serves in the background.
pub async fn spawn(state: AppState, addr: SocketAddr) -> std::io::Result<LocalServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = router(state);
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(LocalServer { addr, task })
}

/// Serves until the process ends (the dev runner's foreground mode).
pub async fn serve(state: AppState, addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "reports API listening");
    axum::serve(listener, router(state)).await
}
