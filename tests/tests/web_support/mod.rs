//! Shared set-up of the web portal tests: the `small` data set synced into
//! the emulator, the reports function served locally (the same handler as
//! the Lambda) with sign-in mail going to the emulator's SES, and a
//! headless Chromium driven over WebDriver (Debian's chromedriver) for
//! clicks and form posts.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use portal_core::mail::SesMailer;
use portal_core::model::PartnerSummary;
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_infra::emulator::SentEmail;
use portal_reports::local::{spawn, LocalServer};
use portal_reports::{AppState, FnRunner, RunMode};
use portal_sync::{Mode, TaskName};
use serde_json::{json, Value};

pub const ADMIN: &str = "web-admin-token-0123456789abcdef";
pub const SENDER: &str = "portal@web.test";

pub struct World {
    pub env: TestEnv,
    pub server: LocalServer,
    pub http: reqwest::Client,
    /// The address configured as an admin (`PORTAL_ADMIN_EMAILS`).
    pub admin_email: String,
    /// Tasks the in-process runner was asked to start.
    pub runs: Arc<Mutex<Vec<(String, RunMode)>>>,
}

pub async fn world() -> World {
    world_with(true).await
}

/// The world with (`synced`) or without the data set in the table (tests
/// of sign-in mechanics need only the configured admin address).
pub async fn world_with(synced: bool) -> World {
    let env = TestEnv::start(TestEnvOptions::default())
        .await
        .expect("test env");
    if synced {
        env.sync_all(Mode::Full).await;
    }
    let runs: Arc<Mutex<Vec<(String, RunMode)>>> = Arc::default();
    let deps = env.deps.clone();
    let seen = runs.clone();
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
            portal_sync::run_to_completion(&deps, task, mode, None).await;
            Ok(())
        })
    });
    let ses = SesMailer::from_sdk_config(&env.emulator.sdk_config().await, SENDER)
        .rate_per_second(0.0)
        .build();
    ses.ensure_identity().await.expect("sender identity");
    // Unique per test: the emulator's outbox is shared by the process.
    let admin_email = format!("admin-{}@web.test", env.table.to_lowercase());
    // The link key is the environment's (`PORTAL_LINK_KEY`), the one the
    // sync's CRM push issued the partners' links with.
    let mut state = AppState::new(&env.config, env.store.clone())
        .with_admin_token(ADMIN)
        .with_runner(Arc::new(runner))
        .with_mailer(Arc::new(ses));
    state.admin_emails = vec![admin_email.clone()];
    let server = spawn(state, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("server");
    World {
        env,
        server,
        // Redirects are asserted, not followed (sign-in answers 303).
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        admin_email,
        runs,
    }
}

impl World {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// GET as admin (bearer), expecting 200 JSON.
    pub async fn admin_json(&self, path: &str) -> Value {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// A request carrying `cookie` as the session cookie.
    pub fn with_session(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("cookie", format!("portal_session={cookie}"))
    }

    pub async fn summaries(&self) -> Vec<PartnerSummary> {
        let mut s: Vec<PartnerSummary> = self.env.store.all_summaries().await.unwrap();
        s.retain(|s| s.tracked);
        s
    }

    /// Creates a PAM token through the API; returns (id, token).
    pub async fn pam_token(&self, email: &str) -> (String, String) {
        let r = self
            .http
            .post(self.url("/api/admin/tokens"))
            .bearer_auth(ADMIN)
            .json(&json!({"kind": "pam", "owner_email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        (
            v["id"].as_str().unwrap().to_string(),
            v["token"].as_str().unwrap().to_string(),
        )
    }

    /// Mail the emulator's SES received for `to`, oldest first.
    pub async fn mail_to(&self, to: &str) -> Vec<SentEmail> {
        self.env
            .emulator
            .sent_emails()
            .await
            .expect("outbox")
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// A PAM with at least one partner, and a partner owned by someone
    /// else: (pam e-mail, own partner, other partner).
    pub async fn pam_and_other(&self) -> (String, PartnerSummary, PartnerSummary) {
        let sums = self.summaries().await;
        let own = sums
            .iter()
            .find(|s| s.owner_email.is_some())
            .expect("owned partner")
            .clone();
        let pam = own.owner_email.clone().unwrap().to_lowercase();
        let other = sums
            .iter()
            .find(|s| {
                s.owner_email
                    .as_deref()
                    .is_none_or(|o| !o.eq_ignore_ascii_case(&pam))
            })
            .expect("another partner")
            .clone();
        (pam, own, other)
    }
}

/// The path of the first sign-in link in a mail body.
pub fn sign_in_path(body: &str) -> Option<String> {
    // The HTML part escapes `/` (minijinja); the text part does not.
    let body = body.replace("&#x2f;", "/");
    let i = body.find("/login/link/")?;
    let rest = &body[i..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Headless Chromium behind its own chromedriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    base: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    pub async fn start(base: &str) -> Browser {
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install -y chromium-driver)");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         "--window-size=1200,1600"],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Browser {
                        client,
                        driver,
                        base: base.trim_end_matches('/').to_string(),
                    }
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last:?}");
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigate");
    }

    /// Path and query of the page shown.
    pub async fn location(&self) -> String {
        let u = self.client.current_url().await.expect("url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Clicks a link or submit button and waits until the next page has
    /// loaded: WebDriver's click returns before a form's navigation ends, so
    /// reading the page straight after it could read the old one on a busy
    /// machine. Every click in these tests navigates.
    pub async fn click(&self, css: &str) {
        let old = self
            .client
            .find(Locator::Css("html"))
            .await
            .expect("the page has a document");
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
        for _ in 0..1200 {
            if old.tag_name().await.is_err() {
                let state = self
                    .client
                    .execute("return document.readyState", vec![])
                    .await
                    .ok();
                if state.as_ref().and_then(|v| v.as_str()) == Some("complete") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} did not load a new page");
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .attr(name)
            .await
            .expect("attribute")
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .len()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.expect("source")
    }

    /// The session cookie's value, if signed in.
    pub async fn session_cookie(&self) -> Option<String> {
        self.client
            .get_named_cookie("portal_session")
            .await
            .ok()
            .map(|c| c.value().to_string())
    }

    pub async fn forget_cookies(&self) {
        self.client.delete_all_cookies().await.expect("cookies");
    }

    /// Signs in through the token form.
    pub async fn sign_in_with_token(&self, token: &str) {
        self.goto("/").await;
        self.fill("#token", token).await;
        self.click("#token-sign-in").await;
        assert!(
            self.count("#logout").await == 1,
            "signed in: {}",
            self.source().await
        );
    }

    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}
