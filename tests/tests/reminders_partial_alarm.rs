//! A reminder run that ends `partial` (some mails could not be sent) fails
//! the Lambda invocation, so the template's alarm on the function's errors
//! sees it; the run record is stored first and the sent mails stay sent.

mod reminders_support;

use std::sync::Arc;

use portal_core::mail::FailFor;
use portal_reminders::{handle, RunError, RunSummary, Settings};
use reminders_support::*;
use serde_json::json;

#[tokio::test]
async fn a_partial_reminder_run_fails_the_invocation() {
    let env = Env::new("partial").await;
    env.partner("p1", "Acme", None).await;
    for u in ["ann", "bob"] {
        env.user(u, true).await;
    }
    env.cert("p1", "ann", "k2", days(30)).await;
    env.cert("p1", "bob", "k2", days(30)).await;
    let failing = Arc::new(FailFor::new(env.ses.clone(), &[&env.email("ann")]));
    let deps = env.deps_with(failing, Settings::default());

    let err = handle(&deps, &json!({"job": "reminders"}), now())
        .await
        .expect_err("a partial run is an invocation error");
    match &err {
        RunError::Partial { due, failed, .. } => assert_eq!((*due, *failed), (2, 1), "{err}"),
        other => panic!("expected Partial, got {other:?}"),
    }
    assert!(err.to_string().contains("run partial"), "{err}");
    let runs: Vec<RunSummary> = env.store.recent_runs("reminders", 1).await.unwrap();
    assert_eq!(runs[0].status, "partial", "{runs:#?}");
    assert_eq!(runs[0].sent, 1);
    assert_eq!(env.sent().await.len(), 1, "bob's mail went out");

    // Nothing failing: the same entry point succeeds.
    let ok = handle(&env.deps(), &json!({"job": "reminders"}), now() + days(1))
        .await
        .expect("a clean run is a success");
    assert_eq!(ok.status, "succeeded", "{ok:#?}");
}
