//! The partner dashboard: JSON numbers against the generated data, ONE
//! DynamoDB Query per dashboard (store request counters), summaries-only
//! reads for all-partner reports, and the HTML page rendered by headless
//! Chromium (NPCU and progress as shown), with a screenshot for the README.

mod reports_support;

use std::path::PathBuf;
use std::process::Command;

use reports_support::{world, ADMIN};
use serde_json::{json, Value};

fn chromium() -> &'static str {
    "/usr/bin/chromium"
}

fn chrome_args(extra: &[&str], url: &str) -> Vec<String> {
    let mut a: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a.push(url.to_string());
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_numbers_reads_and_rendering() {
    let w = world().await;
    let views = w.truth.views(w.env.now);
    let sums = w.summaries().await;
    // The partner with the most certifications makes the best picture.
    let s = sums
        .iter()
        .filter(|s| s.required_npcu_hint() > 0)
        .max_by_key(|s| s.certs.len())
        .expect("a partner with certifications");
    let v = &views[&s.partner_id];

    // JSON: numbers equal the independently computed ones.
    let store = &w.env.store;
    store.reset_stats();
    let d = w
        .admin_json(&format!("/api/partners/{}", s.partner_id))
        .await;
    let st = store.stats();
    assert_eq!(st.requests("Query"), 1, "a dashboard is one Query: {st:?}");
    assert_eq!(st.total_requests(), 1, "and nothing else: {st:?}");
    assert_eq!(d["npcu"], v.npcu);
    assert_eq!(d["required_npcu"], v.required_npcu);
    assert_eq!(d["meets_requirement"], v.meets_requirement);
    assert_eq!(d["certified_users"], v.certified_users);
    let cat_npcu: u64 = d["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["npcu"].as_u64().unwrap())
        .sum();
    assert_eq!(cat_npcu, u64::from(v.npcu), "categories add up");

    // All-partner reports read summaries only: one index Query's worth of
    // items, no enrollment or certification rows.
    for report in ["overview", "leaderboard", "gaps", "partners-without-groups"] {
        store.reset_stats();
        w.admin_json(&format!("/api/reports/{report}")).await;
        let st = store.stats();
        assert_eq!(
            st.total_requests(),
            st.requests("Query"),
            "{report}: {st:?}"
        );
        let all = store.all_summaries().await.unwrap().len() as u64;
        assert_eq!(
            st.op("Query").items_read,
            all,
            "{report} reads exactly the summaries"
        );
    }

    // The private page: one GetItem (the link) + one Query.
    let r = w
        .send(
            reqwest::Method::POST,
            "/api/admin/tokens",
            Some(ADMIN),
            Some(json!({"kind": "partner_link", "partner_id": s.partner_id})),
        )
        .await;
    let link: Value = r.json().await.unwrap();
    let url = link["url"].as_str().unwrap().to_string();
    let path = url
        .split_once("/p/")
        .map(|(_, t)| format!("/p/{t}"))
        .unwrap();
    store.reset_stats();
    let html = w.get(&path, None).await.text().await.unwrap();
    let st = store.stats();
    assert_eq!(
        (
            st.requests("GetItem"),
            st.requests("Query"),
            st.total_requests()
        ),
        (1, 1, 2),
        "{st:?}"
    );
    assert!(html.contains(&format!(r#"<strong id="npcu">{}</strong>"#, v.npcu)));

    // Headless Chromium renders it: NPCU, requirement and progress as shown.
    let page = w.url(&path);
    let out = Command::new(chromium())
        .args(chrome_args(&["--dump-dom"], &page))
        .output()
        .expect("chromium runs (apt-get install -y chromium)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    // No requirement means the bar is full.
    let percent = (v.npcu * 100)
        .checked_div(v.required_npcu)
        .map_or(100, |p| p.min(100));
    assert!(
        dom.contains(&format!(r#"<strong id="npcu">{}</strong>"#, v.npcu)),
        "{dom}"
    );
    assert!(dom.contains(&format!(
        r#"<strong id="required">{}</strong>"#,
        v.required_npcu
    )));
    assert!(dom.contains(&format!(r#"aria-valuenow="{percent}""#)));
    assert!(dom.contains(&format!(r#"<span id="progress-text">{percent}%</span>"#)));
    assert!(dom.contains(if v.meets_requirement {
        ">Met<"
    } else {
        ">Not met<"
    }));
    assert!(dom.contains(&format!("width:{percent}%")));

    // Screenshot for the README (phone-ish width shows the responsive CSS).
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/dashboard.png");
    let arg = format!("--screenshot={}", shot.display());
    let out = Command::new(chromium())
        .args(chrome_args(&[&arg, "--window-size=1000,1400"], &page))
        .output()
        .expect("chromium screenshot");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[1..4], b"PNG");
}

/// Requirement of the partner's tier, to pick one that has a bar to fill.
trait Hint {
    fn required_npcu_hint(&self) -> u32;
}
impl Hint for portal_core::model::PartnerSummary {
    fn required_npcu_hint(&self) -> u32 {
        portal_core::model::TierRequirements::default().required(self.tier)
    }
}
