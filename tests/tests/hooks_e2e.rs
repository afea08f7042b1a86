//! The webhook path end to end, with no scheduled run after the initial
//! full sync: the Northpass simulator POSTs its webhooks (redelivered and
//! out of order) to the real reports handler, which enqueues to the
//! emulator's SQS; the sync's consumer polls the queue the way the Lambda
//! event source would. A completion reaches the partner's summary and
//! dashboard; duplicates and out-of-order events change nothing; a wrong
//! secret is 404; a malformed payload is answered 2xx, counted and changes
//! nothing; a new learner is registered.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use portal_core::config::Secret;
use portal_core::store::hooks::HookCounters;
use portal_e2e::reference::Progress;
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_infra::sim::{Mutation, WebhookOptions};
use portal_reports::hooks::{HookQueue, HookSecrets, Hooks};
use portal_reports::local::spawn;
use portal_reports::AppState;
use portal_sync::{Mode, RunStatus, TaskName};
use serde_json::json;

const SECRET: &str = "hook-path-secret-current";
const PREVIOUS: &str = "hook-path-secret-before-rotation";
const ADMIN: &str = "hooks-e2e-admin-token";

/// Waits until the simulator has had `n` deliveries answered 2xx.
async fn deliveries(env: &TestEnv, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = env.sims.webhook_stats();
        assert_eq!(s.failed, 0, "a webhook delivery failed: {s:?}");
        if s.accepted >= n {
            return;
        }
        assert!(Instant::now() < deadline, "webhooks not delivered: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Consumes the queue until it is empty; returns the messages handled.
async fn drain(env: &TestEnv, sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    let mut total = 0;
    loop {
        let (n, failed) = portal_sync::hooks::poll_queue(&env.deps, sqs, url, 0)
            .await
            .expect("poll the queue");
        assert_eq!(failed, 0, "a webhook message failed");
        if n == 0 {
            return total;
        }
        total += n;
    }
}

async fn counters(env: &TestEnv) -> HookCounters {
    env.store.hook_counters().await.expect("counters")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_keep_the_dashboard_current_without_a_scheduled_run() {
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(3),
        ..Default::default()
    })
    .await
    .unwrap();
    env.sync_all(Mode::Full).await;

    let sqs = aws_sdk_sqs::Client::new(&env.emulator.sdk_config().await);
    let queue = sqs
        .create_queue()
        .queue_name(format!("{}-hooks", env.table))
        .send()
        .await
        .expect("create the queue")
        .queue_url()
        .expect("queue url")
        .to_string();
    let state = AppState::new(&env.config, env.store.clone())
        .with_admin_token(ADMIN)
        .with_hooks(Hooks {
            secrets: HookSecrets::fixed(&Secret::new(SECRET), Some(&Secret::new(PREVIOUS))),
            queue: HookQueue {
                client: sqs.clone(),
                url: queue.clone(),
            },
        });
    let server = spawn(state, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("server");
    let hook_url = |s: &str| format!("{}/hooks/northpass/{s}", server.url());
    env.sims.set_webhooks(Some(WebhookOptions {
        url: hook_url(SECRET),
        redeliver: true,
        out_of_order: true,
    }));

    // A partner member completes a certification they had not completed.
    let t = env.reference();
    let cert_courses: BTreeSet<&str> = t
        .courses
        .values()
        .filter(|c| c.npcu > 0)
        .map(|c| c.id.as_str())
        .collect();
    let (partner, user, course) = t
        .tracked()
        .filter_map(|p| p.group_id.as_deref().map(|g| (p.id.clone(), g)))
        .find_map(|(pid, g)| {
            t.groups[g].1.iter().find_map(|u| {
                let active = t.users.get(u).is_some_and(|x| x.active);
                let course = cert_courses.iter().find(|c| {
                    t.records
                        .get(&(u.clone(), c.to_string()))
                        .is_none_or(|r| r.progress != Progress::Completed)
                })?;
                active.then(|| (pid.clone(), u.clone(), course.to_string()))
            })
        })
        .expect("a partner member without some certification");
    let before = env.store.get_summary(&partner).await.unwrap().unwrap();
    env.sims.reset_stats();
    env.sims
        .mutate(Mutation::CompleteCourse {
            person_id: user.clone(),
            course_id: course.clone(),
            at: None,
        })
        .unwrap();
    // The completion and the stale progress event, each delivered twice.
    deliveries(&env, 4).await;
    assert_eq!(drain(&env, &sqs, &queue).await, 2, "one message per event");

    env.assert_matches_reference().await;
    let after = env.store.get_summary(&partner).await.unwrap().unwrap();
    assert_ne!(before, after, "the completion did not reach the summary");
    let dash = env.store.partner_dashboard(&partner).await.unwrap();
    assert!(
        dash.certs
            .iter()
            .any(|r| r.user_id == user && r.course_id == course),
        "no dashboard row for the completion"
    );
    // The learner's transcript (once per batch holding their events),
    // nothing else from Northpass.
    let np = env.sims.stats().northpass;
    let transcripts = np.count("GET /v2/transcripts/{id}");
    assert!((1..=2).contains(&transcripts), "{np:?}");
    assert_eq!(np.total_requests, transcripts, "{np:?}");
    let c = counters(&env).await;
    assert_eq!(
        (c.received, c.duplicates, c.rejected, c.processed, c.failed),
        (2, 2, 0, 2, 0),
        "{c:?}"
    );

    // Nothing below changes the data.
    let items = env.data_items().await;
    let http = reqwest::Client::new();
    let post = |url: String, body: Vec<u8>| {
        let http = http.clone();
        async move {
            http.post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("post")
        }
    };
    let late = json!({"data": {"id": "late-progress-1", "type": "learner_progress_events",
        "attributes": {"created_at": "2020-01-01T00:00:00Z"},
        "relationships": {"person": {"data": {"id": user, "type": "people"}}}}})
    .to_string()
    .into_bytes();
    // A wrong secret, a missing one, another method: 404, like any path.
    for url in [
        hook_url("wrong-secret"),
        format!("{}/hooks/northpass", server.url()),
    ] {
        assert_eq!(post(url, late.clone()).await.status(), 404);
    }
    assert_eq!(
        http.get(hook_url(SECRET)).send().await.unwrap().status(),
        404
    );
    // Malformed payloads: 2xx, counted, dropped.
    for body in [
        &b"{not json"[..],
        br#"{"data": {"id": "x", "type": "people"}}"#,
        b"",
    ] {
        let r = post(hook_url(SECRET), body.to_vec()).await;
        assert_eq!(r.status(), 200, "malformed payloads are answered 2xx");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["status"], "rejected");
    }
    // An old event arriving late, through the previous secret (rotation
    // grace), then its redelivery.
    let r = post(hook_url(PREVIOUS), late.clone()).await;
    assert_eq!(r.status(), 202);
    let r = post(hook_url(SECRET), late.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "duplicate"
    );
    assert_eq!(drain(&env, &sqs, &queue).await, 1);
    assert_eq!(env.data_items().await, items, "data changed");
    let c = counters(&env).await;
    assert_eq!(
        (c.received, c.duplicates, c.rejected, c.processed, c.failed),
        (3, 3, 3, 3, 0),
        "{c:?}"
    );
    // The admin's view: the same counters and an empty queue.
    let status = format!("{}/api/admin/hooks", server.url());
    assert_ne!(http.get(&status).send().await.unwrap().status(), 200);
    let v: serde_json::Value = http
        .get(&status)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["enabled"], true);
    assert_eq!(v["counters"]["rejected"], 3, "{v}");
    assert_eq!(v["counters"]["processed"], 3, "{v}");
    assert_eq!(v["queue"]["waiting"], 0, "{v}");

    // A new learner is registered from the learner-created event.
    let added = env
        .sims
        .mutate(Mutation::AddPerson {
            email: "New.Learner@Example.com".into(),
            first_name: "New".into(),
            last_name: "Learner".into(),
            group_id: None,
        })
        .unwrap();
    deliveries(&env, 6).await;
    assert_eq!(drain(&env, &sqs, &queue).await, 1);
    let id = added.id.expect("person id");
    let stored = env.store.get_user(&id).await.unwrap().expect("registered");
    assert_eq!(stored.email, "New.Learner@Example.com");
    assert_eq!(
        env.store
            .lookup_email("new.learner@example.com")
            .await
            .unwrap()
            .len(),
        1
    );

    // Polling stays the safety net, but the next incremental runs do not
    // fetch again what the webhooks already refreshed.
    env.sims.reset_stats();
    for task in [TaskName::LmsUsers, TaskName::LmsEnrollments] {
        let s = env.sync(task, Mode::Incremental).await;
        assert_eq!(s.status, RunStatus::Succeeded, "{s:#?}");
    }
    let np = env.sims.stats().northpass;
    assert_eq!(np.count("GET /v2/transcripts/{id}"), 0, "{np:?}");
    env.assert_matches_reference().await;
}
