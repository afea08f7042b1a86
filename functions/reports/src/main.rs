//! Lambda `reports`: wires configuration and calls the library handler.

use std::sync::Arc;

use anyhow::Context;
use lambda_http::{run, service_fn, Request};
use portal_core::config::{Config, Secret, SecretRef};
use portal_core::mail::SesMailer;
use portal_core::store::Store;
use portal_reports::{AppState, LambdaRunner};

/// A key given directly (local) or by Secrets Manager ARN (AWS).
async fn secret(
    sdk: &aws_config::SdkConfig,
    r: &Option<SecretRef>,
) -> anyhow::Result<Option<Secret>> {
    let arn = match r {
        None => return Ok(None),
        Some(SecretRef::Value(s)) => return Ok(Some(s.clone())),
        Some(SecretRef::SecretArn(arn)) => arn,
    };
    let out = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn.as_str())
        .send()
        .await
        .with_context(|| format!("reading secret {arn}"))?;
    Ok(out.secret_string().map(|s| Secret::new(s.trim())))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let config = Config::from_env().context("configuration")?;
    let sdk = aws_config::load_from_env().await;
    let store = Store::from_sdk_config(&sdk, config.table.clone());
    let mut state = AppState::new(&config, store);
    if let Some(t) = secret(&sdk, &config.admin_token).await? {
        state = state.with_admin_token(t.expose());
    }
    if let Some(k) = secret(&sdk, &config.link_key).await? {
        state = state.with_link_key(k);
    }
    if let Some(k) = secret(&sdk, &config.unsubscribe_key).await? {
        state = state.with_unsubscribe_key(k);
    }
    if let Some(f) = config.sync_function_name.clone() {
        state = state.with_runner(Arc::new(LambdaRunner {
            client: aws_sdk_lambda::Client::new(&sdk),
            function_name: f,
        }));
    }
    if let Some(bucket) = config.export_bucket.clone() {
        state = state.with_offload(portal_reports::offload::Offload::from_sdk_config(
            &sdk, bucket,
        ));
    }
    // Portal sign-in links go out from the same verified sender as the
    // reminders; without one, only token sign-in works.
    if let Some(from) = config.mail_from.clone() {
        let mailer = SesMailer::from_sdk_config(&sdk, from)
            .configuration_set(config.mail_configuration_set.clone())
            .rate_per_second(config.mail_rate)
            .build();
        state = state.with_mailer(Arc::new(mailer));
    }
    let state = &state;
    run(service_fn(move |req: Request| async move {
        portal_reports::handle(state, req).await
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
