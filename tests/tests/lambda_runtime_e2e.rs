//! The built Lambda binaries (`target/debug/reports`, `target/debug/sync`)
//! run against a Lambda Runtime API emulator (`portal_infra::dev::lambda_rie`)
//! exactly as Lambda runs them: they poll for events, answer over the
//! Runtime API, and talk to DynamoDB/SES (moto) and the source simulators
//! only through their environment. This proves the binaries work as
//! Lambdas, not only as libraries. Cold-start init (spawn → first poll) is
//! printed for each function.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use portal_core::model::{PartnerSummary, Tier};
use portal_core::store::entities::summary_item;
use portal_infra::datagen::DatasetSize;
use portal_infra::dev::lambda_rie::{
    apigw_v2_event, target_dir, HttpAnswer, LocalLambda, RieError, RuntimeApi,
};
use portal_infra::dev::stack::{Stack, StackOptions};
use serde_json::json;

const ADMIN: &str = "lambda-rie-admin-token-0123456789abcdef";

/// Builds the function binaries (a no-op when fresh) so the test never
/// runs a stale one, and returns their directory.
fn build_functions() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "-p",
            "portal-reports",
            "--bin",
            "reports",
            "-p",
            "portal-sync",
            "--bin",
            "sync",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "building the function binaries failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir()
}

async fn stack() -> Stack {
    Stack::start(&StackOptions {
        dataset: DatasetSize::Small,
        seed: 3,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
        northpass: None,
        impartner: None,
        public_base_url: "http://127.0.0.1:9".into(),
        admin_token: ADMIN.into(),
        link_key: "rie-link-key".into(),
        unsubscribe_key: "rie-unsub-key".into(),
    })
    .await
    .expect("local stack")
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_and_sync_binaries_answer_through_the_runtime_api() {
    let bin = build_functions();
    let stack = stack().await;
    let env = stack.process_env();

    // --- reports: an API Gateway HTTP API v2 event --------------------
    let summary = PartnerSummary {
        partner_id: "p-rie-1".into(),
        name: "Runtime Partner Ltd".into(),
        tier: Some(Tier::Select),
        tracked: true,
        computed_at: Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(),
        ..Default::default()
    };
    stack
        .store
        .put(summary_item(&summary).expect("summary item"))
        .await
        .expect("put summary");

    let rie = RuntimeApi::start().await.expect("runtime API");
    let mut reports =
        LocalLambda::spawn(&bin.join("reports"), &rie, "reports", &env).expect("spawn reports");
    let init = reports
        .wait_ready(Duration::from_secs(30))
        .await
        .expect("reports polls the runtime API");
    println!("cold start init: reports {} ms", init.as_millis());

    let ev = apigw_v2_event(
        "GET",
        "/api/reports/leaderboard?limit=10",
        &[("authorization", &format!("Bearer {ADMIN}"))],
        None,
    );
    let inv = reports.invoke(&ev).await.expect("invoke reports");
    let answer =
        HttpAnswer::from_payload(&inv.json().expect("response payload")).expect("apigw response");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(
        answer
            .headers
            .get("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        answer.headers
    );
    let body: serde_json::Value = serde_json::from_slice(&answer.body).expect("JSON body");
    let rows = body["data"].as_array().expect("data rows");
    assert!(
        rows.iter()
            .any(|r| r.to_string().contains("Runtime Partner Ltd")),
        "{body}"
    );
    println!("reports leaderboard: {} ms warm", inv.duration.as_millis());

    // Same container, next event: no token → 401 (the function survives
    // invocations, as a Lambda container does).
    let inv = reports
        .invoke(&apigw_v2_event(
            "GET",
            "/api/reports/leaderboard",
            &[],
            None,
        ))
        .await
        .expect("second invoke");
    let answer = HttpAnswer::from_payload(&inv.json().expect("payload")).expect("apigw");
    assert_eq!(answer.status, 401);
    drop(reports);
    drop(rie);

    // --- sync: a task event against the simulators + moto -------------
    let rie = RuntimeApi::start().await.expect("runtime API");
    let mut sync = LocalLambda::spawn(&bin.join("sync"), &rie, "sync", &env).expect("spawn sync");
    // Lambda's maximum, as the template gives sync: the run must not
    // checkpoint (and return a continuation) for lack of time.
    sync.timeout = Duration::from_secs(900);
    let init = sync
        .wait_ready(Duration::from_secs(30))
        .await
        .expect("sync polls the runtime API");
    println!("cold start init: sync {} ms", init.as_millis());

    let inv = sync
        .invoke(&json!({"task": "lms-courses", "mode": "full"}))
        .await
        .expect("invoke sync");
    let run = inv
        .json()
        .unwrap_or_else(|e| panic!("{e}\n{}", sync.output()));
    assert_eq!(run["task"], "lms-courses", "{run}");
    assert_eq!(run["mode"], "full", "{run}");
    assert_eq!(run["status"], "succeeded", "{run}");
    let courses = stack
        .sims
        .as_ref()
        .expect("sims")
        .dataset_snapshot()
        .courses
        .len() as u64;
    assert_eq!(run["counts"]["processed"], json!(courses), "{run}");
    assert!(run["counts"]["created"].as_u64().unwrap_or(0) > 0, "{run}");
    assert_eq!(
        stack.store.all_courses().await.expect("courses").len() as u64,
        courses
    );
    println!("sync lms-courses: {} ms", inv.duration.as_millis());

    // A bad event goes through the Runtime API's error endpoint.
    let inv = sync.invoke(&json!({"task": "nope"})).await.expect("invoke");
    match inv.json() {
        Err(RieError::Function { message, .. }) => assert!(message.contains("nope"), "{message}"),
        other => panic!("expected a function error, got {other:?}"),
    }
}

/// A task whose run ends `failed` fails the invocation: the binary answers
/// through the Runtime API's error endpoint (what Lambda counts in its
/// `Errors` metric, the template's alarm), and the run record is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sync_run_is_an_invocation_error() {
    let bin = build_functions();
    let stack = stack().await;
    let mut env = stack.process_env();
    for (k, v) in &mut env {
        if k == "NORTHPASS_API_KEY" {
            *v = "wrong-key".into();
        }
    }
    let rie = RuntimeApi::start().await.expect("runtime API");
    let mut sync = LocalLambda::spawn(&bin.join("sync"), &rie, "sync", &env).expect("spawn sync");
    sync.timeout = Duration::from_secs(900);
    sync.wait_ready(Duration::from_secs(30))
        .await
        .expect("sync polls the runtime API");
    let inv = sync
        .invoke(&json!({"task": "lms-courses", "mode": "full"}))
        .await
        .expect("invoke sync");
    match inv.json() {
        Err(RieError::Function { message, .. }) => {
            assert!(message.contains("lms-courses: run failed"), "{message}");
            assert!(message.contains("northpass"), "{message}");
        }
        other => panic!(
            "expected a function error, got {other:?}\n{}",
            sync.output()
        ),
    }
    let runs: Vec<portal_core::task_run::RunSummary> = stack
        .store
        .recent_runs("lms-courses", 5)
        .await
        .expect("run records");
    assert!(
        runs.iter()
            .any(|r| r.status == portal_core::task_run::RunStatus::Failed),
        "{runs:#?}"
    );
}
