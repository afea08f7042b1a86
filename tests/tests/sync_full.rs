//! Full sync of the `small` data set against the simulators and the local
//! DynamoDB: the stored result equals the truth computed from the
//! generator's data; an unchanged re-sync writes no data item.

use portal_e2e::{observed, truth::Truth, TestEnv, TestEnvOptions};
use portal_sync::{Mode, TaskName};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_matches_truth_and_resync_writes_nothing() {
    let env = TestEnv::start(TestEnvOptions::default()).await.unwrap();
    let t0 = std::time::Instant::now();
    let runs = env.sync_all(Mode::Full).await;
    let np = env.sims.stats().northpass.total_requests;
    eprintln!("full sync: {:?}, northpass requests {np}", t0.elapsed());
    for r in &runs {
        eprintln!("  {} {:?} {:?}", r.task, r.counts, r.details);
    }

    let truth = Truth::from_dataset(&env.dataset, &env.config);
    let want = truth.views(env.now);
    let got = observed::views(&env.store, &env.config, env.now)
        .await
        .unwrap();
    assert_eq!(got.len(), want.len(), "one summary per partner");
    let mut with_npcu = 0;
    for (id, w) in &want {
        let g = got
            .get(id)
            .unwrap_or_else(|| panic!("no summary for partner {id}"));
        assert_eq!(g, w, "partner {id}");
        with_npcu += usize::from(w.npcu > 0);
    }
    // The comparison is only meaningful if the data has certifications and
    // gaps in it.
    assert!(with_npcu > 10, "only {with_npcu} partners with NPCU");
    assert!(want.values().any(|v| v.gap > 0), "no gaps in the data");
    let want_rows = truth.statuses(env.now);
    let got_rows = observed::statuses(&env.store, &env.config, env.now)
        .await
        .unwrap();
    assert!(want_rows.len() > 100, "{} rows", want_rows.len());
    assert_eq!(got_rows, want_rows);

    // The CRM got the totals and each tracked partner's dashboard link.
    let crm = env.sims.dataset_snapshot();
    let tracked: Vec<_> = truth.partners.iter().filter(|p| p.tracked).collect();
    for p in &tracked {
        let acc = crm
            .accounts
            .iter()
            .find(|a| a.get("Id").map(|v| v.to_string()) == Some(p.id.clone()))
            .unwrap_or_else(|| panic!("account {}", p.id));
        assert_eq!(
            acc.get("Total_NPCU__cf").and_then(|v| v.as_u64()),
            Some(u64::from(want[&p.id].npcu)),
            "pushed NPCU of {}",
            p.id
        );
        let link = acc
            .get("LMS_Training_Dashboard__cf")
            .and_then(|v| v.as_str())
            .unwrap_or("");
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
