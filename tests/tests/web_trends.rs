//! The portal home's trend chart in headless Chromium: it renders (a
//! laid-out SVG with a bar pair a month and the net line), its numbers
//! are the `trends` report's (as the caller's scope sees them: the admin's
//! whole program, a PAM's own partners), it carries a text alternative
//! (`<title>`, `<desc>`, a sentence and a table with row headers) and uses
//! no inline style. The new reports show as portal pages, and a partner
//! downloads its own certification list from its dashboard.

mod web_support;

use serde_json::{json, Value};
use web_support::{world, Browser, World, ADMIN};

/// Σ of a column over the `trends` rows (12 months, no group) as `token`.
async fn trend_totals(w: &World, token: &str) -> (u64, u64, u64) {
    let r = w
        .http
        .get(w.url("/api/reports/trends?by=month&periods=12"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let rows = v["data"].as_array().unwrap();
    assert_eq!(rows.len(), 12);
    let sum = |c: &str| rows.iter().map(|r| r[c].as_u64().unwrap()).sum::<u64>();
    (
        sum("new_certifications"),
        sum("new_npcu"),
        sum("expired_npcu"),
    )
}

async fn check_trend_chart(b: &Browser, totals: (u64, u64, u64)) {
    assert_eq!(b.count("svg#trend-chart").await, 1, "one chart");
    let width = b
        .client
        .execute(
            "return document.querySelector('#trend-chart').getBoundingClientRect().width",
            vec![],
        )
        .await
        .expect("layout");
    assert!(width.as_f64().unwrap() > 200.0, "laid out: {width}");
    assert_eq!(b.count("#trend-chart rect.trend-up").await, 12);
    assert_eq!(b.count("#trend-chart rect.trend-down").await, 12);
    let net = b.attr("#trend-net", "d").await.unwrap_or_default();
    assert!(
        net.starts_with('M') && net.matches('L').count() == 11,
        "{net}"
    );
    assert_eq!(
        b.attr("#trend-chart", "aria-labelledby").await.as_deref(),
        Some("trend-title trend-desc")
    );
    assert_eq!(b.attr("#trend-chart", "role").await.as_deref(), Some("img"));
    let (certs, gained, lost) = totals;
    let said =
        format!("{certs} new certifications brought {gained} NPCU, expirations took {lost} NPCU");
    let desc = b
        .client
        .execute(
            "return document.querySelector('#trend-desc').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert!(desc.as_str().unwrap().contains(&said), "{desc} / {said}");
    assert!(b.text("#trend-summary").await.contains(&said));
    assert_eq!(b.count("#trend-table tbody tr").await, 12);
    assert_eq!(b.count("#trend-table th[scope=row]").await, 12);
    let styled = b
        .client
        .execute(
            "return document.querySelectorAll('#trend [style]').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(styled, json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_trend_chart_new_report_pages_and_the_partner_download() {
    let w = world().await;
    let admin_totals = trend_totals(&w, ADMIN).await;
    assert!(
        admin_totals.0 > 0,
        "the data set completes certifications in a year"
    );

    let b = Browser::start(&w.server.url()).await;
    b.sign_in_with_token(ADMIN).await;
    b.goto("/").await;
    check_trend_chart(&b, admin_totals).await;

    // The new reports are portal pages with their rows.
    for (name, title) in [
        ("trends", "Trends"),
        ("recent-certifications", "Recent certifications"),
        ("popular-courses", "Popular courses"),
        ("inactive-users", "Inactive users"),
        ("lms-users-not-in-crm", "LMS users not in the CRM"),
        ("group-audit", "Group audit"),
    ] {
        b.goto(&format!("/reports/{name}")).await;
        assert!(b.text("h1").await.contains(title), "{name}");
        let api = w.admin_json(&format!("/api/reports/{name}?limit=1")).await;
        let total = api["meta"]["total"].as_u64().unwrap();
        assert!(
            b.source().await.contains(&format!("{total}")),
            "{name}: the page shows the row count {total}"
        );
    }
    b.goto("/reports/trends?by=week&group=category").await;
    assert_eq!(
        b.attr("#f-by option[selected]", "value").await.as_deref(),
        Some("week")
    );

    // A PAM's home charts only their partners.
    let (pam, _, _) = w.pam_and_other().await;
    let (_, token) = w.pam_token(&pam).await;
    let pam_totals = trend_totals(&w, &token).await;
    assert!(pam_totals.1 <= admin_totals.1);
    b.forget_cookies().await;
    b.sign_in_with_token(&token).await;
    b.goto("/").await;
    check_trend_chart(&b, pam_totals).await;

    // The partner's own dashboard links its certification list.
    let summary = w
        .summaries()
        .await
        .into_iter()
        .find(|s| s.view(w.env.now, 30, &Default::default()).certifications > 0)
        .expect("a partner with certifications");
    let r = w
        .http
        .post(w.url("/api/admin/tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({"kind": "partner_link", "partner_id": summary.partner_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let link: Value = r.json().await.unwrap();
    let link = link["token"].as_str().unwrap().to_string();
    b.forget_cookies().await;
    b.goto(&format!("/p/{link}")).await;
    // Relative to `/p/{link}`, so it works under any base path.
    let csv_href = b.attr("#download-csv", "href").await.expect("a CSV link");
    assert_eq!(csv_href, format!("{link}/certifications.csv"));
    let csv_href = w.url(&format!("/p/{csv_href}"));
    let csv = w.http.get(&csv_href).send().await.unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("partner_id,partner_name"), "{text}");
    let api = w
        .admin_json(&format!(
            "/api/reports/user-certifications?partner={}&limit=1000&page=1",
            summary.partner_id
        ))
        .await;
    let lines = text.lines().count() - 1;
    assert_eq!(lines as u64, api["meta"]["total"].as_u64().unwrap());
    assert!(text
        .lines()
        .skip(1)
        .all(|l| l.starts_with(&summary.partner_id)));
    let xlsx_href = b.attr("#download-xlsx", "href").await.unwrap();
    assert_eq!(xlsx_href, format!("{link}/certifications.xlsx"));
    let xlsx_href = w.url(&format!("/p/{xlsx_href}"));
    let xlsx = w.http.get(&xlsx_href).send().await.unwrap();
    assert_eq!(xlsx.status(), 200);
    assert!(xlsx.bytes().await.unwrap().starts_with(b"PK"), "a zip");
    // A forged link downloads nothing.
    let forged = w
        .http
        .get(w.url("/p/not-a-link/certifications.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);
    b.quit().await;
}
