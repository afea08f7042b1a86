//! Renewal: one record per user × course, the newer one wins.
//!
//! Retaking a course gives a new completion and a new expiry. Several
//! records of the same user × course also arise from a manual award beside
//! an LMS transcript, or from re-syncs. "Newer" is decided by, in order:
//! 1. the later `completed_at` (no completion is older than any completion,
//!    so an in-progress retake never hides a still-valid certification);
//! 2. the higher progress (completed > in progress > enrolled);
//! 3. the later `expires_at`, `started_at`, then `enrolled_at`;
//! 4. on a full tie, the record seen first is kept (stable, deterministic).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::model::Enrollment;

/// How `a` compares to `b` in recency (`Greater` = `a` is newer).
pub fn compare_recency(a: &Enrollment, b: &Enrollment) -> Ordering {
    a.completed_at
        .cmp(&b.completed_at)
        .then(a.progress.rank().cmp(&b.progress.rank()))
        .then(a.expires_at.cmp(&b.expires_at))
        .then(a.started_at.cmp(&b.started_at))
        .then(a.enrolled_at.cmp(&b.enrolled_at))
}

/// The newer of two records of the same user × course.
pub fn newer<'a>(a: &'a Enrollment, b: &'a Enrollment) -> &'a Enrollment {
    if compare_recency(b, a) == Ordering::Greater {
        b
    } else {
        a
    }
}

/// Keep one record per (user, course), the newest. The result is sorted by
/// (user_id, course_id) so callers get a deterministic order.
pub fn dedup_records(records: impl IntoIterator<Item = Enrollment>) -> Vec<Enrollment> {
    let mut best: BTreeMap<(String, String), Enrollment> = BTreeMap::new();
    for rec in records {
        let key = (rec.user_id.clone(), rec.course_id.clone());
        match best.get_mut(&key) {
            Some(kept) => {
                if compare_recency(&rec, kept) == Ordering::Greater {
                    *kept = rec;
                }
            }
            None => {
                best.insert(key, rec);
            }
        }
    }
    best.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ProgressStatus, RecordSource};
    use chrono::{DateTime, TimeZone, Utc};

    fn d(y: i32, m: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, day, 0, 0, 0).unwrap()
    }

    fn rec(user: &str, course: &str, p: ProgressStatus, done: Option<DateTime<Utc>>) -> Enrollment {
        Enrollment {
            user_id: user.into(),
            course_id: course.into(),
            progress: p,
            completed_at: done,
            ..Default::default()
        }
    }

    #[test]
    fn later_completion_replaces_older() {
        let old = rec("u", "c", ProgressStatus::Completed, Some(d(2023, 1, 1)));
        let new = rec("u", "c", ProgressStatus::Completed, Some(d(2025, 1, 1)));
        let out = dedup_records(vec![old.clone(), new.clone()]);
        assert_eq!(out, vec![new.clone()]);
        // Order of input does not matter.
        assert_eq!(dedup_records(vec![new.clone(), old]), vec![new]);
    }

    #[test]
    fn in_progress_retake_does_not_hide_completion() {
        let done = rec("u", "c", ProgressStatus::Completed, Some(d(2025, 1, 1)));
        let mut retake = rec("u", "c", ProgressStatus::InProgress, None);
        retake.enrolled_at = Some(d(2026, 1, 1));
        assert_eq!(dedup_records(vec![done.clone(), retake]), vec![done]);
    }

    #[test]
    fn progress_breaks_ties_without_completion() {
        let enrolled = rec("u", "c", ProgressStatus::Enrolled, None);
        let started = rec("u", "c", ProgressStatus::InProgress, None);
        assert_eq!(newer(&enrolled, &started), &started);
        assert_eq!(newer(&started, &enrolled), &started);
    }

    #[test]
    fn full_tie_keeps_first_seen() {
        let lms = rec("u", "c", ProgressStatus::Completed, Some(d(2025, 1, 1)));
        let mut manual = lms.clone();
        manual.source = RecordSource::Manual;
        assert_eq!(
            dedup_records(vec![lms.clone(), manual.clone()]),
            vec![lms.clone()]
        );
        assert_eq!(dedup_records(vec![manual.clone(), lms]), vec![manual]);
    }

    #[test]
    fn different_users_and_courses_are_kept_apart() {
        let a = rec("u1", "c1", ProgressStatus::Completed, Some(d(2025, 1, 1)));
        let b = rec("u1", "c2", ProgressStatus::Completed, Some(d(2025, 1, 1)));
        let c = rec("u2", "c1", ProgressStatus::Completed, Some(d(2025, 1, 1)));
        assert_eq!(
            dedup_records(vec![c.clone(), b.clone(), a.clone()]),
            vec![a, b, c]
        );
    }
}
