//! The Northpass simulator's webhooks: when its data changes (a course
//! completed or renewed, a learner added) it POSTs the JSON:API event to a
//! configured URL, as Northpass does for a subscription
//! (docs/source-contract.md, "Webhooks").
//!
//! The payloads use the variants the portal accepts
//! (`shared/src/sources/northpass/hooks.rs`): learner created in the
//! documented shape (`included` inside `data`); a completion with
//! `relationships.person` and the person in a top-level `included`; a
//! progress event with `relationships.learner`. Two switches make delivery
//! as unreliable as the real one: `redeliver` sends every event twice
//! (same id), `out_of_order` follows each completion with a progress event
//! stamped *before* it. Deliveries go out one at a time, in order, from one
//! background task; [`Webhooks::delivered`] counts the answered ones so a
//! test can wait for them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::mutation::{Mutation, MutationOutcome};
use super::world::World;

/// Where and how the simulator sends its webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOptions {
    /// The subscription's endpoint URL.
    pub url: String,
    /// Every event is delivered twice, with the same id.
    pub redeliver: bool,
    /// Each completion is followed by a progress event of the same learner
    /// stamped one minute before it.
    pub out_of_order: bool,
}

#[derive(Default)]
struct Counters {
    /// Deliveries answered (any status).
    delivered: AtomicU64,
    /// Deliveries answered 2xx.
    accepted: AtomicU64,
    /// Deliveries that got no answer or a non-2xx one.
    failed: AtomicU64,
}

struct Active {
    opts: WebhookOptions,
    tx: mpsc::UnboundedSender<Value>,
}

/// The sender; off until [`Webhooks::configure`].
#[derive(Default)]
pub(crate) struct Webhooks {
    active: Mutex<Option<Active>>,
    counters: Arc<Counters>,
    seq: AtomicU64,
}

/// What the sender did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookStats {
    pub delivered: u64,
    pub accepted: u64,
    pub failed: u64,
}

impl Webhooks {
    /// Starts sending to `opts.url` (replacing an earlier subscription);
    /// `None` stops. Must be called inside a Tokio runtime.
    pub fn configure(&self, opts: Option<WebhookOptions>) {
        let mut active = self.active.lock().expect("webhooks lock");
        *active = opts.map(|opts| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(deliver(opts.url.clone(), rx, self.counters.clone()));
            Active { opts, tx }
        });
    }

    pub fn stats(&self) -> WebhookStats {
        WebhookStats {
            delivered: self.counters.delivered.load(Ordering::SeqCst),
            accepted: self.counters.accepted.load(Ordering::SeqCst),
            failed: self.counters.failed.load(Ordering::SeqCst),
        }
    }

    /// Queues the events of an applied mutation (none when off).
    pub fn after(&self, m: &Mutation, outcome: &MutationOutcome, world: &World) {
        let active = self.active.lock().expect("webhooks lock");
        let Some(a) = active.as_ref() else {
            return;
        };
        for ev in self.events(m, outcome, world, &a.opts) {
            let times = if a.opts.redeliver { 2 } else { 1 };
            for _ in 0..times {
                // A closed channel means the sender task ended with its
                // runtime: nothing left to deliver to.
                let _ = a.tx.send(ev.clone());
            }
        }
    }

    fn next_id(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        format!("5e5e0000-0000-4000-8000-{n:012x}")
    }

    fn events(
        &self,
        m: &Mutation,
        outcome: &MutationOutcome,
        world: &World,
        opts: &WebhookOptions,
    ) -> Vec<Value> {
        let person = |id: &str| {
            world
                .data
                .people
                .iter()
                .find(|p| p.id == id)
                .and_then(|p| serde_json::to_value(p).ok())
        };
        match m {
            Mutation::CompleteCourse {
                person_id,
                course_id,
                ..
            }
            | Mutation::RenewCourse {
                person_id,
                course_id,
                ..
            } => {
                let mut out = vec![json!({
                    "data": {
                        "id": self.next_id(),
                        "type": "course_completion_events",
                        "attributes": {"created_at": stamp(outcome.at)},
                        "relationships": {
                            "person": {"data": {"id": person_id, "type": "people"}},
                            "course": {"data": {"id": course_id, "type": "courses"}}
                        }
                    },
                    "included": person(person_id).into_iter().collect::<Vec<_>>()
                })];
                if opts.out_of_order {
                    out.push(json!({"data": {
                        "id": self.next_id(),
                        "type": "learner_progress_events",
                        "attributes": {"created_at": stamp(outcome.at - TimeDelta::minutes(1))},
                        "relationships": {
                            "learner": {"data": {"id": person_id, "type": "people"}},
                            "course": {"data": {"id": course_id, "type": "courses"}}
                        }
                    }}));
                }
                out
            }
            Mutation::AddPerson { .. } => {
                let Some(id) = outcome.id.as_deref() else {
                    return Vec::new();
                };
                vec![json!({"data": {
                    "id": self.next_id(),
                    "type": "learner_created_events",
                    "links": {},
                    "included": person(id).into_iter().collect::<Vec<_>>(),
                    "attributes": {"created_at": stamp(outcome.at)},
                    "relationships": {}
                }})]
            }
            _ => Vec::new(),
        }
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn deliver(url: String, mut rx: mpsc::UnboundedReceiver<Value>, counters: Arc<Counters>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    while let Some(ev) = rx.recv().await {
        let ok = match client.post(&url).json(&ev).send().await {
            Ok(r) => {
                counters.delivered.fetch_add(1, Ordering::SeqCst);
                r.status().is_success()
            }
            Err(e) => {
                tracing::warn!(error = %e, "simulated webhook not delivered");
                false
            }
        };
        let c = if ok {
            &counters.accepted
        } else {
            &counters.failed
        };
        c.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagen::{self, DatasetSize, GenOptions};
    use crate::sim::mutation;
    use chrono::NaiveDate;
    use portal_core::sources::northpass::hooks::{parse_hook, HookKind};

    fn world() -> World {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let data = datagen::generate(&GenOptions {
            size: DatasetSize::Small,
            seed: 3,
            as_of,
        });
        World::new(data, as_of.and_hms_opt(0, 0, 0).unwrap().and_utc(), 3)
    }

    fn opts(out_of_order: bool) -> WebhookOptions {
        WebhookOptions {
            url: "http://127.0.0.1:1/hooks".into(),
            redeliver: false,
            out_of_order,
        }
    }

    /// What the simulator sends is what the portal accepts.
    #[test]
    fn payloads_parse_as_the_portal_expects() {
        let mut w = world();
        let hooks = Webhooks::default();
        let person = w.data.people[0].id.clone();
        let course = w.data.courses[0].id.clone();
        let m = Mutation::CompleteCourse {
            person_id: person.clone(),
            course_id: course.clone(),
            at: None,
        };
        let outcome = mutation::apply(&mut w, m.clone()).unwrap();
        let evs = hooks.events(&m, &outcome, &w, &opts(true));
        assert_eq!(evs.len(), 2, "completion + late progress");
        let done = parse_hook(evs[0].to_string().as_bytes()).unwrap();
        assert_eq!(done.kind, HookKind::CourseCompleted);
        assert_eq!(done.person_id.as_deref(), Some(person.as_str()));
        assert_eq!(done.course_id.as_deref(), Some(course.as_str()));
        assert!(done.person.is_some(), "person from the top-level included");
        assert_eq!(done.created_at, Some(outcome.at));
        let late = parse_hook(evs[1].to_string().as_bytes()).unwrap();
        assert_eq!(late.kind, HookKind::LearnerProgress);
        assert_eq!(late.person_id.as_deref(), Some(person.as_str()));
        assert!(late.created_at < done.created_at, "stamped before");
        assert_ne!(late.event_id, done.event_id);
        assert_eq!(hooks.events(&m, &outcome, &w, &opts(false)).len(), 1);

        let m = Mutation::AddPerson {
            email: "n@x.io".into(),
            first_name: "N".into(),
            last_name: "X".into(),
            group_id: None,
        };
        let outcome = mutation::apply(&mut w, m.clone()).unwrap();
        let evs = hooks.events(&m, &outcome, &w, &opts(false));
        let created = parse_hook(evs[0].to_string().as_bytes()).unwrap();
        assert_eq!(created.kind, HookKind::LearnerCreated);
        assert_eq!(created.person_id, outcome.id);
        assert_eq!(
            created.person.and_then(|p| p.email).as_deref(),
            Some("n@x.io")
        );
        // Other changes send nothing.
        let m = Mutation::RenameGroup {
            group_id: w.data.groups[0].id.clone(),
            name: "Renamed".into(),
        };
        let outcome = mutation::apply(&mut w, m.clone()).unwrap();
        assert!(hooks.events(&m, &outcome, &w, &opts(true)).is_empty());
    }
}
