//! Measurements 2 and 3: the whole sync (every task, in dependency order) run
//! in a **child process** so its peak RSS is the sync's own (the simulators
//! and moto live elsewhere), with per-task requests and DynamoDB counters.
//!
//! The child builds its dependencies exactly as the Lambda does
//! (`Config::from_env` + `Deps::from_config`), so the rate limit, retries and
//! concurrency are the production ones; only the environment points at the
//! simulators and the emulator.

use std::collections::BTreeMap;
use std::time::Instant;

use portal_core::store::keys::entity;
use portal_core::store::{StatsSnapshot, Store};
use portal_sync::{Deps, Mode, RunStatus, TaskName, FETCH_MARKER_ENTITY, TRANSCRIPT_DUE_ENTITY};
use serde::{Deserialize, Serialize};

use crate::results::Section;

/// DynamoDB counters of one operation, serialisable.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Op {
    pub requests: u64,
    pub items_read: u64,
    pub items_written: u64,
    pub conditional_failures: u64,
    /// Capacity on-demand DynamoDB would bill (store's size-based model).
    #[serde(default)]
    pub read_units: f64,
    #[serde(default)]
    pub write_units: f64,
}

pub fn ops_of(s: &StatsSnapshot) -> BTreeMap<String, Op> {
    s.ops
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                Op {
                    requests: v.requests,
                    items_read: v.items_read,
                    items_written: v.items_written,
                    conditional_failures: v.conditional_failures,
                    read_units: v.read_units,
                    write_units: v.write_units,
                },
            )
        })
        .collect()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskReport {
    pub task: String,
    pub mode: String,
    pub status: String,
    pub error: Option<String>,
    pub wall_s: f64,
    pub invocations: u32,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deactivated: u64,
    pub failed: u64,
    pub northpass_requests: u64,
    pub impartner_requests: u64,
    pub ddb: BTreeMap<String, Op>,
    /// Items written (put or deleted) per entity type, from the store's
    /// counters: tells data from bookkeeping by what was written.
    #[serde(default)]
    pub written_by_entity: BTreeMap<String, u64>,
}

/// Entity types of the task lock, task state and run records.
const RUN_RECORD_ENTITIES: [&str; 3] = [entity::LOCK, entity::TASK, entity::RUN];

impl TaskReport {
    fn written_of(&self, f: impl Fn(&str) -> bool) -> u64 {
        self.written_by_entity
            .iter()
            .filter(|(e, _)| f(e))
            .map(|(_, n)| n)
            .sum()
    }
    /// Lock, task-state and run-record writes: a fixed few per invocation.
    pub fn run_record_writes(&self) -> u64 {
        self.written_of(|e| RUN_RECORD_ENTITIES.contains(&e))
    }
    /// Per-user transcript bookkeeping: fetch markers (one per user fetched
    /// whose marker changed) and due items (users queued for the next
    /// incremental enrollment run, written and removed again).
    pub fn fetch_marker_writes(&self) -> u64 {
        self.written_of(is_transcript_bookkeeping)
    }
    /// Data items: every other entity (profiles, enrollments, summaries,
    /// certification rows, push records) and the deletes of stale rows.
    pub fn data_items_written(&self) -> u64 {
        self.written_of(|e| !RUN_RECORD_ENTITIES.contains(&e) && !is_transcript_bookkeeping(e))
    }
    pub fn items_written(&self) -> u64 {
        self.ddb.values().map(|o| o.items_written).sum()
    }
    pub fn items_read(&self) -> u64 {
        self.ddb.values().map(|o| o.items_read).sum()
    }
    pub fn ddb_requests(&self) -> u64 {
        self.ddb.values().map(|o| o.requests).sum()
    }
    pub fn conditional_failures(&self) -> u64 {
        self.ddb.values().map(|o| o.conditional_failures).sum()
    }
    pub fn changed(&self) -> u64 {
        self.created + self.updated + self.deactivated
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChildReport {
    pub mode: String,
    pub wall_s: f64,
    pub tasks: Vec<TaskReport>,
    /// VmHWM of the child process at the end: its peak resident set.
    pub peak_rss_kb: u64,
}

impl ChildReport {
    pub fn sum(&self, f: impl Fn(&TaskReport) -> u64) -> u64 {
        self.tasks.iter().map(f).sum()
    }
    pub fn ok(&self) -> bool {
        self.tasks.len() == TaskName::ALL.len()
            && self.tasks.iter().all(|t| t.status == "succeeded")
    }
}

/// `VmHWM` of `/proc/<pid>/status`, in kB.
pub fn vm_hwm_kb(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The child's work: every task in dependency order, to completion, with
/// counters taken around each. Configuration comes from the environment.
pub async fn child(mode: Mode) -> anyhow::Result<ChildReport> {
    let config = portal_core::config::Config::from_env()?;
    let store = Store::from_env(config.table.clone()).await;
    let deps = Deps::from_config(config, store.clone())?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for task in TaskName::ALL {
        let db0 = store.stats();
        let np0 = deps.northpass.as_ref().map_or(0, |c| c.stats().requests);
        let prm0 = deps.impartner.as_ref().map_or(0, |c| c.stats().requests);
        let t = Instant::now();
        let s = portal_sync::run_to_completion(&deps, task, mode, None).await;
        let wall = t.elapsed().as_secs_f64();
        let db = store.stats().since(&db0);
        let report = TaskReport {
            task: task.as_str().into(),
            mode: mode.as_str().into(),
            status: s.status.as_str().into(),
            error: s.error.clone(),
            wall_s: wall,
            invocations: s.invocations,
            created: s.counts.created,
            updated: s.counts.updated,
            unchanged: s.counts.unchanged,
            deactivated: s.counts.deactivated,
            failed: s.counts.failed,
            northpass_requests: deps.northpass.as_ref().map_or(0, |c| c.stats().requests) - np0,
            impartner_requests: deps.impartner.as_ref().map_or(0, |c| c.stats().requests) - prm0,
            ddb: ops_of(&db),
            written_by_entity: db.written_by_entity,
        };
        let failed = s.status == RunStatus::Failed;
        tasks.push(report);
        if failed {
            break;
        }
    }
    Ok(ChildReport {
        mode: mode.as_str().into(),
        wall_s: start.elapsed().as_secs_f64(),
        tasks,
        peak_rss_kb: vm_hwm_kb("self").unwrap_or(0),
    })
}

// ---- parent side -----------------------------------------------------------

/// Requests per route seen by the simulators during one child run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunMeasure {
    pub child: ChildReport,
    pub northpass_routes: BTreeMap<String, u64>,
    pub impartner_routes: BTreeMap<String, u64>,
    pub northpass_429: u64,
    pub source_requests: u64,
}

/// Spawns `exe sync-child --mode <mode>` with `env` and reads its report
/// (the last stdout line is JSON). The simulators' counters are reset first
/// so the per-route numbers are this run's.
pub async fn run_child(
    exe: &std::path::Path,
    mode: Mode,
    env: &[(String, String)],
    sims: &portal_infra::sim::Sims,
) -> anyhow::Result<RunMeasure> {
    sims.reset_stats();
    let mut cmd = tokio::process::Command::new(exe);
    // SAFETY: prctl is async-signal-safe; it makes the kernel kill the child
    // if the benchmark dies, so no orphaned sync keeps hammering the sims.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd
        .kill_on_drop(true)
        .arg("sync-child")
        .arg("--mode")
        .arg(mode.as_str())
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "sync child ({}) exited with {}",
        mode.as_str(),
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    let child: ChildReport = serde_json::from_str(last)
        .map_err(|e| anyhow::anyhow!("sync child printed no report ({e}): {text}"))?;
    let st = sims.stats();
    Ok(RunMeasure {
        source_requests: st.northpass.total_requests + st.impartner.total_requests,
        northpass_429: st.northpass.rate_limited,
        northpass_routes: st.northpass.requests.clone(),
        impartner_routes: st.impartner.requests.clone(),
        child,
    })
}

// ---- the 1 % change ----------------------------------------------------------

/// What [`apply_one_percent`] changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChangeSet {
    pub partner_users: usize,
    pub completions: usize,
    pub accounts: usize,
    pub owner_changes: usize,
}

impl ChangeSet {
    pub fn total(&self) -> usize {
        self.completions + self.owner_changes
    }
}

/// The first course of the simulator's data that carries NPCU.
pub fn npcu_course(sims: &portal_infra::sim::Sims) -> anyhow::Result<String> {
    sims.dataset_snapshot()
        .properties
        .iter()
        .find(|p| portal_core::rules::npcu::parse_npcu(p.attributes.properties.get("npcu")) > 0)
        .map(|p| p.relationships.course.data.id.clone())
        .ok_or_else(|| anyhow::anyhow!("no NPCU course in the data set"))
}

/// 1 % of the partner users complete (or retake) a certification course and
/// 1 % of the CRM accounts get a new owner (PAM) — the kinds of change a
/// day brings, spread over the data set, through the simulators' mutation
/// API so `updated_at`/`Updated` move like in the real systems.
///
/// `users` are the partner users as the sync sees them (the users of the
/// certification rows it stored), so every change is one the incremental
/// run is expected to pick up.
pub fn apply_one_percent(
    sims: &portal_infra::sim::Sims,
    users: &[String],
) -> anyhow::Result<ChangeSet> {
    use portal_infra::sim::Mutation;
    let data = sims.dataset_snapshot();
    // A course that carries NPCU, so the change reaches NPCU totals too.
    let course = npcu_course(sims)?;
    let mut cs = ChangeSet {
        partner_users: users.len(),
        accounts: data.accounts.len(),
        ..Default::default()
    };
    anyhow::ensure!(!users.is_empty(), "the full sync stored no partner users");
    let n_users = users.len().div_ceil(100);
    // Every 100th user: spread over groups rather than the first group.
    for pid in users.iter().step_by(100).take(n_users) {
        sims.mutate(Mutation::CompleteCourse {
            person_id: pid.clone(),
            course_id: course.clone(),
            at: None,
        })?;
        cs.completions += 1;
    }
    for acc in data
        .accounts
        .iter()
        .step_by(100)
        .take(data.accounts.len().div_ceil(100))
    {
        let Some(id) = acc.get("Id").and_then(serde_json::Value::as_i64) else {
            continue;
        };
        sims.mutate(Mutation::SetOwner {
            account_id: id,
            name: "Bench Owner".into(),
            email: "bench.owner@vendor.example".into(),
        })?;
        cs.owner_changes += 1;
    }
    Ok(cs)
}

// ---- sections ----------------------------------------------------------------

fn routes_md(m: &RunMeasure) -> String {
    let mut md = String::from("| task | status | wall s | Northpass req | Impartner req | created | updated | unchanged | deactivated | DynamoDB req | items written (data) | items read |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for t in &m.child.tasks {
        md.push_str(&format!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} |\n",
            t.task,
            t.status,
            t.wall_s,
            t.northpass_requests,
            t.impartner_requests,
            t.created,
            t.updated,
            t.unchanged,
            t.deactivated,
            t.ddb_requests(),
            t.items_written(),
            t.data_items_written(),
            t.items_read()
        ));
    }
    md.push_str(
        "\nRequests per endpoint (simulator counters):\n\n| endpoint | requests |\n|---|---:|\n",
    );
    for (k, v) in m.northpass_routes.iter().chain(m.impartner_routes.iter()) {
        md.push_str(&format!("| `{k}` | {v} |\n"));
    }
    md
}

pub fn section_whole(full: &RunMeasure, data_label: &str, limit: f64) -> Section {
    use crate::results::{f, Row};
    let mut s = Section::new(
        "2",
        &format!("Whole sync of `{data_label}` (all tasks, full) at {limit:.0} req/s"),
    );
    let c = &full.child;
    let failed: Vec<String> = c
        .tasks
        .iter()
        .filter(|t| t.status != "succeeded")
        .map(|t| format!("{} ({})", t.task, t.error.clone().unwrap_or_default()))
        .collect();
    s.rows.push(
        Row::new(
            "tasks succeeded",
            format!(
                "{}/{}",
                c.tasks.iter().filter(|t| t.status == "succeeded").count(),
                TaskName::ALL.len()
            ),
        )
        .target("all", c.ok())
        .note(failed.join("; ")),
    );
    s.rows
        .push(Row::new("wall time", format!("{} s", f(c.wall_s, 1))));
    s.rows.push(Row::new(
        "source requests (Northpass + Impartner)",
        full.source_requests.to_string(),
    ));
    s.rows
        .push(Row::new("Northpass 429s", full.northpass_429.to_string()));
    s.rows.push(Row::new(
        "DynamoDB requests",
        c.sum(TaskReport::ddb_requests).to_string(),
    ));
    s.rows.push(Row::new(
        "DynamoDB items written (data / all)",
        format!(
            "{} / {}",
            c.sum(TaskReport::data_items_written),
            c.sum(TaskReport::items_written)
        ),
    ));
    if let Some(t) = c.tasks.iter().find(|t| t.task == "lms-enrollments") {
        let rps = t.northpass_requests as f64 / t.wall_s.max(1e-9);
        s.rows.push(
            Row::new(
                "real lms-enrollments task: Northpass req/s ÷ limit",
                format!("{} ({} req in {} s)", f(rps / limit, 2), t.northpass_requests, f(t.wall_s, 1)),
            )
            .note(format!(
                "info: the task writes each chunk while it fetches the next, but writing a chunk to moto on this shared machine ({} DynamoDB calls in all) takes longer than fetching it, so the emulator, not the limiter, sets its pace; §1 measures the fetch alone",
                t.ddb_requests()
            )),
        );
    }
    let mb = c.peak_rss_kb as f64 / 1024.0;
    s.rows.push(
        Row::new(
            "peak RSS of the sync process (VmHWM)",
            format!("{} MB", f(mb, 1)),
        )
        .target("≤ 256 MB", c.peak_rss_kb > 0 && mb <= 256.0),
    );
    s.markdown = routes_md(full);
    s.notes.push(format!("The sync ran in a child process (`portal-bench sync-child`) wired like the Lambda (Config::from_env + Deps::from_config, NORTHPASS_RATE_LIMIT={limit:.0}); simulators and moto ran in other processes/threads of the parent, so VmHWM is the sync's own. Northpass simulator: {limit:.0} req/s bucket, burst {}, {} ms latency; Impartner: no limit.", crate::enroll::SERVER_BURST, crate::enroll::LATENCY.as_millis()));
    s.raw = serde_json::to_value(full).unwrap_or_default();
    s
}

/// The re-syncs measured after the initial full sync, in the order run.
pub struct Resyncs<'a> {
    /// Incremental, after the 1 % change.
    pub incremental: &'a RunMeasure,
    /// Incremental again, nothing changed.
    pub unchanged: &'a RunMeasure,
    /// Full mode again, nothing changed: what a scheduled nightly full costs.
    pub steady_full: &'a RunMeasure,
}

/// A re-sync over unchanged data must write no data item (target 0); the
/// note says what it wrote instead and what it sent.
fn no_data_row(metric: &str, run: &RunMeasure, more: String) -> crate::results::Row {
    let data = run.child.sum(TaskReport::data_items_written);
    crate::results::Row::new(metric, data.to_string())
        .target("0", run.child.ok() && data == 0)
        .note(format!(
            "plus {} lock/run-record writes and {} fetch markers; {} source requests{more}",
            run.child.sum(TaskReport::run_record_writes),
            run.child.sum(TaskReport::fetch_marker_writes),
            run.source_requests
        ))
}

pub fn section_incremental(full: &RunMeasure, runs: &Resyncs<'_>, cs: &ChangeSet) -> Section {
    let (incr, unchanged, steady) = (runs.incremental, runs.unchanged, runs.steady_full);
    use crate::results::{f, Row};
    let mut s = Section::new(
        "3",
        "Incremental sync after a 1 % change; unchanged re-sync",
    );
    let req_frac = incr.source_requests as f64 / full.source_requests.max(1) as f64;
    let w_full = full.child.sum(TaskReport::items_written);
    let w_incr = incr.child.sum(TaskReport::items_written);
    let changed = incr.child.sum(TaskReport::changed);
    // Split by the entity types the store counted as written.
    let data_incr = incr.child.sum(TaskReport::data_items_written);
    let markers_incr = incr.child.sum(TaskReport::fetch_marker_writes);
    let records_incr = incr.child.sum(TaskReport::run_record_writes);
    s.rows.push(Row::new(
        "change applied",
        format!(
            "{} course completions ({} partner users), {} owner changes ({} accounts)",
            cs.completions, cs.partner_users, cs.owner_changes, cs.accounts
        ),
    ));
    s.rows.push(
        Row::new(
            "incremental source requests ÷ full",
            format!(
                "{}% ({} / {})",
                f(100.0 * req_frac, 2),
                incr.source_requests,
                full.source_requests
            ),
        )
        .target("≤ 3 %", req_frac <= 0.03),
    );
    s.rows.push(Row::new(
        "incremental items written ÷ full",
        format!(
            "{}% ({} / {})",
            f(100.0 * w_incr as f64 / w_full.max(1) as f64, 2),
            w_incr,
            w_full
        ),
    ));
    s.rows.push(
        Row::new(
            "incremental items written vs changed items + run records",
            format!("{w_incr} = {data_incr} data + {markers_incr} fetch markers + {records_incr} lock/run records; {changed} changed"),
        )
        .target(
            "≤ changed + run records",
            incr.child.ok()
                && w_incr == data_incr + markers_incr + records_incr
                && w_incr <= changed + markers_incr + records_incr,
        )
        .note(format!(
            "split by the entity type of each item written (store counters); changed = created + updated + deactivated counted by the tasks; run records = lock, task-state and run-record writes ({} tasks) plus the per-user transcript fetch markers (one per user fetched whose marker changed: the state that tells the next incremental run whom to fetch)",
            incr.child.tasks.len()
        )),
    );
    let enr = incr
        .child
        .tasks
        .iter()
        .find(|t| t.task == "lms-enrollments");
    let picked = enr.map_or(0, |t| t.created + t.updated);
    let fetched = incr
        .northpass_routes
        .get("GET /v2/transcripts/{id}")
        .copied()
        .unwrap_or(0);
    s.rows.push(
        Row::new("completions picked up by incremental lms-enrollments (records created+updated / transcripts fetched)", format!("{picked} / {fetched}"))
            .target(format!("≥ {} (every completion)", cs.completions), picked >= cs.completions as u64)
            .note("correctness check: a cheap incremental run must not be cheap by missing changes"),
    );
    s.rows.push(no_data_row(
        "unchanged re-sync: data items written",
        unchanged,
        String::new(),
    ));
    s.rows.push(no_data_row(
        "full re-sync of the unchanged table: data items written",
        steady,
        format!(
            " ({}% of the first full sync), {} items read; what the scheduled nightly full runs cost (§6)",
            f(100.0 * steady.source_requests as f64 / full.source_requests.max(1) as f64, 1),
            steady.child.sum(TaskReport::items_read)
        ),
    ));
    let lists: u64 = incr
        .northpass_routes
        .iter()
        .chain(incr.impartner_routes.iter())
        .filter(|(k, _)| !k.contains("{id}"))
        .map(|(_, v)| v)
        .sum();
    s.notes.push(format!(
        "{lists} of the {} incremental requests are the per-run 'updated since' list calls (people, groups, courses, course properties, accounts, contacts), paid whatever changed: {}% of this full run's {} requests.",
        incr.source_requests,
        f(100.0 * lists as f64 / full.source_requests.max(1) as f64, 2),
        full.source_requests
    ));
    let mut md = String::from("Incremental run after the change:\n\n");
    md.push_str(&routes_md(incr));
    md.push_str("\nUnchanged re-sync:\n\n");
    md.push_str(&routes_md(unchanged));
    md.push_str("\nFull re-sync of the unchanged table:\n\n");
    md.push_str(&routes_md(steady));
    s.markdown = md;
    s.raw = serde_json::json!({ "change": cs, "incremental": incr, "unchanged": unchanged, "steady_full": steady });
    s
}

/// Quick mode only: keeps the first `k` CRM accounts (and their contacts)
/// and empties the memberships of every LMS group that does not belong to
/// one of them, so the sync works on `k` partners' users. The local
/// DynamoDB stand-in (moto) serves a few dozen requests per second on a
/// shared box, and the enrollment sync does ~3 sequential calls per user,
/// so the whole `small` set would not fit a quick run.
pub fn trim_to_accounts(data: &mut portal_infra::datagen::Dataset, k: usize) -> usize {
    use portal_core::rules::matching::{normalize_name, strip_ptr};
    let str_of = |a: &portal_infra::datagen::PrmRecord, f: &str| {
        a.get(f)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let group_names: std::collections::HashSet<String> = data
        .groups
        .iter()
        .map(|g| normalize_name(strip_ptr(&g.attributes.name)))
        .collect();
    // Tracked partners with an LMS group: the ones whose users the
    // enrollment sync fetches (Pending/Inactive ones are not tracked).
    let keep: Vec<usize> = data
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            str_of(a, "Account_Status__cf") == "Active"
                && !matches!(str_of(a, "Partner_Tier__cf").as_str(), "Pending" | "")
                && group_names.contains(&normalize_name(&str_of(a, "Name")))
        })
        .map(|(i, _)| i)
        .take(k)
        .collect();
    let accounts: Vec<_> = keep.iter().map(|&i| data.accounts[i].clone()).collect();
    data.accounts = accounts;
    let ids: std::collections::HashSet<i64> = data
        .accounts
        .iter()
        .filter_map(|a| a.get("Id").and_then(serde_json::Value::as_i64))
        .collect();
    let names: std::collections::HashSet<String> = data
        .accounts
        .iter()
        .map(|a| normalize_name(&str_of(a, "Name")))
        .collect();
    data.users.retain(|u| {
        u.get("AccountId")
            .and_then(serde_json::Value::as_i64)
            .is_some_and(|id| ids.contains(&id))
    });
    let mut kept = 0;
    for g in &data.groups {
        if names.contains(&normalize_name(strip_ptr(&g.attributes.name))) {
            kept += 1;
        } else if let Some(m) = data.memberships.get_mut(&g.id) {
            m.clear();
        }
    }
    kept
}

fn is_transcript_bookkeeping(entity: &str) -> bool {
    entity == FETCH_MARKER_ENTITY || entity == TRANSCRIPT_DUE_ENTITY
}
