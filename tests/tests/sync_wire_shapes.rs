//! The CRM sync against the Impartner simulator in both key spellings:
//! production's camelCase (`id`, `partner_Tier__cf`) and the schema's
//! PascalCase (`Id`, `Partner_Tier__cf`) give the same stored partners,
//! contacts, NPCU and pushed fields. Also: regions come through `RegionId`,
//! the push sends exactly the mapped fields, and a refused key fails the
//! run at once naming the key.

use std::collections::BTreeMap;

use portal_core::sources::ImpartnerClient;
use portal_e2e::{fast_impartner_config, observed, TestEnv, TestEnvOptions};
use portal_infra::sim::ServerOptions;
use portal_sync::{Mode, RunStatus, TaskName};
use serde_json::Value;

/// The fields the default push mapping names.
const MAPPED: &[&str] = &[
    "Total_NPCU__cf",
    "Nintex_CE_Certifications__cf",
    "Nintex_K2_Certifications__cf",
    "Nintex_for_Salesforce_Certifications__cf",
    "Nintex_GTM_Certifications__cf",
    "LMS_Account_ID__cf",
    "LMS_Group_Name__cf",
    "LMS_Training_Dashboard__cf",
];

struct Outcome {
    partners: Vec<portal_core::model::Partner>,
    contacts: Vec<portal_core::model::Contact>,
    npcu: BTreeMap<String, u32>,
    pushed: BTreeMap<String, BTreeMap<String, Value>>,
}

async fn sync_with(impartner: ServerOptions) -> Outcome {
    let env = TestEnv::start(TestEnvOptions {
        impartner,
        accounts: Some(6),
        ..Default::default()
    })
    .await
    .unwrap();
    env.sync_all(Mode::Full).await;
    let mut partners = env.store.all_partners().await.unwrap();
    partners.sort_by(|a, b| a.id.cmp(&b.id));
    let mut contacts = env.store.all_contacts().await.unwrap();
    contacts.sort_by(|a, b| a.id.cmp(&b.id));
    let npcu = observed::numbers(&env.store, &env.config, env.now)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, v)| (id, v.npcu))
        .collect();
    // What the CRM holds after the push: every write-back field there is.
    let pushed = env
        .sims
        .dataset_snapshot()
        .accounts
        .iter()
        .map(|a| {
            let fields = a
                .iter()
                .filter(|(k, _)| k.ends_with("__cf") && !is_crm_owned(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (a["Id"].to_string(), fields)
        })
        .collect();
    Outcome {
        partners,
        contacts,
        npcu,
        pushed,
    }
}

/// Custom fields the CRM itself fills (read, never pushed).
fn is_crm_owned(k: &str) -> bool {
    matches!(
        k,
        "Partner_Tier__cf"
            | "Account_Status__cf"
            | "Account_Owner__cf"
            | "Account_Owner_Email__cf"
            | "Partner_Type__cf"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camel_and_pascal_case_sync_to_the_same_store() {
    let camel = sync_with(ServerOptions::default()).await;
    let pascal = sync_with(ServerOptions {
        pascal_case: true,
        ..Default::default()
    })
    .await;

    assert!(camel.partners.len() >= 6, "partners were read");
    assert!(camel.partners.iter().filter(|p| p.tracked).count() >= 6);
    assert!(!camel.contacts.is_empty(), "contacts were read");
    assert!(camel.npcu.values().any(|n| *n > 0), "{:?}", camel.npcu);
    // The region name comes through RegionId + the Region object.
    assert!(camel
        .partners
        .iter()
        .all(|p| matches!(p.region.as_deref(), Some("AMER" | "EMEA" | "APJ"))));
    assert!(camel.partners.iter().all(|p| p.primary_user_id.is_some()
        || !camel
            .contacts
            .iter()
            .any(|c| c.account_id.as_deref() == Some(&p.id))));

    assert_eq!(camel.partners, pascal.partners);
    assert_eq!(camel.contacts, pascal.contacts);
    assert_eq!(camel.npcu, pascal.npcu);
    assert_eq!(camel.pushed, pascal.pushed);

    // Exactly the mapped fields reached the tracked accounts, with the
    // NPCU the portal computed.
    let tracked: Vec<&portal_core::model::Partner> =
        camel.partners.iter().filter(|p| p.tracked).collect();
    for p in &tracked {
        let fields = &camel.pushed[&p.id];
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = MAPPED.to_vec();
        want.sort();
        assert_eq!(names, want, "partner {}", p.id);
        assert_eq!(fields["Total_NPCU__cf"], camel.npcu[&p.id]);
        assert_eq!(
            fields["LMS_Account_ID__cf"].as_str(),
            p.lms_group_id.as_deref()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_key_redirect_fails_the_run_at_once_naming_the_key() {
    let env = TestEnv::start(TestEnvOptions {
        impartner: ServerOptions {
            auth_redirect: true,
            ..Default::default()
        },
        accounts: Some(2),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut deps = env.deps.clone();
    deps.impartner = Some(
        ImpartnerClient::new(fast_impartner_config(
            &env.sims.impartner_url(),
            "not-the-key",
            &env.sims.impartner_tenant(),
        ))
        .unwrap(),
    );
    env.sims.reset_stats();
    let s = portal_sync::run_to_completion(&deps, TaskName::CrmPartners, Mode::Full, None).await;
    assert_eq!(s.status, RunStatus::Failed, "{s:#?}");
    let e = s.error.unwrap_or_default();
    assert!(e.contains("authentication failed"), "{e}");
    assert!(e.contains("IMPARTNER_API_KEY"), "names the key: {e}");
    assert!(!e.contains("not-the-key"), "key leaked: {e}");
    // One request, not a retried "malformed page".
    assert_eq!(env.sims.stats().impartner.total_requests, 1);
    assert!(env.store.all_partners().await.unwrap().is_empty());
}
