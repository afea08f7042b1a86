//! `portal-sim`: run the Northpass and Impartner simulators, or export a
//! generated data set.
//!
//! ```text
//! portal-sim serve  --dataset small|ref --seed N --as-of YYYY-MM-DD [--northpass-port P]
//!                   [--impartner-port P] [--rate-limit R] [--latency-ms MS] [--jitter-ms MS]
//!                   [--p-5xx P] [--p-malformed P] [--p-hang P] [--hang-ms MS] ...
//! portal-sim export --dataset small|ref --seed N --as-of YYYY-MM-DD --out DIR
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use portal_infra::datagen::{self, DatasetSize, GenOptions};
use portal_infra::sim::{ServerOptions, SimConfig, Sims};

#[derive(Parser)]
#[command(
    name = "portal-sim",
    about = "Northpass / Impartner simulators and data generator"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start both simulators and run until Ctrl-C.
    Serve(Serve),
    /// Write the raw data set as JSON files (one per collection).
    Export(Export),
}

#[derive(Args)]
struct DataArgs {
    #[arg(long, default_value = "small")]
    dataset: DatasetSize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The day the data is relative to (its 00:00 UTC is the simulator's start clock).
    #[arg(long)]
    as_of: NaiveDate,
}

#[derive(Args)]
struct Serve {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, default_value_t = 0)]
    northpass_port: u16,
    #[arg(long, default_value_t = 0)]
    impartner_port: u16,
    #[arg(long, env = "NORTHPASS_API_KEY", default_value = portal_infra::sim::DEFAULT_NORTHPASS_KEY)]
    northpass_key: String,
    #[arg(long, env = "IMPARTNER_API_KEY", default_value = portal_infra::sim::DEFAULT_IMPARTNER_KEY)]
    impartner_key: String,
    #[arg(long, env = "IMPARTNER_TENANT_ID", default_value = portal_infra::sim::DEFAULT_IMPARTNER_TENANT)]
    impartner_tenant: String,
    /// Northpass token bucket in requests/second (docs/source-contract.md: about 10); 0 = unlimited.
    #[arg(long, default_value_t = 10.0)]
    rate_limit: f64,
    /// Northpass bucket size.
    #[arg(long, default_value_t = 10)]
    burst: u32,
    /// Impartner token bucket in requests/second; 0 = unlimited.
    #[arg(long, default_value_t = 0.0)]
    impartner_rate_limit: f64,
    /// Fault options, applied to both servers.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    #[arg(long = "p-5xx", default_value_t = 0.0)]
    p_5xx: f64,
    #[arg(long, default_value_t = 0.0)]
    p_malformed: f64,
    #[arg(long, default_value_t = 0.0)]
    p_hang: f64,
    #[arg(long, default_value_t = 30_000)]
    hang_ms: u64,
}

#[derive(Args)]
struct Export {
    #[command(flatten)]
    data: DataArgs,
    #[arg(long)]
    out: PathBuf,
}

fn generate(d: &DataArgs) -> datagen::Dataset {
    let t = Instant::now();
    let ds = datagen::generate(&GenOptions {
        size: d.dataset,
        seed: d.seed,
        as_of: d.as_of,
    });
    tracing::info!(
        people = ds.people.len(),
        groups = ds.groups.len(),
        courses = ds.courses.len(),
        transcripts = ds.transcript_count(),
        accounts = ds.accounts.len(),
        users = ds.users.len(),
        ms = t.elapsed().as_millis() as u64,
        "data set generated"
    );
    ds
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Export(e) => {
            let ds = generate(&e.data);
            ds.export(&e.out)
                .with_context(|| format!("writing {}", e.out.display()))?;
            println!("exported to {}", e.out.display());
        }
        Cmd::Serve(s) => {
            let faults = |rate: f64, burst: u32, seed: u64| ServerOptions {
                latency: Duration::from_millis(s.latency_ms),
                jitter: Duration::from_millis(s.jitter_ms),
                rate_limit: (rate > 0.0).then_some(rate),
                burst,
                p_5xx: s.p_5xx,
                p_malformed: s.p_malformed,
                p_hang: s.p_hang,
                hang: Duration::from_millis(s.hang_ms),
                seed,
                ..ServerOptions::default()
            };
            let mut cfg = SimConfig::new(generate(&s.data));
            cfg.northpass = faults(s.rate_limit, s.burst, s.data.seed);
            cfg.impartner = faults(s.impartner_rate_limit, 50, s.data.seed.wrapping_add(1));
            cfg.northpass_key = s.northpass_key.clone();
            cfg.impartner_key = s.impartner_key.clone();
            cfg.impartner_tenant = s.impartner_tenant.clone();
            cfg.northpass_port = s.northpass_port;
            cfg.impartner_port = s.impartner_port;
            cfg.clock = s.data.as_of.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
            cfg.seed = s.data.seed;
            let sims = Sims::start(cfg).await.context("starting simulators")?;
            println!("NORTHPASS_URL={}", sims.northpass_url());
            println!("NORTHPASS_API_KEY={}", sims.northpass_key());
            println!("IMPARTNER_URL={}", sims.impartner_url());
            println!("IMPARTNER_API_KEY={}", sims.impartner_key());
            println!("IMPARTNER_TENANT_ID={}", sims.impartner_tenant());
            wait_for_stop().await?;
            sims.shutdown().await;
        }
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM from a parent process (the dev runner stops its
/// children that way).
async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
