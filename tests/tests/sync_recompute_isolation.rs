//! One partner whose recompute fails does not leave the others stale: the
//! failure is a real store fault (a corrupt summary item in the partner's
//! partition, as a newer or broken writer could leave it, which the
//! recompute cannot read), the partner is named in the run record, every
//! other partner — the ones after it in id order included — is recomputed,
//! the run ends `partial`, and the invocation reports it as an error.

use aws_sdk_dynamodb::types::AttributeValue;
use portal_core::runs::RunRecord;
use portal_core::store::keys;
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_sync::handler::{handle, Continuation};
use portal_sync::{Mode, SyncError};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_partner_is_recorded_and_the_others_are_recomputed() {
    let env = TestEnv::start(TestEnvOptions {
        accounts: Some(12),
        ..Default::default()
    })
    .await
    .unwrap();
    env.sync_all(Mode::Full).await;
    let store = &env.store;
    let mut ids: Vec<String> = store
        .all_summaries()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.partner_id)
        .collect();
    ids.sort();
    assert!(ids.len() >= 3, "{ids:?}");
    let (bad, last) = (ids[0].clone(), ids[ids.len() - 1].clone());

    // The first partner in id order gets an unreadable summary; the last
    // one's summary is gone, so only a recompute that reaches it brings it
    // back.
    let s = |v: &str| AttributeValue::S(v.to_string());
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item("PK", s(&keys::partner_pk(&bad)))
        .item("SK", s(keys::SUMMARY))
        .item("et", s("SUMMARY"))
        .item("partner_id", AttributeValue::N("7".into()))
        .item("tracked", s("not a boolean"))
        .send()
        .await
        .unwrap();
    assert!(store
        .delete(&keys::partner_pk(&last), keys::SUMMARY)
        .await
        .unwrap());

    let event = json!({"task": "lms-enrollments", "mode": "full"});
    let err = handle(&env.deps, &event, None, &Continuation::Loop)
        .await
        .expect_err("a partial run fails the invocation");
    match &err {
        SyncError::RunIncomplete {
            outcome, detail, ..
        } => {
            assert_eq!(*outcome, "partial", "{err}");
            assert!(detail.contains(&bad), "{detail}");
        }
        other => panic!("not a run outcome: {other}"),
    }

    // The run record: partial, the partner named, one failure.
    let runs: Vec<RunRecord> = store.recent_runs("lms-enrollments", 1).await.unwrap();
    let rec = &runs[0];
    assert_eq!(rec.status, "partial", "{rec:?}");
    assert_eq!(rec.failed, 1, "{rec:?}");
    let error = rec.error.as_deref().unwrap_or_default();
    assert!(error.contains(&bad), "{error}");
    assert!(!error.contains(&last), "{error}");

    // Every later partner was recomputed: the last one's summary is back.
    let back = store.get_summary(&last).await.unwrap().expect("recomputed");
    assert!(back.tracked);
    assert_eq!(back.partner_id, last);

    // Once the item is fixed, the next run recomputes that partner too
    // and succeeds.
    store
        .delete(&keys::partner_pk(&bad), keys::SUMMARY)
        .await
        .unwrap();
    let ok = handle(&env.deps, &event, None, &Continuation::Loop)
        .await
        .expect("a clean re-run succeeds");
    assert_eq!(ok["status"], "succeeded", "{ok}");
    let fixed = store.get_summary(&bad).await.unwrap().expect("recomputed");
    assert_eq!(fixed.partner_id, bad);
}
