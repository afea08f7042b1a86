//! Who never gets mail: opted-out addresses, deactivated users, inactive or
//! untracked partners — each counted as a skip with its reason.

mod reminders_support;

use portal_core::model::Partner;
use portal_core::store::access::OptOut;
use portal_reminders::{run, Job, SkipReason};
use reminders_support::*;

#[tokio::test]
async fn opted_out_deactivated_and_inactive_partner_recipients_get_nothing() {
    let env = Env::new("who").await;
    env.partner("ok", "Acme", None).await;
    env.put_partner(&Partner {
        id: "gone".into(),
        name: "Gone Ltd".into(),
        account_status_active: false,
        tracked: true,
        ..Default::default()
    })
    .await;
    env.put_partner(&Partner {
        id: "pending".into(),
        name: "Pending Inc".into(),
        account_status_active: true,
        tracked: false,
        ..Default::default()
    })
    .await;
    for (u, active) in [
        ("fine", true),
        ("optout", true),
        ("deact", false),
        ("inact", true),
        ("untr", true),
        ("orphan", true),
    ] {
        env.user(u, active).await;
    }
    env.cert("ok", "fine", "k2", days(30)).await;
    env.cert("ok", "optout", "k2", days(30)).await;
    env.cert("ok", "deact", "k2", days(30)).await;
    env.cert("gone", "inact", "k2", days(30)).await;
    env.cert("pending", "untr", "k2", days(30)).await;
    env.cert("nobody", "orphan", "k2", days(30)).await;
    env.store
        .put_optout(&OptOut {
            // Opt-outs match case-insensitively.
            email: env.email("OptOut").to_uppercase(),
            at: Some(now()),
            reason: Some("unsubscribe link".into()),
        })
        .await
        .unwrap();

    let s = run(&env.deps(), Job::Reminders, now()).await.unwrap();
    assert_eq!((s.due, s.sent, s.failed), (6, 1, 0), "{s:#?}");
    for r in [
        SkipReason::OptedOut,
        SkipReason::UserDeactivated,
        SkipReason::PartnerInactive,
        SkipReason::PartnerUntracked,
        SkipReason::PartnerUnknown,
    ] {
        assert_eq!(s.skipped_for(r), 1, "{r:?}: {s:#?}");
    }
    assert_eq!(s.skipped_total(), 5);
    assert_eq!(recipients(&env.sent().await), vec![env.email("fine")]);

    // The run record holds the same counts.
    let runs: Vec<portal_reminders::RunSummary> =
        env.store.recent_runs("reminders", 1).await.unwrap();
    assert_eq!(runs[0].skipped, s.skipped);
    assert_eq!((runs[0].processed, runs[0].created), (6, 1));
}
