//! Lambda `reports`: the HTTP API (reports, exports, partner dashboards,
//! admin operations). [`handle`] is a pure function of ([`AppState`],
//! request), so the Lambda (`main.rs`) and the local dev server
//! ([`local::serve`]) run exactly the same code.
//!
//! | module | job |
//! |---|---|
//! | [`routes`] | path → handler, report routes |
//! | [`paged`] | row reports paged in DynamoDB by cursor |
//! | [`admin`] | task status/run/reset, tokens, awards, group pins |
//! | [`programs`] | certification definitions and manual statuses (admin) |
//! | [`auth`] | bearer/`?token=` → [`Grant`] |
//! | [`http`] | responses, headers, errors |
//! | [`boxed`] | handler futures boxed off the routers' stack frames |
//! | [`render`] | the dashboard HTML (minijinja, auto-escaped) |
//! | [`chart`] | the dashboard's NPCU chart (server-side SVG) |
//! | [`export`] | CSV / XLSX encoding of report rows |
//! | [`forecast`] | the tier-at-risk report's reads, a partner's forecast |
//! | [`history`] | a partner's daily history |
//! | [`hooks`] | the Northpass webhook endpoint (dedupe, enqueue) |
//! | [`refresh`] | one partner's summary after an admin change (the shared recompute) |
//! | [`runner`] | "run now": async Lambda invoke or in-process |
//! | [`local`] | hyper/axum adapter for the dev runner and tests |
//! | [`web`] | the portal's pages for PAMs and admins (sign-in, reports, admin) |

use std::sync::Arc;

use portal_core::access::token_hash;
use portal_core::clock::Clock;
use portal_core::config::{Config, Secret, SecretRef};
use portal_core::mail::Mailer;
use portal_core::model::{CategoryMap, TierRequirements};
use portal_core::store::Store;

pub mod admin;
pub mod audit;
pub mod auth;
pub mod boxed;
pub mod cert_rows;
pub mod chart;
pub mod dashboards;
pub mod export;
pub mod forecast;
pub mod history;
pub mod hooks;
pub mod http;
pub mod local;
pub mod offload;
pub mod paged;
pub mod programs;
pub mod recert;
pub mod refresh;
pub mod render;
pub mod routes;
pub mod runner;
pub mod scope;
pub mod trend_chart;
pub mod trends;
pub mod web;

pub use portal_core::access::Grant;
pub use runner::{FnRunner, NoRunner, RunMode, RunnerError, StateMachineRunner, TaskRunner};

/// Everything a request needs; built once per Lambda container.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Clock,
    pub warning_days: u32,
    pub tiers: TierRequirements,
    pub categories: CategoryMap,
    pub default_validity_months: u32,
    /// Base of links in reports (`PORTAL_PUBLIC_BASE_URL`); when `None`
    /// links are built from the request's Host (the API's own URL cannot be
    /// configured on itself without a template cycle).
    pub public_base_url: Option<String>,
    /// SHA-256 hex of the configured admin token: the plaintext is dropped
    /// as soon as the state is built.
    pub admin_token_hash: Option<String>,
    /// Key deriving partner links (`PORTAL_LINK_KEY`).
    pub link_key: Option<Secret>,
    /// Key signing unsubscribe links (`PORTAL_UNSUBSCRIBE_KEY`).
    pub unsubscribe_key: Option<Secret>,
    pub runner: Arc<dyn TaskRunner>,
    /// Lifetime of a PAM token created without `expires_at`
    /// (`PORTAL_PAM_TOKEN_DAYS`).
    pub pam_token_days: u32,
    /// Where exports too large for a Lambda response go; `None` answers
    /// every export inline (local servers, which have no such limit).
    pub offload: Option<offload::Offload>,
    /// Addresses that may sign in as admins by e-mail (`PORTAL_ADMIN_EMAILS`).
    pub admin_emails: Vec<String>,
    /// Sends sign-in links; `None` turns e-mail sign-in off (token only).
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Reminder stages (days before expiry, 0 = expired notice) whose
    /// claims a person's reminder history looks up
    /// (`PORTAL_REMINDER_THRESHOLDS`, `PORTAL_REMINDER_EXPIRED_NOTICE`).
    pub reminder_stages: Vec<u32>,
    /// The Northpass webhook endpoint; `None` = off (404).
    pub hooks: Option<Arc<hooks::Hooks>>,
}

impl AppState {
    /// State from the typed configuration. Secrets given by value are used
    /// directly; ARN references must be resolved by the caller (`main.rs`
    /// reads Secrets Manager) and set with the `with_*` methods. The runner
    /// defaults to "not configured".
    pub fn new(config: &Config, store: Store) -> AppState {
        let value = |r: &Option<SecretRef>| match r {
            Some(SecretRef::Value(s)) => Some(s.clone()),
            _ => None,
        };
        AppState {
            store,
            clock: config.clock,
            warning_days: config.warning_days,
            tiers: config.tiers.clone(),
            categories: config.categories.clone(),
            default_validity_months: config.default_validity_months,
            public_base_url: config.public_base_url.clone(),
            admin_token_hash: value(&config.admin_token).map(|s| token_hash(s.expose())),
            link_key: value(&config.link_key),
            unsubscribe_key: value(&config.unsubscribe_key),
            runner: Arc::new(NoRunner),
            pam_token_days: config.pam_token_days,
            offload: None,
            admin_emails: config.admin_emails.clone(),
            mailer: None,
            reminder_stages: {
                let mut s: Vec<u32> = config.reminder_thresholds.clone();
                if config.reminder_expired_notice {
                    s.push(0);
                }
                s.sort_unstable();
                s.dedup();
                s
            },
            hooks: None,
        }
    }

    pub fn with_admin_token(mut self, token: &str) -> Self {
        self.admin_token_hash = Some(token_hash(token));
        self
    }
    pub fn with_link_key(mut self, key: Secret) -> Self {
        self.link_key = Some(key);
        self
    }
    pub fn with_unsubscribe_key(mut self, key: Secret) -> Self {
        self.unsubscribe_key = Some(key);
        self
    }
    pub fn with_runner(mut self, runner: Arc<dyn TaskRunner>) -> Self {
        self.runner = runner;
        self
    }
    pub fn with_offload(mut self, offload: offload::Offload) -> Self {
        self.offload = Some(offload);
        self
    }
    pub fn with_hooks(mut self, hooks: hooks::Hooks) -> Self {
        self.hooks = Some(Arc::new(hooks));
        self
    }
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }
}

pub use routes::handle;
