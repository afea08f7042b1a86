//! The task runtime against the real store: the lease lock, stuck-run
//! takeover, checkpoints under a tiny time budget, the Lambda event shapes
//! and a wrong API key.

use std::time::Duration;

use chrono::Utc;
use portal_core::task_run::RunRecord;
use portal_e2e::{observed, TestEnv, TestEnvOptions};
use portal_infra::sim::{FaultAction, ScriptedFault, Server, ServerOptions};
use portal_sync::handler::{handle, Continuation};
use portal_sync::{run_task, Budget, Mode, RunStatus, TaskName};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_one_runs_and_stale_lock_is_taken_over() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    // The first people page takes 1.5 s, so whichever run got the lease
    // still holds it when the other one asks.
    env.sims.script_faults(
        Server::Northpass,
        vec![ScriptedFault::nth(
            "GET /v2/people",
            1,
            FaultAction::Delay(Duration::from_millis(1500)),
        )],
    );
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
    let (winner, loser) = if a.status == RunStatus::AlreadyRunning {
        (&b, &a)
    } else {
        (&a, &b)
    };
    // The loser wrote nothing: no counts, no run record of its own.
    assert_eq!(loser.counts, Default::default(), "{loser:?}");
    let runs: Vec<RunRecord> = env.store.recent_runs("lms-users", 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].run_id, winner.run_id);
    assert_eq!(runs[0].status, "succeeded");
    assert!(winner.counts.created > 0, "{winner:?}");
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
    let started = now - chrono::Duration::minutes(31);
    let crashed = RunRecord {
        task: "lms-courses".into(),
        run_id: "crashed-run".into(),
        mode: "full".into(),
        started_at: started,
        status: RunStatus::Running,
        invocations: 1,
        ..Default::default()
    };
    env.store
        .put_run("lms-courses", started, "crashed-run", &crashed)
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
    let runs: Vec<RunRecord> = env.store.recent_runs("lms-courses", 10).await.unwrap();
    let stuck = runs.iter().find(|r| r.run_id == "crashed-run").unwrap();
    assert_eq!(stuck.status, "taken_over", "{runs:#?}");
    let new = runs.iter().find(|r| r.run_id == s.run_id).unwrap();
    assert_eq!(new.status, "succeeded", "{runs:#?}");
}

/// Drives `run` until the simulator reports a hung request, then drops it
/// — a Lambda killed mid-run: no `finish`, the lease left behind.
async fn kill_when_hung<F: std::future::Future<Output = portal_sync::RunSummary>>(
    env: &TestEnv,
    run: F,
) {
    let hangs_before = env.sims.stats().northpass.hangs;
    tokio::pin!(run);
    loop {
        tokio::select! {
            s = &mut run => panic!("the run ended instead of hanging: {s:#?}"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                if env.sims.stats().northpass.hangs > hangs_before {
                    return;
                }
            }
        }
    }
}

/// Re-dates the lease left by a killed run 31 minutes into the past: the
/// store's lease clock is the wall clock, and no test waits half an hour.
async fn make_lease_stale(env: &TestEnv, task: &str) -> String {
    let lease = env
        .store
        .get_lease(task)
        .await
        .unwrap()
        .expect("the killed run left its lease");
    assert!(env.store.release_lease(&lease).await.unwrap());
    env.store
        .acquire_lease(
            task,
            &lease.owner,
            Utc::now() - chrono::Duration::minutes(31),
            chrono::Duration::minutes(30),
        )
        .await
        .unwrap();
    lease.owner
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_killed_runs_are_taken_over_and_resumed_from_the_checkpoint() {
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(8),
        ..Default::default()
    })
    .await
    .unwrap();
    for task in TaskName::ALL
        .into_iter()
        .take_while(|t| *t != TaskName::LmsEnrollments)
    {
        let s = env.sync(task, Mode::Full).await;
        assert_eq!(s.status, RunStatus::Succeeded, "{s:#?}");
    }
    let task = TaskName::LmsEnrollments;
    let name = task.as_str();
    let mut deps = env.deps.clone();
    deps.options.concurrency = 1;
    let hang_from = |n| {
        vec![ScriptedFault::from_nth(
            "GET /v2/transcripts",
            n,
            FaultAction::Hang(Duration::from_secs(60)),
        )]
    };

    // 1. A first invocation is killed while its second chunk is fetched
    //    (the first one being written): no checkpoint, a `running` record.
    env.sims.script_faults(Server::Northpass, hang_from(6));
    kill_when_hung(&env, run_task(&deps, task, Mode::Full, Budget::unlimited())).await;
    env.sims.script_faults(Server::Northpass, Vec::new());
    let crashed = make_lease_stale(&env, name).await;
    let runs: Vec<RunRecord> = env.store.recent_runs(name, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(
        (runs[0].run_id.as_str(), runs[0].status.as_str()),
        (crashed.as_str(), "running")
    );

    // Taken over: the stuck run is marked, the new one does one unit of
    // work and checkpoints.
    let tiny = Budget::of(Duration::from_millis(1), Duration::ZERO);
    let first = run_task(&deps, task, Mode::Full, tiny).await;
    assert_eq!(first.status, RunStatus::Checkpointed, "{first:#?}");
    assert!(
        first.message.as_deref().unwrap_or("").contains(&crashed),
        "{first:?}"
    );
    let runs: Vec<RunRecord> = env.store.recent_runs(name, 10).await.unwrap();
    let status_of = |runs: &[RunRecord], id: &str| {
        runs.iter()
            .find(|r| r.run_id == id)
            .map(|r| r.status.as_str())
    };
    assert_eq!(status_of(&runs, &crashed), Some("taken_over"));
    assert_eq!(status_of(&runs, &first.run_id), Some("checkpointed"));
    let state = env.store.get_task_state(name).await.unwrap().unwrap();
    let checkpoint = state.checkpoint.clone().expect("a checkpoint");
    assert_eq!(checkpoint["run_id"], first.run_id.as_str());
    assert!(
        state.watermark.is_none(),
        "no run of this task succeeded yet"
    );

    // 2. The continuation is killed as well: stale lease + leftover
    //    checkpoint.
    env.sims.script_faults(Server::Northpass, hang_from(6));
    kill_when_hung(&env, run_task(&deps, task, Mode::Full, Budget::unlimited())).await;
    env.sims.script_faults(Server::Northpass, Vec::new());
    let crashed2 = make_lease_stale(&env, name).await;
    let state = env.store.get_task_state(name).await.unwrap().unwrap();
    assert_eq!(
        state.checkpoint,
        Some(checkpoint),
        "the checkpoint is still there"
    );

    // Taken over and resumed from that checkpoint: same run, next
    // invocation, and fewer transcripts fetched than a run from scratch.
    let before = transcript_requests(&env);
    let resumed = run_task(&deps, task, Mode::Full, Budget::unlimited()).await;
    let resumed_requests = transcript_requests(&env) - before;
    assert_eq!(resumed.status, RunStatus::Succeeded, "{resumed:#?}");
    assert_eq!(
        resumed.run_id, first.run_id,
        "continued the checkpointed run"
    );
    assert_eq!(resumed.invocations, 2, "{resumed:#?}");
    assert!(
        resumed.message.as_deref().unwrap_or("").contains(&crashed2),
        "{resumed:?}"
    );
    assert!(env.store.get_lease(name).await.unwrap().is_none());
    let state = env.store.get_task_state(name).await.unwrap().unwrap();
    assert!(
        state.checkpoint.is_none() && state.watermark.is_some(),
        "{state:?}"
    );
    let runs: Vec<RunRecord> = env.store.recent_runs(name, 10).await.unwrap();
    assert!(runs.iter().all(|r| r.status != "running"), "{runs:#?}");
    assert_eq!(status_of(&runs, &first.run_id), Some("succeeded"));

    for task in TaskName::ALL
        .into_iter()
        .skip_while(|t| *t != TaskName::LmsEnrollments)
        .skip(1)
    {
        let s = env.sync(task, Mode::Full).await;
        assert_eq!(s.status, RunStatus::Succeeded, "{s:#?}");
    }
    env.assert_matches_reference().await;

    // A run from scratch fetches every partner user's transcript.
    let before = transcript_requests(&env);
    let fresh = run_task(&deps, task, Mode::Full, Budget::unlimited()).await;
    assert_eq!(fresh.status, RunStatus::Succeeded);
    let fresh_requests = transcript_requests(&env) - before;
    assert!(
        resumed_requests < fresh_requests,
        "resumed {resumed_requests} vs fresh {fresh_requests}"
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

    // The end state is the reference model's.
    env.assert_matches_reference().await;
    // No checkpoint is left behind.
    for s in env.store.all_task_states().await.unwrap() {
        assert!(s.checkpoint.is_none(), "{s:?}");
        assert!(s.watermark.is_some(), "{s:?}");
    }
}

/// Stored enrollments and transcript fetch markers (type `TFETCH`), in a
/// stable order.
async fn enrollment_items(env: &TestEnv) -> Vec<String> {
    let mut items = env.data_items().await;
    let mut out = items.remove("ENR").unwrap_or_default();
    assert!(!out.is_empty(), "enrollments stored");
    out.extend(items.remove("TFETCH").unwrap_or_default());
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
        observed::numbers(&resumed.store, &resumed.config, resumed.now)
            .await
            .unwrap(),
        observed::numbers(&one_shot.store, &one_shot.config, one_shot.now)
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_api_key_fails_at_once_naming_the_source() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    let deps = env.deps_with(Some("wrong-key"), 500.0).unwrap();
    let s = run_task(&deps, TaskName::LmsUsers, Mode::Full, Budget::unlimited()).await;
    assert_eq!(s.status, RunStatus::Failed);
    let err = s.error.unwrap();
    assert!(
        err.contains("northpass") && err.contains("authentication"),
        "{err}"
    );
    assert_eq!(env.sims.stats().northpass.total_requests, 1, "no retries");
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
