//! The data generator: determinism, scale, and the dirt it promises.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{Months, TimeDelta};
use common::*;
use portal_infra::datagen::{
    dates, generate, DatasetSize, GenOptions, CRM_TIERS, UNCONFIGURED_TIER,
};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("portal-sim-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

const FILES: [&str; 8] = [
    "people.json",
    "groups.json",
    "memberships.json",
    "courses.json",
    "properties.json",
    "transcripts.json",
    "accounts.json",
    "users.json",
];

#[test]
fn same_seed_gives_byte_identical_exports_other_seed_differs() {
    let (a, b, c) = (tmp("a"), tmp("b"), tmp("c"));
    small(42).export(&a).unwrap();
    small(42).export(&b).unwrap();
    small(43).export(&c).unwrap();
    for f in FILES {
        let fa = std::fs::read(a.join(f)).unwrap();
        assert!(fa.len() > 2, "{f} not empty");
        assert_eq!(fa, std::fs::read(b.join(f)).unwrap(), "{f} identical");
        assert_ne!(fa, std::fs::read(c.join(f)).unwrap(), "{f} differs by seed");
    }
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn reference_scale_has_the_documented_sizes() {
    // How long generation takes is measured in the bench, not asserted.
    let ds = generate(&GenOptions {
        size: DatasetSize::Ref,
        seed: 7,
        as_of: as_of(),
    });
    assert_eq!(ds.people.len(), 33_000);
    assert_eq!(ds.groups.len(), 1_400);
    assert_eq!(ds.courses.len(), 450);
    assert_eq!(ds.accounts.len(), 1_200);
    assert_eq!(ds.users.len(), 20_000);
    let n = ds.transcript_count();
    assert!((135_000..=165_000).contains(&n), "{n} transcripts");
    let npcu = ds
        .properties
        .iter()
        .filter(|p| {
            let v = &p.attributes.properties.get("npcu");
            matches!(v, Some(serde_json::Value::Number(x)) if x.as_i64() == Some(1) || x.as_i64() == Some(2))
                || matches!(v, Some(serde_json::Value::String(s)) if s == "1" || s == "2")
        })
        .count();
    assert_eq!(npcu, 120);
}

#[test]
fn small_has_the_promised_dirt() {
    let ds = small(1);
    let asof = as_of().and_hms_opt(0, 0, 0).unwrap().and_utc();
    assert_eq!(ds.people.len(), 1_000);
    assert_eq!(ds.courses.len(), 60);
    assert!((45..=60).contains(&ds.accounts.len()));

    // Duplicate e-mails (case-insensitively) and mixed case.
    let mut by_email: BTreeMap<String, usize> = BTreeMap::new();
    for p in &ds.people {
        *by_email
            .entry(p.attributes.email.to_lowercase())
            .or_default() += 1;
    }
    assert!(by_email.values().any(|n| *n > 1));
    assert!(ds
        .people
        .iter()
        .any(|p| p.attributes.email != p.attributes.email.to_lowercase()));
    // ptr_ prefixes, titles instead of names, npcu as string and as number.
    assert!(ds
        .groups
        .iter()
        .any(|g| g.attributes.name.starts_with("ptr_")));
    assert!(ds
        .courses
        .iter()
        .any(|c| c.attributes.title.is_some() && c.attributes.name.is_none()));
    let npcus: Vec<_> = ds
        .properties
        .iter()
        .filter_map(|p| p.attributes.properties.get("npcu"))
        .collect();
    assert!(npcus.iter().any(|v| v.is_string()) && npcus.iter().any(|v| v.is_number()));
    assert!(npcus.iter().any(|v| v.as_str() == Some("")));
    // People in several groups.
    let mut groups_of: BTreeMap<&str, usize> = BTreeMap::new();
    for m in ds.memberships.values().flatten() {
        *groups_of
            .entry(m.relationships.person.data.id.as_str())
            .or_default() += 1;
    }
    assert!(groups_of.values().any(|n| *n > 1));
    assert!(groups_of.len() < ds.people.len(), "orphans exist");
    // Transcripts on deleted courses and non-course items.
    let courses: BTreeSet<&str> = ds.courses.iter().map(|c| c.id.as_str()).collect();
    let all: Vec<_> = ds.transcripts.values().flatten().collect();
    assert!(all.iter().any(|t| t.attributes.resource_type == "course"
        && !courses.contains(t.attributes.resource_id.as_str())));
    assert!(all.iter().any(|t| t.attributes.resource_type != "course"));
    // Dates with and without offsets.
    let spellings: Vec<&str> = all
        .iter()
        .filter_map(|t| t.attributes.completed_at.as_deref())
        .collect();
    assert!(spellings.iter().any(|s| s.ends_with('Z')));
    assert!(spellings
        .iter()
        .any(|s| s.contains('+') || s[19..].contains('-')));
    assert!(spellings.iter().any(|s| s.len() == 19));
    // Every tier the CRM uses and one the default configuration does not
    // list, each on an active account; blank tiers too.
    for tier in CRM_TIERS.into_iter().chain([UNCONFIGURED_TIER]) {
        assert!(
            ds.accounts
                .iter()
                .any(|a| a["Partner_Tier__cf"] == tier && a["Account_Status__cf"] == "Active"),
            "no active account in tier {tier}"
        );
    }
    assert!(!portal_core::model::TierRequirements::default()
        .by_tier
        .contains_key(&portal_core::model::Tier::parse(UNCONFIGURED_TIER).unwrap()));
    // Pending / blank tiers, inactive accounts, shared mailboxes.
    assert!(ds
        .accounts
        .iter()
        .any(|a| a["Partner_Tier__cf"] == "Pending"));
    assert!(ds
        .accounts
        .iter()
        .any(|a| a["Account_Status__cf"] == "Inactive"));
    assert!(ds
        .users
        .iter()
        .any(|u| u["Email"].as_str().unwrap().starts_with("sales@")
            || u["Email"].as_str().unwrap().starts_with("support@")
            || u["Email"].as_str().unwrap().starts_with("demo@")
            || u["Email"].as_str().unwrap().starts_with("test@")
            || u["Email"].as_str().unwrap().starts_with("accounts@")));

    // A certification expires on each of the next 120 days (null expires_at
    // → completion + 24 months), and at exactly +30/60/90 days.
    let mut days = BTreeSet::new();
    let mut exact = BTreeSet::new();
    let mut null_expiry = 0;
    for t in &all {
        let a = &t.attributes;
        if a.progress_status != "completed" {
            continue;
        }
        let done = dates::parse_any(a.completed_at.as_deref().unwrap()).unwrap();
        let exp = match &a.expires_at {
            Some(e) => dates::parse_any(e).unwrap(),
            None => {
                null_expiry += 1;
                done.checked_add_months(Months::new(24)).unwrap()
            }
        };
        let d = (exp - asof).num_days();
        if exp >= asof && d <= 120 {
            days.insert(d);
        }
        if [30, 60, 90]
            .iter()
            .any(|n| exp == asof + TimeDelta::days(*n))
        {
            exact.insert((exp - asof).num_days());
        }
    }
    assert!(null_expiry > 0);
    for d in 1..=120 {
        assert!(days.contains(&d), "nothing expires {d} days after as-of");
    }
    assert_eq!(exact, BTreeSet::from([30, 60, 90]));
}
