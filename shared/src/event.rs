//! The input of a scheduled function (sync, reminders): the request either
//! wrapped in an EventBridge event (`{"detail-type": "Scheduled Event",
//! "source": "aws.events", "detail": {...}}`) or bare (an EventBridge rule's
//! constant input, a manual invoke, a continuation).
//!
//! An object is the wrapper when it has `detail` and `detail-type` or
//! `source`; anything else is the bare request. Errors are the request
//! type's own (`unknown variant ...`), not serde's "no variant matched".

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A request `T`, wrapped or bare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<T> {
    /// From an EventBridge event: its `detail`.
    Scheduled {
        /// `detail-type` (`Scheduled Event`), when given.
        detail_type: Option<String>,
        detail: T,
    },
    /// The request itself.
    Direct(T),
}

impl<T> Event<T> {
    /// The request, wherever it came from.
    pub fn into_request(self) -> T {
        match self {
            Event::Scheduled { detail, .. } | Event::Direct(detail) => detail,
        }
    }

    pub fn request(&self) -> &T {
        match self {
            Event::Scheduled { detail, .. } | Event::Direct(detail) => detail,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Event<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Value::deserialize(d)?;
        let wrapped = v.get("detail").is_some()
            && (v.get("detail-type").is_some() || v.get("source").is_some());
        if wrapped {
            let detail_type = v
                .get("detail-type")
                .and_then(Value::as_str)
                .map(str::to_string);
            let detail = v.get_mut("detail").map(Value::take).unwrap_or(Value::Null);
            let detail = T::deserialize(detail).map_err(D::Error::custom)?;
            Ok(Event::Scheduled {
                detail_type,
                detail,
            })
        } else {
            T::deserialize(v)
                .map(Event::Direct)
                .map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Debug, PartialEq, Eq)]
    struct Req {
        task: String,
        #[serde(default)]
        n: u32,
    }

    fn parse(v: Value) -> Result<Event<Req>, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn the_eventbridge_wrapper() {
        let ev = parse(json!({"version": "0", "detail-type": "Scheduled Event",
            "source": "aws.events", "detail": {"task": "a", "n": 2}}))
        .unwrap();
        assert_eq!(
            ev,
            Event::Scheduled {
                detail_type: Some("Scheduled Event".into()),
                detail: Req {
                    task: "a".into(),
                    n: 2
                },
            }
        );
        // `source` alone marks the wrapper too.
        let ev = parse(json!({"source": "aws.events", "detail": {"task": "b"}})).unwrap();
        assert_eq!(
            ev,
            Event::Scheduled {
                detail_type: None,
                detail: Req {
                    task: "b".into(),
                    n: 0
                }
            }
        );
    }

    #[test]
    fn the_bare_payload() {
        let ev = parse(json!({"task": "c"})).unwrap();
        assert_eq!(
            ev.request(),
            &Req {
                task: "c".into(),
                n: 0
            }
        );
        // A `detail` field without the wrapper's keys is the payload's own.
        let ev = parse(json!({"task": "d", "detail": 1})).unwrap();
        assert!(matches!(ev, Event::Direct(_)));
        assert_eq!(ev.into_request().task, "d");
    }

    #[test]
    fn errors_are_the_requests_own() {
        let e = parse(json!({"detail-type": "x", "detail": {"n": 1}})).unwrap_err();
        assert!(e.to_string().contains("missing field `task`"), "{e}");
        let e = parse(json!({"task": "e", "n": "many"})).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
    }
}
