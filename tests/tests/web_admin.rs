//! Admin pages in headless Chromium: the sync dashboard shows the webhook
//! counters and "Run now" produces a run, a PAM token is created (shown
//! once), works, and is revoked, and a manual award added on the partner
//! page raises the partner's NPCU. A PAM does not get the admin pages.

mod web_support;

use chrono::Duration;
use portal_core::store::hooks::HookCounter;
use portal_reports::RunMode;
use reqwest::Method;
use web_support::{world, Browser, ADMIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_dashboard_tokens_and_manual_award() {
    let w = world().await;
    let store = &w.env.store;
    let b = Browser::start(&w.server.url()).await;
    b.sign_in_with_token(ADMIN).await;

    // Sync dashboard: every task, with its last run, and the webhook
    // counters as the store holds them (this world has no webhook queue).
    store.count_hook(HookCounter::Received, 3).await.unwrap();
    store.count_hook(HookCounter::Processed, 2).await.unwrap();
    b.goto("/admin/sync").await;
    // Every task, `lms-recert` (its own daily schedule) included.
    assert_eq!(
        b.count("section.task").await,
        portal_sync::TaskName::every().count()
    );
    assert_eq!(b.text("#webhooks td.received").await, "3");
    assert_eq!(b.text("#webhooks td.processed").await, "2");
    assert_eq!(b.text("#webhooks td.failed").await, "0");
    assert!(
        b.text("#webhooks p.state").await.starts_with("off"),
        "{}",
        b.text("#webhooks").await
    );
    let text = b.text("#task-lms-courses").await;
    assert!(
        text.contains("Last run:") && !text.contains("Never run"),
        "{text}"
    );
    let before: Vec<portal_core::store::leases::RunRecord> =
        store.recent_runs("lms-courses", 100).await.unwrap();
    b.client
        .find(fantoccini::Locator::Css("#mode-lms-courses"))
        .await
        .unwrap()
        .select_by_value("full")
        .await
        .unwrap();
    b.click("#task-lms-courses button.run").await;
    assert_eq!(b.location().await, "/admin/sync?done=run");
    assert_eq!(b.text("#notice").await, "Run started.");
    assert_eq!(
        w.runs.lock().unwrap().clone(),
        vec![("lms-courses".to_string(), RunMode::Full)]
    );
    // The in-process run records itself; the dashboard lists it.
    let mut after = Vec::new();
    for _ in 0..100 {
        after = store.recent_runs("lms-courses", 100).await.unwrap();
        if after.len() > before.len()
            && after
                .iter()
                .all(|r: &portal_core::store::leases::RunRecord| r.status != "running")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(after.len(), before.len() + 1, "one new run");
    assert_eq!(after[0].mode, "full");
    b.goto("/admin/sync").await;
    assert_eq!(
        b.count("#task-lms-courses table.runs tbody tr").await,
        after.len().min(5)
    );

    // Tokens: a PAM token is shown once, works, and is revoked.
    let (pam, own, _) = w.pam_and_other().await;
    b.goto("/admin/tokens").await;
    b.fill("#owner_email", &pam).await;
    b.fill("#label", "web test").await;
    b.click("#create-pam").await;
    let secret = b.text("#new-secret").await;
    assert!(secret.len() >= 43, "{secret}");
    let overview = |t: String| {
        let w = &w;
        async move {
            w.http
                .get(w.url("/api/reports/overview"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(overview(secret.clone()).await, 200);
    let tokens = store.all_tokens().await.unwrap();
    let rec = tokens
        .iter()
        .find(|t| t.label.as_deref() == Some("web test"))
        .expect("stored");
    assert_eq!(rec.scope.as_deref(), Some(pam.as_str()));
    // Shown once: the list page does not have it.
    b.goto("/admin/tokens").await;
    assert!(!b.source().await.contains(&secret));
    assert_eq!(b.count(&format!("#token-{} button", rec.id)).await, 1);
    b.click(&format!("#token-{} button", rec.id)).await;
    assert_eq!(b.text("#notice").await, "Revoked.");
    assert_eq!(b.count(&format!("#token-{}", rec.id)).await, 0);
    assert_eq!(overview(secret).await, 401);

    // A manual award on the partner page raises the partner's NPCU.
    let courses = store.all_courses().await.unwrap();
    let course = courses
        .iter()
        .filter(|c| c.npcu > 0)
        .max_by_key(|c| c.npcu)
        .unwrap();
    let (partner, email) = {
        let mut found = None;
        for s in w
            .summaries()
            .await
            .iter()
            .filter(|s| s.lms_group_id.is_some())
        {
            let d = store.partner_dashboard(&s.partner_id).await.unwrap();
            if let Some(row) = d.certs.iter().find(|r| {
                !d.certs
                    .iter()
                    .any(|x| x.user_id == r.user_id && x.course_id == course.id)
            }) {
                let user = store.get_user(&row.user_id).await.unwrap().expect("user");
                found = Some((s.partner_id.clone(), user.email));
                break;
            }
        }
        found.expect("a member without the course")
    };
    b.goto(&format!("/partners/{partner}")).await;
    let npcu: u32 = b.text("#npcu").await.parse().unwrap();
    b.fill("#a-email", &email).await;
    b.fill("#a-course", &course.id).await;
    // Date inputs take the typed date in the browser's locale order;
    // set the value directly to stay locale-independent.
    let day = (w.env.now - Duration::days(10))
        .format("%Y-%m-%d")
        .to_string();
    b.client
        .execute(
            "document.getElementById('a-completed').value = arguments[0];",
            vec![serde_json::Value::String(day)],
        )
        .await
        .unwrap();
    b.click("#add-award").await;
    assert_eq!(
        b.text("#notice").await,
        "Saved. The numbers above include it."
    );
    let shown: u32 = b.text("#npcu").await.parse().unwrap();
    assert_eq!(shown, npcu + u32::from(course.npcu));
    let api = w.admin_json(&format!("/api/partners/{partner}")).await;
    assert_eq!(api["npcu"].as_u64().unwrap(), u64::from(shown));

    // A PAM gets neither the admin pages nor their forms.
    let (_, pam_token) = w.pam_token(&pam).await;
    b.forget_cookies().await;
    b.sign_in_with_token(&pam_token).await;
    assert_eq!(b.count("a[href='/admin/sync']").await, 0);
    let cookie = b.session_cookie().await.unwrap();
    for p in ["/admin/sync", "/admin/tokens"] {
        let r = w
            .with_session(Method::GET, p, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{p}");
    }
    b.goto(&format!("/partners/{}", own.partner_id)).await;
    assert_eq!(b.count("#add-award").await, 0, "no staff tools for a PAM");
    b.quit().await;
}
