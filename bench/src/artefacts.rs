//! Measurement 5: Lambda bootstrap sizes (from `scripts/lambda-build.sh`'s
//! `target/lambda-sizes.txt`) and cold-start init time.

use std::path::Path;

use serde::Serialize;

use crate::results::{f, Row, Section};

/// The size target per bootstrap.
pub const MAX_BOOTSTRAP_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BootstrapSize {
    pub function: String,
    pub bytes: u64,
}

/// Parses lines like `sync   9876543 bytes   9.42 MB  ok`.
pub fn parse_sizes(text: &str) -> Vec<BootstrapSize> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let function = it.next()?.to_string();
            let bytes = it.next()?.parse().ok()?;
            (it.next()? == "bytes").then_some(BootstrapSize { function, bytes })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct ColdStart {
    pub function: String,
    /// Which binary ran (the arm64 bootstrap cannot run on an x86 host).
    pub binary: String,
    /// Process spawn → first `/next` poll, per attempt.
    pub init_ms: Vec<f64>,
}

/// Size rows; `provenance` says whether lambda-build ran in this run.
pub fn section(
    sizes_file: &Path,
    provenance: &str,
    cold: Result<Vec<ColdStart>, String>,
) -> Section {
    let mut s = Section::new(
        "5",
        "Lambda artefacts (arm64 release bootstraps, cold start)",
    );
    match std::fs::read_to_string(sizes_file) {
        Ok(text) => {
            let sizes = parse_sizes(&text);
            let age = std::fs::metadata(sizes_file)
                .and_then(|m| m.modified())
                .ok()
                .map(|t| {
                    chrono::DateTime::<chrono::Utc>::from(t)
                        .format("%Y-%m-%d %H:%M UTC")
                        .to_string()
                })
                .unwrap_or_default();
            let stale = newer_source(sizes_file);
            for b in &sizes {
                let row = Row::new(
                    format!("bootstrap size: {}", b.function),
                    format!(
                        "{} MB ({} bytes)",
                        f(b.bytes as f64 / 1048576.0, 2),
                        b.bytes
                    ),
                );
                s.rows.push(match &stale {
                    // Sizes of an older tree say nothing about this one.
                    Some(src) => Row {
                        verdict: crate::results::Verdict::NotRun,
                        target: "≤ 10 MB".into(),
                        ..row
                    }
                    .note(format!(
                        "stale: {src} is newer than the sizes file; run scripts/lambda-build.sh"
                    )),
                    None => row.target("≤ 10 MB", b.bytes <= MAX_BOOTSTRAP_BYTES),
                });
            }
            s.notes.push(format!(
                "Sizes from {} (written {age}); {provenance}.",
                sizes_file.display()
            ));
            s.raw = serde_json::json!({ "sizes": sizes, "sizes_file_written": age, "provenance": provenance });
        }
        Err(e) => {
            s.rows.push(Row::not_run(
                "bootstrap sizes",
                "≤ 10 MB",
                format!("{}: {e}; run scripts/lambda-build.sh", sizes_file.display()),
            ));
        }
    }
    match cold {
        Ok(list) => {
            for c in &list {
                let mut v = c.init_ms.clone();
                v.sort_by(f64::total_cmp);
                let median = v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
                s.rows.push(
                    Row::new(
                        format!("cold-start init: {}", c.function),
                        format!("{} ms (median of {})", f(median, 1), v.len()),
                    )
                    .note(format!("binary {}", c.binary)),
                );
            }
            if let Some(raw) = s.raw.as_object_mut() {
                raw.insert(
                    "cold_start".into(),
                    serde_json::to_value(&list).unwrap_or_default(),
                );
            } else {
                s.raw = serde_json::json!({ "cold_start": list });
            }
            s.notes.push("Cold start = process spawn → first GET /runtime/invocation/next under portal_infra's Runtime API emulator, x86-64 host build of the same code (the arm64 bootstrap cannot execute here).".into());
        }
        Err(why) => s.rows.push(Row::not_run(
            "cold-start init time",
            "measured (no target)",
            why,
        )),
    }
    s
}

/// A Rust source of the functions or the shared crate newer than `file`
/// (then the sizes in `file` belong to an older tree).
fn newer_source(file: &Path) -> Option<String> {
    let built = std::fs::metadata(file).and_then(|m| m.modified()).ok()?;
    let mut stack: Vec<std::path::PathBuf> = ["functions", "shared/src"]
        .iter()
        .map(std::path::PathBuf::from)
        .collect();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs")
                && e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t > built)
            {
                return Some(p.display().to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lambda_build_output() {
        let t = "sync           306360 bytes    0.29 MB  ok\nreports    11000000 bytes   10.49 MB  TOO LARGE (limit 10485760 bytes)\n";
        let v = parse_sizes(t);
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0],
            BootstrapSize {
                function: "sync".into(),
                bytes: 306360
            }
        );
        assert!(v[1].bytes > MAX_BOOTSTRAP_BYTES);
    }
}
