//! The weekly PAM digest: per PAM, their partners' certifications expiring
//! within 90 days and their partners below tier — one mail each, once a week.

mod reminders_support;

use portal_core::model::Partner;
use portal_reminders::{run, Job, SkipReason};
use reminders_support::*;

#[tokio::test]
async fn each_pam_gets_their_partners_expiring_certs_and_gaps() {
    let env = Env::new("digest").await;
    // pam1: p1 below tier (4 of 10), p2 fine but with a cert expiring in 10 days.
    let p1 = env.partner("p1", "Alpha Gap", Some("pam1")).await;
    env.summary(&p1, 4).await;
    let p2 = env.partner("p2", "Bravo Expiring", Some("pam1")).await;
    env.summary(&p2, 12).await;
    env.cert("p2", "ann", "k2", days(10)).await;
    env.cert("p2", "ann", "rpa", days(100)).await; // outside the window
    env.cert("p2", "bob", "k2", days(-2)).await; // already expired
                                                 // pam2: p3 fine and nothing expiring; p4 inactive (ignored).
    let p3 = env.partner("p3", "Charlie Fine", Some("pam2")).await;
    env.summary(&p3, 15).await;
    env.put_partner(&Partner {
        id: "p4".into(),
        name: "Delta Inactive".into(),
        owner_email: Some(env.email("pam2")),
        tracked: true,
        account_status_active: false,
        ..Default::default()
    })
    .await;
    env.cert("p4", "cat", "k2", days(5)).await;
    // pam3: p5 with a cert 90 days out (inclusive), no summary yet.
    env.partner("p5", "Echo Edge", Some("pam3")).await;
    env.cert("p5", "dan", "promapp", days(90)).await;

    let deps = env.deps();
    let s = run(&deps, Job::PamDigest, now()).await.unwrap();
    assert_eq!((s.due, s.sent, s.failed), (3, 2, 0), "{s:#?}");
    assert_eq!(s.skipped_for(SkipReason::NothingToReport), 1);

    let mails = env.sent().await;
    assert_eq!(
        recipients(&mails),
        vec![env.email("pam1"), env.email("pam3")]
    );
    let m1 = only_mail_to(&mails, &env.email("pam1"));
    assert_eq!(
        m1.subject,
        "Partner certification digest: 2 partners need attention"
    );
    for want in [
        "Hello PAM pam1",
        "Alpha Gap",
        "below tier by 6",
        "Bravo Expiring",
        "First-ann Last",
        "Course k2",
    ] {
        assert!(m1.body.contains(want), "{want} missing: {}", m1.body);
    }
    for unwanted in ["Course rpa", "First-bob", "Charlie", "Delta"] {
        assert!(
            !m1.body.contains(unwanted),
            "{unwanted} present: {}",
            m1.body
        );
    }
    let m3 = only_mail_to(&mails, &env.email("pam3"));
    assert!(m3.body.contains("Echo Edge") && m3.body.contains("Course promapp"));
    assert!(!m3.body.contains("below tier"));

    // Same week again: nothing new.
    let again = run(&deps, Job::PamDigest, now() + days(2)).await.unwrap();
    assert_eq!(again.sent, 0);
    assert_eq!(again.skipped_for(SkipReason::AlreadySent), 2);
    assert_eq!(env.sent().await.len(), 2);
}
