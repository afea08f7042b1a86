//! Partner links cannot come back once revoked, and a partner keeps
//! exactly one live link: the revoke-during-push race replayed
//! deterministically (the admin revokes between the push's read of the
//! tokens and its write), repeated revokes, concurrent revokes, and links
//! left over from before revocation kept tombstones.

mod security_support;

use std::sync::{Arc, Mutex};

use futures::FutureExt;
use portal_core::access::{partner_link_record, partner_link_token};
use portal_core::store::access::{with_link_issue_hook, LinkIssueHook};
use portal_sync::{Mode, RunStatus, TaskName};
use reqwest::Method;
use security_support::{send, world, World, ADMIN};
use serde_json::{json, Value};

const LINK_KEY: &str = "e2e-link-key";

async fn page_status(w: &World, token: &str) -> u16 {
    w.get(&format!("/p/{token}"), None).await.status().as_u16()
}

/// What the CRM holds in the dashboard field of account `id`.
fn crm_link(w: &World, id: &str) -> Option<String> {
    w.env
        .sims
        .dataset_snapshot()
        .accounts
        .iter()
        .find(|a| {
            a.get("Id")
                .map(|v| v.to_string().trim_matches('"') == id)
                .unwrap_or(false)
        })
        .and_then(|a| a.get("LMS_Training_Dashboard__cf"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_revoked_while_a_push_runs_stays_dead() {
    let w = world(3).await;
    let tracked = w.tracked().await;
    let pid = tracked[0].partner_id.clone();
    // The partner starts without any link record, as a new partner does
    // (the full sync's push issued one: remove it by hand).
    assert!(w
        .env
        .store
        .revoke_token(&format!("link-1-{pid}"))
        .await
        .unwrap());
    assert!(w.live_links(&pid).await.is_empty());

    // Between the push's read of the tokens (it sees no link for `pid`)
    // and its first write, an admin issues the link and revokes it.
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (http, base, target, log) = (w.http.clone(), w.server.url(), pid.clone(), seen.clone());
    let hook: LinkIssueHook = Arc::new(move |partner: String| {
        let (http, base, target, log) = (http.clone(), base.clone(), target.clone(), log.clone());
        async move {
            if partner != target || !log.lock().unwrap().is_empty() {
                return;
            }
            let created: Value = send(
                &http,
                &format!("{base}/api/admin/tokens"),
                Method::POST,
                Some(ADMIN),
                Some(json!({"kind": "partner_link", "partner_id": partner})),
            )
            .await
            .json()
            .await
            .unwrap();
            let r = send(
                &http,
                &format!(
                    "{base}/api/admin/tokens/{}",
                    created["id"].as_str().unwrap()
                ),
                Method::DELETE,
                Some(ADMIN),
                None,
            )
            .await;
            assert_eq!(r.status(), 200);
            let revoked: Value = r.json().await.unwrap();
            log.lock().unwrap().extend([created, revoked]);
        }
        .boxed()
    });
    let summary = with_link_issue_hook(
        hook,
        portal_sync::run_to_completion(&w.env.deps, TaskName::CrmPush, Mode::Full, None),
    )
    .await;
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary:#?}");

    let log = seen.lock().unwrap().clone();
    assert_eq!(log.len(), 2, "the hook ran the admin revoke once");
    let (created, revoked) = (&log[0], &log[1]);
    assert_eq!(created["version"], 1);
    let v1 = created["token"].as_str().unwrap();
    let v2 = revoked["replacement"]["token"].as_str().unwrap();
    assert_eq!(revoked["replacement"]["version"], 2);

    // The push wrote after the revoke and still did not bring v1 back.
    assert_eq!(page_status(&w, v1).await, 404, "revoked link answers again");
    assert_eq!(page_status(&w, v2).await, 200);
    let live = w.live_links(&pid).await;
    assert_eq!(
        live.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [format!("link-2-{pid}")]
    );
    // …and the CRM got the live link, not the revoked one.
    let pushed = crm_link(&w, &pid).expect("dashboard field pushed");
    assert!(pushed.ends_with(&format!("/p/{v2}")), "{pushed}");

    // A later push keeps it so.
    let again =
        portal_sync::run_to_completion(&w.env.deps, TaskName::CrmPush, Mode::Full, None).await;
    assert_eq!(again.status, RunStatus::Succeeded);
    assert_eq!(page_status(&w, v1).await, 404);
    assert_eq!(w.live_links(&pid).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_always_leaves_exactly_one_live_link() {
    let w = world(3).await;
    let tracked = w.tracked().await;
    let (p, q) = (tracked[0].partner_id.clone(), tracked[1].partner_id.clone());

    // Revoke the current link twice in a row: each time exactly the new one
    // is live, every earlier one dead.
    let first = w
        .create_token(json!({"kind": "partner_link", "partner_id": p}))
        .await;
    assert_eq!(first["version"], 1, "the push's link is the current one");
    let mut dead = vec![first["token"].as_str().unwrap().to_string()];
    let mut id = first["id"].as_str().unwrap().to_string();
    for want in [2, 3] {
        let r = w
            .send(
                Method::DELETE,
                &format!("/api/admin/tokens/{id}"),
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["replacement"]["version"], want);
        let live = w.live_links(&p).await;
        assert_eq!(live.len(), 1, "{live:#?}");
        assert_eq!(live[0].id, format!("link-{want}-{p}"));
        for t in &dead {
            assert_eq!(page_status(&w, t).await, 404);
        }
        let token = v["replacement"]["token"].as_str().unwrap().to_string();
        assert_eq!(page_status(&w, &token).await, 200);
        dead.push(token);
        id = v["replacement"]["id"].as_str().unwrap().to_string();
    }
    // Revoking a dead link again changes nothing: the live one stays.
    let r = w
        .send(
            Method::DELETE,
            &format!("/api/admin/tokens/link-1-{p}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["replacement"]["version"], 3);
    assert_eq!(w.live_links(&p).await.len(), 1);

    // Two admins revoke the same link at once: one replacement, not two.
    let path = format!("/api/admin/tokens/link-3-{p}");
    let (a, b) = tokio::join!(
        w.send(Method::DELETE, &path, Some(ADMIN), None),
        w.send(Method::DELETE, &path, Some(ADMIN), None),
    );
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["replacement"], b["replacement"]);
    assert_eq!(w.live_links(&p).await.len(), 1);

    // A partner with two live links from before tombstones (the old race
    // left such pairs): revoking either leaves exactly one.
    let now = w.env.now;
    let extra = partner_link_token(LINK_KEY, &q, 2);
    w.env
        .store
        .put_token(&extra, &partner_link_record(&q, 2, now))
        .await
        .unwrap();
    assert_eq!(w.live_links(&q).await.len(), 2);
    let r = w
        .send(
            Method::DELETE,
            &format!("/api/admin/tokens/link-2-{q}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let live = w.live_links(&q).await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].id, format!("link-3-{q}"));
    let v1 = partner_link_token(LINK_KEY, &q, 1);
    assert_eq!(
        page_status(&w, &v1).await,
        404,
        "the older live link is closed too"
    );

    // Unknown links are 404 and change nothing.
    let r = w
        .send(
            Method::DELETE,
            &format!("/api/admin/tokens/link-9-{q}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(w.live_links(&q).await.len(), 1);
}
