//! Result rows (value next to target, verdict), the machine description and
//! the writers for `bench/results/*.json` and `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    Miss,
    /// A number reported for scale, without a target.
    Info,
    /// Not measured in this run; the note says why.
    #[serde(rename = "NOT RUN")]
    NotRun,
}

impl Verdict {
    pub fn of(ok: bool) -> Verdict {
        if ok {
            Verdict::Pass
        } else {
            Verdict::Miss
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Info => "info",
            Verdict::NotRun => "NOT RUN",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub metric: String,
    pub value: String,
    pub target: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Row {
    pub fn new(metric: impl Into<String>, value: impl Into<String>) -> Row {
        Row {
            metric: metric.into(),
            value: value.into(),
            target: String::new(),
            verdict: Verdict::Info,
            note: None,
        }
    }
    pub fn target(mut self, target: impl Into<String>, ok: bool) -> Row {
        self.target = target.into();
        self.verdict = Verdict::of(ok);
        self
    }
    pub fn not_run(
        metric: impl Into<String>,
        target: impl Into<String>,
        why: impl Into<String>,
    ) -> Row {
        Row {
            metric: metric.into(),
            value: "—".into(),
            target: target.into(),
            verdict: Verdict::NotRun,
            note: Some(why.into()),
        }
    }
    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = Some(note.into());
        self
    }
}

/// One numbered measurement of the issue, with its rows, free-form notes,
/// optional extra markdown (tables) and the raw numbers for the JSON file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Section {
    pub id: String,
    pub title: String,
    pub rows: Vec<Row>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub markdown: String,
    #[serde(default)]
    pub raw: Value,
    /// Set on a section kept from an earlier run when a partial run
    /// (`--only`) rewrote the file: which run measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_run: Option<RunRef>,
}

/// The run a kept section was measured by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    pub date: String,
    pub command: String,
    /// Its machine and load: wall times of runs on different boxes differ.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub machine: String,
}

/// Where a section id goes in the results (the order a whole run writes
/// them); unknown ids go last, in the order given.
const SECTION_ORDER: [&str; 10] = ["1", "2", "3", "4", "4i", "4b", "5", "6", "7", "8"];

fn section_rank(id: &str) -> usize {
    SECTION_ORDER
        .iter()
        .position(|x| *x == id)
        .unwrap_or(SECTION_ORDER.len())
}

impl Section {
    pub fn new(id: &str, title: &str) -> Section {
        Section {
            id: id.into(),
            title: title.into(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub memory_mb: u64,
    pub kernel: String,
    /// 1-minute load average when the run started: other builds on a shared
    /// box slow wall times down, so readers can judge the noise.
    pub load_avg_at_start: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_mb = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb / 1024)
            .unwrap_or(0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let load_avg_at_start = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().map(str::to_string))
            .unwrap_or_default();
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_mb,
            kernel,
            load_avg_at_start,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub date: String,
    pub command: String,
    pub mode: String,
    pub machine: Machine,
    pub wall_seconds: f64,
    pub sections: Vec<Section>,
    /// Set while the run is still going (the file is rewritten after each
    /// measurement, so a full run cut short keeps what it measured): the
    /// measurement that was next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<String>,
    /// The `--only` list of a partial run: the sections it measured; the
    /// others were kept from `previous` runs (each marked `from_run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
}

impl Results {
    /// This run's sections plus every section of `previous` (the file this
    /// run replaces) whose id this run did not measure, marked with the
    /// run that did (a section kept twice keeps its first mark), in the
    /// order a whole run writes them.
    pub fn merged_with(mut self, previous: Option<&Results>) -> Results {
        let Some(prev) = previous else {
            return self;
        };
        let ours: std::collections::BTreeSet<String> =
            self.sections.iter().map(|s| s.id.clone()).collect();
        for s in prev.sections.iter().filter(|s| !ours.contains(&s.id)) {
            let mut kept = s.clone();
            kept.from_run.get_or_insert_with(|| RunRef {
                date: prev.date.clone(),
                command: prev.command.clone(),
                machine: format!(
                    "{}, load average {} at its start",
                    prev.machine.cpu_model, prev.machine.load_avg_at_start
                ),
            });
            self.sections.push(kept);
        }
        // Stable: sections of one id keep their order.
        self.sections.sort_by_key(|s| section_rank(&s.id));
        self
    }

    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.sections.iter().flat_map(|s| s.rows.iter())
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut s = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        s.push('\n');
        std::fs::write(path, s)
    }

    /// The results file: machine, date, command, then every number next to
    /// its target.
    pub fn to_markdown(&self, json_path: &str) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(md, "# Benchmarks\n");
        let _ = writeln!(
            md,
            "Generated by `{}` — do not edit by hand; re-run the command.\n",
            self.command
        );
        let _ = writeln!(md, "| | |\n|---|---|");
        let _ = writeln!(md, "| date (UTC) | {} |", self.date);
        let _ = writeln!(md, "| command | `{}` |", self.command);
        let _ = writeln!(md, "| mode | {} |", self.mode);
        let _ = writeln!(
            md,
            "| machine | {} cores (nproc), {}, {} MB RAM, Linux {} |",
            m.nproc, m.cpu_model, m.memory_mb, m.kernel
        );
        let _ = writeln!(md, "| load average at start | {} |", m.load_avg_at_start);
        let _ = writeln!(md, "| bench wall time | {:.0} s |", self.wall_seconds);
        if let Some(next) = &self.unfinished {
            let _ = writeln!(
                md,
                "| status | **unfinished**: the run stopped before {next}; the sections below are what it measured |"
            );
        }
        if let Some(only) = &self.only {
            let _ = writeln!(
                md,
                "| sections run | {only} (`--only`); the others are kept from the earlier run named under their heading |"
            );
        }
        let _ = writeln!(md, "| raw numbers | `{json_path}` |\n");

        let (pass, miss, not_run) = self.rows().fold((0, 0, 0), |(p, m, n), r| match r.verdict {
            Verdict::Pass => (p + 1, m, n),
            Verdict::Miss => (p, m + 1, n),
            Verdict::NotRun => (p, m, n + 1),
            Verdict::Info => (p, m, n),
        });
        let _ = writeln!(
            md,
            "**Targets: {pass} PASS, {miss} MISS, {not_run} NOT RUN.**\n"
        );
        let misses: Vec<&Row> = self.rows().filter(|r| r.verdict == Verdict::Miss).collect();
        if !misses.is_empty() {
            let _ = writeln!(md, "Missed:");
            for r in misses {
                let _ = writeln!(
                    md,
                    "- {} = {} (target {}){}",
                    r.metric,
                    r.value,
                    r.target,
                    r.note
                        .as_deref()
                        .map(|n| format!(" — {n}"))
                        .unwrap_or_default()
                );
            }
            md.push('\n');
        }

        for s in &self.sections {
            let _ = writeln!(md, "## {}. {}\n", s.id, s.title);
            if let Some(r) = &s.from_run {
                let on = if r.machine.is_empty() {
                    String::new()
                } else {
                    format!(" on {}", r.machine)
                };
                let _ = writeln!(
                    md,
                    "_Kept from the run of {} (`{}`{on}): the latest run did not measure this section._\n",
                    r.date, r.command
                );
            }
            if !s.rows.is_empty() {
                let _ = writeln!(md, "| metric | value | target | result | note |");
                let _ = writeln!(md, "|---|---:|---|---|---|");
                for r in &s.rows {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} | {} |",
                        esc(&r.metric),
                        esc(&r.value),
                        esc(&r.target),
                        r.verdict.as_str(),
                        esc(r.note.as_deref().unwrap_or(""))
                    );
                }
                md.push('\n');
            }
            if !s.markdown.is_empty() {
                md.push_str(&s.markdown);
                if !s.markdown.ends_with('\n') {
                    md.push('\n');
                }
                md.push('\n');
            }
            for n in &s.notes {
                let _ = writeln!(md, "- {n}");
            }
            if !s.notes.is_empty() {
                md.push('\n');
            }
        }
        md
    }
}

/// Table cells must not break the markdown table.
fn esc(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Fixed-precision formatting, in one place so every table reads alike.
pub fn f(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(unfinished: Option<&str>) -> Results {
        Results {
            date: "2026-11-23 18:00".into(),
            command: "scripts/bench.sh".into(),
            mode: "full".into(),
            machine: Machine {
                nproc: 2,
                cpu_model: "cpu".into(),
                memory_mb: 1,
                kernel: "k".into(),
                load_avg_at_start: "0.1".into(),
            },
            wall_seconds: 1.0,
            sections: Vec::new(),
            unfinished: unfinished.map(str::to_string),
            only: None,
        }
    }

    fn with_sections(date: &str, ids: &[&str]) -> Results {
        let mut r = results(None);
        r.date = date.into();
        r.sections = ids
            .iter()
            .map(|id| {
                let mut s = Section::new(id, &format!("section {id}"));
                s.rows.push(Row::new("m", date));
                s
            })
            .collect();
        r
    }

    #[test]
    fn a_partial_run_keeps_the_sections_it_did_not_measure() {
        let old = with_sections("old", &["1", "2", "4", "7"]);
        let mut new = with_sections("new", &["8", "4"]);
        new.only = Some("reads,hooks".into());
        let merged = new.merged_with(Some(&old));
        let ids: Vec<&str> = merged.sections.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "4", "7", "8"]);
        let by_id = |id: &str| merged.sections.iter().find(|s| s.id == id).unwrap();
        assert_eq!(by_id("4").rows[0].value, "new", "re-measured wins");
        assert_eq!(by_id("4").from_run, None);
        assert_eq!(by_id("7").from_run.as_ref().unwrap().date, "old");
        let md = merged.to_markdown("x.json");
        assert!(md.contains(
            "_Kept from the run of old (`scripts/bench.sh` on cpu, load average 0.1 at its start)"
        ));
        assert!(md.contains("| sections run | reads,hooks (`--only`)"));
        // Kept again by a later partial run: still names the run that measured it.
        let later = with_sections("later", &["8"]).merged_with(Some(&merged));
        let seven = later.sections.iter().find(|s| s.id == "7").unwrap();
        assert_eq!(seven.from_run.as_ref().unwrap().date, "old");
        assert_eq!(
            later
                .sections
                .iter()
                .find(|s| s.id == "4")
                .unwrap()
                .from_run
                .as_ref()
                .unwrap()
                .date,
            "new"
        );
    }

    #[test]
    fn an_unfinished_run_says_what_it_did_not_reach() {
        let md = results(Some("the reads (§4)")).to_markdown("x.json");
        assert!(md.contains("**unfinished**: the run stopped before the reads (§4)"));
        assert!(!results(None).to_markdown("x.json").contains("unfinished"));
    }

    #[test]
    fn results_files_without_the_marker_still_read() {
        let mut v = serde_json::to_value(results(Some("§4"))).unwrap();
        v.as_object_mut().unwrap().remove("unfinished");
        let r: Results = serde_json::from_value(v).unwrap();
        assert_eq!(r.unfinished, None);
        let done = serde_json::to_value(results(None)).unwrap();
        assert!(done.get("unfinished").is_none(), "finished runs omit it");
    }
}
