//! Mutations bump `updated_at` / `Updated` and show up under the filters.

mod common;

use chrono::{TimeDelta, TimeZone, Utc};
use common::*;
use portal_infra::datagen::dates;
use portal_infra::sim::{Mutation, SimError};
use serde_json::{json, Value};

#[tokio::test]
async fn mutations_bump_updated_and_show_under_the_filter() {
    let sims = start().await;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap();
    sims.set_clock(t0);
    let ds = sims.dataset_snapshot();
    let since = dates::fmt_z(t0).replace(':', "%3A");

    // Nothing in the generated data is that recent.
    let (before, _) = np_walk(
        &sims,
        &format!("/v2/people?filter[updated_at][gteq]={since}"),
    )
    .await;
    assert!(before.is_empty());

    let person = ds.people[5].id.clone();
    let out = sims
        .mutate(Mutation::DeactivatePerson {
            person_id: person.clone(),
        })
        .unwrap();
    assert!(out.at >= t0 && out.at < t0 + TimeDelta::minutes(1));
    let (after, _) = np_walk(
        &sims,
        &format!("/v2/people?filter[updated_at][gteq]={since}"),
    )
    .await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], person.as_str());
    assert!(after[0]["attributes"]["deactivated_at"].is_string());

    // Completing a course: the transcript changes and the person is touched.
    let course = ds.courses[0].id.clone();
    let other = ds.people[6].id.clone();
    sims.mutate(Mutation::CompleteCourse {
        person_id: other.clone(),
        course_id: course.clone(),
        at: None,
    })
    .unwrap();
    let tr = np_json(&sims, &format!("/v2/transcripts/{other}?limit=100")).await;
    let rec = tr["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["attributes"]["resource_id"] == course.as_str())
        .unwrap()
        .clone();
    assert_eq!(rec["attributes"]["progress_status"], "completed");
    let done = dates::parse_any(rec["attributes"]["completed_at"].as_str().unwrap()).unwrap();
    let exp = dates::parse_any(rec["attributes"]["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        exp,
        done.checked_add_months(chrono::Months::new(24)).unwrap()
    );
    let (after, _) = np_walk(
        &sims,
        &format!("/v2/people?filter[updated_at][gteq]={since}"),
    )
    .await;
    assert_eq!(after.len(), 2);

    // Group rename through the control endpoint (another process's view).
    let gid = ds.groups[2].id.clone();
    let r = client()
        .post(format!("{}/_sim/mutate", sims.northpass_url()))
        .json(&json!({"type": "rename_group", "group_id": gid, "name": "Renamed Ltd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (groups, _) = np_walk(
        &sims,
        &format!("/v2/groups?filter[updated_at][gteq]={since}"),
    )
    .await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["attributes"]["name"], "Renamed Ltd");

    // CRM side: tier change, then the incremental filter sees exactly it.
    let acc = ds.accounts[4]["Id"].as_i64().unwrap();
    sims.mutate(Mutation::SetTier {
        account_id: acc,
        tier: Some("Premier".into()),
    })
    .unwrap();
    let f = format!(
        "(Updated >= '{}')",
        t0.naive_utc().format("%Y-%m-%dT%H:%M:%S")
    );
    let got = prm_walk(&sims, "Account", 100, Some(&f)).await;
    assert_eq!(got.len(), 1);
    // The API serves camelCase keys.
    assert_eq!(got[0]["id"], acc);
    assert_eq!(got[0]["partner_Tier__cf"], "Premier");

    let r = client()
        .post(format!("{}/_sim/mutate", sims.impartner_url()))
        .json(
            &json!({"type": "add_contact", "account_id": acc, "email": "new.person@x.example",
                      "first_name": "New", "last_name": "Person"}),
        )
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let new_id: i64 = body["id"].as_str().unwrap().parse().unwrap();
    let got = prm_walk(&sims, "User", 100, Some(&f)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["id"], new_id);
    assert_eq!(got[0]["accountId"], acc);

    // Delete: gone from the list; restore: back and bumped.
    sims.mutate(Mutation::DeleteAccount { account_id: acc })
        .unwrap();
    assert_eq!(
        prm_walk(&sims, "Account", 500, None).await.len(),
        ds.accounts.len() - 1
    );
    sims.mutate(Mutation::RestoreAccount { account_id: acc })
        .unwrap();
    assert_eq!(
        prm_walk(&sims, "Account", 500, None).await.len(),
        ds.accounts.len()
    );

    assert!(matches!(
        sims.mutate(Mutation::SetTier {
            account_id: 1,
            tier: None
        }),
        Err(SimError::NotFound { .. })
    ));
    let r = client()
        .post(format!("{}/_sim/mutate", sims.impartner_url()))
        .json(&json!({"type": "set_tier", "account_id": 1, "tier": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn move_user_changes_both_groups() {
    let sims = start().await;
    let ds = sims.dataset_snapshot();
    let (from, list) = ds.memberships.iter().find(|(_, m)| m.len() >= 2).unwrap();
    let person = list[0].relationships.person.data.id.clone();
    let to = ds
        .memberships
        .iter()
        .find(|(g, m)| *g != from && !m.iter().any(|x| x.relationships.person.data.id == person))
        .unwrap()
        .0
        .clone();
    sims.mutate(Mutation::MoveUser {
        person_id: person.clone(),
        from_group: from.clone(),
        to_group: to.clone(),
    })
    .unwrap();
    let members = |g: &str| {
        let snap = sims.dataset_snapshot();
        snap.memberships[g]
            .iter()
            .map(|m| m.relationships.person.data.id.clone())
            .collect::<Vec<_>>()
    };
    assert!(!members(from).contains(&person));
    assert!(members(&to).contains(&person));
    let (items, _) = np_walk(&sims, &format!("/v2/groups/{to}/memberships?limit=100")).await;
    assert!(items
        .iter()
        .any(|m| m["relationships"]["person"]["data"]["id"] == person.as_str()));
}
