//! The simulated sources' data: the generated data set as the servers
//! serve and mutate it, and their clock.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::datagen::{dates, Dataset, PrmRecord};

pub(crate) struct World {
    pub data: Dataset,
    /// Accounts removed by `DeleteAccount`, kept so `RestoreAccount` can
    /// bring them back (the CRM's recycle bin).
    pub deleted_accounts: Vec<PrmRecord>,
    clock_base: DateTime<Utc>,
    clock_set_at: Instant,
    /// Mints ids for records created by mutations / POSTs.
    pub id_rng: ChaCha8Rng,
    /// Courses assigned to a group (group id → course ids): adding a person
    /// to the group enrols them in these (docs/source-contract.md,
    /// "Enrolling in a course"). Generated groups have none.
    pub group_courses: BTreeMap<String, Vec<String>>,
}

impl World {
    pub fn new(data: Dataset, clock: DateTime<Utc>, seed: u64) -> Self {
        World {
            data,
            deleted_accounts: Vec::new(),
            clock_base: clock,
            clock_set_at: Instant::now(),
            id_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5157_1d5e_ed00_0001),
            group_courses: BTreeMap::new(),
        }
    }

    /// Base instant + real time elapsed since it was set, whole seconds:
    /// `updated_at` is served with second precision, so a filter value read
    /// from `now()` never misses a change stamped right after.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = self.clock_set_at.elapsed().as_secs();
        let t = self.clock_base + TimeDelta::seconds(elapsed as i64);
        dates::trunc_secs(t)
    }

    pub fn set_clock(&mut self, at: DateTime<Utc>) {
        self.clock_base = at;
        self.clock_set_at = Instant::now();
    }
}
