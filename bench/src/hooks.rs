//! Measurement 8 (issue 20): Northpass webhooks, end to end, wired as
//! tests/tests/hooks_e2e.rs wires them: the Northpass simulator POSTs its
//! events to the real reports handler (functions/reports/src/hooks.rs),
//! which enqueues to the emulator's SQS; the sync's consumer
//! (functions/sync/src/hooks.rs) polls the queue the way the Lambda event
//! source does.
//!
//! - Freshness: `n` partner learners, one per partner, complete an NPCU
//!   course they lack, `gap` apart; each partner's summary is read until
//!   it changes. Completion → summary updated, median and max.
//! - The next incremental run: `lms-users` + `lms-enrollments`, once after
//!   those webhook-delivered completions and once after `n` other
//!   completions with webhooks off (polling alone), Northpass requests
//!   counted by the simulator.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portal_core::config::{Config, Secret};
use portal_core::store::{StatsSnapshot, Store};
use portal_infra::sim::{Mutation, Sims, WebhookOptions, WebhookStats};
use portal_reports::hooks::{HookQueue, HookSecrets, Hooks};
use portal_sync::{Deps, Mode, RunStatus, TaskName};
use serde::Serialize;

use crate::results::{f, Row, Section};

const SECRET: &str = "bench-hook-secret";
/// The freshness target (issue 20): completion → summary within a minute.
const TARGET_S: f64 = 60.0;
/// How often the summaries are read while waiting.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// The consumer's long poll, as the SQS event source polls.
const LONG_POLL_S: i32 = 1;

pub struct Options {
    /// Completions per path (webhook, polling).
    pub completions: usize,
    /// Between two webhook-delivered completions.
    pub gap: Duration,
    /// Give up waiting for a summary after this long.
    pub timeout: Duration,
}

/// A learner who completes `course` and the partner whose summary shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Learner {
    pub partner_id: String,
    pub user_id: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NextRun {
    pub status: String,
    pub wall_s: f64,
    pub northpass_requests: u64,
    pub transcripts: u64,
    pub northpass_routes: BTreeMap<String, u64>,
    /// Of the partners whose learners completed, summaries changed since
    /// before the completions.
    pub summaries_updated: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HooksBench {
    pub course: String,
    pub completions: usize,
    pub gap_s: f64,
    /// Completion → summary changed, seconds, in the order completed.
    pub latencies_s: Vec<f64>,
    pub timed_out: usize,
    pub deliveries: Option<(u64, u64, u64)>,
    /// Consumer receives that got messages, and the messages.
    pub batches: u64,
    pub messages: u64,
    /// The consumer's DynamoDB requests and items read in all.
    pub consumer_requests: u64,
    pub consumer_items_read: u64,
    /// Northpass requests the consumer made (its transcript fetches).
    pub consumer_northpass: u64,
    pub after_webhooks: NextRun,
    pub after_polling: NextRun,
}

impl HooksBench {
    pub fn median_s(&self) -> Option<f64> {
        let mut v = self.latencies_s.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }
    pub fn max_s(&self) -> Option<f64> {
        self.latencies_s.iter().copied().reduce(f64::max)
    }
}

/// `2n` partner learners (first `n` for the webhook path), one per
/// partner, each without a stored certification row for `course`.
fn learners(rows: &[portal_core::store::entities::PartnerCertRow], course: &str) -> Vec<Learner> {
    let has: BTreeSet<(&str, &str)> = rows
        .iter()
        .map(|r| (r.row.user_id.as_str(), r.row.course_id.as_str()))
        .collect();
    let mut by_partner: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in rows {
        by_partner
            .entry(r.partner_id.as_str())
            .or_default()
            .insert(r.row.user_id.as_str());
    }
    let mut used: BTreeSet<&str> = BTreeSet::new();
    by_partner
        .into_iter()
        .filter_map(|(p, users)| {
            let u = users
                .into_iter()
                .find(|u| !has.contains(&(*u, course)) && !used.contains(u))?;
            used.insert(u);
            Some(Learner {
                partner_id: p.to_string(),
                user_id: u.to_string(),
            })
        })
        .collect()
}

async fn summary_json(store: &Store, partner_id: &str) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(store.get_summary(partner_id).await?)?)
}

/// `lms-users` then `lms-enrollments`, incremental, as the schedule runs
/// them; Northpass requests from the simulator's counters.
async fn next_run(
    deps: &Deps,
    sims: &Sims,
    store: &Store,
    watched: &[(String, serde_json::Value)],
) -> anyhow::Result<NextRun> {
    sims.reset_stats();
    let t = Instant::now();
    let mut status = RunStatus::Succeeded;
    for task in [TaskName::LmsUsers, TaskName::LmsEnrollments] {
        let s = portal_sync::run_to_completion(deps, task, Mode::Incremental, None).await;
        if s.status != RunStatus::Succeeded {
            tracing::warn!(task = task.as_str(), error = ?s.error, "incremental run did not succeed");
            status = s.status;
        }
    }
    let wall_s = t.elapsed().as_secs_f64();
    let np = sims.stats().northpass;
    let mut updated = 0;
    for (pid, before) in watched {
        if summary_json(store, pid).await? != *before {
            updated += 1;
        }
    }
    Ok(NextRun {
        status: status.as_str().into(),
        wall_s,
        northpass_requests: np.total_requests,
        transcripts: np.count("GET /v2/transcripts/{id}"),
        northpass_routes: np.requests.clone(),
        summaries_updated: updated,
    })
}

/// Everything the measurement needs from the run's world.
pub struct World<'a> {
    pub sims: &'a Sims,
    pub store: &'a Store,
    pub sdk: &'a aws_config::SdkConfig,
    pub table: &'a str,
    /// A config for the next step, its clock pinned to the simulator's
    /// current time (advancing it a minute, as the run does between syncs).
    pub config_now: &'a (dyn Fn() -> anyhow::Result<Config> + Sync),
}

pub async fn measure(w: &World<'_>, o: &Options) -> anyhow::Result<HooksBench> {
    let (sims, store) = (w.sims, w.store);
    let course = crate::sync::npcu_course(sims)?;
    let all = learners(&store.all_cert_rows().await?, &course);
    let n = o.completions.min(all.len() / 2);
    anyhow::ensure!(
        n > 0,
        "no two partners with a learner lacking course {course}"
    );
    let (hooked, polled) = (&all[..n], &all[n..2 * n]);
    let mut out = HooksBench {
        course: course.clone(),
        completions: n,
        gap_s: o.gap.as_secs_f64(),
        ..Default::default()
    };

    let sqs = aws_sdk_sqs::Client::new(w.sdk);
    let queue = sqs
        .create_queue()
        .queue_name(format!("{}-hooks", w.table))
        .send()
        .await?
        .queue_url()
        .ok_or_else(|| anyhow::anyhow!("no queue url"))?
        .to_string();
    let config = (w.config_now)()?;
    let state = crate::reads::app_state(&config, store).with_hooks(Hooks {
        secrets: HookSecrets::fixed(&Secret::new(SECRET), None),
        queue: HookQueue {
            client: sqs.clone(),
            url: queue.clone(),
        },
    });
    let server = portal_reports::local::spawn(state, "127.0.0.1:0".parse()?).await?;
    sims.set_webhooks(Some(WebhookOptions {
        url: format!("{}/hooks/northpass/{SECRET}", server.url()),
        redeliver: false,
        out_of_order: false,
    }));
    // The consumer has its own store handle, so its counters are its own
    // (the watcher's reads are not the consumer's).
    let consumer_store = Store::from_sdk_config(w.sdk, w.table.to_string());
    let consumer = Deps::from_config(config, consumer_store.clone())?;
    sims.reset_stats();

    let stop = AtomicBool::new(false);
    let (batches, messages) = (AtomicU64::new(0), AtomicU64::new(0));
    let consume = async {
        loop {
            let (got, failed) =
                portal_sync::hooks::poll_queue(&consumer, &sqs, &queue, LONG_POLL_S).await?;
            if failed > 0 {
                tracing::warn!(failed, "webhook messages failed; SQS redelivers them");
            }
            if got > 0 {
                batches.fetch_add(1, Ordering::Relaxed);
                messages.fetch_add(got as u64, Ordering::Relaxed);
            } else if stop.load(Ordering::Relaxed) {
                return anyhow::Ok(());
            }
        }
    };
    let drive = async {
        let r = complete_and_watch(sims, store, hooked, &course, o).await;
        stop.store(true, Ordering::Relaxed);
        r
    };
    let (consumed, watched) = futures::join!(consume, drive);
    consumed?;
    let (latencies, timed_out) = watched?;
    sims.set_webhooks(None);
    drop(server);
    out.latencies_s = latencies;
    out.timed_out = timed_out;
    let d = sims.webhook_stats();
    let WebhookStats {
        delivered,
        accepted,
        failed,
    } = d;
    out.deliveries = Some((delivered, accepted, failed));
    out.batches = batches.into_inner();
    out.messages = messages.into_inner();
    let cs: StatsSnapshot = consumer_store.stats();
    out.consumer_requests = cs.total_requests();
    out.consumer_items_read = cs.total().items_read;
    out.consumer_northpass = sims.stats().northpass.total_requests;

    let before: Vec<(String, serde_json::Value)> = Vec::new();
    let deps = Deps::from_config((w.config_now)()?, store.clone())?;
    out.after_webhooks = next_run(&deps, sims, store, &before).await?;

    // Polling alone: the same kind of completions, no webhook.
    let mut watched = Vec::new();
    for l in polled {
        watched.push((
            l.partner_id.clone(),
            summary_json(store, &l.partner_id).await?,
        ));
        sims.mutate(Mutation::CompleteCourse {
            person_id: l.user_id.clone(),
            course_id: course.clone(),
            at: None,
        })?;
    }
    let deps = Deps::from_config((w.config_now)()?, store.clone())?;
    out.after_polling = next_run(&deps, sims, store, &watched).await?;
    Ok(out)
}

/// Completes each learner's course `o.gap` apart and reads the partners'
/// summaries until each changed; returns the latencies (seconds) and how
/// many did not change within `o.timeout`.
async fn complete_and_watch(
    sims: &Sims,
    store: &Store,
    learners: &[Learner],
    course: &str,
    o: &Options,
) -> anyhow::Result<(Vec<f64>, usize)> {
    let started = Instant::now();
    let mut next = started;
    let mut queue = learners.iter();
    let mut pending: Vec<(&Learner, serde_json::Value, Instant)> = Vec::new();
    let mut latencies = Vec::new();
    let mut sent = 0;
    loop {
        if sent < learners.len() && Instant::now() >= next {
            if let Some(l) = queue.next() {
                let before = summary_json(store, &l.partner_id).await?;
                let t0 = Instant::now();
                sims.mutate(Mutation::CompleteCourse {
                    person_id: l.user_id.clone(),
                    course_id: course.to_string(),
                    at: None,
                })?;
                pending.push((l, before, t0));
                sent += 1;
                next += o.gap;
            }
        }
        let mut still = Vec::new();
        for (l, before, t0) in pending {
            if summary_json(store, &l.partner_id).await? != before {
                latencies.push(t0.elapsed().as_secs_f64());
            } else {
                still.push((l, before, t0));
            }
        }
        pending = still;
        if sent == learners.len() && pending.is_empty() {
            return Ok((latencies, 0));
        }
        if started.elapsed() > o.timeout {
            tracing::warn!(
                pending = pending.len(),
                "webhook completions not on their summaries in time"
            );
            return Ok((latencies, pending.len() + learners.len() - sent));
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

pub fn section(h: &HooksBench, data_label: &str, schedule: &str) -> Section {
    let mut s = Section::new(
        "8",
        "Northpass webhooks: freshness and the next incremental run (issue 20)",
    );
    let n = h.completions;
    let (med, max) = (h.median_s(), h.max_s());
    let ok = h.timed_out == 0 && max.is_some_and(|m| m <= TARGET_S);
    s.rows.push(
        Row::new(
            "webhook freshness: completion → summary updated, median / max",
            match (med, max) {
                (Some(a), Some(b)) => format!("{} s / {} s", f(a, 1), f(b, 1)),
                _ => "—".into(),
            },
        )
        .target(format!("≤ {TARGET_S:.0} s"), ok)
        .note(format!(
            "{n} completions (one learner per partner) {} s apart; {} summaries not updated within the wait; {} consumer batches, {} messages; deliveries (sent / 2xx / failed) {}",
            f(h.gap_s, 1),
            h.timed_out,
            h.batches,
            h.messages,
            h.deliveries.map_or("—".into(), |(d, a, x)| format!("{d} / {a} / {x}"))
        )),
    );
    let per_batch = |x: u64| x as f64 / h.batches.max(1) as f64;
    s.rows.push(
        Row::new(
            "webhook consumer: DynamoDB requests / items read per batch",
            format!(
                "{} / {}",
                f(per_batch(h.consumer_requests), 0),
                f(per_batch(h.consumer_items_read), 0)
            ),
        )
        .note(format!(
            "{} Northpass requests for {n} completions (the learners' transcripts); a batch loads the sync snapshot (partners, users, contacts, memberships) before recomputing the touched partners, which on moto sets its time",
            h.consumer_northpass
        )),
    );
    let (a, b) = (&h.after_webhooks, &h.after_polling);
    for (label, r) in [("webhook-delivered", a), ("polled", b)] {
        s.rows.push(
            Row::new(
                format!("next incremental lms-users + lms-enrollments after {n} {label} completions: Northpass requests (transcripts)"),
                format!("{} ({})", r.northpass_requests, r.transcripts),
            )
            .note(format!(
                "{}, {} s; {}",
                r.status,
                f(r.wall_s, 1),
                r.northpass_routes
                    .iter()
                    .map(|(k, v)| format!("`{k}` {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    }
    s.rows.push(
        Row::new(
            "transcripts fetched again by the next incremental run: webhook path vs polling",
            format!("{} vs {}", a.transcripts, b.transcripts),
        )
        .target(
            "webhook < polling (ideally 0)",
            a.status == "succeeded" && b.status == "succeeded" && a.transcripts < b.transcripts,
        )
        .note(format!(
            "the webhook consumer's fetch marker covers the completion, so the run after it need not fetch the learner again (functions/sync/src/markers.rs); in all, the webhook path sent {} Northpass requests ({} by the consumer + {} by the next run) against polling's {}: the transcripts are fetched as often, but when the completion happens",
            h.consumer_northpass + a.northpass_requests,
            h.consumer_northpass,
            a.northpass_requests,
            b.northpass_requests
        )),
    );
    s.rows.push(
        Row::new(
            "polling alone: completions on their summaries after the next run",
            format!("{} / {n}", b.summaries_updated),
        )
        .target(format!("{n} (every completion)"), b.summaries_updated == n)
        .note(format!(
            "correctness check of the comparison; by polling a completion waits for the next scheduled lms-enrollments run ({schedule}) plus the run ({} s here)",
            f(b.wall_s, 1)
        )),
    );
    s.notes.push(format!("Data: {data_label}, after the full sync. Webhooks: the Northpass simulator (infra/src/sim/webhooks.rs) → the reports handler's POST /hooks/northpass/{{secret}} served in-process (portal_reports::local) → moto's SQS → portal_sync::hooks::poll_queue ({LONG_POLL_S} s long poll, up to 10 messages), as tests/tests/hooks_e2e.rs wires it; summaries read every {} ms. The incremental runs are in-process (portal_sync::run_to_completion, Deps::from_config at the simulator's time); Northpass requests from the simulator's counters.", WATCH_EVERY.as_millis()));
    s.raw = serde_json::to_value(h).unwrap_or_default();
    s
}
