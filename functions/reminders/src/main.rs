//! Lambda `reminders`: wires configuration and calls the library.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use portal_core::config::Config;
use portal_core::secrets::Secrets;
use portal_reminders::{Deps, HmacLinks, UnsubscribeLinks};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let config = Config::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let links = unsubscribe_links(&config, &Secrets::from_sdk_config(&sdk)).await?;
    let deps = Deps::from_config(&config, &sdk, links)?;
    let clock = config.clock;
    lambda_runtime::run(service_fn(|ev: LambdaEvent<Value>| {
        let deps = &deps;
        async move {
            // A job event, or an SNS event of SES bounces and complaints.
            let answer =
                portal_reminders::mail_events::handle_any(deps, &ev.payload, clock.now()).await?;
            Ok::<_, lambda_runtime::Error>(answer)
        }
    }))
    .await
}

/// Signed links need the public URL and the signing key; without either,
/// mail goes out without an unsubscribe link (logged, not fatal). A key that
/// is configured but cannot be fetched *is* fatal (at cold start): sending
/// without the link the deployment asked for would be a silent downgrade.
async fn unsubscribe_links(
    config: &Config,
    secrets: &Secrets,
) -> anyhow::Result<Option<Arc<dyn UnsubscribeLinks>>> {
    let key = secrets.resolve_opt(config.unsubscribe_key.as_ref()).await?;
    Ok(match (&config.public_base_url, key) {
        (Some(base), Some(key)) => Some(Arc::new(
            HmacLinks::new(base, key.expose().as_bytes()).with_clock(config.clock),
        )),
        _ => {
            tracing::warn!(
                "PORTAL_PUBLIC_BASE_URL or PORTAL_UNSUBSCRIBE_KEY(_SECRET_ARN) unset: mail without unsubscribe links"
            );
            None
        }
    })
}
