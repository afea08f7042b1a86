//! Certification programs end to end (issue 16): an admin defines a
//! two-course certification over HTTP; a partner user completes one course
//! in the LMS simulator (the sync awards nothing), then the other (awarded,
//! its NPCU counted); staff set *Cancelled* (the NPCU drops at once) and
//! clear it (restored). Bad definitions and statuses are refused, naming
//! the field, and change nothing.

mod reports_support;

use std::collections::BTreeSet;

use portal_infra::sim::Mutation;
use portal_sync::{Mode, TaskName};
use reports_support::{small_world, World, ADMIN};
use reqwest::Method;
use serde_json::{json, Value};

async fn npcu(w: &World, partner: &str) -> u32 {
    let s = w.env.store.get_summary(partner).await.unwrap().unwrap();
    s.view(w.env.now, w.env.config.warning_days, &w.env.config.tiers)
        .npcu
}

/// The dashboard row of `user` × `cert` of the partner, as stored.
async fn row(
    w: &World,
    partner: &str,
    user: &str,
    cert: &str,
) -> Option<portal_core::model::CertRow> {
    w.env
        .store
        .partner_dashboard(partner)
        .await
        .unwrap()
        .certs
        .into_iter()
        .find(|r| r.user_id == user && r.course_id == cert)
}

/// (user, course, NPCU) of the partner's rows that count.
async fn counted(w: &World, partner: &str) -> BTreeSet<(String, String, u8)> {
    let d = w.env.store.partner_dashboard(partner).await.unwrap();
    d.certs
        .into_iter()
        .filter(|r| r.status(w.env.now, 90).counts())
        .map(|r| (r.user_id, r.course_id, r.npcu))
        .collect()
}

async fn full_enrollments(w: &World) {
    let s = w.env.sync(TaskName::LmsEnrollments, Mode::Full).await;
    assert_eq!(s.status, portal_sync::RunStatus::Succeeded, "{s:?}");
}

async fn put_status(w: &World, body: Value) -> (u16, Value) {
    let r = w
        .send(Method::PUT, "/api/admin/status", Some(ADMIN), Some(body))
        .await;
    let code = r.status().as_u16();
    (code, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_course_certification_award_cancel_clear() {
    let w = small_world().await;
    let t = &w.reference;
    let cert_courses: Vec<&str> = t
        .courses
        .values()
        .filter(|c| c.npcu > 0)
        .map(|c| c.id.as_str())
        .collect();
    // A tracked partner's active member with two certification courses
    // they have no record of at all.
    let (partner, user, a, b) = t
        .tracked()
        .filter_map(|p| p.group_id.as_deref().map(|g| (p.id.clone(), g)))
        .find_map(|(p, g)| {
            t.groups[g].1.iter().find_map(|u| {
                if !t.users.get(u).is_some_and(|x| x.active) {
                    return None;
                }
                let free: Vec<&str> = cert_courses
                    .iter()
                    .copied()
                    .filter(|c| !t.records.contains_key(&(u.clone(), c.to_string())))
                    .collect();
                (free.len() >= 2).then(|| {
                    (
                        p.clone(),
                        u.clone(),
                        free[0].to_string(),
                        free[1].to_string(),
                    )
                })
            })
        })
        .expect("a member without two certifications");

    // Bad definitions: 400 naming the field, nothing stored.
    for (body, field) in [
        (
            json!({"name": "X", "courses": [a, b], "require": 3, "npcu": 3}),
            "require",
        ),
        (
            json!({"name": "X", "courses": [a, "no-such-course"], "npcu": 3}),
            "courses",
        ),
        (json!({"name": " ", "courses": [a], "npcu": 3}), "name"),
        (
            json!({"name": "X", "courses": [a, a], "npcu": 3}),
            "courses",
        ),
        (
            json!({"name": "X", "courses": [a], "recert_course_id": a}),
            "recert_course_id",
        ),
        (
            json!({"name": "X", "courses": [a], "validity_months": 0}),
            "validity_months",
        ),
    ] {
        let r = w
            .send(
                Method::POST,
                "/api/admin/certifications",
                Some(ADMIN),
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(v.to_string().contains(field), "{body}: {v}");
    }
    let r = w
        .send(
            Method::POST,
            "/api/admin/certifications",
            Some(ADMIN),
            Some(json!({"name": "X", "courses": [a], "colour": "red"})),
        )
        .await;
    assert_eq!(r.status(), 400, "unknown fields are refused");
    assert!(w.env.store.all_definitions().await.unwrap().is_empty());

    let before = npcu(&w, &partner).await;
    let counted_before = counted(&w, &partner).await;

    // The definition.
    let r = w
        .send(
            Method::POST,
            "/api/admin/certifications",
            Some(ADMIN),
            Some(json!({"name": "Automation Expert", "courses": [a, b], "require": "all", "validity_months": 24, "npcu": 3, "category": "RPA"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let cert = created["created"]["id"].as_str().unwrap().to_string();
    let listed = w.admin_json("/api/admin/certifications").await;
    assert_eq!(listed["data"][0]["id"], cert.as_str());
    assert_eq!(listed["data"][0]["require"], "all");
    // Applied at the next recompute: the nightly full run recomputes every
    // partner.
    full_enrollments(&w).await;
    let base = npcu(&w, &partner).await;
    assert!(
        row(&w, &partner, &user, &cert).await.is_none(),
        "no record of its courses yet"
    );

    // One of the two courses: in progress, no award.
    w.env
        .sims
        .mutate(Mutation::CompleteCourse {
            person_id: user.clone(),
            course_id: a.clone(),
            at: None,
        })
        .unwrap();
    w.env.sync_all(Mode::Incremental).await;
    let r1 = row(&w, &partner, &user, &cert)
        .await
        .expect("a row of the certification");
    assert_eq!(
        r1.status(w.env.now, 90),
        portal_core::model::CertStatus::InProgress
    );
    assert_eq!(
        npcu(&w, &partner).await,
        base,
        "one course of two awards nothing"
    );
    assert!(
        row(&w, &partner, &user, &a).await.is_none(),
        "the course no longer counts on its own"
    );

    // The other: awarded, counted.
    w.env
        .sims
        .mutate(Mutation::CompleteCourse {
            person_id: user.clone(),
            course_id: b.clone(),
            at: None,
        })
        .unwrap();
    w.env.sync_all(Mode::Incremental).await;
    let r2 = row(&w, &partner, &user, &cert).await.unwrap();
    assert_eq!(
        r2.status(w.env.now, 90),
        portal_core::model::CertStatus::Active
    );
    assert_eq!(r2.npcu, 3);
    assert!(r2.expires_at.is_some());
    assert_eq!(npcu(&w, &partner).await, base + 3);

    // Bad statuses: refused, nothing changes.
    for (body, field) in [
        (
            json!({"user_id": user, "certification": cert, "status": "expired"}),
            "status",
        ),
        (
            json!({"user_id": user, "certification": cert, "status": "gone"}),
            "status",
        ),
        (
            json!({"user_id": "nobody", "certification": cert, "status": "cancelled"}),
            "user_id",
        ),
        (
            json!({"user_id": user, "certification": "nothing", "status": "cancelled"}),
            "certification",
        ),
        (
            json!({"certification": cert, "status": "cancelled"}),
            "user_id",
        ),
    ] {
        let (code, v) = put_status(&w, body.clone()).await;
        assert_eq!(code, 400, "{body}: {v}");
        assert!(v.to_string().contains(field), "{body}: {v}");
    }
    assert_eq!(npcu(&w, &partner).await, base + 3);

    // Cancelled (by e-mail): the NPCU drops at once.
    let email = t.users[&user].email.clone();
    let (code, v) = put_status(
        &w,
        json!({"email": email.to_uppercase(), "certification": cert, "status": "cancelled", "note": "exam voided", "by": "ops@vendor.example"}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert!(
        v["partners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["partner_id"] == partner.as_str()),
        "{v}"
    );
    assert_eq!(npcu(&w, &partner).await, base);
    let r3 = row(&w, &partner, &user, &cert).await.unwrap();
    assert_eq!(
        r3.status(w.env.now, 90),
        portal_core::model::CertStatus::Cancelled
    );
    assert_eq!(r3.status_note.as_deref(), Some("exam voided"));
    // The report's status filter takes the new value.
    let mut got: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/reports/user-certifications?status=cancelled&limit=1000".to_string(),
            Some(c) => {
                format!("/api/reports/user-certifications?status=cancelled&limit=1000&cursor={c}")
            }
        };
        let rep = w.admin_json(&path).await;
        got.extend(rep["data"].as_array().unwrap().iter().map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("user_id"), s("course_id"), s("status"))
        }));
        match rep["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        got,
        BTreeSet::from([(user.clone(), cert.clone(), "cancelled".to_string())])
    );

    // The tracking view: by certification and status, with the note and
    // the quick filter's counts; `q` finds the person by e-mail.
    let tr = w
        .admin_json(&format!(
            "/api/reports/tracking?certification={cert}&status=cancelled"
        ))
        .await;
    let data = tr["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{tr}");
    assert_eq!(data[0]["user_id"], user.as_str());
    assert_eq!(data[0]["status_label"], "Cancelled");
    assert_eq!(data[0]["note"], "exam voided");
    assert_eq!(data[0]["npcu"], 0);
    assert_eq!(tr["status_counts"]["cancelled"], 1);
    // Every one of the ten is offered, with its count (0 included).
    for st in portal_core::model::CertStatus::TRACKING {
        assert!(tr["status_counts"][st.as_str()].is_u64(), "{st}: {tr}");
    }
    let by_mail = w
        .admin_json(&format!(
            "/api/reports/tracking?certification={cert}&q={}",
            email.split('@').next().unwrap()
        ))
        .await;
    assert_eq!(by_mail["data"].as_array().unwrap().len(), 1, "{by_mail}");
    let r = w
        .get("/api/reports/tracking?status=soon", Some(ADMIN))
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["parameter"], "status");

    // Cleared: restored; the history keeps both changes with who and when.
    let (code, v) = put_status(
        &w,
        json!({"user_id": user, "certification": cert, "status": null}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(npcu(&w, &partner).await, base + 3);
    let h = w
        .admin_json(&format!(
            "/api/admin/status?user_id={user}&certification={cert}"
        ))
        .await;
    let hist = h["history"].as_array().unwrap();
    assert_eq!(hist.len(), 2, "{h}");
    assert_eq!(hist[0]["status"], "cancelled");
    assert_eq!(hist[0]["by"], "ops@vendor.example");
    assert!(hist[0]["at"].is_string());
    assert!(hist[1]["status"].is_null());

    // Removing the definition: its courses count on their own again.
    let r = w
        .send(
            Method::DELETE,
            &format!("/api/admin/certifications/{cert}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    full_enrollments(&w).await;
    // Counted on their own again (their NPCU as the catalog stores it).
    let mut own = 0;
    for c in [&a, &b] {
        let r = row(&w, &partner, &user, c)
            .await
            .expect("the course's own row");
        assert_eq!(
            r.status(w.env.now, 90),
            portal_core::model::CertStatus::Active
        );
        own += u32::from(r.npcu);
    }
    let counted_after = counted(&w, &partner).await;
    assert_eq!(
        npcu(&w, &partner).await,
        before + own,
        "gained {:?}, lost {:?}",
        counted_after
            .difference(&counted_before)
            .collect::<Vec<_>>(),
        counted_before
            .difference(&counted_after)
            .collect::<Vec<_>>()
    );
    assert!(row(&w, &partner, &user, &cert).await.is_none());
}
