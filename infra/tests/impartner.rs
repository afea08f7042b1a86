//! The Impartner simulator over real HTTP: paging, fields, filters, auth,
//! PATCH write-back (ModifyManyResult), camelCase / PascalCase keys,
//! regions.

mod common;

use std::collections::BTreeSet;

use common::*;
use portal_infra::datagen::dates;
use portal_infra::sim::Server;
use serde_json::{json, Value};

/// Records come camelCase by default (`id`).
fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|i| i["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn paging_walks_every_record_exactly_once() {
    let sims = start().await;
    let ds = sims.dataset_snapshot();
    for (object, records, take) in [("Account", &ds.accounts, 7), ("User", &ds.users, 500)] {
        let got = ids(&prm_walk(&sims, object, take, None).await);
        let set: BTreeSet<i64> = got.iter().copied().collect();
        assert_eq!(set.len(), got.len(), "{object}: none twice");
        let want: BTreeSet<i64> = records.iter().map(|r| r["Id"].as_i64().unwrap()).collect();
        assert_eq!(set, want, "{object}: all of them");
    }
    // take is capped at 500; count is the total.
    let v = prm_json(&sims, "User", &[("take", "1000")]).await;
    assert_eq!(v["data"]["results"].as_array().unwrap().len(), 500);
    assert_eq!(v["data"]["count"], ds.users.len());
}

#[tokio::test]
async fn fields_select_and_unknown_field_fails() {
    let sims = start().await;
    let v = prm_json(
        &sims,
        "Account",
        &[("fields", "Name,Partner_Tier__cf"), ("take", "3")],
    )
    .await;
    let first = v["data"]["results"][0].as_object().unwrap();
    let keys: BTreeSet<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["id", "name", "partner_Tier__cf"]));
    assert_eq!(v["data"]["entity"], "Account");
    assert!(v["errors"].as_array().unwrap().is_empty());

    for bad in ["Name,Nope__cf", "Name,Certification_Count__cf"] {
        let r = prm_get(&sims, "Account", &[("fields", bad)]).await;
        assert_eq!(r.status(), 400);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["success"], false);
        let field = bad.split(',').nth(1).unwrap();
        assert!(body["message"].as_str().unwrap().contains(field), "{body}");
        assert!(!body["errors"].as_array().unwrap().is_empty());
    }
}

#[tokio::test]
async fn pascal_case_switch_regions_and_missing_fields() {
    let sims = start().await;
    let q = [("fields", "Name,RegionId,Region,CrmId"), ("take", "5")];
    let camel = prm_json(&sims, "Account", &q).await;
    let rec = &camel["data"]["results"][0];
    assert!(
        rec["crmId"].is_string() && rec.get("CrmId").is_none(),
        "{rec}"
    );
    let region_id = rec["regionId"].as_i64().expect("a region id");
    assert_eq!(rec["region"]["id"], region_id, "Region is a reference");

    let regions = prm_json(&sims, "Region", &[("fields", "Id,Name")]).await;
    let names: Vec<(i64, String)> = regions["data"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(names.contains(&(1, "AMER".into())) && names.contains(&(2, "EMEA".into())));
    let name = &names.iter().find(|(i, _)| *i == region_id).unwrap().1;
    assert_eq!(rec["region"]["name"], name.as_str());

    let mut opts = sims.options(Server::Impartner);
    opts.pascal_case = true;
    opts.missing_fields = vec!["PrimaryUserId".into()];
    sims.set_options(Server::Impartner, opts);
    let pascal = prm_json(&sims, "Account", &q).await;
    let prec = &pascal["data"]["results"][0];
    assert_eq!(prec["CrmId"], rec["crmId"]);
    assert_eq!(prec["RegionId"], rec["regionId"]);
    assert!(prec.get("crmId").is_none());
    let r = prm_get(&sims, "Account", &[("fields", "Name,PrimaryUserId")]).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("PrimaryUserId"));
}

#[tokio::test]
async fn wrong_key_may_redirect_to_login() {
    let sims = start().await;
    let mut opts = sims.options(Server::Impartner);
    opts.auth_redirect = true;
    sims.set_options(Server::Impartner, opts);
    let url = format!("{}/api/objects/v1/Account", sims.impartner_url());
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&url)
        .header("Authorization", "prm-key wrong")
        .header("X-PRM-TenantId", sims.impartner_tenant())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"].to_str().unwrap().contains("login"));
}

#[tokio::test]
async fn filters_select_what_they_claim() {
    let sims = start().await;
    let ds = sims.dataset_snapshot();
    let since = dates::parse_any("2026-01-01T00:00:00").unwrap();
    let want: BTreeSet<i64> = ds
        .accounts
        .iter()
        .filter(|a| dates::parse_any(a["Updated"].as_str().unwrap()).unwrap() > since)
        .filter(|a| a["Account_Status__cf"] == "Active")
        .filter(|a| a["Partner_Tier__cf"] != "Pending")
        .map(|a| a["Id"].as_i64().unwrap())
        .collect();
    let f = "(Updated > '2026-01-01T00:00:00') and Account_Status__cf eq 'Active' and Partner_Tier__cf ne 'Pending'";
    let got: BTreeSet<i64> = ids(&prm_walk(&sims, "Account", 10, Some(f)).await)
        .into_iter()
        .collect();
    assert_eq!(got, want);
    assert!(!want.is_empty() && want.len() < ds.accounts.len());

    let acc = ds.accounts[3]["Id"].as_i64().unwrap();
    let f = format!("AccountId eq {acc}");
    let got = prm_walk(&sims, "User", 500, Some(&f)).await;
    let want = ds.users.iter().filter(|u| u["AccountId"] == acc).count();
    assert_eq!(got.len(), want);
    assert!(got.iter().all(|u| u["accountId"] == acc));

    for bad in ["(Updated > ", "Bogus eq 1", "Name eq"] {
        let r = prm_get(&sims, "Account", &[("filter", bad)]).await;
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["success"], false);
        assert!(body["message"].is_string());
    }
}

#[tokio::test]
async fn wrong_key_or_tenant_is_401() {
    let sims = start().await;
    let url = format!("{}/api/objects/v1/Account", sims.impartner_url());
    let r = client()
        .get(&url)
        .header("Authorization", "prm-key wrong")
        .header("X-PRM-TenantId", sims.impartner_tenant())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client()
        .get(&url)
        .header("Authorization", format!("prm-key {}", sims.impartner_key()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "missing tenant");
    assert_eq!(sims.stats().impartner.unauthorized, 2);
}

#[tokio::test]
async fn patch_writes_back_and_reports_per_record() {
    let sims = start().await;
    let ds = sims.dataset_snapshot();
    let a = ds.accounts[0]["Id"].as_i64().unwrap();
    let b = ds.accounts[1]["Id"].as_i64().unwrap();
    let batch = json!([
        {"Id": a, "Total_NPCU__cf": 12, "Nintex_K2_Certifications__cf": 7,
         "LMS_Account_ID__cf": "g-1", "LMS_Group_Name__cf": "ptr_X",
         "LMS_Training_Dashboard__cf": "https://portal.example/p/abc"},
        {"Id": b.to_string(), "Total_NPCU__cf": 0},
        {"Id": 999, "Total_NPCU__cf": 1},
        {"Id": a, "Not_A_Field": 1},
        {"Id": a, "Certification_Count__cf": 1}
    ]);
    let url = format!("{}/api/objects/v1/Account", sims.impartner_url());
    let r = prm(&sims, client().patch(&url).json(&batch))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    // ModifyManyResult: results at the top level, success false as soon
    // as one record failed.
    assert_eq!(v["success"], false);
    let res = v["results"].as_array().unwrap();
    let ok: Vec<bool> = res
        .iter()
        .map(|r| r["success"].as_bool().unwrap())
        .collect();
    assert_eq!(ok, [true, true, false, false, false]);
    assert_eq!(res[2]["data"]["id"], 999);
    assert!(res[2]["errors"][0]["message"].is_string());
    assert!(res[4]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Certification_Count__cf"));

    let f = format!("Id eq {a}");
    let v = prm_json(
        &sims,
        "Account",
        &[
            ("filter", f.as_str()),
            ("fields", "Total_NPCU__cf,Nintex_K2_Certifications__cf,LMS_Account_ID__cf,LMS_Group_Name__cf,LMS_Training_Dashboard__cf,Updated"),
        ],
    )
    .await;
    let rec = &v["data"]["results"][0];
    assert_eq!(rec["total_NPCU__cf"], 12);
    assert_eq!(rec["nintex_K2_Certifications__cf"], 7);
    assert_eq!(rec["lMS_Account_ID__cf"], "g-1");
    assert_eq!(rec["lMS_Group_Name__cf"], "ptr_X");
    assert_eq!(
        rec["lMS_Training_Dashboard__cf"],
        "https://portal.example/p/abc"
    );
    assert_eq!(
        dates::parse_any(rec["updated"].as_str().unwrap()).unwrap(),
        sims.now(),
        "a write bumps Updated"
    );

    let too_many: Vec<Value> = (0..51)
        .map(|_| json!({"Id": a, "Total_NPCU__cf": 1}))
        .collect();
    let r = prm(&sims, client().patch(&url).json(&too_many))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["success"], false);
    assert_eq!(
        sims.stats()
            .impartner
            .count("PATCH /api/objects/v1/Account"),
        2
    );
}
