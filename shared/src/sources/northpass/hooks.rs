//! Northpass webhook payloads (pure: bytes in, typed event or typed error
//! out; no I/O).
//!
//! The contract (docs/source-contract.md, "Webhooks"): learner created,
//! learner progress and course completion events, JSON:API-shaped. Only
//! the learner-created shape is documented in full:
//! `{"data": {"id": <event id>, "type": "learner_created_events",
//! "attributes": {"created_at": ..}, "included": [{"id": <person id>,
//! "type": "people", "attributes": {..}}], "relationships": {..}}}`.
//! The other two are not, so where the evidence is uncertain every variant
//! seen in JSON:API senders is accepted:
//!
//! - the person is an `included` resource of type `people` (inside `data`
//!   or at the top level), or `data.relationships.person|learner.data.id`;
//! - the course (informational only) is `relationships.course.data.id` or an
//!   included `courses` resource;
//! - the event id is always `data.id`;
//! - any `*_events` type is an event; one the portal does not act on is
//!   [`HookKind::Other`] (counted and ignored by the receiver, not an error).
//!
//! The consumer does not trust the payload for facts it can re-read
//! cheaply: it re-fetches the learner's transcript. The payload only says
//! *whom* to look at.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{convert_person, Item, Resource};
use crate::sources::wire::{datetime_from_value, string_from_value, Person};

/// Largest body accepted. Real payloads are a few KB; API Gateway allows
/// far more, and a body this size is not an event worth parsing.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Longest id accepted (event, person, course). Ids end up inside store
/// keys (docs: `store/keys.rs`, ids must not contain `#`).
const MAX_ID_LEN: usize = 128;

/// What the portal does with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookKind {
    /// `learner_created_events`: register the person.
    LearnerCreated,
    /// A course completion (`course_completion_events`,
    /// `course_completed_events`, …): re-read the learner's transcript.
    CourseCompleted,
    /// Learner progress (`learner_progress_events`, …): the same.
    LearnerProgress,
    /// Any other `*_events` type: accepted, counted, ignored.
    Other,
}

impl HookKind {
    /// From `data.type`. Only `learner_created_events` is documented; the
    /// other names are matched loosely (see the module comment).
    pub fn of_type(t: &str) -> HookKind {
        let t = t.to_ascii_lowercase();
        if t == "learner_created_events" {
            HookKind::LearnerCreated
        } else if t.contains("complet") {
            HookKind::CourseCompleted
        } else if t.contains("progress") {
            HookKind::LearnerProgress
        } else {
            HookKind::Other
        }
    }

    /// Whether the consumer re-reads the learner's transcript.
    pub fn refreshes_transcript(self) -> bool {
        matches!(self, HookKind::CourseCompleted | HookKind::LearnerProgress)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::LearnerCreated => "learner_created",
            HookKind::CourseCompleted => "course_completed",
            HookKind::LearnerProgress => "learner_progress",
            HookKind::Other => "other",
        }
    }
}

/// One validated webhook event: what the receiver stores (its id, for
/// dedupe) and enqueues (all of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookEvent {
    /// `data.id`.
    pub event_id: String,
    /// `data.type` as sent.
    pub event_type: String,
    pub kind: HookKind,
    /// The learner; always set for the kinds the portal acts on.
    pub person_id: Option<String>,
    /// The learner's record when the payload included it.
    pub person: Option<Person>,
    /// The course, when the payload named one (informational: the
    /// consumer reads the whole transcript).
    pub course_id: Option<String>,
    /// `data.attributes.created_at`.
    pub created_at: Option<DateTime<Utc>>,
}

/// Why a payload is not an event. Never echoes the body (it holds
/// personal data); names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("body is empty")]
    Empty,
    #[error("body is {len} bytes, more than {max}")]
    TooLarge { len: usize, max: usize },
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("body has no `data` object")]
    NoData,
    #[error("`data.id` is missing or not a string/number")]
    NoEventId,
    #[error("`data.type` is missing")]
    NoType,
    #[error("`data.type` {0:?} is not an `*_events` type")]
    NotAnEvent(String),
    #[error(
        "{event_type} event names no person (`included` people or `relationships.person|learner`)"
    )]
    NoPerson { event_type: String },
    #[error("{what} id is not usable ({reason})")]
    BadId { what: &'static str, reason: String },
}

impl HookError {
    /// Short stable label for logs and counters.
    pub fn reason(&self) -> &'static str {
        match self {
            HookError::Empty => "empty",
            HookError::TooLarge { .. } => "too_large",
            HookError::NotJson(_) => "not_json",
            HookError::NoData => "no_data",
            HookError::NoEventId => "no_event_id",
            HookError::NoType => "no_type",
            HookError::NotAnEvent(_) => "not_an_event",
            HookError::NoPerson { .. } => "no_person",
            HookError::BadId { .. } => "bad_id",
        }
    }
}

/// Parses and validates one webhook body.
pub fn parse_hook(body: &[u8]) -> Result<HookEvent, HookError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(HookError::Empty);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(HookError::TooLarge {
            len: body.len(),
            max: MAX_BODY_BYTES,
        });
    }
    let root: Value =
        serde_json::from_slice(body).map_err(|e| HookError::NotJson(e.to_string()))?;
    let data = root
        .get("data")
        .and_then(Value::as_object)
        .ok_or(HookError::NoData)?;
    let event_id = data
        .get("id")
        .and_then(string_from_value)
        .ok_or(HookError::NoEventId)?;
    check_id("event", &event_id)?;
    let event_type = data
        .get("type")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(HookError::NoType)?
        .to_string();
    if !event_type.to_ascii_lowercase().ends_with("_events") {
        return Err(HookError::NotAnEvent(event_type));
    }
    let kind = HookKind::of_type(&event_type);
    let included = included(data, &root);
    let relationships = data.get("relationships").and_then(Value::as_object);

    let related = |names: &[&str]| -> Option<String> {
        let rel = relationships?;
        names.iter().find_map(|n| {
            rel.get(*n)?
                .get("data")?
                .get("id")
                .and_then(string_from_value)
        })
    };
    let people: Vec<&Map<String, Value>> = included
        .iter()
        .copied()
        .filter(|r| is_type(r, &["people", "person", "learners", "learner"]))
        .collect();
    let person_id = related(&["person", "learner"]).or_else(|| {
        people
            .iter()
            .find_map(|r| r.get("id").and_then(string_from_value))
    });
    if let Some(id) = &person_id {
        check_id("person", id)?;
    }
    let person = person_id.as_deref().and_then(|pid| {
        people
            .iter()
            .filter(|r| r.get("id").and_then(string_from_value).as_deref() == Some(pid))
            .find_map(|r| {
                let res: Resource = serde_json::from_value(Value::Object((*r).clone())).ok()?;
                match convert_person(res) {
                    Item::Keep(p) => Some(p),
                    Item::Ignore | Item::Unreadable(_) => None,
                }
            })
    });
    if person_id.is_none() && kind != HookKind::Other {
        return Err(HookError::NoPerson { event_type });
    }
    let course_id = related(&["course"]).or_else(|| {
        included
            .iter()
            .filter(|r| is_type(r, &["courses", "course"]))
            .find_map(|r| r.get("id").and_then(string_from_value))
    });
    if let Some(id) = &course_id {
        check_id("course", id)?;
    }
    let created_at = data
        .get("attributes")
        .and_then(|a| a.get("created_at"))
        .and_then(datetime_from_value);
    Ok(HookEvent {
        event_id,
        event_type,
        kind,
        person_id,
        person,
        course_id,
        created_at,
    })
}

/// `included` resources inside `data` (the documented place) and at the
/// top level (standard JSON:API), in that order.
fn included<'a>(data: &'a Map<String, Value>, root: &'a Value) -> Vec<&'a Map<String, Value>> {
    [data.get("included"), root.get("included")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_object)
        .collect()
}

fn is_type(r: &Map<String, Value>, types: &[&str]) -> bool {
    r.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| types.iter().any(|w| t.eq_ignore_ascii_case(w)))
}

fn check_id(what: &'static str, id: &str) -> Result<(), HookError> {
    let bad = |reason: &str| {
        Err(HookError::BadId {
            what,
            reason: reason.to_string(),
        })
    };
    if id.len() > MAX_ID_LEN {
        return bad("too long");
    }
    if id
        .chars()
        .any(|c| c == '#' || c == '/' || c.is_control() || c.is_whitespace())
    {
        return bad("contains '#', '/', whitespace or a control character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<HookEvent, HookError> {
        parse_hook(v.to_string().as_bytes())
    }

    fn person(id: &str) -> Value {
        json!({"id": id, "type": "people",
            "links": {"self": format!("https://api.northpass.com/v2/people/{id}")},
            "attributes": {"name": "Jill Smith", "email": "Jill@Example.COM",
                "first_name": "Jill", "created_at": "2022-04-08T17:55:42Z"}})
    }

    #[test]
    fn the_documented_learner_created_payload() {
        let ev = parse(json!({"data": {
            "id": "11111111-1111-1111-1111-111111111111",
            "type": "learner_created_events",
            "links": {},
            "included": [person("p-1")],
            "attributes": {"created_at": "2022-04-08T17:55:43Z"},
            "relationships": {"school": {"data": {"id": "s", "type": "schools"}}}
        }}))
        .unwrap();
        assert_eq!(ev.event_id, "11111111-1111-1111-1111-111111111111");
        assert_eq!(ev.kind, HookKind::LearnerCreated);
        assert_eq!(ev.person_id.as_deref(), Some("p-1"));
        let p = ev.person.unwrap();
        assert_eq!(p.email.as_deref(), Some("Jill@Example.COM"));
        assert_eq!(p.first_name.as_deref(), Some("Jill"));
        assert_eq!(
            ev.created_at.unwrap().to_rfc3339(),
            "2022-04-08T17:55:43+00:00"
        );
        assert_eq!(ev.course_id, None);
    }

    #[test]
    fn included_at_the_top_level() {
        let ev = parse(json!({
            "data": {"id": "e-2", "type": "course_completion_events",
                "relationships": {"course": {"data": {"id": "c-9", "type": "courses"}}}},
            "included": [{"id": "c-9", "type": "courses", "attributes": {}}, person("p-2")]
        }))
        .unwrap();
        assert_eq!(ev.kind, HookKind::CourseCompleted);
        assert_eq!(ev.person_id.as_deref(), Some("p-2"));
        assert!(ev.person.is_some());
        assert_eq!(ev.course_id.as_deref(), Some("c-9"));
    }

    #[test]
    fn person_by_relationship_person_or_learner() {
        for rel in ["person", "learner"] {
            let ev = parse(json!({"data": {"id": 77, "type": "learner_progress_events",
                "relationships": {rel: {"data": {"id": "p-3", "type": "people"}}}}}))
            .unwrap();
            assert_eq!(ev.event_id, "77", "numeric ids are read as text");
            assert_eq!(ev.kind, HookKind::LearnerProgress);
            assert_eq!(ev.person_id.as_deref(), Some("p-3"), "{rel}");
            assert_eq!(ev.person, None);
        }
        // The relationship wins; the included record is attached when its
        // id matches, and another person's record is not.
        let ev = parse(
            json!({"data": {"id": "e", "type": "course_completed_events",
            "included": [person("other"), person("p-4")],
            "relationships": {"learner": {"data": {"id": "p-4"}}}}}),
        )
        .unwrap();
        assert_eq!(ev.person_id.as_deref(), Some("p-4"));
        assert_eq!(ev.person.unwrap().id, "p-4");
    }

    #[test]
    fn course_from_included_only() {
        let ev = parse(
            json!({"data": {"id": "e", "type": "course_completion_events",
            "included": [person("p"), {"id": "c-1", "type": "courses"}]}}),
        )
        .unwrap();
        assert_eq!(ev.course_id.as_deref(), Some("c-1"));
    }

    #[test]
    fn completion_type_names_are_matched_loosely() {
        for t in [
            "course_completion_events",
            "course_completed_events",
            "Course_Completion_Events",
        ] {
            assert_eq!(HookKind::of_type(t), HookKind::CourseCompleted, "{t}");
        }
        assert_eq!(
            HookKind::of_type("learner_progress_events"),
            HookKind::LearnerProgress
        );
        assert_eq!(
            HookKind::of_type("learner_created_events"),
            HookKind::LearnerCreated
        );
        assert!(HookKind::CourseCompleted.refreshes_transcript());
        assert!(!HookKind::LearnerCreated.refreshes_transcript());
    }

    #[test]
    fn an_unknown_event_type_is_accepted_as_other() {
        let ev = parse(json!({"data": {"id": "e-5", "type": "person_invited_events"}})).unwrap();
        assert_eq!(ev.kind, HookKind::Other);
        assert_eq!(ev.person_id, None);
        let ev = parse(json!({"data": {"id": "e-6", "type": "quiz_failed_events",
            "included": [person("p-6")]}}))
        .unwrap();
        assert_eq!(ev.kind, HookKind::Other);
        assert_eq!(ev.person_id.as_deref(), Some("p-6"));
    }

    #[test]
    fn the_event_round_trips_as_a_queue_message() {
        let ev = parse(json!({"data": {"id": "e", "type": "learner_created_events",
            "included": [person("p")]}}))
        .unwrap();
        let text = serde_json::to_string(&ev).unwrap();
        assert_eq!(serde_json::from_str::<HookEvent>(&text).unwrap(), ev);
    }

    #[test]
    fn malformed_bodies_say_what_is_wrong() {
        let cases: Vec<(&[u8], &str)> = vec![
            (b"", "empty"),
            (b"  \n", "empty"),
            (b"{not json", "not_json"),
            (b"[1,2]", "no_data"),
            (br#"{"data": []}"#, "no_data"),
            (br#"{"data": {"type": "learner_created_events"}}"#, "no_event_id"),
            (br#"{"data": {"id": null, "type": "x_events"}}"#, "no_event_id"),
            (br#"{"data": {"id": "e"}}"#, "no_type"),
            (br#"{"data": {"id": "e", "type": "  "}}"#, "no_type"),
            (br#"{"data": {"id": "e", "type": "people"}}"#, "not_an_event"),
            (br#"{"data": {"id": "e", "type": "course_completion_events"}}"#, "no_person"),
            (
                br#"{"data": {"id": "e", "type": "learner_created_events", "included": [{"type": "courses", "id": "c"}]}}"#,
                "no_person",
            ),
            (br#"{"data": {"id": "a#b", "type": "x_events"}}"#, "bad_id"),
            (
                br#"{"data": {"id": "e", "type": "learner_progress_events", "relationships": {"person": {"data": {"id": "p/../x"}}}}}"#,
                "bad_id",
            ),
        ];
        for (body, reason) in cases {
            let err = parse_hook(body).unwrap_err();
            assert_eq!(
                err.reason(),
                reason,
                "{}: {err}",
                String::from_utf8_lossy(body)
            );
        }
        let long = "x".repeat(MAX_ID_LEN + 1);
        let err = parse(json!({"data": {"id": long, "type": "x_events"}})).unwrap_err();
        assert!(
            matches!(err, HookError::BadId { what: "event", .. }),
            "{err}"
        );
        let big = vec![b' '; MAX_BODY_BYTES]
            .into_iter()
            .chain(*b"{}")
            .collect::<Vec<u8>>();
        assert_eq!(parse_hook(&big).unwrap_err().reason(), "too_large");
    }

    #[test]
    fn errors_never_echo_personal_data() {
        let err = parse_hook(
            br#"{"data": {"id": "e", "type": "course_completion_events", "included": [{"type": "people", "attributes": {"email": "jill@x.io"}}]}}"#,
        )
        .unwrap_err();
        assert_eq!(err.reason(), "no_person");
        assert!(!err.to_string().contains("jill@x.io"), "{err}");
    }
}
