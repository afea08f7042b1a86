//! An export larger than a Lambda response may be (6 MB) succeeds end to
//! end: the built `reports` binary runs under the Runtime API emulator
//! (which refuses responses over 6 MB as Lambda does), writes the file to the
//! export bucket in the emulator's S3 and answers 303 to a presigned URL,
//! which serves the whole file. A small export stays inline.

use std::process::Command;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use portal_core::model::{CertRow, PartnerSummary, ProgressStatus, Tier};
use portal_core::store::entities::{cert_row_item, summary_item};
use portal_infra::datagen::DatasetSize;
use portal_infra::dev::lambda_rie::{
    apigw_v2_event, target_dir, HttpAnswer, LocalLambda, RuntimeApi, MAX_PAYLOAD,
};
use portal_infra::dev::stack::{Stack, StackOptions};

const ADMIN: &str = "exports-admin-token-0123456789abcdef";
const PARTNER: &str = "p-big-export";
/// Rows of ~560 bytes in the CSV: ≈ 7.8 MB, over the limit.
const ROWS: usize = 14_000;

fn build_reports() -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "-p", "portal-reports", "--bin", "reports"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "building reports failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    target_dir().join("reports")
}

async fn seed(stack: &Stack) {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
    let summary = PartnerSummary {
        partner_id: PARTNER.into(),
        name: "Global Systems Integrator Ltd".into(),
        tier: Some(Tier::Premier),
        tracked: true,
        computed_at: now,
        ..Default::default()
    };
    stack
        .store
        .put(summary_item(&summary).unwrap())
        .await
        .unwrap();
    // Long course names, as real catalogues have, make each row large.
    let course_name = format!("Advanced Certification Track {}", "x".repeat(400));
    let items = (0..ROWS)
        .map(|i| {
            let row = CertRow {
                user_id: format!("user-{i:05}"),
                user_name: format!("Person Number {i:05}"),
                email: format!("person.{i:05}@gsi.example.com"),
                course_id: format!("course-{}", i % 3),
                course_name: course_name.clone(),
                category: Some("Platform".into()),
                npcu: 1,
                progress: ProgressStatus::Completed,
                completed_at: Some(now - chrono::Duration::days(100)),
                expires_at: Some(now + chrono::Duration::days(300)),
                ..Default::default()
            };
            cert_row_item(PARTNER, &row).unwrap()
        })
        .collect();
    stack.store.batch_put(items).await.expect("seed rows");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_over_six_megabytes_is_served_from_s3() {
    let bin = build_reports();
    let stack = Stack::start(&StackOptions {
        dataset: DatasetSize::Small,
        seed: 3,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
        northpass: None,
        impartner: None,
        public_base_url: "http://127.0.0.1:9".into(),
        admin_token: ADMIN.into(),
        link_key: "exports-link-key".into(),
        unsubscribe_key: "exports-unsub-key".into(),
    })
    .await
    .expect("local stack");
    seed(&stack).await;

    let rie = RuntimeApi::start().await.expect("runtime API");
    let mut reports =
        LocalLambda::spawn(&bin, &rie, "reports", &stack.process_env()).expect("spawn reports");
    reports.timeout = Duration::from_secs(120);
    reports
        .wait_ready(Duration::from_secs(30))
        .await
        .expect("reports polls the runtime API");
    let auth = format!("Bearer {ADMIN}");

    // Small: inline, as before.
    let inv = reports
        .invoke(&apigw_v2_event(
            "GET",
            "/api/reports/user-certifications?format=csv&limit=10",
            &[("authorization", &auth)],
            None,
        ))
        .await
        .expect("invoke");
    let small = HttpAnswer::from_payload(&inv.json().expect("payload")).expect("apigw");
    assert_eq!(small.status, 200, "{}", small.text());
    assert_eq!(small.text().lines().count(), 11, "header + 10 rows inline");

    // Large: through S3.
    let inv = reports
        .invoke(&apigw_v2_event(
            "GET",
            "/api/reports/user-certifications?format=csv",
            &[("authorization", &auth)],
            None,
        ))
        .await
        .expect("invoke");
    let payload = inv
        .json()
        .unwrap_or_else(|e| panic!("{e}\n{}", reports.output()));
    let big = HttpAnswer::from_payload(&payload).expect("apigw");
    assert_eq!(big.status, 303, "{}", big.text());
    assert_eq!(
        big.headers.get("cache-control").map(String::as_str),
        Some("no-store")
    );
    let location = big.headers.get("location").expect("Location").clone();
    assert!(location.contains("X-Amz-Expires=300"), "{location}");
    let file = reqwest::get(&location).await.expect("GET presigned URL");
    assert_eq!(file.status(), 200);
    assert!(
        file.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("user-certifications.csv"),
        "{:?}",
        file.headers()
    );
    let body = file.text().await.expect("file body");
    assert!(body.len() > MAX_PAYLOAD, "{} bytes", body.len());
    assert_eq!(body.lines().count(), ROWS + 1, "every row, once");
    assert!(body.contains("person.13999@gsi.example.com"));
}
