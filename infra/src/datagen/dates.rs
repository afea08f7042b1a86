//! Date-time text as the source systems write it.
//!
//! Choice (docs/source-contract.md says only "dates with and without a
//! time zone"): every date is RFC 3339-like, in one of four spellings of the same instant —
//! `2025-03-01T10:00:00Z`, `2025-03-01T10:00:00.123Z`,
//! `2025-03-01T12:00:00+02:00` (same instant, local offset) and
//! `2025-03-01T10:00:00` (no offset at all, meaning UTC, as older Northpass
//! records have). A space instead of the `T` is not produced: neither API
//! documents it. `updated_at` never uses the offset-less spelling because the
//! `filter[updated_at][gteq]` comparison needs an unambiguous instant.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// `2025-03-01T10:00:00Z`.
pub fn fmt_z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2025-03-01T10:00:00.123Z`.
pub fn fmt_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The same instant written with a fixed offset of `hours`, e.g. `+02:00`.
pub fn fmt_offset(t: DateTime<Utc>, hours: i32) -> String {
    let off = FixedOffset::east_opt(hours * 3600).expect("offset in range");
    off.from_utc_datetime(&t.naive_utc())
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `2025-03-01T10:00:00` — no offset, meaning UTC.
pub fn fmt_naive(t: DateTime<Utc>) -> String {
    t.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Read any of the spellings above (and a space instead of `T`); a value
/// without an offset is UTC.
pub fn parse_any(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(n.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    }
    None
}

/// Drop sub-second precision.
pub fn trunc_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).expect("in range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_parse_to_the_same_instant() {
        let t = Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap();
        for s in [fmt_z(t), fmt_offset(t, 2), fmt_naive(t), fmt_offset(t, -5)] {
            assert_eq!(parse_any(&s), Some(t), "{s}");
        }
        assert_eq!(fmt_offset(t, 2), "2025-03-01T12:00:00+02:00");
        assert_eq!(fmt_naive(t), "2025-03-01T10:00:00");
        assert_eq!(parse_any("nonsense"), None);
    }
}
