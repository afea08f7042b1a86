//! The weekly PAM digest: per PAM, their partners' certifications expiring
//! within 90 days, their partners below tier and those at risk of falling
//! below it within 90 days (with the drop date) — one mail each, once a
//! week. And the reminder to a certified user says when their expiry drops
//! the partner below tier.

mod reminders_support;

use chrono::Duration;
use portal_core::model::{Partner, PartnerSummary, SummaryCert};
use portal_core::store::entities::summary_item;
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

/// A Select partner (10 NPCU required) holding exactly 10: eight
/// certifications far off and two of `eve` and `fay` expiring in 40 and 70
/// days (at 10:00, so the day they stop counting is the day they expire).
/// Its summary and rows agree, as the sync writes them.
async fn at_risk_partner(env: &Env, id: &str, owner: &str) -> Partner {
    let p = env.partner(id, "Foxtrot At Risk", Some(owner)).await;
    let soon = [("eve", days(40)), ("fay", days(70))];
    let mut certs: Vec<SummaryCert> = (0..8)
        .map(|i| SummaryCert {
            user_id: format!("s{i}"),
            course_id: "c".into(),
            npcu: 1,
            expires_at: Some(now() + days(400)),
            ..Default::default()
        })
        .collect();
    for (u, d) in soon {
        let e = d + Duration::hours(10);
        env.user(u, true).await;
        env.cert(id, u, "k2", e).await;
        certs.push(SummaryCert {
            user_id: u.into(),
            course_id: "k2".into(),
            npcu: 1,
            expires_at: Some(now() + e),
            ..Default::default()
        });
    }
    let mut s = PartnerSummary {
        partner_id: p.id.clone(),
        name: p.name.clone(),
        tier: p.tier.clone(),
        owner_email: p.owner_email.clone(),
        tracked: true,
        computed_at: now(),
        ..Default::default()
    };
    portal_core::rules::summary::count_certs(&mut s, &certs);
    env.store.put(summary_item(&s).unwrap()).await.unwrap();
    p
}

#[tokio::test]
async fn the_digest_lists_partners_at_risk_and_reminders_say_the_drop_date() {
    let env = Env::new("digestrisk").await;
    at_risk_partner(&env, "p6", "pam4").await;
    // Meets its tier with room to spare: not at risk.
    let p7 = env.partner("p7", "Golf Safe", Some("pam4")).await;
    env.summary(&p7, 15).await;
    let deps = env.deps();
    let s = run(&deps, Job::PamDigest, now()).await.unwrap();
    assert_eq!(s.sent, 1, "{s:#?}");
    let mails = env.sent().await;
    let m = only_mail_to(&mails, &env.email("pam4"));
    // Eve's certification ends on 2027-01-02 (now + 40 days): 9 of 10;
    // keeping the tier to the window's end takes both renewals.
    let drop = (now() + days(40)).date_naive().to_string();
    assert_eq!(drop, "2027-01-02");
    for want in [
        "Foxtrot At Risk",
        &*format!("at risk: falls below tier on {drop}"),
        "unless 2 certification(s) are renewed",
    ] {
        assert!(m.body.contains(want), "{want} missing: {}", m.body);
    }
    assert!(!m.body.contains("Golf Safe"), "{}", m.body);

    // Ten days later eve's 30-day and fay's 60-day reminders are due: both
    // say the partner falls below tier on eve's expiry date. Gus's, of the
    // partner safely in tier, says nothing of the kind.
    env.user("gus", true).await;
    env.cert("p7", "gus", "k2", days(40) + Duration::hours(10))
        .await;
    let at = now() + days(10) + Duration::hours(11);
    let r = run(&deps, Job::Reminders, at).await.unwrap();
    assert_eq!(r.sent, 3, "{r:#?}");
    let mails = env.sent().await;
    let said = format!(
        "Unless renewed, Foxtrot At Risk falls below its partner tier requirement on {drop}."
    );
    for who in ["eve", "fay"] {
        let m = only_mail_to(&mails, &env.email(who));
        assert!(body(m).contains(&said), "{who}: {}", body(m));
    }
    let m = only_mail_to(&mails, &env.email("gus"));
    assert!(body(m).contains("Course k2"), "{}", body(m));
    assert!(!body(m).contains("falls below"), "{}", body(m));
}
