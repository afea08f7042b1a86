//! The expiry reminder of a certification whose definition names a
//! recertification course links to that course (issue 16); a certification
//! without one keeps its own course link.

mod reminders_support;

use portal_core::model::{CertDefinition, CertRow, Course, ProgressStatus};
use portal_core::store::entities::course_item;
use portal_reminders::{run, Job};
use reminders_support::*;

#[tokio::test]
async fn the_reminder_carries_the_recert_course_link() {
    let env = Env::new("recertlink").await;
    env.partner("p1", "Acme Partners", None).await;
    env.user("ann", true).await;
    env.user("bob", true).await;
    env.store
        .put_definition(&CertDefinition {
            id: "expert".into(),
            name: "Automation Expert".into(),
            courses: vec!["a".into(), "b".into()],
            npcu: 3,
            recert_course_id: Some("rc".into()),
            recert_group_id: Some("g-recert".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    env.store
        .put(
            course_item(&Course {
                id: "rc".into(),
                name: "Automation Expert recertification".into(),
                permalink: Some("https://lms.test/c/recert-expert".into()),
                ..Default::default()
            })
            .unwrap(),
        )
        .await
        .unwrap();
    // ann holds the definition's certification (its rows carry no course
    // link of their own), bob a one-course certification.
    env.put_cert(
        "p1",
        &CertRow {
            user_id: "ann".into(),
            user_name: "First-ann Last".into(),
            email: env.email("ann"),
            course_id: "expert".into(),
            course_name: "Automation Expert".into(),
            npcu: 3,
            progress: ProgressStatus::Completed,
            completed_at: Some(now() - days(600)),
            expires_at: Some(now() + days(30)),
            permalink: None,
            ..Default::default()
        },
    )
    .await;
    env.cert("p1", "bob", "k2", days(30)).await;

    let s = run(&env.deps(), Job::Reminders, now()).await.unwrap();
    assert_eq!((s.sent, s.failed), (2, 0), "{s:#?}");
    let mails = env.sent().await;
    let ann = body(only_mail_to(&mails, &env.email("ann")));
    assert!(
        ann.contains("https://lms.test/c/recert-expert"),
        "no recert link in {ann}"
    );
    assert!(ann.contains("Recertify"), "{ann}");
    let bob = body(only_mail_to(&mails, &env.email("bob")));
    assert!(bob.contains("https://lms.test/c/k2"), "{bob}");
    assert!(!bob.contains("recert-expert"), "{bob}");
}
