//! The task runtime against the real store: the lease lock, stuck-run
//! takeover, checkpoints under a tiny time budget, the Lambda event shapes
//! and a wrong API key.

use std::time::{Duration, Instant};

use chrono::Utc;
use portal_e2e::{observed, truth::Truth, TestEnv, TestEnvOptions};
use portal_infra::sim::{Server, ServerOptions};
use portal_sync::handler::{handle, Continuation};
use portal_sync::{run_task, Budget, Mode, RunStatus, TaskName};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_one_runs_and_stale_lock_is_taken_over() {
    // Some latency so the first run is still going when the second starts.
    let env = TestEnv::start(TestEnvOptions {
        northpass: ServerOptions {
            latency: Duration::from_millis(20),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let (a, b) = tokio::join!(
        run_task(
            &env.deps,
            TaskName::LmsUsers,
            Mode::Full,
            Budget::unlimited()
        ),
        run_task(
            &env.deps,
            TaskName::LmsUsers,
            Mode::Full,
            Budget::unlimited()
        ),
    );
    let statuses = [a.status, b.status];
    assert!(statuses.contains(&RunStatus::Succeeded), "{a:#?} {b:#?}");
    assert!(
        statuses.contains(&RunStatus::AlreadyRunning),
        "{a:#?} {b:#?}"
    );
    let loser = if a.status == RunStatus::AlreadyRunning {
        &a
    } else {
        &b
    };
    assert!(
        loser
            .message
            .as_deref()
            .unwrap_or("")
            .contains("already running"),
        "{loser:?}"
    );

    // A live lock (taken 5 minutes ago) is respected …
    let now = Utc::now();
    env.store
        .acquire_lease(
            "lms-courses",
            "other-run",
            now - chrono::Duration::minutes(5),
            chrono::Duration::minutes(30),
        )
        .await
        .unwrap();
    let s = run_task(
        &env.deps,
        TaskName::LmsCourses,
        Mode::Full,
        Budget::unlimited(),
    )
    .await;
    assert_eq!(s.status, RunStatus::AlreadyRunning, "{s:?}");
    // … a lock older than 30 minutes belongs to a stuck run and is taken over.
    env.store
        .release_lease(&env.store.get_lease("lms-courses").await.unwrap().unwrap())
        .await
        .unwrap();
    env.store
        .acquire_lease(
            "lms-courses",
            "crashed-run",
            now - chrono::Duration::minutes(31),
            chrono::Duration::minutes(30),
        )
        .await
        .unwrap();
    let s = run_task(
        &env.deps,
        TaskName::LmsCourses,
        Mode::Full,
        Budget::unlimited(),
    )
    .await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:?}");
    assert!(
        s.message.as_deref().unwrap_or("").contains("crashed-run"),
        "{s:?}"
    );
    assert!(
        env.store.get_lease("lms-courses").await.unwrap().is_none(),
        "lease released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_budget_checkpoints_and_ends_like_a_one_shot_run() {
    // A few partners are enough to show that checkpoints resume where they
    // stopped; the whole `small` set made this test take a quarter hour.
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(8),
        ..Default::default()
    })
    .await
    .unwrap();
    // Spent as soon as it starts: every invocation does exactly one unit of
    // work (one chunk of transcripts, one partner's recompute) and then
    // checkpoints, so the number of continuations does not depend on how
    // fast this machine or the emulator is.
    let per_invocation = Duration::from_millis(1);
    let runs = portal_sync::run_all(&env.deps, Mode::Full, Some(per_invocation)).await;
    for r in &runs {
        eprintln!("{} {:?} invocations {}", r.task, r.status, r.invocations);
        assert_eq!(r.status, RunStatus::Succeeded, "{r:#?}");
    }
    assert_eq!(runs.len(), portal_sync::TaskName::ALL.len(), "{runs:#?}");
    let total: u32 = runs.iter().map(|r| r.invocations).sum();
    eprintln!("{total} invocations in all");
    let enr = runs.iter().find(|r| r.task == "lms-enrollments").unwrap();
    // At least 3 continuations, i.e. 3 checkpoints saved and resumed.
    assert!(enr.invocations >= 4, "only {} invocations", enr.invocations);
    assert!(
        env.sims
            .stats()
            .northpass
            .requests
            .keys()
            .any(|r| r.contains("transcripts")),
        "no transcripts fetched"
    );

    // The end state is the one-shot result (which equals the truth, see
    // sync_full).
    let t = Truth::from_dataset(&env.dataset, &env.config);
    assert_eq!(
        observed::views(&env.store, &env.config, env.now)
            .await
            .unwrap(),
        t.views(env.now)
    );
    assert_eq!(
        observed::statuses(&env.store, &env.config, env.now)
            .await
            .unwrap(),
        t.statuses(env.now)
    );
    // No checkpoint is left behind.
    for s in env.store.all_task_states().await.unwrap() {
        assert!(s.checkpoint.is_none(), "{s:?}");
        assert!(s.watermark.is_some(), "{s:?}");
    }
}

/// Stored enrollments and transcript fetch markers (type `TFETCH`), in a
/// stable order.
async fn enrollment_items(env: &TestEnv) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for entity in [portal_core::store::keys::entity::ENROLLMENT, "TFETCH"] {
        let mut items: Vec<serde_json::Value> = env.store.query_type_as(entity).await.unwrap();
        items.sort_by_key(|v| v.to_string());
        out.extend(items);
    }
    out
}

fn transcript_requests(env: &TestEnv) -> u64 {
    let stats = env.sims.stats().northpass;
    stats
        .requests
        .iter()
        .filter(|(route, _)| route.contains("transcripts"))
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollments_resumed_mid_fetch_store_what_a_one_shot_run_stores() {
    // Two identical worlds: one fetches every transcript in one go, the
    // other under a budget that runs out every few chunks.
    let opts = TestEnvOptions {
        accounts: Some(8),
        ..Default::default()
    };
    let (one_shot, resumed) = tokio::join!(TestEnv::start(opts.clone()), TestEnv::start(opts));
    let (one_shot, resumed) = (one_shot.unwrap(), resumed.unwrap());
    for env in [&one_shot, &resumed] {
        for task in TaskName::ALL
            .into_iter()
            .take_while(|t| *t != TaskName::LmsEnrollments)
        {
            let s = env.sync(task, Mode::Full).await;
            assert_eq!(s.status, RunStatus::Succeeded, "{s:#?}");
        }
    }
    let expected = one_shot.sync(TaskName::LmsEnrollments, Mode::Full).await;
    assert_eq!(expected.status, RunStatus::Succeeded, "{expected:#?}");

    // Chunks of 4 users, fetched one at a time from a slow Northpass
    // (>= 200 ms a chunk, ~7 s for all), and 3 s an invocation (loading the
    // snapshot from the emulator takes ~1.5 s of it): the fetch phase stops
    // at least twice, whatever the machine's speed, and usually with the
    // next chunk fetched but not yet written — that one must be fetched
    // again, not skipped.
    resumed.sims.set_options(
        Server::Northpass,
        ServerOptions {
            latency: Duration::from_millis(50),
            ..Default::default()
        },
    );
    let mut deps = resumed.deps.clone();
    deps.options.concurrency = 1;
    let mut fetch_checkpoints = 0;
    let s = loop {
        let budget = Budget::of(Duration::from_secs(3), Duration::ZERO);
        let s = run_task(&deps, TaskName::LmsEnrollments, Mode::Full, budget).await;
        if s.status != RunStatus::Checkpointed {
            break s;
        }
        assert!(s.invocations < 1000, "no progress: {s:#?}");
        let state = resumed
            .store
            .get_task_state("lms-enrollments")
            .await
            .unwrap()
            .unwrap();
        // The run's continuation data holds the task's cursor.
        let cursor = &state.checkpoint.as_ref().unwrap()["cursor"];
        if cursor["phase"] == "fetch" {
            fetch_checkpoints += 1;
        }
    };
    eprintln!(
        "{} invocations, {fetch_checkpoints} in the fetch phase; transcript requests {} (one-shot {})",
        s.invocations,
        transcript_requests(&resumed),
        transcript_requests(&one_shot)
    );
    assert_eq!(s.status, RunStatus::Succeeded, "{s:#?}");
    assert!(
        fetch_checkpoints >= 2,
        "{fetch_checkpoints} fetch checkpoints"
    );
    // Every user's transcript was counted and written once, and the store
    // ends exactly as after the one-shot run.
    assert_eq!(s.counts, expected.counts);
    assert_eq!(
        enrollment_items(&resumed).await,
        enrollment_items(&one_shot).await
    );
    assert_eq!(
        observed::views(&resumed.store, &resumed.config, resumed.now)
            .await
            .unwrap(),
        observed::views(&one_shot.store, &one_shot.config, one_shot.now)
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_api_key_fails_at_once_naming_the_source() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    let deps = env.deps_with(Some("wrong-key"), 500.0).unwrap();
    let t0 = Instant::now();
    let s = run_task(&deps, TaskName::LmsUsers, Mode::Full, Budget::unlimited()).await;
    assert_eq!(s.status, RunStatus::Failed);
    let err = s.error.unwrap();
    assert!(
        err.contains("northpass") && err.contains("authentication"),
        "{err}"
    );
    assert_eq!(env.sims.stats().northpass.total_requests, 1, "no retries");
    assert!(t0.elapsed() < Duration::from_secs(10));
    // The watermark did not move: the next run starts from scratch.
    let st = env
        .store
        .get_task_state("lms-users")
        .await
        .unwrap()
        .unwrap();
    assert!(st.watermark.is_none());

    // Same through the Lambda event shapes.
    let deps_ok = &env.deps;
    let ev = json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
        "detail": {"task": "lms-courses", "mode": "full"}});
    let out = handle(deps_ok, &ev, None, &Continuation::Loop)
        .await
        .unwrap();
    assert_eq!(out["status"], "succeeded", "{out}");
    assert_eq!(out["task"], "lms-courses");
    // A failed run fails the invocation (the alarm counts Lambda errors).
    let err = handle(
        &deps,
        &json!({"task": "lms-courses"}),
        None,
        &Continuation::Loop,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("run failed") && err.contains("northpass"),
        "{err}"
    );
}
