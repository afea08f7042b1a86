//! Bounded items: a partner of 10,000 users × 3 certifications (a global
//! SI) is built by the sync's own rules and written through the store into
//! the emulator. Every stored item stays under DynamoDB's 400 KB limit —
//! measured as DynamoDB counts it (attribute names + values) — the summary
//! holds counts, not a list growing with the partner, and the dashboard
//! still renders with the right totals, reading a page of rows at a time.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Months, TimeZone, Utc};
use portal_core::config::{Config, Secret};
use portal_core::model::{
    CategoryMap, Course, Enrollment, LmsGroup, LmsUser, Membership, Partner, ProgressStatus, Tier,
};
use portal_core::rules::rows::build_cert_rows;
use portal_core::rules::summary::{build_partner_summary, PartnerData};
use portal_core::store::capacity::item_size;
use portal_core::store::entities::{cert_row_item, partner_item, summary_item};
use portal_core::store::{keys, QuerySpec, SkCondition, Store};
use portal_infra::emulator::Emulator;
use portal_reports::local::spawn;
use portal_reports::AppState;
use serde_json::{json, Value};

const USERS: usize = 10_000;
const ADMIN: &str = "bounded-admin-token-0123456789abcdef";
/// DynamoDB's item size limit.
const MAX_ITEM: usize = 400 * 1024;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_thousand_user_partner_fits_in_items_and_its_dashboard_renders() {
    // The partner's data, as the sync holds it: one group, 10,000 members,
    // each with three completed certifications (NPCU 1 + 2 + 2) completed
    // on days spread over two years, so their expiries fill every day
    // bucket the summary can have.
    let partner = Partner {
        id: "900001".into(),
        name: "Global Systems Integrator".into(),
        tier: Some(Tier::Premier),
        account_status_active: true,
        tracked: true,
        lms_group_id: Some("g-si".into()),
        ..Default::default()
    };
    let group = LmsGroup {
        id: "g-si".into(),
        name: "ptr_Global Systems Integrator".into(),
        ..Default::default()
    };
    let courses: Vec<Course> = [
        ("c-basic", 1, "K2"),
        ("c-adv", 2, "K2"),
        ("c-rpa", 2, "RPA"),
    ]
    .into_iter()
    .map(|(id, npcu, cat)| Course {
        id: id.into(),
        name: format!("Course {id}"),
        npcu,
        category: Some(cat.into()),
        ..Default::default()
    })
    .collect();
    let users: Vec<LmsUser> = (0..USERS)
        .map(|i| LmsUser {
            id: format!("u{i:05}"),
            email: format!("user{i}@si.example"),
            first_name: Some(format!("User{i}")),
            last_name: Some("Example".into()),
            ..Default::default()
        })
        .collect();
    let memberships: Vec<Membership> = users
        .iter()
        .map(|u| Membership {
            group_id: group.id.clone(),
            user_id: u.id.clone(),
        })
        .collect();
    let enrollments: Vec<Enrollment> = users
        .iter()
        .enumerate()
        .flat_map(|(i, u)| {
            courses
                .iter()
                .enumerate()
                .map(move |(c, course)| Enrollment {
                    user_id: u.id.clone(),
                    course_id: course.id.clone(),
                    progress: ProgressStatus::Completed,
                    // 1..=700 days ago, with the hour varying too.
                    completed_at: Some(
                        now() - Duration::days(1 + ((i + c * 233) % 700) as i64)
                            + Duration::hours((i % 24) as i64),
                    ),
                    ..Default::default()
                })
        })
        .collect();
    let categories = CategoryMap::default();
    let data = PartnerData {
        partner: &partner,
        group: Some(&group),
        memberships: &memberships,
        contacts: &[],
        users: &users,
        enrollments: &enrollments,
        courses: &courses,
        manual_awards: &[],
        org_certs: &[],
        categories: &categories,
        default_validity_months: 24,
    };
    let summary = build_partner_summary(&data, now());
    let rows = build_cert_rows(&data);
    assert_eq!(rows.len(), 3 * USERS);
    // Every certification is current (completed at most 700 days ago,
    // valid 24 months): the totals the dashboard must show.
    assert!(enrollments
        .iter()
        .all(|e| e.completed_at.unwrap() + Months::new(24) > now()));
    let want_npcu = 5 * USERS as u64;

    // Every item the partner has, measured as DynamoDB counts it
    // (attribute names + values of exactly what the store sends).
    let mut items = vec![
        partner_item(&partner).unwrap(),
        summary_item(&summary).unwrap(),
    ];
    items.extend(rows.iter().map(|r| cert_row_item(&partner.id, r).unwrap()));
    let sizes: Vec<(String, usize)> = items
        .iter()
        .map(|i| (i.key().sk.clone(), item_size(i.attributes())))
        .collect();
    let (largest_sk, largest) = sizes.iter().max_by_key(|(_, n)| *n).unwrap();
    assert!(largest < &MAX_ITEM, "{largest_sk}: {largest} bytes");
    let summary_size = sizes.iter().find(|(sk, _)| sk == keys::SUMMARY).unwrap().1;
    // Bounded by categories × expiry days (2 × ~730 here), not by the
    // 30,000 certifications: a list of them was ≈ 190 bytes each (5.7 MB).
    assert!(summary_size < 64 * 1024, "summary is {summary_size} bytes");
    let buckets: usize = summary.counts.values().map(|b| b.len()).sum();
    assert!(
        buckets > 1000,
        "the expiries spread over many buckets: {buckets}"
    );

    // Written through the store, as the sync writes them; the summary as
    // stored is the size measured.
    let emu = Emulator::shared().await.expect("emulator");
    let table = format!("bounded-{}", std::process::id());
    let store = Store::from_sdk_config(&emu.sdk_config().await, table.clone());
    store.create_table().await.expect("table");
    store.put(partner_item(&partner).unwrap()).await.unwrap();
    store.put(summary_item(&summary).unwrap()).await.unwrap();
    let w = store
        .replace_partner_certs(&partner.id, &rows)
        .await
        .expect("rows written");
    assert_eq!(w.written, rows.len(), "{w:?}");
    let stored = store
        .query(
            &QuerySpec::partition(keys::partner_pk(&partner.id))
                .sk(SkCondition::Eq(keys::SUMMARY.into())),
        )
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let stored_size = item_size(&stored[0]);
    assert!(
        stored_size < 64 * 1024,
        "stored summary is {stored_size} bytes"
    );
    assert_eq!(
        store.get_summary(&partner.id).await.unwrap().as_ref(),
        Some(&summary)
    );

    // The dashboard renders from it: JSON and the partner's own page.
    let vars = [
        ("PORTAL_TABLE", table.as_str()),
        ("PORTAL_NOW", "2026-11-23T00:00:00Z"),
        ("PORTAL_PUBLIC_BASE_URL", "http://portal.test"),
    ];
    let config = Config::from_lookup(|k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .expect("config");
    let state = AppState::new(&config, store.clone())
        .with_admin_token(ADMIN)
        .with_link_key(Secret::new("bounded-link-key"));
    let server = spawn(state, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("server");
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", server.url());
        async move { http.get(url).bearer_auth(ADMIN).send().await.unwrap() }
    };

    store.reset_stats();
    let r = get(format!("/api/partners/{}", partner.id)).await;
    assert_eq!(r.status(), 200);
    let d: Value = r.json().await.unwrap();
    let st = store.stats();
    assert_eq!(d["npcu"], want_npcu);
    assert_eq!(d["certified_users"], USERS);
    assert_eq!(d["certifications"], 3 * USERS);
    assert_eq!(d["required_npcu"], 20);
    assert_eq!(d["standing"], "met");
    let cats: Vec<(String, u64, u64)> = d["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["category"].as_str().unwrap().to_string(),
                c["users"].as_u64().unwrap(),
                c["npcu"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cats,
        vec![
            ("K2".into(), USERS as u64, 3 * USERS as u64),
            ("RPA".into(), USERS as u64, 2 * USERS as u64)
        ]
    );
    assert_eq!(d["rows_total"], 3 * USERS);
    let shown = d["rows_shown"].as_u64().unwrap() as usize;
    assert!((1..=500).contains(&shown), "{shown}");
    // A page of rows is read, not the partition: one Query, bounded items.
    assert_eq!(st.requests("Query"), 1, "{st:?}");
    assert!(st.op("Query").items_read <= 500 + 22, "{st:?}");

    // The next page continues with other rows; a foreign cursor is a 400.
    let lines = |d: &Value| -> BTreeSet<(String, String)> {
        d["categories"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["rows"].as_array().unwrap().iter())
            .map(|r| {
                (
                    r["user_id"].as_str().unwrap().to_string(),
                    r["course_id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let first = lines(&d);
    assert_eq!(first.len(), shown);
    let cursor = d["next_cursor"].as_str().expect("more pages").to_string();
    let r = get(format!("/api/partners/{}?cursor={cursor}", partner.id)).await;
    assert_eq!(r.status(), 200);
    let d2: Value = r.json().await.unwrap();
    assert_eq!(d2["npcu"], want_npcu, "numbers on every page");
    let second = lines(&d2);
    assert_eq!(second.len(), d2["rows_shown"].as_u64().unwrap() as usize);
    assert!(!second.is_empty() && first.is_disjoint(&second));
    // A well-formed cursor of another partner's rows: refused, not read.
    let foreign = portal_core::store::pages::encode_cursor(
        "dashboard:PARTNER#1",
        &portal_core::store::pages::Position {
            pk: "PARTNER#1".into(),
            after: Some(
                [
                    ("PK".to_string(), "PARTNER#1".to_string()),
                    ("SK".to_string(), "CERT#u#c".to_string()),
                ]
                .into(),
            ),
        },
    );
    let r = get(format!("/api/partners/{}?cursor={foreign}", partner.id)).await;
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["parameter"], "cursor", "{b}");

    // The partner's private page: 200, the totals, and a link onwards.
    let link: Value = http
        .post(format!("{}/api/admin/tokens", server.url()))
        .bearer_auth(ADMIN)
        .json(&json!({"kind": "partner_link", "partner_id": partner.id}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = link["url"]
        .as_str()
        .and_then(|u| u.split_once("/p/"))
        .map(|(_, t)| format!("/p/{t}"))
        .unwrap();
    let r = http
        .get(format!("{}{path}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!(r#"<strong id="npcu">{want_npcu}</strong>"#)),
        "npcu shown"
    );
    assert!(html.contains(&format!("of {} certification lines", 3 * USERS)));
    assert!(html.contains(r#"id="next-lines""#));
    assert!(
        html.len() < 2 * 1024 * 1024,
        "a page, not 30,000 lines: {}",
        html.len()
    );
}

/// The dashboard's paged read against the emulator: pages of `rows` lines
/// cover every row exactly once, the first page is one Query that also
/// brings summary, profile and organisation certifications, later pages
/// bring them too, and a cursor of another partner is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_pages_cover_every_row_once() {
    use portal_core::model::{CertRow, OrgCertification, PartnerSummary};
    use portal_core::store::entities::org_cert_item;

    let emu = Emulator::shared().await.expect("emulator");
    let store = Store::from_sdk_config(
        &emu.sdk_config().await,
        format!("bounded-pages-{}", std::process::id()),
    );
    store.create_table().await.expect("table");
    for id in ["P1", "P2"] {
        let p = Partner {
            id: id.into(),
            name: format!("Partner {id}"),
            tracked: true,
            ..Default::default()
        };
        store.put(partner_item(&p).unwrap()).await.unwrap();
        let s = PartnerSummary {
            partner_id: id.into(),
            computed_at: now(),
            ..Default::default()
        };
        store.put(summary_item(&s).unwrap()).await.unwrap();
        let rows: Vec<CertRow> = (0..7)
            .map(|i| CertRow {
                user_id: format!("{id}u{i}"),
                course_id: "c".into(),
                npcu: 1,
                ..Default::default()
            })
            .collect();
        store.replace_partner_certs(id, &rows).await.unwrap();
    }
    for i in 0..3 {
        let o = OrgCertification {
            id: format!("o{i}"),
            partner_id: "P1".into(),
            name: format!("Org {i}"),
            npcu: 1,
            starts_at: now(),
            ends_at: now() + Duration::days(30),
            ..Default::default()
        };
        store.put(org_cert_item(&o).unwrap()).await.unwrap();
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        store.reset_stats();
        let d = store
            .partner_dashboard_page("P1", 3, cursor.as_deref())
            .await
            .expect("page");
        let st = store.stats();
        assert_eq!(
            st.requests("Query"),
            if cursor.is_none() { 1 } else { 2 },
            "{st:?}"
        );
        assert!(d.profile.is_some() && d.summary.is_some(), "page {pages}");
        assert_eq!(d.org_certs.len(), 3, "page {pages}");
        assert!(d.certs.len() <= 3);
        seen.extend(d.certs.iter().map(|r| r.user_id.clone()));
        pages += 1;
        match d.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10, "paging ends");
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "no row twice: {seen:?}");
    assert_eq!(
        sorted,
        (0..7).map(|i| format!("P1u{i}")).collect::<Vec<_>>()
    );
    assert_eq!(pages, 3);

    // A cursor from P2's pages does not read P2 through P1's dashboard.
    let other = store.partner_dashboard_page("P2", 3, None).await.unwrap();
    let err = store
        .partner_dashboard_page("P1", 3, other.next_cursor.as_deref())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cursor"), "{err}");
    assert!(store
        .partner_dashboard_page("P1", 3, Some("not-a-cursor"))
        .await
        .is_err());
}
