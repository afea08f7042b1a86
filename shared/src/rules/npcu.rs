//! NPCU: the property on courses, and the per-user total.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::expiry::record_expiry;
use super::renewal::dedup_records;
use super::status::is_current;
use crate::model::{Course, Enrollment, ProgressStatus};

/// Highest NPCU value the program defines (advanced certification).
pub const MAX_NPCU: u8 = 2;

/// Read the `npcu` course property. The LMS stores custom properties loosely:
/// it may be a string ("2", " 1 ", "2.0") or a number (2, 2.0). Anything
/// empty, absent, non-integral, negative or above 2 gives 0 — the course is
/// then simply not a certification, which is the safe reading of bad data
/// (it never inflates a partner's total).
pub fn parse_npcu(value: Option<&Value>) -> u8 {
    match value {
        Some(Value::String(s)) => parse_npcu_str(s),
        Some(Value::Number(n)) => n.as_f64().map_or(0, npcu_from_f64),
        _ => 0,
    }
}

/// [`parse_npcu`] for a value already known to be text.
pub fn parse_npcu_str(s: &str) -> u8 {
    s.trim().parse::<f64>().map_or(0, npcu_from_f64)
}

fn npcu_from_f64(v: f64) -> u8 {
    if v.is_finite() && v.fract() == 0.0 && (0.0..=f64::from(MAX_NPCU)).contains(&v) {
        // Range-checked above, so the cast is exact.
        v as u8
    } else {
        0
    }
}

/// NPCU a single record contributes at `now`: the course NPCU when the
/// record is completed and not expired, else 0. Unknown courses count 0
/// (we cannot know their NPCU).
pub fn record_npcu(
    record: &Enrollment,
    course: Option<&Course>,
    now: DateTime<Utc>,
    default_validity_months: u32,
) -> u32 {
    let Some(course) = course else { return 0 };
    if record.progress != ProgressStatus::Completed || course.npcu == 0 {
        return 0;
    }
    if is_current(
        record_expiry(record, Some(course), default_validity_months),
        now,
    ) {
        u32::from(course.npcu)
    } else {
        0
    }
}

/// User NPCU at `now`: Σ NPCU of the user's active (active or expiring)
/// certifications, after renewal dedup so a retaken course counts once.
/// `records` may hold other users' records; only `user_id`'s are summed.
pub fn user_npcu(
    user_id: &str,
    records: &[Enrollment],
    courses: &HashMap<&str, &Course>,
    now: DateTime<Utc>,
    default_validity_months: u32,
) -> u32 {
    let mine: Vec<Enrollment> = records
        .iter()
        .filter(|r| r.user_id == user_id)
        .cloned()
        .collect();
    dedup_records(mine)
        .iter()
        .map(|r| {
            record_npcu(
                r,
                courses.get(r.course_id.as_str()).copied(),
                now,
                default_validity_months,
            )
        })
        .sum()
}

/// Index courses by id for the lookups above.
pub fn course_index(courses: &[Course]) -> HashMap<&str, &Course> {
    courses.iter().map(|c| (c.id.as_str(), c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn npcu_from_strings() {
        assert_eq!(parse_npcu(Some(&json!("2"))), 2);
        assert_eq!(parse_npcu(Some(&json!(" 1 "))), 1);
        assert_eq!(parse_npcu(Some(&json!("0"))), 0);
        assert_eq!(parse_npcu(Some(&json!("2.0"))), 2);
        assert_eq!(parse_npcu(Some(&json!(""))), 0);
        assert_eq!(parse_npcu(Some(&json!("   "))), 0);
        assert_eq!(parse_npcu(Some(&json!("two"))), 0);
        assert_eq!(parse_npcu(Some(&json!("3"))), 0);
        assert_eq!(parse_npcu(Some(&json!("-1"))), 0);
        assert_eq!(parse_npcu(Some(&json!("1.5"))), 0);
        assert_eq!(parse_npcu(Some(&json!("NaN"))), 0);
    }

    #[test]
    fn npcu_from_numbers() {
        assert_eq!(parse_npcu(Some(&json!(2))), 2);
        assert_eq!(parse_npcu(Some(&json!(2.0))), 2);
        assert_eq!(parse_npcu(Some(&json!(1))), 1);
        assert_eq!(parse_npcu(Some(&json!(3))), 0);
        assert_eq!(parse_npcu(Some(&json!(-2))), 0);
        assert_eq!(parse_npcu(Some(&json!(0.5))), 0);
    }

    #[test]
    fn npcu_absent_or_other_types() {
        assert_eq!(parse_npcu(None), 0);
        assert_eq!(parse_npcu(Some(&Value::Null)), 0);
        assert_eq!(parse_npcu(Some(&json!(true))), 0);
        assert_eq!(parse_npcu(Some(&json!([2]))), 0);
        assert_eq!(parse_npcu(Some(&json!({"v": 2}))), 0);
    }
}
