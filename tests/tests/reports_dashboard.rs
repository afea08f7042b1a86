//! The partner dashboard: JSON numbers against the generated data, ONE
//! DynamoDB Query per dashboard (store request counters), summaries-only
//! reads for all-partner reports, and the HTML page rendered by headless
//! Chromium (NPCU and progress as shown), with a screenshot — into a temp
//! dir, or where `PORTAL_SCREENSHOT_OUT` says (`scripts/screenshots.sh`
//! refreshes the README's picture that way).

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
    let numbers = w.reference.numbers(w.env.now);
    let sums = w.summaries().await;
    // The partner with the most certifications among those whose tier has
    // a bar to fill makes the best picture.
    let required = |id: &str| w.reference.required(&w.reference.partners[id]);
    let s = sums
        .iter()
        .filter(|s| required(&s.partner_id).is_some_and(|r| r > 0))
        .max_by_key(|s| portal_core::rules::summary::row_count(s))
        .expect("a partner with certifications");
    let v = &numbers[&s.partner_id];
    let req = required(&s.partner_id).unwrap();
    let meets = v.npcu >= req;
    assert!(v.npcu > 0, "{v:?}");

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
    assert_eq!(d["required_npcu"], req);
    assert_eq!(d["meets_requirement"], meets);
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

    // The private page: one GetItem (the link), one Query of the partner's
    // partition and one of its stored history (the chart's past).
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
        (1, 2, 3),
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
    let percent = (v.npcu * 100 / req).min(100);
    assert!(
        dom.contains(&format!(r#"<strong id="npcu">{}</strong>"#, v.npcu)),
        "{dom}"
    );
    assert!(dom.contains(&format!(r#"<strong id="required">{req}</strong>"#)));
    assert!(dom.contains(&format!(r#"aria-valuenow="{percent}""#)));
    assert!(dom.contains(&format!(r#"<span id="progress-text">{percent}%</span>"#)));
    assert!(dom.contains(if meets { ">Met<" } else { ">Not met<" }));
    assert!(dom.contains(&format!("width:{percent}%")));

    // Screenshot (phone-ish width shows the responsive CSS); never into the
    // work tree unless asked.
    let shot = match std::env::var_os("PORTAL_SCREENSHOT_OUT") {
        Some(p) => PathBuf::from(p),
        None => std::env::temp_dir().join(format!(
            "portal-dashboard-{}-{}.png",
            std::process::id(),
            w.env.table
        )),
    };
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
    if std::env::var_os("PORTAL_SCREENSHOT_OUT").is_none() {
        let _ = std::fs::remove_file(&shot);
    }
}
