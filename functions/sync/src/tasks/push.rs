//! `crm-push`: certification results back onto the CRM account, into the
//! fields the push mapping names (`Config::push`: total NPCU, certification
//! counts per group of categories, LMS group id and name, dashboard link,
//! user count) and no others — 50 records per PATCH, counting per-record
//! failures and listing them, with the CRM's message, in the run record.
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

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use portal_core::access::{
    current_link_version, next_link_version, partner_link_record, partner_link_token,
};
use portal_core::model::PartnerSummary;
use portal_core::store::{keys, Keys, StoreItem};
use portal_core::task_run::{Mode, TaskRun};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::deps::Deps;
use crate::error::SyncError;

const PUSHED_SK: &str = "PUSHED";
/// Rejections listed in the run record (the record stays one small item).
const MAX_REPORTED_FAILURES: usize = 20;
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

pub fn payload(deps: &Deps, s: &PartnerSummary, now: DateTime<Utc>, link: Option<String>) -> Value {
    let map = &deps.config.push;
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
    let mut set = |field: &Option<String>, value: Value| {
        if let Some(f) = field {
            m.insert(f.clone(), value);
        }
    };
    set(&map.npcu, json!(v.npcu));
    let text = |t: &Option<String>| t.clone().map(Value::from).unwrap_or(Value::Null);
    set(&map.group_id, text(&s.lms_group_id));
    set(&map.group_name, text(&s.lms_group_name));
    set(&map.user_count, json!(s.user_count));
    // Without a link key or base URL there is no link; the field is then
    // left as it is rather than cleared.
    if link.is_some() {
        set(&map.dashboard, text(&link));
    }
    for (field, cats) in &map.category_counts {
        let n: u32 = v
            .by_category
            .iter()
            .filter(|(c, _)| cats.iter().any(|x| x.eq_ignore_ascii_case(c)))
            .map(|(_, t)| t.certifications)
            .sum();
        m.insert(field.clone(), json!(n));
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
        let body = payload(deps, s, now, links.get(&s.partner_id).cloned());
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
    // The run record shows which partners failed and why (first ones;
    // the count says how many in all).
    let rejected: Vec<Value> = outcome
        .failed
        .iter()
        .take(MAX_REPORTED_FAILURES)
        .map(|(id, msg)| json!({"partner_id": id, "message": msg}))
        .collect();
    run.details = json!({
        "pushed": outcome.succeeded.len(),
        "rejected": outcome.failed.len(),
        "rejections": rejected,
    });
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
        let listed: Vec<String> = outcome
            .failed
            .iter()
            .take(5)
            .map(|(id, msg)| format!("{id}: {msg}"))
            .collect();
        return Err(SyncError::Invalid(format!(
            "impartner: {} of {} account updates rejected ({}{})",
            outcome.failed.len(),
            records.len(),
            listed.join("; "),
            if outcome.failed.len() > 5 {
                "; …"
            } else {
                ""
            },
        )));
    }
    Ok(())
}
