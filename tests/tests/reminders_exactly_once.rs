//! Exactly once across runs: renewals, failed sends, missed days and runs
//! that crashed between claim and send.

mod reminders_support;

use std::sync::Arc;

use chrono::Duration;
use portal_core::mail::FailFor;
use portal_core::model::CertRow;
use portal_reminders::claims::{self, ClaimOutcome};
use portal_reminders::{run, Job, Settings, SkipReason};
use reminders_support::*;

#[tokio::test]
async fn renewed_certification_drops_old_reminders_and_follows_the_new_expiry() {
    let env = Env::new("renew").await;
    env.partner("p1", "Acme", None).await;
    env.user("ann", true).await;
    let old = env.cert("p1", "ann", "k2", days(90)).await;
    let deps = env.deps();
    assert_eq!(run(&deps, Job::Reminders, now()).await.unwrap().sent, 1);

    // Retaken on day 10: the row now carries a new expiry two years later.
    let new_expiry = now() + days(10 + 730);
    let renewed = CertRow {
        completed_at: Some(now() + days(10)),
        expires_at: Some(new_expiry),
        ..old
    };
    env.store
        .replace_partner_certs("p1", &[renewed])
        .await
        .unwrap();

    // Day 30 is when the old expiry crossed 60 days: nothing any more.
    let d30 = run(&deps, Job::Reminders, now() + days(30)).await.unwrap();
    assert_eq!((d30.due, d30.sent), (0, 0), "{d30:#?}");

    // Daily runs resume; the day the new expiry is 90 days away mails again.
    let d650 = now() + days(650);
    let mut sent = 0;
    for day in [d650 - days(2), d650 - days(1), d650, d650 + days(1)] {
        sent += run(&deps, Job::Reminders, day).await.unwrap().sent;
    }
    assert_eq!(sent, 1);
    let mails = env.sent().await;
    assert_eq!(mails.len(), 2);
    assert!(mails[1]
        .body
        .contains(&new_expiry.format("%Y-%m-%d").to_string()));
    assert!(mails[1].body.contains(">90<"), "{}", mails[1].body);
}

#[tokio::test]
async fn failed_sends_are_retried_without_duplicates() {
    let env = Env::new("fail").await;
    env.partner("p1", "Acme", None).await;
    for u in ["ann", "bob", "cat"] {
        env.user(u, true).await;
    }
    env.cert("p1", "ann", "k2", days(90)).await;
    env.cert("p1", "ann", "rpa", days(60)).await;
    env.cert("p1", "bob", "k2", days(30)).await;
    env.cert("p1", "cat", "k2", days(30)).await;
    // Due only tomorrow, so the retry run also has new work.
    env.cert("p1", "cat", "rpa", days(31)).await;

    let failing = Arc::new(FailFor::new(
        env.ses.clone(),
        &[&env.email("ann"), &env.email("bob")],
    ));
    let deps = env.deps_with(failing.clone(), Settings::default());
    let first = run(&deps, Job::Reminders, now()).await.unwrap();
    assert_eq!(
        (first.due, first.sent, first.failed),
        (4, 1, 3),
        "{first:#?}"
    );
    assert_eq!(first.status, "partial");
    assert_eq!(recipients(&env.sent().await), vec![env.email("cat")]);

    failing.set(&[]);
    let second = run(&deps, Job::Reminders, now() + days(1)).await.unwrap();
    assert_eq!((second.sent, second.failed), (4, 0), "{second:#?}");
    assert_eq!(second.skipped_for(SkipReason::AlreadySent), 1);

    let mails = env.sent().await;
    assert_eq!(
        recipients(&mails),
        vec![
            env.email("ann"),
            env.email("bob"),
            env.email("cat"),
            env.email("cat")
        ]
    );
    let ann = only_mail_to(&mails, &env.email("ann"));
    assert!(ann.body.contains("Course k2") && ann.body.contains("Course rpa"));
    // cat's second mail is only about the newly due certification.
    let cat2 = &mails
        .iter()
        .filter(|m| m.to == vec![env.email("cat")])
        .collect::<Vec<_>>()[1];
    assert!(cat2.body.contains("Course rpa") && !cat2.body.contains("Course k2"));

    let third = run(&deps, Job::Reminders, now() + days(1)).await.unwrap();
    assert_eq!(third.sent, 0);
    assert_eq!(env.sent().await.len(), 4);
}

#[tokio::test]
async fn a_missed_day_is_caught_up_without_resending() {
    let env = Env::new("skip").await;
    env.partner("p1", "Acme", None).await;
    for (u, d) in [("a", 90), ("b", 91), ("c", 92), ("d", 93)] {
        env.user(u, true).await;
        env.cert("p1", u, "k2", days(d)).await;
    }
    let deps = env.deps();
    assert_eq!(run(&deps, Job::Reminders, now()).await.unwrap().sent, 1);
    // Day 1 is missed; day 2 catches up b (crossed on day 1) and c.
    let day2 = run(&deps, Job::Reminders, now() + days(2)).await.unwrap();
    assert_eq!((day2.due, day2.sent), (2, 2), "{day2:#?}");
    assert_eq!(day2.rows_read, 2, "reads only what is due");
    assert_eq!(
        recipients(&env.sent().await),
        vec![env.email("a"), env.email("b"), env.email("c")]
    );
}

#[tokio::test]
async fn a_crashed_claim_is_retried_after_the_timeout() {
    let env = Env::new("crash").await;
    env.partner("p1", "Acme", None).await;
    env.user("old", true).await;
    env.user("new", true).await;
    let a = env.cert("p1", "old", "k2", days(30)).await;
    let b = env.cert("p1", "new", "k2", days(30)).await;
    let timeout = Settings::default().claim_timeout;
    let keep = now() + days(60);
    // One run crashed two hours ago after claiming; another claimed ten
    // minutes ago and may still be sending.
    for (row, at) in [
        (&a, now() - Duration::hours(2)),
        (&b, now() - Duration::minutes(10)),
    ] {
        let key = claims::reminder_key(&row.user_id, &row.course_id, row.expires_at.unwrap(), 30);
        let out = claims::claim(&env.store, &key, "crashed", at, timeout, keep)
            .await
            .unwrap();
        assert!(matches!(out, ClaimOutcome::Claimed(_)));
    }
    let deps = env.deps();
    let s = run(&deps, Job::Reminders, now()).await.unwrap();
    assert_eq!(s.sent, 1, "{s:#?}");
    assert_eq!(s.skipped_for(SkipReason::InFlight), 1);
    assert_eq!(recipients(&env.sent().await), vec![env.email("old")]);

    // An hour later the second claim is stale too; the held-back watermark
    // makes the next run see it again.
    let later = run(&deps, Job::Reminders, now() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(later.sent, 1, "{later:#?}");
    assert_eq!(
        recipients(&env.sent().await),
        vec![env.email("new"), env.email("old")]
    );
}
