//! Portal sign-in in headless Chromium: token form, one-time e-mail links
//! read back from the emulator's SES (PAM and admin; prefetched by a
//! "scanner", used by the button's POST, used twice; unknown address), the session cookie and item, `?token=` links, CSRF
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
    // A mail scanner prefetching the link (GET, twice) spends nothing: it
    // gets a page with a button and no session.
    for _ in 0..2 {
        let r = w.http.get(w.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("set-cookie").is_none());
        assert!(r.text().await.unwrap().contains("id=\"link-sign-in\""));
    }
    // A post from another site is refused and leaves the link usable.
    for (h, v) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = w.http.post(w.url(&path)).header(h, v).send().await.unwrap();
        assert_eq!(r.status(), 403, "{h}: {v}");
    }
    b.goto(&path).await;
    assert!(
        b.text("h2").await.contains(&pam),
        "the page names the address"
    );
    assert_eq!(b.session_cookie().await, None, "the GET did not sign in");
    b.click("#link-sign-in").await;
    assert_eq!(b.location().await, "/", "{}", b.source().await);
    assert_eq!(b.text("#who").await, pam);
    // The button's POST used the link: a second POST fails cleanly.
    let r = w.http.post(w.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .headers()
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap().starts_with("portal_session=")));
    assert!(r.text().await.unwrap().contains("already used"));
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
    b.click("#link-sign-in").await;
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

/// GETs the sign-in page; returns its anti-forgery value
/// (cookie and field are the same string).
async fn login_csrf(w: &web_support::World) -> String {
    let r = w.http.get(w.url("/")).send().await.unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    set.split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("portal_login_csrf="))
        .expect("login csrf cookie")
        .to_string()
}

/// `application/x-www-form-urlencoded` value.
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn post_login(
    w: &web_support::World,
    csrf: &str,
    path: &str,
    ip: &str,
    field: (&str, &str),
) -> reqwest::Response {
    w.http
        .post(w.url(path))
        .header("cookie", format!("portal_login_csrf={csrf}"))
        .header("x-forwarded-for", format!("{ip}, 10.255.0.1"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}&{}={}", enc(csrf), field.0, enc(field.1)))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_rate_limited_per_client_and_per_address() {
    use portal_core::store::access::hash_token;
    use web_support::World;
    // Nothing synced: the configured admin address is the known one.
    let w: World = web_support::world_with(false).await;
    let csrf = login_csrf(&w).await;
    let known = w.admin_email.clone();
    let per_email = portal_reports::web::session::LOGIN_PER_EMAIL.max as usize;
    let per_client = portal_reports::web::session::LOGIN_PER_CLIENT.max as usize;

    // Per address, from a different client each time: the limit's worth of
    // links goes out, then 429 with Retry-After — the same page for an
    // address nobody knows.
    let mut limited = Vec::new();
    for (n, email) in [known.as_str(), "nobody-at-all@web.test"]
        .iter()
        .enumerate()
    {
        for i in 0..per_email {
            let r = post_login(
                &w,
                &csrf,
                "/login/email",
                &format!("10.0.{n}.{i}"),
                ("email", email),
            )
            .await;
            assert_eq!(r.status(), 200, "{email} attempt {i}");
        }
        let r = post_login(
            &w,
            &csrf,
            "/login/email",
            &format!("10.0.{n}.99"),
            ("email", email),
        )
        .await;
        assert_eq!(r.status(), 429, "{email}");
        let wait: i64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=15 * 60).contains(&wait), "{wait}");
        limited.push(r.text().await.unwrap());
    }
    assert!(
        limited[0].contains("Too many sign-in attempts"),
        "{}",
        limited[0]
    );
    assert_eq!(limited[0], limited[1], "known and unknown answered alike");
    assert_eq!(
        w.mail_to(&known).await.len(),
        per_email,
        "no mail past the limit"
    );

    // Per client, over both forms: wrong tokens up to the limit, then even
    // the right token is refused from that client — but not from another.
    let ip = "10.9.9.9";
    for i in 0..per_client {
        let r = post_login(&w, &csrf, "/login", ip, ("token", "wrong")).await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = post_login(&w, &csrf, "/login", ip, ("token", ADMIN)).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r
        .headers()
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("portal_session=")));
    let r = post_login(&w, &csrf, "/login/email", ip, ("email", &known)).await;
    assert_eq!(r.status(), 429, "the e-mail form shares the client's limit");
    let r = post_login(&w, &csrf, "/login", "10.9.9.10", ("token", ADMIN)).await;
    assert_eq!(r.status(), 303, "another client signs in");

    // The counter is stored under the hash of the address, with a TTL.
    let store = &w.env.store;
    let item = store
        .get(&keys::rate_pk("login-ip", &hash_token(ip)), keys::RATE_SK)
        .await
        .unwrap()
        .expect("counter item");
    assert_eq!(item["count"].as_n().unwrap(), &(per_client + 2).to_string());
    assert!(item.contains_key("ttl"));

    // Concurrent attempts (containers racing, the first ones opening the
    // window) lose no count: each gets its own number.
    let limit = portal_core::store::ratelimit::RateLimit {
        max: 100,
        window: chrono::Duration::minutes(15),
    };
    let now = chrono::Utc::now();
    let counts = futures::future::join_all(
        (0..12).map(|_| store.count_attempt("race", "one subject", limit, now)),
    )
    .await;
    let mut counts: Vec<u64> = counts
        .into_iter()
        .map(|d| match d.unwrap() {
            portal_core::store::ratelimit::RateDecision::Allowed { count } => count,
            other => panic!("{other:?}"),
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=12).collect::<Vec<u64>>());
    // Once the window is over, counting starts again at one.
    let later = now + chrono::Duration::minutes(16);
    assert_eq!(
        store
            .count_attempt("race", "one subject", limit, later)
            .await
            .unwrap(),
        portal_core::store::ratelimit::RateDecision::Allowed { count: 1 }
    );
}
