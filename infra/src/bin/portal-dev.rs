//! `portal-dev up`: the whole portal on localhost from a fresh clone.
//!
//! Starts the local AWS emulator (moto) and the Northpass/Impartner
//! simulators, creates the table, runs every sync task (full), sends the
//! reminder e-mails into the emulator's SES, creates a PAM token and partner
//! links, then serves the HTTP API with the `reports` Lambda's own handler
//! until Ctrl-C (SIGINT) or SIGTERM, which stops everything it started.
//!
//! stdout carries the results (`KEY=value` lines for scripts, then lines for
//! people); progress and logs go to stderr.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use portal_core::access::{
    current_link_version, generate_token, generate_token_id, next_link_version,
    partner_link_record, partner_link_token,
};
use portal_core::config::Secret;
use portal_core::mail::SesMailer;
use portal_core::model::PartnerSummary;
use portal_core::store::sessions::{login_link_ttl, LoginLink};
use portal_core::store::{TokenKind, TokenRecord};
use portal_infra::datagen::DatasetSize;
use portal_infra::dev::serve;
use portal_infra::dev::stack::{RealImpartner, RealNorthpass, Stack, StackOptions};
use portal_reminders::{HmacLinks, Job};
use portal_reports::{AppState, FnRunner, RunMode};
use portal_sync::{Deps, Mode, RunStatus, TaskName};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

#[derive(Parser)]
#[command(
    name = "portal-dev",
    about = "Run the partner certification portal locally"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start emulator + simulators, sync, send reminders, serve the API until Ctrl-C.
    Up(Up),
}

#[derive(Args, Debug)]
struct Up {
    /// Simulated data set: small (≈50 partners) or ref (a real program's scale).
    #[arg(long, default_value = "small")]
    dataset: DatasetSize,
    /// Seed of the generated data set.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Day the data is generated around; the portal's clock is pinned to its
    /// midnight UTC (PORTAL_NOW). Default: today.
    #[arg(long)]
    as_of: Option<NaiveDate>,
    /// Port of the HTTP API on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Use the real Northpass API at this URL instead of the simulator.
    #[arg(long, env = "PORTAL_DEV_NORTHPASS_URL", requires = "northpass_key")]
    northpass_url: Option<String>,
    #[arg(long, env = "PORTAL_DEV_NORTHPASS_KEY", hide_env_values = true)]
    northpass_key: Option<String>,
    /// Use the real Impartner API at this URL instead of the simulator.
    #[arg(long, env = "PORTAL_DEV_IMPARTNER_URL", requires_all = ["impartner_key", "impartner_tenant"])]
    impartner_url: Option<String>,
    #[arg(long, env = "PORTAL_DEV_IMPARTNER_KEY", hide_env_values = true)]
    impartner_key: Option<String>,
    #[arg(long, env = "PORTAL_DEV_IMPARTNER_TENANT")]
    impartner_tenant: Option<String>,
    /// Let the sync write to a real CRM (crm-push). Without it, a real
    /// Impartner is only read.
    #[arg(long)]
    allow_writes: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            // Quiet by default: the progress lines say what happens; RUST_LOG
            // opens the full logs.
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("portal-dev: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async {
        let Cmd::Up(up) = cli.cmd;
        let stop = match shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("portal-dev: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let mut stopped = stop.clone();
        // Whatever phase we are in, a signal drops the `run` future, and
        // with it the stack: simulators stop, moto is killed and reaped.
        tokio::select! {
            r = run(up, stop) => match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("portal-dev: {e:#}");
                    ExitCode::FAILURE
                }
            },
            _ = stopped.wait_for(|s| *s) => {
                eprintln!("portal-dev: interrupted, stopped everything");
                ExitCode::from(130)
            }
        }
    });
    // Do not wait for blocking tasks (e.g. a venv install interrupted by
    // Ctrl-C): everything we own has been dropped above.
    rt.shutdown_timeout(Duration::from_secs(2));
    code
}

/// A flag that turns true on SIGINT or SIGTERM.
fn shutdown_signal() -> anyhow::Result<watch::Receiver<bool>> {
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// The keys of this run, made fresh each time.
struct Keys {
    admin_token: String,
    link_key: String,
    unsubscribe_key: String,
}

/// What people and scripts are told once everything is ready.
struct Access<'a> {
    /// Three partners and their dashboard links.
    links: Vec<(&'a PartnerSummary, String)>,
    admin_sign_in: String,
    /// The PAM owning the most partners, and their sign-in link.
    pam: Option<(String, String)>,
}

/// `up`, step by step; the stack (and everything it started) is dropped
/// when this returns or is dropped.
async fn run(up: Up, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    // Bind first: the public URL goes into mails and CRM links, and a busy
    // port should fail in a second, not after the sync.
    let listener = serve::bind(up.port).await.with_context(|| {
        format!(
            "cannot listen on 127.0.0.1:{} (in use? pass --port 0 for a free port)",
            up.port
        )
    })?;
    let base = format!("http://{}", listener.local_addr()?);
    let keys = Keys {
        admin_token: generate_token(),
        link_key: generate_token(),
        unsubscribe_key: generate_token(),
    };
    let stack = start_stack(&up, &base, &keys).await?;
    store_admin_token(&stack, &keys.admin_token).await?;
    let sync = sync_every_task(&up, &stack).await?;
    let summaries = stack
        .store
        .all_summaries()
        .await
        .context("reading partner summaries")?;
    let access = access_for_people(&stack, &summaries, &base, &keys.link_key).await?;
    let (reminders, in_ses) = send_reminders(&stack, &base, &keys).await?;
    let mut app = api(&stack, &sync, &keys)?;
    if let Some(hooks) = wire_webhooks(&stack, &sync, &base).await? {
        app = app.with_hooks(hooks);
    }
    let router = serve::router(app, stack.emulator.clone());
    print_flush(&results(&stack, &base, &keys, &access, &reminders, in_ses));

    let mut stopped = stop.clone();
    serve::serve(listener, router, async move {
        let _ = stopped.wait_for(|s| *s).await;
    })
    .await
    .context("serving the HTTP API")?;
    stack.shutdown().await;
    eprintln!("portal-dev: stopped everything");
    Ok(())
}

/// The emulator, the simulators (or the real sources) and the table.
async fn start_stack(up: &Up, base: &str, keys: &Keys) -> anyhow::Result<Stack> {
    let as_of = up.as_of.unwrap_or_else(|| Utc::now().date_naive());
    let opts = StackOptions {
        dataset: up.dataset,
        seed: up.seed,
        as_of,
        northpass: up.northpass_url.clone().map(|url| RealNorthpass {
            url,
            key: up.northpass_key.clone().unwrap_or_default(),
        }),
        impartner: up.impartner_url.clone().map(|url| RealImpartner {
            url,
            key: up.impartner_key.clone().unwrap_or_default(),
            tenant: up.impartner_tenant.clone().unwrap_or_default(),
        }),
        public_base_url: base.to_string(),
        admin_token: keys.admin_token.clone(),
        link_key: keys.link_key.clone(),
        unsubscribe_key: keys.unsubscribe_key.clone(),
    };
    let step = Step::start("starting local AWS emulator (moto), simulators, table");
    let stack = Stack::start(&opts)
        .await
        .context("starting the local stack (moto needs python3 with venv/pip on the first run)")?;
    step.done(format!(
        "local stack ready: emulator {}, data set {:?} seed {} as of {as_of}",
        stack.emulator.endpoint(),
        up.dataset,
        up.seed
    ));

    Ok(stack)
}

async fn store_admin_token(stack: &Stack, admin_token: &str) -> anyhow::Result<()> {
    let now = stack.now;
    stack
        .store
        .put_token(
            admin_token,
            &TokenRecord {
                id: generate_token_id(),
                kind: TokenKind::Admin,
                scope: None,
                label: Some("portal-dev admin".into()),
                created_at: Some(now),
                expires_at: None,
                revoked_at: None,
            },
        )
        .await
        .context("storing the admin token")?;
    Ok(())
}

/// Every sync task, in dependency order, full.
async fn sync_every_task(up: &Up, stack: &Stack) -> anyhow::Result<Deps> {
    let real_impartner = up.impartner_url.is_some();
    let sync = Deps::from_config(stack.config.clone(), stack.store.clone())
        .context("sync configuration")?;
    for task in TaskName::ALL {
        if task == TaskName::CrmPush && real_impartner && !up.allow_writes {
            Step::skipped(format!(
                "sync {:<16} skipped: writes to a real CRM need --allow-writes",
                task.as_str()
            ));
            continue;
        }
        let step = Step::start(format!("sync {:<16}", task.as_str()));
        let s = step
            .watch(
                stack,
                format!("sync {:<16}", task.as_str()),
                portal_sync::run_to_completion(&sync, task, Mode::Full, None),
            )
            .await;
        let c = s.counts;
        let line = format!(
            "sync {:<16} {:<9} {:>6} processed {:>6} created {:>5} updated {:>5} unchanged {:>4} deactivated {:>3} failed",
            task.as_str(),
            s.status.as_str(),
            c.processed,
            c.created,
            c.updated,
            c.unchanged,
            c.deactivated,
            c.failed
        );
        step.done(line);
        if s.status == RunStatus::Failed {
            bail!(
                "sync task {task} failed: {}",
                s.error.unwrap_or_else(|| "no error message".into())
            );
        }
    }
    Ok(sync)
}

/// Links of three partners and one-time sign-in links for the admin and a
/// PAM.
async fn access_for_people<'a>(
    stack: &Stack,
    summaries: &'a [PartnerSummary],
    base: &str,
    link_key: &str,
) -> anyhow::Result<Access<'a>> {
    let now = stack.now;
    let showcase = showcase(summaries);
    let mut links = Vec::new();
    let tokens = stack.store.all_tokens().await?;
    for p in showcase {
        let pid = p.partner_id.as_str();
        // The sync may have issued it already; a revoked one is never
        // brought back (see `portal_core::access`).
        let from =
            current_link_version(&tokens, pid).unwrap_or_else(|| next_link_version(&tokens, pid));
        let link_of = |v: u32| {
            (
                partner_link_token(link_key, pid, v),
                partner_link_record(pid, v, now),
            )
        };
        let (_, link) = stack
            .store
            .ensure_partner_link(pid, from, &link_of)
            .await
            .context("storing a partner link")?;
        links.push((p, format!("{base}/p/{link}")));
    }
    // People sign in with one-time links (15 minutes, once), never with a
    // token in an address.
    let pam = busiest_owner(summaries);
    let sign_in = |kind: TokenKind, scope: Option<String>, email: String| {
        let store = stack.store.clone();
        let base = base.to_string();
        async move {
            let secret = generate_token();
            let link = LoginLink {
                kind,
                scope,
                email,
                expires_at: Utc::now() + login_link_ttl(),
            };
            store
                .put_login_link(&secret, &link)
                .await
                .context("storing a sign-in link")?;
            anyhow::Ok(format!("{base}/login/link/{secret}"))
        }
    };
    let admin_sign_in = sign_in(TokenKind::Admin, None, "admin".into()).await?;
    let pam = match pam {
        Some(owner) => {
            let link = sign_in(TokenKind::Pam, Some(owner.clone()), owner.clone()).await?;
            Some((owner, link))
        }
        None => None,
    };
    Ok(Access {
        links,
        admin_sign_in,
        pam,
    })
}

/// The reminder run, into the emulator's SES (the sender identity exists);
/// with the number of messages SES holds afterwards.
async fn send_reminders(
    stack: &Stack,
    base: &str,
    keys: &Keys,
) -> anyhow::Result<(portal_reminders::RunSummary, Option<usize>)> {
    let now = stack.now;
    let step = Step::start("reminders");
    let reminders = portal_reminders::Deps::from_config(
        &stack.config,
        &stack.sdk,
        Some(Arc::new(
            HmacLinks::new(base, keys.unsubscribe_key.as_bytes()).with_clock(stack.config.clock),
        )),
    )
    .context("reminder configuration")?;
    let r = portal_reminders::run(&reminders, Job::Reminders, now)
        .await
        .context("running the reminders")?;
    let in_ses = stack.emulator.sent_emails().await.map(|m| m.len()).ok();
    step.done(format!(
        "reminders        {:<9} {:>6} due {:>6} e-mails sent {:>3} failed",
        r.status, r.due, r.emails_sent, r.emails_failed
    ));
    Ok((r, in_ses))
}

/// Northpass webhooks, locally: a queue in the emulator, the simulator's
/// webhooks pointed at this server's endpoint, and the queue consumed in
/// process (the stand-in for the SQS event source). Only with the
/// simulators: a real Northpass cannot reach localhost.
async fn wire_webhooks(
    stack: &Stack,
    sync: &Deps,
    base: &str,
) -> anyhow::Result<Option<portal_reports::hooks::Hooks>> {
    let Some(sims) = stack.sims.as_ref() else {
        return Ok(None);
    };
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = sqs
        .create_queue()
        .queue_name("portal-dev-webhooks")
        .send()
        .await
        .context("creating the webhook queue in the emulator")?
        .queue_url()
        .context("the emulator named no queue URL")?
        .to_string();
    let secret = generate_token();
    sims.set_webhooks(Some(portal_infra::sim::WebhookOptions {
        url: format!("{base}/hooks/northpass/{secret}"),
        redeliver: false,
        out_of_order: false,
    }));
    let (deps, client, url) = (sync.clone(), sqs.clone(), queue.clone());
    tokio::spawn(async move {
        loop {
            match portal_sync::hooks::poll_queue(&deps, &client, &url, 1).await {
                Ok((0, _)) => tokio::time::sleep(Duration::from_millis(500)).await,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "webhook queue poll failed");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    });
    Ok(Some(portal_reports::hooks::Hooks {
        secrets: portal_reports::hooks::HookSecrets::fixed(&Secret::new(secret), None),
        queue: portal_reports::hooks::HookQueue {
            client: sqs,
            url: queue,
        },
    }))
}

/// The HTTP API: the reports Lambda's handler, with an in-process
/// "run now" that runs the sync like the Lambda would.
fn api(stack: &Stack, sync: &Deps, keys: &Keys) -> anyhow::Result<AppState> {
    let runner_deps = sync.clone();
    let runner = FnRunner::with_force(move |task, mode, force| {
        let deps = runner_deps.clone();
        Box::pin(async move {
            let task: TaskName = task.parse().map_err(|e: String| e)?;
            let mode = match mode {
                RunMode::Full => Mode::Full,
                RunMode::Incremental => Mode::Incremental,
            };
            let s = portal_sync::run_to_completion_with(&deps, task, mode, None, force).await;
            match s.error {
                Some(e) if s.status == RunStatus::Failed => Err(e),
                _ => Ok(()),
            }
        })
    });
    Ok(AppState::new(&stack.config, stack.store.clone())
        .with_admin_token(&keys.admin_token)
        .with_link_key(Secret::new(keys.link_key.clone()))
        .with_unsubscribe_key(Secret::new(keys.unsubscribe_key.clone()))
        .with_runner(Arc::new(runner))
        .with_mailer(Arc::new(
            SesMailer::from_sdk_config(&stack.sdk, stack.config.require_mail_from()?)
                .rate_per_second(0.0)
                .build(),
        )))
}

/// For scripts: one KEY=value per line; then lines for people.
fn results(
    stack: &Stack,
    base: &str,
    keys: &Keys,
    access: &Access<'_>,
    r: &portal_reminders::RunSummary,
    in_ses: Option<usize>,
) -> String {
    let admin_token = &keys.admin_token;
    let admin_sign_in = &access.admin_sign_in;
    let links = &access.links;
    let mut out = String::new();
    out.push_str(&format!("LISTENING={base}\n"));
    out.push_str(&format!("ADMIN_TOKEN={admin_token}\n"));
    out.push_str(&format!("REMINDERS_SENT={}\n", r.emails_sent));
    out.push_str(&format!("MAIL_URL={base}/dev/mail\n"));
    out.push_str(&format!("EMULATOR_URL={}\n", stack.emulator.endpoint()));
    if let Some(s) = &stack.sims {
        out.push_str(&format!("NORTHPASS_SIM_URL={}\n", s.northpass_url()));
        out.push_str(&format!("IMPARTNER_SIM_URL={}\n", s.impartner_url()));
    }
    for (i, (_, url)) in links.iter().enumerate() {
        out.push_str(&format!("PARTNER_LINK_{}={url}\n", i + 1));
    }
    out.push_str(&format!("ADMIN_SIGN_IN_URL={admin_sign_in}\n"));
    if let Some((_, u)) = &access.pam {
        out.push_str(&format!("PAM_SIGN_IN_URL={u}\n"));
    }
    // For people.
    out.push('\n');
    out.push_str(&format!(
        "The portal is up at {base} (clock pinned to {}; PORTAL_NOW).\n",
        stack
            .env
            .get("PORTAL_NOW")
            .map(String::as_str)
            .unwrap_or("?")
    ));
    out.push_str(&format!(
        "  Sign in to the portal (one-time links, 15 minutes):\n    admin: {admin_sign_in}\n"
    ));
    match &access.pam {
        Some((owner, u)) => out.push_str(&format!("    PAM {owner}: {u}\n")),
        None => out.push_str("    PAM: no partner has an owner e-mail\n"),
    }
    out.push_str(&format!(
        "    later: ask for a link by e-mail at {base}/ (mail shows at {base}/dev/mail), or use the admin token\n  Admin token (shown once, for the API and the sign-in form): ADMIN_TOKEN above\n"
    ));
    out.push_str("  Partner dashboards (private links):\n");
    for (p, url) in links {
        out.push_str(&format!(
            "    {} ({}): {url}\n",
            p.name,
            p.tier
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_else(|| "no tier".into())
        ));
    }
    out.push_str(&format!(
        "  {} reminder e-mail(s) sent{}; read them at {base}/dev/mail (raw: {}/moto-api/data.json)\n",
        r.emails_sent,
        in_ses
            .map(|n| format!(" ({n} in the local SES)"))
            .unwrap_or_default(),
        stack.emulator.endpoint()
    ));
    if let Some(s) = &stack.sims {
        out.push_str(&format!(
            "  Simulators: Northpass {} · Impartner {}\n",
            s.northpass_url(),
            s.impartner_url()
        ));
    }
    out.push_str("Press Ctrl-C to stop everything.\n");
    out
}

fn print_flush(s: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Three partners worth looking at: tracked, with a group, the ones with
/// the most certifications first (ties by name, for a stable choice).
fn showcase(summaries: &[PartnerSummary]) -> Vec<&PartnerSummary> {
    let mut v: Vec<&PartnerSummary> = summaries.iter().filter(|s| s.tracked).collect();
    v.sort_by(|a, b| {
        (
            b.lms_group_id.is_some(),
            portal_core::rules::summary::row_count(b),
        )
            .cmp(&(
                a.lms_group_id.is_some(),
                portal_core::rules::summary::row_count(a),
            ))
            .then_with(|| a.name.cmp(&b.name))
    });
    v.truncate(3);
    v
}

/// The PAM owning the most tracked partners.
fn busiest_owner(summaries: &[PartnerSummary]) -> Option<String> {
    let mut n: BTreeMap<&str, usize> = BTreeMap::new();
    for s in summaries.iter().filter(|s| s.tracked) {
        if let Some(o) = s.owner_email.as_deref().filter(|o| o.contains('@')) {
            *n.entry(o).or_default() += 1;
        }
    }
    n.into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(o, _)| o.to_lowercase())
}

/// One progress line: a spinner on a terminal, a plain line otherwise (CI,
/// tests, pipes), so the output reads well in both.
struct Step {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Step {
    fn start(msg: impl Into<String>) -> Step {
        let msg = msg.into();
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_message(msg.clone());
            b.enable_steady_tick(Duration::from_millis(100));
            b
        });
        Step {
            bar,
            started: Instant::now(),
        }
    }

    fn skipped(msg: String) {
        eprintln!("- {msg}");
    }

    /// Awaits `fut`, showing live source request counts meanwhile (the
    /// simulators count every request), so a long task visibly progresses.
    async fn watch<T>(
        &self,
        stack: &Stack,
        label: String,
        fut: impl std::future::Future<Output = T>,
    ) -> T {
        let (Some(bar), Some(sims)) = (&self.bar, stack.sims.as_ref()) else {
            return fut.await;
        };
        let total = || {
            let s = sims.stats();
            s.northpass.total_requests + s.impartner.total_requests
        };
        let base = total();
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return out,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    bar.set_message(format!("{label} {} source requests", total().saturating_sub(base)));
                }
            }
        }
    }

    fn done(self, line: String) {
        let secs = self.started.elapsed().as_secs_f64();
        match self.bar {
            Some(b) => b.finish_with_message(format!("{line}  ({secs:.1} s)")),
            None => eprintln!("✔ {line}  ({secs:.1} s)"),
        }
    }
}
