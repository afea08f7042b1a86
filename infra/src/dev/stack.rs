//! The local outside world of `portal-dev up`: the AWS emulator (DynamoDB +
//! SES), the two source simulators (or real source APIs), the table, the
//! sender identity, and the environment the functions read.
//!
//! Everything the stack starts is owned by [`Stack`]: dropping it stops the
//! simulators and kills moto (see `emulator`'s process hygiene), which is
//! what makes Ctrl-C leave nothing behind.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::SdkConfig;
use chrono::{DateTime, NaiveDate, Utc};
use portal_core::config::{Config, ConfigError};
use portal_core::mail::{MailError, SesMailer};
use portal_core::store::{Store, StoreError};

use crate::datagen::{self, DatasetSize, GenOptions};
use crate::emulator::{Emulator, EmulatorError};
use crate::sim::{SimConfig, Sims};

/// Sender of the reminder e-mails in local runs; created as an SES identity
/// in the emulator before anything is sent (moto rejects unknown senders).
pub const DEV_MAIL_FROM: &str = "certifications@portal.localhost";
/// Bucket of exports too large for a Lambda response (created in moto).
pub const DEV_EXPORT_BUCKET: &str = "portal-exports-local";
/// Table name of local runs: every `up` gets a fresh moto, so one fixed name
/// is enough and makes the table easy to find with the AWS CLI.
pub const DEV_TABLE: &str = "portal-dev";

/// A real source API instead of a simulator.
#[derive(Clone, PartialEq, Eq)]
pub struct RealNorthpass {
    pub url: String,
    pub key: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct RealImpartner {
    pub url: String,
    pub key: String,
    pub tenant: String,
}

// Hand-written so keys never reach a log line through `{:?}`.
impl std::fmt::Debug for RealNorthpass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RealNorthpass({}, key ***)", self.url)
    }
}

impl std::fmt::Debug for RealImpartner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RealImpartner({}, tenant {}, key ***)",
            self.url, self.tenant
        )
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub dataset: DatasetSize,
    pub seed: u64,
    /// The day the data is generated around; its midnight UTC is the pinned
    /// portal clock (`PORTAL_NOW`) and the simulators' start clock, so the
    /// portal and the simulated sources agree on "today".
    pub as_of: NaiveDate,
    pub northpass: Option<RealNorthpass>,
    pub impartner: Option<RealImpartner>,
    /// `PORTAL_PUBLIC_BASE_URL`: where the portal will answer (dashboard
    /// links in mails and the CRM point there).
    pub public_base_url: String,
    /// Secrets of this run (admin seed token, link and unsubscribe keys).
    pub admin_token: String,
    pub link_key: String,
    pub unsubscribe_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("local AWS emulator: {0}")]
    Emulator(#[from] EmulatorError),
    #[error("could not start the simulators: {0}")]
    Sims(#[source] std::io::Error),
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("table: {0}")]
    Store(#[from] StoreError),
    #[error("SES sender identity: {0}")]
    Mail(#[from] MailError),
    #[error("invalid --as-of date {0}")]
    AsOf(NaiveDate),
}

/// The running stack.
pub struct Stack {
    // Field order is drop order: simulators first, moto last.
    pub sims: Option<Sims>,
    /// Shared with the dev server's mail pages; the last owner's drop
    /// kills moto.
    pub emulator: Arc<Emulator>,
    pub sdk: SdkConfig,
    pub store: Store,
    /// The portal's environment (`PORTAL_*`, `NORTHPASS_*`, `IMPARTNER_*`):
    /// what a deployment would set, secrets included — never print it.
    pub env: BTreeMap<String, String>,
    pub config: Config,
    pub now: DateTime<Utc>,
}

impl Stack {
    /// Generates the data set, starts moto and the simulators, creates the
    /// table and the SES sender identity.
    pub async fn start(opts: &StackOptions) -> Result<Stack, StackError> {
        let now = opts
            .as_of
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or(StackError::AsOf(opts.as_of))?;
        // moto first: on a fresh clone it installs the venv (≈ 25 s), and
        // failing there should not cost a data-set generation first.
        let emulator = Arc::new(Emulator::start().await?);
        let sims = if opts.northpass.is_some() && opts.impartner.is_some() {
            None
        } else {
            let dataset = datagen::generate(&GenOptions {
                size: opts.dataset,
                seed: opts.seed,
                as_of: opts.as_of,
            });
            let mut cfg = SimConfig::new(dataset);
            cfg.clock = Some(now);
            cfg.seed = opts.seed;
            Some(Sims::start(cfg).await.map_err(StackError::Sims)?)
        };

        let env = portal_env(opts, sims.as_ref(), now);
        let config = Config::from_lookup(|k| env.get(k).cloned())?;
        let sdk = emulator.sdk_config().await;
        let store = Store::from_sdk_config(&sdk, config.table.clone());
        store.create_table().await?;
        emulator.create_bucket(DEV_EXPORT_BUCKET).await?;
        SesMailer::from_sdk_config(&sdk, config.require_mail_from()?)
            .build()
            .ensure_identity()
            .await?;
        Ok(Stack {
            sims,
            emulator,
            sdk,
            store,
            env,
            config,
            now,
        })
    }

    /// Variable lookup over [`Stack::env`], for `*::from_lookup` loaders.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |k| self.env.get(k).cloned()
    }

    /// The environment a Lambda process of this stack needs: the portal's
    /// variables plus the emulator endpoint and dummy AWS keys.
    pub fn process_env(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.extend(
            self.emulator
                .env_vars()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        v
    }

    /// Stops the simulators gracefully, then moto.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.sims.take() {
            s.shutdown().await;
        }
        // Dropping the emulator kills and reaps moto before we return.
        drop(self);
    }
}

fn portal_env(
    opts: &StackOptions,
    sims: Option<&Sims>,
    now: DateTime<Utc>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("PORTAL_TABLE", DEV_TABLE.into());
    set(
        "PORTAL_NOW",
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    set("PORTAL_PUBLIC_BASE_URL", opts.public_base_url.clone());
    set("PORTAL_MAIL_FROM", DEV_MAIL_FROM.into());
    set("PORTAL_EXPORT_BUCKET", DEV_EXPORT_BUCKET.into());
    set("PORTAL_ADMIN_TOKEN", opts.admin_token.clone());
    set("PORTAL_LINK_KEY", opts.link_key.clone());
    set("PORTAL_UNSUBSCRIBE_KEY", opts.unsubscribe_key.clone());
    // The generator's staff and shared mailboxes must be skipped like the
    // real program's (docs/source-contract.md), so the simulated numbers are
    // realistic.
    set("PORTAL_INTERNAL_DOMAINS", datagen::INTERNAL_DOMAIN.into());
    match (&opts.northpass, sims) {
        (Some(real), _) => {
            set("NORTHPASS_BASE_URL", real.url.clone());
            set("NORTHPASS_API_KEY", real.key.clone());
        }
        (None, Some(s)) => {
            set("NORTHPASS_BASE_URL", s.northpass_url());
            set("NORTHPASS_API_KEY", s.northpass_key());
            // The simulators are unlimited: no reason to wait locally.
            set("NORTHPASS_RATE_LIMIT", "1000".into());
        }
        (None, None) => {}
    }
    match (&opts.impartner, sims) {
        (Some(real), _) => {
            set("IMPARTNER_BASE_URL", real.url.clone());
            set("IMPARTNER_API_KEY", real.key.clone());
            set("IMPARTNER_TENANT_ID", real.tenant.clone());
        }
        (None, Some(s)) => {
            set("IMPARTNER_BASE_URL", s.impartner_url());
            set("IMPARTNER_API_KEY", s.impartner_key());
            set("IMPARTNER_TENANT_ID", s.impartner_tenant());
        }
        (None, None) => {}
    }
    env
}
