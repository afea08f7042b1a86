//! The NPCU chart in headless Chromium, on the partner's own dashboard
//! (`/p/{link}`) and on the staff partner page: it renders (a laid-out SVG
//! with its paths), marks the drop date the API forecasts, carries a text
//! alternative (`<title>`, `<desc>`, a sentence and a table) and the
//! "renew these by" list, and uses no inline style. A picture of the
//! chart goes to the temp dir, or where `PORTAL_CHART_SCREENSHOT_OUT` says
//! (`scripts/screenshots.sh` refreshes the README's that way).

mod web_support;

use serde_json::{json, Value};
use web_support::{world, Browser, World, ADMIN};

/// Checks the chart on the page shown; `api` is the partner's forecast
/// over the chart's window.
async fn check_chart(b: &Browser, api: &Value) {
    assert_eq!(b.count("svg#chart").await, 1, "one chart");
    let width = b
        .client
        .execute(
            "return document.querySelector('#chart').getBoundingClientRect().width",
            vec![],
        )
        .await
        .expect("layout");
    assert!(width.as_f64().unwrap() > 200.0, "laid out: {width}");
    for id in ["#chart-past", "#chart-forecast"] {
        let d = b.attr(id, "d").await.unwrap_or_default();
        assert!(d.starts_with('M') && d.contains('H'), "{id}: {d}");
    }
    let drop = api["drops_below_on"].as_str().expect("a drop date");
    assert_eq!(b.count("#chart-drop").await, 1);
    assert!(b.text("#chart-drop-label").await.contains(drop));
    assert_eq!(b.count("#chart-required").await, 1);
    // The text alternative: the SVG is labelled by its title and
    // description, which say the drop date; so do the visible sentence and
    // the table.
    assert_eq!(
        b.attr("#chart", "aria-labelledby").await.as_deref(),
        Some("chart-title chart-desc")
    );
    assert_eq!(b.attr("#chart", "role").await.as_deref(), Some("img"));
    let desc = b
        .client
        .execute(
            "return document.querySelector('#chart-desc').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(desc.as_str().unwrap().contains(drop), "{desc}");
    assert!(b.text("#chart-summary").await.contains(drop));
    let table = b
        .client
        .execute(
            "return document.querySelector('#chart-table').textContent",
            vec![],
        )
        .await
        .unwrap();
    let table = table.as_str().unwrap();
    assert!(table.contains(drop), "the drop date is a row of the table");
    assert!(
        b.count("#chart-table tbody tr").await >= 18,
        "a row a month"
    );
    assert!(b.count("#chart-table th[scope=row]").await >= 18);
    // The renewals that keep the tier.
    let renewals = api["renewals"].as_array().unwrap();
    assert!(!renewals.is_empty());
    assert_eq!(b.count("#renewals li").await, renewals.len());
    let heading = b.text("#renew-h").await;
    assert!(
        heading.contains(api["renew_by"].as_str().unwrap()),
        "{heading}"
    );
    let first = b.text("#renewals li").await;
    assert!(
        first.contains(renewals[0]["course_name"].as_str().unwrap()),
        "{first}"
    );
    // Nothing styled inline.
    let styled = b
        .client
        .execute(
            "return document.querySelectorAll('#forecast [style]').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(styled, json!(0));
}

/// A partner dropping below its tier within the chart's six months, and
/// its forecast over that window.
async fn at_risk(w: &World) -> (String, Value) {
    let today = w.env.now.date_naive();
    let days = (today.checked_add_months(chrono::Months::new(6)).unwrap() - today).num_days();
    let r = w
        .admin_json(&format!(
            "/api/reports/tier-at-risk?days={days}&sort=renewals_needed"
        ))
        .await;
    let row = r["data"]
        .as_array()
        .unwrap()
        .first()
        .cloned()
        .expect("the data set has a partner at risk within 6 months");
    let id = row["partner_id"].as_str().unwrap().to_string();
    let f = w
        .admin_json(&format!("/api/partners/{id}/forecast?days={days}"))
        .await;
    assert_eq!(f["drops_below_on"], row["drops_below_on"]);
    (id, f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_chart_shows_the_drop_date_with_a_text_alternative() {
    let w = world().await;
    let (id, forecast) = at_risk(&w).await;
    let r = w
        .http
        .post(w.url("/api/admin/tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({"kind": "partner_link", "partner_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let link: Value = r.json().await.unwrap();
    let link = link["token"].as_str().unwrap().to_string();

    let b = Browser::start(&w.server.url()).await;
    // The partner's own dashboard.
    b.goto(&format!("/p/{link}")).await;
    check_chart(&b, &forecast).await;
    let png = b
        .client
        .find(fantoccini::Locator::Css("#forecast"))
        .await
        .unwrap()
        .screenshot()
        .await
        .expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let out = std::env::var_os("PORTAL_CHART_SCREENSHOT_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("portal-chart-{}.png", std::process::id()))
        });
    std::fs::write(&out, png).expect("write the picture");
    // The staff partner page shows the same chart once.
    b.sign_in_with_token(ADMIN).await;
    b.goto(&format!("/partners/{id}")).await;
    check_chart(&b, &forecast).await;
    b.quit().await;
}
