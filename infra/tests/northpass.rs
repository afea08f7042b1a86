//! The Northpass simulator over real HTTP: paging, filters, auth, writes.

mod common;

use std::collections::BTreeSet;

use common::*;
use portal_infra::datagen::dates;
use serde_json::{json, Value};

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_each_once(got: &[String], want: impl IntoIterator<Item = String>) {
    let set: BTreeSet<&String> = got.iter().collect();
    assert_eq!(set.len(), got.len(), "no record served twice");
    let want: BTreeSet<String> = want.into_iter().collect();
    let got: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn paging_walks_every_record_exactly_once() {
    let sims = start().await;
    let ds = sims.dataset_snapshot();

    let (people, pages) = np_walk(&sims, "/v2/people?limit=37").await;
    assert_each_once(&ids(&people), ds.people.iter().map(|p| p.id.clone()));
    assert_eq!(pages, ds.people.len().div_ceil(37));
    // Items are exactly what the export holds.
    assert_eq!(people[0], serde_json::to_value(&ds.people[0]).unwrap());

    let (groups, _) = np_walk(&sims, "/v2/groups?limit=10").await;
    assert_each_once(&ids(&groups), ds.groups.iter().map(|g| g.id.clone()));
    let (courses, _) = np_walk(&sims, "/v2/courses").await;
    assert_each_once(&ids(&courses), ds.courses.iter().map(|c| c.id.clone()));
    // Properties never link the next page (production's quirk): page by
    // number until a short page.
    let first = np_json(&sims, "/v2/properties/courses?limit=7").await;
    assert!(first["links"].get("next").is_none(), "{}", first["links"]);
    let mut props = Vec::new();
    for page in 1.. {
        let v = np_json(
            &sims,
            &format!("/v2/properties/courses?limit=7&page={page}"),
        )
        .await;
        let data = v["data"].as_array().unwrap().clone();
        let short = data.len() < 7;
        props.extend(data);
        if short {
            break;
        }
    }
    assert!(ds.properties.len() > 7);
    assert_each_once(&ids(&props), ds.properties.iter().map(|p| p.id.clone()));

    let (gid, members) = ds.memberships.iter().max_by_key(|(_, m)| m.len()).unwrap();
    let (got, pages) = np_walk(&sims, &format!("/v2/groups/{gid}/memberships?limit=5")).await;
    assert!(pages > 1);
    let people_of = |items: &[Value]| -> Vec<String> {
        items
            .iter()
            .map(|m| {
                m["relationships"]["person"]["data"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_each_once(
        &people_of(&got),
        members
            .iter()
            .map(|m| m.relationships.person.data.id.clone()),
    );

    let (pid, items) = ds.transcripts.iter().max_by_key(|(_, t)| t.len()).unwrap();
    let (got, pages) = np_walk(&sims, &format!("/v2/transcripts/{pid}?limit=2")).await;
    assert!(pages > 1);
    assert_each_once(&ids(&got), items.iter().map(|t| t.id.clone()));
}

#[tokio::test]
async fn page_shape_and_limits() {
    let sims = start().await;
    let doc = np_json(&sims, "/v2/people?limit=500").await;
    assert_eq!(
        doc["data"].as_array().unwrap().len(),
        100,
        "limit clamped to 100"
    );
    assert_eq!(doc["meta"]["total_count"], 1000);
    assert!(doc["links"]["next"].as_str().unwrap().contains("page=2"));
    let last = np_json(&sims, "/v2/people?limit=100&page=10").await;
    assert_eq!(last["data"].as_array().unwrap().len(), 100);
    assert!(
        last["links"].get("next").is_none(),
        "no next on the last page"
    );
    let beyond = np_json(&sims, "/v2/people?limit=100&page=11").await;
    assert!(beyond["data"].as_array().unwrap().is_empty());
    assert_eq!(np_get(&sims, "/v2/people?limit=0").await.status(), 400);
    assert_eq!(np_get(&sims, "/v2/people?page=x").await.status(), 400);
    assert_eq!(
        np_get(&sims, "/v2/people?filter[email][eq]=a")
            .await
            .status(),
        400
    );
    assert_eq!(np_get(&sims, "/v2/transcripts/nope").await.status(), 404);
}

#[tokio::test]
async fn updated_at_filter_selects_what_it_claims() {
    let sims = start().await;
    let ds = sims.dataset_snapshot();
    // The median updated_at, in an offset spelling, as the threshold.
    let mut times: Vec<_> = ds
        .people
        .iter()
        .map(|p| dates::parse_any(&p.attributes.updated_at).unwrap())
        .collect();
    times.sort();
    let since = times[times.len() / 2];
    let want: Vec<String> = ds
        .people
        .iter()
        .filter(|p| dates::parse_any(&p.attributes.updated_at).unwrap() >= since)
        .map(|p| p.id.clone())
        .collect();
    let q = url_encode(&dates::fmt_offset(since, 2));
    let (got, _) = np_walk(
        &sims,
        &format!("/v2/people?limit=100&filter[updated_at][gteq]={q}"),
    )
    .await;
    assert_each_once(&ids(&got), want.iter().cloned());
    assert!(!want.is_empty() && want.len() < ds.people.len());

    for (path, stamps) in [
        (
            "/v2/groups",
            ds.groups
                .iter()
                .map(|g| (g.id.clone(), g.attributes.updated_at.clone()))
                .collect::<Vec<_>>(),
        ),
        (
            "/v2/courses",
            ds.courses
                .iter()
                .map(|c| (c.id.clone(), c.attributes.updated_at.clone()))
                .collect(),
        ),
    ] {
        let since = dates::parse_any("2026-06-01T00:00:00Z").unwrap();
        let want = stamps
            .iter()
            .filter(|(_, u)| dates::parse_any(u).unwrap() >= since)
            .map(|(id, _)| id.clone());
        let (got, _) = np_walk(
            &sims,
            &format!("{path}?filter[updated_at][gteq]=2026-06-01T00:00:00Z"),
        )
        .await;
        assert_each_once(&ids(&got), want);
    }
    assert_eq!(
        np_get(&sims, "/v2/people?filter[updated_at][gteq]=yesterday")
            .await
            .status(),
        400
    );
}

fn url_encode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn wrong_or_missing_key_is_401() {
    let sims = start().await;
    let url = format!("{}/v2/people", sims.northpass_url());
    let r = client()
        .get(&url)
        .header("X-Api-Key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["status"], "401");
    assert_eq!(client().get(&url).send().await.unwrap().status(), 401);
    assert_eq!(sims.stats().northpass.unauthorized, 2);
}

#[tokio::test]
async fn membership_post_and_delete() {
    let sims = start().await;
    let ds = sims.dataset_snapshot();
    let gid = ds.groups[0].id.clone();
    let member: BTreeSet<String> = ds.memberships[&gid]
        .iter()
        .map(|m| m.relationships.person.data.id.clone())
        .collect();
    let outsider = ds
        .people
        .iter()
        .find(|p| !member.contains(&p.id))
        .unwrap()
        .id
        .clone();
    let url = format!(
        "{}/v2/groups/{gid}/relationships/people",
        sims.northpass_url()
    );
    let body = json!({"data": [{"type": "people", "id": outsider}]});
    let post = |b: Value| {
        client()
            .post(&url)
            .header("X-Api-Key", sims.northpass_key())
            .json(&b)
            .send()
    };
    let r = post(body.clone()).await.unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(
        created["data"]["relationships"]["person"]["data"]["id"],
        outsider
    );
    assert_eq!(
        post(body.clone()).await.unwrap().status(),
        422,
        "already a member"
    );

    let (items, _) = np_walk(&sims, &format!("/v2/groups/{gid}/memberships?limit=100")).await;
    assert_eq!(items.len(), member.len() + 1);
    let g = np_json(&sims, "/v2/groups?limit=1").await;
    assert_eq!(
        g["data"][0]["attributes"]["user_count"],
        member.len() as u64 + 1
    );

    let send_del = || {
        client()
            .delete(&url)
            .header("X-Api-Key", sims.northpass_key())
            .json(&body)
            .send()
    };
    assert_eq!(send_del().await.unwrap().status(), 204);
    assert_eq!(send_del().await.unwrap().status(), 404);
    let (items, _) = np_walk(&sims, &format!("/v2/groups/{gid}/memberships?limit=100")).await;
    assert_eq!(items.len(), member.len());

    let stats = sims.stats().northpass;
    assert_eq!(stats.count("POST /v2/groups/{id}/relationships/people"), 2);
    assert_eq!(
        stats.count("DELETE /v2/groups/{id}/relationships/people"),
        2
    );
}
