//! `crm-push`: certification results back onto the CRM account — total
//! NPCU, certification count, one count per product category, the LMS
//! group name — 50 records per PATCH, counting per-record failures.
//!
//! The partner's dashboard link (`LMS_Training_Dashboard__cf`) is derived
//! with `access::partner_link_token` at the partner's current (live) link
//! version. A partner without a live link gets one through
//! `Store::ensure_partner_link`, which only ever creates a version above a
//! revoked one, so a push that read the tokens before an admin revoked a
//! link cannot bring it back (see `portal_core::access`). Without
//! `PORTAL_LINK_KEY` or `PORTAL_PUBLIC_BASE_URL` the field is left out.
//!
//! Incremental runs push only partners whose values differ from what was
//! last pushed (kept in a `PUSHED` item per partner); full runs push every
//! tracked partner, repairing any hand edit in the CRM.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use portal_core::access::{
    current_link_version, next_link_version, partner_link_record, partner_link_token,
};
use portal_core::model::{Course, PartnerSummary, UNCATEGORIZED};
use portal_core::store::{keys, Keys, StoreItem};
use portal_core::tasks::{Mode, TaskRun};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::deps::Deps;
use crate::error::SyncError;

const PUSHED_SK: &str = "PUSHED";
const PUSHED_ENTITY: &str = "PUSHED";

/// What was last pushed for a partner (the PATCH body, as JSON text so the
/// item stays flat and hashes stably).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
struct Pushed {
    partner_id: String,
    payload: String,
}

fn pushed_item(p: &Pushed) -> Result<StoreItem, SyncError> {
    Ok(StoreItem::new(
        Keys::new(keys::partner_pk(&p.partner_id), PUSHED_SK, PUSHED_ENTITY)
            .typed(p.partner_id.clone()),
        p,
    )?)
}

/// CRM field of a category: non-alphanumerics become `_`
/// ("Automation Cloud" → `Automation_Cloud_Certifications__cf`).
pub fn category_field(category: &str) -> String {
    let name: String = category
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{name}_Certifications__cf")
}

/// Every category a certification can have: from the courses and the
/// configured map, so a category that drops to zero is pushed as 0.
fn categories(deps: &Deps, courses: &[Course], summaries: &[PartnerSummary]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = courses
        .iter()
        .filter(|c| c.npcu > 0)
        .filter_map(|c| deps.config.categories.category_for(c))
        .collect();
    out.extend(
        deps.config
            .categories
            .rules
            .iter()
            .map(|r| r.category.clone()),
    );
    for s in summaries {
        out.extend(s.certs.iter().filter_map(|c| c.category.clone()));
    }
    out.remove(UNCATEGORIZED);
    out
}

pub fn payload(
    deps: &Deps,
    s: &PartnerSummary,
    cats: &BTreeSet<String>,
    now: DateTime<Utc>,
    link: Option<String>,
) -> Value {
    let v = s.view(now, deps.config.warning_days, &deps.config.tiers);
    let mut m = Map::new();
    // Impartner ids are numbers; send one when the id is numeric.
    m.insert(
        "Id".into(),
        s.partner_id
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(s.partner_id)),
    );
    m.insert("Total_NPCU__cf".into(), json!(v.npcu));
    m.insert("Certification_Count__cf".into(), json!(v.certifications));
    for c in cats {
        let n = v.by_category.get(c).map(|t| t.certifications).unwrap_or(0);
        m.insert(category_field(c), json!(n));
    }
    m.insert(
        "LMS_Group_Name__cf".into(),
        s.lms_group_name
            .clone()
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    if let Some(link) = link {
        m.insert("LMS_Training_Dashboard__cf".into(), json!(link));
    }
    Value::Object(m)
}

/// The dashboard URL of each partner. A live link found in the (possibly
/// stale) token list is used as it is; a partner without one gets the
/// next free version issued by conditional writes.
async fn links(
    deps: &Deps,
    summaries: &[PartnerSummary],
    now: DateTime<Utc>,
) -> Result<HashMap<String, String>, SyncError> {
    let (Some(key), Some(base)) = (&deps.link_key, &deps.config.public_base_url) else {
        return Ok(HashMap::new());
    };
    let tokens = deps.store.all_tokens().await?;
    let mut out = HashMap::new();
    for s in summaries {
        let token = match current_link_version(&tokens, &s.partner_id) {
            Some(v) => partner_link_token(key.expose(), &s.partner_id, v),
            None => {
                let pid = s.partner_id.as_str();
                let link_of = |v: u32| {
                    (
                        partner_link_token(key.expose(), pid, v),
                        partner_link_record(pid, v, now),
                    )
                };
                let (v, token) = deps
                    .store
                    .ensure_partner_link(pid, next_link_version(&tokens, pid), &link_of)
                    .await?;
                tracing::info!(partner = %pid, version = v, "partner link issued");
                token
            }
        };
        out.insert(s.partner_id.clone(), format!("{base}/p/{token}"));
    }
    Ok(out)
}

pub async fn push(deps: &Deps, run: &mut TaskRun, now: DateTime<Utc>) -> Result<(), SyncError> {
    let prm = deps.impartner()?;
    let store = &deps.store;
    let summaries: Vec<PartnerSummary> = store
        .all_summaries()
        .await?
        .into_iter()
        .filter(|s| s.tracked)
        .collect();
    let courses = store.all_courses().await?;
    let cats = categories(deps, &courses, &summaries);
    let last: HashMap<String, String> = store
        .query_type_as::<Pushed>(PUSHED_ENTITY)
        .await?
        .into_iter()
        .map(|p| (p.partner_id, p.payload))
        .collect();

    let links = links(deps, &summaries, now).await?;
    let mut records = Vec::new();
    let mut by_id: BTreeMap<String, String> = BTreeMap::new();
    for s in &summaries {
        run.counts.processed += 1;
        let body = payload(deps, s, &cats, now, links.get(&s.partner_id).cloned());
        let text = body.to_string();
        if run.mode == Mode::Incremental && last.get(&s.partner_id) == Some(&text) {
            run.counts.unchanged += 1;
            continue;
        }
        by_id.insert(s.partner_id.clone(), text);
        records.push(body);
    }
    if records.is_empty() {
        return Ok(());
    }
    let outcome = prm.patch_accounts(&records).await?;
    run.counts.updated += outcome.succeeded.len() as u64;
    run.counts.failed += outcome.failed.len() as u64;
    for (id, msg) in &outcome.failed {
        tracing::warn!(partner = %id, message = %msg, "CRM rejected the push of a partner");
    }
    let items = outcome
        .succeeded
        .iter()
        .filter_map(|id| by_id.get(id).map(|t| (id, t)))
        .map(|(id, t)| {
            pushed_item(&Pushed {
                partner_id: id.clone(),
                payload: t.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    store.put_if_changed(items).await?;
    if !outcome.failed.is_empty() {
        return Err(SyncError::Invalid(format!(
            "impartner: {} of {} account updates rejected (first: {} — {})",
            outcome.failed.len(),
            records.len(),
            outcome.failed[0].0,
            outcome.failed[0].1
        )));
    }
    Ok(())
}
