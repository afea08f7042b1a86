//! Reports as pages in headless Chromium: a report filtered through its
//! form (tier + free-text search) shows the API's rows and count, sorting
//! by a column header, the CSV and Excel exports behind the page's buttons
//! hold exactly the API's filtered rows, and a PAM is denied another PAM's
//! partner by page and by export.

mod web_support;

use calamine::{Reader, Xlsx};
use reqwest::Method;
use serde_json::Value;
use web_support::{world, Browser, ADMIN};

/// Partner ids of CSV export bytes, in row order.
fn csv_ids(bytes: &[u8]) -> Vec<String> {
    let mut r = csv::Reader::from_reader(bytes);
    let col = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "partner_id")
        .expect("partner_id column");
    r.records()
        .map(|rec| rec.unwrap()[col].to_string())
        .collect()
}

/// Partner ids of XLSX export bytes (first sheet), in row order.
fn xlsx_ids(bytes: Vec<u8>) -> Vec<String> {
    let mut x: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).expect("xlsx");
    let name = x.sheet_names()[0].clone();
    let range = x.worksheet_range(&name).expect("sheet");
    let mut rows = range.rows();
    let header: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    let col = header
        .iter()
        .position(|h| h.to_lowercase().replace(' ', "_").contains("partner_id"))
        .unwrap_or_else(|| panic!("partner id column in {header:?}"));
    rows.map(|r| r[col].to_string()).collect()
}

fn ids(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["partner_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_report_exports_and_pam_scope() {
    let w = world().await;
    let sums = w.summaries().await;
    // The commonest tier, and a search term hitting some of its partners.
    let mut tiers: Vec<&str> = sums
        .iter()
        .filter_map(|s| s.tier.as_ref().map(|t| t.as_str()))
        .collect();
    tiers.sort();
    let tier = tiers
        .chunk_by(|a, b| a == b)
        .max_by_key(|c| c.len())
        .unwrap()[0]
        .to_string();
    let pick = sums
        .iter()
        .find(|s| s.tier.as_ref().map(|t| t.as_str()) == Some(tier.as_str()))
        .unwrap();
    let term: String = pick.name.chars().take(3).collect::<String>().to_lowercase();
    let mut u = reqwest::Url::parse("http://x/").unwrap();
    u.query_pairs_mut()
        .append_pair("tier", &tier)
        .append_pair("q", &term);
    let api_q = u.query().unwrap().to_string();
    let api = w
        .admin_json(&format!("/api/reports/leaderboard?{api_q}&limit=1000"))
        .await;
    let total = api["meta"]["total"].as_u64().unwrap();
    assert!(total >= 1, "the search finds the picked partner");
    assert!(
        (total as usize) < sums.len(),
        "the filters narrow the report ({total} of {})",
        sums.len()
    );

    let b = Browser::start(&w.server.url()).await;
    b.sign_in_with_token(ADMIN).await;
    b.goto("/reports/leaderboard").await;
    b.fill("#f-tier", &tier).await;
    b.fill("#f-q", &term).await;
    b.click("#apply").await;
    let count = b.text("#row-count").await;
    assert_eq!(
        count,
        format!("{total} {}", if total == 1 { "row" } else { "rows" })
    );
    assert_eq!(b.count("#report tbody tr").await, total.min(100) as usize);
    // Partner names link to the partner page, in the API's order.
    let first = &api["data"][0];
    let href = b
        .attr("#report tbody tr:first-child a", "href")
        .await
        .unwrap();
    assert!(
        href.ends_with(&format!(
            "/partners/{}",
            first["partner_id"].as_str().unwrap()
        )),
        "{href}"
    );

    // Sorting by a header: the API's order for the same sort.
    b.click("#report thead th:nth-child(3) a").await; // name
    assert_eq!(
        b.attr("#report thead th:nth-child(3)", "aria-sort")
            .await
            .as_deref(),
        Some("ascending")
    );
    let sorted = w
        .admin_json(&format!(
            "/api/reports/leaderboard?{api_q}&sort=name&limit=1000"
        ))
        .await;
    let shown = b.text("#report tbody tr:first-child td:nth-child(3)").await;
    assert_eq!(shown, sorted["data"][0]["name"].as_str().unwrap());

    // The export buttons: the page's filters, every row, the API's rows.
    let cookie = b.session_cookie().await.unwrap();
    let csv_href = b.attr("#export-csv", "href").await.unwrap();
    assert!(
        csv_href.contains("format=csv") && csv_href.contains("tier="),
        "{csv_href}"
    );
    let path = |h: &str| h.trim_start_matches(&w.server.url()).to_string();
    let r = w
        .with_session(Method::GET, &path(&csv_href), &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let want = ids(&sorted["data"]);
    assert_eq!(csv_ids(&r.bytes().await.unwrap()), want);
    let xlsx_href = b.attr("#export-xlsx", "href").await.unwrap();
    let r = w
        .with_session(Method::GET, &path(&xlsx_href), &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(xlsx_ids(r.bytes().await.unwrap().to_vec()), want);

    // A bad filter value is the API's 400, shown as a page.
    b.goto("/reports/expiring?days=abc").await;
    assert!(b.text("#error").await.contains("days"));

    // A PAM: their own partner's page opens; another's is a 404, by page
    // and by API/export, with the session cookie.
    let (pam, own, other) = w.pam_and_other().await;
    let (_, pam_token) = w.pam_token(&pam).await;
    b.forget_cookies().await;
    b.sign_in_with_token(&pam_token).await;
    b.goto(&format!("/partners/{}", own.partner_id)).await;
    assert_eq!(b.text("#partner-name").await, own.name);
    b.goto(&format!("/partners/{}", other.partner_id)).await;
    assert!(b.text("#error").await.contains("no such page"));
    assert_eq!(b.count("#partner-name").await, 0);
    let pam_cookie = b.session_cookie().await.unwrap();
    for p in [
        format!("/partners/{}", other.partner_id),
        format!("/api/partners/{}", other.partner_id),
    ] {
        let r = w
            .with_session(Method::GET, &p, &pam_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{p}");
    }
    let r = w
        .with_session(
            Method::GET,
            "/api/reports/leaderboard?format=csv",
            &pam_cookie,
        )
        .send()
        .await
        .unwrap();
    let got = csv_ids(&r.bytes().await.unwrap());
    assert!(got.contains(&own.partner_id));
    assert!(!got.contains(&other.partner_id), "export stays in scope");
    let r = w
        .with_session(
            Method::GET,
            &format!(
                "/api/reports/user-certifications?partner={}&format=csv",
                other.partner_id
            ),
            &pam_cookie,
        )
        .send()
        .await
        .unwrap();
    assert!(csv_ids(&r.bytes().await.unwrap()).is_empty());
    // The admin-only report is not there for a PAM.
    let r = w
        .with_session(Method::GET, "/reports/orphans", &pam_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    b.quit().await;
}
