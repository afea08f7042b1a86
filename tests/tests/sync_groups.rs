//! A full `lms-groups` run keeps a group the LMS no longer lists: it is
//! marked inactive (never deleted), its memberships stay for history, and
//! the partner it linked goes back to the group the LMS does list.

use portal_core::model::{LmsGroup, Membership};
use portal_core::store::entities::{group_item, membership_item};
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_sync::{Mode, RunStatus, TaskName};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_group_is_marked_inactive_not_deleted() {
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(3),
        ..Default::default()
    })
    .await
    .unwrap();
    for task in [
        TaskName::LmsUsers,
        TaskName::CrmPartners,
        TaskName::LmsGroups,
    ] {
        let s = env.sync(task, Mode::Full).await;
        assert_eq!(s.status, RunStatus::Succeeded, "{task:?}: {s:?}");
    }
    let before = env.store.all_groups().await.unwrap();
    assert!(before.iter().all(|g| g.active), "fresh groups are active");

    // A group the store knows but the LMS no longer lists, with a member,
    // named exactly like a partner (id "0" wins a tie with the real group),
    // so that a relink points the partner at it.
    let partner = env
        .store
        .all_partners()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.tracked && p.lms_group_id.is_some())
        .expect("a linked partner");
    let real_group = partner.lms_group_id.clone().unwrap();
    let gone = LmsGroup {
        id: "0".into(),
        name: partner.name.clone(),
        active: true,
        ..Default::default()
    };
    let member = Membership {
        group_id: gone.id.clone(),
        user_id: "someone".into(),
    };
    env.store
        .batch_put(vec![
            group_item(&gone).unwrap(),
            membership_item(&member).unwrap(),
        ])
        .await
        .unwrap();
    // crm-partners relinks against the stored groups: the partner now
    // points at the group about to vanish.
    let s = env.sync(TaskName::CrmPartners, Mode::Full).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:?}");
    let linked = env.store.get_partner(&partner.id).await.unwrap().unwrap();
    assert_eq!(linked.lms_group_id.as_deref(), Some(gone.id.as_str()));

    let s = env.sync(TaskName::LmsGroups, Mode::Full).await;
    assert_eq!(s.status, RunStatus::Succeeded, "{s:?}");
    assert_eq!(s.counts.deactivated, 1, "{s:?}");

    let after = env.store.all_groups().await.unwrap();
    assert_eq!(after.len(), before.len() + 1, "nothing deleted");
    let kept = after
        .iter()
        .find(|g| g.id == gone.id)
        .expect("still stored");
    assert!(!kept.active, "marked inactive");
    assert!(after.iter().filter(|g| g.id != gone.id).all(|g| g.active));
    let members = env.store.group_members(&gone.id).await.unwrap();
    assert_eq!(members, vec![member], "memberships kept");
    // The partner is back on its real group; none is on the inactive one.
    let back = env.store.get_partner(&partner.id).await.unwrap().unwrap();
    assert_eq!(back.lms_group_id.as_deref(), Some(real_group.as_str()));
    let partners = env.store.all_partners().await.unwrap();
    assert!(partners
        .iter()
        .all(|p| p.lms_group_id.as_deref() != Some(gone.id.as_str())));
    let summary = env.store.get_summary(&partner.id).await.unwrap().unwrap();
    assert_eq!(summary.lms_group_id.as_deref(), Some(real_group.as_str()));

    // A second full run changes nothing more.
    let s = env.sync(TaskName::LmsGroups, Mode::Full).await;
    assert_eq!(s.counts.deactivated, 0, "{s:?}");
}
