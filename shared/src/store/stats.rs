//! Request counters, so reports can assert "a dashboard is one Query" and
//! benchmarks can count calls and items without a profiler.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Counters of one DynamoDB operation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OpStats {
    /// HTTP requests sent (each page of a Query, each retry of a batch).
    pub requests: u64,
    pub items_read: u64,
    pub items_written: u64,
    /// Conditional checks that failed (lock taken, item already there).
    pub conditional_failures: u64,
    /// Consumed capacity units, when the service reports them (moto does
    /// not always; real DynamoDB does with `ReturnConsumedCapacity`).
    pub capacity_units: f64,
    /// Read units this call would cost on on-demand DynamoDB, computed from
    /// the items' sizes ([`super::capacity`]): the emulator bills nothing.
    pub read_units: f64,
    /// Write units, likewise (failed conditional writes included).
    pub write_units: f64,
}

impl OpStats {
    fn add(&mut self, o: &OpStats) {
        self.requests += o.requests;
        self.items_read += o.items_read;
        self.items_written += o.items_written;
        self.conditional_failures += o.conditional_failures;
        self.capacity_units += o.capacity_units;
        self.read_units += o.read_units;
        self.write_units += o.write_units;
    }
}

/// Entity label of batch deletes: a DeleteRequest carries only the key, so
/// the deleted item's entity type is not known without reading it.
pub const DELETED: &str = "(deleted)";
/// Entity label of an item written without an entity attribute.
pub const UNTYPED: &str = "(untyped)";

/// Point-in-time copy of the counters, keyed by operation name
/// (`"Query"`, `"GetItem"`, `"BatchWriteItem"`, …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    pub ops: BTreeMap<&'static str, OpStats>,
    /// Items written (put or deleted) per entity type (`et`), so a caller
    /// can tell data writes from bookkeeping (locks, run records, fetch
    /// markers) by what was written rather than by which call wrote it.
    pub written_by_entity: BTreeMap<String, u64>,
}

impl StatsSnapshot {
    pub fn op(&self, op: &str) -> OpStats {
        self.ops.get(op).copied().unwrap_or_default()
    }
    pub fn requests(&self, op: &str) -> u64 {
        self.op(op).requests
    }
    pub fn total(&self) -> OpStats {
        let mut t = OpStats::default();
        for s in self.ops.values() {
            t.add(s);
        }
        t
    }
    pub fn total_requests(&self) -> u64 {
        self.total().requests
    }
    /// What happened between `earlier` and `self` (both from the same store).
    pub fn since(&self, earlier: &StatsSnapshot) -> StatsSnapshot {
        let mut ops = BTreeMap::new();
        for (k, v) in &self.ops {
            let e = earlier.op(k);
            let d = OpStats {
                requests: v.requests - e.requests.min(v.requests),
                items_read: v.items_read - e.items_read.min(v.items_read),
                items_written: v.items_written - e.items_written.min(v.items_written),
                conditional_failures: v.conditional_failures
                    - e.conditional_failures.min(v.conditional_failures),
                capacity_units: v.capacity_units - e.capacity_units,
                read_units: v.read_units - e.read_units,
                write_units: v.write_units - e.write_units,
            };
            if d != OpStats::default() {
                ops.insert(*k, d);
            }
        }
        let written_by_entity = self
            .written_by_entity
            .iter()
            .filter_map(|(k, &v)| {
                let e = earlier.written_by_entity.get(k).copied().unwrap_or(0);
                (v > e).then(|| (k.clone(), v - e))
            })
            .collect();
        StatsSnapshot {
            ops,
            written_by_entity,
        }
    }
}

/// Shared, cheap-to-clone counters (clones of a `Store` share them).
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    inner: Arc<Mutex<StatsSnapshot>>,
}

impl StoreStats {
    fn lock(&self) -> std::sync::MutexGuard<'_, StatsSnapshot> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain counters; the numbers are still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn record(&self, op: &'static str, delta: OpStats) {
        self.lock().ops.entry(op).or_default().add(&delta);
    }

    /// Counts items written per entity type (see
    /// [`StatsSnapshot::written_by_entity`]).
    pub(crate) fn record_written<'a>(&self, entities: impl IntoIterator<Item = &'a str>) {
        let mut m = self.lock();
        for e in entities {
            *m.written_by_entity.entry(e.to_string()).or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        self.lock().clone()
    }

    pub fn reset(&self) {
        *self.lock() = StatsSnapshot::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_gives_the_difference() {
        let s = StoreStats::default();
        s.record(
            "Query",
            OpStats {
                requests: 1,
                items_read: 5,
                ..Default::default()
            },
        );
        let before = s.snapshot();
        s.record(
            "Query",
            OpStats {
                requests: 2,
                items_read: 7,
                ..Default::default()
            },
        );
        s.record(
            "GetItem",
            OpStats {
                requests: 1,
                items_read: 1,
                ..Default::default()
            },
        );
        let d = s.snapshot().since(&before);
        assert_eq!(d.requests("Query"), 2);
        assert_eq!(d.op("Query").items_read, 7);
        assert_eq!(d.requests("GetItem"), 1);
        assert_eq!(d.total_requests(), 3);
        assert_eq!(s.snapshot().total_requests(), 4);
    }

    #[test]
    fn written_entities_are_counted_and_diffed() {
        let s = StoreStats::default();
        s.record_written(["RUN", "LOCK"]);
        let before = s.snapshot();
        s.record_written(["RUN", "ENR", "ENR", DELETED]);
        let d = s.snapshot().since(&before);
        let got: Vec<(&str, u64)> = d
            .written_by_entity
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(got, [(DELETED, 1), ("ENR", 2), ("RUN", 1)]);
        assert_eq!(s.snapshot().written_by_entity["RUN"], 2);
        s.reset();
        assert!(s.snapshot().written_by_entity.is_empty());
    }
}
