//! Portal sign-in in headless Chromium: token form, one-time e-mail links
//! read back from the emulator's SES (PAM and admin; used twice; unknown
//! address), the session cookie and item, `?token=` links, CSRF
//! rejection, and sign-out.

mod web_support;

use portal_core::store::keys;
use reqwest::Method;
use web_support::{sign_in_path, world, Browser, ADMIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sessions_csrf_and_logout() {
    let w = world().await;
    let b = Browser::start(&w.server.url()).await;
    let store = &w.env.store;

    // Signed out, `/` is the sign-in page, with the portal's headers.
    b.goto("/").await;
    assert_eq!(b.count("#send-link").await, 1);
    let r = w.http.get(w.url("/")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    // A wrong token is refused on the page.
    b.fill("#token", "not-a-token").await;
    b.click("#token-sign-in").await;
    assert!(b.text("#message").await.contains("not valid"));
    assert_eq!(b.session_cookie().await, None);

    // Token sign-in: the home page shows the API's overview numbers.
    b.sign_in_with_token(ADMIN).await;
    assert_eq!(b.text("#who").await, "admin");
    let ov = &w.admin_json("/api/reports/overview").await["data"][0];
    assert_eq!(
        b.text("#kpi-partners").await,
        ov["active_partners"].to_string()
    );
    assert_eq!(b.text("#kpi-npcu").await, ov["total_npcu"].to_string());
    assert!(b.text("#synced").await.starts_with("Data last synced"));
    let cookie = b.session_cookie().await.expect("session cookie");
    // The table holds only the hash of the cookie value.
    assert!(store
        .get(&keys::session_pk(&cookie), keys::SESSION_SK)
        .await
        .unwrap()
        .is_none());
    let rec = store
        .session_by_secret(&cookie, chrono::Utc::now())
        .await
        .unwrap()
        .expect("session item");
    assert_eq!(rec.who, "admin");
    // The cookie authorises API reads (export links) ...
    let r = w
        .with_session(Method::GET, "/api/reports/overview", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // ... but not API writes: those still need the bearer token.
    let r = w
        .with_session(Method::POST, "/api/admin/tasks/lms-users/run", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // CSRF: a form post without, or with a wrong, token is refused and
    // changes nothing.
    for body in ["mode=full", "mode=full&csrf=forged"] {
        let r = w
            .with_session(Method::POST, "/admin/sync/lms-users/run", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{body}");
    }
    let r = w
        .with_session(Method::POST, "/logout", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(w.runs.lock().unwrap().is_empty(), "no run was started");
    assert!(store
        .session_by_secret(&cookie, chrono::Utc::now())
        .await
        .unwrap()
        .is_some());

    // Sign-out ends the session: the item is gone and the cookie is dead.
    b.click("#logout").await;
    assert_eq!(b.count("#send-link").await, 1);
    assert!(store
        .session_by_secret(&cookie, chrono::Utc::now())
        .await
        .unwrap()
        .is_none());
    let r = w
        .with_session(Method::GET, "/api/reports/overview", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // E-mail sign-in of a PAM: the link comes through SES, works once.
    let (pam, _own, other) = w.pam_and_other().await;
    b.goto("/").await;
    b.fill("#email", &pam.to_uppercase()).await;
    b.click("#send-link").await;
    let sent_text = b.text("#message").await;
    assert!(
        sent_text.contains("sign-in link is on its way"),
        "{sent_text}"
    );
    let mails = w.mail_to(&pam).await;
    assert_eq!(mails.len(), 1, "one mail to the PAM");
    let path = sign_in_path(&mails[0].body).expect("link in the mail");
    b.goto(&path).await;
    assert_eq!(b.location().await, "/");
    assert_eq!(b.text("#who").await, pam);
    // The PAM's home counts only their partners.
    let mine = w
        .summaries()
        .await
        .iter()
        .filter(|s| {
            s.owner_email
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case(&pam))
        })
        .count();
    assert_eq!(b.text("#kpi-partners").await, mine.to_string());
    assert!(!b
        .source()
        .await
        .contains(&format!("/partners/{}\"", other.partner_id)));
    // A used link does not sign in again.
    b.forget_cookies().await;
    b.goto(&path).await;
    assert!(b.text("#message").await.contains("already used"));
    assert_eq!(b.session_cookie().await, None);

    // An unknown address gets the same answer and no mail.
    let unknown = "nobody-here@web.test";
    b.goto("/").await;
    b.fill("#email", unknown).await;
    b.click("#send-link").await;
    assert_eq!(b.text("#message").await, sent_text);
    assert!(w.mail_to(unknown).await.is_empty());

    // A configured admin address signs in as admin.
    b.fill("#email", &w.admin_email).await;
    b.click("#send-link").await;
    let mails = w.mail_to(&w.admin_email).await;
    assert_eq!(mails.len(), 1);
    b.goto(&sign_in_path(&mails[0].body).unwrap()).await;
    assert_eq!(b.text("#who").await, w.admin_email);
    assert_eq!(
        b.count("nav a[href='/admin/sync']").await,
        1,
        "admin navigation"
    );

    // `?token=` signs in and redirects to the same address without it.
    b.forget_cookies().await;
    b.goto(&format!("/reports/leaderboard?tier=Select&token={ADMIN}"))
        .await;
    assert_eq!(b.location().await, "/reports/leaderboard?tier=Select");
    assert_eq!(b.text("#who").await, "admin");
    b.quit().await;

    // Cookie attributes (plain-http 127.0.0.1: no `Secure`).
    let r = w
        .http
        .get(w.url(&format!("/?token={ADMIN}")))
        .send()
        .await
        .unwrap();
    let set: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("portal_session="))
        .expect("cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(!session.contains("Secure"));
    // Behind HTTPS it is `Secure`.
    let r = w
        .http
        .get(w.url(&format!("/?token={ADMIN}")))
        .header("host", "portal.example.com")
        .send()
        .await
        .unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap();
    assert!(set.contains("; Secure;"), "{set}");
}
