//! Cross-rule tests: the program's worked example, summaries, rows and the
//! property tests of the counting invariants.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::npcu::{course_index, user_npcu};
use super::rows::{build_cert_rows, cert_rows_for_users};
use super::summary::{build_partner_summary, partner_npcu, PartnerData};
use crate::model::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

fn user(id: &str, first: &str, email: &str) -> LmsUser {
    LmsUser {
        id: id.into(),
        email: email.into(),
        first_name: Some(first.into()),
        ..Default::default()
    }
}

fn course(id: &str, npcu: u8, category: Option<&str>) -> Course {
    Course {
        id: id.into(),
        name: format!("Course {id}"),
        npcu,
        category: category.map(Into::into),
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

fn member(g: &str, u: &str) -> Membership {
    Membership {
        group_id: g.into(),
        user_id: u.into(),
    }
}

struct World {
    partner: Partner,
    group: LmsGroup,
    memberships: Vec<Membership>,
    contacts: Vec<Contact>,
    users: Vec<LmsUser>,
    enrollments: Vec<Enrollment>,
    courses: Vec<Course>,
    awards: Vec<ManualAward>,
    org: Vec<OrgCertification>,
    categories: CategoryMap,
}

impl World {
    fn data(&self) -> PartnerData<'_> {
        PartnerData {
            partner: &self.partner,
            group: Some(&self.group),
            memberships: &self.memberships,
            contacts: &self.contacts,
            users: &self.users,
            enrollments: &self.enrollments,
            courses: &self.courses,
            manual_awards: &self.awards,
            org_certs: &self.org,
            categories: &self.categories,
            default_validity_months: DEFAULT_VALIDITY_MONTHS,
        }
    }
}

/// The program's worked example: John holds two advanced certifications
/// (2 + 2), Jane one advanced (2) and one basic that expired (1), Bob one
/// basic (1) ⇒ the partner holds 7 NPCU. John is reached both through the
/// group and through a CRM contact and still counts once.
fn worked_example() -> World {
    let year_ago = now() - Duration::days(365);
    let three_years_ago = now() - Duration::days(3 * 365);
    World {
        partner: Partner {
            id: "P1".into(),
            name: "Acme".into(),
            tier: Some(Tier::Select),
            tracked: true,
            lms_group_id: Some("G1".into()),
            ..Default::default()
        },
        group: LmsGroup {
            id: "G1".into(),
            name: "ptr_Acme".into(),
            ..Default::default()
        },
        memberships: vec![
            member("G1", "john"),
            member("G1", "jane"),
            member("G2", "bob"),
        ],
        contacts: vec![
            Contact {
                id: "c1".into(),
                email: "JOHN@acme.com".into(),
                account_id: Some("P1".into()),
                active: true,
                ..Default::default()
            },
            Contact {
                id: "c2".into(),
                email: "bob@acme.com".into(),
                account_id: Some("P1".into()),
                active: true,
                ..Default::default()
            },
        ],
        users: vec![
            user("john", "John", "john@acme.com"),
            user("jane", "Jane", "jane@acme.com"),
            user("bob", "Bob", "Bob@Acme.com"),
            user("eve", "Eve", "eve@other.com"),
        ],
        enrollments: vec![
            done("john", "adv1", year_ago),
            done("john", "adv2", year_ago),
            done("jane", "adv1", year_ago),
            done("jane", "basic1", three_years_ago), // expired after 24 months
            done("bob", "basic1", year_ago),
            done("eve", "adv1", year_ago), // not a member
            Enrollment {
                user_id: "bob".into(),
                course_id: "adv2".into(),
                progress: ProgressStatus::InProgress,
                ..Default::default()
            },
        ],
        courses: vec![
            course("adv1", 2, Some("Automation Cloud")),
            course("adv2", 2, Some("K2")),
            course("basic1", 1, None),
            course("intro", 0, None),
        ],
        awards: vec![],
        org: vec![],
        categories: CategoryMap::default(),
    }
}

#[test]
fn worked_example_partner_has_7_npcu() {
    let w = worked_example();
    let idx = course_index(&w.courses);
    assert_eq!(user_npcu("john", &w.enrollments, &idx, now(), 24), 4);
    assert_eq!(user_npcu("jane", &w.enrollments, &idx, now(), 24), 2);
    assert_eq!(user_npcu("bob", &w.enrollments, &idx, now(), 24), 1);
    assert_eq!(partner_npcu(&w.data(), now()), 7);

    let s = build_partner_summary(&w.data(), now());
    assert_eq!(s.user_count, 3);
    assert_eq!(s.lms_group_name.as_deref(), Some("ptr_Acme"));
    // Counts, not certificates: the four counted certifications (the
    // expired and the in-progress records are rows, not counts).
    let counted: u32 = s
        .counts
        .values()
        .flat_map(|b| b.values())
        .map(|b| b.certifications)
        .sum();
    assert_eq!(counted, 4);
    assert_eq!(
        s.rows_by_progress,
        [("completed".to_string(), 5), ("in_progress".to_string(), 1)].into()
    );
    assert_eq!(super::summary::row_count(&s), 6);
    assert_eq!(
        build_cert_rows(&w.data()).len(),
        6,
        "one row per counted line"
    );
    let v = s.view(now(), 90, &TierRequirements::default());
    assert_eq!(v.npcu, 7);
    assert_eq!(v.required_npcu, 10);
    assert_eq!(v.gap, 3);
    assert!(!v.meets_requirement);
    assert_eq!(v.certified_users, 3);
    assert_eq!(v.certifications, 4);
    assert_eq!(v.expiring, 0);
    assert_eq!(
        v.by_category["Automation Cloud"],
        CategoryTotals {
            users: 2,
            npcu: 4,
            certifications: 2
        }
    );
    assert_eq!(v.by_category["K2"].npcu, 2);
    assert_eq!(v.by_category[UNCATEGORIZED].npcu, 1);
}

#[test]
fn summary_view_drops_certs_as_time_passes() {
    let w = worked_example();
    let s = build_partner_summary(&w.data(), now());
    let tiers = TierRequirements::default();
    // All four remaining certs were completed a year ago: they expire
    // 24 months after completion, i.e. about a year from now — one bucket.
    let expiry = now() - Duration::days(365) + chrono::Months::new(24);
    let buckets: BTreeSet<&String> = s.counts.values().flat_map(|b| b.keys()).collect();
    assert_eq!(
        buckets,
        BTreeSet::from([&expiry.format("%Y-%m-%d").to_string()])
    );
    let before = s.view(expiry - Duration::seconds(1), 90, &tiers);
    assert_eq!((before.npcu, before.expiring), (7, 4));
    let at = s.view(expiry, 90, &tiers);
    assert_eq!((at.npcu, at.certifications, at.certified_users), (0, 0, 0));
    assert_eq!(at.gap, 10);
    assert!(at.by_category.is_empty());
}

#[test]
fn renewal_counts_once_and_revives_expired() {
    let mut w = worked_example();
    // Jane retakes the basic course: the new completion replaces the expired one.
    w.enrollments
        .push(done("jane", "basic1", now() - Duration::days(10)));
    assert_eq!(partner_npcu(&w.data(), now()), 8);
    // John's duplicate of an existing completion does not count twice.
    w.enrollments
        .push(done("john", "adv1", now() - Duration::days(5)));
    assert_eq!(partner_npcu(&w.data(), now()), 8);
    let s = build_partner_summary(&w.data(), now());
    assert_eq!(s.view(now(), 90, &TierRequirements::default()).npcu, 8);
}

#[test]
fn manual_awards_by_user_or_email_count_like_lms_records() {
    let mut w = worked_example();
    w.awards = vec![
        ManualAward {
            id: "a1".into(),
            email: Some("BOB@acme.com".into()),
            course_id: "adv1".into(),
            completed_at: now() - Duration::days(30),
            ..Default::default()
        },
        ManualAward {
            id: "a2".into(),
            user_id: Some("jane".into()),
            course_id: "adv2".into(),
            completed_at: now() - Duration::days(800),
            expires_at: Some(now()), // expires exactly now: no longer counts
            ..Default::default()
        },
        ManualAward {
            id: "a3".into(),
            user_id: Some("eve".into()), // not a member
            course_id: "adv2".into(),
            completed_at: now() - Duration::days(30),
            ..Default::default()
        },
    ];
    assert_eq!(partner_npcu(&w.data(), now()), 9);
    let rows = build_cert_rows(&w.data());
    let bob_adv1 = rows
        .iter()
        .find(|r| r.user_id == "bob" && r.course_id == "adv1")
        .unwrap();
    assert_eq!(bob_adv1.source, RecordSource::Manual);
    let jane_adv2 = rows
        .iter()
        .find(|r| r.user_id == "jane" && r.course_id == "adv2")
        .unwrap();
    assert_eq!(jane_adv2.status(now(), 90), CertStatus::Expired);
}

#[test]
fn org_certifications_count_while_running() {
    let mut w = worked_example();
    w.org = vec![
        OrgCertification {
            id: "o1".into(),
            partner_id: "P1".into(),
            name: "Company accreditation".into(),
            category: Some("RPA".into()),
            npcu: 2,
            starts_at: now() - Duration::days(10),
            ends_at: now() + Duration::days(30),
        },
        OrgCertification {
            id: "o2".into(),
            partner_id: "P2".into(), // another partner's
            npcu: 2,
            starts_at: now() - Duration::days(10),
            ends_at: now() + Duration::days(300),
            ..Default::default()
        },
    ];
    let s = build_partner_summary(&w.data(), now());
    assert_eq!(s.org_certs.len(), 1);
    let tiers = TierRequirements::default();
    let v = s.view(now(), 90, &tiers);
    assert_eq!((v.npcu, v.certifications, v.expiring), (9, 5, 1));
    assert_eq!(v.certified_users, 3, "org certifications add no users");
    assert_eq!(v.by_category["RPA"].users, 0);
    assert_eq!(s.view(now() + Duration::days(30), 90, &tiers).npcu, 7);
    assert_eq!(s.view(now() - Duration::days(11), 90, &tiers).npcu, 7);
}

#[test]
fn category_property_wins_over_configured_map() {
    let mut w = worked_example();
    w.categories = CategoryMap {
        rules: vec![
            CategoryRule {
                matcher: CategoryMatcher::NamePrefix("course".into()),
                category: "Promapp".into(),
            },
            CategoryRule {
                matcher: CategoryMatcher::CourseId("adv1".into()),
                category: "Ignored".into(),
            },
        ],
    };
    let s = build_partner_summary(&w.data(), now());
    let v = s.view(now(), 90, &TierRequirements::default());
    assert_eq!(v.by_category["Automation Cloud"].npcu, 4);
    assert_eq!(v.by_category["Promapp"].npcu, 1, "basic1 has no property");
    assert!(!v.by_category.contains_key(UNCATEGORIZED));
}

#[test]
fn dashboard_rows_list_every_certification_record() {
    let w = worked_example();
    let rows = build_cert_rows(&w.data());
    let got: Vec<(String, String, CertStatus)> = rows
        .iter()
        .map(|r| {
            (
                r.user_name.clone(),
                r.course_id.clone(),
                r.status(now(), 90),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("Bob".into(), "adv2".into(), CertStatus::InProgress),
            ("Bob".into(), "basic1".into(), CertStatus::Active),
            ("Jane".into(), "adv1".into(), CertStatus::Active),
            ("Jane".into(), "basic1".into(), CertStatus::Expired),
            ("John".into(), "adv1".into(), CertStatus::Active),
            ("John".into(), "adv2".into(), CertStatus::Active),
        ]
    );
    let jane_basic = &rows[3];
    let completed = jane_basic.completed_at.unwrap();
    assert_eq!(
        jane_basic.expires_at,
        Some(super::expiry::add_months(completed, 24))
    );
    assert_eq!(jane_basic.email, "jane@acme.com");
}

#[test]
fn rows_for_users_skip_unknown_and_non_certification_courses() {
    let w = worked_example();
    let mut records = w.enrollments.clone();
    records.push(done("eve", "intro", now()));
    records.push(done("eve", "deleted-long-ago", now()));
    let rows = cert_rows_for_users(&w.users[3..], &records, &w.courses, &w.categories, 24);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].user_id.as_str(), rows[0].course_id.as_str()),
        ("eve", "adv1")
    );
}

#[test]
fn lms_expiry_beats_validity_in_summary() {
    let mut w = worked_example();
    for e in &mut w.enrollments {
        if e.user_id == "bob" && e.course_id == "basic1" {
            e.expires_at = Some(now() + Duration::days(90));
        }
    }
    let v = build_partner_summary(&w.data(), now()).view(now(), 90, &TierRequirements::default());
    assert_eq!(v.expiring, 1, "exactly 90 days away is expiring");
}

// --------------------------------------------------------------------------
// Property tests
//
// Their oracle is written out below from the program's rules, without the
// functions under test: members = active users of the partner's group ∪
// active users reached by e-mail through the partner's active contacts;
// one record per user × course (latest completion, then further progress,
// then later dates); a completed record of a course with NPCU > 0 counts
// while `at < expiry`, expiry = LMS date or completion + 24 months.
// --------------------------------------------------------------------------

const USERS: [&str; 6] = ["u0", "u1", "u2", "u3", "u4", "u5"];
const COURSES: [(&str, u8); 5] = [("c0", 0), ("c1", 1), ("c2", 2), ("c3", 2), ("gone", 2)];

/// How a user relates to the partner `P` (and the other partner `Q`).
#[derive(Debug, Clone)]
struct PropUser {
    in_group: bool,
    /// Also in `Q`'s group `G2` (never counts for `P`).
    in_other_group: bool,
    /// `None`: no contact; else (active, account) of the contact.
    contact: Option<(bool, &'static str)>,
    upper_case: bool,
    deactivated: bool,
}

fn arb_user() -> impl Strategy<Value = PropUser> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::option::of((any::<bool>(), prop::sample::select(vec!["P", "Q"]))),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(in_group, in_other_group, contact, upper_case, deactivated)| PropUser {
                in_group,
                in_other_group,
                contact,
                upper_case,
                deactivated,
            },
        )
}

fn arb_progress() -> impl Strategy<Value = ProgressStatus> {
    prop_oneof![
        Just(ProgressStatus::Enrolled),
        Just(ProgressStatus::InProgress),
        Just(ProgressStatus::Completed),
    ]
}

/// 24 months before `now()`: a completion then expires exactly at `now()`.
fn validity_ago() -> DateTime<Utc> {
    now() - chrono::Months::new(24)
}

fn arb_completed() -> impl Strategy<Value = Option<DateTime<Utc>>> {
    prop_oneof![
        Just(None),
        (0i64..1500).prop_map(|d| Some(now() - Duration::days(d))),
        // The exact expiry instant of a computed expiry, and its neighbours.
        Just(Some(validity_ago())),
        Just(Some(validity_ago() + Duration::seconds(1))),
        Just(Some(validity_ago() - Duration::seconds(1))),
    ]
}

fn arb_lms_expiry() -> impl Strategy<Value = Option<DateTime<Utc>>> {
    prop_oneof![
        3 => Just(None),
        2 => (-400i64..400).prop_map(|d| Some(now() + Duration::days(d))),
        1 => Just(Some(now())),
        1 => Just(Some(now() + Duration::seconds(1))),
        1 => Just(Some(now() + Duration::days(90))),
    ]
}

prop_compose! {
    /// A record with completion/expiry spread ±4 years around `now()`, the
    /// exact expiry instants included.
    fn arb_record()(
        u in 0..USERS.len(),
        c in 0..COURSES.len(),
        progress in arb_progress(),
        completed_at in arb_completed(),
        expires_at in arb_lms_expiry(),
        started_days_ago in prop::option::of(0i64..1500),
    ) -> Enrollment {
        Enrollment {
            user_id: USERS[u].into(),
            course_id: COURSES[c].0.into(),
            progress,
            completed_at,
            expires_at,
            started_at: started_days_ago.map(|d| now() - Duration::days(d)),
            ..Default::default()
        }
    }
}

fn prop_world(people: &[PropUser], records: Vec<Enrollment>) -> World {
    let users: Vec<LmsUser> = USERS
        .iter()
        .zip(people)
        .map(|(u, p)| {
            let mut x = user(u, u, &format!("{u}@p.com"));
            if p.deactivated {
                x.deactivated_at = Some(now() - Duration::days(3));
            }
            x
        })
        .collect();
    let mut memberships = Vec::new();
    for (u, p) in USERS.iter().zip(people) {
        if p.in_group {
            memberships.push(member("G", u));
        }
        if p.in_other_group {
            memberships.push(member("G2", u));
        }
    }
    World {
        partner: Partner {
            id: "P".into(),
            name: "P".into(),
            tier: Some(Tier::Premier),
            lms_group_id: Some("G".into()),
            ..Default::default()
        },
        group: LmsGroup {
            id: "G".into(),
            name: "P".into(),
            ..Default::default()
        },
        memberships,
        contacts: USERS
            .iter()
            .zip(people)
            .filter_map(|(u, p)| {
                let (active, account) = p.contact?;
                let email = format!("  {u}@p.com ");
                Some(Contact {
                    id: format!("c-{u}"),
                    email: if p.upper_case {
                        email.to_uppercase()
                    } else {
                        email
                    },
                    account_id: Some(account.into()),
                    active,
                    ..Default::default()
                })
            })
            .collect(),
        users,
        enrollments: records,
        // "gone" is referenced by records but not in the catalog.
        courses: COURSES
            .iter()
            .filter(|(id, _)| *id != "gone")
            .map(|(id, n)| course(id, *n, None))
            .collect(),
        awards: vec![],
        org: vec![],
        categories: CategoryMap::default(),
    }
}

/// The oracle's members of `P`.
fn oracle_members(people: &[PropUser]) -> BTreeSet<&'static str> {
    USERS
        .iter()
        .zip(people)
        .filter(|(_, p)| !p.deactivated)
        .filter(|(_, p)| p.in_group || p.contact == Some((true, "P")))
        .map(|(u, _)| *u)
        .collect()
}

fn oracle_expiry(r: &Enrollment) -> Option<DateTime<Utc>> {
    r.expires_at
        .or_else(|| r.completed_at.map(|c| c + chrono::Months::new(24)))
}

/// The oracle's kept record per (user, course) of `users`.
fn oracle_kept<'a>(
    records: &'a [Enrollment],
    users: &BTreeSet<&str>,
) -> std::collections::BTreeMap<(String, String), &'a Enrollment> {
    let rank = |r: &Enrollment| {
        let p = match r.progress {
            ProgressStatus::Enrolled => 0,
            ProgressStatus::InProgress => 1,
            ProgressStatus::Completed => 2,
        };
        (r.completed_at, p, r.expires_at, r.started_at, r.enrolled_at)
    };
    let mut kept: std::collections::BTreeMap<(String, String), &Enrollment> =
        std::collections::BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| users.contains(r.user_id.as_str()))
    {
        let key = (r.user_id.clone(), r.course_id.clone());
        let replace = match kept.get(&key) {
            None => true,
            Some(old) => rank(r) > rank(old),
        };
        if replace {
            kept.insert(key, r);
        }
    }
    kept
}

/// (user, course) → NPCU of what counts at `at`.
fn oracle_counted(
    records: &[Enrollment],
    users: &BTreeSet<&str>,
    at: DateTime<Utc>,
) -> std::collections::BTreeMap<(String, String), u32> {
    oracle_kept(records, users)
        .into_iter()
        .filter_map(|(k, r)| {
            let npcu = COURSES
                .iter()
                .find(|(id, _)| *id == r.course_id && *id != "gone")
                .map_or(0, |(_, n)| u32::from(*n));
            let current = oracle_expiry(r).is_none_or(|e| at < e);
            (r.progress == ProgressStatus::Completed && npcu > 0 && current).then_some((k, npcu))
        })
        .collect()
}

proptest! {
    /// A record whose effective expiry is at or before `now` never counts —
    /// the exact expiry instant included — neither in the summary built at
    /// `now` nor in its view at a later instant; what counts is exactly
    /// what the oracle counts.
    #[test]
    fn expired_record_never_counts(
        people in prop::collection::vec(arb_user(), USERS.len()),
        records in prop::collection::vec(arb_record(), 0..24),
        later_days in prop_oneof![Just(0i64), Just(90), 0i64..1000],
    ) {
        let w = prop_world(&people, records);
        let members = oracle_members(&people);
        let s = build_partner_summary(&w.data(), now());
        let tiers = TierRequirements::default();
        let want = oracle_counted(&w.enrollments, &members, now());
        let v = s.view(now(), 90, &tiers);
        prop_assert_eq!(v.certifications as usize, want.len());
        prop_assert_eq!(v.npcu, want.values().sum::<u32>());

        // At a later midnight the numbers are exactly the rule's.
        let later = now() + Duration::days(later_days);
        let want_later = oracle_counted(&w.enrollments, &members, later);
        let v = s.view(later, 90, &tiers);
        prop_assert_eq!(v.npcu, want_later.values().sum::<u32>());
        prop_assert_eq!(v.certifications as usize, want_later.len());
        let users: BTreeSet<&String> = want_later.keys().map(|(u, _)| u).collect();
        prop_assert_eq!(v.certified_users as usize, users.len());
        let kept = oracle_kept(&w.enrollments, &members);
        let expiring = want_later
            .keys()
            .filter(|k| oracle_expiry(kept[*k]).is_some_and(|e| e - later <= Duration::days(90)))
            .count();
        prop_assert_eq!(v.expiring as usize, expiring);
    }

    /// Between two midnights a summary's numbers are those of the last
    /// midnight: the day buckets' whole precision, never more.
    #[test]
    fn between_midnights_numbers_are_the_last_midnights(
        people in prop::collection::vec(arb_user(), USERS.len()),
        records in prop::collection::vec(arb_record(), 0..24),
        later_secs in 0i64..(1000 * 86_400),
    ) {
        let w = prop_world(&people, records);
        let members = oracle_members(&people);
        let s = build_partner_summary(&w.data(), now());
        let t = now() + Duration::seconds(later_secs);
        let midnight = t.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
        let want: u32 = oracle_counted(&w.enrollments, &members, midnight).values().sum();
        prop_assert_eq!(s.view(t, 90, &TierRequirements::default()).npcu, want);
    }

    /// The summary item's size does not grow with the partner: it is
    /// bounded by categories × expiry buckets, however many users hold
    /// certifications.
    #[test]
    fn summary_counts_are_bounded_by_buckets(
        users in 1usize..400,
        per_user in 1usize..4,
        spread_days in 1i64..720,
    ) {
        let mut s = PartnerSummary { computed_at: now(), ..Default::default() };
        let certs: Vec<SummaryCert> = (0..users)
            .flat_map(|u| (0..per_user).map(move |c| (u, c)))
            .map(|(u, c)| SummaryCert {
                user_id: format!("u{u}"),
                course_id: format!("c{c}"),
                category: Some(["K2", "RPA"][c % 2].into()),
                npcu: 1,
                expires_at: Some(now() + Duration::days(1 + (u as i64 * 7 + c as i64) % spread_days)),
                ..Default::default()
            })
            .collect();
        super::summary::count_certs(&mut s, &certs);
        let buckets: usize = s.counts.values().map(|b| b.len()).sum();
        prop_assert!(buckets <= 2 * spread_days as usize, "{} buckets", buckets);
        prop_assert!(s.users_by_expiry.len() <= spread_days as usize);
        let v = s.view(now(), 90, &TierRequirements::default());
        prop_assert_eq!(v.certifications as usize, users * per_user);
        prop_assert_eq!(v.certified_users as usize, users);
    }

    /// Partner NPCU = Σ over its distinct members of their counted NPCU,
    /// whether a member is reached through the group, a contact e-mail (any
    /// case, padded) or both; other partners' contacts and group, inactive
    /// contacts, deactivated users and unknown courses give nothing.
    #[test]
    fn partner_npcu_is_sum_over_distinct_users(
        people in prop::collection::vec(arb_user(), USERS.len()),
        records in prop::collection::vec(arb_record(), 0..30),
    ) {
        let w = prop_world(&people, records);
        let members = oracle_members(&people);
        let expected: u32 = oracle_counted(&w.enrollments, &members, now()).values().sum();
        prop_assert_eq!(partner_npcu(&w.data(), now()), expected);
        let s = build_partner_summary(&w.data(), now());
        prop_assert_eq!(s.user_count as usize, members.len());
        let v = s.view(now(), 90, &TierRequirements::default());
        prop_assert_eq!(v.npcu, expected);
        let certified: BTreeSet<String> = oracle_counted(&w.enrollments, &members, now())
            .into_keys()
            .map(|(u, _)| u)
            .collect();
        prop_assert_eq!(v.certified_users as usize, certified.len());

        // Reaching every member a second time through a contact changes
        // nothing.
        let mut twice = prop_world(&people, w.enrollments.clone());
        for u in &members {
            twice.contacts.push(Contact {
                id: format!("again-{u}"),
                email: format!("{u}@P.COM"),
                account_id: Some("P".into()),
                active: true,
                ..Default::default()
            });
        }
        prop_assert_eq!(partner_npcu(&twice.data(), now()), expected);
    }
}
