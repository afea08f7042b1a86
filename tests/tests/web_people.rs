//! People search, a person's page and the mail dashboard in headless
//! Chromium. The real reminders function runs (daily reminders and the PAM
//! digest, mail to the emulator's SES); then an admin finds a user by
//! e-mail, the person's page lists their partners, every certification
//! and the reminder just sent, and `/admin/mail` lists both runs with what
//! they sent and skipped by reason. A PAM finds only people of their own
//! partners: another PAM's person is 404 by page and absent from search.

mod web_support;

use std::collections::BTreeSet;

use chrono::Duration;
use portal_core::mail::SesMailer;
use portal_core::model::{PartnerSummary, ProgressStatus};
use portal_core::store::keys::normalize_email;
use portal_reminders::{Deps, Job, Settings};
use reqwest::Method;
use std::sync::Arc;
use web_support::{world, Browser, World, ADMIN, SENDER};

/// Users belonging to any of `partners` as far as the data says: group
/// members and users with an active contact's e-mail.
async fn people_of(
    w: &World,
    partners: &[&PartnerSummary],
) -> (BTreeSet<String>, BTreeSet<String>) {
    let store = &w.env.store;
    let contacts = store.all_contacts().await.unwrap();
    let mut ids = BTreeSet::new();
    let mut emails = BTreeSet::new();
    for p in partners {
        if let Some(g) = &p.lms_group_id {
            ids.extend(
                store
                    .group_members(g)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|m| m.user_id),
            );
        }
        emails.extend(
            contacts
                .iter()
                .filter(|c| c.account_id.as_deref() == Some(p.partner_id.as_str()))
                .map(|c| normalize_email(&c.email)),
        );
    }
    (ids, emails)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_search_person_page_and_mail_runs() {
    let w = world().await;
    let store = &w.env.store;
    let sums = w.summaries().await;
    let users = store.all_users().await.unwrap();
    let rows = store.all_cert_rows().await.unwrap();
    let partners = store.all_partners().await.unwrap();
    let active_partner = |id: &str| {
        partners
            .iter()
            .any(|p| p.id == id && p.tracked && p.account_status_active)
    };

    // PAM A and a certified user U of one of A's partners.
    let (pam, _, other) = w.pam_and_other().await;
    let mine: Vec<&PartnerSummary> = sums
        .iter()
        .filter(|s| {
            s.owner_email
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case(&pam))
        })
        .collect();
    let (a_ids, a_emails) = people_of(&w, &mine).await;
    let in_a = |u: &portal_core::model::LmsUser| {
        a_ids.contains(&u.id) || a_emails.contains(&normalize_email(&u.email))
    };
    let row = rows
        .iter()
        .filter(|r| {
            mine.iter().any(|s| s.partner_id == r.partner_id) && active_partner(&r.partner_id)
        })
        .find(|r| {
            r.row.progress == ProgressStatus::Completed
                && r.row.npcu > 0
                && r.row.expires_at.is_some()
                && users.iter().any(|u| u.id == r.row.user_id && u.is_active())
        })
        .expect("a certified user of the PAM's partners")
        .clone();
    let user = users
        .iter()
        .find(|u| u.id == row.row.user_id)
        .unwrap()
        .clone();
    let tracked: BTreeSet<&str> = sums.iter().map(|s| s.partner_id.as_str()).collect();
    let courses_of_user: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.row.user_id == user.id && tracked.contains(r.partner_id.as_str()))
        .map(|r| r.row.course_id.as_str())
        .collect();
    // V: a user of another PAM's partner who is nobody of A's.
    let others: Vec<&PartnerSummary> = sums
        .iter()
        .filter(|s| {
            s.owner_email
                .as_deref()
                .is_none_or(|o| !o.eq_ignore_ascii_case(&pam))
        })
        .collect();
    let (o_ids, _) = people_of(&w, &others).await;
    let stranger = users
        .iter()
        .find(|u| o_ids.contains(&u.id) && !in_a(u))
        .expect("a user of someone else's partner")
        .clone();

    // The real reminders run, at the instant U's certification reaches its
    // 30-day threshold, then the PAM digest.
    let sdk = w.env.emulator.sdk_config().await;
    let deps = Deps {
        store: store.clone(),
        mailer: Arc::new(
            SesMailer::from_sdk_config(&sdk, SENDER)
                .rate_per_second(0.0)
                .build(),
        ),
        settings: Settings::from_config(&w.env.config),
        links: None,
    };
    let expiry = row.row.expires_at.unwrap();
    let at = expiry - Duration::days(30) + Duration::hours(1);
    let reminders = portal_reminders::run(&deps, Job::Reminders, at)
        .await
        .expect("reminders run");
    assert!(reminders.sent >= 1, "{reminders:?}");
    let digest = portal_reminders::run(&deps, Job::PamDigest, w.env.now)
        .await
        .expect("digest run");

    let b = Browser::start(&w.server.url()).await;
    b.sign_in_with_token(ADMIN).await;

    // Search: too short a query asks for more; the e-mail finds U.
    b.goto("/people?q=a").await;
    assert!(b.text("#message").await.contains("at least 2"));
    b.goto("/people").await;
    b.fill("#q", &user.email.to_uppercase()).await;
    b.click("#search").await;
    let link = format!("#user-results a[href='/people/{}']", user.id);
    assert_eq!(b.count(&link).await, 1, "{}", b.source().await);
    b.click(&link).await;

    // The person: partners, every certification, the reminder just sent.
    assert_eq!(b.text("#person-email").await, user.email);
    let own_name = &sums
        .iter()
        .find(|s| s.partner_id == row.partner_id)
        .unwrap()
        .name;
    assert!(b.text("#person-partners").await.contains(own_name.as_str()));
    assert_eq!(
        b.count("#person-certs tbody tr[id^='cert-']").await,
        courses_of_user.len()
    );
    let cert_text = b.text(&format!("#cert-{}", row.row.course_id)).await;
    assert!(
        cert_text.contains(&expiry.format("%Y-%m-%d").to_string()),
        "{cert_text}"
    );
    let history = b.text("#person-reminders").await;
    assert!(
        history.contains(&row.row.course_name)
            && history.contains("sent")
            && history.contains("30"),
        "{history}"
    );

    // The mail dashboard: both runs with their numbers and skip reasons.
    b.goto("/admin/mail").await;
    let run = format!("#run-{}", reminders.run_id);
    assert_eq!(
        b.text(&format!("{run} .sent")).await,
        reminders.sent.to_string()
    );
    assert_eq!(
        b.text(&format!("{run} .due")).await,
        reminders.due.to_string()
    );
    assert_eq!(
        b.text(&format!("{run} .emails-sent")).await,
        reminders.emails_sent.to_string()
    );
    let skipped = b.text(&format!("{run} .skipped")).await;
    for (reason, n) in &reminders.skipped {
        assert!(
            skipped.contains(&format!("{}: {n}", reason.replace('_', " "))),
            "{skipped}"
        );
    }
    let drun = format!("#run-{}", digest.run_id);
    assert_eq!(
        b.text(&format!("{drun} .emails-sent")).await,
        digest.emails_sent.to_string()
    );
    let dskipped = b.text(&format!("{drun} .skipped")).await;
    for (reason, n) in &digest.skipped {
        assert!(
            dskipped.contains(&format!("{}: {n}", reason.replace('_', " "))),
            "{dskipped}"
        );
    }
    // "Last synced" is the sync's, not the reminder run's future instant.
    let synced = b.text("#synced").await;
    assert!(
        !synced.contains(&at.format("%Y-%m-%d %H:%M").to_string()),
        "{synced}"
    );

    // Every signed-in page: not stored by caches, says when data was
    // last synced.
    let admin_cookie = b.session_cookie().await.unwrap();
    for path in [
        "/".to_string(),
        "/reports".into(),
        "/reports/leaderboard".into(),
        "/people?q=ab".into(),
        format!("/people/{}", user.id),
        format!("/partners/{}", row.partner_id),
        "/admin/sync".into(),
        "/admin/tokens".into(),
        "/admin/mail".into(),
    ] {
        let r = w
            .with_session(Method::GET, &path, &admin_cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"synced\">Data last synced"), "{path}");
    }

    // On a phone-sized screen the pages fit the width (tables turn into
    // one card per row) and the navigation stays usable.
    b.client.set_window_size(400, 900).await.unwrap();
    for path in [
        format!("/people/{}", user.id),
        "/reports/leaderboard".to_string(),
        format!("/partners/{}", row.partner_id),
        "/admin/mail".into(),
    ] {
        b.goto(&path).await;
        let fits = b
            .client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth \
                 && getComputedStyle(document.querySelector('thead')).display === 'none';",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, serde_json::Value::Bool(true), "{path}");
    }
    b.client.set_window_size(1200, 1600).await.unwrap();

    // PAM A: their people only.
    let (_, token) = w.pam_token(&pam).await;
    b.forget_cookies().await;
    b.sign_in_with_token(&token).await;
    b.goto(&format!("/people?q={}", user.email)).await;
    assert_eq!(
        b.count(&link).await,
        1,
        "the PAM finds their partner's user"
    );
    b.goto(&format!("/people?q={}", stranger.email)).await;
    assert_eq!(
        b.count(&format!("#user-results a[href='/people/{}']", stranger.id))
            .await,
        0,
        "another PAM's person is not found"
    );
    assert!(!b
        .source()
        .await
        .contains(&format!("/partners/{}\"", other.partner_id)));
    let cookie = b.session_cookie().await.unwrap();
    let r = w
        .with_session(Method::GET, &format!("/people/{}", stranger.id), &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "another PAM's person is 404");
    let r = w
        .with_session(Method::GET, &format!("/people/{}", user.id), &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // The mail dashboard is an admin page.
    let r = w
        .with_session(Method::GET, "/admin/mail", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    b.quit().await;
}
