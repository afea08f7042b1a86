//! Measurement 4b: domain compute time of each report over in-memory data.
//! The timing itself is the criterion bench `benches/reports.rs`; this
//! module reads criterion's estimates back into result rows.

use std::path::Path;

use crate::results::{f, Row};

/// Criterion group the report benches use (`target/criterion/<GROUP>/…`).
pub const GROUP: &str = "report_compute";

/// One row per bench of [`GROUP`]: mean time per report build.
pub fn read_criterion(dir: &Path) -> std::io::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let group = dir.join(GROUP);
    let mut entries: Vec<_> = std::fs::read_dir(&group)?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let est = e.path().join("new").join("estimates.json");
        let Ok(text) = std::fs::read_to_string(&est) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        let Some(ns) = v
            .pointer("/mean/point_estimate")
            .and_then(serde_json::Value::as_f64)
        else {
            continue;
        };
        let name = e.file_name().to_string_lossy().to_string();
        let value = if ns >= 1e6 {
            format!("{} ms", f(ns / 1e6, 2))
        } else {
            format!("{} µs", f(ns / 1e3, 1))
        };
        rows.push(
            Row::new(format!("compute: {name}"), value)
                .note("criterion mean, release (bench) profile"),
        );
    }
    Ok(rows)
}

// ---- the report computations, shared by criterion and the quick loop --------

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use portal_core::model::{CertRow, Contact, LmsUser, Partner, PartnerSummary, TierRequirements};
use portal_core::reports::rows;
use serde::{Deserialize, Serialize};

/// The table's contents after the full sync, as the report handlers read
/// them; written by `portal-bench run` to `target/bench-data/<mode>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchData {
    pub label: String,
    pub now: DateTime<Utc>,
    pub warning_days: u32,
    pub tiers: TierRequirements,
    pub summaries: Vec<PartnerSummary>,
    pub cert_rows: Vec<(String, CertRow)>,
    pub contacts: Vec<Contact>,
    pub users: Vec<LmsUser>,
    pub partners: Vec<Partner>,
}

/// Where `portal-bench run` leaves the data for `cargo bench`.
pub fn data_path(target_dir: &Path, mode: &str) -> std::path::PathBuf {
    target_dir.join("bench-data").join(format!("{mode}.json"))
}

/// One report: name and its whole domain computation (scoring included, as
/// the handler does it per request). Returns the row count so the work is
/// observable and cannot be optimised away.
pub type Case = (&'static str, fn(&BenchData) -> usize);

pub const CASES: &[Case] = &[
    ("overview", |d| {
        let s = rows::score(&d.summaries, d.now, d.warning_days, &d.tiers);
        std::hint::black_box(rows::overview(&s));
        s.len()
    }),
    ("leaderboard", |d| {
        rows::leaderboard(&rows::score(&d.summaries, d.now, d.warning_days, &d.tiers)).len()
    }),
    ("gaps", |d| {
        rows::gaps(&rows::score(&d.summaries, d.now, d.warning_days, &d.tiers)).len()
    }),
    ("owners", |d| {
        rows::owners(
            &rows::score(&d.summaries, d.now, d.warning_days, &d.tiers),
            |id| Some(format!("https://portal/p/{id}")),
        )
        .len()
    }),
    ("partners-without-groups", |d| {
        rows::without_groups(&rows::score(&d.summaries, d.now, d.warning_days, &d.tiers)).len()
    }),
    ("user-certifications", |d| {
        let by_partner: HashMap<&str, &PartnerSummary> = d
            .summaries
            .iter()
            .map(|s| (s.partner_id.as_str(), s))
            .collect();
        let mut grouped: HashMap<&str, Vec<CertRow>> = HashMap::new();
        for (pid, r) in &d.cert_rows {
            grouped.entry(pid.as_str()).or_default().push(r.clone());
        }
        let filter = rows::CertFilter {
            status: None,
            course: None,
            category: None,
        };
        let mut out = Vec::new();
        for (pid, certs) in &grouped {
            if let Some(p) = by_partner.get(pid) {
                out.extend(rows::user_cert_rows(
                    p,
                    certs,
                    &filter,
                    d.now,
                    d.warning_days,
                ));
            }
        }
        rows::sort_user_certs(&mut out);
        out.len()
    }),
    ("expiring-90d", |d| {
        let by_partner: HashMap<&str, &PartnerSummary> = d
            .summaries
            .iter()
            .map(|s| (s.partner_id.as_str(), s))
            .collect();
        let pairs = d
            .cert_rows
            .iter()
            .filter_map(|(pid, r)| by_partner.get(pid.as_str()).map(|p| (*p, r)));
        rows::expiring_rows(pairs, d.now, 90).len()
    }),
    ("contacts-not-in-lms", |d| {
        let s = rows::score(&d.summaries, d.now, d.warning_days, &d.tiers);
        rows::contacts_not_in_lms(&d.contacts, &s).len()
    }),
    ("orphans", |d| {
        // Members = every user counted by some partner (the cert rows name them).
        let members: BTreeSet<String> =
            d.cert_rows.iter().map(|(_, r)| r.user_id.clone()).collect();
        rows::orphans(&d.users, &members, &d.partners, &d.contacts).len()
    }),
];

/// Quick mode's stand-in for criterion: mean of a timed loop (≥ 5 runs or
/// ≥ 0.3 s per case), in whatever profile this binary was built.
pub fn timed_loop(d: &BenchData, profile: &str) -> Vec<Row> {
    CASES
        .iter()
        .map(|(name, f_case)| {
            let start = Instant::now();
            let mut n = 0u32;
            let mut rows_out = 0;
            while n < 5 || start.elapsed() < Duration::from_millis(300) {
                rows_out = std::hint::black_box(f_case(std::hint::black_box(d)));
                n += 1;
            }
            let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
            let value = if ns >= 1e6 {
                format!("{} ms", f(ns / 1e6, 2))
            } else {
                format!("{} µs", f(ns / 1e3, 1))
            };
            Row::new(format!("compute: {name}"), value)
                .note(format!("{rows_out} rows; timed loop ×{n}, {profile} build"))
        })
        .collect()
}
