//! The daily reminder job: read the certifications whose threshold date
//! fell into this run's window (keyed Queries on the expiry index only),
//! drop who must not be mailed, claim each reminder, and send one mail per
//! user listing all of their due certifications.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use portal_core::mail::templates::{render_reminder, ReminderLine, ReminderMail};
use portal_core::mail::Email;
use portal_core::model::{CertRow, ProgressStatus};
use portal_core::store::Result;

use crate::at_risk::AtRisk;
use crate::claims::{self, ClaimOutcome};
use crate::deliver::send_claimed;
use crate::lookups::Lookups;
use crate::summary::{RunSummary, SkipReason};
use crate::window::{self, Window};
use crate::Deps;

/// One certification due for one stage, with every partner it is listed
/// under (a user reached through two partners has one row under each).
struct DueCert {
    partner_ids: Vec<String>,
    row: CertRow,
    expiry: DateTime<Utc>,
    stage: u32,
}

/// Claims stay until well after the certification expired; by then no
/// window can reach them again and DynamoDB's TTL removes them.
const CLAIM_KEEP_AFTER_EXPIRY: i64 = 30;

/// Runs the job; returns the watermark to store (see [`next_watermark`]).
pub(crate) async fn run(
    deps: &Deps,
    now: DateTime<Utc>,
    run_id: &str,
    last: Option<DateTime<Utc>>,
    summary: &mut RunSummary,
) -> Result<DateTime<Utc>> {
    let s = &deps.settings;
    let w = window::window(last, now, s.first_run_catch_up, s.max_catch_up);
    let stages = window::stages(&s.thresholds, s.expired_notice);
    summary.window_after = Some(w.after);
    summary.window_until = Some(w.until);

    let mut due: BTreeMap<(String, String, DateTime<Utc>), DueCert> = BTreeMap::new();
    for (from, to) in window::query_ranges(w, &stages) {
        for ec in deps.store.expiring_certs(from, to).await? {
            summary.rows_read += 1;
            let row = ec.row;
            // The index only holds completed rows with an expiry; checked
            // again so a stray row can never produce a mail.
            let Some(expiry) = row.expires_at else {
                continue;
            };
            if row.progress != ProgressStatus::Completed || row.npcu == 0 {
                continue;
            }
            let Some(stage) = window::due_stage(w, &stages, expiry) else {
                continue;
            };
            let key = (row.user_id.clone(), row.course_id.clone(), expiry);
            due.entry(key)
                .or_insert_with(|| DueCert {
                    partner_ids: Vec::new(),
                    row,
                    expiry,
                    stage,
                })
                .partner_ids
                .push(ec.partner_id);
        }
    }
    summary.due = due.len() as u64;

    let mut by_user: BTreeMap<String, Vec<DueCert>> = BTreeMap::new();
    for ((user, _, _), d) in due {
        by_user.entry(user).or_default().push(d);
    }

    let mut lookups = Lookups::new(&deps.store);
    let mut at_risk = AtRisk::new(&deps.store);
    // Threshold dates of items that must be tried again (failed sends,
    // claims of a crashed run): the watermark must stay before them.
    let mut retry_dates: Vec<DateTime<Utc>> = Vec::new();
    for (user_id, certs) in by_user {
        let held = mail_user(
            deps,
            now,
            run_id,
            &mut lookups,
            &mut at_risk,
            &user_id,
            certs,
            summary,
        )
        .await?;
        retry_dates.extend(held);
    }
    Ok(next_watermark(w, &retry_dates))
}

/// Everything up to `until` is done, except items that must be retried:
/// the next run starts just before the earliest of them.
fn next_watermark(w: Window, retry_dates: &[DateTime<Utc>]) -> DateTime<Utc> {
    match retry_dates.iter().min() {
        None => w.until,
        Some(d) => (*d - Duration::milliseconds(1)).clamp(w.after, w.until),
    }
}

fn threshold_date(d: &DueCert) -> DateTime<Utc> {
    d.expiry - Duration::days(i64::from(d.stage))
}

/// Decides, claims and mails one user's due certifications. Returns the
/// threshold dates of the items to retry in a later run.
#[allow(clippy::too_many_arguments)]
async fn mail_user(
    deps: &Deps,
    now: DateTime<Utc>,
    run_id: &str,
    lookups: &mut Lookups<'_>,
    at_risk: &mut AtRisk<'_>,
    user_id: &str,
    certs: Vec<DueCert>,
    summary: &mut RunSummary,
) -> Result<Vec<DateTime<Utc>>> {
    let n = certs.len() as u64;
    let email = certs
        .iter()
        .map(|c| c.row.email.trim())
        .find(|e| !e.is_empty())
        .map(str::to_string);
    let row_name = certs
        .iter()
        .map(|c| c.row.user_name.trim())
        .find(|n| !n.is_empty())
        .map(str::to_string);
    let Some(email) = email else {
        summary.skip(SkipReason::NoEmail, n);
        return Ok(Vec::new());
    };
    if let Some(reason) = lookups.user_block(user_id).await? {
        summary.skip(reason, n);
        return Ok(Vec::new());
    }
    if lookups.opted_out(&email).await? {
        summary.skip(SkipReason::OptedOut, n);
        return Ok(Vec::new());
    }
    if lookups.suppressed(&email).await? {
        summary.skip(SkipReason::Suppressed, n);
        return Ok(Vec::new());
    }

    let mut lines = Vec::new();
    let mut held = Vec::new();
    let mut taken = Vec::new();
    for c in certs {
        // Mailed on behalf of every partner that may receive mail; none
        // left means the first partner's reason.
        let mut partners = Vec::new();
        let mut reason = None;
        // The first partner this expiry drops below tier, and when.
        let mut drops = None;
        for pid in &c.partner_ids {
            match lookups.partner(pid).await? {
                Ok(p) => {
                    if drops.is_none() {
                        drops = at_risk
                            .drop_date(pid, c.expiry, now, &deps.settings)
                            .await?
                            .map(|d| (p.name.clone(), d.to_string()));
                    }
                    partners.push(p.name)
                }
                Err(r) => reason = reason.or(Some(r)),
            }
        }
        if partners.is_empty() {
            summary.skip(reason.unwrap_or(SkipReason::PartnerUnknown), 1);
            continue;
        }
        let key = claims::reminder_key(user_id, &c.row.course_id, c.expiry, c.stage);
        let keep = c.expiry + Duration::days(CLAIM_KEEP_AFTER_EXPIRY);
        let timeout = deps.settings.claim_timeout;
        match claims::claim(&deps.store, &key, run_id, now, timeout, keep).await? {
            ClaimOutcome::Claimed(claim) => {
                // A certification with a recert course links to that course
                // (where the holder renews); else to its own course.
                let link = match lookups.recert_link(&c.row.course_id).await? {
                    Some(l) => Some(l),
                    None => c.row.permalink.clone(),
                };
                taken.push((claim, threshold_date(&c)));
                lines.push(ReminderLine {
                    partner: partners.join(", "),
                    course: c.row.course_name.clone(),
                    npcu: c.row.npcu,
                    expires_on: c.expiry.format("%Y-%m-%d").to_string(),
                    days_left: window::days_left(c.expiry, now),
                    expired: c.expiry <= now,
                    link,
                    at_risk_partner: drops.as_ref().map(|(p, _)| p.clone()),
                    drops_below_on: drops.map(|(_, d)| d),
                });
            }
            ClaimOutcome::AlreadySent => summary.skip(SkipReason::AlreadySent, 1),
            ClaimOutcome::InFlight => {
                summary.skip(SkipReason::InFlight, 1);
                held.push(threshold_date(&c));
            }
        }
    }
    if taken.is_empty() {
        return Ok(held);
    }

    let user_name = row_name
        .or_else(|| lookups.display_name(user_id))
        .unwrap_or_else(|| fallback_name(&email));
    let unsubscribe_url = deps.links.as_ref().and_then(|l| l.url(&email));
    let mail = render_reminder(&ReminderMail {
        user_name,
        items: lines,
        unsubscribe_url: unsubscribe_url.clone(),
    })
    .map(|r| Email {
        to: email.clone(),
        subject: r.subject,
        html: r.html,
        text: r.text,
        unsubscribe_url,
    });
    let claims_only: Vec<_> = taken.iter().map(|(c, _)| c.clone()).collect();
    let k = taken.len() as u64;
    match send_claimed(deps, mail, &claims_only, now).await? {
        Ok(_) => {
            summary.sent += k;
            summary.emails_sent += 1;
        }
        Err(_) => {
            summary.failed += k;
            summary.emails_failed += 1;
            held.extend(taken.iter().map(|(_, d)| *d));
        }
    }
    Ok(held)
}

fn fallback_name(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_string()
}
