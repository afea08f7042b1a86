//! `GET /api/reports/recertifications` (issue 16): the recertification
//! enrolments the sync's `lms-recert` task made, with their outcome. Rows
//! are `portal_core::reports::recert`'s; this module only reads.
//!
//! Reads, beyond the summaries: every enrolment (one paginated type-index
//! Query; one item per person × certification × expiry, so a few per
//! certification holder over years), the course names of the recert courses
//! (one GetItem each) and, per person shown, their stored records (one
//! Query each, a few at a time) for the completion of the recert course.

use std::collections::{BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt};
use portal_core::reports::recert::{recert_rows, RecertLookups, RecertRow};
use portal_core::reports::rows::Scored;
use portal_core::reports::{ParamError, ReportQuery};
use portal_core::rules::recert::Outcome;

use crate::http::ApiError;
use crate::AppState;

/// People whose records are read at once.
const USER_CONCURRENCY: usize = 8;

/// The row type, for the route's parameter spec.
pub(crate) type Row = RecertRow;

/// Parameters beyond the common ones.
pub(crate) const EXTRA_PARAMS: &[&str] = &["outcome", "certification", "partner"];

/// The rows of the partners in `scored` (the caller's scope, filtered),
/// with the `outcome` and `certification` filters applied.
pub(crate) async fn rows(
    state: &AppState,
    scored: &[Scored<'_>],
    q: &ReportQuery,
    pairs: &[(String, String)],
) -> Result<Vec<RecertRow>, ApiError> {
    let wanted = match pairs
        .iter()
        .find(|(k, v)| k == "outcome" && !v.trim().is_empty())
    {
        Some((_, v)) => Some(Outcome::parse(v).ok_or_else(|| {
            ParamError::new(
                "outcome",
                format!("unknown outcome '{v}' (expected enrolled, completed or expired)"),
            )
        })?),
        None => None,
    };
    let partners: HashMap<String, String> = scored
        .iter()
        .map(|s| (s.summary.partner_id.clone(), s.summary.name.clone()))
        .collect();
    let enrolments: Vec<_> = state
        .store
        .all_recert_enrolments()
        .await?
        .into_iter()
        .filter(|e| e.done && partners.contains_key(&e.partner_id))
        .filter(|e| {
            q.course.as_deref().is_none_or(|c| {
                e.certification == c || e.certification_name.eq_ignore_ascii_case(c)
            })
        })
        .collect();
    let course_ids: BTreeSet<&str> = enrolments
        .iter()
        .map(|e| e.recert_course_id.as_str())
        .collect();
    let mut courses = HashMap::new();
    for c in course_ids {
        if let Some(course) = state.store.get_course(c).await? {
            courses.insert(c.to_string(), course.name);
        }
    }
    let wanted_records: BTreeSet<(String, String)> = enrolments
        .iter()
        .map(|e| (e.user_id.clone(), e.recert_course_id.clone()))
        .collect();
    let users: BTreeSet<String> = wanted_records.iter().map(|(u, _)| u.clone()).collect();
    let per_user: Vec<Vec<portal_core::model::Enrollment>> = futures::stream::iter(users)
        .map(|u| {
            let store = state.store.clone();
            async move { store.user_enrollments(&u).await }
        })
        .buffer_unordered(USER_CONCURRENCY)
        .try_collect()
        .await?;
    let records: HashMap<(String, String), _> = per_user
        .into_iter()
        .flatten()
        .map(|r| ((r.user_id.clone(), r.course_id.clone()), r))
        .filter(|(k, _)| wanted_records.contains(k))
        .collect();
    let lookups = RecertLookups {
        partners: &partners,
        courses: &courses,
        records: &records,
    };
    let mut rows = recert_rows(&enrolments, &lookups, state.clock.now());
    rows.retain(|r| wanted.is_none_or(|o| r.outcome == o));
    Ok(rows)
}
