//! After a full sync and a set of changes in both sources, an incremental
//! sync picks up exactly those changes (the stored result equals the truth
//! of the changed data) with a bounded number of Northpass requests.

use std::collections::BTreeSet;

use portal_e2e::{observed, truth::Truth, TestEnv, TestEnvOptions};
use portal_infra::sim::Mutation;
use portal_sync::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_sync_picks_up_exactly_the_changes() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    env.sync_all(Mode::Full).await;
    let full_requests = env.sims.stats().northpass.total_requests;

    let t = Truth::from_dataset(&env.dataset, &env.config);
    let linked: Vec<(&str, &str)> = t
        .partners
        .iter()
        .filter(|p| p.tracked)
        .filter_map(|p| p.lms_group_id.as_deref().map(|g| (p.id.as_str(), g)))
        .collect();
    let members_of = |g: &str| -> BTreeSet<&str> {
        t.memberships
            .iter()
            .filter(|m| m.group_id == g)
            .map(|m| m.user_id.as_str())
            .collect()
    };
    let grouped: BTreeSet<&str> = t.memberships.iter().map(|m| m.user_id.as_str()).collect();
    let active = |id: &str| t.users.iter().any(|u| u.id == id && u.is_active());
    let cert_courses: BTreeSet<&str> = t
        .courses
        .iter()
        .filter(|c| c.npcu > 0)
        .map(|c| c.id.as_str())
        .collect();

    // 1. A partner user completes a certification they had not completed.
    let (_, g1) = linked[0];
    let m1 = members_of(g1);
    let (user1, course1) = m1
        .iter()
        .filter(|u| active(u))
        .find_map(|u| {
            let done: BTreeSet<&str> = t
                .enrollments
                .iter()
                .filter(|e| {
                    e.user_id == *u && e.progress == portal_core::model::ProgressStatus::Completed
                })
                .map(|e| e.course_id.as_str())
                .collect();
            cert_courses
                .iter()
                .find(|c| !done.contains(*c))
                .map(|c| (u.to_string(), c.to_string()))
        })
        .expect("a member without some certification");
    // 2. An orphan (in no group) joins a partner group.
    let (_, g2) = linked[1];
    let orphan = t
        .users
        .iter()
        .find(|u| u.is_active() && !grouped.contains(u.id.as_str()) && u.email.contains('@'))
        .expect("an orphan user")
        .id
        .clone();
    // 3. A certified partner user is deactivated.
    let certified: BTreeSet<&str> = t
        .enrollments
        .iter()
        .filter(|e| {
            e.progress == portal_core::model::ProgressStatus::Completed
                && cert_courses.contains(e.course_id.as_str())
        })
        .map(|e| e.user_id.as_str())
        .collect();
    let (_, g3) = linked[2];
    let gone = members_of(g3)
        .into_iter()
        .find(|u| active(u) && certified.contains(u))
        .expect("a certified member")
        .to_string();
    // 4. A partner drops to Pending (no longer tracked); 5. another gets a
    // new contact whose e-mail (other case) is an orphan LMS user's.
    let (p4, _) = linked[3];
    let (p5, _) = linked[4];
    let orphan2 = t
        .users
        .iter()
        .filter(|u| u.is_active() && !grouped.contains(u.id.as_str()) && u.id != orphan)
        .find(|u| u.email.contains('@'))
        .expect("a second orphan")
        .clone();

    let sims = &env.sims;
    sims.mutate(Mutation::CompleteCourse {
        person_id: user1.clone(),
        course_id: course1.clone(),
        at: None,
    })
    .unwrap();
    sims.mutate(Mutation::AddMember {
        group_id: g2.to_string(),
        person_id: orphan.clone(),
    })
    .unwrap();
    sims.mutate(Mutation::DeactivatePerson {
        person_id: gone.clone(),
    })
    .unwrap();
    sims.mutate(Mutation::SetTier {
        account_id: p4.parse().unwrap(),
        tier: Some("Pending".into()),
    })
    .unwrap();
    sims.mutate(Mutation::AddContact {
        account_id: p5.parse().unwrap(),
        email: orphan2.email.to_uppercase(),
        first_name: "New".into(),
        last_name: "Contact".into(),
    })
    .unwrap();

    sims.reset_stats();
    let runs = env.sync_all(Mode::Incremental).await;
    let np = sims.stats().northpass;
    eprintln!(
        "incremental: northpass {:?}; full sync took {full_requests}",
        np.requests
    );
    for r in &runs {
        eprintln!("  {} {:?}", r.task, r.counts);
    }

    let after = Truth::from_dataset(&sims.dataset_snapshot(), &env.config);
    let want = after.views(env.now);
    let got = observed::views(&env.store, &env.config, env.now)
        .await
        .unwrap();
    assert_eq!(got, want);
    assert_eq!(
        observed::statuses(&env.store, &env.config, env.now)
            .await
            .unwrap(),
        after.statuses(env.now)
    );
    // The changes are visible (the comparison above is not vacuous).
    let before = t.views(env.now);
    assert_ne!(before, want, "mutations changed nothing");

    // Bounded: 1 page each of people, groups, courses; all property pages;
    // memberships of the 2 changed groups; transcripts of the users whose
    // activity or membership changed (3: completion, new member, new
    // contact's user) — far below a full sync.
    let transcripts = np.count("GET /v2/transcripts/{id}");
    assert!(transcripts <= 3, "transcripts fetched: {transcripts}");
    assert!(np.count("GET /v2/groups/{id}/memberships") <= 2, "{np:?}");
    assert!(np.total_requests <= 12, "northpass requests: {np:?}");
    assert!(np.total_requests * 20 < full_requests);
}
