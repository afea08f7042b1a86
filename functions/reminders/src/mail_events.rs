//! SES bounces and complaints. The template's configuration set publishes
//! `bounce` and `complaint` events to an SNS topic this function is
//! subscribed to; each SNS record's `Message` is SES's JSON notification
//! (`eventType` with event publishing, `notificationType` with identity
//! notifications — both are read). A permanent bounce or a complaint
//! becomes a [`Suppression`] for each recipient it names; the daily and
//! digest runs then skip the address (`suppressed` in the run record's
//! skip reasons). Transient and undetermined bounces and other event types
//! (delivery, send, …) are counted and left alone.
//!
//! A record that is not an SNS notification carrying SES JSON fails the
//! invocation after the good records are stored (recording is idempotent),
//! so Lambda retries it and then parks it in the failure queue: nothing is
//! dropped silently.

use chrono::{DateTime, Utc};
use portal_core::store::suppressions::{Suppression, SuppressionKind};
use portal_core::store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Deps, RunError};

/// An SNS event as Lambda delivers it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsEvent {
    records: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsRecord {
    event_source: String,
    sns: SnsMessage,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsMessage {
    #[serde(rename = "Type")]
    kind: String,
    message_id: Option<String>,
    message: String,
}

/// SES's notification; unknown fields are ignored (SES adds fields).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesNotification {
    event_type: Option<String>,
    notification_type: Option<String>,
    #[serde(default)]
    mail: SesMail,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesMail {
    message_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    bounce_sub_type: Option<String>,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
    timestamp: Option<DateTime<Utc>>,
    feedback_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
    complaint_feedback_type: Option<String>,
    timestamp: Option<DateTime<Utc>>,
    feedback_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
    diagnostic_code: Option<String>,
}

/// What one SNS event did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MailEventsOutcome {
    pub records: u64,
    /// Addresses suppressed for a permanent bounce.
    pub bounced: u64,
    /// Addresses suppressed for a complaint.
    pub complained: u64,
    /// Transient / undetermined bounces: the address stays mailable.
    pub soft_bounces: u64,
    /// Notifications of other types (delivery, send, …).
    pub ignored: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum MailEventsError {
    #[error("SNS record {index}: {message}")]
    Malformed { index: usize, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `payload` is an SNS event (`Records[].EventSource == aws:sns`).
pub fn is_sns_event(payload: &Value) -> bool {
    payload
        .pointer("/Records/0/EventSource")
        .and_then(Value::as_str)
        == Some("aws:sns")
}

/// The suppressions one SES notification asks for, and how to count it.
enum Verdict {
    Suppress(Vec<Suppression>),
    Soft,
    Ignore,
}

fn verdict(n: SesNotification) -> Result<Verdict, String> {
    let kind = n
        .event_type
        .or(n.notification_type)
        .ok_or("neither eventType nor notificationType")?;
    let message_id = n.mail.message_id;
    match kind.as_str() {
        "Bounce" => {
            let b = n.bounce.ok_or("a Bounce without a bounce object")?;
            if b.bounce_type != "Permanent" {
                return Ok(Verdict::Soft);
            }
            Ok(Verdict::Suppress(
                b.bounced_recipients
                    .into_iter()
                    .map(|r| Suppression {
                        email: r.email_address,
                        kind: SuppressionKind::Bounce,
                        at: b.timestamp,
                        detail: Some(
                            [b.bounce_sub_type.clone(), r.diagnostic_code]
                                .into_iter()
                                .flatten()
                                .collect::<Vec<_>>()
                                .join(": "),
                        )
                        .filter(|d| !d.is_empty()),
                        feedback_id: b.feedback_id.clone(),
                        message_id: message_id.clone(),
                    })
                    .collect(),
            ))
        }
        "Complaint" => {
            let c = n
                .complaint
                .ok_or("a Complaint without a complaint object")?;
            Ok(Verdict::Suppress(
                c.complained_recipients
                    .into_iter()
                    .map(|r| Suppression {
                        email: r.email_address,
                        kind: SuppressionKind::Complaint,
                        at: c.timestamp,
                        detail: c.complaint_feedback_type.clone(),
                        feedback_id: c.feedback_id.clone(),
                        message_id: message_id.clone(),
                    })
                    .collect(),
            ))
        }
        _ => Ok(Verdict::Ignore),
    }
}

/// Records the suppressions of every SNS record of `payload`.
pub async fn record(deps: &Deps, payload: &Value) -> Result<MailEventsOutcome, MailEventsError> {
    let event: SnsEvent =
        serde_json::from_value(payload.clone()).map_err(|e| MailEventsError::Malformed {
            index: 0,
            message: format!("not an SNS event: {e}"),
        })?;
    let mut out = MailEventsOutcome::default();
    let mut first_bad: Option<MailEventsError> = None;
    for (index, raw) in event.records.into_iter().enumerate() {
        out.records += 1;
        let parsed = serde_json::from_value::<SnsRecord>(raw)
            .map_err(|e| format!("not an SNS record: {e}"))
            .and_then(|r| {
                if r.event_source != "aws:sns" {
                    return Err(format!("event source {} is not aws:sns", r.event_source));
                }
                Ok(r.sns)
            });
        let sns = match parsed {
            Ok(s) => s,
            Err(message) => {
                first_bad.get_or_insert(MailEventsError::Malformed { index, message });
                continue;
            }
        };
        if sns.kind != "Notification" {
            out.ignored += 1;
            continue;
        }
        let v = serde_json::from_str::<SesNotification>(&sns.message)
            .map_err(|e| format!("message is not an SES notification: {e}"))
            .and_then(verdict);
        match v {
            Ok(Verdict::Suppress(list)) => {
                for s in list {
                    if s.email.trim().is_empty() {
                        continue;
                    }
                    deps.store.put_suppression(&s).await?;
                    match s.kind {
                        SuppressionKind::Bounce => out.bounced += 1,
                        SuppressionKind::Complaint => out.complained += 1,
                    }
                }
            }
            Ok(Verdict::Soft) => out.soft_bounces += 1,
            Ok(Verdict::Ignore) => out.ignored += 1,
            Err(message) => {
                tracing::warn!(index, sns_message_id = ?sns.message_id, %message, "unreadable SES notification");
                first_bad.get_or_insert(MailEventsError::Malformed { index, message });
            }
        }
    }
    // Counts only: the addresses are personal data and stay out of logs.
    tracing::info!(
        records = out.records,
        bounced = out.bounced,
        complained = out.complained,
        soft_bounces = out.soft_bounces,
        ignored = out.ignored,
        "mail events recorded"
    );
    match first_bad {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Either kind of invocation failing.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    MailEvents(#[from] MailEventsError),
}

/// The Lambda's entry: an SNS event of mail events is recorded; anything
/// else is a job event ([`crate::handle`]). Returns the JSON answer.
pub async fn handle_any(
    deps: &Deps,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<Value, HandleError> {
    if is_sns_event(payload) {
        let out = record(deps, payload).await?;
        return Ok(serde_json::to_value(out).unwrap_or_default());
    }
    let summary = crate::handle(deps, payload, now).await?;
    Ok(serde_json::to_value(summary).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn notification(v: Value) -> SesNotification {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn permanent_bounces_and_complaints_suppress_soft_ones_do_not() {
        let hard = notification(json!({
            "eventType": "Bounce",
            "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": "a@x.io", "diagnosticCode": "smtp; 550 5.1.1"}],
                "timestamp": "2026-11-20T10:00:00.000Z", "feedbackId": "f1"},
            "mail": {"messageId": "m1", "destination": ["a@x.io"]}
        }));
        let Ok(Verdict::Suppress(s)) = verdict(hard) else {
            panic!("a permanent bounce suppresses")
        };
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].email, "a@x.io");
        assert_eq!(s[0].kind, SuppressionKind::Bounce);
        assert_eq!(s[0].detail.as_deref(), Some("General: smtp; 550 5.1.1"));
        assert_eq!(s[0].message_id.as_deref(), Some("m1"));

        let soft = notification(json!({"notificationType": "Bounce",
            "bounce": {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "b@x.io"}]}}));
        assert!(matches!(verdict(soft), Ok(Verdict::Soft)));

        let complaint = notification(json!({"notificationType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": "c@x.io"}],
                "complaintFeedbackType": "abuse"}, "mail": {}}));
        let Ok(Verdict::Suppress(s)) = verdict(complaint) else {
            panic!("a complaint suppresses")
        };
        assert_eq!(s[0].kind, SuppressionKind::Complaint);

        let delivery = notification(json!({"eventType": "Delivery", "mail": {}}));
        assert!(matches!(verdict(delivery), Ok(Verdict::Ignore)));
        assert!(verdict(notification(json!({"eventType": "Bounce"}))).is_err());
        assert!(verdict(notification(json!({"mail": {}}))).is_err());
    }

    #[test]
    fn sns_events_are_told_from_job_events() {
        assert!(is_sns_event(
            &json!({"Records": [{"EventSource": "aws:sns", "Sns": {}}]})
        ));
        assert!(!is_sns_event(&json!({"job": "reminders"})));
        assert!(!is_sns_event(
            &json!({"Records": [{"eventSource": "aws:sqs"}]})
        ));
    }
}
