//! Access control over the HTTP API: the matrix admin / PAM / partner link
//! / no token / revoked token × every route, scoping of PAM reports, the
//! security headers, revocable partner links, and an inert hostile name.

mod reports_support;

use portal_core::store::entities;
use reports_support::{world, ADMIN};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Admin,
    Pam,
    Partner,
    Nobody,
    Revoked,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_matrix_scoping_and_links() {
    let w = world().await;
    let sums = w.summaries().await;
    // A PAM with at least one partner, and a partner of someone else.
    let own = sums
        .iter()
        .find(|s| s.owner_email.is_some())
        .expect("owned partner")
        .clone();
    let pam_email = own.owner_email.clone().unwrap();
    let other = sums
        .iter()
        .find(|s| s.owner_email.as_deref() != Some(&pam_email))
        .expect("another partner")
        .clone();

    let (_, pam, _) = w
        .create_token(json!({"kind": "pam", "owner_email": pam_email.to_uppercase()}))
        .await;
    let (link_id, link, created) = w
        .create_token(json!({"kind": "partner_link", "partner_id": own.partner_id}))
        .await;
    assert!(created["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/p/{link}")));
    let (revoked_id, revoked, _) = w
        .create_token(json!({"kind": "pam", "owner_email": pam_email}))
        .await;
    let r = w
        .send(
            Method::DELETE,
            &format!("/api/admin/tokens/{revoked_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(link.len() >= 43 && pam.len() >= 43, "≥ 128-bit tokens");

    let token = |who: Who| match who {
        Who::Admin => Some(ADMIN),
        Who::Pam => Some(pam.as_str()),
        Who::Partner => Some(link.as_str()),
        Who::Nobody => None,
        Who::Revoked => Some(revoked.as_str()),
    };
    let reports = [
        "overview",
        "leaderboard",
        "gaps",
        "user-certifications",
        "expiring",
        "owners",
        "partners-without-groups",
        "contacts-not-in-lms",
    ];
    let own_path = format!("/api/partners/{}", own.partner_id);
    let other_path = format!("/api/partners/{}", other.partner_id);
    // (method, path, body, expected status per who: admin, pam, partner)
    let mut routes: Vec<(Method, String, Option<Value>, [u16; 3])> = reports
        .iter()
        .map(|r| {
            (
                Method::GET,
                format!("/api/reports/{r}"),
                None,
                [200, 200, 404],
            )
        })
        .collect();
    routes.extend([
        (
            Method::GET,
            "/api/reports/orphans".to_string(),
            None,
            [200, 404, 404],
        ),
        (Method::GET, own_path.clone(), None, [200, 200, 200]),
        (Method::GET, other_path.clone(), None, [200, 404, 404]),
        (
            Method::GET,
            "/api/partners/no-such-partner".into(),
            None,
            [404, 404, 404],
        ),
        (
            Method::GET,
            "/api/admin/tasks".into(),
            None,
            [200, 404, 404],
        ),
        (
            Method::GET,
            "/api/admin/tasks/lms-users/runs".into(),
            None,
            [200, 404, 404],
        ),
        (
            Method::POST,
            "/api/admin/tasks/nope/run".into(),
            None,
            [400, 404, 404],
        ),
        (
            Method::POST,
            "/api/admin/tasks/lms-users/reset".into(),
            None,
            [200, 404, 404],
        ),
        (
            Method::GET,
            "/api/admin/tokens".into(),
            None,
            [200, 404, 404],
        ),
        (
            Method::POST,
            "/api/admin/tokens".into(),
            Some(json!({"kind": "bogus"})),
            [400, 404, 404],
        ),
        (
            Method::DELETE,
            "/api/admin/tokens/tok-unknown".into(),
            None,
            [404, 404, 404],
        ),
        (
            Method::POST,
            "/api/admin/awards".into(),
            Some(json!({})),
            [400, 404, 404],
        ),
        (
            Method::PUT,
            format!("/api/admin/partners/{}/group", own.partner_id),
            Some(json!({})),
            [400, 404, 404],
        ),
    ]);
    for (method, path, body, expect) in &routes {
        for who in [
            Who::Admin,
            Who::Pam,
            Who::Partner,
            Who::Nobody,
            Who::Revoked,
        ] {
            let r = w.send(method.clone(), path, token(who), body.clone()).await;
            let want = match who {
                Who::Admin => expect[0],
                Who::Pam => expect[1],
                Who::Partner => expect[2],
                Who::Nobody | Who::Revoked => 401,
            };
            assert_eq!(r.status().as_u16(), want, "{method} {path} as {who:?}");
            assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
            assert_eq!(r.headers()["referrer-policy"], "no-referrer", "{path}");
            let b: Value = r.json().await.unwrap_or(Value::Null);
            if want == 404 {
                // Same body for unknown and out of scope: nothing to probe.
                assert_eq!(b, json!({"error": "not found"}), "{path} as {who:?}");
            }
        }
    }

    // ?token= works like the header (a PAM clicking a URL).
    let r = w
        .get(
            &format!("/api/reports/leaderboard?limit=1000&token={pam}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    let rows = b["data"].as_array().unwrap();
    let want = sums
        .iter()
        .filter(|s| s.owner_email.as_deref() == Some(&pam_email))
        .count();
    assert_eq!(rows.len(), want, "PAM sees only own partners");
    assert!(rows.iter().all(|r| r["owner_email"] == pam_email.as_str()));

    // The partner's private page; revoking the link replaces it.
    let r = w.get(&format!("/p/{link}"), None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let r = w
        .send(
            Method::DELETE,
            &format!("/api/admin/tokens/{link_id}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let rv: Value = r.json().await.unwrap();
    let new_link = rv["replacement"]["token"].as_str().unwrap().to_string();
    assert_ne!(new_link, link);
    let r = w.get(&format!("/p/{link}"), None).await;
    assert_eq!(r.status(), 404);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("This link is not valid"),
        "clear page, not a stack trace"
    );
    assert_eq!(w.get(&format!("/p/{new_link}"), None).await.status(), 200);
    assert_eq!(
        w.get(&own_path, Some(&link)).await.status(),
        401,
        "old link as bearer"
    );
    assert_eq!(w.get("/p/not-a-real-link", None).await.status(), 404);
    // The owners report shows the current link.
    let ow = w
        .admin_json(&format!("/api/reports/owners?limit=1000&owner={pam_email}"))
        .await;
    let line = ow["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["partner_id"] == own.partner_id.as_str())
        .unwrap();
    assert!(
        line["portal_link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/p/{new_link}")),
        "{line}"
    );

    // A hostile partner name renders as text.
    let mut p = w
        .env
        .store
        .get_partner(&own.partner_id)
        .await
        .unwrap()
        .unwrap();
    p.name = "<script>alert(1)</script>".into();
    w.env
        .store
        .put(entities::partner_item(&p).unwrap())
        .await
        .unwrap();
    let html = w
        .get(&format!("/p/{new_link}"), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>alert(1)</script>"), "escaped");
    assert!(!html.contains("<script"), "no script element at all");
    assert!(html.contains("&lt;script&gt;alert(1)"));

    // Health needs no token; unknown paths 404.
    assert_eq!(w.get("/health", None).await.status(), 200);
    assert_eq!(w.get("/nope", None).await.status(), 404);
}
