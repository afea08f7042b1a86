//! The low findings of the security probe, each as a test that failed on
//! the code before the fix: the existence oracle (counted in store calls,
//! not timed), an over-long cell breaking the XLSX export, loose admin
//! input, tokens taken from URLs of writes, PAM tokens that never expire,
//! and no HSTS.

mod security_support;

use std::io::Read;

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use portal_core::store::entities::{partner_item, summary_item};
use portal_reports::export::{column_title, TRUNCATED_MARKER, XLSX_CELL_MAX};
use reqwest::Method;
use security_support::{world, ADMIN};
use serde_json::{json, Value};

fn xlsx_sheet(bytes: &[u8], name: &str) -> calamine::Range<Data> {
    let mut wb: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    wb.worksheet_range(name).unwrap()
}

fn sheet_xml(bytes: &[u8]) -> String {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut s = String::new();
    z.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s
}

/// An Excel serial date (days since 1899-12-30) as a UTC instant.
fn from_serial(f: f64) -> DateTime<Utc> {
    let base = NaiveDate::from_ymd_opt(1899, 12, 30)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    (base + Duration::milliseconds((f * 86_400_000.0).round() as i64)).and_utc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_foreign_partners_cost_the_same_and_exports_survive_long_names() {
    let w = world(4).await;
    let store = &w.env.store;
    let tracked = w.tracked().await;
    let (mine, theirs) = (&tracked[0], &tracked[1]);

    // A PAM owning `mine` only: `theirs` gets another owner.
    let pam_email = "pam.probe@vendor.test";
    let mut p = store.get_partner(&mine.partner_id).await.unwrap().unwrap();
    p.owner_email = Some(pam_email.into());
    store.put(partner_item(&p).unwrap()).await.unwrap();
    let mut q = store
        .get_partner(&theirs.partner_id)
        .await
        .unwrap()
        .unwrap();
    q.owner_email = Some("someone.else@vendor.test".into());
    store.put(partner_item(&q).unwrap()).await.unwrap();
    let pam = w
        .create_token(json!({"kind": "pam", "owner_email": pam_email}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();

    let mut answers = Vec::new();
    for id in ["999999999", theirs.partner_id.as_str()] {
        store.reset_stats();
        let r = w.get(&format!("/api/partners/{id}"), Some(&pam)).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        answers.push((status, body, store.stats()));
    }
    let (unknown, foreign) = (&answers[0], &answers[1]);
    assert_eq!(unknown.0, 404);
    assert_eq!(
        (unknown.0, &unknown.1),
        (foreign.0, &foreign.1),
        "same answer"
    );
    for op in ["GetItem", "Query"] {
        assert_eq!(
            unknown.2.requests(op),
            foreign.2.requests(op),
            "{op}: {:#?} vs {:#?}",
            unknown.2,
            foreign.2
        );
    }
    assert_eq!(foreign.2.requests("Query"), 0, "the partition is not read");
    assert_eq!(unknown.2.total().read_units, foreign.2.total().read_units);
    // The PAM's own partner still works.
    assert_eq!(
        w.get(&format!("/api/partners/{}", mine.partner_id), Some(&pam))
            .await
            .status(),
        200
    );

    // A CRM name of 40,000 characters: the XLSX cuts it with a marker, the
    // CSV keeps it whole, and both answer 200.
    let long: String = "Long name ".repeat(4_000);
    let mut s = store.get_summary(&mine.partner_id).await.unwrap().unwrap();
    s.name = long.clone();
    store.put(summary_item(&s).unwrap()).await.unwrap();
    let r = w
        .get("/api/reports/leaderboard?format=xlsx", Some(ADMIN))
        .await;
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let sheet = xlsx_sheet(&bytes, "leaderboard");
    let mut rows = sheet.rows();
    let head: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    let cols =
        <portal_core::reports::rows::LeaderboardRow as portal_core::reports::ReportRow>::COLUMNS;
    assert_eq!(
        head,
        cols.iter().map(|c| column_title(c)).collect::<Vec<_>>()
    );
    assert!(head.contains(&"Partner ID".to_string()) && head.contains(&"NPCU".to_string()));
    let name_col = cols.iter().position(|c| *c == "name").unwrap();
    let cut = rows
        .map(|r| r[name_col].to_string())
        .find(|n| n.starts_with("Long name"))
        .expect("the long-named partner");
    assert_eq!(cut.chars().count(), XLSX_CELL_MAX);
    assert!(cut.ends_with(TRUNCATED_MARKER));
    // A person's spreadsheet: filter buttons on the header, fitted widths.
    let xml = sheet_xml(&bytes);
    assert!(xml.contains("<autoFilter ref=\"A1:"), "no autofilter");
    assert!(
        xml.contains("<cols>") && xml.contains("customWidth=\"1\""),
        "no widths"
    );
    let r = w
        .get("/api/reports/leaderboard?format=csv", Some(ADMIN))
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.unwrap().contains(&long),
        "CSV keeps the full text"
    );

    // Dates are date cells, with the same instant as the JSON.
    let json: Value = w
        .get("/api/reports/user-certifications?limit=25", Some(ADMIN))
        .await
        .json()
        .await
        .unwrap();
    // The first of the page's rows with a completion (the XLSX holds the
    // same page, in the same order).
    let (i, first) = json["data"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .find(|(_, r)| r["completed_at"].is_string())
        .expect("a completed row among the first 25");
    let want: DateTime<Utc> = first["completed_at"].as_str().unwrap().parse().unwrap();
    let r = w
        .get(
            "/api/reports/user-certifications?limit=25&format=xlsx",
            Some(ADMIN),
        )
        .await;
    let sheet = xlsx_sheet(&r.bytes().await.unwrap(), "user-certifications");
    let mut rows = sheet.rows();
    let head: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    let at = head.iter().position(|h| h == "Completed at").unwrap();
    match &rows.nth(i).unwrap()[at] {
        Data::DateTime(d) => {
            assert_eq!((from_serial(d.as_f64()) - want).num_seconds().abs(), 0)
        }
        other => panic!("completed_at is not a date cell: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_input_is_checked_and_tokens_stay_out_of_urls() {
    let w = world(3).await;
    let store = &w.env.store;
    let partner = w.tracked().await[0].partner_id.clone();
    let tokens_before = store.all_tokens().await.unwrap().len();
    let post = |path: &'static str, body: Value| {
        let w = &w;
        async move {
            let r = w.send(Method::POST, path, Some(ADMIN), Some(body)).await;
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };

    // Sizes: a 500 KB label is a 400 naming the field, not a 500.
    let (status, body) = post(
        "/api/admin/tokens",
        json!({"kind": "admin", "label": "x".repeat(500_000)}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("label"));
    // Dates in a sane range, expiry in the future, real addresses.
    for bad in [
        json!({"kind": "pam", "owner_email": "@"}),
        json!({"kind": "pam", "owner_email": "a@b"}),
        json!({"kind": "pam", "owner_email": "pam@vendor.test", "expires_at": "2020-01-01"}),
        json!({"kind": "pam", "owner_email": "pam@vendor.test", "expires_at": "+99999-01-01T00:00:00Z"}),
        json!({"kind": "admin", "expires_at": "+99999-01-01T00:00:00Z"}),
    ] {
        let (status, body) = post("/api/admin/tokens", bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    let course = store.all_courses().await.unwrap()[0].id.clone();
    let (status, body) = post(
        "/api/admin/awards",
        json!({"kind": "award", "partner_id": partner, "email": "x@y.test", "course_id": course,
               "completed_at": "+99999-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("completed_at"));
    assert_eq!(store.all_awards().await.unwrap().len(), 0, "nothing stored");

    // JSON bodies must say so.
    for ct in [Some("text/plain"), None] {
        let mut r = w
            .http
            .post(w.url("/api/admin/tokens"))
            .bearer_auth(ADMIN)
            .body(json!({"kind": "admin"}).to_string());
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        assert_eq!(r.send().await.unwrap().status(), 415, "{ct:?}");
    }
    assert_eq!(
        store.all_tokens().await.unwrap().len(),
        tokens_before,
        "data intact"
    );

    // Duplicate parameters: 400 on admin routes too, naming the parameter.
    let r = w
        .send(
            Method::POST,
            "/api/admin/tasks/crm-push/run?mode=full&mode=incremental",
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["parameter"], "mode");
    let r = w
        .get(
            "/api/admin/tasks/lms-users/runs?limit=1&limit=2",
            Some(ADMIN),
        )
        .await;
    assert_eq!(r.status(), 400);

    // PAM tokens expire by default (PORTAL_PAM_TOKEN_DAYS, 180), shown at
    // creation.
    let created = w
        .create_token(json!({"kind": "pam", "owner_email": "Pam.Two@Vendor.test"}))
        .await;
    let exp: DateTime<Utc> = created["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(exp, w.env.now + Duration::days(180));
    assert_eq!(created["scope"], "pam.two@vendor.test");
    let pam = created["token"].as_str().unwrap().to_string();

    // ?token= only for GET of reports and dashboards: never for admin
    // routes, never for writes.
    let r = w
        .http
        .post(w.url(&format!("/api/admin/tokens?token={ADMIN}")))
        .json(&json!({"kind": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(store.all_tokens().await.unwrap().len(), tokens_before + 1);
    let r = w
        .http
        .delete(w.url(&format!(
            "/api/admin/tokens/{}?token={ADMIN}",
            created["id"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(store
        .all_tokens()
        .await
        .unwrap()
        .iter()
        .any(|t| t.id == created["id"]));
    let r = w
        .get(&format!("/api/admin/tasks?token={ADMIN}"), None)
        .await;
    assert_eq!(r.status(), 401);
    let r = w
        .get(&format!("/api/reports/leaderboard?token={pam}"), None)
        .await;
    assert_eq!(r.status(), 200, "a PAM can still click a report URL");

    // HSTS whenever the request came over HTTPS (API Gateway says so in
    // X-Forwarded-Proto), not on plain local HTTP.
    let r = w
        .http
        .get(w.url("/health"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    let r = w
        .http
        .get(w.url("/api/reports/nope"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers().contains_key("strict-transport-security"),
        "errors too"
    );
    let r = w.get("/health", None).await;
    assert!(!r.headers().contains_key("strict-transport-security"));
}
