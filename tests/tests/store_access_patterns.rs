//! The store against a real DynamoDB API (moto over HTTP, one server per
//! test binary). Every test creates its own uniquely named table, so they
//! run in parallel without seeing each other's data.

use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, TimeZone, Utc};
use portal_core::model::{
    CertRow, Course, LmsUser, Membership, OrgCertification, Partner, PartnerSummary,
    ProgressStatus, Tier,
};
use portal_core::runs::RunStatus;
use portal_core::store::access::{claim_state, hash_token, ClaimOutcome, OptOut};
use portal_core::store::entities::{
    cert_row_item, course_item, membership_item, org_cert_item, partner_item, summary_item,
    user_items,
};
use portal_core::store::leases::{RunRecord, DEFAULT_LEASE};
use portal_core::store::{
    keys, schema, ItemKey, Keys, QuerySpec, Store, StoreError, StoreItem, TaskState, TokenKind,
    TokenRecord,
};
use portal_infra::emulator::Emulator;

static TABLES: AtomicU32 = AtomicU32::new(0);

/// A fresh table on the shared emulator, with zeroed request counters.
async fn store(name: &str) -> Store {
    let emu = Emulator::shared().await.expect("emulator starts");
    let cfg = emu.sdk_config().await;
    let table = format!(
        "t-{name}-{}-{}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    let s = Store::from_sdk_config(&cfg, table);
    assert!(s.create_table().await.expect("create table"));
    s.reset_stats();
    s
}

fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
}

fn row(user: &str, course: &str, expires: Option<DateTime<Utc>>) -> CertRow {
    CertRow {
        user_id: user.into(),
        user_name: format!("User {user}"),
        email: format!("{user}@example.com"),
        course_id: course.into(),
        course_name: format!("Course {course}"),
        npcu: 2,
        progress: ProgressStatus::Completed,
        completed_at: expires.map(|e| e - Duration::days(730)),
        expires_at: expires,
        ..Default::default()
    }
}

fn partner(id: &str) -> Partner {
    Partner {
        id: id.into(),
        name: format!("Partner {id}"),
        tier: Some(Tier::Select),
        account_status_active: true,
        tracked: true,
        ..Default::default()
    }
}

fn summary(id: &str) -> PartnerSummary {
    PartnerSummary {
        partner_id: id.into(),
        name: format!("Partner {id}"),
        tier: Some(Tier::Premier),
        user_count: 3,
        computed_at: at(2026, 11, 23, 0),
        ..Default::default()
    }
}

fn course(id: &str, npcu: u8) -> Course {
    Course {
        id: id.into(),
        name: format!("Course {id}"),
        npcu,
        ..Default::default()
    }
}

#[tokio::test]
async fn create_table_matches_schema_and_enables_ttl() {
    let s = store("schema").await;
    // Idempotent: a second call finds the table and reports it.
    assert!(!s.create_table().await.unwrap());
    let d = s
        .client()
        .describe_table()
        .table_name(s.table())
        .send()
        .await
        .unwrap();
    let t = d.table().unwrap();
    let mut gsis: Vec<&str> = t
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name())
        .collect();
    gsis.sort();
    assert_eq!(gsis, vec![schema::GSI1, schema::GSI2]);
    let ttl = s
        .client()
        .describe_time_to_live()
        .table_name(s.table())
        .send()
        .await
        .unwrap();
    let spec = ttl.time_to_live_description().unwrap();
    assert_eq!(spec.attribute_name(), Some(schema::TTL));
}

#[tokio::test]
async fn partner_dashboard_is_one_query() {
    let s = store("dashboard").await;
    let mut items = vec![
        partner_item(&partner("P1")).unwrap(),
        summary_item(&summary("P1")).unwrap(),
        org_cert_item(&OrgCertification {
            id: "O1".into(),
            partner_id: "P1".into(),
            name: "ISO".into(),
            npcu: 1,
            starts_at: at(2026, 1, 1, 0),
            ends_at: at(2027, 1, 1, 0),
            ..Default::default()
        })
        .unwrap(),
        // Another partner's data must not leak into P1's dashboard.
        partner_item(&partner("P2")).unwrap(),
        cert_row_item("P2", &row("u9", "c1", Some(at(2027, 1, 1, 0)))).unwrap(),
    ];
    for (u, c) in [("u1", "c1"), ("u1", "c2"), ("u2", "c1")] {
        items.push(cert_row_item("P1", &row(u, c, Some(at(2027, 5, 1, 0)))).unwrap());
    }
    s.batch_put(items).await.unwrap();
    s.reset_stats();

    let d = s.partner_dashboard("P1").await.unwrap();
    let st = s.stats();
    assert_eq!(st.requests("Query"), 1, "{st:?}");
    assert_eq!(st.total_requests(), 1, "nothing but one Query: {st:?}");
    assert_eq!(st.op("Query").items_read, 6);

    assert_eq!(d.profile.unwrap().name, "Partner P1");
    assert_eq!(d.summary.unwrap().tier, Some(Tier::Premier));
    assert_eq!(d.org_certs.len(), 1);
    let mut certs: Vec<(String, String)> = d
        .certs
        .iter()
        .map(|r| (r.user_id.clone(), r.course_id.clone()))
        .collect();
    certs.sort();
    assert_eq!(
        certs,
        vec![
            ("u1".into(), "c1".into()),
            ("u1".into(), "c2".into()),
            ("u2".into(), "c1".into())
        ]
    );
    assert_eq!(d.certs[0].npcu, 2);
}

#[tokio::test]
async fn all_summaries_is_one_query_on_the_type_index() {
    let s = store("summaries").await;
    let mut items = Vec::new();
    for i in 0..7 {
        let id = format!("P{i:02}");
        items.push(partner_item(&partner(&id)).unwrap());
        items.push(summary_item(&summary(&id)).unwrap());
        items.push(cert_row_item(&id, &row("u", "c", Some(at(2027, 1, 1, 0)))).unwrap());
    }
    items.push(course_item(&course("c", 2)).unwrap());
    s.batch_put(items).await.unwrap();
    s.reset_stats();

    let all = s.all_summaries().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|x| x.partner_id.as_str()).collect();
    assert_eq!(ids, vec!["P00", "P01", "P02", "P03", "P04", "P05", "P06"]);
    let st = s.stats();
    assert_eq!(st.requests("Query"), 1);
    // Only summaries were read — not partners, rows or courses.
    assert_eq!(st.op("Query").items_read, 7);
    assert_eq!(st.total_requests(), 1);

    assert_eq!(s.all_partners().await.unwrap().len(), 7);
    // Every partner's rows, for the user-certifications report: one Query.
    s.reset_stats();
    let rows = s.all_cert_rows().await.unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[3].partner_id, "P03");
    assert_eq!(rows[3].row.user_id, "u");
    assert_eq!(s.stats().requests("Query"), 1);
    assert_eq!(s.all_courses().await.unwrap().len(), 1);
}

#[tokio::test]
async fn expiring_range_across_a_month_boundary_reads_only_due_rows() {
    let s = store("expiring").await;
    let due = [
        ("u1", at(2027, 1, 30, 0)), // == from: included
        ("u2", at(2027, 1, 31, 23)),
        ("u3", at(2027, 2, 1, 0)),
        ("u4", at(2027, 2, 19, 23)),
    ];
    let not_due = [
        ("n1", at(2027, 1, 15, 0)),
        ("n2", at(2027, 1, 29, 23)),
        ("n3", at(2027, 2, 20, 0)), // == to: excluded (half-open)
        ("n4", at(2027, 3, 1, 0)),
        ("n5", at(2026, 12, 31, 0)),
    ];
    let mut items = Vec::new();
    for (i, (u, exp)) in due.iter().chain(not_due.iter()).enumerate() {
        let pid = if i % 2 == 0 { "PA" } else { "PB" };
        items.push(cert_row_item(pid, &row(u, "c1", Some(*exp))).unwrap());
    }
    // In progress with an expiry date: not a certification, not indexed.
    let mut in_progress = row("x1", "c1", Some(at(2027, 2, 5, 0)));
    in_progress.progress = ProgressStatus::InProgress;
    items.push(cert_row_item("PA", &in_progress).unwrap());
    // No expiry at all: not indexed either.
    items.push(cert_row_item("PA", &row("x2", "c1", None)).unwrap());
    s.batch_put(items).await.unwrap();
    s.reset_stats();

    let got = s
        .expiring_certs(at(2027, 1, 30, 0), at(2027, 2, 20, 0))
        .await
        .unwrap();
    let users: Vec<&str> = got.iter().map(|e| e.row.user_id.as_str()).collect();
    assert_eq!(users, vec!["u1", "u2", "u3", "u4"], "ordered by expiry");
    assert_eq!(got[0].partner_id, "PA");
    assert_eq!(got[1].partner_id, "PB");
    let st = s.stats();
    assert_eq!(st.requests("Query"), 2, "one Query per month touched");
    assert_eq!(st.op("Query").items_read, 4, "only due rows are read");
    assert_eq!(st.total_requests(), 2);

    // A single day is one Query.
    s.reset_stats();
    let day = s
        .expiring_certs(at(2027, 2, 1, 0), at(2027, 2, 2, 0))
        .await
        .unwrap();
    assert_eq!(day.len(), 1);
    assert_eq!(s.stats().requests("Query"), 1);
}

#[tokio::test]
async fn conditional_write_conflict() {
    let s = store("conflict").await;
    let first = StoreItem::new(
        Keys::new("IDEMP#run-1", "X", "IDEMP"),
        &serde_json::json!({"v": 1}),
    )
    .unwrap();
    let second = StoreItem::new(
        Keys::new("IDEMP#run-1", "X", "IDEMP"),
        &serde_json::json!({"v": 2}),
    )
    .unwrap();
    s.put_new(first).await.unwrap();
    match s.put_new(second).await {
        Err(StoreError::Conflict { pk, sk }) => {
            assert_eq!((pk.as_str(), sk.as_str()), ("IDEMP#run-1", "X"));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let v: serde_json::Value = s.get_as("IDEMP#run-1", "X").await.unwrap().unwrap();
    assert_eq!(v["v"], 1, "the first write stays");
    assert_eq!(s.stats().op("PutItem").conditional_failures, 1);
}

#[tokio::test]
async fn lease_acquire_conflict_stale_takeover_release() {
    let s = store("lease").await;
    let t0 = at(2026, 11, 23, 8);
    let a = s
        .acquire_lease("lms-users", "run-a", t0, DEFAULT_LEASE)
        .await
        .unwrap();
    assert_eq!(a.expires_at, t0 + Duration::minutes(30));

    // Another run while A is fresh: refused, naming the holder.
    match s
        .acquire_lease(
            "lms-users",
            "run-b",
            t0 + Duration::minutes(10),
            DEFAULT_LEASE,
        )
        .await
    {
        Err(StoreError::AlreadyHeld { owner, since, .. }) => {
            assert_eq!(owner, "run-a");
            assert_eq!(since, t0);
        }
        other => panic!("expected AlreadyHeld, got {other:?}"),
    }
    // Other tasks have their own locks.
    s.acquire_lease("courses", "run-b", t0, DEFAULT_LEASE)
        .await
        .unwrap();

    // A renews at +20 min: now valid until +50 min.
    let a = s
        .renew_lease(&a, t0 + Duration::minutes(20), DEFAULT_LEASE)
        .await
        .unwrap();
    assert!(matches!(
        s.acquire_lease(
            "lms-users",
            "run-b",
            t0 + Duration::minutes(45),
            DEFAULT_LEASE
        )
        .await,
        Err(StoreError::AlreadyHeld { .. })
    ));

    // A is stuck: 31 minutes after its last renewal B takes over.
    let b = s
        .acquire_lease(
            "lms-users",
            "run-b",
            t0 + Duration::minutes(51),
            DEFAULT_LEASE,
        )
        .await
        .unwrap();
    assert_eq!(
        s.get_lease("lms-users").await.unwrap().unwrap().owner,
        "run-b"
    );

    // The stuck run notices it lost the lock and cannot release B's.
    assert!(matches!(
        s.renew_lease(&a, t0 + Duration::minutes(52), DEFAULT_LEASE)
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(!s.release_lease(&a).await.unwrap());
    assert_eq!(
        s.get_lease("lms-users").await.unwrap().unwrap().owner,
        "run-b"
    );

    assert!(s.release_lease(&b).await.unwrap());
    assert!(s.get_lease("lms-users").await.unwrap().is_none());
    // Free again: anyone acquires at once.
    s.acquire_lease(
        "lms-users",
        "run-c",
        t0 + Duration::minutes(53),
        DEFAULT_LEASE,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn expire_lease_frees_the_lock_without_deleting() {
    let s = store("lease-expire").await;
    let t0 = at(2026, 11, 23, 7);
    let a = s
        .acquire_lease("reminders", "run-a", t0, DEFAULT_LEASE)
        .await
        .unwrap();
    let deletes = s.stats().requests("DeleteItem");
    let done = t0 + Duration::minutes(3);
    assert!(s.expire_lease(&a, done).await.unwrap());
    let held = s.get_lease("reminders").await.unwrap().unwrap();
    assert_eq!((held.owner.as_str(), held.expires_at), ("run-a", done));
    assert_eq!(s.stats().requests("DeleteItem"), deletes, "no DeleteItem");
    // Free at once for the next run, and the old holder cannot touch it.
    let b = s
        .acquire_lease("reminders", "run-b", done, DEFAULT_LEASE)
        .await
        .unwrap();
    assert!(!s.expire_lease(&a, done).await.unwrap());
    assert_eq!(s.get_lease("reminders").await.unwrap().unwrap(), b);
}

#[tokio::test]
async fn batch_of_more_than_25_writes_only_changed_items() {
    let s = store("batch").await;
    let mut courses: Vec<Course> = (0..60).map(|i| course(&format!("c{i:02}"), 1)).collect();
    let items = |cs: &[Course]| {
        cs.iter()
            .map(|c| course_item(c).unwrap())
            .collect::<Vec<_>>()
    };

    let w = s.put_if_changed(items(&courses)).await.unwrap();
    assert_eq!((w.written, w.unchanged), (60, 0));
    assert_eq!(w.write_requests, 3, "25 + 25 + 10");
    assert_eq!(w.read_requests, 1, "60 hashes fit one BatchGetItem");

    // Change 7 courses; send all 60 again.
    for c in courses.iter_mut().step_by(9) {
        c.npcu = 2;
    }
    s.reset_stats();
    let w = s.put_if_changed(items(&courses)).await.unwrap();
    assert_eq!((w.written, w.unchanged), (7, 53));
    assert_eq!(w.write_requests, 1);
    let st = s.stats();
    assert_eq!(st.requests("BatchWriteItem"), 1);
    assert_eq!(st.op("BatchWriteItem").items_written, 7);
    assert_eq!(st.requests("BatchGetItem"), 1);

    let stored = s.all_courses().await.unwrap();
    assert_eq!(stored.len(), 60);
    assert_eq!(stored.iter().filter(|c| c.npcu == 2).count(), 7);

    // With hashes the caller already loaded: no reads at all.
    let loaded = s.query_type(keys::entity::COURSE).await.unwrap();
    let known = portal_core::store::batch::hashes_of(&loaded);
    courses[1].name = "Renamed".into();
    s.reset_stats();
    let w = s
        .put_if_changed_known(items(&courses), &known)
        .await
        .unwrap();
    assert_eq!((w.written, w.unchanged), (1, 59));
    assert_eq!(s.stats().requests("BatchGetItem"), 0);
    assert_eq!(s.get_course("c01").await.unwrap().unwrap().name, "Renamed");

    // Nothing changed at all: not a single write request.
    s.reset_stats();
    let w = s.put_if_changed(items(&courses)).await.unwrap();
    assert_eq!((w.written, w.unchanged, w.write_requests), (0, 60, 0));
    assert_eq!(s.stats().requests("BatchWriteItem"), 0);
}

#[tokio::test]
async fn replace_partner_certs_writes_changes_and_deletes_stale_rows() {
    let s = store("replace").await;
    let exp = Some(at(2027, 6, 1, 0));
    let w = s
        .replace_partner_certs(
            "P1",
            &[
                row("u1", "c1", exp),
                row("u2", "c1", exp),
                row("u3", "c1", exp),
            ],
        )
        .await
        .unwrap();
    assert_eq!(w.written, 3);
    let mut renewed = row("u2", "c1", Some(at(2029, 6, 1, 0)));
    renewed.completed_at = Some(at(2027, 6, 1, 0));
    let w = s
        .replace_partner_certs("P1", &[row("u1", "c1", exp), renewed])
        .await
        .unwrap();
    assert_eq!((w.written, w.unchanged, w.deleted), (1, 1, 1));
    let d = s.partner_dashboard("P1").await.unwrap();
    assert_eq!(d.certs.len(), 2);
    // The renewed row moved in the expiry index too (its key was rewritten).
    let old = s
        .expiring_certs(at(2027, 6, 1, 0), at(2027, 6, 2, 0))
        .await
        .unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].row.user_id, "u1");
}

#[tokio::test]
async fn run_records_carry_a_ttl_and_list_newest_first() {
    let s = store("runs").await;
    let t0 = at(2026, 11, 20, 6);
    for (i, status) in [
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Succeeded,
    ]
    .into_iter()
    .enumerate()
    {
        let started = t0 + Duration::hours(i as i64 * 2);
        s.put_run_record(&RunRecord {
            task: "enrollments".into(),
            run_id: format!("r{i}"),
            mode: "incremental".into(),
            started_at: started,
            finished_at: Some(started + Duration::minutes(3)),
            status,
            processed: 10 * i as u64,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let raw = s
        .get(&keys::task_pk("enrollments"), &keys::run_sk(t0, "r0"))
        .await
        .unwrap()
        .expect("run item");
    let expected = (t0 + Duration::days(90)).timestamp().to_string();
    assert_eq!(raw.get(schema::TTL), Some(&AttributeValue::N(expected)));

    let recent: Vec<RunRecord> = s.recent_runs("enrollments", 2).await.unwrap();
    let ids: Vec<&str> = recent.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, vec!["r2", "r1"]);
    assert_eq!(recent[1].status, "failed");

    // Task state: watermark + checkpoint JSON survive a round trip, and all
    // task states are listed through the type index.
    let state = TaskState {
        task: "enrollments".into(),
        watermark: Some(t0),
        checkpoint: Some(serde_json::json!({"users_left": ["a", "b"], "page": 3})),
        last_run_id: Some("r2".into()),
        updated_at: Some(t0),
    };
    s.put_task_state(&state).await.unwrap();
    assert_eq!(
        s.get_task_state("enrollments").await.unwrap(),
        Some(state.clone())
    );
    assert_eq!(s.all_task_states().await.unwrap(), vec![state]);
}

#[tokio::test]
async fn query_past_one_megabyte_is_paginated() {
    let s = store("big").await;
    let padding = "x".repeat(100 * 1024);
    let items: Vec<StoreItem> = (0..30)
        .map(|i| {
            StoreItem::new(
                Keys::new("BIG#1", format!("ITEM#{i:03}"), "BIG"),
                &serde_json::json!({"i": i, "pad": padding}),
            )
            .unwrap()
        })
        .collect();
    s.batch_put(items).await.unwrap();
    s.reset_stats();

    let all = s.query_partition("BIG#1").await.unwrap();
    assert_eq!(all.len(), 30, "every item, across pages");
    let pages = s.stats().requests("Query");
    // ~3 MB at ≤ 1 MB per page.
    assert!(pages >= 3, "expected ≥ 3 pages, got {pages}");

    // One explicit page stops at 1 MB and hands back a continuation key.
    let (page, next) = s
        .query_page(&QuerySpec::partition("BIG#1"), None)
        .await
        .unwrap();
    assert!(page.len() < 30 && !page.is_empty());
    assert!(next.is_some(), "a continuation key");
    // The continuation survives the trip through an HTTP `cursor`.
    use portal_core::store::pages::{decode_cursor, encode_cursor, Walk};
    let spec = || vec![QuerySpec::partition("BIG#1")];
    let mut walk = Walk::new(spec());
    let first = walk.next_chunk(&s, 1000).await.unwrap().unwrap();
    assert_eq!(first.len(), page.len(), "a chunk also stops at 1 MB");
    let pos = walk.position().expect("more pages");
    let cursor = encode_cursor("big", &pos);
    let mut walk = Walk::resume(spec(), &decode_cursor(&cursor, "big").unwrap()).unwrap();
    let page2 = walk.next_chunk(&s, 1000).await.unwrap().unwrap();
    assert_eq!(
        page2.first().and_then(|i| i.get("i")),
        Some(&AttributeValue::N(page.len().to_string()))
    );
}

#[tokio::test]
async fn tokens_are_found_by_hash_and_revoked_by_id() {
    let s = store("tokens").await;
    let now = at(2026, 11, 23, 0);
    let secret = "pl_3f9a8c1e5b7d2f4a6c8e0b1d3f5a7c9e";
    let rec = TokenRecord {
        id: "tok-1".into(),
        kind: TokenKind::Partner,
        scope: Some("P1".into()),
        label: Some("dashboard link".into()),
        created_at: Some(now),
        expires_at: None,
        revoked_at: None,
    };
    let hash = s.put_token(secret, &rec).await.unwrap();
    assert_eq!(hash, hash_token(secret));

    assert_eq!(
        s.token_by_secret(secret, now).await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(
        s.token_by_hash(&hash, now).await.unwrap(),
        Some(rec.clone())
    );
    assert_eq!(s.token_by_secret("pl_wrong", now).await.unwrap(), None);

    // The secret is stored nowhere, only its hash (in the key).
    let raw = s
        .get(&keys::token_pk(&hash), keys::TOKEN_SK)
        .await
        .unwrap()
        .unwrap();
    assert!(!format!("{raw:?}").contains(secret));

    // Same secret twice is a conflict, never an overwrite.
    assert!(matches!(
        s.put_token(secret, &rec).await,
        Err(StoreError::Conflict { .. })
    ));

    // An expiring admin token: TTL set, unreadable after expiry.
    let admin = TokenRecord {
        id: "tok-2".into(),
        kind: TokenKind::Admin,
        expires_at: Some(now + Duration::days(1)),
        ..Default::default()
    };
    let h2 = s
        .put_token("adm_secret_value_0123456789", &admin)
        .await
        .unwrap();
    let raw = s
        .get(&keys::token_pk(&h2), keys::TOKEN_SK)
        .await
        .unwrap()
        .unwrap();
    assert!(raw.contains_key(schema::TTL));
    assert!(s.token_by_hash(&h2, now).await.unwrap().is_some());
    assert!(s
        .token_by_hash(&h2, now + Duration::days(2))
        .await
        .unwrap()
        .is_none());

    assert_eq!(s.all_tokens().await.unwrap().len(), 2);
    assert!(s.revoke_token("tok-1").await.unwrap());
    assert_eq!(s.token_by_secret(secret, now).await.unwrap(), None);
    assert!(!s.revoke_token("tok-1").await.unwrap());
}

#[tokio::test]
async fn reminder_claims_are_taken_once_and_expire() {
    let s = store("reminders").await;
    let now = at(2026, 11, 23, 7);
    let timeout = Duration::hours(1);
    let keep = now + Duration::days(400);
    let key = "u1#c1#2027-02-21#90d";
    let claim = |run: &'static str, t: DateTime<Utc>| {
        let s = s.clone();
        async move { s.claim_reminder(key, run, t, timeout, keep).await.unwrap() }
    };
    let ClaimOutcome::Claimed(first) = claim("run-a", now).await else {
        panic!("a new key is claimed");
    };
    assert_eq!(first.key(), key);
    assert_eq!(claim("run-b", now).await, ClaimOutcome::InFlight);
    let raw = s
        .get(&keys::reminder_pk(key), keys::CLAIM_SK)
        .await
        .unwrap()
        .unwrap();
    let expected = keep.timestamp().to_string();
    assert_eq!(raw.get(schema::TTL), Some(&AttributeValue::N(expected)));

    // A failed send gives the claim back (a PutItem: the item stays, with
    // the error), and the next run takes it again.
    let deletes = s.stats().requests("DeleteItem");
    assert!(s.release_reminder(&first, "SES throttled").await.unwrap());
    let rec = s.get_reminder_claim(key).await.unwrap().unwrap();
    assert_eq!(rec.state, claim_state::RELEASED);
    assert_eq!(rec.error.as_deref(), Some("SES throttled"));
    let ClaimOutcome::Claimed(second) = claim("run-b", now + Duration::minutes(5)).await else {
        panic!("a released claim is claimed again");
    };
    // The first claim is no longer ours: finishing it writes nothing.
    assert!(!s.mark_reminder_sent(&first, now, "m-0").await.unwrap());

    // A crashed run's claim (never finished) is taken over after the
    // timeout, not before; the slow original then cannot overwrite it.
    assert_eq!(
        claim("run-c", now + Duration::minutes(30)).await,
        ClaimOutcome::InFlight
    );
    let ClaimOutcome::Claimed(third) = claim("run-c", now + Duration::minutes(65)).await else {
        panic!("a stale claim is taken over");
    };
    assert!(!s.mark_reminder_sent(&second, now, "m-1").await.unwrap());
    assert!(s
        .mark_reminder_sent(&third, now + Duration::minutes(66), "m-2")
        .await
        .unwrap());
    let rec = s.get_reminder_claim(key).await.unwrap().unwrap();
    assert_eq!(
        (
            rec.state.as_str(),
            rec.run_id.as_str(),
            rec.message_id.as_deref()
        ),
        (claim_state::SENT, "run-c", Some("m-2"))
    );
    // Sent is final, however late.
    assert_eq!(
        claim("run-d", now + Duration::days(30)).await,
        ClaimOutcome::AlreadySent
    );
    assert_eq!(
        s.stats().requests("DeleteItem"),
        deletes,
        "claims never delete (the reminders role has no DeleteItem)"
    );

    s.put_optout(&OptOut {
        email: "Jane.Doe@Example.com".into(),
        at: Some(now),
        reason: None,
    })
    .await
    .unwrap();
    assert!(s.is_opted_out("jane.doe@example.com").await.unwrap());
    assert!(!s.is_opted_out("john@example.com").await.unwrap());
    assert!(s.remove_optout("JANE.DOE@example.com").await.unwrap());
    assert!(!s.is_opted_out("jane.doe@example.com").await.unwrap());
}

#[tokio::test]
async fn users_groups_and_email_lookup() {
    let s = store("lms").await;
    let user = LmsUser {
        id: "u1".into(),
        email: "John.Smith@Acme.com".into(),
        first_name: Some("John".into()),
        ..Default::default()
    };
    let mut items = user_items(&user).unwrap();
    items.push(
        membership_item(&Membership {
            group_id: "g1".into(),
            user_id: "u1".into(),
        })
        .unwrap(),
    );
    items.push(
        portal_core::store::entities::enrollment_item(&portal_core::model::Enrollment {
            user_id: "u1".into(),
            course_id: "c1".into(),
            progress: ProgressStatus::Completed,
            completed_at: Some(at(2026, 1, 1, 0)),
            ..Default::default()
        })
        .unwrap(),
    );
    s.batch_put(items).await.unwrap();

    assert_eq!(s.get_user("u1").await.unwrap(), Some(user.clone()));
    assert_eq!(s.all_users().await.unwrap(), vec![user]);
    let links = s.lookup_email("john.smith@ACME.com").await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].user_id.as_deref(), Some("u1"));
    assert_eq!(s.group_members("g1").await.unwrap().len(), 1);
    let enr = s.user_enrollments("u1").await.unwrap();
    assert_eq!(enr.len(), 1);
    assert_eq!(enr[0].completed_at, Some(at(2026, 1, 1, 0)));
}

/// The billed-capacity model behind the benchmark's cost table, on real
/// calls: a > 1 KB item costs 2 WRU to put, a Query page of small items
/// ½ RRU (eventually consistent), a consistent GetItem 1 RRU, and a failed
/// conditional put still 1 WRU.
#[tokio::test]
async fn capacity_units_follow_item_sizes() {
    let s = store("capacity").await;
    #[derive(serde::Serialize)]
    struct Doc {
        body: String,
    }
    let big = StoreItem::new(
        Keys::new("CAP#1", "BIG", "CAPDOC"),
        &Doc {
            body: "x".repeat(1500),
        },
    )
    .unwrap();
    let small = StoreItem::new(
        Keys::new("CAP#1", "SMALL", "CAPDOC"),
        &Doc { body: "y".into() },
    )
    .unwrap();
    s.put(big).await.unwrap();
    s.put(small.clone()).await.unwrap();
    let w = s.stats().op("PutItem");
    assert_eq!(w.items_written, 2);
    assert_eq!(w.write_units, 3.0, "2 WRU for the 1.5 KB item + 1: {w:?}");

    s.reset_stats();
    let got = s.query_partition("CAP#1").await.unwrap();
    assert_eq!(got.len(), 2);
    // 1.5 KB + a few bytes: one 4 KB unit, halved for eventual consistency.
    assert_eq!(s.stats().op("Query").read_units, 0.5);

    s.reset_stats();
    assert!(s.get("CAP#1", "SMALL").await.unwrap().is_some());
    assert!(s.get("CAP#1", "NONE").await.unwrap().is_none());
    assert_eq!(s.stats().op("GetItem").read_units, 2.0);

    s.reset_stats();
    assert!(matches!(
        s.put_new(small).await,
        Err(StoreError::Conflict { .. })
    ));
    let c = s.stats().op("PutItem");
    assert_eq!((c.conditional_failures, c.write_units), (1, 1.0));
}

/// The store counts what it wrote per entity type (`et`) — batch puts, single
/// puts and deletes — so the benchmark can tell data writes from locks, run
/// records and fetch markers by what was written, not by which call wrote
/// it. Unchanged items skipped by the hash compare and failed conditional
/// puts write nothing and count nothing.
#[tokio::test]
async fn written_items_are_counted_per_entity_type() {
    use portal_core::store::stats::DELETED;
    let s = store("by-entity").await;
    #[derive(serde::Serialize)]
    struct Doc {
        v: u32,
    }
    fn doc(sk: &str, et: &'static str, v: u32) -> StoreItem {
        StoreItem::new(Keys::new("ENT#1", sk, et), &Doc { v }).unwrap()
    }
    s.put_if_changed(vec![
        doc("A1", "ALPHA", 1),
        doc("A2", "ALPHA", 1),
        doc("B1", "BETA", 1),
    ])
    .await
    .unwrap();
    s.put(doc("R1", "RUN", 1)).await.unwrap();
    let w = s.stats().written_by_entity;
    assert_eq!(
        (w.get("ALPHA"), w.get("BETA"), w.get("RUN")),
        (Some(&2), Some(&1), Some(&1)),
        "{w:?}"
    );

    s.reset_stats();
    // One item changed, one unchanged: only the changed one is written.
    s.put_if_changed(vec![doc("A1", "ALPHA", 2), doc("B1", "BETA", 1)])
        .await
        .unwrap();
    assert!(s.put_new(doc("R1", "RUN", 9)).await.is_err());
    assert!(s.delete("ENT#1", "A2").await.unwrap());
    assert!(!s.delete("ENT#1", "A2").await.unwrap());
    s.batch_delete(vec![ItemKey::new("ENT#1", "B1")])
        .await
        .unwrap();
    let w: Vec<(String, u64)> = s.stats().written_by_entity.into_iter().collect();
    assert_eq!(
        w,
        [(DELETED.to_string(), 1), ("ALPHA".to_string(), 2)],
        "1 changed put + 1 delete of an ALPHA item, 1 batch delete"
    );
    let total: u64 = s.stats().ops.values().map(|o| o.items_written).sum();
    assert_eq!(total, 3, "the per-operation counters agree");
}

/// Records stored before there was one run record type (the sync's with
/// `unchanged`/`invocations`, the reminders' with the mail counters, each
/// with its status as text) still list through `RunRecord`.
#[tokio::test]
async fn run_records_of_every_earlier_shape_still_read() {
    let s = store("oldruns").await;
    let t0 = at(2026, 11, 20, 6);
    let sync_shape = serde_json::json!({
        "task": "old", "run_id": "sync", "mode": "incremental",
        "started_at": t0, "finished_at": null, "status": "taken_over",
        "processed": 7, "created": 1, "updated": 2, "unchanged": 4,
        "deactivated": 0, "failed": 0, "error": "stuck", "invocations": 2,
    });
    let reminders_shape = serde_json::json!({
        "task": "old", "run_id": "mail", "mode": "daily",
        "started_at": t0 + Duration::hours(1),
        "finished_at": t0 + Duration::hours(1), "status": "partial",
        "processed": 5, "created": 4, "failed": 1, "error": null,
        "window_after": t0, "window_until": t0 + Duration::hours(1),
        "due": 5, "sent": 4, "emails_sent": 3, "emails_failed": 1,
        "skipped": {"opted_out": 2}, "rows_read": 6,
    });
    s.put_run("old", t0, "sync", &sync_shape).await.unwrap();
    s.put_run("old", t0 + Duration::hours(1), "mail", &reminders_shape)
        .await
        .unwrap();

    let runs: Vec<RunRecord> = s.recent_runs("old", 10).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    let (mail, sync) = (&runs[0], &runs[1]);
    assert_eq!(sync.status, RunStatus::TakenOver);
    assert_eq!(
        (sync.started_at, sync.unchanged, sync.invocations),
        (t0, 4, 2)
    );
    assert_eq!(sync.skipped_total(), 0);
    assert_eq!(mail.status, RunStatus::Partial);
    assert_eq!((mail.due, mail.emails_sent, mail.rows_read), (5, 3, 6));
    assert_eq!(mail.skipped_for("opted_out"), 2);
    assert_eq!(mail.window_after, Some(t0));
}
