//! Shared helpers of the simulator tests: a small data set, started sims,
//! authenticated reqwest calls.
#![allow(dead_code)]

use chrono::NaiveDate;
use portal_infra::datagen::{generate, Dataset, DatasetSize, GenOptions};
use portal_infra::sim::{SimConfig, Sims};
use serde_json::Value;

pub fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

pub fn small(seed: u64) -> Dataset {
    generate(&GenOptions {
        size: DatasetSize::Small,
        seed,
        as_of: as_of(),
    })
}

pub async fn start() -> Sims {
    start_with(SimConfig::new(small(1))).await
}

pub async fn start_with(cfg: SimConfig) -> Sims {
    Sims::start(cfg).await.expect("simulators start")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

pub async fn np_get(sims: &Sims, url: &str) -> reqwest::Response {
    let url = if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", sims.northpass_url())
    };
    client()
        .get(url)
        .header("X-Api-Key", sims.northpass_key())
        .send()
        .await
        .unwrap()
}

pub async fn np_json(sims: &Sims, url: &str) -> Value {
    let r = np_get(sims, url).await;
    assert_eq!(r.status(), 200, "GET {url}");
    r.json().await.unwrap()
}

/// Follow `links.next` from `path`; returns every item and the page count.
pub async fn np_walk(sims: &Sims, path: &str) -> (Vec<Value>, usize) {
    let mut url = format!("{}{path}", sims.northpass_url());
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let doc = np_json(sims, &url).await;
        pages += 1;
        items.extend(doc["data"].as_array().unwrap().iter().cloned());
        match doc["links"]["next"].as_str() {
            Some(next) => {
                assert!(next.starts_with("http://"), "next is absolute: {next}");
                url = next.to_string();
            }
            None => break,
        }
    }
    (items, pages)
}

pub fn prm(sims: &Sims, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req.header("Authorization", format!("prm-key {}", sims.impartner_key()))
        .header("X-PRM-TenantId", sims.impartner_tenant())
}

pub async fn prm_get(sims: &Sims, object: &str, query: &[(&str, &str)]) -> reqwest::Response {
    let url = format!("{}/api/objects/v1/{object}", sims.impartner_url());
    prm(sims, client().get(url).query(query))
        .send()
        .await
        .unwrap()
}

pub async fn prm_json(sims: &Sims, object: &str, query: &[(&str, &str)]) -> Value {
    let r = prm_get(sims, object, query).await;
    assert_eq!(r.status(), 200, "GET {object} {query:?}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["success"], true);
    v
}

/// Walk an Impartner object with skip/take (advancing by what came back).
pub async fn prm_walk(sims: &Sims, object: &str, take: usize, filter: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    let take_s = take.to_string();
    loop {
        let skip = out.len().to_string();
        let mut q = vec![("take", take_s.as_str()), ("skip", skip.as_str())];
        if let Some(f) = filter {
            q.push(("filter", f));
        }
        let v = prm_json(sims, object, &q).await;
        let results = v["data"]["results"].as_array().unwrap().clone();
        let count = v["data"]["count"].as_u64().unwrap() as usize;
        if results.is_empty() {
            assert_eq!(out.len(), count);
            break;
        }
        out.extend(results);
        if out.len() >= count {
            break;
        }
    }
    out
}
