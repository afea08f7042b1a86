//! Measurement 6: monthly cost at reference scale = measured counts per run
//! × the schedules of `template.yaml` (its Parameter defaults) × public
//! on-demand prices.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::results::{f, Row, Section};

// Public on-demand list prices, us-east-1, as published on aws.amazon.com
// pricing pages (DynamoDB on-demand, Lambda, SES, API Gateway HTTP APIs),
// read 2026-11. Free tiers are ignored on purpose: the target must hold
// without them.
/// DynamoDB on-demand, per write request unit (1 KB item write).
pub const DDB_PER_WRU: f64 = 1.25 / 1e6;
/// DynamoDB on-demand, per read request unit (one 4 KB strongly consistent read).
pub const DDB_PER_RRU: f64 = 0.25 / 1e6;
/// DynamoDB standard table class storage, per GB-month.
pub const DDB_PER_GB_MONTH: f64 = 0.25;
/// Lambda arm64 compute, per GB-second.
pub const LAMBDA_PER_GB_S: f64 = 0.000_013_333_4;
/// Lambda requests.
pub const LAMBDA_PER_REQUEST: f64 = 0.20 / 1e6;
/// SES outbound mail.
pub const SES_PER_MAIL: f64 = 0.10 / 1000.0;
/// API Gateway HTTP API requests (first 300 M tier).
pub const HTTP_API_PER_REQUEST: f64 = 1.00 / 1e6;
/// Step Functions standard workflows, per state transition.
pub const SFN_PER_TRANSITION: f64 = 0.025 / 1000.0;
/// State transitions of one sync invocation under the template's
/// `SyncStateMachine`: Sync, Continue?, then NextRequest or Done.
pub const SFN_TRANSITIONS_PER_INVOCATION: f64 = 3.0;

/// Function memory from template.yaml (sync 512 MB, reports 512 MB,
/// reminders the Globals' 256 MB) — what Lambda bills GB-seconds on.
pub const SYNC_MEMORY_GB: f64 = 0.5;
pub const REPORTS_MEMORY_GB: f64 = 0.5;
pub const REMINDERS_MEMORY_GB: f64 = 0.25;

/// Days per month (365.25 / 12) and weeks per month.
const DAYS_PER_MONTH: f64 = 30.4375;
const WEEKS_PER_MONTH: f64 = DAYS_PER_MONTH / 7.0;

/// One scheduled event of template.yaml: its Parameter, the expression (the
/// Parameter's default) and the event's input.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScheduledEvent {
    pub parameter: String,
    pub expression: String,
    pub input: serde_json::Value,
    pub runs_per_month: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScheduleError {
    #[error("unsupported schedule expression {0:?}")]
    Unsupported(String),
    #[error("template: {0}")]
    Template(String),
}

/// Runs per month of an EventBridge expression. Supports what the template
/// uses: `rate(N minutes|hours|days)` and `cron(min hour dom month dow year)`
/// with numbers, lists and `*` in minutes/hours and `?`/`*`/day names in dow.
pub fn runs_per_month(expr: &str) -> Result<f64, ScheduleError> {
    let bad = || ScheduleError::Unsupported(expr.to_string());
    let e = expr.trim();
    if let Some(inner) = e.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')) {
        let mut it = inner.split_whitespace();
        let n: f64 = it.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
        let per_day = match it.next().ok_or_else(bad)?.trim_end_matches('s') {
            "minute" => 24.0 * 60.0 / n,
            "hour" => 24.0 / n,
            "day" => 1.0 / n,
            _ => return Err(bad()),
        };
        return Ok(per_day * DAYS_PER_MONTH);
    }
    if let Some(inner) = e.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
        let fields: Vec<&str> = inner.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(bad());
        }
        let count = |field: &str, all: f64| -> Result<f64, ScheduleError> {
            if field == "*" {
                Ok(all)
            } else if field.chars().all(|c| c.is_ascii_digit() || c == ',') {
                Ok(field.split(',').count() as f64)
            } else {
                Err(bad())
            }
        };
        let per_day = count(fields[0], 60.0)? * count(fields[1], 24.0)?;
        let (dom, month, dow) = (fields[2], fields[3], fields[4]);
        if month != "*" {
            return Err(bad());
        }
        return match (dom, dow) {
            ("*", "?") | ("?", "*") | ("*", "*") => Ok(per_day * DAYS_PER_MONTH),
            ("?", days) => Ok(per_day * days.split(',').count() as f64 * WEEKS_PER_MONTH),
            _ => Err(bad()),
        };
    }
    Err(bad())
}

/// Every `Schedule: !Ref <Param>` event with its `Input`, resolved through
/// the Parameter defaults. A small line scanner rather than a YAML parser:
/// CloudFormation's `!Ref`/`!Sub` tags trip generic YAML deserialisers, and
/// the template's layout (one key per line) is stable.
pub fn scheduled_events(template: &str) -> Result<Vec<ScheduledEvent>, ScheduleError> {
    let mut defaults: BTreeMap<String, String> = BTreeMap::new();
    let mut in_params = false;
    let mut current: Option<String> = None;
    for line in template.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_params = line.trim_end() == "Parameters:";
            continue;
        }
        if !in_params {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 2 && t.ends_with(':') && !t.starts_with('#') {
            current = Some(t.trim_end_matches(':').to_string());
        } else if let (Some(p), Some(v)) = (&current, t.strip_prefix("Default:")) {
            defaults.insert(p.clone(), unquote(v.trim()));
        }
    }
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for line in template.lines() {
        let t = line.trim();
        if let Some(p) = t.strip_prefix("Schedule: !Ref ") {
            pending = Some(p.trim().to_string());
        } else if let (Some(p), Some(v)) = (&pending, t.strip_prefix("Input:")) {
            let input: serde_json::Value = serde_json::from_str(&unquote(v.trim()))
                .map_err(|e| ScheduleError::Template(format!("Input of {p}: {e}")))?;
            let expression = defaults
                .get(p)
                .cloned()
                .ok_or_else(|| ScheduleError::Template(format!("no default for parameter {p}")))?;
            out.push(ScheduledEvent {
                parameter: p.clone(),
                runs_per_month: runs_per_month(&expression)?,
                expression,
                input,
            });
            pending = None;
        }
    }
    if out.is_empty() {
        return Err(ScheduleError::Template("no scheduled events found".into()));
    }
    Ok(out)
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2
        && ((s.starts_with('\'') && s.ends_with('\'')) || (s.starts_with('"') && s.ends_with('"')))
    {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

/// What one run (or one request) of something costs in billable units.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Units {
    pub write_units: f64,
    pub read_units: f64,
    pub lambda_gb_s: f64,
    pub lambda_requests: f64,
    pub mails: f64,
    pub http_requests: f64,
    /// Step Functions state transitions (the sync's state machine).
    pub sfn_transitions: f64,
}

impl Units {
    pub fn dollars(&self) -> f64 {
        self.write_units * DDB_PER_WRU
            + self.read_units * DDB_PER_RRU
            + self.lambda_gb_s * LAMBDA_PER_GB_S
            + self.lambda_requests * LAMBDA_PER_REQUEST
            + self.mails * SES_PER_MAIL
            + self.http_requests * HTTP_API_PER_REQUEST
            + self.sfn_transitions * SFN_PER_TRANSITION
    }
    pub fn scaled(&self, k: f64) -> Units {
        Units {
            write_units: self.write_units * k,
            read_units: self.read_units * k,
            lambda_gb_s: self.lambda_gb_s * k,
            lambda_requests: self.lambda_requests * k,
            mails: self.mails * k,
            http_requests: self.http_requests * k,
            sfn_transitions: self.sfn_transitions * k,
        }
    }
}

/// One line of the cost table.
#[derive(Debug, Clone, Serialize)]
pub struct CostLine {
    pub component: String,
    /// Where the per-run numbers come from.
    pub basis: String,
    pub runs_per_month: f64,
    pub per_run: Units,
}

impl CostLine {
    pub fn monthly(&self) -> f64 {
        self.per_run.scaled(self.runs_per_month).dollars()
    }
}

/// The table, the total row checked against the target, and the raw lines.
pub fn section(
    lines: &[CostLine],
    storage_gb: Option<f64>,
    missing: &[String],
    target: f64,
) -> Section {
    let mut s = Section::new(
        "6",
        "Monthly cost at reference scale (us-east-1 on-demand list prices)",
    );
    let mut md = String::new();
    let _ = writeln!(md, "| component | basis | runs/month | WRU/run | RRU/run | Lambda GB-s/run | mails/run | HTTP req/run | SFN transitions/run | $/month |");
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut total = 0.0;
    for l in lines {
        let m = l.monthly();
        total += m;
        let u = &l.per_run;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            l.component,
            l.basis,
            f(l.runs_per_month, 1),
            f(u.write_units, 0),
            f(u.read_units, 0),
            f(u.lambda_gb_s, 2),
            f(u.mails, 0),
            f(u.http_requests, 0),
            f(u.sfn_transitions, 0),
            f(m, 3)
        );
    }
    if let Some(gb) = storage_gb {
        let m = gb * DDB_PER_GB_MONTH;
        total += m;
        let _ = writeln!(
            md,
            "| DynamoDB storage | {} GB (items × 1 KB) | — | | | | | | | {} |",
            f(gb, 3),
            f(m, 3)
        );
    }
    let _ = writeln!(md, "| **total** | | | | | | | | | **{}** |", f(total, 2));
    s.markdown = md;
    let complete = missing.is_empty();
    let row = Row::new(
        "monthly cost at reference scale",
        format!("${}", f(total, 2)),
    );
    // A partial table (quick mode, or a measurement that failed) is shown
    // for scale only: its total is not the reference-scale number.
    s.rows.push(if complete {
        row.target(format!("≤ ${target:.0}/month"), total <= target)
    } else {
        let mut r = row.note(format!(
            "indicative only — not measured: {}",
            missing.join(", ")
        ));
        r.target = format!("≤ ${target:.0}/month (at ref)");
        r
    });
    s.notes.push(format!(
        "Prices (us-east-1, on-demand, free tier ignored): DynamoDB ${}/M WRU, ${}/M RRU, ${}/GB-month; Lambda arm64 ${}/GB-s, ${}/M requests; SES ${}/1000 mails; HTTP API ${}/M requests; Step Functions ${}/1000 state transitions ({SFN_TRANSITIONS_PER_INVOCATION} per sync invocation).",
        DDB_PER_WRU * 1e6, DDB_PER_RRU * 1e6, DDB_PER_GB_MONTH, LAMBDA_PER_GB_S, LAMBDA_PER_REQUEST * 1e6, SES_PER_MAIL * 1000.0, HTTP_API_PER_REQUEST * 1e6, SFN_PER_TRANSITION * 1000.0
    ));
    s.notes.push("WRU/RRU as on-demand DynamoDB bills them, computed by the store from every item it wrote or read (portal_core::store::capacity: item size = names + values; 1 WRU per started KB, failed conditions included; ½ RRU per started 4 KB of an eventually consistent Query page, per item for BatchGetItem, 1 per 4 KB for the strongly consistent GetItem) — the emulator bills nothing itself.".into());
    s.notes.push("Sync Lambda time per run = max(measured wall time, Northpass requests ÷ 10 req/s): production is paced by the template's NorthpassRateLimit (10), the benchmark ran at 100 req/s.".into());
    s.raw = serde_json::json!({ "lines": lines, "storage_gb": storage_gb, "total_usd": total, "missing": missing });
    s
}

// ---- from the measurements -------------------------------------------------

/// Assumed HTTP traffic (nothing schedules it, so it cannot be measured):
/// every partner opens its dashboard 10× a month, and PAMs/admins open
/// 3,000 reports a month. Generous for a program of ~1,200 partners.
pub const DASHBOARD_VIEWS_PER_PARTNER_MONTH: f64 = 10.0;
pub const REPORT_VIEWS_PER_MONTH: f64 = 3000.0;
/// Production Northpass limit (template `NorthpassRateLimit` default): sync
/// time in production is bounded below by requests ÷ this.
pub const PROD_NORTHPASS_RPS: f64 = 10.0;

fn ddb_units(ops: &BTreeMap<String, crate::sync::Op>) -> (f64, f64) {
    let mut w = 0.0;
    let mut r = 0.0;
    for o in ops.values() {
        w += o.write_units;
        r += o.read_units;
    }
    (w, r)
}

/// Cost lines for every scheduled event of the template, from measured runs.
/// What one sync task run costs: its billed DynamoDB units and Lambda time
/// (paced at production's Northpass limit when that is the slower).
pub fn task_units(t: &crate::sync::TaskReport) -> Units {
    let (w, r) = ddb_units(&t.ddb);
    let secs = t
        .wall_s
        .max(t.northpass_requests as f64 / PROD_NORTHPASS_RPS);
    Units {
        write_units: w,
        read_units: r,
        lambda_gb_s: SYNC_MEMORY_GB * secs,
        lambda_requests: t.invocations.max(1) as f64,
        // Every invocation is a step of the sync's state machine.
        sfn_transitions: SFN_TRANSITIONS_PER_INVOCATION * t.invocations.max(1) as f64,
        ..Default::default()
    }
}

/// The runs a cost is computed from.
pub struct SyncRuns<'a> {
    /// The first full sync into an empty table: gives the table's size
    /// (and the one-off cost of the initial load, not a monthly one).
    pub initial: Option<&'a crate::sync::RunMeasure>,
    /// A full re-sync of the already-synced table: what the scheduled
    /// nightly full runs cost (they find the table up to date, as the
    /// incremental runs of the day kept it).
    pub steady_full: Option<&'a crate::sync::RunMeasure>,
    pub incremental: Option<&'a crate::sync::RunMeasure>,
}

/// The one-off cost of a whole run (the initial load): every task once.
pub fn run_units(run: &crate::sync::RunMeasure) -> Units {
    let mut u = Units::default();
    for t in &run.child.tasks {
        let x = task_units(t);
        u.write_units += x.write_units;
        u.read_units += x.read_units;
        u.lambda_gb_s += x.lambda_gb_s;
        u.lambda_requests += x.lambda_requests;
        u.sfn_transitions += x.sfn_transitions;
    }
    u
}

pub fn lines_from(
    events: &[ScheduledEvent],
    runs: &SyncRuns<'_>,
    reads: Option<&crate::reads::Reads>,
) -> (Vec<CostLine>, Option<f64>, Vec<String>) {
    let mut lines = Vec::new();
    let mut missing = Vec::new();
    for e in events {
        if let Some(task) = e.input.get("task").and_then(|v| v.as_str()) {
            let mode = e
                .input
                .get("mode")
                .and_then(|v| v.as_str())
                .unwrap_or("incremental");
            let (run, measured) = if mode == "full" {
                (runs.steady_full, "full re-sync of the synced table")
            } else {
                (runs.incremental, "incremental run after the 1 % change")
            };
            let Some(t) = run.and_then(|m| m.child.tasks.iter().find(|t| t.task == task)) else {
                missing.push(format!("{task} {mode}"));
                continue;
            };
            lines.push(CostLine {
                component: format!("sync {task} ({mode})"),
                basis: format!("`{}`; measured {measured}", e.expression),
                runs_per_month: e.runs_per_month,
                per_run: task_units(t),
            });
        } else if let Some(job) = e.input.get("job").and_then(|v| v.as_str()) {
            let Some(rd) = reads else {
                missing.push(format!("reminders {job}"));
                continue;
            };
            let (rru, wru, mails, ms) = if job == "pam-digest" {
                (
                    rd.digest_read_units,
                    rd.digest_write_units,
                    rd.digest_mails,
                    rd.digest_ms,
                )
            } else {
                (
                    rd.reminders_read_units,
                    rd.reminders_write_units,
                    rd.reminders_mails,
                    rd.reminders_ms,
                )
            };
            lines.push(CostLine {
                component: format!("reminders {job}"),
                basis: format!("`{}`; measured run", e.expression),
                runs_per_month: e.runs_per_month,
                per_run: Units {
                    write_units: wru,
                    read_units: rru,
                    lambda_gb_s: REMINDERS_MEMORY_GB * ms / 1e3,
                    lambda_requests: 1.0,
                    mails: mails as f64,
                    ..Default::default()
                },
            });
        }
    }
    if let Some(rd) = reads {
        let avg = |v: &[crate::reads::RouteReads]| -> (f64, f64, f64) {
            let n = v.len().max(1) as f64;
            (
                v.iter().map(|x| x.read_units).sum::<f64>() / n,
                v.iter().map(|x| x.ms).sum::<f64>() / n,
                n,
            )
        };
        let (dr, dms, _) = avg(&rd.dashboards);
        let (rr, rms, _) = avg(&rd.routes);
        let views = DASHBOARD_VIEWS_PER_PARTNER_MONTH * rd.summaries as f64;
        for (name, per_month, rru, ms) in [
            (format!("HTTP dashboards ({} partners × {DASHBOARD_VIEWS_PER_PARTNER_MONTH:.0}/month, assumed)", rd.summaries), views, dr, dms),
            (format!("HTTP reports ({REPORT_VIEWS_PER_MONTH:.0}/month, assumed)"), REPORT_VIEWS_PER_MONTH, rr, rms),
        ] {
            lines.push(CostLine {
                component: name,
                basis: "measured reads/request, handler time".into(),
                runs_per_month: per_month,
                per_run: Units {
                    read_units: rru,
                    lambda_gb_s: REPORTS_MEMORY_GB * ms.max(1.0) / 1e3,
                    lambda_requests: 1.0,
                    http_requests: 1.0,
                    ..Default::default()
                },
            });
        }
    } else {
        missing.push("HTTP API reads".into());
    }
    // Table size ≈ every distinct item the initial full sync wrote, ~1 KB each.
    let storage = runs
        .initial
        .map(|m| m.child.sum(crate::sync::TaskReport::items_written) as f64 / 1e6);
    (lines, storage, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_crons() {
        assert!((runs_per_month("rate(2 hours)").unwrap() - 12.0 * DAYS_PER_MONTH).abs() < 1e-9);
        assert!((runs_per_month("rate(1 day)").unwrap() - DAYS_PER_MONTH).abs() < 1e-9);
        assert!((runs_per_month("cron(0 7 * * ? *)").unwrap() - DAYS_PER_MONTH).abs() < 1e-9);
        assert!((runs_per_month("cron(0 7 ? * MON *)").unwrap() - WEEKS_PER_MONTH).abs() < 1e-9);
        assert!(
            (runs_per_month("cron(0,30 1 * * ? *)").unwrap() - 2.0 * DAYS_PER_MONTH).abs() < 1e-9
        );
        assert!(runs_per_month("cron(0 7 1 1 ? *)").is_err());
        assert!(runs_per_month("every day").is_err());
    }

    #[test]
    fn reads_the_repository_template() {
        let t = include_str!("../../template.yaml");
        let ev = scheduled_events(t).unwrap();
        let enr = ev
            .iter()
            .find(|e| e.input["task"] == "lms-enrollments" && e.input["mode"] == "incremental")
            .unwrap();
        assert_eq!(enr.parameter, "ScheduleLmsEnrollments");
        assert!(ev.iter().any(|e| e.input["job"] == "reminders"));
    }

    #[test]
    fn cost_adds_up() {
        let u = Units {
            write_units: 1e6,
            read_units: 4e6,
            mails: 1000.0,
            sfn_transitions: 10_000.0,
            ..Default::default()
        };
        assert!((u.dollars() - (1.25 + 1.0 + 0.10 + 0.25)).abs() < 1e-9);
    }
}
