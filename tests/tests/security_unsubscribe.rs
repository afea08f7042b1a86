//! Unsubscribing takes a person's decision, not a link opening: the
//! reminder mail (read back from moto's SES) carries a link and one-click
//! `List-Unsubscribe` headers; `GET` and `HEAD` of the link — what mail
//! scanners and prefetchers do — change nothing; `POST` (the page's button
//! or RFC 8058 one-click) records the opt-out; the confirmation offers
//! re-subscribing, which works; the token does not show the address.

mod reminders_support;

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use portal_core::config::{Config, Secret};
use portal_core::mail::{Email, MailError, Mailer};
use portal_reminders::{run, Job};
use portal_reports::local::spawn;
use portal_reports::AppState;
use reminders_support::*;

/// The real SES mailer, keeping a copy of each message's list headers
/// (moto's outbox keeps bodies, not the headers of a simple message).
struct Recording {
    inner: Arc<dyn Mailer>,
    seen: Mutex<Vec<Email>>,
}

impl Mailer for Recording {
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<String, MailError>> {
        self.seen.lock().unwrap().push(email.clone());
        self.inner.send(email)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_an_unsubscribe_link_changes_nothing_posting_does_and_can_be_undone() {
    let env = Env::new("unsub").await;
    env.partner("p1", "Acme Partners", None).await;
    env.user("ann", true).await;
    env.cert("p1", "ann", "k2", days(30)).await;
    let rec = Arc::new(Recording {
        inner: env.ses.clone(),
        seen: Mutex::default(),
    });
    let deps = env.deps_with(rec.clone(), portal_reminders::Settings::default());
    run(&deps, Job::Reminders, now()).await.unwrap();

    // What SES received: one mail to ann with a link in the body…
    let ann = env.email("ann");
    let mails = env.sent().await;
    let mail = only_mail_to(&mails, &ann);
    let tokens = unsubscribe_tokens(mail);
    assert!(!tokens.is_empty(), "{}", mail.body);
    let token = tokens[0].clone();
    // Neither the address nor its base64 (`YW5u` = "ann") is in the link.
    assert!(
        !token.to_lowercase().contains("ann") && !token.starts_with("YW5u"),
        "the link must not carry the address: {token}"
    );
    // …and the same URL in one-click list headers.
    let sent = rec.seen.lock().unwrap().clone();
    let headers = sent.iter().find(|e| e.to == ann).unwrap().list_headers();
    let url = format!("{PUBLIC_BASE_URL}/unsubscribe/{token}");
    assert!(
        headers.contains(&("List-Unsubscribe", format!("<{url}>"))),
        "{headers:?}"
    );
    assert!(headers.contains(&("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into())));

    // The reports API over the same table and key.
    let table = env.store.table().to_string();
    let config = Config::from_lookup(move |k| match k {
        "PORTAL_TABLE" => Some(table.clone()),
        "PORTAL_NOW" => Some(now().to_rfc3339()),
        _ => None,
    })
    .unwrap();
    let state = AppState::new(&config, env.store.clone()).with_unsubscribe_key(Secret::new(
        String::from_utf8(UNSUBSCRIBE_KEY.to_vec()).unwrap(),
    ));
    let server = spawn(state, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let link = format!("{}/unsubscribe/{token}", server.url());
    let http = reqwest::Client::new();

    // HEAD and GET (a scanner, a prefetcher, a person opening it): a page
    // with a button, and no opt-out.
    assert_eq!(http.head(&link).send().await.unwrap().status(), 200);
    let r = http.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains(r#"<form method="post" action="">"#), "{page}");
    assert!(page.contains(">Unsubscribe</button>"), "{page}");
    assert!(!page.contains(&ann), "the page masks the address");
    assert!(
        !env.store.is_opted_out(&ann).await.unwrap(),
        "GET unsubscribed"
    );

    // A real browser opening it: still nothing (no script to auto-submit).
    let dom = chromium_dom(&link);
    assert!(dom.contains("Stop certification reminders?"), "{dom}");
    assert!(
        !env.store.is_opted_out(&ann).await.unwrap(),
        "browser GET unsubscribed"
    );

    // The mail client's one-click POST (RFC 8058 body) records it.
    let r = http
        .post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let done = r.text().await.unwrap();
    assert!(done.contains("You are unsubscribed"), "{done}");
    assert!(env.store.is_opted_out(&ann).await.unwrap());
    // The confirmation offers the way back, relative to the link.
    let back = format!("{token}&#x2f;resubscribe");
    assert!(done.contains(&format!(r#"action="{back}""#)), "{done}");
    // Re-subscribing: GET does nothing, POST does.
    let again = format!("{link}/resubscribe");
    assert_eq!(http.get(&again).send().await.unwrap().status(), 405);
    assert!(env.store.is_opted_out(&ann).await.unwrap());
    let r = http.post(&again).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are subscribed again"));
    assert!(!env.store.is_opted_out(&ann).await.unwrap());

    // Tampered and foreign-key tokens: 404, nothing written.
    let mut bad = token.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    let r = http
        .post(format!("{}/unsubscribe/{bad}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let foreign = portal_core::access::unsubscribe_token("other-key", &ann, now());
    let r = http
        .post(format!("{}/unsubscribe/{foreign}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(!env.store.is_opted_out(&ann).await.unwrap());

    // The link works for a year from the mail, then no longer.
    let valid = portal_core::access::verify_unsubscribe(UNSUBSCRIBE_KEY, &token, now()).unwrap();
    let year = days(portal_core::access::UNSUBSCRIBE_VALIDITY_DAYS);
    assert!(valid.expires_at > now() + year - days(1), "{valid:?}");
    assert!(valid.expires_at <= chrono::Utc::now() + year, "{valid:?}");
    let expired =
        portal_core::access::verify_unsubscribe(UNSUBSCRIBE_KEY, &token, valid.expires_at);
    assert_eq!(expired, None);
}

/// The DOM headless Chromium ends with after opening `url`.
fn chromium_dom(url: &str) -> String {
    let dir = std::env::temp_dir().join(format!("unsub-chromium-{}", std::process::id()));
    let out = std::process::Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            &format!("--user-data-dir={}", dir.display()),
            "--dump-dom",
            url,
        ])
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stdout).into_owned()
}
