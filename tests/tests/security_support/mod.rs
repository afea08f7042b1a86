//! Shared set-up of the security tests: a few CRM accounts synced through
//! the real sync into the emulator, and the reports API on a random local
//! port with the *same* link key as the sync (so links the push issues
//! and links the admin API issues are one family, as in production).
#![allow(dead_code)]

use portal_core::config::Secret;
use portal_core::model::PartnerSummary;
use portal_core::store::TokenRecord;
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_reports::local::{spawn, LocalServer};
use portal_reports::AppState;
use portal_sync::Mode;
use reqwest::Method;
use serde_json::Value;

pub const ADMIN: &str = "security-admin-token-0123456789abcdef";
pub const UNSUB_KEY: &str = "security-unsub-key";

pub struct World {
    pub env: TestEnv,
    pub server: LocalServer,
    pub http: reqwest::Client,
}

pub async fn world(accounts: usize) -> World {
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(accounts),
        ..Default::default()
    })
    .await
    .expect("test env");
    env.sync_all(Mode::Full).await;
    let state = AppState::new(&env.config, env.store.clone())
        .with_admin_token(ADMIN)
        .with_unsubscribe_key(Secret::new(UNSUB_KEY));
    assert!(
        state.link_key.is_some(),
        "the harness configures a link key"
    );
    let server = spawn(state, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("server");
    World {
        env,
        server,
        http: reqwest::Client::new(),
    }
}

impl World {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        send(&self.http, &self.url(path), method, token, body).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn tracked(&self) -> Vec<PartnerSummary> {
        let mut s: Vec<PartnerSummary> = self.env.store.all_summaries().await.unwrap();
        s.retain(|s| s.tracked);
        s.sort_by(|a, b| a.partner_id.cmp(&b.partner_id));
        s
    }

    /// Live (not revoked) link records of a partner.
    pub async fn live_links(&self, partner_id: &str) -> Vec<TokenRecord> {
        let mut v: Vec<TokenRecord> = self
            .env
            .store
            .all_tokens()
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.scope.as_deref() == Some(partner_id) && !t.is_revoked())
            .filter(|t| t.id.starts_with("link-"))
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Creates a token through the API; returns the answer (201 asserted).
    pub async fn create_token(&self, body: Value) -> Value {
        let r = self
            .send(Method::POST, "/api/admin/tokens", Some(ADMIN), Some(body))
            .await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{v}");
        v
    }
}

pub async fn send(
    http: &reqwest::Client,
    url: &str,
    method: Method,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = http.request(method, url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.expect("request")
}
