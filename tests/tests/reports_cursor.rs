//! Row reports paged in DynamoDB by cursor: a page of `limit` rows reads
//! on the order of `limit` items (counted by the store's own counters,
//! which see every DynamoDB call the handler makes), walking every
//! `next_cursor` returns exactly the report once, and a garbled, foreign
//! or forged cursor is a 400 naming `cursor` that reads nothing of
//! another scope.

mod reports_support;

use std::collections::BTreeSet;

use base64::Engine;
use portal_e2e::reference::Status;
use reports_support::{world, World, ADMIN};
use serde_json::{json, Value};

fn key(row: &Value, cols: &[&str]) -> Vec<String> {
    cols.iter()
        .map(|c| row[*c].as_str().unwrap_or_default().to_string())
        .collect()
}

/// GET with `token`, expecting 200 JSON; also the items the store read.
async fn get_counted(w: &World, path: &str, token: &str) -> (Value, u64) {
    let before = w.env.store.stats();
    let r = w.get(path, Some(token)).await;
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{path}: {body}");
    let read = w.env.store.stats().since(&before).total().items_read;
    (body, read)
}

/// Every row of `report?query` by following `next_cursor` with `limit`;
/// asserts each page is at most `limit` rows and reads at most `max_read`
/// items. Returns the rows in walk order and the number of pages.
async fn walk(
    w: &World,
    token: &str,
    report: &str,
    query: &str,
    limit: usize,
    max_read: u64,
) -> (Vec<Value>, usize) {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/reports/{report}?limit={limit}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (page, read) = get_counted(w, &path, token).await;
        pages += 1;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= limit, "{path}: {} rows", data.len());
        assert!(read <= max_read, "{path}: read {read} items");
        assert!(
            page["meta"].get("total").is_none(),
            "a cursor page has no total"
        );
        rows.extend(data.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10_000, "the walk ends");
    }
    (rows, pages)
}

/// Every row of `report?query` by offset paging (reads the whole set).
async fn offset_rows(w: &World, token: &str, report: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let (p, _) = get_counted(
            w,
            &format!("/api/reports/{report}?limit=1000&page={page}{query}"),
            token,
        )
        .await;
        let data = p["data"].as_array().unwrap();
        out.extend(data.iter().cloned());
        if data.is_empty() || out.len() as u64 >= p["meta"]["total"].as_u64().unwrap() {
            break;
        }
    }
    out
}

/// The walk has no duplicate and the same rows as offset paging.
fn same_rows_once(walked: &[Value], offset: &[Value], cols: &[&str], what: &str) {
    let keys: Vec<Vec<String>> = walked.iter().map(|r| key(r, cols)).collect();
    let unique: BTreeSet<Vec<String>> = keys.iter().cloned().collect();
    assert_eq!(unique.len(), keys.len(), "{what}: a row came twice");
    let want: BTreeSet<Vec<String>> = offset.iter().map(|r| key(r, cols)).collect();
    assert_eq!(unique, want, "{what}: cursor walk vs offset paging");
    // Row by row the same content, whichever paging served it.
    let by_key: std::collections::BTreeMap<Vec<String>, &Value> =
        offset.iter().map(|r| (key(r, cols), r)).collect();
    for r in walked {
        assert_eq!(&r, by_key.get(&key(r, cols)).unwrap(), "{what}");
    }
}

const CERT_KEY: &[&str] = &["partner_id", "user_id", "course_id"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_reports_page_by_cursor() {
    let w = world().await;
    let now = w.env.now;
    let tracked: BTreeSet<&str> = w.reference.tracked().map(|p| p.id.as_str()).collect();
    let statuses: Vec<((String, String, String), Status)> = w
        .reference
        .statuses(now)
        .into_iter()
        .filter(|((p, _, _), _)| tracked.contains(p.as_str()))
        .collect();
    assert!(statuses.len() > 300, "enough rows for several pages");

    // One page of 100: at most 100 rows, and at most twice as many items
    // read (the rows, plus the summaries of the page's partners) — not the
    // report. Rows of untracked partners are read and dropped within that
    // budget (paged.rs), so a page may hold fewer: the generated data puts
    // every tier, untracked ones included, among its first partners.
    let (page, read) = get_counted(&w, "/api/reports/user-certifications?limit=100", ADMIN).await;
    let n = page["data"].as_array().unwrap().len();
    assert!((1..=100).contains(&n), "{n} rows");
    assert!(page["next_cursor"].is_string());
    assert_eq!(page["meta"]["paging"], "cursor");
    assert!(read <= 200, "a page of 100 read {read} items");
    assert!(
        (read as usize) < statuses.len(),
        "less than the whole report ({} rows)",
        statuses.len()
    );

    // Walking every cursor: each record of the reference exactly once.
    let (rows, pages) = walk(&w, ADMIN, "user-certifications", "", 100, 200).await;
    assert!(pages >= 3);
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            let k = key(r, CERT_KEY);
            (k[0].clone(), k[1].clone(), k[2].clone())
        })
        .collect();
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "no row twice");
    let want: BTreeSet<_> = statuses.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(unique, want, "exactly the report");
    for r in &rows {
        let k = key(r, CERT_KEY);
        let s = statuses
            .iter()
            .find(|(x, _)| x.0 == k[0] && x.1 == k[1] && x.2 == k[2])
            .unwrap();
        assert_eq!(r["status"], s.1.as_str(), "{r}");
    }
    let offset = offset_rows(&w, ADMIN, "user-certifications", "").await;
    same_rows_once(&rows, &offset, CERT_KEY, "user-certifications");

    // A row filter is a bounded scan: fewer rows a page, the same set.
    let (rows, _) = walk(
        &w,
        ADMIN,
        "user-certifications",
        "&status=expiring",
        50,
        2_000,
    )
    .await;
    let offset = offset_rows(&w, ADMIN, "user-certifications", "&status=expiring").await;
    assert!(!offset.is_empty());
    same_rows_once(&rows, &offset, CERT_KEY, "status=expiring");

    // A PAM: their partners' partitions only.
    let sums = w.summaries().await;
    let pam_email = sums
        .iter()
        .filter_map(|s| s.owner_email.clone())
        .max_by_key(|e| {
            sums.iter()
                .filter(|s| s.owner_email.as_ref() == Some(e))
                .count()
        })
        .expect("a PAM");
    let (_, pam, _) = w
        .create_token(json!({"kind": "pam", "owner_email": pam_email}))
        .await;
    let (pam_rows, _) = walk(&w, &pam, "user-certifications", "", 20, 2_000).await;
    let pam_offset = offset_rows(&w, &pam, "user-certifications", "").await;
    assert!(!pam_offset.is_empty());
    same_rows_once(&pam_rows, &pam_offset, CERT_KEY, "PAM");
    let mine: BTreeSet<String> = sums
        .iter()
        .filter(|s| s.owner_email.as_deref() == Some(pam_email.as_str()))
        .map(|s| s.partner_id.clone())
        .collect();
    assert!(pam_rows
        .iter()
        .all(|r| mine.contains(r["partner_id"].as_str().unwrap())));

    // The other row reports.
    for (report, query, cols) in [
        (
            "expiring",
            "&days=120",
            &["partner_id", "user_id", "course_id"][..],
        ),
        ("contacts-not-in-lms", "", &["contact_id"][..]),
    ] {
        let (rows, _) = walk(&w, ADMIN, report, query, 25, 2_000).await;
        let offset = offset_rows(&w, ADMIN, report, query).await;
        assert!(!offset.is_empty(), "{report}: small data has rows");
        same_rows_once(&rows, &offset, cols, report);
    }
    // Expiring, soonest first along the walk too.
    let (rows, _) = walk(&w, ADMIN, "expiring", "&days=120", 10, 2_000).await;
    let days: Vec<i64> = rows
        .iter()
        .map(|r| r["days_left"].as_i64().unwrap())
        .collect();
    assert!(days.windows(2).all(|d| d[0] <= d[1]), "{days:?}");

    // An export with `limit` is that page; its cursor rides in a header.
    let r = w
        .get(
            "/api/reports/user-certifications?limit=7&format=csv",
            Some(ADMIN),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-next-cursor"));
    assert_eq!(r.text().await.unwrap().lines().count(), 1 + 7);

    check_bad_cursors(&w, &pam, &mine, &sums).await;
}

/// A 400 naming `cursor`; with `reads_nothing`, refused before any read.
async fn bad_read(w: &World, path: &str, token: &str, reads_nothing: bool) -> String {
    let before = w.env.store.stats();
    let r = w.get(path, Some(token)).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 400, "{path}: {body}");
    assert_eq!(body["parameter"], "cursor", "{path}: {body}");
    if reads_nothing {
        let reads = w.env.store.stats().since(&before).total().items_read;
        assert_eq!(reads, 0, "{path}: refused before reading");
    }
    assert!(body.get("data").is_none(), "{path}: no rows with a 400");
    body["error"].as_str().unwrap().to_string()
}

async fn bad(w: &World, path: &str, token: &str) -> String {
    bad_read(w, path, token, true).await
}

async fn check_bad_cursors(
    w: &World,
    pam: &str,
    mine: &BTreeSet<String>,
    sums: &[portal_core::model::PartnerSummary],
) {
    let uc = "/api/reports/user-certifications";
    let e = bad(w, &format!("{uc}?cursor=%25%25garbage"), ADMIN).await;
    assert!(e.contains("not a cursor"), "{e}");
    let e = bad(w, &format!("{uc}?cursor=bm90IGpzb24"), ADMIN).await;
    assert!(e.contains("not a cursor"), "{e}");

    // A real cursor, then used with other filters / with page / with sort.
    let (page, _) = get_counted(w, &format!("{uc}?limit=5"), ADMIN).await;
    let c = page["next_cursor"].as_str().unwrap().to_string();
    let e = bad(w, &format!("{uc}?limit=5&status=active&cursor={c}"), ADMIN).await;
    assert!(e.contains("another query"), "{e}");
    let e = bad(w, &format!("{uc}?cursor={c}&page=2"), ADMIN).await;
    assert!(e.contains("page"), "{e}");
    let e = bad(w, &format!("{uc}?cursor={c}&sort=npcu"), ADMIN).await;
    assert!(e.contains("sort"), "{e}");
    // The admin's cursor (type index) means nothing in a PAM's walk (the
    // PAM's partners are read to know their Queries, no row is).
    bad_read(w, &format!("{uc}?limit=5&cursor={c}"), pam, false).await;

    // A PAM forging a cursor into another owner's partner: refused, not
    // served — the cursor can only resume one of the PAM's own Queries.
    let (page, _) = get_counted(w, &format!("{uc}?limit=1"), pam).await;
    let c = page["next_cursor"]
        .as_str()
        .expect("PAM has more than 1 row");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut wire: Value = serde_json::from_slice(&b64.decode(c).unwrap()).unwrap();
    let other = sums
        .iter()
        .find(|s| !mine.contains(&s.partner_id))
        .expect("another owner's partner");
    let pk = format!("PARTNER#{}", other.partner_id);
    wire["pk"] = json!(pk);
    wire["after"] = Value::Null;
    let forged = b64.encode(serde_json::to_vec(&wire).unwrap());
    let e = bad_read(w, &format!("{uc}?limit=5&cursor={forged}"), pam, false).await;
    assert!(e.contains("another query"), "{e}");
    // Same partition, but a key in another partner's partition.
    let mut wire: Value = serde_json::from_slice(&b64.decode(c).unwrap()).unwrap();
    wire["after"]["PK"] = json!(pk);
    let forged = b64.encode(serde_json::to_vec(&wire).unwrap());
    bad_read(w, &format!("{uc}?limit=5&cursor={forged}"), pam, false).await;
}
