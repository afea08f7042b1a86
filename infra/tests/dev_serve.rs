//! The dev server in-process (fast, no sync): the reports Lambda handler
//! answers behind the hyper adapter, and the `/dev/mail` pages list what
//! the local SES accepted.

use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use portal_core::config::Secret;
use portal_core::mail::{Email, Mailer, SesMailer};
use portal_core::model::{PartnerSummary, Tier};
use portal_core::store::entities::summary_item;
use portal_infra::datagen::DatasetSize;
use portal_infra::dev::serve;
use portal_infra::dev::stack::{Stack, StackOptions, DEV_MAIL_FROM};
use portal_reports::AppState;

const ADMIN: &str = "dev-serve-admin-token-0123456789abcdef";

#[tokio::test(flavor = "multi_thread")]
async fn reports_handler_and_mail_pages_share_one_port() {
    let listener = serve::bind(0).await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let stack = Stack::start(&StackOptions {
        dataset: DatasetSize::Small,
        seed: 5,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 23).expect("date"),
        northpass: None,
        impartner: None,
        public_base_url: base.clone(),
        admin_token: ADMIN.into(),
        link_key: "k".into(),
        unsubscribe_key: "u".into(),
    })
    .await
    .expect("stack");
    // The clock is pinned to the as-of day, for the portal and the sims.
    assert_eq!(
        stack.config.clock.now(),
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    );
    let summary = PartnerSummary {
        partner_id: "p-1".into(),
        name: "Serve & Co <Ltd>".into(),
        tier: Some(Tier::Premier),
        tracked: true,
        computed_at: stack.now,
        ..Default::default()
    };
    stack
        .store
        .put(summary_item(&summary).expect("item"))
        .await
        .expect("put");
    // The sender identity exists: a send is accepted.
    let mailer = SesMailer::from_sdk_config(&stack.sdk, DEV_MAIL_FROM).build();
    mailer
        .send(&Email {
            to: "pam@partner.example".into(),
            subject: "Expiring <soon>".into(),
            html: "<p>hello</p>".into(),
            text: "hello".into(),
            unsubscribe_url: None,
        })
        .await
        .expect("send");

    let app = AppState::new(&stack.config, stack.store.clone())
        .with_admin_token(ADMIN)
        .with_link_key(Secret::new("k"));
    let router = serve::router(app, stack.emulator.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::serve(listener, router, async {
        let _ = rx.await;
    }));

    let http = reqwest::Client::new();
    let r = http
        .get(format!("{base}/api/reports/leaderboard"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("leaderboard");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(body.to_string().contains("Serve & Co <Ltd>"), "{body}");

    let list = http
        .get(format!("{base}/dev/mail"))
        .send()
        .await
        .expect("mail list")
        .text()
        .await
        .expect("text");
    assert!(list.contains("1 e-mail(s)"), "{list}");
    assert!(list.contains("Expiring &lt;soon&gt;"), "{list}");
    let one = http
        .get(format!("{base}/dev/mail/1"))
        .send()
        .await
        .expect("mail one");
    assert_eq!(one.status(), 200);
    assert_eq!(one.headers()["content-security-policy"], "sandbox");
    assert_eq!(
        http.get(format!("{base}/dev/mail/2"))
            .send()
            .await
            .expect("404")
            .status(),
        404
    );

    let _ = tx.send(());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops on signal")
        .expect("join")
        .expect("serve");
    let moto = stack.emulator.pid();
    stack.shutdown().await;
    assert!(
        !portal_infra::dev::procs::alive(moto),
        "moto stopped with the stack"
    );
}
