//! Who gets what on a run: exact thresholds, neighbours, one mail per user,
//! a second run sends nothing, and the run reads only what is due.

mod reminders_support;

use portal_reminders::{run, Job, Settings, SkipReason};
use reminders_support::*;

#[tokio::test]
async fn exact_thresholds_mail_the_right_people_with_the_right_certs() {
    let env = Env::new("thr").await;
    env.partner("p1", "Acme Partners", None).await;
    env.partner("p2", "Beta & Co", None).await;
    for u in ["ann", "bob", "cat", "dan"] {
        env.user(u, true).await;
    }
    // ann: two certs due (90 and 30) and one not due (89) → one mail, two lines.
    env.cert("p1", "ann", "k2", days(90)).await;
    env.cert("p1", "ann", "rpa", days(30)).await;
    env.cert("p1", "ann", "promapp", days(89)).await;
    // bob: 60 due, 61 not.
    env.cert("p2", "bob", "k2", days(60)).await;
    env.cert("p2", "bob", "rpa", days(61)).await;
    // cat: nothing due (31, 0, -1).
    env.cert("p1", "cat", "k2", days(31)).await;
    env.cert("p1", "cat", "rpa", days(0)).await;
    env.cert("p1", "cat", "promapp", days(-1)).await;
    // dan: 30 days, listed under two partners → one line naming both.
    env.cert("p1", "dan", "k2", days(30)).await;
    env.cert("p2", "dan", "k2", days(30)).await;

    let deps = env.deps();
    let s = run(&deps, Job::Reminders, now()).await.unwrap();
    assert_eq!((s.due, s.sent, s.failed), (4, 4, 0), "{s:#?}");
    assert_eq!(s.emails_sent, 3);
    assert_eq!(s.status, "succeeded");

    // dan's two rows are one due item.
    assert_eq!(s.rows_read, 5);

    let mails = env.sent().await;
    assert_eq!(
        recipients(&mails),
        vec![env.email("ann"), env.email("bob"), env.email("dan")]
    );
    let ann = only_mail_to(&mails, &env.email("ann"));
    assert_eq!(ann.source, SENDER);
    assert_eq!(ann.subject, "2 of your certifications need renewal");
    for want in [
        "First-ann Last",
        "Course k2",
        "Course rpa",
        "Acme Partners",
        "2027-02-21",
        "https://lms.test/c/k2",
        ">90<",
        ">30<",
        "/unsubscribe/",
    ] {
        assert!(body(ann).contains(want), "{want} missing in {}", ann.body);
    }
    assert!(!ann.body.contains("Course promapp"));
    // The unsubscribe link is what the reports route accepts: it verifies,
    // with the shared key, to exactly this recipient.
    let tokens = unsubscribe_tokens(ann);
    assert!(!tokens.is_empty(), "no unsubscribe link in {}", ann.body);
    for t in &tokens {
        assert_eq!(
            portal_core::access::verify_unsubscribe(UNSUBSCRIBE_KEY, t, chrono::Utc::now())
                .map(|u| u.email),
            Some(env.email("ann")),
            "token {t}"
        );
        assert_eq!(
            portal_core::access::verify_unsubscribe(b"other-key", t, chrono::Utc::now()),
            None
        );
    }
    let bob = only_mail_to(&mails, &env.email("bob"));
    assert_eq!(
        bob.subject,
        "Your Course k2 certification expires in 60 days"
    );
    assert!(
        bob.body.contains("Beta &amp; Co"),
        "HTML escaped: {}",
        bob.body
    );
    assert!(!bob.body.contains("Course rpa"));
    let dan = only_mail_to(&mails, &env.email("dan"));
    assert!(
        dan.body.contains("Acme Partners, Beta &amp; Co"),
        "{}",
        dan.body
    );

    // Same day again: nothing new, everything already sent.
    let again = run(&deps, Job::Reminders, now()).await.unwrap();
    assert_eq!((again.due, again.sent), (0, 0), "{again:#?}");
    assert_eq!(env.sent().await.len(), 3);
}

#[tokio::test]
async fn rerun_over_the_same_window_sends_nothing_twice() {
    let env = Env::new("twice").await;
    env.partner("p1", "Acme", None).await;
    env.user("eve", true).await;
    env.cert("p1", "eve", "k2", days(60)).await;
    let deps = env.deps();
    let first = run(&deps, Job::Reminders, now()).await.unwrap();
    assert_eq!(first.sent, 1);
    // Forget the watermark so the second run reads the same window: the
    // claims alone must stop a duplicate.
    env.store
        .put_task_state(&portal_core::store::TaskState {
            task: "reminders".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let second = run(&deps, Job::Reminders, now()).await.unwrap();
    assert_eq!((second.due, second.sent), (1, 0), "{second:#?}");
    assert_eq!(second.skipped_for(SkipReason::AlreadySent), 1);
    assert_eq!(env.sent().await.len(), 1);
}

#[tokio::test]
async fn expired_today_notice_when_enabled() {
    let env = Env::new("expired").await;
    env.partner("p1", "Acme", None).await;
    env.user("fay", true).await;
    env.cert("p1", "fay", "k2", days(0)).await;
    env.cert("p1", "fay", "rpa", days(-1)).await;
    let settings = Settings {
        expired_notice: true,
        ..Settings::default()
    };
    let s = run(
        &env.deps_with(env.ses.clone(), settings),
        Job::Reminders,
        now(),
    )
    .await
    .unwrap();
    assert_eq!((s.due, s.sent), (1, 1), "{s:#?}");
    let mails = env.sent().await;
    let m = only_mail_to(&mails, &env.email("fay"));
    assert_eq!(m.subject, "Your Course k2 certification expired");
    assert!(!m.body.contains("Course rpa"));
}

#[tokio::test]
async fn reads_only_what_is_due() {
    let env = Env::new("reads").await;
    env.partner("p1", "Acme", None).await;
    // 12 users, each with one due certification and six that are not due
    // (neighbours of every threshold, far future, expired).
    for i in 0..12 {
        let u = format!("u{i}");
        env.user(&u, true).await;
        env.cert("p1", &u, "due", days([90, 60, 30][i % 3])).await;
        for (j, d) in [89, 91, 59, 61, 400, -10].into_iter().enumerate() {
            env.cert("p1", &u, &format!("n{j}"), days(d)).await;
        }
    }
    let deps = env.deps();
    env.store.reset_stats();
    let s = run(&deps, Job::Reminders, now()).await.unwrap();
    assert_eq!((s.due, s.sent), (12, 12), "{s:#?}");
    let stats = env.store.stats();
    let query = stats.op("Query");
    let ratio = query.items_read as f64 / s.due as f64;
    assert!(
        ratio <= 1.1,
        "expiry Query read {} items for {} due",
        query.items_read,
        s.due
    );
    // Besides the Query: per user one profile GetItem and one BatchGetItem
    // of its address's opt-out and suppression, the partner and its summary
    // (the drop-below-tier date) once, the task state once, the lock on a
    // conflict never.
    let gets = stats.requests("GetItem");
    assert!(gets <= 12 + 2 + 1, "{gets} GetItems: {stats:#?}");
    let batches = stats.requests("BatchGetItem");
    assert!(batches <= 12, "{batches} BatchGetItems: {stats:#?}");
    assert_eq!(stats.requests("Scan"), 0);
}
