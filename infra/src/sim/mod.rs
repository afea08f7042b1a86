//! Simulators of the two source systems (Northpass LMS, Impartner PRM) that
//! speak the wire format of `docs/source-contract.md`, serve a
//! [`Dataset`](crate::datagen::Dataset), inject reproducible faults, count
//! requests, and accept mutations between syncs.
//!
//! Both servers share one [`World`](world::World) behind a mutex: a mutation
//! made through either control endpoint (or the library) is visible to both,
//! like an account renamed in the CRM while the LMS keeps running.

mod control;
mod errors;
mod faults;
mod filter;
mod impartner;
mod middleware;
mod mutation;
mod northpass;
mod state;
mod webhooks;
mod world;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::datagen::Dataset;

pub use faults::{FaultAction, FaultScript, ScriptedFault};
pub use mutation::{Mutation, MutationOutcome};
pub use state::{ServerStats, SimStats};
pub use webhooks::{WebhookOptions, WebhookStats};

/// Key/tenant the CLI and [`SimConfig::new`] use unless told otherwise.
pub const DEFAULT_NORTHPASS_KEY: &str = "np-sim-key";
pub const DEFAULT_IMPARTNER_KEY: &str = "prm-sim-key";
pub const DEFAULT_IMPARTNER_TENANT: &str = "sim-tenant";

/// Which simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Server {
    Northpass,
    Impartner,
}

/// Faults and limits of one server. `Default` is an ideal server (no latency,
/// no limit, no faults) so tests of other crates run fast; use
/// [`ServerOptions::northpass_realistic`] for the documented 10 req/s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerOptions {
    /// Fixed latency added to every API request.
    #[serde(with = "duration_ms")]
    pub latency: Duration,
    /// Uniform random extra latency in `0..jitter`.
    #[serde(with = "duration_ms")]
    pub jitter: Duration,
    /// Token-bucket refill rate in requests/second; `None` = unlimited.
    pub rate_limit: Option<f64>,
    /// Bucket capacity (requests that may arrive back to back); 0 is read as 1.
    pub burst: u32,
    /// Probability of answering 500/502/503 instead of the real answer.
    pub p_5xx: f64,
    /// Probability of cutting the (real) body in half: unparseable JSON.
    pub p_malformed: f64,
    /// Probability of stalling for `hang` before answering 504.
    pub p_hang: f64,
    #[serde(with = "duration_ms")]
    pub hang: Duration,
    /// Seed of this server's fault RNG: the same request sequence meets the
    /// same faults.
    pub seed: u64,
    /// Impartner: serve record keys in the schema's PascalCase (`Id`,
    /// `Partner_Tier__cf`) instead of production's camelCase (`id`,
    /// `partner_Tier__cf`).
    pub pascal_case: bool,
    /// Impartner: answer a refused key with a 302 to the login page
    /// instead of 401.
    pub auth_redirect: bool,
    /// Impartner: schema fields this tenant does not have (e.g.
    /// `"PrimaryUserId"`); naming one in `fields=`, a filter or a PATCH
    /// fails as for any unknown field.
    pub missing_fields: Vec<String>,
    /// Northpass: answer 429 without `Retry-After` (the public docs do
    /// not promise one).
    pub omit_retry_after: bool,
    /// Northpass: `links.next` carries only `page`, dropping the `limit`
    /// and `filter[...]` of the request.
    pub next_drops_params: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            rate_limit: None,
            burst: 10,
            p_5xx: 0.0,
            p_malformed: 0.0,
            p_hang: 0.0,
            hang: Duration::from_secs(30),
            seed: 0,
            pascal_case: false,
            auth_redirect: false,
            missing_fields: Vec::new(),
            omit_retry_after: false,
            next_drops_params: false,
        }
    }
}

impl ServerOptions {
    /// "About 10 requests/second per key" (docs/source-contract.md), burst of 10.
    pub fn northpass_realistic() -> Self {
        ServerOptions {
            rate_limit: Some(10.0),
            burst: 10,
            ..Default::default()
        }
    }
}

/// Durations travel as integer milliseconds on the control endpoints
/// (`latency_ms`-style numbers are what shell scripts can write).
mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Everything needed to start both simulators.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub dataset: Dataset,
    pub northpass: ServerOptions,
    pub impartner: ServerOptions,
    pub northpass_key: String,
    pub impartner_key: String,
    pub impartner_tenant: String,
    /// 0 = pick a free port.
    pub northpass_port: u16,
    /// 0 = pick a free port.
    pub impartner_port: u16,
    /// Initial simulator clock (the instant mutations stamp into
    /// `updated_at`/`Updated`); `None` = the latest `updated_at` in the data
    /// set rounded up to the next midnight, i.e. the as-of instant.
    pub clock: Option<DateTime<Utc>>,
    /// Seed of the ids minted by mutations.
    pub seed: u64,
}

impl SimConfig {
    /// Default keys, ideal servers, random ports.
    pub fn new(dataset: Dataset) -> Self {
        SimConfig {
            dataset,
            northpass: ServerOptions::default(),
            impartner: ServerOptions::default(),
            northpass_key: DEFAULT_NORTHPASS_KEY.to_string(),
            impartner_key: DEFAULT_IMPARTNER_KEY.to_string(),
            impartner_tenant: DEFAULT_IMPARTNER_TENANT.to_string(),
            northpass_port: 0,
            impartner_port: 0,
            clock: None,
            seed: 0,
        }
    }
}

/// Errors of [`Sims::mutate`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SimError {
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid mutation: {0}")]
    Invalid(String),
}

/// Both simulators, running. Stopped on drop or by [`Sims::shutdown`].
pub struct Sims {
    shared: Arc<state::Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sims {
    /// Bind both servers on 127.0.0.1 and start serving.
    pub async fn start(cfg: SimConfig) -> std::io::Result<Sims> {
        let np = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], cfg.northpass_port))).await?;
        let prm = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], cfg.impartner_port))).await?;
        let np_url = format!("http://{}", np.local_addr()?);
        let prm_url = format!("http://{}", prm.local_addr()?);
        let shared = Arc::new(state::Shared::new(cfg, np_url, prm_url));
        let (stop, rx) = watch::channel(false);
        let np_app = northpass::router(shared.clone());
        let prm_app = impartner::router(shared.clone());
        let tasks = vec![
            spawn_server(np, np_app, rx.clone()),
            spawn_server(prm, prm_app, rx),
        ];
        tracing::info!(
            northpass = %shared.northpass.base_url,
            impartner = %shared.impartner.base_url,
            "simulators started"
        );
        Ok(Sims {
            shared,
            stop,
            tasks,
        })
    }

    /// Base URL of the Northpass simulator, e.g. `http://127.0.0.1:40123`.
    pub fn northpass_url(&self) -> String {
        self.shared.northpass.base_url.clone()
    }

    /// Base URL of the Impartner simulator.
    pub fn impartner_url(&self) -> String {
        self.shared.impartner.base_url.clone()
    }

    pub fn northpass_key(&self) -> String {
        self.shared.keys.northpass_key.clone()
    }

    pub fn impartner_key(&self) -> String {
        self.shared.keys.impartner_key.clone()
    }

    pub fn impartner_tenant(&self) -> String {
        self.shared.keys.impartner_tenant.clone()
    }

    /// Request counters of both servers since start or the last reset.
    pub fn stats(&self) -> SimStats {
        self.shared.stats()
    }

    pub fn reset_stats(&self) {
        self.shared.reset_stats()
    }

    /// Replace one server's faults/limit; takes effect on the next request
    /// (the token bucket starts full, the fault RNG restarts from `seed`).
    pub fn set_options(&self, server: Server, opts: ServerOptions) {
        self.shared.set_options(server, opts)
    }

    pub fn options(&self, server: Server) -> ServerOptions {
        self.shared
            .server(server)
            .faults
            .lock()
            .expect("faults lock")
            .options()
            .clone()
    }

    /// Change the data like a user of the real systems would; bumps
    /// `updated_at`/`Updated` of what changed to the simulator clock.
    pub fn mutate(&self, m: Mutation) -> Result<MutationOutcome, SimError> {
        self.shared.mutate(m)
    }

    /// Sends the Northpass webhooks of every later change to `opts.url`
    /// (`None` = stop); see [`WebhookOptions`].
    pub fn set_webhooks(&self, opts: Option<WebhookOptions>) {
        self.shared.webhooks.configure(opts)
    }

    /// Webhook deliveries so far.
    pub fn webhook_stats(&self) -> WebhookStats {
        self.shared.webhooks.stats()
    }

    /// The simulator clock: the instant set last, advancing in real time,
    /// truncated to whole seconds.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.world().now()
    }

    /// Set the simulator clock; it keeps advancing from there.
    pub fn set_clock(&self, at: DateTime<Utc>) {
        self.shared.world().set_clock(at)
    }

    /// A copy of the current data (after mutations and PATCHes).
    pub fn dataset_snapshot(&self) -> Dataset {
        self.shared.world().data.clone()
    }

    /// Stop both servers; in-flight requests (e.g. a hang) are cut after 1 s.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Sims {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn spawn_server(
    listener: TcpListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "simulator server failed");
        }
    })
}
