//! Mechanical mappings from wire records onto the domain model, for the
//! records where no policy is involved. Mappings that need policy — a CRM
//! account becoming a tracked `Partner` (tier/status exclusions, group
//! matching), a CRM user becoming a `Contact` (e-mail exclusions, LMS
//! link) — belong to the sync, which owns that configuration.

use crate::model;

use super::wire::{self, Course, CourseProperties, Group, Membership, Person, TranscriptEntry};

impl From<Person> for model::LmsUser {
    fn from(p: Person) -> Self {
        model::LmsUser {
            id: p.id,
            // As sent; case folding for matching is the domain's business.
            email: p.email.unwrap_or_default(),
            first_name: p.first_name,
            last_name: p.last_name,
            created_at: p.created_at,
            updated_at: p.updated_at,
            last_active_at: p.last_active_at,
            deactivated_at: p.deactivated_at,
        }
    }
}

impl From<Group> for model::LmsGroup {
    fn from(g: Group) -> Self {
        model::LmsGroup {
            id: g.id,
            name: g.name,
            description: g.description,
            user_count: g
                .user_count
                .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            updated_at: g.updated_at,
            active: true,
        }
    }
}

impl From<Membership> for model::Membership {
    fn from(m: Membership) -> Self {
        model::Membership {
            group_id: m.group_id,
            user_id: m.person_id,
        }
    }
}

/// A catalog course joined with its properties (NPCU, category). No
/// properties record means NPCU 0: not a certification.
pub fn course_to_model(c: Course, props: Option<&CourseProperties>) -> model::Course {
    model::Course {
        id: c.id,
        name: c.name,
        status: c.status,
        permalink: c.permalink,
        npcu: props.map_or(0, |p| p.npcu),
        category: props.and_then(|p| p.category.clone()),
        updated_at: c.updated_at,
        ..model::Course::default()
    }
}

/// A transcript line as an LMS enrollment. `None` for a progress status
/// the domain does not know: such a record counts nothing, and guessing
/// "completed" could award NPCU wrongly.
pub fn transcript_to_enrollment(t: &TranscriptEntry) -> Option<model::Enrollment> {
    let progress = match &t.status {
        wire::ProgressStatus::Enrolled => model::ProgressStatus::Enrolled,
        wire::ProgressStatus::InProgress => model::ProgressStatus::InProgress,
        wire::ProgressStatus::Completed => model::ProgressStatus::Completed,
        wire::ProgressStatus::Other(_) => return None,
    };
    Some(model::Enrollment {
        user_id: t.person_id.clone(),
        course_id: t.course_id.clone(),
        progress,
        enrolled_at: t.enrolled_at,
        started_at: t.started_at,
        completed_at: t.completed_at,
        expires_at: t.expires_at,
        score: t.score,
        source: model::RecordSource::Lms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_joins_properties() {
        let c = Course {
            id: "c1".into(),
            name: "Cert".into(),
            status: Some("live".into()),
            permalink: None,
            updated_at: None,
        };
        let p = CourseProperties {
            course_id: "c1".into(),
            npcu: 2,
            category: Some("RPA".into()),
        };
        let m = course_to_model(c.clone(), Some(&p));
        assert_eq!((m.npcu, m.category.as_deref()), (2, Some("RPA")));
        assert!(!m.deleted);
        let m = course_to_model(c, None);
        assert_eq!(m.npcu, 0);
        assert!(!m.is_certification());
    }

    #[test]
    fn transcripts_with_unknown_status_are_not_enrollments() {
        let mut t = TranscriptEntry {
            person_id: "p".into(),
            course_id: "c".into(),
            course_name: None,
            status: wire::ProgressStatus::Completed,
            enrolled_at: None,
            started_at: None,
            completed_at: None,
            expires_at: None,
            score: Some(90.0),
        };
        let e = transcript_to_enrollment(&t).unwrap();
        assert_eq!(e.progress, model::ProgressStatus::Completed);
        assert_eq!((e.user_id.as_str(), e.course_id.as_str()), ("p", "c"));
        t.status = wire::ProgressStatus::Other("archived".into());
        assert!(transcript_to_enrollment(&t).is_none());
    }

    #[test]
    fn group_user_count_saturates() {
        let g = Group {
            id: "g".into(),
            name: "ptr_Acme".into(),
            description: None,
            user_count: Some(u64::MAX),
            updated_at: None,
        };
        assert_eq!(model::LmsGroup::from(g).user_count, u32::MAX);
    }
}
