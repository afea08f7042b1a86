//! `lms-recert`: enrols the holders of certifications that are due for
//! recertification in the definition's recert course (issue 16).
//!
//! Reads only what may be due: the definitions naming a recert course, and
//! the dashboard rows on the expiry index (one Query per month) that expire
//! within the longest lead time; `portal_core::rules::recert` decides which
//! are due (a missed day is caught up while the certification has not
//! expired). Each due (person, certification, expiry) is enrolled once: a
//! stored enrolment that is done is skipped, and it is written with a
//! condition that never overwrites a done one
//! (`Store::record_recert_enrolment`). Enrolling resets progress on a
//! started course, so this matters.
//!
//! The LMS call goes through a group that has the course assigned
//! (`NorthpassClient::enrol_through_group`, docs/source-contract.md,
//! "Enrolling in a course"). When it fails after the client's retries the
//! attempt is stored with its error and not counted done, the run counts it
//! failed and ends partial (failed when nothing succeeded), and the next
//! run tries again.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use portal_core::model::{CertDefinition, ProgressStatus};
use portal_core::rules::recert;
use portal_core::store::programs::RecertEnrolment;
use portal_core::store::ExpiringCert;
use portal_core::task_run::{Step, TaskRun};
use serde_json::{json, Value};

use crate::deps::Deps;
use crate::error::SyncError;

/// Failures listed in the run record (the count says how many in all).
const MAX_REPORTED_FAILURES: usize = 20;

/// One due enrolment.
struct Due<'a> {
    def: &'a CertDefinition,
    course: &'a str,
    group: &'a str,
    cert: ExpiringCert,
    expires_at: DateTime<Utc>,
}

pub async fn enrol_due(
    deps: &Deps,
    run: &mut TaskRun,
    now: DateTime<Utc>,
) -> Result<Step, SyncError> {
    let defs = deps.store.all_definitions().await?;
    let with_recert: HashMap<&str, (&CertDefinition, &str, &str)> = defs
        .iter()
        .filter_map(|d| {
            let course = d.recert_course_id.as_deref()?;
            let group = d.recert_group_id.as_deref()?;
            Some((d.id.as_str(), (d, course, group)))
        })
        .collect();
    let Some(lead) = with_recert
        .values()
        .map(|(d, ..)| d.recert_days_before)
        .max()
    else {
        run.details = json!({"due": 0, "enrolled": 0, "failures": []});
        return Ok(Step::Done);
    };
    let np = deps.northpass()?;
    let (from, to) = recert::scan_range(now, lead);
    // One row per (person, certification, expiry): a person listed under
    // two partners is enrolled once (under the first partner).
    let mut due: BTreeMap<(String, String, DateTime<Utc>), Due<'_>> = BTreeMap::new();
    for ec in deps.store.expiring_certs(from, to).await? {
        let Some(&(def, course, group)) = with_recert.get(ec.row.course_id.as_str()) else {
            continue;
        };
        let Some(expires_at) = ec.row.expires_at else {
            continue;
        };
        if ec.row.progress != ProgressStatus::Completed
            || !recert::is_due(expires_at, def.recert_days_before, now)
        {
            continue;
        }
        let key = (ec.row.user_id.clone(), def.id.clone(), expires_at);
        due.entry(key).or_insert(Due {
            def,
            course,
            group,
            cert: ec,
            expires_at,
        });
    }

    let mut enrolled = 0u64;
    let mut failures: Vec<Value> = Vec::new();
    for d in due.into_values() {
        run.counts.processed += 1;
        let user = d.cert.row.user_id.as_str();
        let earlier = deps.store.recert_enrolments_of(user, &d.def.id).await?;
        let this = earlier.iter().find(|e| e.expires_at == Some(d.expires_at));
        if this.is_some_and(|e| e.done) {
            run.counts.unchanged += 1;
            continue;
        }
        // Still in the group from the enrolment for an earlier expiry: a
        // plain add would not enrol them again.
        let rejoin = earlier
            .iter()
            .any(|e| e.done && e.expires_at.is_some_and(|x| x < d.expires_at));
        let mut rec = RecertEnrolment {
            user_id: user.to_string(),
            email: d.cert.row.email.clone(),
            partner_id: d.cert.partner_id.clone(),
            certification: d.def.id.clone(),
            certification_name: d.def.name.clone(),
            recert_course_id: d.course.to_string(),
            expires_at: Some(d.expires_at),
            due_on: Some(
                d.expires_at - chrono::Duration::days(i64::from(d.def.recert_days_before)),
            ),
            enrolled_at: None,
            done: false,
            attempts: this.map_or(0, |e| e.attempts) + 1,
            error: None,
        };
        match np.enrol_through_group(d.group, user, rejoin).await {
            Ok(()) => {
                rec.enrolled_at = Some(now);
                rec.done = true;
                if deps.store.record_recert_enrolment(&rec).await? {
                    enrolled += 1;
                    run.counts.created += 1;
                    tracing::info!(user, certification = %d.def.id, course = d.course,
                        expires_at = %d.expires_at, "enrolled for recertification");
                } else {
                    // Recorded by another run meanwhile.
                    run.counts.unchanged += 1;
                }
            }
            Err(e) if e.is_auth() => return Err(e.into()),
            Err(e) => {
                tracing::warn!(user, certification = %d.def.id, error = %e,
                    "recertification enrolment failed; the next run retries it");
                run.counts.failed += 1;
                if failures.len() < MAX_REPORTED_FAILURES {
                    failures.push(json!({
                        "user_id": user,
                        "certification": d.def.id,
                        "message": e.to_string(),
                    }));
                }
                rec.error = Some(e.to_string());
                deps.store.record_recert_enrolment(&rec).await?;
            }
        }
    }
    let failed = run.counts.failed;
    run.details = json!({
        "due": run.counts.processed,
        "enrolled": enrolled,
        "failed": failed,
        "failures": failures,
    });
    if failed == 0 {
        return Ok(Step::Done);
    }
    // The run record keeps the error text: name the first failures there.
    let listed: Vec<String> = failures
        .iter()
        .take(5)
        .map(|f| {
            format!(
                "{} in {}: {}",
                f["user_id"], f["certification"], f["message"]
            )
        })
        .collect();
    let msg = format!(
        "{failed} of {} recertification enrolment(s) failed ({}{}); the next run retries them",
        run.counts.processed - run.counts.unchanged,
        listed.join("; "),
        if failures.len() > 5 { "; …" } else { "" },
    );
    if enrolled == 0 {
        return Err(SyncError::Invalid(msg));
    }
    Ok(Step::Partial(msg))
}
