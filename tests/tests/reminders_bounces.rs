//! SES bounces and complaints, as the configuration set's SNS destination
//! delivers them to the reminders function (Lambda's SNS event, each
//! record's `Message` being SES's JSON notification), become suppressions:
//! the daily reminders and the PAM digest then skip those addresses
//! (`suppressed` in the run record's skip reasons) and mail the others —
//! read back from the emulator's SES outbox.

mod reminders_support;

use portal_core::store::suppressions::SuppressionKind;
use portal_reminders::mail_events::{handle_any, HandleError, MailEventsError};
use portal_reminders::{RunSummary, SkipReason};
use reminders_support::*;
use serde_json::{json, Value};

/// One SNS record around an SES notification, as Lambda receives it.
fn sns_record(message: &Value) -> Value {
    json!({
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:eu-west-1:123456789012:portal-mail-events:5e1f",
        "Sns": {
            "Type": "Notification",
            "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:portal-mail-events",
            "Subject": null,
            "Message": message.to_string(),
            "Timestamp": "2026-11-22T10:00:01.000Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.eu-west-1.amazonaws.com/cert.pem",
            "UnsubscribeUrl": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {}
        }
    })
}

fn mail(to: &str) -> Value {
    json!({
        "timestamp": "2026-11-22T09:59:58.000Z",
        "source": SENDER,
        "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/portal.test",
        "sendingAccountId": "123456789012",
        "messageId": "010001653f219e84-9157e793-51e8-4b06-b20b-c5eae86a8a93-000000",
        "destination": [to],
        "headersTruncated": false,
        "tags": {"ses:configuration-set": ["portal-mail"]}
    })
}

/// Event publishing (`eventType`) of a bounce.
fn bounce(to: &str, kind: &str) -> Value {
    json!({
        "eventType": "Bounce",
        "bounce": {
            "bounceType": kind,
            "bounceSubType": "General",
            "bouncedRecipients": [{
                "emailAddress": to,
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown"
            }],
            "timestamp": "2026-11-22T10:00:00.000Z",
            "feedbackId": "0100017f-bounce-000000",
            "reportingMTA": "dsn; a1-2.smtp-out.eu-west-1.amazonses.com"
        },
        "mail": mail(to)
    })
}

/// Identity notification format (`notificationType`) of a complaint.
fn complaint(to: &str) -> Value {
    json!({
        "notificationType": "Complaint",
        "complaint": {
            "feedbackId": "0100017f-complaint-000000",
            "complaintSubType": null,
            "complainedRecipients": [{"emailAddress": to}],
            "timestamp": "2026-11-22T10:00:00.000Z",
            "userAgent": "ExampleCorp Feedback Loop (V0.01)",
            "complaintFeedbackType": "abuse"
        },
        "mail": mail(to)
    })
}

#[tokio::test]
async fn bounced_and_complaining_addresses_get_no_more_mail() {
    let env = Env::new("bounce").await;
    env.partner("ok", "Acme", Some("pam-ok")).await;
    env.partner("sp", "Spamfree", Some("pam-spam")).await;
    for u in ["alive", "bounced", "soft", "complainer"] {
        env.user(u, true).await;
    }
    env.cert("ok", "alive", "k2", days(30)).await;
    env.cert("ok", "bounced", "k2", days(30)).await;
    env.cert("ok", "soft", "k2", days(30)).await;
    env.cert("sp", "complainer", "k2", days(30)).await;
    let deps = env.deps();

    let event = json!({"Records": [
        // Addresses are matched case-insensitively.
        sns_record(&bounce(&env.email("Bounced").to_uppercase(), "Permanent")),
        sns_record(&bounce(&env.email("soft"), "Transient")),
        sns_record(&complaint(&env.email("complainer"))),
        sns_record(&complaint(&env.email("pam-spam"))),
        sns_record(&json!({"eventType": "Delivery", "mail": mail(&env.email("alive")),
            "delivery": {"recipients": [env.email("alive")]}})),
    ]});
    let out = handle_any(&deps, &event, now()).await.expect("recorded");
    assert_eq!(out["records"], 5, "{out}");
    assert_eq!(out["bounced"], 1, "{out}");
    assert_eq!(out["complained"], 2, "{out}");
    assert_eq!(out["soft_bounces"], 1, "{out}");
    assert_eq!(out["ignored"], 1, "{out}");
    let s = env
        .store
        .get_suppression(&env.email("bounced"))
        .await
        .unwrap()
        .expect("suppressed");
    assert_eq!(s.kind, SuppressionKind::Bounce);
    assert_eq!(s.email, env.email("bounced"));
    assert!(s.detail.unwrap().contains("550 5.1.1"));
    let c = env
        .store
        .get_suppression(&env.email("pam-spam"))
        .await
        .unwrap()
        .expect("suppressed");
    assert_eq!(c.kind, SuppressionKind::Complaint);
    for fine in ["soft", "alive"] {
        assert!(env
            .store
            .get_suppression(&env.email(fine))
            .await
            .unwrap()
            .is_none());
    }

    // A record that is not SES JSON fails the invocation (Lambda retries
    // it, then the failure queue keeps it); the good record is stored.
    let mut garbled = sns_record(&json!({}));
    garbled["Sns"]["Message"] = json!("not json at all");
    let late = env.email("late");
    let event = json!({"Records": [garbled, sns_record(&bounce(&late, "Permanent"))]});
    match handle_any(&deps, &event, now()).await {
        Err(HandleError::MailEvents(MailEventsError::Malformed { index, message })) => {
            assert_eq!(index, 0);
            assert!(message.contains("not an SES notification"), "{message}");
        }
        other => panic!("expected a malformed-record error, got {other:?}"),
    }
    assert!(env.store.get_suppression(&late).await.unwrap().is_some());

    // The daily run through the same entry point: the suppressed user and
    // complainer get nothing, the soft bounce and the others still do.
    let r = handle_any(&deps, &json!({"job": "reminders"}), now())
        .await
        .expect("reminder run");
    let r: RunSummary = serde_json::from_value(r).unwrap();
    assert_eq!((r.due, r.failed), (4, 0), "{r:#?}");
    assert_eq!(r.skipped_for(SkipReason::Suppressed), 2, "{r:#?}");
    let stored: Vec<RunSummary> = env.store.recent_runs("reminders", 1).await.unwrap();
    assert_eq!(
        stored[0].skipped_for(SkipReason::Suppressed),
        2,
        "{stored:#?}"
    );
    let mails = env.sent().await;
    assert_eq!(
        recipients(&mails),
        vec![env.email("alive"), env.email("soft")],
        "moto's outbox"
    );

    // The weekly digest: the complaining PAM gets none, the other does.
    let d = handle_any(&deps, &json!({"job": "pam-digest"}), now())
        .await
        .expect("digest run");
    let d: RunSummary = serde_json::from_value(d).unwrap();
    assert_eq!(d.skipped_for(SkipReason::Suppressed), 1, "{d:#?}");
    let digests: Vec<String> = recipients(&env.sent().await)
        .into_iter()
        .filter(|r| r.starts_with("pam-"))
        .collect();
    assert_eq!(digests, vec![env.email("pam-ok")]);
}
