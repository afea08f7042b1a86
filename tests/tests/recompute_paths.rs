//! One recompute (issue 17): what the sync stored through the store-backed
//! inputs equals what the same use case computes over the whole picture in
//! memory; an admin-side recompute of an unchanged partner writes nothing;
//! and incremental runs read in proportion to the change, not the table.

use std::collections::BTreeMap;

use portal_core::model::CertRow;
use portal_core::recompute::dynamo::StoreInputs;
use portal_core::recompute::memory::MemoryInputs;
use portal_core::recompute::{recompute_partner, RuleSettings};
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_infra::sim::Mutation;
use portal_sync::{Mode, RunStatus, TaskName};

/// The whole stored picture, in memory (the test may read everything).
async fn picture(env: &TestEnv) -> MemoryInputs {
    let s = &env.store;
    let users = s.all_users().await.unwrap();
    let mut enrollments = Vec::new();
    for u in &users {
        enrollments.extend(s.user_enrollments(&u.id).await.unwrap());
    }
    MemoryInputs {
        partners: s.all_partners().await.unwrap(),
        groups: s.all_groups().await.unwrap(),
        memberships: s.all_memberships().await.unwrap(),
        contacts: s.all_contacts().await.unwrap(),
        users,
        enrollments,
        courses: s.all_courses().await.unwrap(),
        awards: s.all_awards().await.unwrap(),
        org_certs: s.all_org_certs().await.unwrap(),
        programs: s.load_programs().await.unwrap(),
        ..Default::default()
    }
}

fn rows_by_key(rows: Vec<CertRow>) -> BTreeMap<(String, String), CertRow> {
    rows.into_iter()
        .map(|r| ((r.user_id.clone(), r.course_id.clone()), r))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_path_and_the_memory_path_give_the_same_partners() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    env.sync_all(Mode::Full).await;
    let settings = RuleSettings {
        categories: &env.config.categories,
        default_validity_months: env.config.default_validity_months,
    };
    let mem = picture(&env).await;
    let partners = env.store.all_partners().await.unwrap();
    let mut compared = 0;
    let mut with_rows = 0;
    for p in &partners {
        let stored = env.store.partner_dashboard(&p.id).await.unwrap();
        let Some(summary) = stored.summary else {
            continue;
        };
        // The summary's buckets are relative to its computation instant.
        let out = recompute_partner(&mem, &p.id, settings, summary.computed_at)
            .await
            .unwrap()
            .expect("partner in memory");
        assert_eq!(out.summary, summary, "summary of {}", p.id);
        let written = mem.written();
        let want = written.rows.get(&p.id).cloned().unwrap_or_default();
        assert_eq!(want, rows_by_key(stored.certs), "rows of {}", p.id);
        compared += 1;
        if !want.is_empty() {
            with_rows += 1;
        }
    }
    assert!(compared > 5, "compared {compared} partners");
    assert!(with_rows > 2, "{with_rows} partners with rows");

    // The admin path (same use case, store inputs) finds nothing to write
    // for a partner the sync just computed.
    let inputs = StoreInputs::new(&env.store);
    env.store.reset_stats();
    for p in partners.iter().take(10) {
        let out = recompute_partner(&inputs, &p.id, settings, env.now)
            .await
            .unwrap()
            .expect("stored partner");
        let c = out.counts();
        assert_eq!(
            (c.created, c.updated, c.deleted),
            (0, 0, 0),
            "{}: {out:?}",
            p.id
        );
    }
    let stats = env.store.stats();
    assert_eq!(stats.total().items_written, 0, "{stats:?}");
    // Keyed reads of those ten partners' own data (a fifth of the small
    // program), not whole types: the recompute this replaced read every
    // contact for each partner, ten times the contacts table here.
    let whole =
        (mem.users.len() + mem.contacts.len() + mem.memberships.len() + mem.enrollments.len())
            as u64;
    let read = stats.total().items_read;
    assert!(
        read * 2 < whole,
        "ten partners read {read} items; the stored picture is {whole}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_runs_read_in_proportion_to_the_change() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    env.sync_all(Mode::Full).await;
    let users = env.store.all_users().await.unwrap();
    let contacts = env.store.all_contacts().await.unwrap().len();

    // Two partner users complete a certification (Northpass stamps their
    // activity on the person).
    let t = env.reference();
    let mut done = 0;
    for p in t.tracked() {
        let Some(g) = p.group_id.as_deref() else {
            continue;
        };
        let Some(u) = t.groups[g]
            .1
            .iter()
            .find(|u| t.users.get(*u).is_some_and(|x| x.active))
        else {
            continue;
        };
        let Some(c) = t
            .courses
            .values()
            .filter(|c| c.npcu > 0)
            .find(|c| !t.records.contains_key(&(u.clone(), c.id.clone())))
        else {
            continue;
        };
        env.sims
            .mutate(Mutation::CompleteCourse {
                person_id: u.clone(),
                course_id: c.id.clone(),
                at: Some(env.now),
            })
            .unwrap();
        done += 1;
        if done == 2 {
            break;
        }
    }
    assert_eq!(done, 2);

    env.store.reset_stats();
    for task in [TaskName::LmsUsers, TaskName::LmsEnrollments] {
        let s = env.sync(task, Mode::Incremental).await;
        assert_eq!(s.status, RunStatus::Succeeded, "{s:#?}");
    }
    let read = env.store.stats().total().items_read;
    // A run that loaded the stored picture would read every user and
    // every contact at least once.
    let whole = (users.len() + contacts) as u64;
    assert!(
        read * 4 < whole,
        "incremental runs read {read} items; the stored picture is {whole}"
    );
    env.assert_matches_reference().await;
}
