use super::*;
use crate::model::{
    CategoryMap, Contact, LmsUser, Membership, Partner, RecordSource, DEFAULT_VALIDITY_MONTHS,
};
use crate::rules::expiry::add_months;
use crate::rules::summary::PartnerData;
use chrono::{Duration, TimeZone};
use proptest::prelude::*;

fn d(y: i32, m: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, day, 0, 0, 0).unwrap()
}

fn now() -> DateTime<Utc> {
    d(2026, 11, 23)
}

fn def(courses: &[&str], require: Require) -> CertDefinition {
    CertDefinition {
        id: "cert-x".into(),
        name: "Automation Expert".into(),
        courses: courses.iter().map(|c| c.to_string()).collect(),
        require,
        validity_months: 12,
        npcu: 3,
        ..Default::default()
    }
}

fn rec(course: &str, p: ProgressStatus, done: Option<DateTime<Utc>>) -> Enrollment {
    Enrollment {
        user_id: "u".into(),
        course_id: course.into(),
        progress: p,
        completed_at: done,
        ..Default::default()
    }
}

fn done(course: &str, at: DateTime<Utc>) -> Enrollment {
    rec(course, ProgressStatus::Completed, Some(at))
}

fn award_of(def: &CertDefinition, recs: &[Enrollment]) -> Option<Enrollment> {
    let refs: Vec<&Enrollment> = recs.iter().collect();
    award(def, "u", &refs)
}

#[test]
fn all_of_two_needs_both_and_dates_from_the_last() {
    let def = def(&["a", "b"], Require::All);
    assert_eq!(award_of(&def, &[]), None);
    let one = award_of(&def, &[done("a", d(2026, 1, 1))]).unwrap();
    assert_eq!(one.progress, ProgressStatus::InProgress);
    assert_eq!((one.completed_at, one.expires_at), (None, None));
    assert_eq!(one.course_id, "cert-x");
    let both = award_of(&def, &[done("a", d(2026, 1, 1)), done("b", d(2026, 3, 5))]).unwrap();
    assert_eq!(both.progress, ProgressStatus::Completed);
    assert_eq!(both.completed_at, Some(d(2026, 3, 5)));
    assert_eq!(both.expires_at, Some(d(2027, 3, 5)));
    // Only enrolled in its courses: enrolled.
    let e = award_of(&def, &[rec("a", ProgressStatus::Enrolled, None)]).unwrap();
    assert_eq!(e.progress, ProgressStatus::Enrolled);
}

#[test]
fn n_of_m_awards_at_the_nth_completion() {
    let def = def(&["a", "b", "c"], Require::AtLeast(2));
    let one = award_of(&def, &[done("a", d(2026, 1, 1))]).unwrap();
    assert_ne!(one.progress, ProgressStatus::Completed);
    let two = award_of(&def, &[done("a", d(2026, 1, 1)), done("c", d(2026, 2, 1))]).unwrap();
    assert_eq!(two.progress, ProgressStatus::Completed);
    assert_eq!(two.completed_at, Some(d(2026, 2, 1)));
    // A third completion, later: the latest two are used.
    let three = award_of(
        &def,
        &[
            done("a", d(2026, 1, 1)),
            done("c", d(2026, 2, 1)),
            done("b", d(2026, 6, 1)),
        ],
    )
    .unwrap();
    assert_eq!(three.completed_at, Some(d(2026, 6, 1)));
    assert_eq!(three.expires_at, Some(d(2027, 6, 1)));
}

#[test]
fn renewing_one_course_moves_the_certification() {
    let def = def(&["a", "b"], Require::All);
    let first = award_of(&def, &[done("a", d(2025, 1, 1)), done("b", d(2025, 2, 1))]).unwrap();
    assert_eq!(first.expires_at, Some(d(2026, 2, 1)));
    // Course a retaken: one record per course after renewal, the newer.
    let recs = crate::rules::renewal::dedup_records(vec![
        done("a", d(2025, 1, 1)),
        done("b", d(2025, 2, 1)),
        done("a", d(2026, 10, 1)),
    ]);
    let renewed = award_of(&def, &recs).unwrap();
    assert_eq!(renewed.completed_at, Some(d(2026, 10, 1)));
    assert_eq!(renewed.expires_at, Some(d(2027, 10, 1)));
}

#[test]
fn the_sooner_lms_expiry_caps_the_validity() {
    let def = def(&["a", "b"], Require::All);
    let mut a = done("a", d(2026, 1, 1));
    a.expires_at = Some(d(2026, 9, 1));
    let capped = award_of(&def, &[a.clone(), done("b", d(2026, 3, 1))]).unwrap();
    assert_eq!(capped.expires_at, Some(d(2026, 9, 1)));
    // A later LMS expiry does not extend it.
    a.expires_at = Some(d(2030, 1, 1));
    let own = award_of(&def, &[a, done("b", d(2026, 3, 1))]).unwrap();
    assert_eq!(own.expires_at, Some(d(2027, 3, 1)));
}

#[test]
fn n_of_m_prefers_completions_that_do_not_lapse_first() {
    let def = def(&["a", "b", "c"], Require::AtLeast(2));
    let mut a = done("a", d(2026, 5, 1));
    a.expires_at = Some(d(2026, 6, 1));
    let got = award_of(
        &def,
        &[a, done("b", d(2026, 1, 1)), done("c", d(2026, 2, 1))],
    )
    .unwrap();
    assert_eq!(got.completed_at, Some(d(2026, 2, 1)));
    assert_eq!(got.expires_at, Some(d(2027, 2, 1)));
}

#[test]
fn the_recert_course_renews_only_an_awarded_certification() {
    let mut def = def(&["a", "b"], Require::All);
    def.recert_course_id = Some("r".into());
    let r = done("r", d(2026, 10, 1));
    let held = award_of(
        &def,
        &[
            done("a", d(2025, 1, 1)),
            done("b", d(2025, 2, 1)),
            r.clone(),
        ],
    )
    .unwrap();
    assert_eq!(held.completed_at, Some(d(2026, 10, 1)));
    assert_eq!(held.expires_at, Some(d(2027, 10, 1)));
    let never = award_of(&def, &[done("a", d(2025, 1, 1)), r]).unwrap();
    assert_ne!(never.progress, ProgressStatus::Completed);
}

#[test]
fn definitions_replace_their_courses_in_the_catalog() {
    let courses = vec![
        Course {
            id: "a".into(),
            npcu: 1,
            ..Default::default()
        },
        Course {
            id: "z".into(),
            npcu: 2,
            ..Default::default()
        },
    ];
    let recs = vec![done("a", d(2026, 1, 1)), done("z", d(2026, 1, 1))];
    let (same_recs, same_courses) = apply_definitions(&recs, &courses, &[]);
    assert_eq!((same_recs, same_courses), (recs.clone(), courses.clone()));
    let def = def(&["a"], Require::All);
    let (r, c) = apply_definitions(&recs, &courses, std::slice::from_ref(&def));
    let npcu: BTreeMap<&str, u8> = c.iter().map(|c| (c.id.as_str(), c.npcu)).collect();
    assert_eq!(npcu, BTreeMap::from([("a", 0), ("z", 2), ("cert-x", 3)]));
    assert_eq!(r.len(), 3);
    assert!(r
        .iter()
        .any(|e| e.course_id == "cert-x" && e.progress == ProgressStatus::Completed));
}

#[test]
fn status_precedence() {
    use CertStatus::*;
    // A manual status wins over anything computed.
    for computed in [Active, Expiring, Expired, InProgress, Enrolled] {
        assert_eq!(
            effective_status(computed, Some(Cancelled), false),
            Cancelled
        );
        assert_eq!(effective_status(computed, Some(Applied), true), Applied);
    }
    // Awaiting approval shows admin review only while it would count.
    assert_eq!(effective_status(Active, None, true), AdminReview);
    assert_eq!(effective_status(Expiring, None, true), AdminReview);
    assert_eq!(effective_status(Expired, None, true), Expired);
    assert_eq!(effective_status(InProgress, None, true), InProgress);
    assert_eq!(effective_status(Active, None, false), Active);
}

fn manual(status: Option<CertStatus>) -> ManualStatus {
    ManualStatus {
        user_id: "u".into(),
        certification: "cert-x".into(),
        status,
        note: Some("why".into()),
        ..Default::default()
    }
}

#[test]
fn approval_is_manual_active_and_clearing_restores() {
    let c = ProgressStatus::Completed;
    assert!(mark(None, true, c).awaiting_approval);
    assert!(!mark(None, true, ProgressStatus::InProgress).awaiting_approval);
    let approved = mark(Some(&manual(Some(CertStatus::Active))), true, c);
    assert!(!approved.holds_back(), "{approved:?}");
    let cancelled = mark(Some(&manual(Some(CertStatus::Cancelled))), false, c);
    assert_eq!(cancelled.status_override, Some(CertStatus::Cancelled));
    assert_eq!(cancelled.note.as_deref(), Some("why"));
    assert!(cancelled.holds_back());
    let cleared = mark(Some(&manual(None)), false, c);
    assert_eq!(cleared, Mark::default());
}

#[test]
fn definition_checks_name_the_field() {
    let ok = def(&["a", "b"], Require::AtLeast(2));
    assert_eq!(check_definition(&ok), Ok(()));
    let field = |d: CertDefinition| check_definition(&d).unwrap_err().field;
    assert_eq!(field(def(&[], Require::All)), "courses");
    assert_eq!(field(def(&["a", "a"], Require::All)), "courses");
    assert_eq!(field(def(&["a"], Require::AtLeast(2))), "require");
    assert_eq!(field(def(&["a"], Require::AtLeast(0))), "require");
    assert_eq!(
        field(CertDefinition {
            validity_months: 0,
            ..ok.clone()
        }),
        "validity_months"
    );
    assert_eq!(
        field(CertDefinition {
            recert_course_id: Some("a".into()),
            ..ok.clone()
        }),
        "recert_course_id"
    );
    // The recert course and its enrolling group go together.
    assert_eq!(
        field(CertDefinition {
            recert_course_id: Some("r".into()),
            ..ok.clone()
        }),
        "recert_group_id"
    );
    assert_eq!(
        field(CertDefinition {
            recert_group_id: Some("g".into()),
            ..ok.clone()
        }),
        "recert_group_id"
    );
    let with_recert = CertDefinition {
        recert_course_id: Some("r".into()),
        recert_group_id: Some("g".into()),
        ..ok.clone()
    };
    assert_eq!(check_definition(&with_recert), Ok(()));
    assert_eq!(
        field(CertDefinition {
            name: " ".into(),
            ..ok
        }),
        "name"
    );
}

#[test]
fn require_reads_all_or_a_number() {
    let r: Require = serde_json::from_value(serde_json::json!("all")).unwrap();
    assert_eq!(r, Require::All);
    let r: Require = serde_json::from_value(serde_json::json!(2)).unwrap();
    assert_eq!(r, Require::AtLeast(2));
    assert!(serde_json::from_value::<Require>(serde_json::json!("most")).is_err());
    assert_eq!(
        serde_json::to_value(Require::All).unwrap(),
        serde_json::json!("all")
    );
}

struct World {
    partner: Partner,
    users: Vec<LmsUser>,
    members: Vec<Membership>,
    courses: Vec<Course>,
    records: Vec<Enrollment>,
    categories: CategoryMap,
}

impl World {
    fn data(&self) -> PartnerData<'_> {
        PartnerData {
            partner: &self.partner,
            group: None,
            memberships: &self.members,
            contacts: &[] as &[Contact],
            users: &self.users,
            enrollments: &self.records,
            courses: &self.courses,
            manual_awards: &[],
            org_certs: &[],
            categories: &self.categories,
            default_validity_months: DEFAULT_VALIDITY_MONTHS,
        }
    }
}

fn world(records: Vec<Enrollment>) -> World {
    let users: Vec<LmsUser> = ["u", "v"]
        .iter()
        .map(|id| LmsUser {
            id: id.to_string(),
            email: format!("{id}@partner.example"),
            ..Default::default()
        })
        .collect();
    World {
        partner: Partner {
            id: "P".into(),
            tracked: true,
            lms_group_id: Some("g".into()),
            ..Default::default()
        },
        members: users
            .iter()
            .map(|u| Membership {
                group_id: "g".into(),
                user_id: u.id.clone(),
            })
            .collect(),
        users,
        courses: ["a", "b", "c"]
            .iter()
            .map(|id| Course {
                id: id.to_string(),
                name: id.to_uppercase(),
                npcu: 1,
                ..Default::default()
            })
            .collect(),
        records,
        categories: CategoryMap::default(),
    }
}

fn npcu(s: &PartnerSummary) -> u32 {
    s.view(now(), 90, &Default::default()).npcu
}

#[test]
fn two_course_certification_cancel_and_clear() {
    let w = world(vec![done("a", d(2026, 6, 1)), done("b", d(2026, 7, 1))]);
    let plain = summary_and_rows(&w.data(), &Programs::default(), now());
    assert_eq!(npcu(&plain.0), 2, "two one-course certifications");
    let programs = Programs {
        definitions: vec![def(&["a", "b"], Require::All)],
        statuses: vec![],
    };
    let (s, rows) = summary_and_rows(&w.data(), &programs, now());
    assert_eq!(
        npcu(&s),
        3,
        "the certification's NPCU replaces its courses'"
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status(now(), 90), CertStatus::Active);
    let mut cancelled = programs.clone();
    cancelled.statuses.push(manual(Some(CertStatus::Cancelled)));
    let (s, rows) = summary_and_rows(&w.data(), &cancelled, now());
    assert_eq!(npcu(&s), 0);
    assert_eq!(rows[0].status(now(), 90), CertStatus::Cancelled);
    assert_eq!(rows[0].status_note.as_deref(), Some("why"));
    assert_eq!(crate::rules::summary::row_count(&s), 1);
    let mut cleared = programs.clone();
    cleared.statuses.push(manual(None));
    let (s, rows) = summary_and_rows(&w.data(), &cleared, now());
    assert_eq!(npcu(&s), 3);
    assert_eq!(rows[0].status_override, None);
}

#[test]
fn requires_approval_shows_admin_review_until_approved() {
    let w = world(vec![done("a", d(2026, 6, 1)), done("b", d(2026, 7, 1))]);
    let mut programs = Programs {
        definitions: vec![CertDefinition {
            requires_approval: true,
            ..def(&["a", "b"], Require::All)
        }],
        statuses: vec![],
    };
    let (s, rows) = summary_and_rows(&w.data(), &programs, now());
    assert_eq!(rows[0].status(now(), 90), CertStatus::AdminReview);
    assert_eq!(npcu(&s), 0);
    programs.statuses.push(manual(Some(CertStatus::Active)));
    let (s, rows) = summary_and_rows(&w.data(), &programs, now());
    assert_eq!(rows[0].status(now(), 90), CertStatus::Active);
    assert_eq!(npcu(&s), 3);
}

#[test]
fn a_manual_status_on_a_one_course_certification() {
    let w = world(vec![done("a", d(2026, 6, 1)), done("c", d(2026, 6, 1))]);
    let programs = Programs {
        definitions: vec![],
        statuses: vec![ManualStatus {
            certification: "c".into(),
            ..manual(Some(CertStatus::Inactive))
        }],
    };
    let (s, rows) = summary_and_rows(&w.data(), &programs, now());
    assert_eq!(npcu(&s), 1);
    let c = rows.iter().find(|r| r.course_id == "c").unwrap();
    assert_eq!(c.status(now(), 90), CertStatus::Inactive);
}

fn arb_record() -> impl Strategy<Value = Enrollment> {
    (
        prop::sample::select(vec!["u", "v"]),
        prop::sample::select(vec!["a", "b", "c"]),
        0u8..3,
        0i64..900,
        prop::option::of(0i64..1200),
    )
        .prop_map(|(u, c, p, ago, lms)| {
            let progress = [
                ProgressStatus::Enrolled,
                ProgressStatus::InProgress,
                ProgressStatus::Completed,
            ][p as usize];
            let completed =
                (progress == ProgressStatus::Completed).then(|| now() - Duration::days(ago));
            Enrollment {
                user_id: u.into(),
                course_id: c.into(),
                progress,
                completed_at: completed,
                expires_at: completed
                    .and(lms.map(|l| now() - Duration::days(ago) + Duration::days(l))),
                source: RecordSource::Lms,
                ..Default::default()
            }
        })
}

proptest! {
    /// Awarded exactly when enough courses are completed; the completion is
    /// one of the completions, the expiry never beyond completion +
    /// validity; the order of the records does not matter.
    #[test]
    fn award_follows_the_requirement(
        recs in prop::collection::vec(arb_record(), 0..8),
        need in 1u32..=3,
        all in any::<bool>(),
    ) {
        let recs: Vec<Enrollment> = crate::rules::renewal::dedup_records(
            recs.into_iter().map(|mut r| { r.user_id = "u".into(); r }),
        );
        let def = def(&["a", "b", "c"], if all { Require::All } else { Require::AtLeast(need) });
        let completed = recs.iter().filter(|r| r.progress == ProgressStatus::Completed).count();
        let got = award_of(&def, &recs);
        prop_assert_eq!(got.is_some(), !recs.is_empty());
        if let Some(a) = &got {
            prop_assert_eq!(a.progress == ProgressStatus::Completed, completed >= def.required_count());
            if a.progress == ProgressStatus::Completed {
                let c = a.completed_at.unwrap();
                prop_assert!(recs.iter().any(|r| r.completed_at == Some(c)));
                prop_assert!(a.expires_at.unwrap() <= add_months(c, def.validity_months));
            }
        }
        let mut rev = recs.clone();
        rev.reverse();
        prop_assert_eq!(award_of(&def, &rev), got);
    }

    /// Manual statuses of nobody's records change nothing: the programs
    /// path gives exactly the numbers and rows of the plain rules.
    #[test]
    fn unrelated_statuses_change_nothing(recs in prop::collection::vec(arb_record(), 0..12)) {
        let w = world(recs);
        let programs = Programs {
            definitions: vec![],
            statuses: vec![ManualStatus {
                user_id: "nobody".into(),
                ..manual(Some(CertStatus::Cancelled))
            }],
        };
        let (s, rows) = summary_and_rows(&w.data(), &programs, now());
        prop_assert_eq!(s, build_partner_summary(&w.data(), now()));
        prop_assert_eq!(rows, build_cert_rows(&w.data()));
    }

    /// Cancelling one record drops exactly that record's NPCU.
    #[test]
    fn cancelling_drops_exactly_that_record(recs in prop::collection::vec(arb_record(), 1..12), pick in any::<prop::sample::Index>()) {
        let w = world(recs);
        let (before, rows) = summary_and_rows(&w.data(), &Programs::default(), now());
        prop_assume!(!rows.is_empty());
        let row = &rows[pick.index(rows.len())];
        let programs = Programs {
            definitions: vec![],
            statuses: vec![ManualStatus {
                user_id: row.user_id.clone(),
                certification: row.course_id.clone(),
                ..manual(Some(CertStatus::Cancelled))
            }],
        };
        let (after, _) = summary_and_rows(&w.data(), &programs, now());
        let lost = if row.status(now(), 90).counts() { u32::from(row.npcu) } else { 0 };
        prop_assert_eq!(npcu(&after), npcu(&before) - lost);
    }
}
