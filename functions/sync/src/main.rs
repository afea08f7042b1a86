//! Lambda `sync`: wires configuration and calls the library.
// The handler future (SDK + task runtime) is deep enough to exceed the
// default query depth when checked for `Send`.
#![recursion_limit = "256"]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, LambdaEvent};
use portal_core::config::Config;
use portal_core::store::Store;
use portal_sync::handler::{handle, Continuation};
use portal_sync::Deps;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_current_span(false)
        .without_time()
        .init();
    let config = Config::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = Store::from_sdk_config(&aws, config.table.clone());
    let secrets = portal_core::secrets::Secrets::from_sdk_config(&aws);
    let deps = Deps::from_config_with_secrets(config, store, &secrets).await?;
    // Under Lambda a checkpointed run returns its next request; the Step
    // Functions state machine that invoked it (template.yaml,
    // `SyncStateMachine`) invokes it again. The function never invokes
    // itself: no permission for it, no chain for Lambda's recursive-loop
    // detection to cut, and every continuation is a step in the
    // execution's history.
    let deps = &deps;
    let continuation = &Continuation::Return;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        // The webhook queue's batches (an SQS event source) answer with
        // the failed message ids instead of a run summary.
        if portal_sync::hooks::is_sqs_event(&event.payload) {
            let batch = serde_json::from_value(event.payload)?;
            let answer = portal_sync::hooks::handle_sqs(deps, batch).await;
            return Ok(serde_json::to_value(answer)?);
        }
        let deadline = deadline_instant(event.context.deadline);
        handle(deps, &event.payload, Some(deadline), continuation)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}

/// The context deadline (epoch ms) as a monotonic instant.
fn deadline_instant(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
