//! `POST /hooks/northpass/{secret}`: Northpass webhooks in, one SQS message
//! per new event out (the sync consumes the queue: functions/sync/src/hooks.rs).
//!
//! Northpass retries a failed delivery hourly for 24 hours and then
//! disables *every* subscription (docs/source-contract.md), so this
//! endpoint answers fast and answers 2xx to everything it merely dislikes:
//!
//! - wrong or missing path secret (current or, during a rotation, the
//!   previous one; compared in constant time): 404, like any unknown path;
//! - a body that is not an event (`sources::northpass::hooks`): logged
//!   (reason only, never the body), counted `rejected`, answered 200;
//! - an event type the portal does not act on: counted `ignored`, 200;
//! - a redelivered event id (conditional put of a TTL'd item): counted
//!   `duplicates`, 200, nothing enqueued;
//! - a new event: enqueued, counted `received`, 202.
//!
//! Only when the store or the queue fails is the answer 503, after the
//! event id is released again, so Northpass' redelivery gets through.

use std::time::{Duration, Instant};

use lambda_http::http::StatusCode;
use lambda_http::Request;
use portal_core::access::{constant_time_eq, token_hash};
use portal_core::config::{Secret, SecretRef};
use portal_core::secrets::Secrets;
use portal_core::sources::northpass::hooks::{parse_hook, HookEvent, HookKind};
use portal_core::store::hooks::HookCounter;
use portal_core::store::Store;
use serde_json::json;
use tokio::sync::RwLock;

use crate::auth::{authenticate, require_admin, TokenIn};
use crate::http::{self, query_pairs, ApiError, ApiResult};
use crate::AppState;

/// A secret fetched by ARN is fetched again at most this often, and only
/// when a presented secret matches neither cached value: a warm container
/// learns of a rotation within this time.
const REFRESH_AFTER: Duration = Duration::from_secs(300);

/// The accepted path secrets, by their SHA-256 (the plaintext is not kept).
struct Accepted {
    hashes: Vec<String>,
    fetched: Instant,
}

/// The path secret, current and previous.
pub struct HookSecrets {
    source: Option<(Secrets, SecretRef)>,
    accepted: RwLock<Accepted>,
}

fn hashes(current: &Secret, previous: Option<&Secret>) -> Vec<String> {
    std::iter::once(current)
        .chain(previous)
        .map(|s| token_hash(s.expose()))
        .collect()
}

impl HookSecrets {
    /// Fixed values (local runs, tests; or already resolved).
    pub fn fixed(current: &Secret, previous: Option<&Secret>) -> HookSecrets {
        HookSecrets {
            source: None,
            accepted: RwLock::new(Accepted {
                hashes: hashes(current, previous),
                fetched: Instant::now(),
            }),
        }
    }

    /// Resolved now (cold start) and again after a rotation; see
    /// [`REFRESH_AFTER`].
    pub async fn resolve(
        secrets: Secrets,
        secret: SecretRef,
        previous: Option<&Secret>,
    ) -> Result<HookSecrets, portal_core::secrets::SecretError> {
        let (cur, prev) = secrets.resolve_rotating(&secret, previous).await?;
        let refresh = matches!(secret, SecretRef::SecretArn(_));
        Ok(HookSecrets {
            source: refresh.then_some((secrets, secret)),
            accepted: RwLock::new(Accepted {
                hashes: hashes(&cur, prev.as_ref()),
                fetched: Instant::now(),
            }),
        })
    }

    /// Whether `presented` is an accepted secret. Every accepted hash is
    /// compared (no early exit), each in constant time.
    pub async fn matches(&self, presented: &str) -> bool {
        let presented = token_hash(presented);
        if self.check(&presented).await {
            return true;
        }
        let Some((secrets, secret)) = &self.source else {
            return false;
        };
        let mut accepted = self.accepted.write().await;
        if accepted.fetched.elapsed() < REFRESH_AFTER {
            return false;
        }
        accepted.fetched = Instant::now();
        match secrets.resolve_rotating(secret, None).await {
            Ok((cur, prev)) => accepted.hashes = hashes(&cur, prev.as_ref()),
            Err(e) => {
                tracing::warn!(error = %e, "webhook secret refresh failed; keeping the cached one")
            }
        }
        drop(accepted);
        self.check(&presented).await
    }

    async fn check(&self, presented_hash: &str) -> bool {
        let accepted = self.accepted.read().await;
        accepted.hashes.iter().fold(false, |any, h| {
            constant_time_eq(h.as_bytes(), presented_hash.as_bytes()) | any
        })
    }
}

/// Where new events go.
#[derive(Clone, Debug)]
pub struct HookQueue {
    pub client: aws_sdk_sqs::Client,
    pub url: String,
}

impl HookQueue {
    pub fn from_sdk_config(config: &aws_config::SdkConfig, url: String) -> HookQueue {
        HookQueue {
            client: aws_sdk_sqs::Client::new(config),
            url,
        }
    }

    /// Messages waiting (visible) and being processed (in flight).
    async fn depth(&self) -> Result<(u64, u64), String> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())?;
        let get = |a: A| {
            out.attributes()
                .and_then(|m| m.get(&a))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((
            get(A::ApproximateNumberOfMessages),
            get(A::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    async fn send(&self, ev: &HookEvent) -> Result<(), String> {
        let body = serde_json::to_string(ev).map_err(|e| e.to_string())?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())?;
        Ok(())
    }
}

/// The webhook endpoint's parts; `None` in [`AppState`] = endpoint off.
pub struct Hooks {
    pub secrets: HookSecrets,
    pub queue: HookQueue,
}

/// Adds to a counter; a failed count is logged, never the request's
/// failure (the event itself was handled).
async fn count(store: &Store, c: HookCounter) {
    if let Err(e) = store.count_hook(c, 1).await {
        tracing::warn!(counter = ?c, error = %e, "webhook counter not updated");
    }
}

fn answer(status: StatusCode, outcome: &str) -> ApiResult {
    Ok(http::json(status, &json!({ "status": outcome })))
}

pub async fn receive(state: &AppState, req: &Request, presented: &str) -> ApiResult {
    let Some(hooks) = state.hooks.as_deref() else {
        return Err(ApiError::NotFound);
    };
    if !hooks.secrets.matches(presented).await {
        return Err(ApiError::NotFound);
    }
    let store = &state.store;
    let ev = match parse_hook(req.body().as_ref()) {
        Ok(ev) => ev,
        Err(e) => {
            // The reason only: the body holds personal data.
            tracing::warn!(reason = e.reason(), error = %e, "webhook payload rejected");
            count(store, HookCounter::Rejected).await;
            return answer(StatusCode::OK, "rejected");
        }
    };
    if ev.kind == HookKind::Other {
        tracing::info!(event_type = %ev.event_type, "webhook event type ignored");
        count(store, HookCounter::Ignored).await;
        return answer(StatusCode::OK, "ignored");
    }
    let now = state.clock.now();
    let new = store
        .claim_hook_event(&ev.event_id, &ev.event_type, now)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "webhook event not recorded");
            ApiError::Unavailable("try again later".into())
        })?;
    if !new {
        tracing::info!(event_id = %ev.event_id, "webhook event redelivered; no-op");
        count(store, HookCounter::Duplicates).await;
        return answer(StatusCode::OK, "duplicate");
    }
    if let Err(e) = hooks.queue.send(&ev).await {
        tracing::error!(event_id = %ev.event_id, error = %e, "webhook event not enqueued");
        if let Err(e) = store.release_hook_event(&ev.event_id).await {
            tracing::error!(event_id = %ev.event_id, error = %e, "webhook event not released; its redelivery will count as a duplicate");
        }
        return Err(ApiError::Unavailable("try again later".into()));
    }
    tracing::info!(event_id = %ev.event_id, kind = ev.kind.as_str(), "webhook event enqueued");
    count(store, HookCounter::Received).await;
    answer(StatusCode::ACCEPTED, "accepted")
}

/// `GET /api/admin/hooks` (admin): the webhook counters and the queue's
/// depth (`null` when the endpoint is off or the queue cannot be read).
pub async fn status(state: &AppState, req: &Request) -> ApiResult {
    let grant = authenticate(state, req, &query_pairs(req), TokenIn::Header).await?;
    require_admin(&grant)?;
    Ok(http::json(StatusCode::OK, &overview(state).await?))
}

/// Whether webhooks are on, their counters and the queue's depth: the body
/// of `GET /api/admin/hooks` and the webhook card of the sync dashboard
/// (`web/admin.rs`). The caller checks the admin grant.
pub async fn overview(state: &AppState) -> Result<serde_json::Value, ApiError> {
    let counters = state.store.hook_counters().await?;
    let depth = match state.hooks.as_deref() {
        Some(h) => match h.queue.depth().await {
            Ok((waiting, in_flight)) => json!({"waiting": waiting, "in_flight": in_flight}),
            Err(e) => {
                tracing::warn!(error = %e, "webhook queue depth not read");
                serde_json::Value::Null
            }
        },
        None => serde_json::Value::Null,
    };
    Ok(json!({
        "enabled": state.hooks.is_some(),
        "counters": counters,
        "queue": depth,
    }))
}
