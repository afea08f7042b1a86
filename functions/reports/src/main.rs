//! Lambda `reports`: wires configuration and calls the library handler.

use std::sync::Arc;

use anyhow::Context;
use lambda_http::{run, service_fn, Request};
use portal_core::config::Config;
use portal_core::mail::SesMailer;
use portal_core::secrets::Secrets;
use portal_core::store::Store;
use portal_reports::{AppState, StateMachineRunner};

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
    // Keys given directly (local) or by Secrets Manager ARN (AWS), resolved
    // once at cold start; an empty value is refused, not used to sign.
    let secrets = Secrets::from_sdk_config(&sdk);
    if let Some(t) = secrets.resolve_opt(config.admin_token.as_ref()).await? {
        state = state.with_admin_token(t.expose());
    }
    if let Some(k) = secrets.resolve_opt(config.link_key.as_ref()).await? {
        state = state.with_link_key(k);
    }
    if let Some(k) = secrets.resolve_opt(config.unsubscribe_key.as_ref()).await? {
        state = state.with_unsubscribe_key(k);
    }
    if let Some(arn) = config.sync.state_machine_arn.clone() {
        state = state.with_runner(Arc::new(StateMachineRunner {
            client: aws_sdk_sfn::Client::new(&sdk),
            state_machine_arn: arn,
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
    // The webhook endpoint needs both its path secret and its queue.
    if let (Some(secret), Some(url)) = (config.hooks.secret.clone(), config.hooks.queue_url.clone())
    {
        let hook_secrets = portal_reports::hooks::HookSecrets::resolve(
            secrets.clone(),
            secret,
            config.hooks.previous_secret.as_ref(),
        )
        .await?;
        state = state.with_hooks(portal_reports::hooks::Hooks {
            secrets: hook_secrets,
            queue: portal_reports::hooks::HookQueue::from_sdk_config(&sdk, url),
        });
    }
    let state = &state;
    run(service_fn(move |req: Request| async move {
        portal_reports::handle(state, req).await
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
