//! Recertification enrolment end to end (issue 16): a certification
//! definition names a recert course and the LMS group that has it
//! assigned; the sync's `lms-recert` task runs on several simulated days
//! (the business clock pinned and moved between runs) against the
//! Northpass simulator through the real client. Each holder is enrolled
//! once, when due; a re-run enrols nobody; a failed LMS call is reported
//! in the run record and retried the next day; the `recertifications`
//! report shows the enrolment, then its completion.

mod reports_support;

use chrono::{DateTime, Duration, Months, Utc};
use portal_core::clock::Clock;
use portal_infra::sim::{FaultAction, Mutation, ScriptedFault, Server};
use portal_sync::{Mode, RunStatus, RunSummary, TaskName};
use reports_support::{small_world, World, ADMIN};
use reqwest::Method;
use serde_json::{json, Value};

const ADD_PEOPLE: &str = "POST /v2/groups/{id}/relationships/people";

/// `lms-recert` with the business clock at `at`.
async fn recert_on(w: &World, at: DateTime<Utc>) -> RunSummary {
    let mut deps = w.env.deps.clone();
    deps.config.clock = Clock::Fixed(at);
    portal_sync::run_to_completion(&deps, TaskName::LmsRecert, Mode::Full, None).await
}

/// The person's records of `course` in the simulator: (status, enrolled_at).
fn sim_records(w: &World, person: &str, course: &str) -> Vec<(String, Option<String>)> {
    w.env
        .sims
        .dataset_snapshot()
        .transcripts
        .get(person)
        .map(|list| {
            list.iter()
                .filter(|t| t.attributes.resource_id == course)
                .map(|t| {
                    (
                        t.attributes.progress_status.clone(),
                        t.attributes.enrolled_at.clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn adds(w: &World) -> u64 {
    w.env.sims.stats().northpass.count(ADD_PEOPLE)
}

async fn report(w: &World) -> Vec<(String, String)> {
    let v = w.admin_json("/api/reports/recertifications").await;
    let mut out: Vec<(String, String)> = v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|r| {
            (
                r["user_id"].as_str().unwrap().to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_holders_are_enrolled_once_failures_retried_and_reported() {
    let w = small_world().await;
    let t = &w.reference;
    let now = w.env.now;
    // Two courses nobody in the chosen pair has a record of: the
    // certification's course and its recert course.
    let courses: Vec<&str> = t.courses.values().map(|c| c.id.as_str()).collect();
    let members: Vec<(String, String)> = t
        .tracked()
        .filter_map(|p| p.group_id.as_deref().map(|g| (p.id.clone(), g)))
        .flat_map(|(p, g)| {
            t.groups[g]
                .1
                .iter()
                .filter(|u| t.users.get(*u).is_some_and(|x| x.active))
                .map(move |u| (p.clone(), u.clone()))
        })
        .collect();
    let (pair, cert_course, recert_course) = members
        .windows(2)
        .find_map(|m| {
            let free: Vec<&str> = courses
                .iter()
                .copied()
                .filter(|c| {
                    m.iter()
                        .all(|(_, u)| !t.records.contains_key(&(u.clone(), c.to_string())))
                })
                .collect();
            (free.len() >= 2 && m[0].1 != m[1].1)
                .then(|| (m.to_vec(), free[0].to_string(), free[1].to_string()))
        })
        .expect("two members without two courses");
    let (u1, u2) = (pair[0].1.clone(), pair[1].1.clone());

    // The LMS side: a group with the recert course assigned.
    let group = w
        .env
        .sims
        .mutate(Mutation::AddGroup {
            name: "Recertification - Automation Expert".into(),
            course_ids: vec![recert_course.clone()],
        })
        .unwrap()
        .id
        .unwrap();
    let r = w
        .send(
            Method::POST,
            "/api/admin/certifications",
            Some(ADMIN),
            Some(
                json!({"name": "Automation Expert", "courses": [cert_course],
                "validity_months": 24, "npcu": 2,
                "recert_course_id": recert_course, "recert_days_before": 30}),
            ),
        )
        .await;
    assert_eq!(r.status(), 400, "a recert course needs its group");
    let r = w
        .send(
            Method::POST,
            "/api/admin/certifications",
            Some(ADMIN),
            Some(
                json!({"name": "Automation Expert", "courses": [cert_course],
                "validity_months": 24, "npcu": 2,
                "recert_course_id": recert_course, "recert_group_id": group,
                "recert_days_before": 30}),
            ),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let cert = created["created"]["id"].as_str().unwrap().to_string();

    // u1 expires in 40 days, u2 in 45 (completed 24 months before that).
    let done_at = |in_days: i64| (now + Duration::days(in_days)) - Months::new(24);
    for (u, d) in [(&u1, 40), (&u2, 45)] {
        w.env
            .sims
            .mutate(Mutation::CompleteCourse {
                person_id: u.clone(),
                course_id: cert_course.clone(),
                at: Some(done_at(d)),
            })
            .unwrap();
    }
    let s = w.env.sync(TaskName::LmsEnrollments, Mode::Full).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:?}");

    // Day 0: nobody is due yet (due 10 and 15 days from now).
    let s = recert_on(&w, now).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:?}");
    assert_eq!(s.counts.processed, 0, "{s:?}");
    assert_eq!(adds(&w), 0);

    // Day 12 (u1 due since day 10, a missed day caught up), but the LMS
    // call fails on every attempt: nothing enrolled, the run fails and
    // says why.
    w.env.sims.script_faults(
        Server::Northpass,
        vec![ScriptedFault::from_nth(
            ADD_PEOPLE,
            1,
            FaultAction::Status {
                code: 503,
                retry_after: None,
            },
        )],
    );
    let day12 = now + Duration::days(12);
    let s = recert_on(&w, day12).await;
    assert_eq!(s.status, RunStatus::Failed, "{s:?}");
    assert_eq!((s.counts.processed, s.counts.failed), (1, 1), "{s:?}");
    assert!(adds(&w) >= 1, "the LMS was called");
    assert!(sim_records(&w, &u1, &recert_course).is_empty());
    let runs: Vec<Value> = w.env.store.recent_runs("lms-recert", 1).await.unwrap();
    let rec = &runs[0];
    assert_eq!(
        (rec["status"].as_str(), rec["failed"].as_u64()),
        (Some("failed"), Some(1)),
        "{rec}"
    );
    let error = rec["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&u1) && error.contains("next run retries"),
        "{rec}"
    );
    let stored = w.env.store.recert_enrolments_of(&u1, &cert).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].done && stored[0].error.is_some(), "{stored:?}");

    // Day 13, the LMS answers again: u1 enrolled, once.
    w.env.sims.script_faults(Server::Northpass, vec![]);
    let day13 = now + Duration::days(13);
    let before = adds(&w);
    let s = recert_on(&w, day13).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:?}");
    assert_eq!((s.counts.processed, s.counts.created), (1, 1), "{s:?}");
    assert_eq!(adds(&w), before + 1);
    let recs = sim_records(&w, &u1, &recert_course);
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].0, "enrolled");
    assert!(
        sim_records(&w, &u2, &recert_course).is_empty(),
        "u2 not due"
    );

    // A re-run the same day enrols nobody and calls nothing.
    let before = adds(&w);
    let s = recert_on(&w, day13 + Duration::hours(3)).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:?}");
    assert_eq!((s.counts.created, s.counts.unchanged), (0, 1), "{s:?}");
    assert_eq!(adds(&w), before);

    // Day 16: u2 due, enrolled; u1 not again.
    let before = adds(&w);
    let s = recert_on(&w, now + Duration::days(16)).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:?}");
    assert_eq!(
        (s.counts.processed, s.counts.created, s.counts.unchanged),
        (2, 1, 1),
        "{s:?}"
    );
    assert_eq!(adds(&w), before + 1);
    assert_eq!(sim_records(&w, &u1, &recert_course), recs, "u1 untouched");
    assert_eq!(sim_records(&w, &u2, &recert_course).len(), 1);

    // The report: both enrolled.
    assert_eq!(
        report(&w).await,
        vec![
            (u1.clone(), "enrolled".to_string()),
            (u2.clone(), "enrolled".to_string())
        ]
    );
    let v = w.admin_json("/api/reports/recertifications").await;
    let row = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == u1.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["certification"], cert.as_str());
    assert_eq!(row["recert_course_id"], recert_course.as_str());
    assert_eq!(row["partner_id"], pair[0].0.as_str());
    assert!(row["email"].as_str().unwrap().contains('@'));
    assert_eq!(
        row["due_on"],
        (now + Duration::days(10)).format("%Y-%m-%d").to_string()
    );

    // u1 completes the recert course in the LMS; the next enrollment sync
    // stores it and the report says completed.
    w.env
        .sims
        .mutate(Mutation::CompleteCourse {
            person_id: u1.clone(),
            course_id: recert_course.clone(),
            at: Some(now + Duration::days(20)),
        })
        .unwrap();
    let s = w.env.sync(TaskName::LmsEnrollments, Mode::Full).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:?}");
    assert_eq!(
        report(&w).await,
        vec![
            (u1.clone(), "completed".to_string()),
            (u2.clone(), "enrolled".to_string())
        ]
    );
    let r = w
        .get(
            "/api/reports/recertifications?outcome=completed&format=csv",
            Some(ADMIN),
        )
        .await;
    assert_eq!(r.status(), 200);
    let csv = r.text().await.unwrap();
    assert!(csv.contains(&u1) && !csv.contains(&u2), "{csv}");
    let r = w
        .get("/api/reports/recertifications?outcome=soon", Some(ADMIN))
        .await;
    assert_eq!(r.status(), 400);
}
