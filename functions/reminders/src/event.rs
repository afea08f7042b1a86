//! The Lambda input: `{"job": "reminders"}` (daily) or
//! `{"job": "pam-digest"}` (weekly), given as the EventBridge rule's
//! constant input, or inside a scheduled event's `detail`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Job {
    #[serde(rename = "reminders")]
    Reminders,
    #[serde(rename = "pam-digest")]
    PamDigest,
}

impl Job {
    /// Task name (lock, state and run records).
    pub fn task(self) -> &'static str {
        match self {
            Job::Reminders => "reminders",
            Job::PamDigest => "pam-digest",
        }
    }

    pub fn mode(self) -> &'static str {
        match self {
            Job::Reminders => "daily",
            Job::PamDigest => "weekly",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised event (expected {{\"job\": \"reminders\"|\"pam-digest\"}}): {0}")]
pub struct EventError(pub String);

/// Finds the job in the payload: top-level `job`, or `detail.job` of an
/// EventBridge event. A bare scheduled event without a job means the daily
/// reminders, the function's main schedule.
pub fn parse_event(payload: &Value) -> Result<Job, EventError> {
    let job = payload
        .get("job")
        .or_else(|| payload.pointer("/detail/job"));
    match job {
        Some(j) => serde_json::from_value(j.clone()).map_err(|_| EventError(payload.to_string())),
        None if payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") => {
            Ok(Job::Reminders)
        }
        None => Err(EventError(payload.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_wrapped_and_bare_scheduled_events() {
        assert_eq!(
            parse_event(&json!({"job": "reminders"})),
            Ok(Job::Reminders)
        );
        assert_eq!(
            parse_event(&json!({"job": "pam-digest"})),
            Ok(Job::PamDigest)
        );
        let wrapped = json!({
            "version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
            "detail": {"job": "pam-digest"}
        });
        assert_eq!(parse_event(&wrapped), Ok(Job::PamDigest));
        let bare = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert_eq!(parse_event(&bare), Ok(Job::Reminders));
        assert!(parse_event(&json!({"job": "sync"})).is_err());
        assert!(parse_event(&json!({})).is_err());
    }
}
