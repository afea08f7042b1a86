//! Faults of the sources during a sync: 429 storms, 5xx bursts, malformed
//! pages, hung requests. The run either completes correctly or fails
//! cleanly; data written before stays; a re-run converges to the truth.

use std::time::Duration;

use portal_e2e::{observed, truth::Truth, TestEnv, TestEnvOptions};
use portal_infra::sim::{Server, ServerOptions};
use portal_sync::{Mode, RunStatus, TaskName};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_complete_correctly_or_fail_cleanly_and_rerun_converges() {
    // Mixed faults on both servers; the clients' retries absorb them.
    // Sized so every kind is met a few times but waited for little: the
    // client paces below the server's limit (429s come only from the
    // client's bigger burst after an idle spell, each costing the ≥ 1 s
    // Retry-After), and a hang outlasts the client's 2 s timeout
    // (`fast_northpass_config`) without keeping the server busy for long.
    let noisy = ServerOptions {
        rate_limit: Some(60.0),
        burst: 5,
        p_5xx: 0.08,
        p_malformed: 0.05,
        p_hang: 0.03,
        hang: Duration::from_secs(4),
        seed: 11,
        ..Default::default()
    };
    // A handful of partners: every fault path is exercised just the same.
    let env = TestEnv::start(TestEnvOptions {
        northpass: noisy.clone(),
        impartner: ServerOptions {
            rate_limit: None,
            seed: 12,
            ..noisy.clone()
        },
        northpass_rate: 50.0,
        accounts: Some(10),
        ..Default::default()
    })
    .await
    .unwrap();
    let runs = portal_sync::run_all(&env.deps, Mode::Full, None).await;
    let np = env.sims.stats().northpass;
    eprintln!(
        "faults seen: 429 {} 5xx {} malformed {} hangs {} of {} requests",
        np.rate_limited, np.injected_5xx, np.malformed, np.hangs, np.total_requests
    );
    assert!(
        np.rate_limited > 0 && np.injected_5xx > 0 && np.malformed > 0 && np.hangs > 0,
        "{np:?}"
    );
    let t = Truth::from_dataset(&env.dataset, &env.config);
    if runs.iter().all(|r| r.status == RunStatus::Succeeded) {
        // Completed: it must be correct.
        assert_eq!(
            observed::views(&env.store, &env.config, env.now)
                .await
                .unwrap(),
            t.views(env.now)
        );
    } else {
        // Failed: cleanly, with the error; a quiet re-run converges.
        let failed = runs.iter().find(|r| r.status == RunStatus::Failed).unwrap();
        assert!(failed.error.is_some(), "{failed:?}");
        env.sims
            .set_options(Server::Northpass, ServerOptions::default());
        env.sims
            .set_options(Server::Impartner, ServerOptions::default());
        env.sync_all(Mode::Full).await;
        assert_eq!(
            observed::views(&env.store, &env.config, env.now)
                .await
                .unwrap(),
            t.views(env.now)
        );
    }

    // A total outage of Northpass: the enrollment run fails cleanly, the
    // data already there stays as it was, nothing is left locked.
    let before = observed::views(&env.store, &env.config, env.now)
        .await
        .unwrap();
    env.sims.set_options(
        Server::Northpass,
        ServerOptions {
            p_5xx: 1.0,
            ..Default::default()
        },
    );
    let s =
        portal_sync::run_to_completion(&env.deps, TaskName::LmsEnrollments, Mode::Full, None).await;
    assert_eq!(s.status, RunStatus::Failed, "{s:?}");
    assert!(
        s.error
            .as_deref()
            .unwrap_or("")
            .contains("could not be fetched"),
        "{s:?}"
    );
    assert_eq!(
        observed::views(&env.store, &env.config, env.now)
            .await
            .unwrap(),
        before
    );
    assert!(env
        .store
        .get_lease("lms-enrollments")
        .await
        .unwrap()
        .is_none());
    let s = portal_sync::run_to_completion(&env.deps, TaskName::LmsUsers, Mode::Full, None).await;
    assert_eq!(s.status, RunStatus::Failed);
    assert!(
        s.error.as_deref().unwrap_or("").contains("northpass"),
        "{s:?}"
    );

    // Back to normal: a re-run converges to the truth.
    env.sims
        .set_options(Server::Northpass, ServerOptions::default());
    env.sync_all(Mode::Full).await;
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
}
