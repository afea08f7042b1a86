//! Faults of the sources during a sync, scripted request by request so
//! every run meets exactly the same ones: 5xx, 429 storms, truncated pages
//! and hung requests that the clients' retries absorb (the result equals the
//! reference model), and outages that fail a task cleanly — nothing lost,
//! the lease released, the watermark unchanged — after which a clean re-run
//! equals the reference model.

use std::time::Duration;

use portal_e2e::{TestEnv, TestEnvOptions};
use portal_infra::sim::{FaultAction, ScriptedFault, Server};
use portal_sync::{Mode, RunStatus, TaskName};

fn status(code: u16) -> FaultAction {
    FaultAction::Status {
        code,
        retry_after: None,
    }
}

async fn small_env() -> TestEnv {
    // A handful of partners: every fault path is exercised just the same.
    TestEnv::start(TestEnvOptions {
        accounts: Some(10),
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_faults_are_absorbed_and_the_result_equals_the_reference() {
    let env = small_env().await;
    env.sims.script_faults(
        Server::Northpass,
        vec![
            ScriptedFault::nth("GET /v2/people", 1, status(503)),
            ScriptedFault::nth("GET /v2/groups", 1, FaultAction::Truncate),
            ScriptedFault::nth("GET /v2/courses", 1, status(502)),
            ScriptedFault::nth("/memberships", 2, status(500)),
            // A hang outlasts the client's 2 s timeout (`fast_northpass_config`).
            ScriptedFault::nth(
                "GET /v2/transcripts",
                2,
                FaultAction::Hang(Duration::from_secs(4)),
            ),
            // A 429 storm, with and without Retry-After.
            ScriptedFault::run(
                "GET /v2/transcripts",
                4,
                3,
                FaultAction::Status {
                    code: 429,
                    retry_after: Some(1),
                },
            ),
            ScriptedFault::run("GET /v2/transcripts", 7, 2, status(429)),
            ScriptedFault::nth("GET /v2/transcripts", 9, FaultAction::Truncate),
        ],
    );
    env.sims.script_faults(
        Server::Impartner,
        vec![
            ScriptedFault::nth("GET /api/objects/v1/Account", 1, status(500)),
            ScriptedFault::nth("GET /api/objects/v1/User", 1, FaultAction::Truncate),
        ],
    );
    let runs = env.sync_all(Mode::Full).await;
    let np = env.sims.stats().northpass;
    let prm = env.sims.stats().impartner;
    assert_eq!(np.injected_5xx, 3, "{np:?}");
    assert_eq!(np.malformed, 2, "{np:?}");
    assert_eq!(np.hangs, 1, "{np:?}");
    assert_eq!(np.rate_limited, 5, "{np:?}");
    assert_eq!((prm.injected_5xx, prm.malformed), (1, 1), "{prm:?}");
    for r in &runs {
        assert!(r.error.is_none(), "{r:?}");
    }
    env.assert_matches_reference().await;
    for t in TaskName::ALL {
        assert!(env.store.get_lease(t.as_str()).await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_the_task_cleanly_and_loses_nothing() {
    let env = small_env().await;
    env.sync_all(Mode::Full).await;
    env.assert_matches_reference().await;
    let before = env.data_items().await;
    assert!(
        before["ENR"].len() > 10,
        "data to lose: {:?}",
        before["ENR"].len()
    );

    // A source answers 503 from its n-th request on (transcripts after a
    // few good ones): the task fails, whatever the interleaving of its
    // concurrent fetches.
    for (task, route, from) in [
        (TaskName::LmsEnrollments, "GET /v2/transcripts", 3),
        (TaskName::LmsUsers, "GET /v2/people", 1),
        (TaskName::LmsGroups, "/memberships", 2),
    ] {
        let watermark = env.watermark(task.as_str()).await;
        assert!(watermark.is_some(), "{task:?} ran before");
        env.sims.script_faults(
            Server::Northpass,
            vec![ScriptedFault::from_nth(route, from, status(503))],
        );
        let s = env.sync(task, Mode::Full).await;
        assert_eq!(s.status, RunStatus::Failed, "{s:#?}");
        let err = s.error.clone().unwrap_or_default();
        assert!(
            err.to_lowercase().contains("northpass") || err.contains("could not be fetched"),
            "{err}"
        );
        assert_eq!(env.data_items().await, before, "{task:?} changed data");
        assert!(
            env.store.get_lease(task.as_str()).await.unwrap().is_none(),
            "{task:?} left its lease"
        );
        assert_eq!(env.watermark(task.as_str()).await, watermark, "{task:?}");
        let state = env
            .store
            .get_task_state(task.as_str())
            .await
            .unwrap()
            .unwrap();
        assert!(state.checkpoint.is_none(), "{state:?}");
        let runs: Vec<portal_core::task_run::RunRecord> =
            env.store.recent_runs(task.as_str(), 1).await.unwrap();
        assert_eq!(runs[0].status, "failed", "{runs:?}");
        assert_eq!(runs[0].error.as_deref(), Some(err.as_str()));
    }

    // The outage ends: a clean re-run equals the reference model and
    // finds nothing to change.
    env.sims.script_faults(Server::Northpass, Vec::new());
    env.sync_all(Mode::Full).await;
    env.assert_matches_reference().await;
    assert_eq!(env.data_items().await, before, "re-run of unchanged data");
}
