//! What the tasks need: configuration, the store and the two clients.

use std::time::Duration;

use portal_core::config::{Config, Secret, SecretRef, SyncSettings};
use portal_core::secrets::Secrets;
use portal_core::sources::{ImpartnerClient, ImpartnerConfig, NorthpassClient, NorthpassConfig};
use portal_core::store::Store;

use crate::error::SyncError;

/// The sync's runtime options, from the `sync` section of the shared
/// [`Config`] (parsed and validated there, once, with errors naming the
/// variable).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOptions {
    /// An incremental enrollment sync re-fetches a partner user's
    /// transcript at the latest after this long, even without activity
    /// (`SYNC_TRANSCRIPT_MAX_AGE_HOURS`, default 168 = 7 days): a safety
    /// net for changes the LMS does not stamp on the person.
    pub transcript_max_age: chrono::Duration,
    /// Transcripts / memberships fetched at once (the client's rate limiter
    /// still paces them) (`SYNC_CONCURRENCY`, default 8).
    pub concurrency: usize,
    /// Checkpoint when less than this is left of the Lambda time
    /// (`SYNC_CHECKPOINT_MARGIN_SECS`, default 60).
    pub checkpoint_margin: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions::from_settings(&SyncSettings::default())
    }
}

impl SyncOptions {
    pub fn from_config(config: &Config) -> Self {
        Self::from_settings(&config.sync)
    }

    fn from_settings(s: &SyncSettings) -> Self {
        SyncOptions {
            transcript_max_age: chrono::Duration::hours(i64::from(s.transcript_max_age_hours)),
            concurrency: s.concurrency as usize,
            checkpoint_margin: Duration::from_secs(u64::from(s.checkpoint_margin_secs)),
        }
    }
}

/// Everything a task needs. Cheap to clone (clients and store share their
/// connections and counters).
#[derive(Debug, Clone)]
pub struct Deps {
    pub config: Config,
    pub store: Store,
    /// `None` when Northpass is not configured: LMS tasks then fail with
    /// a message naming the missing variable.
    pub northpass: Option<NorthpassClient>,
    pub impartner: Option<ImpartnerClient>,
    pub options: SyncOptions,
    /// HMAC key of partner dashboard links (`PORTAL_LINK_KEY`); `None` →
    /// `crm-push` leaves the link field out.
    pub link_key: Option<Secret>,
}

fn plain_key(r: &SecretRef, var: &str) -> Result<String, SyncError> {
    match r {
        SecretRef::Value(s) => Ok(s.expose().to_string()),
        // The workspace has no Secrets Manager client yet (see
        // docs/requests/sync.md); fail loudly rather than send a bad key.
        SecretRef::SecretArn(arn) => Err(SyncError::Invalid(format!(
            "{var}_SECRET_ARN ({arn}) is not supported yet; set {var}"
        ))),
    }
}

impl Deps {
    /// Builds the clients from `config` with the production defaults
    /// (rate limit from `NORTHPASS_RATE_LIMIT`, retries, timeouts).
    /// Missing source configuration leaves that client out; the tasks that
    /// need it fail naming the variable.
    pub fn from_config(config: Config, store: Store) -> Result<Deps, SyncError> {
        let options = SyncOptions::from_config(&config);
        let northpass = match &config.northpass.api_key {
            Some(k) => {
                let mut c = NorthpassConfig::new(
                    config.northpass.base_url.clone(),
                    plain_key(k, "NORTHPASS_API_KEY")?,
                );
                c.rate_limit_per_sec = f64::from(config.northpass.rate_limit);
                Some(NorthpassClient::new(c)?)
            }
            None => None,
        };
        let impartner = match config.impartner_access() {
            Ok((url, key, tenant)) => Some(ImpartnerClient::new(ImpartnerConfig::new(
                url,
                plain_key(key, "IMPARTNER_API_KEY")?,
                plain_key(tenant, "IMPARTNER_TENANT_ID")?,
            ))?),
            Err(_) => None,
        };
        let link_key = match &config.link_key {
            Some(SecretRef::Value(s)) => Some(s.clone()),
            Some(SecretRef::SecretArn(_)) | None => None,
        };
        Ok(Deps {
            config,
            store,
            northpass,
            impartner,
            options,
            link_key,
        })
    }

    /// [`Deps::from_config`] after resolving keys given by ARN through
    /// Secrets Manager (AWS: the template passes only `*_SECRET_ARN`).
    pub async fn from_config_with_secrets(
        mut config: Config,
        store: Store,
        secrets: &Secrets,
    ) -> Result<Deps, SyncError> {
        let resolve = |r: Option<SecretRef>| async {
            match r {
                Some(SecretRef::SecretArn(arn)) => secrets
                    .resolve(&SecretRef::SecretArn(arn))
                    .await
                    .map(|s| Some(SecretRef::Value(s)))
                    .map_err(|e| SyncError::Invalid(e.to_string())),
                other => Ok(other),
            }
        };
        config.northpass.api_key = resolve(config.northpass.api_key.take()).await?;
        config.impartner.api_key = resolve(config.impartner.api_key.take()).await?;
        config.impartner.tenant_id = resolve(config.impartner.tenant_id.take()).await?;
        config.link_key = resolve(config.link_key.take()).await?;
        Deps::from_config(config, store)
    }

    pub(crate) fn northpass(&self) -> Result<&NorthpassClient, SyncError> {
        self.northpass.as_ref().ok_or_else(|| {
            SyncError::Config(self.config.northpass_key().err().unwrap_or(
                portal_core::config::ConfigError::Missing {
                    var: "NORTHPASS_API_KEY",
                },
            ))
        })
    }

    pub(crate) fn impartner(&self) -> Result<&ImpartnerClient, SyncError> {
        match (&self.impartner, self.config.impartner_access()) {
            (Some(c), _) => Ok(c),
            (None, Err(e)) => Err(SyncError::Config(e)),
            (None, Ok(_)) => Err(SyncError::Invalid(
                "impartner: client not configured".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_the_config_section() {
        let vars = [
            ("PORTAL_TABLE", "t"),
            ("SYNC_TRANSCRIPT_MAX_AGE_HOURS", "24"),
            ("SYNC_CONCURRENCY", "3"),
            ("SYNC_CHECKPOINT_MARGIN_SECS", "0"),
        ];
        let config = Config::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap();
        assert_eq!(
            SyncOptions::from_config(&config),
            SyncOptions {
                transcript_max_age: chrono::Duration::hours(24),
                concurrency: 3,
                checkpoint_margin: Duration::ZERO,
            }
        );
        let defaults = Config::from_lookup(|k| (k == "PORTAL_TABLE").then(|| "t".into())).unwrap();
        assert_eq!(SyncOptions::from_config(&defaults), SyncOptions::default());
        assert_eq!(SyncOptions::default().concurrency, 8);
    }
}
