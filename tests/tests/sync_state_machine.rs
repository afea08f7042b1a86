//! The sync's loop contract with its Step Functions state machine, end to
//! end: the state machine definition *as deployed* (`SyncStateMachine` in
//! template.yaml), run by the local interpreter
//! (`portal_infra::dev::state_machine`), invokes the built sync binary
//! under the Runtime API emulator:
//! - a run that finishes in one invocation says `"continue": false` and the
//!   execution succeeds with it;
//! - a run that checkpoints returns `"continue": true` and its next
//!   request, the execution invokes it again with that request until it is
//!   done, and the run record counts every invocation;
//! - a failed run is an invocation error and the execution fails with it.
//!
//! And the reports' run-now starts an execution of that state machine
//! with the request as its input (against the emulator's Step Functions).
//!
//! The binary is never told it runs under a state machine: under Lambda it
//! always returns its continuation (functions/sync/src/main.rs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use chrono::NaiveDate;
use portal_core::task_run::RunStatus;
use portal_infra::datagen::DatasetSize;
use portal_infra::dev::lambda_rie::{target_dir, LocalLambda, RieError, RuntimeApi};
use portal_infra::dev::stack::{Stack, StackOptions};
use portal_infra::dev::state_machine::{Execution, ExecutionStatus, StateMachine, TaskError};
use portal_infra::emulator::Emulator;
use portal_reports::{RunMode, StateMachineRunner, TaskRunner};
use serde_json::{json, Value};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:portal-sm-sync";

fn build_sync() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "-p", "portal-sync", "--bin", "sync"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "building the sync binary failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir()
}

/// `SyncStateMachine`'s definition from template.yaml, its substitutions
/// bound: `SyncFunctionArn` must be the only one, and it must name the
/// sync function.
fn state_machine() -> StateMachine {
    let (definition, subs) = definition();
    StateMachine::new(&definition, &subs).expect("the definition is in the interpreter's subset")
}

/// The template's definition and its substitutions, bound for this test.
fn definition() -> (Value, HashMap<String, String>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(path).expect("read template.yaml");
    let t: serde_norway::Value = serde_norway::from_str(&text).expect("template.yaml is YAML");
    let props = &t["Resources"]["SyncStateMachine"]["Properties"];
    let subs = props["DefinitionSubstitutions"]
        .as_mapping()
        .expect("DefinitionSubstitutions");
    let names: Vec<&str> = subs.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(names, ["SyncFunctionArn"], "substitutions");
    let arn = format!("{:?}", subs.values().next().expect("a value"));
    assert!(arn.contains("SyncFunction.Arn"), "{arn}");
    let definition: Value =
        serde_json::to_value(&props["Definition"]).expect("the definition has no YAML tags");
    (
        definition,
        HashMap::from([("SyncFunctionArn".to_string(), FUNCTION_ARN.to_string())]),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn run_now_starts_an_execution_with_the_request() {
    let emu = Emulator::shared().await.expect("emulator");
    let sdk = emu.sdk_config().await;
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let (definition, subs) = definition();
    let mut text = definition.to_string();
    for (k, v) in &subs {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    let created = sfn
        .create_state_machine()
        .name("portal-sm-sync")
        .definition(text)
        .role_arn("arn:aws:iam::123456789012:role/portal-sm-sync")
        .send()
        .await
        .expect("create the state machine");
    let runner = StateMachineRunner {
        client: sfn.clone(),
        state_machine_arn: created.state_machine_arn().to_string(),
    };
    let how = runner
        .start_with("lms-enrollments", RunMode::Full, true)
        .await
        .expect("start an execution");
    let arn = how
        .strip_prefix("started execution ")
        .unwrap_or_else(|| panic!("{how}"));
    let ex = sfn
        .describe_execution()
        .execution_arn(arn)
        .send()
        .await
        .expect("describe the execution");
    assert_eq!(ex.state_machine_arn(), created.state_machine_arn());
    let input: Value = serde_json::from_str(ex.input().expect("input")).expect("JSON input");
    assert_eq!(
        input,
        json!({"task": "lms-enrollments", "mode": "full", "force": true})
    );
    // A state machine that does not exist is an error the admin sees.
    let missing = StateMachineRunner {
        client: sfn,
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:nope".into(),
    };
    let e = missing
        .start("lms-users", RunMode::Incremental)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("could not start"), "{e}");
}

async fn stack() -> Stack {
    Stack::start(&StackOptions {
        dataset: DatasetSize::Small,
        seed: 5,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
        northpass: None,
        impartner: None,
        public_base_url: "http://127.0.0.1:9".into(),
        admin_token: "sm-admin-token-0123456789abcdef0123".into(),
        link_key: "sm-link-key".into(),
        unsubscribe_key: "sm-unsub-key".into(),
    })
    .await
    .expect("local stack")
}

/// One execution on `input`, every Task invocation going to `lambda`.
async fn execute(sm: &StateMachine, lambda: &mut LocalLambda<'_>, input: Value) -> Execution {
    // The interpreter makes one invocation at a time; the lock only lends
    // the process to each invocation's future.
    let lambda = tokio::sync::Mutex::new(lambda);
    let lambda = &lambda;
    sm.run(input, 2_000, |function, payload| async move {
        assert_eq!(function, FUNCTION_ARN);
        let mut guard = lambda.lock().await;
        let inv = guard
            .invoke(&payload)
            .await
            .expect("invoke through the runtime API");
        match inv.json() {
            Ok(v) => Ok(v),
            Err(RieError::Function {
                error_type,
                message,
            }) => Err(TaskError::from_lambda(&error_type, &message)),
            Err(e) => panic!("{e}\n{}", guard.output()),
        }
    })
    .await
}

fn outputs(ex: &Execution) -> Vec<Value> {
    ex.invocations
        .iter()
        .map(|(_, r)| r.clone().expect("no invocation failed"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_machine_loops_while_the_sync_checkpoints_and_fails_with_it() {
    let bin = build_sync();
    let sm = state_machine();
    let stack = stack().await;
    let env = stack.process_env();

    // --- a run that is done in one invocation -------------------------
    {
        let rie = RuntimeApi::start().await.expect("runtime API");
        let mut sync =
            LocalLambda::spawn(&bin.join("sync"), &rie, "sync", &env).expect("spawn sync");
        sync.timeout = Duration::from_secs(900);
        sync.wait_ready(Duration::from_secs(30))
            .await
            .expect("ready");
        let ex = execute(
            &sm,
            &mut sync,
            json!({"task": "lms-groups", "mode": "full"}),
        )
        .await;
        let out = match &ex.status {
            ExecutionStatus::Succeeded(out) => out.clone(),
            other => panic!("{other:?}\n{}", sync.output()),
        };
        assert_eq!(ex.invocations.len(), 1, "{:?}", ex.invocations);
        assert_eq!(out["continue"], json!(false), "{out}");
        assert_eq!(out["status"], "succeeded", "{out}");
        assert!(out.get("next").is_none(), "{out}");
        let states: Vec<&str> = ex.history.iter().map(|t| t.state.as_str()).collect();
        assert_eq!(states.last(), Some(&"Done"), "{states:?}");
    }

    // --- a run that checkpoints at every step -------------------------
    // A margin longer than the invocation: the budget is spent from the
    // start, so every invocation does one unit of work (a chunk of group
    // memberships) and checkpoints; the count does not depend on speed.
    let mut tight = env.clone();
    tight.push(("SYNC_CHECKPOINT_MARGIN_SECS".into(), "100000".into()));
    {
        let rie = RuntimeApi::start().await.expect("runtime API");
        let mut sync =
            LocalLambda::spawn(&bin.join("sync"), &rie, "sync", &tight).expect("spawn sync");
        sync.timeout = Duration::from_secs(900);
        sync.wait_ready(Duration::from_secs(30))
            .await
            .expect("ready");
        let request = json!({"task": "lms-groups", "mode": "full"});
        let ex = execute(&sm, &mut sync, request.clone()).await;
        let last = match &ex.status {
            ExecutionStatus::Succeeded(out) => out.clone(),
            other => panic!("{other:?}\n{}", sync.output()),
        };
        let outs = outputs(&ex);
        assert!(
            outs.len() >= 3,
            "only {} invocations: {outs:#?}",
            outs.len()
        );
        // Every invocation but the last checkpointed and handed back the
        // same request; the state machine passed exactly that on.
        for (i, out) in outs[..outs.len() - 1].iter().enumerate() {
            assert_eq!(out["continue"], json!(true), "invocation {i}: {out}");
            assert_eq!(out["status"], "checkpointed", "invocation {i}: {out}");
            assert_eq!(out["next"], request, "invocation {i}: {out}");
        }
        for (i, (payload, _)) in ex.invocations.iter().enumerate() {
            assert_eq!(payload, &request, "payload of invocation {i}");
        }
        assert_eq!(&last, outs.last().unwrap());
        assert_eq!(last["continue"], json!(false), "{last}");
        assert_eq!(last["status"], "succeeded", "{last}");
        assert_eq!(last["invocations"], json!(outs.len()), "{last}");
        let runs = stack
            .store
            .recent_runs::<portal_core::task_run::RunSummary>("lms-groups", 5)
            .await
            .expect("run records");
        let this = runs
            .iter()
            .find(|r| r.run_id == last["run_id"].as_str().unwrap_or_default())
            .unwrap_or_else(|| panic!("the run's record: {runs:#?}"));
        assert_eq!(this.status, RunStatus::Succeeded, "{this:#?}");
        assert_eq!(this.invocations as usize, outs.len(), "{this:#?}");
        // Sync, Continue?, NextRequest per continuation, then Sync,
        // Continue?, Done.
        assert_eq!(ex.history.len(), 3 * outs.len(), "{:#?}", ex.history);
    }

    // --- a failed run fails the execution ------------------------------
    let mut wrong = env.clone();
    for (k, v) in &mut wrong {
        if k == "NORTHPASS_API_KEY" {
            *v = "wrong-key".into();
        }
    }
    let rie = RuntimeApi::start().await.expect("runtime API");
    let mut sync = LocalLambda::spawn(&bin.join("sync"), &rie, "sync", &wrong).expect("spawn sync");
    sync.timeout = Duration::from_secs(900);
    sync.wait_ready(Duration::from_secs(30))
        .await
        .expect("ready");
    let ex = execute(
        &sm,
        &mut sync,
        json!({"task": "lms-courses", "mode": "full"}),
    )
    .await;
    match &ex.status {
        ExecutionStatus::Failed { error, cause } => {
            assert!(!error.is_empty(), "the function's error type");
            assert!(cause.contains("lms-courses: run failed"), "{cause}");
            assert!(cause.contains("northpass"), "{cause}");
        }
        other => panic!("expected a failed execution, got {other:?}"),
    }
    // One invocation (a failed run is not a transient Lambda fault, so
    // it is not retried), then the Fail state.
    assert_eq!(ex.invocations.len(), 1, "{:?}", ex.invocations);
    let states: Vec<&str> = ex.history.iter().map(|t| t.state.as_str()).collect();
    assert_eq!(states, ["Sync", "RunFailed"], "{states:?}");
}
