//! Test harness shared by the end-to-end tests: one call gives the local
//! AWS emulator, a fresh table with a unique name, both simulators serving a
//! generated data set, a [`Config`] whose clock is pinned to the as-of day,
//! a [`Store`] and the sync's [`Deps`] — so any test can run the real sync
//! against real HTTP and then read DynamoDB.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use portal_e2e::{TestEnv, TestEnvOptions};
//! let env = TestEnv::start(TestEnvOptions::default()).await?;
//! env.sync_all(portal_sync::Mode::Full).await; // panics if a task fails
//! let summaries = env.store.all_summaries().await?;
//! # let _ = summaries; Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use portal_core::config::Config;
use portal_core::sources::{ImpartnerClient, ImpartnerConfig, NorthpassClient, NorthpassConfig};
use portal_core::store::Store;
use portal_infra::datagen::{self, Dataset, DatasetSize, GenOptions};
use portal_infra::emulator::Emulator;
use portal_infra::sim::{ServerOptions, SimConfig, Sims};
use portal_sync::{Deps, Mode, RunStatus, RunSummary, SyncOptions, TaskName};

pub use portal_infra::datagen::INTERNAL_DOMAIN;

pub mod reference;

use reference::{diff_maps, Reference, Rules};
use std::collections::BTreeMap;

/// The as-of day every test uses unless told otherwise.
pub fn default_as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).expect("valid date")
}

/// What [`TestEnv::start`] builds.
#[derive(Debug, Clone)]
pub struct TestEnvOptions {
    pub size: DatasetSize,
    pub seed: u64,
    /// Data set and clocks are relative to this day (00:00 UTC).
    pub as_of: NaiveDate,
    /// Faults/limits of the Northpass simulator (default: ideal server).
    pub northpass: ServerOptions,
    pub impartner: ServerOptions,
    /// Extra configuration variables (`PORTAL_TIERS`, …) over the defaults
    /// the harness sets; a value of `""` unsets a default.
    pub env: Vec<(String, String)>,
    /// Client-side Northpass rate (requests/s). High by default so tests are
    /// fast; the production default is 10.
    pub northpass_rate: f64,
    /// `Some(k)`: keep only the first `k` tracked CRM accounts that have a
    /// matching LMS group (and their contacts), and empty the memberships
    /// of every other LMS group — a smaller world for tests whose claim
    /// does not need the whole data set (the local DynamoDB stand-in, not
    /// the sources, sets the pace of a sync). `None` (default): all of it.
    pub accounts: Option<usize>,
}

impl Default for TestEnvOptions {
    fn default() -> Self {
        TestEnvOptions {
            size: DatasetSize::Small,
            seed: 7,
            as_of: default_as_of(),
            northpass: ServerOptions::default(),
            impartner: ServerOptions::default(),
            env: Vec::new(),
            northpass_rate: 500.0,
            accounts: None,
        }
    }
}

/// A running test world. Dropping it stops the simulators; the table stays
/// in the (per-process, in-memory) emulator.
pub struct TestEnv {
    pub emulator: &'static Emulator,
    pub sims: Sims,
    pub store: Store,
    pub config: Config,
    pub deps: Deps,
    /// The data set as generated (before any mutation); the simulators'
    /// current data is `sims.dataset_snapshot()`.
    pub dataset: Dataset,
    /// The as-of instant (midnight UTC of `as_of`); the pinned clock.
    pub now: DateTime<Utc>,
    pub table: String,
    vars: HashMap<String, String>,
}

/// Fast but production-shaped retries: fault tests take seconds.
pub fn fast_northpass_config(url: &str, key: &str, rate: f64) -> NorthpassConfig {
    NorthpassConfig {
        rate_limit_per_sec: rate,
        burst: 10,
        max_retries: 6,
        retry_base_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        ..NorthpassConfig::new(url, key)
    }
}

pub fn fast_impartner_config(url: &str, key: &str, tenant: &str) -> ImpartnerConfig {
    ImpartnerConfig {
        rate_limit: 500.0,
        burst: 10,
        max_retries: 6,
        retry_base_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        ..ImpartnerConfig::new(url, key, tenant)
    }
}

impl TestEnv {
    pub async fn start(opts: TestEnvOptions) -> anyhow::Result<TestEnv> {
        let emulator = Emulator::shared().await?;
        let mut dataset = datagen::generate(&GenOptions {
            size: opts.size,
            seed: opts.seed,
            as_of: opts.as_of,
        });
        if let Some(k) = opts.accounts {
            trim_to_accounts(&mut dataset, k);
        }
        let now = opts.as_of.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let mut sim_cfg = SimConfig::new(dataset.clone());
        sim_cfg.northpass = opts.northpass.clone();
        sim_cfg.impartner = opts.impartner.clone();
        sim_cfg.clock = Some(now);
        let sims = Sims::start(sim_cfg).await?;

        let table = unique_table();
        let store = Store::from_sdk_config(&emulator.sdk_config().await, table.clone());
        store.create_table().await?;

        let mut vars: HashMap<String, String> = [
            ("PORTAL_TABLE", table.clone()),
            ("PORTAL_NOW", now.to_rfc3339()),
            ("PORTAL_INTERNAL_DOMAINS", INTERNAL_DOMAIN.to_string()),
            ("PORTAL_PUBLIC_BASE_URL", "http://portal.test".to_string()),
            ("PORTAL_LINK_KEY", "e2e-link-key".to_string()),
            ("NORTHPASS_BASE_URL", sims.northpass_url()),
            ("NORTHPASS_API_KEY", sims.northpass_key()),
            ("IMPARTNER_BASE_URL", sims.impartner_url()),
            ("IMPARTNER_API_KEY", sims.impartner_key()),
            ("IMPARTNER_TENANT_ID", sims.impartner_tenant()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, v) in &opts.env {
            vars.insert(k.clone(), v.clone());
        }
        let config = config_from(&vars)?;
        let deps = build_deps(&config, &store, &sims, opts.northpass_rate, None)?;
        Ok(TestEnv {
            emulator,
            sims,
            store,
            config,
            deps,
            dataset,
            now,
            table,
            vars,
        })
    }

    /// Deps whose Northpass client uses `key` (wrong-key tests) or a
    /// different rate; same store and config otherwise.
    pub fn deps_with(
        &self,
        northpass_key: Option<&str>,
        northpass_rate: f64,
    ) -> anyhow::Result<Deps> {
        build_deps(
            &self.config,
            &self.store,
            &self.sims,
            northpass_rate,
            northpass_key,
        )
    }

    /// Config with extra/overridden variables.
    pub fn config_with(&self, extra: &[(&str, &str)]) -> anyhow::Result<Config> {
        let mut vars = self.vars.clone();
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        config_from(&vars)
    }

    /// Every task in dependency order, to completion; panics with the
    /// failing summary if a task does not succeed.
    pub async fn sync_all(&self, mode: Mode) -> Vec<RunSummary> {
        let out = portal_sync::run_all(&self.deps, mode, None).await;
        for s in &out {
            assert_eq!(s.status, RunStatus::Succeeded, "sync task failed: {s:#?}");
        }
        assert_eq!(
            out.len(),
            TaskName::ALL.len(),
            "not every task ran: {out:#?}"
        );
        out
    }

    /// One task to completion (no panic; check the summary).
    pub async fn sync(&self, task: TaskName, mode: Mode) -> RunSummary {
        portal_sync::run_to_completion(&self.deps, task, mode, None).await
    }
}

/// See [`TestEnvOptions::accounts`]. People, courses and transcripts stay
/// (users outside the kept partners become orphans, as in real data).
fn trim_to_accounts(data: &mut Dataset, k: usize) {
    use reference::{crm_text, normalised, LEGAL_FORMS};
    use std::collections::HashSet;
    let forms: Vec<String> = LEGAL_FORMS.iter().map(|f| f.to_string()).collect();
    let norm = |n: &str| normalised(n, &forms);
    let group_names: HashSet<String> = data
        .groups
        .iter()
        .map(|g| norm(&g.attributes.name))
        .collect();
    // Tracked partners with an LMS group: the ones whose users the
    // enrollment sync fetches (Pending/Inactive ones are not tracked).
    data.accounts = data
        .accounts
        .iter()
        .filter(|a| {
            crm_text(a, "Account_Status__cf").as_deref() == Some("Active")
                && !matches!(
                    crm_text(a, "Partner_Tier__cf").as_deref(),
                    Some("Pending") | None
                )
                && group_names.contains(&norm(&crm_text(a, "Name").unwrap_or_default()))
        })
        .take(k)
        .cloned()
        .collect();
    let ids: HashSet<String> = data
        .accounts
        .iter()
        .filter_map(|a| crm_text(a, "Id"))
        .collect();
    let names: HashSet<String> = data
        .accounts
        .iter()
        .map(|a| norm(&crm_text(a, "Name").unwrap_or_default()))
        .collect();
    data.users
        .retain(|u| crm_text(u, "AccountId").is_some_and(|id| ids.contains(&id)));
    for g in &data.groups {
        if !names.contains(&norm(&g.attributes.name)) {
            if let Some(m) = data.memberships.get_mut(&g.id) {
                m.clear();
            }
        }
    }
}

fn config_from(vars: &HashMap<String, String>) -> anyhow::Result<Config> {
    let vars = vars.clone();
    Ok(Config::from_lookup(move |k| vars.get(k).cloned())?)
}

fn build_deps(
    config: &Config,
    store: &Store,
    sims: &Sims,
    northpass_rate: f64,
    northpass_key: Option<&str>,
) -> anyhow::Result<Deps> {
    let key = northpass_key
        .map(str::to_string)
        .unwrap_or_else(|| sims.northpass_key());
    let np = NorthpassClient::new(fast_northpass_config(
        &sims.northpass_url(),
        &key,
        northpass_rate,
    ))?;
    let prm = ImpartnerClient::new(fast_impartner_config(
        &sims.impartner_url(),
        &sims.impartner_key(),
        &sims.impartner_tenant(),
    ))?;
    Ok(Deps {
        config: config.clone(),
        store: store.clone(),
        northpass: Some(np),
        impartner: Some(prm),
        options: SyncOptions::default(),
        link_key: match &config.link_key {
            Some(portal_core::config::SecretRef::Value(s)) => Some(s.clone()),
            _ => None,
        },
    })
}

fn unique_table() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "portal-e2e-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_micros(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// What the store holds after a sync, in the shapes of [`reference`].
pub mod observed {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use portal_core::config::Config;
    use portal_core::model::CertStatus;
    use portal_core::store::Store;

    use crate::reference::{Numbers, Status};

    /// Partner id → numbers at `now`, as the reports compute them from the
    /// stored summaries.
    pub async fn numbers(
        store: &Store,
        config: &Config,
        now: DateTime<Utc>,
    ) -> anyhow::Result<BTreeMap<String, Numbers>> {
        Ok(store
            .all_summaries()
            .await?
            .into_iter()
            .map(|s| {
                let v = s.view(now, config.warning_days, &config.tiers);
                let n = Numbers {
                    npcu: v.npcu,
                    certifications: v.certifications,
                    certified_users: v.certified_users,
                    expiring: v.expiring,
                    by_category: v
                        .by_category
                        .iter()
                        .map(|(k, t)| (k.clone(), (t.users, t.npcu, t.certifications)))
                        .collect(),
                    user_count: s.user_count,
                    gap: (v.standing != portal_core::model::Standing::TierNotConfigured)
                        .then_some(v.gap),
                };
                (s.partner_id, n)
            })
            .collect())
    }

    pub fn status(s: CertStatus) -> Status {
        match s {
            CertStatus::Enrolled => Status::Enrolled,
            CertStatus::InProgress => Status::InProgress,
            CertStatus::Active => Status::Active,
            CertStatus::Expiring => Status::Expiring,
            CertStatus::Expired => Status::Expired,
            // Set by staff (issue 16): the reference model knows no manual
            // statuses, and the tests comparing with it set none.
            other => panic!("the reference model has no status {other}"),
        }
    }

    /// (partner, user, course) → status at `now` of every dashboard row.
    pub async fn statuses(
        store: &Store,
        config: &Config,
        now: DateTime<Utc>,
    ) -> anyhow::Result<BTreeMap<(String, String, String), Status>> {
        let mut out = BTreeMap::new();
        for p in store.all_partners().await? {
            for r in store.partner_dashboard(&p.id).await?.certs {
                let s = status(r.status(now, config.warning_days));
                out.insert((p.id.clone(), r.user_id, r.course_id), s);
            }
        }
        Ok(out)
    }

    /// Partner id → (tracked, linked group).
    pub async fn links(store: &Store) -> anyhow::Result<BTreeMap<String, (bool, Option<String>)>> {
        Ok(store
            .all_partners()
            .await?
            .into_iter()
            .map(|p| (p.id, (p.tracked, p.lms_group_id)))
            .collect())
    }
}

impl TestEnv {
    /// The reference result of the simulators' current data, at the
    /// documented default rules.
    pub fn reference(&self) -> Reference {
        self.reference_with(&Rules::defaults(&[INTERNAL_DOMAIN]))
    }

    pub fn reference_with(&self, rules: &Rules) -> Reference {
        Reference::from_dataset(&self.sims.dataset_snapshot(), rules)
    }

    /// Every difference between what the store holds (partner links,
    /// numbers at `now`, dashboard row statuses) and `want`; empty = equal.
    pub async fn diffs_against(&self, want: &Reference) -> Vec<String> {
        let mut out = Vec::new();
        let links: BTreeMap<String, (bool, Option<String>)> = want
            .partners
            .values()
            .map(|p| (p.id.clone(), (p.tracked, p.group_id.clone())))
            .collect();
        let got = observed::links(&self.store).await.expect("partners");
        out.extend(diff_maps("partner (tracked, group)", &links, &got));

        let wn = want.numbers(self.now);
        // The gap too: `None` on both sides for a tier with no configured
        // requirement (the reference's requirements are the defaults).
        let gn = observed::numbers(&self.store, &self.config, self.now)
            .await
            .expect("summaries");
        out.extend(diff_maps("numbers of partner", &wn, &gn));

        let ws = want.statuses(self.now);
        let gs = observed::statuses(&self.store, &self.config, self.now)
            .await
            .expect("dashboards");
        out.extend(diff_maps("row status", &ws, &gs));
        out
    }

    /// Every data item of the table (not the task bookkeeping: leases, run
    /// records, task states), as sorted JSON per entity type — for "nothing
    /// lost, nothing half-written" comparisons.
    pub async fn data_items(&self) -> BTreeMap<String, Vec<String>> {
        use portal_core::store::keys::entity as e;
        let mut out = BTreeMap::new();
        for t in [
            e::PARTNER,
            e::SUMMARY,
            e::CERT,
            e::ORGCERT,
            e::USER,
            e::ENROLLMENT,
            e::GROUP,
            e::MEMBER,
            e::COURSE,
            e::CONTACT,
            e::EMAIL,
            "TFETCH",
        ] {
            let items: Vec<serde_json::Value> =
                self.store.query_type_as(t).await.expect("query type");
            let mut items: Vec<String> = items.iter().map(|v| v.to_string()).collect();
            items.sort();
            out.insert(t.to_string(), items);
        }
        // Enrollments live in their user's partition, outside the type index.
        let mut enrollments = Vec::new();
        for u in self.store.all_users().await.expect("users") {
            for e in self
                .store
                .user_enrollments(&u.id)
                .await
                .expect("enrollments")
            {
                enrollments.push(serde_json::to_string(&e).expect("json"));
            }
        }
        enrollments.sort();
        out.insert(e::ENROLLMENT.to_string(), enrollments);
        out
    }

    /// The task's stored watermark (start of its last successful run).
    pub async fn watermark(&self, task: &str) -> Option<DateTime<Utc>> {
        self.store
            .get_task_state(task)
            .await
            .expect("task state")
            .and_then(|s| s.watermark)
    }

    /// [`TestEnv::diffs_against`] the default [`TestEnv::reference`].
    pub async fn reference_diffs(&self) -> Vec<String> {
        self.diffs_against(&self.reference()).await
    }

    /// Panics listing the differences from the reference model.
    pub async fn assert_matches_reference(&self) {
        let d = self.reference_diffs().await;
        assert!(
            d.is_empty(),
            "{} differences from the reference model:\n{}",
            d.len(),
            d.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
        );
    }
}
