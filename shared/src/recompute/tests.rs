//! The one recompute over the in-memory port: it computes what the rules
//! compute from the whole picture, writes only what changed, and deletes
//! rows that no longer apply.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::memory::MemoryInputs;
use super::*;
use crate::model::*;
use crate::rules::summary::{build_partner_summary, partner_npcu};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

fn user(id: &str, email: &str) -> LmsUser {
    LmsUser {
        id: id.into(),
        email: email.into(),
        ..Default::default()
    }
}

fn done(user: &str, course: &str, completed: DateTime<Utc>) -> Enrollment {
    Enrollment {
        user_id: user.into(),
        course_id: course.into(),
        progress: ProgressStatus::Completed,
        completed_at: Some(completed),
        ..Default::default()
    }
}

fn course(id: &str, npcu: u8) -> Course {
    Course {
        id: id.into(),
        name: format!("Course {id}"),
        npcu,
        ..Default::default()
    }
}

fn member(g: &str, u: &str) -> Membership {
    Membership {
        group_id: g.into(),
        user_id: u.into(),
    }
}

/// Two partners: P1 has a group (john, jane) and a contact that reaches
/// bob by e-mail (mixed case) and another bob with the same e-mail; P2 has
/// only eve in its group. Courses: a2 (2 NPCU), b1 (1 NPCU), intro (0).
fn world() -> MemoryInputs {
    let year_ago = now() - Duration::days(365);
    MemoryInputs {
        partners: vec![
            Partner {
                id: "P1".into(),
                name: "Acme".into(),
                tracked: true,
                lms_group_id: Some("G1".into()),
                ..Default::default()
            },
            Partner {
                id: "P2".into(),
                name: "Other".into(),
                tracked: true,
                lms_group_id: Some("G2".into()),
                ..Default::default()
            },
        ],
        groups: vec![
            LmsGroup {
                id: "G1".into(),
                name: "Acme".into(),
                active: true,
                ..Default::default()
            },
            LmsGroup {
                id: "G2".into(),
                name: "Other".into(),
                active: true,
                ..Default::default()
            },
        ],
        memberships: vec![
            member("G1", "john"),
            member("G1", "jane"),
            member("G2", "eve"),
        ],
        contacts: vec![Contact {
            id: "c1".into(),
            email: "BOB@acme.com".into(),
            account_id: Some("P1".into()),
            active: true,
            ..Default::default()
        }],
        users: vec![
            user("john", "john@acme.com"),
            user("jane", "jane@acme.com"),
            user("bob", "bob@acme.com"),
            user("bob2", "Bob@Acme.com"),
            user("eve", "eve@other.com"),
        ],
        enrollments: vec![
            done("john", "a2", year_ago),
            done("jane", "b1", year_ago),
            done("bob", "a2", year_ago),
            done("bob2", "b1", year_ago),
            done("eve", "a2", year_ago),
            done("john", "intro", year_ago),
        ],
        courses: vec![course("a2", 2), course("b1", 1), course("intro", 0)],
        ..Default::default()
    }
}

fn settings(categories: &CategoryMap) -> RuleSettings<'_> {
    RuleSettings {
        categories,
        default_validity_months: DEFAULT_VALIDITY_MONTHS,
    }
}

/// What the rules give from the whole picture (every slice, unfiltered).
fn oracle(w: &MemoryInputs, id: &str, categories: &CategoryMap) -> (PartnerSummary, u32) {
    let partner = w.partners.iter().find(|p| p.id == id).unwrap();
    let data = PartnerData {
        partner,
        group: w
            .groups
            .iter()
            .find(|g| Some(&g.id) == partner.lms_group_id.as_ref()),
        memberships: &w.memberships,
        contacts: &w.contacts,
        users: &w.users,
        enrollments: &w.enrollments,
        courses: &w.courses,
        manual_awards: &w.awards,
        org_certs: &w.org_certs,
        categories,
        default_validity_months: DEFAULT_VALIDITY_MONTHS,
    };
    (
        build_partner_summary(&data, now()),
        partner_npcu(&data, now()),
    )
}

#[tokio::test]
async fn keyed_inputs_give_the_whole_picture_numbers() {
    let w = world();
    let cats = CategoryMap::default();
    for id in ["P1", "P2"] {
        let out = recompute_partner(&w, id, settings(&cats), now())
            .await
            .unwrap()
            .expect("partner exists");
        let (expected, npcu) = oracle(&w, id, &cats);
        assert_eq!(out.summary, expected, "{id}");
        assert_eq!(out.summary_write.created, 1);
        let view = out.summary.view(now(), 90, &TierRequirements::default());
        assert_eq!(view.npcu, npcu, "{id}");
    }
    // john 2 + jane 1 + bob 2 + bob2 1 (same e-mail, distinct users).
    let view = w.written().summaries["P1"].view(now(), 90, &TierRequirements::default());
    assert_eq!(view.npcu, 6);
    // Certification rows only (intro has no NPCU), one per user × course.
    let rows = &w.written().rows["P1"];
    assert_eq!(rows.len(), 4);
    assert!(!rows.contains_key(&("john".to_string(), "intro".to_string())));
}

#[tokio::test]
async fn an_unchanged_partner_is_not_written_again() {
    let w = world();
    let cats = CategoryMap::default();
    let first = recompute_partner(&w, "P1", settings(&cats), now())
        .await
        .unwrap()
        .unwrap();
    let later = now() + Duration::minutes(5);
    let again = recompute_partner(&w, "P1", settings(&cats), later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w.written().writes, vec!["P1".to_string()]);
    assert_eq!(again.summary_write.unchanged, 1);
    assert_eq!(again.rows.unchanged, 4);
    assert_eq!(
        again.rows.created + again.rows.updated + again.rows.deleted,
        0
    );
    // computed_at is kept when nothing else changed.
    assert_eq!(again.summary.computed_at, first.summary.computed_at);
}

#[tokio::test]
async fn rows_that_no_longer_apply_are_deleted() {
    let mut w = world();
    let cats = CategoryMap::default();
    recompute_partner(&w, "P1", settings(&cats), now())
        .await
        .unwrap();
    // jane leaves the group; the contact leaves the partner.
    w.memberships.retain(|m| m.user_id != "jane");
    w.contacts[0].account_id = Some("P9".into());
    let out = recompute_partner(&w, "P1", settings(&cats), now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.rows.deleted, 3);
    assert_eq!(out.summary_write.updated, 1);
    let written = w.written();
    let rows: Vec<_> = written.rows["P1"].keys().cloned().collect();
    assert_eq!(rows, vec![("john".to_string(), "a2".to_string())]);
    let (expected, _) = oracle(&w, "P1", &cats);
    assert_eq!(written.summaries["P1"], expected);
}

#[tokio::test]
async fn an_unknown_partner_is_none_and_writes_nothing() {
    let w = world();
    let cats = CategoryMap::default();
    let out = recompute_partner(&w, "nope", settings(&cats), now())
        .await
        .unwrap();
    assert!(out.is_none());
    assert!(w.written().writes.is_empty());
}

#[tokio::test]
async fn offboarded_users_count_nothing() {
    let mut w = world();
    let cats = CategoryMap::default();
    w.users[0].deactivated_at = Some(now() - Duration::days(1));
    let out = recompute_partner(&w, "P1", settings(&cats), now())
        .await
        .unwrap()
        .unwrap();
    let view = out.summary.view(now(), 90, &TierRequirements::default());
    assert_eq!(view.npcu, 4);
    let (_, npcu) = oracle(&w, "P1", &cats);
    assert_eq!(view.npcu, npcu);
}
