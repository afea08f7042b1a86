//! History over several simulated days: the sources change from day to
//! day (a member completes a certification, a certified member is
//! deactivated), the clock (`PORTAL_NOW`, and the simulators' clock) moves
//! a day between syncs, and each day's sync writes that day's point once.
//! `GET /api/partners/{id}/history` then answers the stored points — equal
//! to the reference model's numbers of that day's data at that day's sync
//! — and, before the first snapshot, points reconstructed from today's
//! records (`reconstructed: true`), equal to the reference model of the
//! current data restricted to what was completed by each day.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use portal_core::config::Secret;
use portal_e2e::reference::{Numbers, Progress, Reference};
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_infra::sim::Mutation;
use portal_reports::local::spawn;
use portal_reports::AppState;
use portal_sync::{Deps, Mode, RunStatus};
use serde_json::{json, Value};

const ADMIN: &str = "history-admin-token-0123456789abcdef";

/// Deps whose clock is pinned to `at`.
fn deps_at(env: &TestEnv, at: DateTime<Utc>) -> Deps {
    Deps {
        config: env
            .config_with(&[("PORTAL_NOW", &at.to_rfc3339())])
            .expect("config"),
        ..env.deps.clone()
    }
}

async fn sync_day(env: &TestEnv, at: DateTime<Utc>, mode: Mode) -> Vec<portal_sync::RunSummary> {
    env.sims.set_clock(at);
    let runs = portal_sync::run_all(&deps_at(env, at), mode, None).await;
    for r in &runs {
        assert_eq!(r.status, RunStatus::Succeeded, "{r:#?}");
    }
    runs
}

/// Points the crm-push run says it wrote.
fn points_written(runs: &[portal_sync::RunSummary]) -> u64 {
    runs.iter()
        .filter(|r| r.task == "crm-push")
        .filter_map(|r| r.details.get("history_points").and_then(Value::as_u64))
        .sum()
}

/// The reference numbers as the history route spells them.
fn expect(n: &Numbers) -> Value {
    let cats: serde_json::Map<String, Value> = n
        .by_category
        .iter()
        .map(|(k, (u, npcu, c))| {
            (
                k.clone(),
                json!({"users": u, "npcu": npcu, "certifications": c}),
            )
        })
        .collect();
    json!({
        "npcu": n.npcu,
        "certified_users": n.certified_users,
        "certifications": n.certifications,
        "by_category": cats,
    })
}

fn numbers_of(point: &Value) -> Value {
    json!({
        "npcu": point["npcu"],
        "certified_users": point["certified_users"],
        "certifications": point["certifications"],
        "by_category": point["by_category"],
    })
}

fn end_of(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0).unwrap().and_utc() + Duration::days(1) - Duration::milliseconds(1)
}

/// The reference of the current data with only the records completed by
/// the end of `d`: what a reconstruction of that day can know.
fn completed_by(r: &Reference, d: NaiveDate) -> Reference {
    let mut r = r.clone();
    r.records
        .retain(|_, rec| rec.completed_at.is_none_or(|c| c <= end_of(d)));
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_snapshots_a_day_at_a_time_and_reconstructs_before() {
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(6),
        ..Default::default()
    })
    .await
    .expect("test env");
    let day0 = env.now + Duration::hours(6);
    let days: Vec<DateTime<Utc>> = (0..3).map(|k| day0 + Duration::days(k)).collect();

    // Day 0: the first sync; its snapshot is the first point.
    let runs = sync_day(&env, days[0], Mode::Full).await;
    let r0 = env.reference();
    let tracked: Vec<String> = r0.tracked().map(|p| p.id.clone()).collect();
    assert_eq!(points_written(&runs), tracked.len() as u64);
    // A second sync the same day adds nothing.
    let again = sync_day(&env, days[0] + Duration::hours(3), Mode::Incremental).await;
    assert_eq!(points_written(&again), 0);

    // The partner whose history we follow: a member without some
    // certification (day 1 completes it), and a certified member (day 2
    // deactivates them).
    let cert_courses: Vec<&str> = r0
        .courses
        .values()
        .filter(|c| c.npcu > 0)
        .map(|c| c.id.as_str())
        .collect();
    let counted = |r: &Reference, u: &str, at: DateTime<Utc>| {
        cert_courses.iter().any(|c| {
            r.records
                .get(&(u.to_string(), c.to_string()))
                .is_some_and(|rec| {
                    rec.progress == Progress::Completed && r.expiry(rec).is_none_or(|e| e > at)
                })
        })
    };
    let (pid, learner, course, leaver) = tracked
        .iter()
        .find_map(|pid| {
            let p = &r0.partners[pid];
            let active: Vec<&String> = p.members.iter().filter(|u| r0.users[*u].active).collect();
            let (learner, course) = active.iter().find_map(|u| {
                cert_courses
                    .iter()
                    .find(|c| {
                        r0.records
                            .get(&(u.to_string(), c.to_string()))
                            .is_none_or(|rec| rec.progress != Progress::Completed)
                    })
                    .map(|c| (u.to_string(), c.to_string()))
            })?;
            let leaver = active
                .iter()
                .find(|u| ***u != learner && counted(&r0, u, days[2]))?;
            Some((pid.clone(), learner, course, leaver.to_string()))
        })
        .expect("a partner with a learner and a certified member");

    // Day 1: the learner completes the course.
    env.sims.set_clock(days[1]);
    env.sims
        .mutate(Mutation::CompleteCourse {
            person_id: learner.clone(),
            course_id: course.clone(),
            at: None,
        })
        .unwrap();
    let r1 = env.reference();
    let runs = sync_day(&env, days[1], Mode::Incremental).await;
    assert_eq!(points_written(&runs), tracked.len() as u64);

    // Day 2: the certified member is deactivated.
    env.sims.set_clock(days[2]);
    env.sims
        .mutate(Mutation::DeactivatePerson {
            person_id: leaver.clone(),
        })
        .unwrap();
    let r2 = env.reference();
    let runs = sync_day(&env, days[2], Mode::Incremental).await;
    assert_eq!(points_written(&runs), tracked.len() as u64);

    // The numbers did move from day to day (the comparison is not vacuous).
    let n = |r: &Reference, at| r.partner_numbers(&r.partners[&pid], at);
    let (n0, n1, n2) = (n(&r0, days[0]), n(&r1, days[1]), n(&r2, days[2]));
    assert!(n1.npcu > n0.npcu, "{n0:?} -> {n1:?}");
    assert!(n2.npcu < n1.npcu, "{n1:?} -> {n2:?}");

    // The route, served as of day 2.
    let cfg = env
        .config_with(&[("PORTAL_NOW", &days[2].to_rfc3339())])
        .unwrap();
    let state = AppState::new(&cfg, env.store.clone())
        .with_admin_token(ADMIN)
        .with_link_key(Secret::new("history-link-key"));
    let server = spawn(state, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("server");
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", server.url());
        async move { http.get(url).bearer_auth(ADMIN).send().await.unwrap() }
    };
    let d0 = days[0].date_naive();
    let from = d0 - Duration::days(10);
    let to = days[2].date_naive();
    let r = get(format!("/api/partners/{pid}/history?from={from}&to={to}")).await;
    assert_eq!(r.status(), 200);
    let h: Value = r.json().await.unwrap();
    let points = h["points"].as_array().unwrap();
    assert_eq!(points.len(), 13, "one point a day");
    assert_eq!(h["first_snapshot"], d0.to_string());
    for (i, p) in points.iter().enumerate() {
        let date = from + Duration::days(i as i64);
        assert_eq!(p["date"], date.to_string());
        let snapshot = date >= d0;
        assert_eq!(p["reconstructed"], !snapshot, "{p}");
        let want = if snapshot {
            let k = (date - d0).num_days() as usize;
            let r = [&r0, &r1, &r2][k];
            n(r, days[k])
        } else {
            let past = completed_by(&r2, date);
            n(&past, end_of(date))
        };
        assert_eq!(numbers_of(p), expect(&want), "{date}");
        if let Some(req) = r2.required(&r2.partners[&pid]) {
            assert_eq!(p["required_npcu"], req);
        }
    }
    // Why snapshots: rebuilt from today's records, day 0 would miss the
    // leaver's certifications, which its snapshot still has.
    let rebuilt = n(&completed_by(&r2, d0), end_of(d0));
    assert!(
        u64::from(rebuilt.npcu) < points[10]["npcu"].as_u64().unwrap(),
        "{rebuilt:?}"
    );

    // Bad ranges are 400 naming the parameter; nothing is read.
    for (q, param) in [
        ("from=yesterday", "from"),
        ("to=2999-01-01", "to"),
        (&*format!("from={to}&to={from}"), "from"),
        ("from=2020-01-01", "from"),
        ("days=3", "days"),
    ] {
        let r = get(format!("/api/partners/{pid}/history?{q}")).await;
        assert_eq!(r.status(), 400, "{q}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["parameter"], param, "{q}");
    }
    // Unknown partner: 404. No credential: 401.
    assert_eq!(get("/api/partners/nope/history".into()).await.status(), 404);
    let anon = http
        .get(format!("{}/api/partners/{pid}/history", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    // Default range: the last 30 days, ending today.
    let r = get(format!("/api/partners/{pid}/history")).await;
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["points"].as_array().unwrap().len(), 30);
    assert_eq!(h["to"], to.to_string());
}
