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
    use portal_core::rules::matching::{normalize_name, strip_ptr};
    use std::collections::HashSet;
    let str_of = |a: &datagen::PrmRecord, f: &str| {
        a.get(f)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let group_names: HashSet<String> = data
        .groups
        .iter()
        .map(|g| normalize_name(strip_ptr(&g.attributes.name)))
        .collect();
    // Tracked partners with an LMS group: the ones whose users the
    // enrollment sync fetches (Pending/Inactive ones are not tracked).
    data.accounts = data
        .accounts
        .iter()
        .filter(|a| {
            str_of(a, "Account_Status__cf") == "Active"
                && !matches!(str_of(a, "Partner_Tier__cf").as_str(), "Pending" | "")
                && group_names.contains(&normalize_name(&str_of(a, "Name")))
        })
        .take(k)
        .cloned()
        .collect();
    let ids: HashSet<i64> = data
        .accounts
        .iter()
        .filter_map(|a| a.get("Id").and_then(serde_json::Value::as_i64))
        .collect();
    let names: HashSet<String> = data
        .accounts
        .iter()
        .map(|a| normalize_name(&str_of(a, "Name")))
        .collect();
    data.users.retain(|u| {
        u.get("AccountId")
            .and_then(serde_json::Value::as_i64)
            .is_some_and(|id| ids.contains(&id))
    });
    for g in &data.groups {
        if !names.contains(&normalize_name(strip_ptr(&g.attributes.name))) {
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

/// The expected result computed straight from a generator [`Dataset`]:
/// the raw JSON items are converted to the model here (independently of
/// the sync's conversion) and fed to the pure rules.
pub mod truth {
    use std::collections::{BTreeMap, HashMap};

    use chrono::{DateTime, Utc};
    use portal_core::config::Config;
    use portal_core::model::{
        CertStatus, Contact, Course, Enrollment, LmsGroup, LmsUser, Membership, Partner,
        PartnerSummary, ProgressStatus, RecordSource, SummaryView, Tier,
    };
    use portal_core::rules::filters::{contact_exclusion, partner_tracked};
    use portal_core::rules::matching::GroupMatcher;
    use portal_core::rules::rows::build_cert_rows;
    use portal_core::rules::summary::{build_partner_summary, PartnerData};
    use portal_core::sources::wire::{npcu_from_value, parse_datetime_lenient};
    use portal_infra::datagen::Dataset;
    use serde_json::Value;

    pub struct Truth {
        pub partners: Vec<Partner>,
        pub groups: Vec<LmsGroup>,
        pub memberships: Vec<Membership>,
        pub contacts: Vec<Contact>,
        pub users: Vec<LmsUser>,
        pub enrollments: Vec<Enrollment>,
        pub courses: Vec<Course>,
        config: Config,
    }

    fn date(s: &Option<String>) -> Option<DateTime<Utc>> {
        s.as_deref().and_then(parse_datetime_lenient)
    }

    fn text(r: &serde_json::Map<String, Value>, k: &str) -> Option<String> {
        match r.get(k)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    impl Truth {
        pub fn from_dataset(ds: &Dataset, config: &Config) -> Truth {
            let users: Vec<LmsUser> = ds
                .people
                .iter()
                .map(|p| LmsUser {
                    id: p.id.clone(),
                    email: p.attributes.email.trim().to_string(),
                    first_name: Some(p.attributes.first_name.clone()),
                    last_name: Some(p.attributes.last_name.clone()),
                    created_at: parse_datetime_lenient(&p.attributes.created_at),
                    updated_at: parse_datetime_lenient(&p.attributes.updated_at),
                    last_active_at: date(&p.attributes.last_active_at),
                    deactivated_at: date(&p.attributes.deactivated_at),
                })
                .collect();
            let groups: Vec<LmsGroup> = ds
                .groups
                .iter()
                .map(|g| LmsGroup {
                    id: g.id.clone(),
                    name: g.attributes.name.clone(),
                    ..Default::default()
                })
                .collect();
            let memberships = ds
                .memberships
                .iter()
                .flat_map(|(gid, ms)| {
                    ms.iter().map(move |m| Membership {
                        group_id: gid.clone(),
                        user_id: m.relationships.person.data.id.clone(),
                    })
                })
                .collect();
            let props: HashMap<&str, &serde_json::Map<String, Value>> = ds
                .properties
                .iter()
                .map(|p| {
                    (
                        p.relationships.course.data.id.as_str(),
                        &p.attributes.properties,
                    )
                })
                .collect();
            let courses = ds
                .courses
                .iter()
                .map(|c| {
                    let p = props.get(c.id.as_str());
                    Course {
                        id: c.id.clone(),
                        name: c.display_name().to_string(),
                        npcu: npcu_from_value(p.and_then(|p| p.get("npcu"))),
                        category: p.and_then(|p| text(p, "category")),
                        validity_months: config.default_validity_months,
                        ..Default::default()
                    }
                })
                .collect();
            let mut enrollments = Vec::new();
            for (uid, ts) in &ds.transcripts {
                for t in ts.iter().filter(|t| t.attributes.resource_type == "course") {
                    let a = &t.attributes;
                    let Some(progress) = ProgressStatus::parse(&a.progress_status) else {
                        continue;
                    };
                    enrollments.push(Enrollment {
                        user_id: uid.clone(),
                        course_id: a.resource_id.clone(),
                        progress,
                        enrolled_at: date(&a.enrolled_at),
                        started_at: date(&a.started_at),
                        completed_at: date(&a.completed_at),
                        expires_at: date(&a.expires_at),
                        score: a.score.map(f64::from),
                        source: RecordSource::Lms,
                    });
                }
            }
            let mut partners: Vec<Partner> = ds
                .accounts
                .iter()
                .map(|a| {
                    let tier = text(a, "Partner_Tier__cf").and_then(|t| Tier::parse(&t));
                    let active = text(a, "Account_Status__cf")
                        .is_some_and(|s| s.eq_ignore_ascii_case("active"));
                    Partner {
                        id: text(a, "Id").unwrap_or_default(),
                        name: text(a, "Name").unwrap_or_default(),
                        tier,
                        account_status_active: active,
                        tracked: partner_tracked(active, tier, &config.untracked_tiers),
                        ..Default::default()
                    }
                })
                .collect();
            let matcher = GroupMatcher::new(&groups);
            for p in &mut partners {
                p.lms_group_id = matcher.match_partner(p).map(|m| m.group_id);
            }
            let contacts = ds
                .users
                .iter()
                .filter_map(|u| {
                    let email = text(u, "Email").unwrap_or_default();
                    if contact_exclusion(&email, &config.internal_domains, &config.shared_mailboxes)
                        .is_some()
                    {
                        return None;
                    }
                    Some(Contact {
                        id: text(u, "Id").unwrap_or_default(),
                        email,
                        account_id: text(u, "AccountId"),
                        active: u.get("IsActive").and_then(Value::as_bool).unwrap_or(true)
                            && !text(u, "Contact_Status__cf").is_some_and(|st| {
                                config
                                    .inactive_contact_statuses
                                    .contains(&st.trim().to_lowercase())
                            }),
                        ..Default::default()
                    })
                })
                .collect();
            Truth {
                partners,
                groups,
                memberships,
                contacts,
                users,
                enrollments,
                courses,
                config: config.clone(),
            }
        }

        fn data<'a>(&'a self, p: &'a Partner) -> PartnerData<'a> {
            PartnerData {
                partner: p,
                group: p
                    .lms_group_id
                    .as_deref()
                    .and_then(|g| self.groups.iter().find(|x| x.id == g)),
                memberships: &self.memberships,
                contacts: &self.contacts,
                users: &self.users,
                enrollments: &self.enrollments,
                courses: &self.courses,
                manual_awards: &[],
                org_certs: &[],
                categories: &self.config.categories,
                default_validity_months: self.config.default_validity_months,
            }
        }

        pub fn summary(&self, p: &Partner, now: DateTime<Utc>) -> PartnerSummary {
            build_partner_summary(&self.data(p), now)
        }

        /// Partner id → numbers at `now` (NPCU, gap, …).
        pub fn views(&self, now: DateTime<Utc>) -> BTreeMap<String, SummaryView> {
            self.partners
                .iter()
                .map(|p| {
                    let v = self.summary(p, now).view(
                        now,
                        self.config.warning_days,
                        &self.config.tiers,
                    );
                    (p.id.clone(), v)
                })
                .collect()
        }

        /// (partner, user, course) → status at `now`, for every dashboard row.
        pub fn statuses(
            &self,
            now: DateTime<Utc>,
        ) -> BTreeMap<(String, String, String), CertStatus> {
            let mut out = BTreeMap::new();
            for p in &self.partners {
                for r in build_cert_rows(&self.data(p)) {
                    let s = r.status(now, self.config.warning_days);
                    out.insert((p.id.clone(), r.user_id, r.course_id), s);
                }
            }
            out
        }
    }
}

/// What the store holds after a sync, in the same shapes as [`truth`].
pub mod observed {
    use std::collections::BTreeMap;

    use chrono::{DateTime, Utc};
    use portal_core::config::Config;
    use portal_core::model::{CertStatus, SummaryView};
    use portal_core::store::Store;

    pub async fn views(
        store: &Store,
        config: &Config,
        now: DateTime<Utc>,
    ) -> anyhow::Result<BTreeMap<String, SummaryView>> {
        Ok(store
            .all_summaries()
            .await?
            .into_iter()
            .map(|s| {
                let v = s.view(now, config.warning_days, &config.tiers);
                (s.partner_id, v)
            })
            .collect())
    }

    pub async fn statuses(
        store: &Store,
        config: &Config,
        now: DateTime<Utc>,
    ) -> anyhow::Result<BTreeMap<(String, String, String), CertStatus>> {
        let mut out = BTreeMap::new();
        for p in store.all_partners().await? {
            for r in store.partner_dashboard(&p.id).await?.certs {
                let s = r.status(now, config.warning_days);
                out.insert((p.id.clone(), r.user_id, r.course_id), s);
            }
        }
        Ok(out)
    }
}
