//! The weekly PAM digest: for every PAM (a partner's owner e-mail), their
//! active, tracked partners with certifications expiring within the digest
//! window, below their tier requirement, or at risk of falling below it
//! within [`AT_RISK_DAYS`] (with the drop date, the tier-at-risk report's
//! numbers: `portal_core::reports::forecast`) — one mail per PAM, once a
//! week.
//!
//! Reads: the partner list and the summaries (one type-index Query each),
//! the expiring rows of the longer of the digest and at-risk windows
//! (keyed Queries on the expiry index) and the organisation certifications
//! (one type-index Query).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use portal_core::mail::templates::{render_digest, DigestCert, DigestMail, DigestPartner};
use portal_core::mail::Email;
use portal_core::model::{CertRow, Partner, PartnerSummary};
use portal_core::reports::forecast::{self, TierAtRiskRow};
use portal_core::reports::rows;
use portal_core::store::{keys, Result};

use crate::claims::{self, ClaimOutcome};
use crate::deliver::send_claimed;
use crate::lookups::Lookups;
use crate::summary::{RunSummary, SkipReason};
use crate::window::days_left;
use crate::Deps;

/// The at-risk window of the digest, days: a quarter, what a PAM plans.
pub const AT_RISK_DAYS: u32 = 90;

/// Digest claims only need to outlive their ISO week.
const CLAIM_KEEP: i64 = 14;

pub(crate) async fn run(
    deps: &Deps,
    now: DateTime<Utc>,
    run_id: &str,
    summary: &mut RunSummary,
) -> Result<()> {
    let s = &deps.settings;
    let until = now + Duration::days(i64::from(s.digest_window_days));
    summary.window_after = Some(now);
    summary.window_until = Some(until);

    let mut by_pam: BTreeMap<String, Vec<Partner>> = BTreeMap::new();
    for p in deps.store.all_partners().await? {
        let owner = p.owner_email.as_deref().map(keys::normalize_email);
        match owner {
            Some(o) if !o.is_empty() && p.tracked && p.account_status_active => {
                by_pam.entry(o).or_default().push(p)
            }
            _ => {}
        }
    }
    let summaries: HashMap<String, PartnerSummary> = deps
        .store
        .all_summaries()
        .await?
        .into_iter()
        .map(|s| (s.partner_id.clone(), s))
        .collect();

    // Expiring strictly after now (expired ones count nothing any more) and
    // up to the end of the window, inclusive.
    let ms = Duration::milliseconds(1);
    let risk_until = forecast::window_end(now, AT_RISK_DAYS);
    let ending = deps
        .store
        .expiring_certs(now + ms, until.max(risk_until) + ms)
        .await?;
    let org_certs = deps.store.all_org_certs().await?;
    let scored = rows::score(summaries.values(), now, s.warning_days, &s.tiers);
    let at_risk: HashMap<String, TierAtRiskRow> = forecast::tier_at_risk(
        &scored,
        ending.iter().map(|c| (c.partner_id.as_str(), &c.row)),
        &org_certs,
        now,
        AT_RISK_DAYS,
    )
    .into_iter()
    .map(|r| (r.partner_id.clone(), r))
    .collect();
    let mut rows: HashMap<String, Vec<CertRow>> = HashMap::new();
    let mut seen = HashSet::new();
    for ec in ending {
        summary.rows_read += 1;
        let r = &ec.row;
        if r.expires_at.is_none_or(|e| e > until + ms) {
            continue;
        }
        if r.npcu == 0
            || !seen.insert((
                ec.partner_id.clone(),
                r.user_id.clone(),
                r.course_id.clone(),
            ))
        {
            continue;
        }
        rows.entry(ec.partner_id).or_default().push(ec.row);
    }

    let mut lookups = Lookups::new(&deps.store);
    for (pam, mut partners) in by_pam {
        summary.due += 1;
        partners.sort_by_key(|p| p.name.to_lowercase());
        let pam_name = partners
            .iter()
            .filter_map(|p| p.owner_name.clone())
            .find(|n| !n.trim().is_empty())
            .unwrap_or_else(|| pam.split('@').next().unwrap_or(&pam).to_string());
        let listed: Vec<DigestPartner> = partners
            .iter()
            .filter_map(|p| {
                digest_partner(
                    p,
                    summaries.get(&p.id),
                    rows.get(&p.id),
                    at_risk.get(&p.id),
                    deps,
                    now,
                )
            })
            .collect();
        if listed.is_empty() {
            summary.skip(SkipReason::NothingToReport, 1);
            continue;
        }
        if lookups.opted_out(&pam).await? {
            summary.skip(SkipReason::OptedOut, 1);
            continue;
        }
        if lookups.suppressed(&pam).await? {
            summary.skip(SkipReason::Suppressed, 1);
            continue;
        }
        let key = claims::digest_key(&pam, now);
        let keep = now + Duration::days(CLAIM_KEEP);
        let claim =
            match claims::claim(&deps.store, &key, run_id, now, s.claim_timeout, keep).await? {
                ClaimOutcome::Claimed(c) => c,
                ClaimOutcome::AlreadySent => {
                    summary.skip(SkipReason::AlreadySent, 1);
                    continue;
                }
                ClaimOutcome::InFlight => {
                    summary.skip(SkipReason::InFlight, 1);
                    continue;
                }
            };
        let unsubscribe_url = deps.links.as_ref().and_then(|l| l.url(&pam));
        let mail = render_digest(&DigestMail {
            pam_name,
            window_days: s.digest_window_days,
            partners: listed,
            unsubscribe_url: unsubscribe_url.clone(),
        })
        .map(|r| Email {
            to: pam.clone(),
            subject: r.subject,
            html: r.html,
            text: r.text,
            unsubscribe_url,
        });
        match send_claimed(deps, mail, &[claim], now).await? {
            Ok(_) => {
                summary.sent += 1;
                summary.emails_sent += 1;
            }
            Err(_) => {
                summary.failed += 1;
                summary.emails_failed += 1;
            }
        }
    }
    Ok(())
}

/// The partner's digest entry, or `None` when it has nothing to report.
/// A partner without a summary yet is not called below tier: its NPCU is
/// unknown, not zero.
fn digest_partner(
    p: &Partner,
    summary: Option<&PartnerSummary>,
    rows: Option<&Vec<CertRow>>,
    at_risk: Option<&TierAtRiskRow>,
    deps: &Deps,
    now: DateTime<Utc>,
) -> Option<DigestPartner> {
    let s = &deps.settings;
    let view = summary.map(|x| x.view(now, s.warning_days, &s.tiers));
    let mut certs: Vec<&CertRow> = rows.map(|r| r.iter().collect()).unwrap_or_default();
    certs.sort_by(|a, b| (a.expires_at, &a.user_name).cmp(&(b.expires_at, &b.user_name)));
    let gap = view.as_ref().map_or(0, |v| v.gap);
    if certs.is_empty() && gap == 0 && at_risk.is_none() {
        return None;
    }
    Some(DigestPartner {
        name: p.name.clone(),
        tier: p.tier.as_ref().map(|t| t.to_string()),
        npcu: view.as_ref().map_or(0, |v| v.npcu),
        required: view.as_ref().map_or_else(
            || s.tiers.required(p.tier.as_ref()).unwrap_or(0),
            |v| v.required_npcu,
        ),
        gap,
        below_tier: gap > 0,
        drops_below_on: at_risk.map(|r| r.drops_below_on.clone()),
        renewals_needed: at_risk.map_or(0, |r| r.renewals_needed),
        certs: certs
            .into_iter()
            .filter_map(|r| {
                let e = r.expires_at?;
                Some(DigestCert {
                    user_name: r.user_name.clone(),
                    email: r.email.clone(),
                    course: r.course_name.clone(),
                    npcu: r.npcu,
                    expires_on: e.format("%Y-%m-%d").to_string(),
                    days_left: days_left(e, now),
                })
            })
            .collect(),
    })
}
