//! Dashboard certification rows.
//!
//! A row is kept for every record (any progress, expired or not) of a
//! **certification** course (NPCU > 0) — the dashboard lists who is enrolled,
//! in progress, active, expiring and expired. Records of non-certification
//! courses and of courses unknown to the catalog are left out: without the
//! course we know neither its NPCU nor its name. Rows carry the effective
//! expiry; the status is computed at read time with [`CertRow::status`].

use std::collections::BTreeMap;

use super::expiry::record_expiry;
use super::npcu::course_index;
use super::summary::PartnerData;
use crate::model::{CategoryMap, CertRow, Course, Enrollment, LmsUser};

/// Row of one record, or `None` when its course is unknown or not a
/// certification.
pub fn cert_row(
    user: &LmsUser,
    record: &Enrollment,
    course: Option<&Course>,
    categories: &CategoryMap,
    default_validity_months: u32,
) -> Option<CertRow> {
    let course = course.filter(|c| c.npcu > 0)?;
    Some(CertRow {
        user_id: user.id.clone(),
        user_name: user.display_name(),
        email: user.email.clone(),
        course_id: course.id.clone(),
        course_name: course.name.clone(),
        category: categories.category_for(course),
        npcu: course.npcu,
        progress: record.progress,
        enrolled_at: record.enrolled_at,
        completed_at: record.completed_at,
        expires_at: record_expiry(record, Some(course), default_validity_months),
        permalink: course.permalink.clone(),
        source: record.source,
        // Set by `rules::programs` when staff decided something.
        status_override: None,
        awaiting_approval: false,
        status_note: None,
    })
}

/// Rows of one partner's dashboard: one per member × certification course
/// (after renewal), sorted by user name, course name, then ids.
pub fn build_cert_rows(data: &PartnerData<'_>) -> Vec<CertRow> {
    let members = data.members();
    let courses = course_index(data.courses);
    let mut rows: Vec<CertRow> = data
        .member_records()
        .iter()
        .filter_map(|r| {
            let user = members.get(r.user_id.as_str())?;
            cert_row(
                user,
                r,
                courses.get(r.course_id.as_str()).copied(),
                data.categories,
                data.default_validity_months,
            )
        })
        .collect();
    sort_rows(&mut rows);
    rows
}

/// Rows of any set of users (e.g. the user certifications report):
/// `records` are deduplicated per user × course first.
pub fn cert_rows_for_users(
    users: &[LmsUser],
    records: &[Enrollment],
    courses: &[Course],
    categories: &CategoryMap,
    default_validity_months: u32,
) -> Vec<CertRow> {
    let by_id: BTreeMap<&str, &LmsUser> = users.iter().map(|u| (u.id.as_str(), u)).collect();
    let courses = course_index(courses);
    let mut rows: Vec<CertRow> = super::renewal::dedup_records(
        records
            .iter()
            .filter(|r| by_id.contains_key(r.user_id.as_str()))
            .cloned(),
    )
    .iter()
    .filter_map(|r| {
        cert_row(
            by_id.get(r.user_id.as_str())?,
            r,
            courses.get(r.course_id.as_str()).copied(),
            categories,
            default_validity_months,
        )
    })
    .collect();
    sort_rows(&mut rows);
    rows
}

fn sort_rows(rows: &mut [CertRow]) {
    rows.sort_by(|a, b| {
        (
            a.user_name.to_lowercase(),
            a.course_name.to_lowercase(),
            &a.user_id,
            &a.course_id,
        )
            .cmp(&(
                b.user_name.to_lowercase(),
                b.course_name.to_lowercase(),
                &b.user_id,
                &b.course_id,
            ))
    });
}
