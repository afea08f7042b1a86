//! The Lambda input: `{"job": "reminders"}` (daily) or
//! `{"job": "pam-digest"}` (weekly), given as the EventBridge rule's
//! constant input, or inside a scheduled event's `detail`.

use portal_core::event::Event;
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

/// The request of either shape of [`Event`].
#[derive(Deserialize, Default)]
#[serde(default)]
struct JobRequest {
    job: Option<Job>,
}

/// Finds the job in the payload: `job` of the bare payload, or `detail.job`
/// of an EventBridge event ([`Event`]). A scheduled event without a job
/// means the daily reminders, the function's main schedule.
pub fn parse_event(payload: &Value) -> Result<Job, EventError> {
    let event: Event<JobRequest> =
        serde_json::from_value(payload.clone()).map_err(|_| EventError(payload.to_string()))?;
    match event {
        Event::Direct(JobRequest { job: Some(job) })
        | Event::Scheduled {
            detail: JobRequest { job: Some(job) },
            ..
        } => Ok(job),
        Event::Scheduled {
            detail_type: Some(t),
            ..
        } if t == "Scheduled Event" => Ok(Job::Reminders),
        _ => Err(EventError(payload.to_string())),
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
        // Wrapped, a job names the job whatever the detail-type.
        let custom =
            json!({"detail-type": "Digest", "source": "ops", "detail": {"job": "pam-digest"}});
        assert_eq!(parse_event(&custom), Ok(Job::PamDigest));
        let other = json!({"detail-type": "Other", "source": "ops", "detail": {}});
        assert!(parse_event(&other).is_err());
        assert!(parse_event(&json!({"job": "sync"})).is_err());
        let wrapped_bad = json!({"detail-type": "Scheduled Event", "source": "aws.events",
            "detail": {"job": "sync"}});
        assert!(parse_event(&wrapped_bad).is_err());
        assert!(parse_event(&json!({})).is_err());
    }
}
