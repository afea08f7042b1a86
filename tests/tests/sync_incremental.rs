//! After a full sync and a set of changes in both sources, an incremental
//! sync picks up exactly those changes (the stored result equals the reference model
//! of the changed data) with a bounded number of Northpass requests.

use std::collections::BTreeSet;

use portal_e2e::reference::Progress;
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_infra::sim::Mutation;
use portal_sync::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_sync_picks_up_exactly_the_changes() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    env.sync_all(Mode::Full).await;
    let full_requests = env.sims.stats().northpass.total_requests;

    let t = env.reference();
    let linked: Vec<(&str, &str)> = t
        .tracked()
        .filter_map(|p| p.group_id.as_deref().map(|g| (p.id.as_str(), g)))
        .collect();
    let members_of =
        |g: &str| -> BTreeSet<&str> { t.groups[g].1.iter().map(String::as_str).collect() };
    let grouped: BTreeSet<&str> = t
        .groups
        .values()
        .flat_map(|(_, m)| m.iter().map(String::as_str))
        .collect();
    let active = |id: &str| t.users.get(id).is_some_and(|u| u.active);
    let cert_courses: BTreeSet<&str> = t
        .courses
        .values()
        .filter(|c| c.npcu > 0)
        .map(|c| c.id.as_str())
        .collect();
    let completed = |u: &str, c: &str| {
        t.records
            .get(&(u.to_string(), c.to_string()))
            .is_some_and(|r| r.progress == Progress::Completed)
    };

    // 1. A partner user completes a certification they had not completed.
    let (_, g1) = linked[0];
    let m1 = members_of(g1);
    let (user1, course1) = m1
        .iter()
        .filter(|u| active(u))
        .find_map(|u| {
            cert_courses
                .iter()
                .find(|c| !completed(u, c))
                .map(|c| (u.to_string(), c.to_string()))
        })
        .expect("a member without some certification");
    // 2. An orphan (in no group) joins a partner group.
    let (_, g2) = linked[1];
    let orphan = t
        .users
        .values()
        .find(|u| u.active && !grouped.contains(u.id.as_str()) && u.email.contains('@'))
        .expect("an orphan user")
        .id
        .clone();
    // 3. A certified partner user is deactivated.
    let certified: BTreeSet<&str> = t
        .records
        .values()
        .filter(|e| {
            e.progress == Progress::Completed && cert_courses.contains(e.course_id.as_str())
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
        .values()
        .filter(|u| u.active && !grouped.contains(u.id.as_str()) && u.id != orphan)
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

    let after = env.reference();
    env.assert_matches_reference().await;
    // The changes are visible (the comparison above is not vacuous).
    assert_ne!(
        t.numbers(env.now),
        after.numbers(env.now),
        "mutations changed nothing"
    );
    assert!(!after.partners[p4].tracked, "{p4} is Pending now");
    assert!(after.partners[linked[1].0].members.contains(&orphan));
    assert!(!after.statuses(env.now).keys().any(|(_, u, _)| *u == gone));

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
