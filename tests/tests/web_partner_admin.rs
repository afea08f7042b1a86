//! The staff partner page in headless Chromium: the partner's CRM contacts,
//! the users in its group and those matched only by a contact's e-mail;
//! an admin adds and removes a manual award and an organisation
//! certification (the NPCU follows each time), pins and unpins the group,
//! and revokes the portal link (the old dashboard link then answers 404).
//! A PAM sees the people but none of the tools, and their forms are 404.

mod web_support;

use std::collections::BTreeSet;

use chrono::Duration;
use fantoccini::Locator;
use portal_core::store::keys::normalize_email;
use reqwest::Method;
use serde_json::Value;
use web_support::{world, Browser, ADMIN};

/// Sets a date input's value (typing follows the browser's locale order).
async fn set_value(b: &Browser, id: &str, value: &str) {
    b.client
        .execute(
            "document.getElementById(arguments[0]).value = arguments[1];",
            vec![Value::String(id.into()), Value::String(value.into())],
        )
        .await
        .unwrap();
}

async fn npcu(b: &Browser) -> u32 {
    b.text("#npcu").await.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_page_people_awards_group_and_link() {
    let w = world().await;
    let store = &w.env.store;
    let users = store.all_users().await.unwrap();
    let contacts = store.all_contacts().await.unwrap();

    // A partner with a group, contacts and, preferably, a user reached
    // only through a contact.
    let mut chosen = None;
    for s in w.summaries().await {
        let Some(g) = s.lms_group_id.clone() else {
            continue;
        };
        let own: Vec<_> = contacts
            .iter()
            .filter(|c| c.account_id.as_deref() == Some(s.partner_id.as_str()))
            .collect();
        if own.is_empty() {
            continue;
        }
        let members: BTreeSet<String> = store
            .group_members(&g)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        let emails: BTreeSet<String> = own
            .iter()
            .filter(|c| c.active)
            .map(|c| normalize_email(&c.email))
            .collect();
        let matched_only = users
            .iter()
            .filter(|u| u.is_active() && !members.contains(&u.id))
            .filter(|u| emails.contains(&normalize_email(&u.email)))
            .count();
        let better = matched_only > 0;
        if chosen.is_none() || better {
            chosen = Some((s.clone(), g, own.len(), members, emails, matched_only));
        }
        if better {
            break;
        }
    }
    let (partner, group_id, n_contacts, members, contact_emails, matched_only) =
        chosen.expect("a partner with a group and contacts");
    let pid = partner.partner_id.clone();
    let active_members = users
        .iter()
        .filter(|u| u.is_active() && members.contains(&u.id))
        .count();

    let b = Browser::start(&w.server.url()).await;
    b.sign_in_with_token(ADMIN).await;
    b.goto(&format!("/partners/{pid}")).await;

    // People: contacts from the CRM data, the group, matched-only users.
    assert_eq!(b.count("#contacts tbody tr").await, n_contacts);
    assert_eq!(b.count("#in-group tbody tr a").await, active_members);
    assert_eq!(b.count("#matched-only tbody tr a").await, matched_only);
    for a in b
        .client
        .find_all(Locator::Css("#matched-only tbody a"))
        .await
        .unwrap()
    {
        let href = a.attr("href").await.unwrap().unwrap();
        let uid = href.trim_start_matches("/people/");
        assert!(!members.contains(uid), "{uid} is in the group");
        let u = users.iter().find(|u| u.id == uid).expect("listed user");
        assert!(contact_emails.contains(&normalize_email(&u.email)));
    }
    assert!(b.text("#group-current").await.contains(&group_id));

    // A manual award adds the course's NPCU; removing it takes it away.
    let before = npcu(&b).await;
    let courses = store.all_courses().await.unwrap();
    let d = store.partner_dashboard(&pid).await.unwrap();
    let member_with_gap = users
        .iter()
        .filter(|u| u.is_active() && members.contains(&u.id))
        .find_map(|u| {
            let course = courses.iter().filter(|c| c.npcu > 0).find(|c| {
                !d.certs
                    .iter()
                    .any(|r| r.user_id == u.id && r.course_id == c.id)
            })?;
            Some((u.email.clone(), course.clone()))
        });
    let (email, course) = member_with_gap.expect("a member without some course");
    b.fill("#a-email", &email).await;
    b.fill("#a-course", &course.id).await;
    let day = (w.env.now - Duration::days(3))
        .format("%Y-%m-%d")
        .to_string();
    set_value(&b, "a-completed", &day).await;
    b.fill("#a-note", "<b>by hand</b>").await;
    b.click("#add-award").await;
    assert_eq!(npcu(&b).await, before + u32::from(course.npcu));
    let award = store
        .all_awards()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.course_id == course.id && a.email.as_deref() == Some(&email.to_lowercase()))
        .expect("stored award");
    let row = format!("#award-{}", award.id);
    assert!(
        b.text(&row).await.contains("<b>by hand</b>"),
        "escaped note"
    );
    b.click(&format!("{row} button")).await;
    assert!(b.text("#notice").await.starts_with("Award removed"));
    assert_eq!(npcu(&b).await, before);
    assert_eq!(b.count(&row).await, 0);
    assert!(store
        .all_awards()
        .await
        .unwrap()
        .iter()
        .all(|a| a.id != award.id));
    let api = w.admin_json(&format!("/api/partners/{pid}")).await;
    assert_eq!(api["npcu"].as_u64().unwrap(), u64::from(before));

    // An organisation certification likewise.
    b.fill("#o-name", "Vendor audit").await;
    b.fill("#o-npcu", "4").await;
    set_value(&b, "o-start", &day).await;
    let end = (w.env.now + Duration::days(300))
        .format("%Y-%m-%d")
        .to_string();
    set_value(&b, "o-end", &end).await;
    b.click("#add-org").await;
    assert_eq!(npcu(&b).await, before + 4);
    let org = store.partner_dashboard(&pid).await.unwrap().org_certs;
    assert_eq!(org.len(), 1);
    b.click(&format!("#org-{} button", org[0].id)).await;
    assert!(b.text("#notice").await.starts_with("Certification removed"));
    assert_eq!(npcu(&b).await, before);
    assert!(store
        .partner_dashboard(&pid)
        .await
        .unwrap()
        .org_certs
        .is_empty());

    // The group pin: set, shown, cleared.
    b.fill("#pin-group", &group_id).await;
    b.click("#pin").await;
    assert_eq!(b.count("#group-pinned").await, 1);
    assert!(store.get_partner(&pid).await.unwrap().unwrap().group_pinned);
    b.click("#unpin").await;
    assert!(b.text("#notice").await.starts_with("Pin cleared"));
    let p = store.get_partner(&pid).await.unwrap().unwrap();
    assert!(!p.group_pinned);
    assert_eq!(p.lms_group_id.as_deref(), Some(group_id.as_str()));
    // An unknown group is refused with the API's reason; nothing changes.
    b.fill("#pin-group", "no-such-group").await;
    b.click("#pin").await;
    assert!(b.text("#error").await.contains("unknown LMS group"));
    assert!(!store.get_partner(&pid).await.unwrap().unwrap().group_pinned);

    // The portal link: issued, copyable, revoked — the old link is dead.
    b.goto(&format!("/partners/{pid}")).await;
    if b.count("#link-url").await == 0 {
        b.click("#show-link").await;
        b.goto(&format!("/partners/{pid}")).await;
    }
    let old = b.text("#link-url").await;
    let copy = b
        .client
        .find(Locator::Css("#copy-link"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap();
    assert!(copy, "portal.js shows the copy button");
    // Links carry the configured public address; asked here by path.
    let status = |url: String| {
        let http = w.http.clone();
        let local = w.url(&url[url.find("/p/").expect("a /p/ link")..]);
        async move { http.get(local).send().await.unwrap().status() }
    };
    assert_eq!(status(old.clone()).await, 200);
    b.click("#revoke-link").await;
    assert!(b.text("#notice").await.starts_with("Link revoked"));
    let new = b.text("#link-url").await;
    assert_ne!(new, old);
    assert_eq!(status(old).await, 404, "the revoked link no longer opens");
    assert_eq!(status(new).await, 200);

    // A PAM of this partner sees the people, not the tools; the forms are
    // 404 even with the PAM's own anti-forgery token.
    let pam = partner.owner_email.clone().expect("owned partner");
    let (_, token) = w.pam_token(&pam.to_lowercase()).await;
    b.forget_cookies().await;
    b.sign_in_with_token(&token).await;
    b.goto(&format!("/partners/{pid}")).await;
    assert_eq!(b.count("#contacts tbody tr").await, n_contacts);
    for tool in ["#revoke-link", "#pin", "#add-award", "#awards button"] {
        assert_eq!(b.count(tool).await, 0, "{tool}");
    }
    let cookie = b.session_cookie().await.unwrap();
    let csrf = store
        .session_by_secret(&cookie, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap()
        .csrf;
    for path in [
        format!("/partners/{pid}/group/clear"),
        format!("/partners/{pid}/awards/x/remove"),
        format!("/partners/{pid}/link/revoke"),
    ] {
        let r = w
            .with_session(Method::POST, &path, &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}&group_id={group_id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    b.quit().await;
}
