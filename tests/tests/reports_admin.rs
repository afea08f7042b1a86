//! Admin operations over HTTP: task status/history after the real sync,
//! run now (in-process runner), resetting a stuck lock, manual award and
//! organisation certification (the partner's numbers change at once),
//! pinning a group, and the unsubscribe link.

mod reports_support;

use chrono::Duration;
use portal_core::access::unsubscribe_token;
use reports_support::{world, ADMIN, UNSUB_KEY};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_operations() {
    let w = world().await;
    let store = &w.env.store;

    // Task status: every task has a successful last run after the sync.
    let t = w.admin_json("/api/admin/tasks").await;
    let tasks = t["data"].as_array().unwrap();
    let names: std::collections::BTreeSet<&str> =
        tasks.iter().map(|t| t["task"].as_str().unwrap()).collect();
    let want: std::collections::BTreeSet<&str> =
        portal_sync::TaskName::every().map(|t| t.as_str()).collect();
    assert_eq!(names, want, "one status per task");
    assert_eq!(tasks.len(), want.len());
    for task in tasks {
        assert_eq!(task["running"], false, "{task}");
        // The world ran the sync chain; `lms-recert` has its own schedule.
        let chained = portal_sync::TaskName::ALL
            .iter()
            .any(|t| task["task"] == t.as_str());
        assert_eq!(task["last_run"].is_object(), chained, "{task}");
    }
    let runs = w
        .admin_json("/api/admin/tasks/lms-users/runs?limit=5")
        .await;
    assert!(!runs["data"].as_array().unwrap().is_empty());
    let r = w
        .get("/api/admin/tasks/lms-users/runs?limit=500", Some(ADMIN))
        .await;
    assert_eq!(r.status(), 400);

    // Run now: accepted and handed to the runner with the mode.
    let runs_before = crm_partner_runs(&w).await.len();
    let r = w
        .send(
            Method::POST,
            "/api/admin/tasks/crm-partners/run?mode=full",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(w.runs.lock().unwrap()[0].0, "crm-partners");
    // The started run works on the same table as the edits below: wait for
    // its record to say it finished, so it cannot race them.
    let mut finished = None;
    for _ in 0..1200 {
        let runs = crm_partner_runs(&w).await;
        if runs.len() > runs_before && runs[0].status != "running" {
            finished = Some(runs[0].clone());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let finished = finished.expect("the started crm-partners run finished");
    assert_eq!(finished.status, "succeeded", "{finished:?}");
    assert_eq!(finished.mode, "full");
    let r = w
        .send(
            Method::POST,
            "/api/admin/tasks/crm-partners/run?mode=sometimes",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["parameter"], "mode");

    // Reset: a live lock needs force; a stuck (expired) one is cleared.
    let now = chrono::Utc::now();
    store
        .acquire_lease("lms-groups", "someone", now, Duration::minutes(30))
        .await
        .unwrap();
    let r = w
        .send(
            Method::POST,
            "/api/admin/tasks/lms-groups/reset",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 409);
    let r = w
        .send(
            Method::POST,
            "/api/admin/tasks/lms-groups/reset?force=true",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(store.get_lease("lms-groups").await.unwrap().is_none());
    store
        .acquire_lease(
            "lms-courses",
            "crashed",
            now - Duration::hours(2),
            Duration::minutes(30),
        )
        .await
        .unwrap();
    let t = w.admin_json("/api/admin/tasks").await;
    let stuck = t["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["task"] == "lms-courses")
        .unwrap()
        .clone();
    assert_eq!(stuck["lock"]["stuck"], true, "{stuck}");
    let r = w
        .send(
            Method::POST,
            "/api/admin/tasks/lms-courses/reset",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(store.get_lease("lms-courses").await.unwrap().is_none());

    // Manual award: a member without an active cert of some NPCU course
    // gets one; the partner's NPCU grows by the course's NPCU at once.
    let sums = w.summaries().await;
    let courses = store.all_courses().await.unwrap();
    let course = courses
        .iter()
        .filter(|c| c.npcu > 0)
        .max_by_key(|c| c.npcu)
        .unwrap();
    let (partner, user) = {
        let mut found = None;
        for s in sums.iter().filter(|s| s.lms_group_id.is_some()) {
            let d = store.partner_dashboard(&s.partner_id).await.unwrap();
            if let Some(row) = d.certs.iter().find(|r| {
                !d.certs
                    .iter()
                    .any(|x| x.user_id == r.user_id && x.course_id == course.id)
            }) {
                found = Some((s.partner_id.clone(), row.user_id.clone()));
                break;
            }
        }
        found.expect("a member without the course")
    };
    let before = w.admin_json(&format!("/api/partners/{partner}")).await["npcu"]
        .as_u64()
        .unwrap();
    let r = w
        .send(
            Method::POST,
            "/api/admin/awards",
            Some(ADMIN),
            Some(json!({"kind": "award", "partner_id": partner, "user_id": user, "course_id": course.id, "completed_at": (w.env.now - Duration::days(10)).to_rfc3339()})),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let after = w.admin_json(&format!("/api/partners/{partner}")).await["npcu"]
        .as_u64()
        .unwrap();
    assert_eq!(after, before + u64::from(course.npcu));

    // Organisation certification.
    let r = w
        .send(
            Method::POST,
            "/api/admin/awards",
            Some(ADMIN),
            Some(json!({"kind": "org", "partner_id": partner, "name": "ISO 9001", "npcu": 3, "starts_at": "2026-01-01", "ends_at": "2027-12-31"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let d = w.admin_json(&format!("/api/partners/{partner}")).await;
    assert_eq!(d["npcu"].as_u64().unwrap(), after + 3);
    assert_eq!(d["org_certifications"][0]["name"], "ISO 9001");
    // Bad dates name the field.
    let r = w
        .send(Method::POST, "/api/admin/awards", Some(ADMIN), Some(json!({"kind": "org", "partner_id": partner, "name": "x", "npcu": 1, "starts_at": "soon", "ends_at": "2027-01-01"})))
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("starts_at"));

    // Pin a partner without group to some group.
    {
        let s = sums
            .iter()
            .find(|s| s.lms_group_id.is_none())
            .expect("a partner without group");
        let group = store
            .all_groups()
            .await
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        let r = w
            .send(
                Method::PUT,
                &format!("/api/admin/partners/{}/group", s.partner_id),
                Some(ADMIN),
                Some(json!({"group_id": group.id})),
            )
            .await;
        assert_eq!(r.status(), 200);
        let p = store.get_partner(&s.partner_id).await.unwrap().unwrap();
        assert_eq!(p.lms_group_id.as_deref(), Some(group.id.as_str()));
        assert!(p.group_pinned);
        let sum = store.get_summary(&s.partner_id).await.unwrap().unwrap();
        assert_eq!(sum.lms_group_id.as_deref(), Some(group.id.as_str()));
    }
    let r = w
        .send(
            Method::PUT,
            &format!("/api/admin/partners/{partner}/group"),
            Some(ADMIN),
            Some(json!({"group_id": "no-such-group"})),
        )
        .await;
    assert_eq!(r.status(), 400);

    // Unsubscribe: opening a valid link only asks; POST records the
    // opt-out; a forged one does nothing (the full flow is in
    // security_unsubscribe.rs).
    let now = w.env.now;
    let token = unsubscribe_token(UNSUB_KEY, "Someone@Example.com", now);
    let r = w.get(&format!("/unsubscribe/{token}"), None).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("s•••@example.com"));
    assert!(!store.is_opted_out("someone@example.com").await.unwrap());
    let r = w
        .send(Method::POST, &format!("/unsubscribe/{token}"), None, None)
        .await;
    assert_eq!(r.status(), 200);
    assert!(store.is_opted_out("someone@example.com").await.unwrap());
    let forged = unsubscribe_token("wrong-key", "other@example.com", now);
    assert_eq!(
        w.send(Method::POST, &format!("/unsubscribe/{forged}"), None, None)
            .await
            .status(),
        404
    );
    assert!(!store.is_opted_out("other@example.com").await.unwrap());
}

async fn crm_partner_runs(w: &reports_support::World) -> Vec<portal_core::task_run::RunRecord> {
    w.env
        .store
        .recent_runs("crm-partners", 20)
        .await
        .expect("run history")
}
