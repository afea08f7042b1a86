//! The real Impartner client against the real Impartner simulator:
//! take/skip paging, the `Updated` filter, auth fail-fast, faults, and
//! PATCH write-back with per-record failures.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::NaiveDate;
use portal_core::sources::{ImpartnerClient, ImpartnerConfig, SourceError};
use portal_infra::datagen::{self, Dataset, DatasetSize, GenOptions};
use portal_infra::sim::{Mutation, ServerOptions, SimConfig, Sims};
use serde_json::{json, Value};

fn dataset() -> Dataset {
    datagen::generate(&GenOptions {
        size: DatasetSize::Small,
        seed: 7,
        as_of: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    })
}

async fn start(prm: ServerOptions) -> Sims {
    let mut cfg = SimConfig::new(dataset());
    cfg.impartner = prm;
    Sims::start(cfg).await.expect("simulators start")
}

fn config(sims: &Sims) -> ImpartnerConfig {
    ImpartnerConfig {
        rate_limit: 1000.0,
        max_retries: 10,
        retry_base_delay: Duration::from_millis(10),
        retry_max_delay: Duration::from_millis(200),
        ..ImpartnerConfig::new(
            sims.impartner_url(),
            sims.impartner_key(),
            sims.impartner_tenant(),
        )
    }
}

fn client(cfg: ImpartnerConfig) -> ImpartnerClient {
    ImpartnerClient::new(cfg).expect("client")
}

/// Ids of raw PRM records as text (the sim's ids are integers).
fn record_ids(records: &[serde_json::Map<String, Value>]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| match &r["Id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn paging_fetches_every_account_and_user_exactly_once() {
    let sims = start(ServerOptions::default()).await;
    let data = sims.dataset_snapshot();
    let prm = client(ImpartnerConfig {
        take: 7,
        ..config(&sims)
    });

    let accounts = prm.accounts(None).await.unwrap();
    let got = sorted(accounts.iter().map(|a| a.id.clone()).collect());
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), got.len());
    assert_eq!(got, record_ids(&data.accounts));
    // Pages of 7 until skip >= count: no extra empty-page request.
    assert_eq!(prm.stats().requests, data.accounts.len().div_ceil(7) as u64);
    assert!(accounts.iter().any(|a| a.partner_tier.is_some()));
    assert!(accounts.iter().all(|a| a.updated.is_some()));

    let users = prm.users(None).await.unwrap();
    let got = sorted(users.iter().map(|u| u.id.clone()).collect());
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), got.len());
    assert_eq!(got, record_ids(&data.users));
    assert!(users.iter().all(|u| u.account_id.is_some()));
}

#[tokio::test]
async fn incremental_filter_returns_only_changed_records() {
    let sims = start(ServerOptions::default()).await;
    let data = sims.dataset_snapshot();
    let prm = client(config(&sims));
    let account: i64 = data.accounts[4]["Id"].as_i64().unwrap();
    let user: i64 = data.users[9]["Id"].as_i64().unwrap();

    let before = sims.now();
    // The filter is whole seconds: make sure the change lands after the
    // watermark's second, like a change made after a sync run started.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    sims.mutate(Mutation::SetTier {
        account_id: account,
        tier: Some("Premier".into()),
    })
    .unwrap();
    sims.mutate(Mutation::SetContactActive {
        user_id: user,
        active: false,
    })
    .unwrap();

    let accounts = prm.accounts(Some(before)).await.unwrap();
    assert_eq!(
        accounts.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        vec![account.to_string()]
    );
    assert_eq!(accounts[0].partner_tier.as_deref(), Some("Premier"));
    let users = prm.users(Some(before)).await.unwrap();
    assert_eq!(
        users.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
        vec![user.to_string()]
    );
    assert_eq!(users[0].is_active, Some(false));
}

#[tokio::test]
async fn wrong_key_or_tenant_fails_at_once_naming_the_source() {
    let sims = start(ServerOptions::default()).await;
    for cfg in [
        ImpartnerConfig {
            api_key: "wrong-key".into(),
            ..config(&sims)
        },
        ImpartnerConfig {
            tenant_id: "other-tenant".into(),
            ..config(&sims)
        },
    ] {
        sims.reset_stats();
        let prm = client(cfg);
        let err = prm.accounts(None).await.unwrap_err();
        assert!(
            matches!(
                err,
                SourceError::Auth {
                    source_name: "impartner",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("impartner"));
        assert!(!err.to_string().contains("wrong-key"));
        assert_eq!(prm.stats().requests, 1);
        assert_eq!(sims.stats().impartner.total_requests, 1);
    }
}

#[tokio::test]
async fn faults_are_retried_to_a_complete_result() {
    let sims = start(ServerOptions {
        p_5xx: 0.2,
        p_malformed: 0.2,
        rate_limit: Some(20.0),
        burst: 2,
        seed: 3,
        ..Default::default()
    })
    .await;
    let data = sims.dataset_snapshot();
    let prm = client(ImpartnerConfig {
        take: 50,
        ..config(&sims)
    });
    let users = prm.users(None).await.unwrap();
    assert_eq!(
        sorted(users.iter().map(|u| u.id.clone()).collect()),
        record_ids(&data.users)
    );
    let s = prm.stats();
    assert!(
        s.retries > 0 && s.server_errors > 0 && s.malformed > 0,
        "{s:?}"
    );
}

#[tokio::test]
async fn patch_of_an_unknown_field_is_rejected_with_the_message() {
    let sims = start(ServerOptions::default()).await;
    let prm = client(config(&sims));
    // A field the CRM does not know (as a renamed custom field would be)
    // is rejected per record, with the service's message.
    let out = prm
        .patch_accounts(&[json!({"Id": 1, "No_Such_Field__x": 1})])
        .await
        .unwrap();
    assert!(out.succeeded.is_empty());
    assert_eq!(out.failed.len(), 1);
    assert!(
        out.failed[0].1.contains("No_Such_Field__x"),
        "{:?}",
        out.failed
    );
}

#[tokio::test]
async fn patch_counts_per_record_failures_in_chunks_of_50() {
    let sims = start(ServerOptions::default()).await;
    let data = sims.dataset_snapshot();
    let prm = client(config(&sims));
    let ids: Vec<i64> = data
        .accounts
        .iter()
        .map(|a| a["Id"].as_i64().unwrap())
        .collect();
    assert!(ids.len() >= 45, "small set has enough accounts");

    let mut records: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({
                "Id": id,
                "Total_NPCU__cf": 12,
                "Nintex_K2_Certifications__cf": 4,
                "LMS_Group_Name__cf": format!("ptr_group_{id}"),
            })
        })
        .collect();
    // Per-record failures: an unknown account, a read-only field, a field
    // the tenant does not have, no Id.
    records.push(json!({"Id": 987_654_321, "Total_NPCU__cf": 1}));
    records.push(json!({"Id": ids[0], "Updated": "2020-01-01T00:00:00"}));
    records.push(json!({"Id": ids[1], "Certification_Count__cf": 3}));
    records.push(json!({"Total_NPCU__cf": 3}));
    let total = records.len();

    let out = prm.patch_accounts(&records).await.unwrap();
    assert_eq!(out.succeeded.len(), ids.len());
    assert_eq!(out.failed.len(), 4, "{:?}", out.failed);
    // The CRM's own message, per record (a ModifyManyResult whose overall
    // `success` is false does not fail the records that succeeded).
    assert!(out
        .failed
        .iter()
        .any(|(id, m)| *id == ids[1].to_string() && m.contains("Certification_Count__cf")));
    assert!(out
        .failed
        .iter()
        .any(|(id, m)| id == "987654321" && m.contains("not found")));
    assert!(out.failed.iter().any(|(_, m)| m.contains("read-only")));
    assert!(out.failed.iter().any(|(id, _)| id.is_empty()));
    // One call per 50 records sent (the record without Id is not sent).
    assert_eq!(prm.stats().requests, (total - 1).div_ceil(50) as u64);

    // The values landed in the CRM.
    let after = sims.dataset_snapshot();
    let acc = after
        .accounts
        .iter()
        .find(|a| a["Id"].as_i64() == Some(ids[1]))
        .unwrap();
    assert_eq!(acc["Total_NPCU__cf"], json!(12));
    assert_eq!(
        acc["LMS_Group_Name__cf"],
        json!(format!("ptr_group_{}", ids[1]))
    );
}

#[tokio::test]
async fn a_redirect_to_the_login_page_is_an_auth_failure_naming_the_key() {
    let sims = start(ServerOptions {
        auth_redirect: true,
        ..Default::default()
    })
    .await;
    let prm = client(ImpartnerConfig {
        api_key: "wrong-key".into(),
        ..config(&sims)
    });
    let err = prm.accounts(None).await.unwrap_err();
    assert!(
        matches!(
            err,
            SourceError::Auth {
                source_name: "impartner",
                status: 302,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("login page"), "{text}");
    assert!(text.contains("IMPARTNER_API_KEY"), "{text}");
    assert!(!text.contains("wrong-key"), "{text}");
    // Not retried: later calls fail without asking again.
    assert!(prm.users(None).await.unwrap_err().is_auth());
    assert_eq!(sims.stats().impartner.total_requests, 1);
}

#[tokio::test]
async fn a_field_the_tenant_lacks_is_an_api_error_naming_it() {
    let sims = start(ServerOptions {
        missing_fields: vec!["PrimaryUserId".into()],
        ..Default::default()
    })
    .await;
    let prm = client(config(&sims));
    let err = prm.accounts(None).await.unwrap_err();
    assert!(matches!(err, SourceError::Api { .. }), "{err:?}");
    assert!(err.to_string().contains("PrimaryUserId"), "{err}");
    assert_eq!(sims.stats().impartner.total_requests, 1, "not retried");
}

#[tokio::test]
async fn camel_and_pascal_keys_read_the_same_records() {
    let camel = start(ServerOptions::default()).await;
    let pascal = start(ServerOptions {
        pascal_case: true,
        ..Default::default()
    })
    .await;
    let (a, b) = (client(config(&camel)), client(config(&pascal)));
    let accounts = a.accounts(None).await.unwrap();
    assert_eq!(accounts.len(), camel.dataset_snapshot().accounts.len());
    assert!(accounts
        .iter()
        .all(|x| x.region_id.is_some() && x.name.is_some()));
    assert!(accounts.iter().any(|x| x.primary_user_id.is_some()));
    assert!(accounts.iter().any(|x| x.parent_account_id.is_some()));
    assert_eq!(accounts, b.accounts(None).await.unwrap());
    let users = a.users(None).await.unwrap();
    assert!(users
        .iter()
        .any(|u| u.contact_status.as_deref() == Some("Terminated")));
    assert_eq!(users, b.users(None).await.unwrap());
    let regions = a.regions().await.unwrap();
    assert_eq!(regions.get("2").map(String::as_str), Some("EMEA"));
    assert_eq!(regions, b.regions().await.unwrap());
}
