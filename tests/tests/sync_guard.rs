//! The mass-untrack guard: when the CRM suddenly lists no accounts (or
//! contacts), a full run changes nothing and fails saying what it saw; an
//! admin's forced run then applies it.

use portal_e2e::{TestEnv, TestEnvOptions};
use portal_infra::sim::Mutation;
use portal_sync::{Mode, RunStatus, TaskName};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_account_list_untracks_nobody_until_forced() {
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(6),
        ..Default::default()
    })
    .await
    .unwrap();
    for task in [TaskName::CrmPartners, TaskName::CrmContacts] {
        let s = env.sync(task, Mode::Full).await;
        assert_eq!(s.status, RunStatus::Succeeded, "{s:#?}");
    }
    let partners_before = env.store.all_partners().await.unwrap();
    let contacts_before = env.store.all_contacts().await.unwrap();
    let tracked = partners_before.iter().filter(|p| p.tracked).count();
    assert!(tracked >= 6, "{tracked}");

    // The CRM answers an empty list: every account and contact "gone".
    let ids: Vec<i64> = env
        .sims
        .dataset_snapshot()
        .accounts
        .iter()
        .filter_map(|a| a["Id"].as_i64())
        .collect();
    for id in ids {
        env.sims
            .mutate(Mutation::DeleteAccount { account_id: id })
            .unwrap();
    }
    let users: Vec<i64> = env
        .sims
        .dataset_snapshot()
        .users
        .iter()
        .filter_map(|u| u["Id"].as_i64())
        .collect();
    for id in users {
        env.sims
            .mutate(Mutation::DeleteContact { user_id: id })
            .unwrap();
    }

    let s = env.sync(TaskName::CrmPartners, Mode::Full).await;
    assert_eq!(s.status, RunStatus::Failed, "{s:#?}");
    let e = s.error.clone().unwrap_or_default();
    assert!(e.contains(&format!("{tracked} of {tracked}")), "{e}");
    assert!(e.contains("listed 0 partners"), "{e}");
    assert!(e.contains("force=true"), "{e}");
    assert_eq!(env.store.all_partners().await.unwrap(), partners_before);

    let s = env.sync(TaskName::CrmContacts, Mode::Full).await;
    assert_eq!(s.status, RunStatus::Failed, "{s:#?}");
    assert!(s.error.unwrap_or_default().contains("contacts"));
    assert_eq!(env.store.all_contacts().await.unwrap(), contacts_before);

    // An admin who knows it is real forces the run.
    let s = portal_sync::run_to_completion_with(
        &env.deps,
        TaskName::CrmPartners,
        Mode::Full,
        None,
        true,
    )
    .await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:#?}");
    let after = env.store.all_partners().await.unwrap();
    assert_eq!(after.len(), partners_before.len(), "never deleted");
    assert!(after.iter().all(|p| !p.tracked));
}
