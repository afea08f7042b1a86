//! `portal-bench`: runs the benchmarks of issue 8 and writes the results.
//!
//! ```text
//! portal-bench run [--quick] [--only history,hooks] [--command "scripts/bench.sh --quick"]
//! ```
//! `--only` measures some sections and keeps the others from the previous
//! `bench/results/<mode>.json` (marked with the run that measured them).
//! Normally started by `scripts/bench.sh`, which builds what is needed first.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use portal_bench::results::{f, Machine, Results, Row, Section};
use portal_bench::select::{Part, Selection};
use portal_bench::sync as bench_sync;
use portal_bench::{artefacts, cost, enroll, reads};
use portal_core::config::Config;
use portal_core::store::Store;
use portal_infra::datagen::{self, DatasetSize, GenOptions};
use portal_infra::emulator::Emulator;
use portal_infra::sim::{Server, ServerOptions, SimConfig, Sims};
use portal_sync::Mode;

#[derive(Parser)]
#[command(
    name = "portal-bench",
    about = "Benchmarks of the partner portal (issue 8)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every benchmark and write BENCHMARKS.md + bench/results/<mode>.json.
    Run(Box<RunArgs>),
    /// (internal) One whole sync in this process; prints a JSON report.
    SyncChild(ChildArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Small data and subsets: finishes in a few minutes.
    #[arg(long)]
    quick: bool,
    /// Measure only these sections (comma-separated: enroll, sync, reads,
    /// compute, artefacts, cost, history, hooks); the others are kept from
    /// the previous results file of the mode. Parts that read the synced
    /// table run the initial full sync first either way.
    #[arg(long)]
    only: Option<String>,
    /// Webhook measurement: completions per path (default: 5 quick, 10 full).
    #[arg(long)]
    hook_completions: Option<usize>,
    /// Webhook measurement: seconds between two completions.
    #[arg(long, default_value_t = 2.0)]
    hook_gap_s: f64,
    /// The command line recorded in the results (what a reader re-runs).
    #[arg(long, default_value = "scripts/bench.sh")]
    command: String,
    #[arg(long, default_value = "bench/results")]
    results_dir: PathBuf,
    #[arg(long, default_value = "BENCHMARKS.md")]
    markdown: PathBuf,
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    #[arg(long, default_value = "target/lambda-sizes.txt")]
    sizes_file: PathBuf,
    /// Whether lambda-build ran in this run (written next to the sizes).
    #[arg(
        long,
        default_value = "scripts/lambda-build.sh was not run by this benchmark run"
    )]
    sizes_provenance: String,
    /// Users in the enrollment comparison at 10 req/s (default: 60 quick, 200 full).
    #[arg(long)]
    users_at_10: Option<usize>,
    /// Users in the enrollment comparison at 100 req/s (default: 250 quick, 1000 full).
    #[arg(long)]
    users_at_100: Option<usize>,
    /// Quick mode: CRM accounts kept for the sync measurements (2–4).
    #[arg(long, default_value_t = 20)]
    quick_accounts: usize,
    /// Where the function binaries for the cold-start measurement are.
    #[arg(long, default_value = "target/debug")]
    functions_dir: PathBuf,
    /// Criterion's output directory (read for the compute-time rows).
    #[arg(long, default_value = "target/criterion")]
    criterion_dir: PathBuf,
}

#[derive(Args)]
struct ChildArgs {
    #[arg(long)]
    mode: String,
}

/// The as-of day of every generated data set (the team's test default).
fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).expect("valid date")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "portal_bench=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Run(a) => run(*a).await,
        Cmd::SyncChild(c) => {
            let mode: Mode = match c.mode.as_str() {
                "full" => Mode::Full,
                "incremental" => Mode::Incremental,
                other => anyhow::bail!("unknown mode {other}"),
            };
            let report = bench_sync::child(mode).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

async fn run(a: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let machine = Machine::probe();
    let mode = if a.quick { "quick" } else { "full" };
    let sel = Selection::parse(a.only.as_deref())?;
    // A partial run merges into the file it replaces: read it once, before
    // the first save overwrites it.
    let previous = match sel.partial() {
        Some(_) => read_results(&a.results_dir.join(format!("{mode}.json")))?,
        None => None,
    };
    let mut sections: Vec<Section> = Vec::new();
    let exe = std::env::current_exe()?;
    let save = |sections: &[Section], next: Option<&str>| {
        save_progress(
            &Run {
                a: &a,
                mode,
                machine: &machine,
                started,
                sel: &sel,
                previous: previous.as_ref(),
            },
            sections,
            next,
        )
    };
    tracing::info!(sections = %sel, "benchmark run");

    // One data set and one pair of simulators for the whole run; the
    // simulator clock starts at the as-of day like the team's harness.
    let size = if a.quick {
        DatasetSize::Small
    } else {
        DatasetSize::Ref
    };
    let data_label = if a.quick { "small" } else { "ref" };
    let t = Instant::now();
    let dataset = datagen::generate(&GenOptions {
        size,
        seed: 7,
        as_of: as_of(),
    });
    tracing::info!(
        ?size,
        secs = t.elapsed().as_secs_f64(),
        "data set generated"
    );

    // --- 1. enrollment fetch vs the replaced program -----------------------
    if sel.has(Part::Enroll) {
        let sims = Sims::start(SimConfig::new(dataset.clone())).await?;
        let n10 = a.users_at_10.unwrap_or(if a.quick { 60 } else { 200 });
        let n100 = a.users_at_100.unwrap_or(if a.quick { 250 } else { 1000 });
        let mut scenarios = Vec::new();
        for (limit, n) in [(10.0, n10), (100.0, n100)] {
            let ids = enroll::partner_user_subset(&dataset, n);
            anyhow::ensure!(
                ids.len() == n,
                "data set has only {} partner users, asked for {n}",
                ids.len()
            );
            let sc = enroll::scenario(&sims, &ids, limit).await?;
            print_scenario(&sc);
            scenarios.push(sc);
        }
        let mut s1 = enroll::section(&scenarios, &[(10.0, 1.7), (100.0, 15.0)]);
        s1.notes.push(format!(
            "Data set: {data_label}, seed 7, as of {}.",
            as_of()
        ));
        sections.push(s1);
        save(&sections, Some("the whole sync (§2)"))?;
        sims.shutdown().await;
    }
    if !sel.needs_world() {
        return finish(&sections, save(&sections, None)?, &a);
    }

    // --- 2 + 3. whole sync, incremental, unchanged -------------------------
    let mut dataset = dataset;
    let mut data_label = data_label.to_string();
    if a.quick {
        let groups = bench_sync::trim_to_accounts(&mut dataset, a.quick_accounts);
        data_label = format!(
            "small trimmed to {} CRM accounts ({groups} matching LMS groups)",
            a.quick_accounts
        );
    }
    let data_label = data_label.as_str();
    let mut sim_cfg = SimConfig::new(dataset);
    // The simulator clock starts at the as-of day like the team's harness.
    sim_cfg.clock = Some(as_of().and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    let sims = Sims::start(sim_cfg).await?;
    let emulator = Emulator::start().await?;
    let table = format!(
        "portal-bench-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp()
    );
    let sdk = emulator.sdk_config().await;
    let store = Store::from_sdk_config(&sdk, table.clone());
    store.create_table().await?;
    sims.set_options(
        Server::Northpass,
        ServerOptions {
            latency: enroll::LATENCY,
            rate_limit: Some(SYNC_LIMIT),
            burst: enroll::SERVER_BURST,
            ..Default::default()
        },
    );
    let base_env = sync_env(&emulator, &sims, &table);
    // Each run gets the simulator's current time as PORTAL_NOW, a minute
    // after the previous one, so incremental runs see exactly what changed
    // after the previous run started.
    let env_now = |sims: &Sims| {
        sims.set_clock(sims.now() + chrono::Duration::minutes(1));
        let mut env = base_env.clone();
        env.push(("PORTAL_NOW".into(), sims.now().to_rfc3339()));
        env
    };
    let config_now = || -> anyhow::Result<Config> {
        let env: std::collections::HashMap<String, String> = env_now(&sims).into_iter().collect();
        Ok(Config::from_lookup(|k| env.get(k).cloned())?)
    };
    let mut full = None;
    let mut resyncs = None;
    if sel.needs_synced_table() {
        tracing::info!("whole sync (full) in a child process");
        let m = bench_sync::run_child(&exe, Mode::Full, &env_now(&sims), &sims).await?;
        println!(
            "whole sync full: {:.1}s, {} source requests, peak RSS {} MB",
            m.child.wall_s,
            m.source_requests,
            m.child.peak_rss_kb / 1024
        );
        if sel.has(Part::Sync) {
            sections.push(bench_sync::section_whole(&m, data_label, SYNC_LIMIT));
            save(
                &sections,
                Some("the incremental and unchanged re-syncs (§3)"),
            )?;
        }
        full = Some(m);
    }
    if let (true, Some(full)) = (sel.has(Part::Sync), full.as_ref()) {
        let mut partner_users: Vec<String> = store
            .all_cert_rows()
            .await?
            .into_iter()
            .map(|r| r.row.user_id)
            .collect();
        partner_users.sort();
        partner_users.dedup();
        let change = bench_sync::apply_one_percent(&sims, &partner_users)?;
        tracing::info!(?change, "incremental sync after the change");
        let incr = bench_sync::run_child(&exe, Mode::Incremental, &env_now(&sims), &sims).await?;
        tracing::info!("unchanged re-sync");
        let unchanged =
            bench_sync::run_child(&exe, Mode::Incremental, &env_now(&sims), &sims).await?;
        // What the nightly full runs cost: a full re-sync of a table the day's
        // incremental runs kept up to date (not the initial load).
        tracing::info!("full re-sync of the synced table");
        let steady_full = bench_sync::run_child(&exe, Mode::Full, &env_now(&sims), &sims).await?;
        sections.push(bench_sync::section_incremental(
            full,
            &bench_sync::Resyncs {
                incremental: &incr,
                unchanged: &unchanged,
                steady_full: &steady_full,
            },
            &change,
        ));
        save(&sections, Some("the reads (§4)"))?;
        resyncs = Some((incr, steady_full));
    }

    // --- 4. reads ------------------------------------------------------------
    let now = sims.now();
    let config = config_now()?;
    let mut reads = None;
    if sel.has(Part::Reads) {
        match reads::measure(&config, &store, now, 3).await {
            Ok(r) => {
                sections.push(reads::section(&r, data_label));
                reads = Some(r);
            }
            Err(e) => {
                let mut s4 =
                    Section::new("4", "Reads per report route, dashboard and reminder run");
                s4.rows.push(Row::not_run(
                    "report / dashboard / reminder reads",
                    "see issue",
                    format!("failed: {e:#}"),
                ));
                sections.push(s4);
            }
        };
        match portal_bench::items::largest(&store).await {
            Ok(sizes) => sections.push(portal_bench::items::section(&sizes, data_label)),
            Err(e) => tracing::warn!("largest items not measured: {e:#}"),
        }
        save(&sections, Some("the compute times (§4b)"))?;
    }
    if sel.has(Part::Compute) {
        // The table as the handlers read it, for the compute-time benches.
        let bench_data = portal_bench::compute::BenchData {
            label: data_label.to_string(),
            now,
            warning_days: config.warning_days,
            tiers: config.tiers.clone(),
            summaries: store.all_summaries().await?,
            cert_rows: store
                .all_cert_rows()
                .await?
                .into_iter()
                .map(|r| (r.partner_id, r.row))
                .collect(),
            contacts: store.all_contacts().await?,
            users: store.all_users().await?,
            partners: store.all_partners().await?,
        };
        sections.push(compute_section(&a, mode, &bench_data)?);
        save(&sections, Some("the history reads and storage (§7)"))?;
    }

    // --- 7. history, tier-at-risk, trends (issue 15) ---------------------------
    if sel.has(Part::History) {
        let t = Instant::now();
        sections.push(
            match portal_bench::history::measure(&config, &store, now).await {
                Ok(h) => portal_bench::history::section(&h, data_label),
                Err(e) => not_run(
                    "7",
                    "History snapshot, tier-at-risk and trends (issue 15)",
                    &e,
                ),
            },
        );
        tracing::info!(secs = t.elapsed().as_secs_f64(), "history measured");
        save(&sections, Some("the webhooks (§8)"))?;
    }

    // --- 8. webhooks (issue 20) -------------------------------------------------
    let template = std::fs::read_to_string(&a.template)
        .with_context(|| format!("reading {}", a.template.display()))?;
    let events = cost::scheduled_events(&template)?;
    if sel.has(Part::Hooks) {
        let t = Instant::now();
        let opts = portal_bench::hooks::Options {
            completions: a.hook_completions.unwrap_or(if a.quick { 5 } else { 10 }),
            gap: std::time::Duration::from_secs_f64(a.hook_gap_s),
            timeout: std::time::Duration::from_secs(if a.quick { 300 } else { 1200 }),
        };
        let world = portal_bench::hooks::World {
            sims: &sims,
            store: &store,
            sdk: &sdk,
            table: &table,
            config_now: &config_now,
        };
        let schedule = events
            .iter()
            .find(|e| {
                e.input.get("task").and_then(|v| v.as_str()) == Some("lms-enrollments")
                    && e.input.get("mode").and_then(|v| v.as_str()) != Some("full")
            })
            .map_or_else(
                || "see template.yaml".to_string(),
                |e| format!("`{}`", e.expression),
            );
        sections.push(match portal_bench::hooks::measure(&world, &opts).await {
            Ok(h) => portal_bench::hooks::section(&h, data_label, &schedule),
            Err(e) => not_run(
                "8",
                "Northpass webhooks: freshness and the next incremental run (issue 20)",
                &e,
            ),
        });
        tracing::info!(secs = t.elapsed().as_secs_f64(), "webhooks measured");
        save(&sections, Some("the Lambda artefacts (§5)"))?;
    }

    // --- 5. artefacts ------------------------------------------------------
    if sel.has(Part::Artefacts) {
        let cold = cold_starts(&a, &base_env)
            .await
            .map_err(|e| format!("{e:#}"));
        sections.push(artefacts::section(&a.sizes_file, &a.sizes_provenance, cold));
        save(&sections, Some("the monthly cost (§6)"))?;
    }

    // --- 6. monthly cost ---------------------------------------------------
    if let (true, Some(full), Some((incr, steady_full))) =
        (sel.has(Part::Cost), full.as_ref(), resyncs.as_ref())
    {
        let runs = cost::SyncRuns {
            initial: Some(full),
            steady_full: Some(steady_full),
            incremental: Some(incr),
        };
        let (lines, storage, mut missing) = cost::lines_from(&events, &runs, reads.as_ref());
        if a.quick {
            missing.push("reference scale (quick mode measures the small data set)".into());
        }
        let mut s6 = cost::section(&lines, storage, &missing, 5.0);
        let initial = cost::run_units(full);
        s6.notes.push(format!(
            "The initial load (the first full sync into an empty table, once per deployment, not monthly) cost ${} ({} WRU, {} RRU, {} Lambda GB-s); the scheduled full runs are priced from the full re-sync of the synced table (§3).",
            f(initial.dollars(), 2),
            f(initial.write_units, 0),
            f(initial.read_units, 0),
            f(initial.lambda_gb_s, 0)
        ));
        s6.notes.push(format!(
            "Schedules from {} Parameter defaults: {}.",
            a.template.display(),
            events
                .iter()
                .map(|e| format!(
                    "{} `{}` = {}/month",
                    e.input,
                    e.expression,
                    f(e.runs_per_month, 1)
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        sections.push(s6);
    }
    sims.shutdown().await;

    let json_path = save(&sections, None)?;
    finish(&sections, json_path, &a)
}

/// A section whose measurement failed: one NOT RUN row saying why.
fn not_run(id: &str, title: &str, e: &anyhow::Error) -> Section {
    tracing::error!("§{id} failed: {e:#}");
    let mut s = Section::new(id, title);
    s.rows.push(Row::not_run(
        "the measurement",
        "see the section's targets",
        format!("failed: {e:#}"),
    ));
    s
}

/// Prints this run's rows and where the results went.
fn finish(sections: &[Section], json_path: PathBuf, a: &RunArgs) -> anyhow::Result<()> {
    println!();
    for r in sections.iter().flat_map(|s| s.rows.iter()) {
        println!(
            "{:<64} {:>30}  {:<26} {}",
            r.metric,
            r.value,
            r.target,
            r.verdict.as_str()
        );
    }
    println!(
        "results: {} and {}",
        json_path.display(),
        a.markdown.display()
    );
    Ok(())
}

fn read_results(p: &std::path::Path) -> anyhow::Result<Option<Results>> {
    match std::fs::read_to_string(p) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| format!("reading {}", p.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// What every save of one run shares.
struct Run<'a> {
    a: &'a RunArgs,
    mode: &'a str,
    machine: &'a Machine,
    started: Instant,
    sel: &'a Selection,
    /// The results file a partial run merges into.
    previous: Option<&'a Results>,
}

/// Writes the results so far (JSON + BENCHMARKS.md), marked unfinished
/// with the measurement that comes next: a full `ref` run takes long
/// against the emulator, and one cut short keeps what it measured.
fn save_progress(
    run: &Run<'_>,
    sections: &[Section],
    next: Option<&str>,
) -> anyhow::Result<std::path::PathBuf> {
    let a = run.a;
    let results = Results {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M").to_string(),
        command: a.command.clone(),
        mode: run.mode.into(),
        machine: run.machine.clone(),
        wall_seconds: run.started.elapsed().as_secs_f64(),
        sections: sections.to_vec(),
        unfinished: next.map(str::to_string),
        only: run.sel.partial().map(str::to_string),
    }
    .merged_with(run.previous);
    let json_path = a.results_dir.join(format!("{}.json", run.mode));
    results.write_json(&json_path)?;
    write_markdown(a, &json_path)?;
    Ok(json_path)
}

/// Northpass limit of measurements 2 and 3 (the issue's 100 req/s).
const SYNC_LIMIT: f64 = 100.0;

/// The environment a deployed sync would have, pointed at the local world.
fn sync_env(emulator: &Emulator, sims: &Sims, table: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = emulator
        .env_vars()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.extend(
        [
            ("PORTAL_TABLE", table.to_string()),
            (
                "PORTAL_INTERNAL_DOMAINS",
                datagen::INTERNAL_DOMAIN.to_string(),
            ),
            ("PORTAL_PUBLIC_BASE_URL", "http://portal.bench".to_string()),
            ("NORTHPASS_BASE_URL", sims.northpass_url()),
            ("NORTHPASS_API_KEY", sims.northpass_key()),
            ("NORTHPASS_RATE_LIMIT", format!("{SYNC_LIMIT:.0}")),
            ("IMPARTNER_BASE_URL", sims.impartner_url()),
            ("IMPARTNER_API_KEY", sims.impartner_key()),
            ("IMPARTNER_TENANT_ID", sims.impartner_tenant()),
            ("PORTAL_MAIL_FROM", "portal@vendor.example".to_string()),
            (
                "RUST_LOG",
                std::env::var("BENCH_CHILD_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v)),
    );
    env
}

/// Cold start of each function binary under the Runtime API emulator:
/// spawn → first `/next` poll, three times each.
async fn cold_starts(
    a: &RunArgs,
    env: &[(String, String)],
) -> anyhow::Result<Vec<artefacts::ColdStart>> {
    use portal_infra::dev::lambda_rie::{LocalLambda, RuntimeApi};
    let mut env = env.to_vec();
    env.extend([
        (
            "PORTAL_ADMIN_TOKEN".to_string(),
            "bench-admin-token".to_string(),
        ),
        ("PORTAL_LINK_KEY".to_string(), "bench-link-key".to_string()),
        (
            "PORTAL_UNSUBSCRIBE_KEY".to_string(),
            "bench-unsubscribe-key".to_string(),
        ),
    ]);
    let mut out = Vec::new();
    for name in ["sync", "reports", "reminders"] {
        let bin = a.functions_dir.join(name);
        anyhow::ensure!(
            bin.is_file(),
            "{} is missing (scripts/bench.sh builds it)",
            bin.display()
        );
        let mut init_ms = Vec::new();
        for _ in 0..3 {
            let rie = RuntimeApi::start().await?;
            let mut l = LocalLambda::spawn(&bin, &rie, name, &env)?;
            let d = l.wait_ready(std::time::Duration::from_secs(20)).await?;
            init_ms.push(d.as_secs_f64() * 1e3);
        }
        out.push(artefacts::ColdStart {
            function: name.into(),
            binary: bin.display().to_string(),
            init_ms,
        });
    }
    Ok(out)
}

/// Domain compute time. Full mode: criterion (`cargo bench -p portal-bench
/// --bench reports`, release profile) over the data just synced. Quick
/// mode: the same computations in a timed loop in this (debug) binary —
/// criterion's release build of the SDK tree alone takes minutes.
fn compute_section(
    a: &RunArgs,
    mode: &str,
    data: &portal_bench::compute::BenchData,
) -> anyhow::Result<Section> {
    use portal_bench::compute;
    let title = format!(
        "Domain compute time of each report over `{}` in memory",
        data.label
    );
    let mut s = Section::new("4b", &title);
    s.notes.push(format!(
        "{} partner summaries, {} certification rows, {} contacts, {} users.",
        data.summaries.len(),
        data.cert_rows.len(),
        data.contacts.len(),
        data.users.len()
    ));
    if a.quick {
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        s.rows = compute::timed_loop(data, profile);
        s.notes.push("Quick mode: timed loop in the benchmark binary; the full run uses criterion in the release profile.".into());
        return Ok(s);
    }
    let target = a
        .criterion_dir
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    let path = compute::data_path(&target, mode);
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(&path, serde_json::to_vec(data)?)?;
    let status = std::process::Command::new("cargo")
        .args(["bench", "-p", "portal-bench", "--bench", "reports"])
        .env("BENCH_DATA", &path)
        .status()?;
    s.rows = compute::read_criterion(&a.criterion_dir).unwrap_or_default();
    if !status.success() || s.rows.is_empty() {
        s.rows.push(Row::not_run(
            "report compute time (criterion)",
            "for scale (no target)",
            format!("cargo bench exited with {status}"),
        ));
    }
    Ok(s)
}

/// BENCHMARKS.md shows the latest full run (if any) and the latest quick
/// run, each from its JSON file, so a quick run never hides full numbers.
fn write_markdown(a: &RunArgs, _just_written: &std::path::Path) -> anyhow::Result<()> {
    let mut md = String::new();
    for mode in ["full", "quick"] {
        let p = a.results_dir.join(format!("{mode}.json"));
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let r: Results =
            serde_json::from_str(&text).with_context(|| format!("reading {}", p.display()))?;
        let body = r.to_markdown(&p.display().to_string());
        if md.is_empty() {
            md.push_str(&body);
        } else {
            // Demote the second run's headings under its own title.
            md.push_str(&format!("\n---\n\n# {} run\n", r.mode));
            md.push_str(
                body.trim_start_matches("# Benchmarks\n")
                    .replace("\n## ", "\n### ")
                    .as_str(),
            );
        }
    }
    std::fs::write(&a.markdown, md)?;
    Ok(())
}

fn print_scenario(sc: &enroll::Scenario) {
    println!(
        "enrollments @{} req/s: {} users; ours {:.1}s {} req ({:.2}×limit, {} × 429) | baseline {:.1}s {} req | speed-up {:.2}×",
        sc.limit_rps,
        sc.users,
        sc.ours.wall_s,
        sc.ours.requests,
        sc.ours.achieved_over_limit,
        sc.ours.rate_limited_429,
        sc.baseline.wall_s,
        sc.baseline.requests,
        sc.speedup
    );
}
