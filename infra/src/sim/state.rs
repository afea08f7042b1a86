//! State shared by both simulators: the data and clock (`World`), the
//! fault state and the counters of each server.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::faults::FaultState;
use super::mutation::{self, Mutation, MutationOutcome};
use super::webhooks::Webhooks;
use super::world::World;
use super::{Server, ServerOptions, SimConfig, SimError};
use crate::datagen::{dates, Dataset};

/// Counters of one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Requests per route template, e.g. `"GET /v2/transcripts/{id}"`
    /// (`"GET UNMATCHED"` for unknown paths). Counts every API request that
    /// reached the server, including the ones answered 401/429/5xx.
    pub requests: BTreeMap<String, u64>,
    pub total_requests: u64,
    /// 401s for a wrong/missing key.
    pub unauthorized: u64,
    /// 429s served by the token bucket.
    pub rate_limited: u64,
    /// 500/502/503 injected by `p_5xx`.
    pub injected_5xx: u64,
    /// Bodies cut by `p_malformed`.
    pub malformed: u64,
    /// Requests stalled by `p_hang`.
    pub hangs: u64,
}

impl ServerStats {
    /// Requests counted for one route template.
    pub fn count(&self, route: &str) -> u64 {
        self.requests.get(route).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    pub northpass: ServerStats,
    pub impartner: ServerStats,
}

pub(crate) struct Keys {
    pub northpass_key: String,
    pub impartner_key: String,
    pub impartner_tenant: String,
}

pub(crate) struct ServerState {
    pub base_url: String,
    pub faults: Mutex<FaultState>,
    pub stats: Mutex<ServerStats>,
}

impl ServerState {
    fn new(base_url: String, opts: ServerOptions) -> Self {
        ServerState {
            base_url,
            faults: Mutex::new(FaultState::new(opts)),
            stats: Mutex::new(ServerStats::default()),
        }
    }

    pub fn stats(&self) -> MutexGuard<'_, ServerStats> {
        self.stats.lock().expect("stats lock")
    }
}

pub(crate) struct Shared {
    world: Mutex<World>,
    pub northpass: ServerState,
    pub impartner: ServerState,
    pub keys: Keys,
    /// Webhooks sent when the data changes (off until configured).
    pub webhooks: Webhooks,
}

impl Shared {
    pub fn new(cfg: SimConfig, np_url: String, prm_url: String) -> Self {
        let clock = cfg.clock.unwrap_or_else(|| default_clock(&cfg.dataset));
        Shared {
            world: Mutex::new(World::new(cfg.dataset, clock, cfg.seed)),
            northpass: ServerState::new(np_url, cfg.northpass),
            impartner: ServerState::new(prm_url, cfg.impartner),
            keys: Keys {
                northpass_key: cfg.northpass_key,
                impartner_key: cfg.impartner_key,
                impartner_tenant: cfg.impartner_tenant,
            },
            webhooks: Webhooks::default(),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().expect("world lock")
    }

    pub fn server(&self, s: Server) -> &ServerState {
        match s {
            Server::Northpass => &self.northpass,
            Server::Impartner => &self.impartner,
        }
    }

    pub fn stats(&self) -> SimStats {
        SimStats {
            northpass: self.northpass.stats().clone(),
            impartner: self.impartner.stats().clone(),
        }
    }

    pub fn reset_stats(&self) {
        *self.northpass.stats() = ServerStats::default();
        *self.impartner.stats() = ServerStats::default();
    }

    pub fn set_options(&self, s: Server, opts: ServerOptions) {
        *self.server(s).faults.lock().expect("faults lock") = FaultState::new(opts);
    }

    pub fn mutate(&self, m: Mutation) -> Result<MutationOutcome, SimError> {
        let mut world = self.world();
        let outcome = mutation::apply(&mut world, m.clone())?;
        self.webhooks.after(&m, &outcome, &world);
        Ok(outcome)
    }
}

/// The as-of instant of a generated data set: midnight after the latest
/// `updated_at`/`Updated` (the generator dates everything before as-of).
fn default_clock(data: &Dataset) -> DateTime<Utc> {
    let mut latest: Option<DateTime<Utc>> = None;
    let mut see = |s: &str| {
        if let Some(t) = dates::parse_any(s) {
            latest = Some(latest.map_or(t, |l| l.max(t)));
        }
    };
    data.people
        .iter()
        .for_each(|p| see(&p.attributes.updated_at));
    data.groups
        .iter()
        .for_each(|g| see(&g.attributes.updated_at));
    data.courses
        .iter()
        .for_each(|c| see(&c.attributes.updated_at));
    for r in data.accounts.iter().chain(&data.users) {
        if let Some(s) = r.get("Updated").and_then(|v| v.as_str()) {
            see(s);
        }
    }
    match latest {
        Some(t) => (t.date_naive() + TimeDelta::days(1))
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc(),
        None => dates::trunc_secs(Utc::now()),
    }
}
