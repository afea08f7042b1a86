//! Wire records of the clients → domain model. Pure functions; the
//! tolerant parsing (dates, NPCU, ids) already happened in the clients.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use portal_core::model::{
    Contact, Course, Enrollment, LmsGroup, LmsUser, Partner, ProgressStatus, RecordSource, Tier,
};
use portal_core::rules::filters::partner_tracked;
use portal_core::sources::wire;

pub fn user(p: &wire::Person) -> LmsUser {
    LmsUser {
        id: p.id.clone(),
        email: p.email.clone().unwrap_or_default().trim().to_string(),
        first_name: p.first_name.clone(),
        last_name: p.last_name.clone(),
        created_at: p.created_at,
        updated_at: p.updated_at,
        last_active_at: p.last_active_at,
        deactivated_at: p.deactivated_at,
    }
}

pub fn group(g: &wire::Group) -> LmsGroup {
    LmsGroup {
        id: g.id.clone(),
        name: g.name.clone(),
        description: g.description.clone(),
        user_count: g
            .user_count
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .unwrap_or(0),
        updated_at: g.updated_at,
        active: true,
    }
}

/// A catalog course with its properties (NPCU, category) when known.
pub fn course(
    c: &wire::Course,
    props: Option<&wire::CourseProperties>,
    default_validity_months: u32,
) -> Course {
    Course {
        id: c.id.clone(),
        name: c.name.clone(),
        status: c.status.clone(),
        permalink: c.permalink.clone(),
        npcu: props.map(|p| p.npcu).unwrap_or(0),
        category: props
            .and_then(|p| p.category.clone())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        validity_months: default_validity_months,
        updated_at: c.updated_at,
        deleted: false,
    }
}

/// A transcript line; `None` for a status the portal does not know (it is
/// logged by the caller, not guessed).
pub fn enrollment(t: &wire::TranscriptEntry) -> Option<Enrollment> {
    let progress = match &t.status {
        wire::ProgressStatus::Enrolled => ProgressStatus::Enrolled,
        wire::ProgressStatus::InProgress => ProgressStatus::InProgress,
        wire::ProgressStatus::Completed => ProgressStatus::Completed,
        wire::ProgressStatus::Other(_) => return None,
    };
    Some(Enrollment {
        user_id: t.person_id.clone(),
        course_id: t.course_id.clone(),
        progress,
        enrolled_at: t.enrolled_at,
        started_at: t.started_at,
        completed_at: t.completed_at,
        expires_at: t.expires_at,
        score: t.score,
        source: RecordSource::Lms,
    })
}

fn blank_none(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A CRM account. `previous` carries what the CRM does not know: the LMS
/// group link and whether an admin pinned it. The region name comes from
/// `RegionId` through `regions` (the `Region` object), else from a name
/// the record itself carries.
pub fn partner(
    a: &wire::Account,
    previous: Option<&Partner>,
    untracked: &[Tier],
    regions: &HashMap<String, String>,
) -> Partner {
    let region = a
        .region_id
        .as_ref()
        .and_then(|id| regions.get(id).cloned())
        .or_else(|| a.region.clone());
    let tier = a.partner_tier.as_deref().and_then(Tier::parse);
    let active = a
        .account_status
        .as_deref()
        .is_some_and(|s| s.trim().eq_ignore_ascii_case("active"));
    Partner {
        id: a.id.clone(),
        name: a.name.clone().unwrap_or_default().trim().to_string(),
        tracked: partner_tracked(active, tier.as_ref(), untracked),
        tier,
        account_status_active: active,
        owner_name: blank_none(&a.account_owner),
        owner_email: blank_none(&a.account_owner_email).map(|e| e.to_lowercase()),
        partner_type: blank_none(&a.partner_type),
        website: blank_none(&a.website),
        crm_id: blank_none(&a.crm_id),
        region: blank_none(&region),
        country: blank_none(&a.mailing_country),
        updated_at: a.updated,
        lms_group_id: previous.and_then(|p| p.lms_group_id.clone()),
        group_pinned: previous.is_some_and(|p| p.group_pinned),
        parent_account_id: blank_none(&a.parent_account_id),
        primary_user_id: blank_none(&a.primary_user_id),
    }
}

/// A CRM contact; `active` is the CRM flag and `Contact_Status__cf` (a
/// status in `inactive_statuses`, lower-cased, makes it inactive); the
/// e-mail filters are applied by the task, and the LMS link is kept from
/// `previous` until relinking.
pub fn contact(
    u: &wire::CrmUser,
    previous: Option<&Contact>,
    inactive_statuses: &[String],
) -> Contact {
    let status_inactive = u
        .contact_status
        .as_deref()
        .map(|s| s.trim().to_lowercase())
        .is_some_and(|s| inactive_statuses.contains(&s));
    Contact {
        id: u.id.clone(),
        email: u.email.clone().unwrap_or_default().trim().to_string(),
        first_name: blank_none(&u.first_name),
        last_name: blank_none(&u.last_name),
        title: blank_none(&u.title),
        phone: blank_none(&u.phone),
        account_id: blank_none(&u.account_id),
        account_name: blank_none(&u.account_name),
        // The contract does not say what a missing flag means; a contact
        // listed without it is taken as active (the CRM's default).
        active: u.is_active.unwrap_or(true) && !status_inactive,
        updated_at: u.updated,
        lms_user_id: previous.and_then(|p| p.lms_user_id.clone()),
    }
}

/// Midnight-free helper for logs.
pub fn fmt_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into())
}
