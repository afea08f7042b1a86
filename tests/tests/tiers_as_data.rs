//! Tiers are the CRM's text and their requirements configuration
//! (docs/source-contract.md). Synced from the Impartner simulator: a partner
//! in `Premier Plus` is held to its configured requirement, a partner in a
//! tier `PORTAL_TIERS` does not list is "tier not configured" — never
//! "met" — in the leaderboard, the gaps report, the overview, the dashboard
//! (JSON, private page and staff page); the `?tier=` filter takes any tier
//! text; and a tier added to `PORTAL_TIERS` takes effect with no code
//! change.

use std::collections::BTreeSet;

use portal_core::config::Secret;
use portal_e2e::reference::Reference;
use portal_e2e::{TestEnv, TestEnvOptions};
use portal_infra::datagen::UNCONFIGURED_TIER;
use portal_infra::sim::Mutation;
use portal_reports::local::{spawn, LocalServer};
use portal_reports::AppState;
use portal_sync::Mode;
use serde_json::{json, Value};

const ADMIN: &str = "tiers-admin-token-0123456789abcdef";
/// Not in the default `PORTAL_TIERS`, and not in the generator's data.
const GOLD: &str = "Gold Reseller";

async fn serve(env: &TestEnv, extra: &[(&str, &str)]) -> LocalServer {
    let config = env.config_with(extra).expect("config");
    let state = AppState::new(&config, env.store.clone())
        .with_admin_token(ADMIN)
        .with_link_key(Secret::new("tiers-link-key"));
    spawn(state, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("server")
}

async fn get(server: &LocalServer, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

async fn ok(server: &LocalServer, path: &str) -> Value {
    let (status, body) = get(server, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn rows(v: &Value) -> &Vec<Value> {
    v["data"].as_array().expect("rows")
}

fn row<'a>(v: &'a Value, id: &str) -> &'a Value {
    rows(v)
        .iter()
        .find(|r| r["partner_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {v}"))
}

fn ids(v: &Value) -> BTreeSet<String> {
    rows(v)
        .iter()
        .map(|r| r["partner_id"].as_str().unwrap().to_string())
        .collect()
}

/// Two tracked partners of the data set with certified members: the
/// partner with the most NPCU, and the next one.
fn pick_two(r: &Reference, env: &TestEnv) -> (String, String) {
    let numbers = r.numbers(env.now);
    let mut ps: Vec<_> = r.tracked().filter(|p| numbers[&p.id].npcu > 0).collect();
    ps.sort_by_key(|p| (std::cmp::Reverse(numbers[&p.id].npcu), p.id.clone()));
    assert!(ps.len() >= 2, "small data set has certified partners");
    (ps[0].id.clone(), ps[1].id.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfigured_and_new_tiers_from_the_crm_through_sync_and_reports() {
    let env = TestEnv::start(TestEnvOptions::default())
        .await
        .expect("test env");
    let (plus, gold) = pick_two(&env.reference(), &env);
    // The CRM's own spellings: padded, other case.
    for (id, tier) in [(&plus, " Premier Plus "), (&gold, GOLD)] {
        env.sims
            .mutate(Mutation::SetTier {
                account_id: id.parse().unwrap(),
                tier: Some(tier.into()),
            })
            .unwrap();
    }
    env.sync_all(Mode::Full).await;
    let reference = env.reference();
    let numbers = reference.numbers(env.now);
    let tracked: Vec<_> = reference.tracked().collect();
    // Partners whose tier the default table does not list: ours and the
    // generator's own (`UNCONFIGURED_TIER`).
    let unconfigured: BTreeSet<String> = tracked
        .iter()
        .filter(|p| reference.required(p).is_none())
        .map(|p| p.id.clone())
        .collect();
    assert!(unconfigured.contains(&gold), "{unconfigured:?}");
    assert!(
        tracked
            .iter()
            .any(|p| p.tier.as_deref() == Some(UNCONFIGURED_TIER) && unconfigured.contains(&p.id)),
        "the generator's unconfigured tier is synced as such"
    );
    let plus_npcu = numbers[&plus].npcu;
    let gold_npcu = numbers[&gold].npcu;
    assert!(
        gold_npcu > 0,
        "the unconfigured partner has NPCU yet is not 'met'"
    );

    // The stored partner carries the CRM's text, trimmed.
    let p = env.store.get_partner(&plus).await.unwrap().unwrap();
    assert_eq!(p.tier.as_ref().map(|t| t.as_str()), Some("Premier Plus"));

    let server = serve(&env, &[]).await;

    // Leaderboard.
    let lb = ok(&server, "/api/reports/leaderboard?limit=1000").await;
    assert_eq!(ids(&lb).len(), tracked.len());
    let g = row(&lb, &gold);
    assert_eq!(g["tier"], GOLD);
    assert_eq!(g["npcu"], gold_npcu);
    assert_eq!(g["standing"], "tier not configured", "{g}");
    assert_eq!(g["meets_requirement"], false, "{g}");
    assert!(g["required_npcu"].is_null() && g["gap"].is_null(), "{g}");
    let pp = row(&lb, &plus);
    assert_eq!(pp["tier"], "Premier Plus");
    assert_eq!(pp["required_npcu"], 20, "{pp}");
    assert_eq!(pp["gap"], 20u32.saturating_sub(plus_npcu), "{pp}");
    assert_eq!(pp["meets_requirement"], plus_npcu >= 20, "{pp}");
    assert_eq!(
        pp["standing"],
        if plus_npcu >= 20 { "met" } else { "below" },
        "{pp}"
    );
    for r in rows(&lb) {
        let id = r["partner_id"].as_str().unwrap();
        if unconfigured.contains(id) {
            assert_eq!(r["standing"], "tier not configured", "{r}");
            assert_eq!(r["meets_requirement"], false, "{r}");
        } else {
            assert_ne!(r["standing"], "tier not configured", "{r}");
        }
    }

    // Gaps: every unconfigured partner is listed as such, after the real
    // shortfalls.
    let gaps = ok(&server, "/api/reports/gaps?limit=1000").await;
    let listed: Vec<&Value> = rows(&gaps).iter().collect();
    let first_unconfigured = listed
        .iter()
        .position(|r| r["standing"] == "tier not configured")
        .expect("unconfigured partners in gaps");
    assert!(listed[..first_unconfigured]
        .iter()
        .all(|r| r["standing"] == "below" && r["gap"].as_u64().unwrap() > 0));
    assert!(listed[first_unconfigured..]
        .iter()
        .all(|r| r["standing"] == "tier not configured"));
    let got: BTreeSet<String> = listed[first_unconfigured..]
        .iter()
        .map(|r| r["partner_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, unconfigured);
    assert_eq!(row(&gaps, &gold)["tier"], GOLD);
    assert_eq!(ids(&gaps).contains(&plus), plus_npcu < 20);

    // Overview counts them, and only them, as not configured.
    let ov = ok(&server, "/api/reports/overview").await;
    let o = &rows(&ov)[0];
    assert_eq!(o["partners_tier_not_configured"], unconfigured.len(), "{o}");
    let configured = tracked.len() - unconfigured.len();
    assert_eq!(
        o["partners_meeting_tier"].as_u64().unwrap() + o["partners_below_tier"].as_u64().unwrap(),
        configured as u64,
        "{o}"
    );

    // Dashboard JSON.
    let d = ok(&server, &format!("/api/partners/{gold}")).await;
    assert_eq!(d["tier"], GOLD);
    assert_eq!(d["npcu"], gold_npcu);
    assert_eq!(d["standing"], "tier not configured", "{d}");
    assert_eq!(d["meets_requirement"], false);
    assert!(d["required_npcu"].is_null(), "{d}");
    let d = ok(&server, &format!("/api/partners/{plus}")).await;
    assert_eq!(
        (d["tier"].clone(), d["required_npcu"].clone()),
        (json!("Premier Plus"), json!(20))
    );

    // The partner's private page says so, and never "Met".
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let link: Value = http
        .post(format!("{}/api/admin/tokens", server.url()))
        .bearer_auth(ADMIN)
        .json(&json!({"kind": "partner_link", "partner_id": gold}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = link["url"]
        .as_str()
        .and_then(|u| u.split_once("/p/"))
        .map(|(_, t)| format!("/p/{t}"))
        .unwrap_or_else(|| panic!("{link}"));
    let r = http
        .get(format!("{}{path}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Tier not configured"), "{html}");
    assert!(html.contains(GOLD));
    assert!(!html.contains(r#"id="met">Met<"#), "{html}");

    // The staff partner page (signed in by `?token=`, then by cookie).
    let r = http
        .get(format!("{}/partners/{gold}?token={ADMIN}", server.url()))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("portal_session="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .expect("session cookie");
    let r = http
        .get(format!("{}/partners/{gold}", server.url()))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Tier not configured"), "{html}");
    assert!(!html.contains(r#"id="met">Met<"#));

    // `?tier=` takes any tier text: Premier Plus (any case) is exactly its
    // partners, a tier nobody has is an empty result, not a 400.
    let want: BTreeSet<String> = tracked
        .iter()
        .filter(|p| {
            p.tier
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("premier plus"))
        })
        .map(|p| p.id.clone())
        .collect();
    assert!(want.contains(&plus));
    for q in ["Premier%20Plus", "premier+plus"] {
        let r = ok(
            &server,
            &format!("/api/reports/leaderboard?limit=1000&tier={q}"),
        )
        .await;
        assert_eq!(ids(&r), want, "{q}");
    }
    let r = ok(&server, "/api/reports/gaps?tier=Gold%20Reseller").await;
    assert_eq!(ids(&r), BTreeSet::from([gold.clone()]));
    for report in ["leaderboard", "gaps", "owners", "user-certifications"] {
        let r = ok(
            &server,
            &format!("/api/reports/{report}?tier=Nobody%20Has%20This"),
        )
        .await;
        assert!(rows(&r).is_empty(), "{report}: {r}");
        // Row reports page by cursor (no total): the walk ends at once.
        if r["meta"]["paging"] == "cursor" {
            assert!(r["next_cursor"].is_null(), "{report}: {r}");
        } else {
            assert_eq!(r["meta"]["total"], 0, "{report}");
        }
    }

    // Configuring the tier is enough: the same stored data, read with
    // `Gold Reseller` in PORTAL_TIERS, is held to it.
    let server = serve(&env, &[("PORTAL_TIERS", "gold reseller=1000")]).await;
    let lb = ok(&server, "/api/reports/leaderboard?limit=1000").await;
    let g = row(&lb, &gold);
    assert_eq!(g["required_npcu"], 1000, "{g}");
    assert_eq!(g["gap"], 1000 - gold_npcu, "{g}");
    assert_eq!(g["standing"], "below", "{g}");
    let ov = ok(&server, "/api/reports/overview").await;
    assert_eq!(
        rows(&ov)[0]["partners_tier_not_configured"],
        unconfigured.len() - 1
    );
    // The other settings stay the defaults (merged, not replaced).
    assert_eq!(row(&lb, &plus)["required_npcu"], 20);
}
