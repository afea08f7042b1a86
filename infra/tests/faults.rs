//! Rate limit and injected faults, over real HTTP.

mod common;

use std::time::Duration;

use common::*;
use portal_infra::sim::{FaultAction, ScriptedFault, Server, ServerOptions, SimConfig};

#[tokio::test]
async fn rate_limiter_answers_429_at_the_configured_rate() {
    let mut cfg = SimConfig::new(small(1));
    cfg.northpass = ServerOptions {
        rate_limit: Some(5.0),
        burst: 5,
        ..Default::default()
    };
    let sims = start_with(cfg).await;
    let (mut ok, mut limited) = (0u64, 0u64);
    for _ in 0..40 {
        let r = np_get(&sims, "/v2/courses?limit=1").await;
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                let ra: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(ra >= 1);
            }
            s => panic!("unexpected status {s}"),
        }
    }
    // The burst of 5 first, then what refilled meanwhile: 40 quick
    // requests cannot all pass a 5/s bucket. (The bucket's arithmetic
    // against a fake clock is a unit test in `sim::faults`.)
    assert!(ok >= 5, "ok={ok}");
    assert!(limited > 0 && ok < 40, "ok={ok} limited={limited}");
    assert_eq!(ok + limited, 40);
    let stats = sims.stats().northpass;
    assert_eq!(stats.rate_limited, limited);
    assert_eq!(stats.count("GET /v2/courses"), 40);

    // After waiting, tokens are back; lifting the limit at run time works.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(np_get(&sims, "/v2/courses").await.status(), 200);
    sims.set_options(Server::Northpass, ServerOptions::default());
    for _ in 0..20 {
        assert_eq!(np_get(&sims, "/v2/courses").await.status(), 200);
    }
}

#[tokio::test]
async fn malformed_body_is_unparseable_and_5xx_is_injected() {
    let sims = start().await;
    sims.set_options(
        Server::Northpass,
        ServerOptions {
            p_malformed: 1.0,
            ..Default::default()
        },
    );
    let r = np_get(&sims, "/v2/people").await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.is_empty());
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
    assert_eq!(sims.stats().northpass.malformed, 1);

    sims.set_options(
        Server::Impartner,
        ServerOptions {
            p_5xx: 1.0,
            ..Default::default()
        },
    );
    let r = prm_get(&sims, "Account", &[]).await;
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(sims.stats().impartner.injected_5xx, 1);
}

#[tokio::test]
async fn hang_outlasts_the_client_timeout() {
    let sims = start().await;
    sims.set_options(
        Server::Northpass,
        ServerOptions {
            p_hang: 1.0,
            hang: Duration::from_secs(5),
            ..Default::default()
        },
    );
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = c
        .get(format!("{}/v2/people", sims.northpass_url()))
        .header("X-Api-Key", sims.northpass_key())
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(sims.stats().northpass.hangs, 1);
}

#[tokio::test]
async fn control_endpoints_set_options_and_read_stats() {
    let sims = start().await;
    let c = client();
    let base = sims.northpass_url();
    let r = c
        .post(format!("{base}/_sim/options"))
        .json(&serde_json::json!({"p_5xx": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(np_get(&sims, "/v2/people").await.status().is_server_error());
    let stats: serde_json::Value = c
        .get(format!("{base}/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["northpass"]["injected_5xx"], 1);
    assert_eq!(stats["northpass"]["requests"]["GET /v2/people"], 1);
    c.post(format!("{base}/_sim/stats/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(sims.stats().northpass.total_requests, 0);
}

#[tokio::test]
async fn scripted_faults_hit_exactly_the_numbered_requests() {
    let sims = start().await;
    sims.script_faults(
        Server::Northpass,
        vec![
            ScriptedFault::nth(
                "GET /v2/people",
                2,
                FaultAction::Status {
                    code: 503,
                    retry_after: None,
                },
            ),
            ScriptedFault::run(
                "GET /v2/courses",
                1,
                2,
                FaultAction::Status {
                    code: 429,
                    retry_after: None,
                },
            ),
            ScriptedFault::nth("GET /v2/courses", 3, FaultAction::Truncate),
        ],
    );
    let mut seen = Vec::new();
    for path in ["/v2/people", "/v2/people", "/v2/people"] {
        seen.push(np_get(&sims, path).await.status().as_u16());
    }
    assert_eq!(seen, vec![200, 503, 200]);
    let r = np_get(&sims, "/v2/courses").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none(), "no Retry-After");
    assert_eq!(np_get(&sims, "/v2/courses").await.status(), 429);
    let r = np_get(&sims, "/v2/courses").await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
    let r = np_get(&sims, "/v2/courses").await;
    assert!(r.json::<serde_json::Value>().await.unwrap()["data"].is_array());
    let st = sims.stats().northpass;
    assert_eq!(
        (
            st.injected_5xx,
            st.rate_limited,
            st.malformed,
            st.total_requests
        ),
        (1, 2, 1, 7)
    );
    // Impartner has no script: untouched.
    assert!(prm_get(&sims, "Account", &[]).await.status().is_success());
}
