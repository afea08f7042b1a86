//! Full sync of the `small` data set against the simulators and the local
//! DynamoDB: the stored result equals the reference model of the
//! generator's data; an unchanged re-sync writes no data item.

use portal_e2e::{TestEnv, TestEnvOptions};
use portal_sync::{Mode, TaskName};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_matches_reference_and_resync_writes_nothing() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    let runs = env.sync_all(Mode::Full).await;
    for r in &runs {
        eprintln!("  {} {:?} {:?}", r.task, r.counts, r.details);
    }

    let reference = env.reference();
    env.assert_matches_reference().await;
    // The comparison is only meaningful if the data has certifications,
    // gaps, expiring and expired records, and legal-form links in it.
    let numbers = reference.numbers(env.now);
    let with_npcu = numbers.values().filter(|n| n.npcu > 0).count();
    assert!(with_npcu > 10, "only {with_npcu} partners with NPCU");
    assert!(
        numbers.values().any(|n| n.gap > Some(0)),
        "no gaps in the data"
    );
    assert!(numbers.values().any(|n| n.expiring > 0), "nothing expiring");
    let statuses = reference.statuses(env.now);
    assert!(statuses.len() > 100, "{} rows", statuses.len());
    assert!(statuses
        .values()
        .any(|s| *s == portal_e2e::reference::Status::Expired));

    // The CRM got the totals and each tracked partner's dashboard link.
    let crm = env.sims.dataset_snapshot();
    for p in reference.tracked() {
        let acc = crm
            .accounts
            .iter()
            .find(|a| portal_e2e::reference::crm_text(a, "Id").as_deref() == Some(p.id.as_str()))
            .unwrap_or_else(|| panic!("account {}", p.id));
        let field = |name: &str| {
            acc.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            field("Total_NPCU__cf").and_then(|v| v.as_u64()),
            Some(u64::from(numbers[&p.id].npcu)),
            "pushed NPCU of {}",
            p.id
        );
        let link = field("LMS_Training_Dashboard__cf")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        assert!(link.starts_with("http://portal.test/p/"), "{link}");
        assert!(
            !link.contains(&p.id),
            "the link must not reveal the partner id"
        );
    }

    // Unchanged data: a second full run writes no data item.
    env.store.reset_stats();
    let runs = env.sync_all(Mode::Full).await;
    // crm-push re-PATCHes every tracked partner in a full run (that writes
    // the CRM, not DynamoDB); every other task must write nothing.
    let written: u64 = runs
        .iter()
        .filter(|r| r.task != "crm-push")
        .map(|r| r.counts.written())
        .sum();
    let stats = env.store.stats();
    eprintln!("re-sync store stats: {stats:?}");
    assert_eq!(written, 0, "{runs:#?}");
    assert_eq!(stats.op("BatchWriteItem").items_written, 0);
    // PutItem: per task lease + running record + task state + final record.
    assert!(
        stats.op("PutItem").items_written <= 4 * TaskName::ALL.len() as u64,
        "{stats:?}"
    );
    assert_eq!(
        stats.op("DeleteItem").items_written,
        TaskName::ALL.len() as u64,
        "only lease releases"
    );
}
