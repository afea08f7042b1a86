//! Shared set-up of the reports tests: the `small` data set synced through
//! the real sync into the emulator, and the reports API served on a random
//! local port by the same handler the Lambda runs.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use portal_core::config::Secret;
use portal_core::model::PartnerSummary;
use portal_e2e::reference::Reference;
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_reports::local::{spawn, LocalServer};
use portal_reports::{AppState, FnRunner, RunMode};
use portal_sync::{Mode, TaskName};
use serde_json::Value;

pub const ADMIN: &str = "test-admin-token-0123456789abcdef";
pub const LINK_KEY: &str = "test-link-key";
pub const UNSUB_KEY: &str = "test-unsub-key";

pub struct World {
    pub env: TestEnv,
    pub server: LocalServer,
    pub http: reqwest::Client,
    /// The reference model of the synced data.
    pub reference: Reference,
    /// Tasks the in-process runner was asked to start.
    pub runs: Arc<Mutex<Vec<(String, RunMode)>>>,
}

pub async fn world() -> World {
    let env = TestEnv::start(TestEnvOptions::default())
        .await
        .expect("test env");
    env.sync_all(Mode::Full).await;
    let runs: Arc<Mutex<Vec<(String, RunMode)>>> = Arc::default();
    let deps = env.deps.clone();
    let seen = runs.clone();
    // "Run now" in-process through the real sync, as the dev runner does.
    let runner = FnRunner::new(move |task, mode| {
        seen.lock().unwrap().push((task.clone(), mode));
        let deps = deps.clone();
        Box::pin(async move {
            let task: TaskName =
                serde_json::from_value(Value::String(task)).map_err(|e| e.to_string())?;
            let mode = match mode {
                RunMode::Full => Mode::Full,
                RunMode::Incremental => Mode::Incremental,
            };
            // The summary is recorded as a run record; the caller only
            // needs to know the run was started.
            portal_sync::run_to_completion(&deps, task, mode, None).await;
            Ok(())
        })
    });
    let state = AppState::new(&env.config, env.store.clone())
        .with_admin_token(ADMIN)
        .with_link_key(Secret::new(LINK_KEY))
        .with_unsubscribe_key(Secret::new(UNSUB_KEY))
        .with_runner(Arc::new(runner));
    serve(env, state, runs).await
}

/// The reports API over `state`, on a random local port.
async fn serve(env: TestEnv, state: AppState, runs: Arc<Mutex<Vec<(String, RunMode)>>>) -> World {
    let server = spawn(state, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("server");
    let reference = env.reference();
    World {
        env,
        server,
        http: reqwest::Client::new(),
        reference,
        runs,
    }
}

/// The `small` data set cut to a few partners (a full sync in seconds),
/// synced, with the reports API served in-process (no task runner).
pub async fn small_world() -> World {
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(4),
        ..Default::default()
    })
    .await
    .expect("test env");
    env.sync_all(Mode::Full).await;
    let state = AppState::new(&env.config, env.store.clone())
        .with_admin_token(ADMIN)
        .with_link_key(Secret::new(LINK_KEY));
    serve(env, state, Arc::default()).await
}

impl World {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut r = self.http.get(self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().await.expect("request")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut r = self.http.request(method, self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.expect("request")
    }

    /// GET as admin, expecting 200 JSON.
    pub async fn admin_json(&self, path: &str) -> Value {
        let r = self.get(path, Some(ADMIN)).await;
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// Tracked summaries as stored by the sync.
    pub async fn summaries(&self) -> Vec<PartnerSummary> {
        let mut s: Vec<PartnerSummary> = self.env.store.all_summaries().await.unwrap();
        s.retain(|s| s.tracked);
        s
    }

    /// Creates a token through the API; returns (id, token, response body).
    pub async fn create_token(&self, body: Value) -> (String, String, Value) {
        let r = self
            .send(
                reqwest::Method::POST,
                "/api/admin/tokens",
                Some(ADMIN),
                Some(body),
            )
            .await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        (
            v["id"].as_str().unwrap().to_string(),
            v["token"].as_str().unwrap().to_string(),
            v,
        )
    }
}
