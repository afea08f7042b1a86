//! Domain compute time of each report over the synced data in memory
//! (measurement 4b). The data is what `portal-bench run` read back from the
//! table after its full sync (`target/bench-data/{full,quick}.json`, or
//! `$BENCH_DATA`), so the numbers are for the real data shape and scale.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use portal_bench::compute::{BenchData, CASES, GROUP};

fn load() -> Option<BenchData> {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    let candidates: Vec<PathBuf> = match std::env::var_os("BENCH_DATA") {
        Some(p) => vec![PathBuf::from(p)],
        None => vec![target.join("full.json"), target.join("quick.json")],
    };
    candidates.iter().find_map(|p| {
        let text = std::fs::read_to_string(p).ok()?;
        serde_json::from_str(&text).ok()
    })
}

fn reports(c: &mut Criterion) {
    let Some(data) = load() else {
        eprintln!("no bench data: run scripts/bench.sh first (it writes target/bench-data/*.json)");
        return;
    };
    eprintln!(
        "bench data: {} ({} summaries, {} cert rows)",
        data.label,
        data.summaries.len(),
        data.cert_rows.len()
    );
    let mut g = c.benchmark_group(GROUP);
    g.sample_size(20);
    for (name, case) in CASES {
        g.bench_function(*name, |b| b.iter(|| case(std::hint::black_box(&data))));
    }
    g.finish();
}

criterion_group!(benches, reports);
criterion_main!(benches);
