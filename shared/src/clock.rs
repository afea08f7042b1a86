//! Where "now" comes from. Production reads the system clock; tests and
//! demos pin it with `PORTAL_NOW` so reports and reminders are reproducible.
//! Rules never call this: they take the instant as an argument, and only
//! the Lambda wiring asks the clock. Reading `PORTAL_NOW` is configuration
//! (`Clock::from_lookup`, in `config`), so this module depends on nothing.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Name of the variable that pins the clock.
pub const PORTAL_NOW: &str = "PORTAL_NOW";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Always the same instant.
    Fixed(DateTime<Utc>),
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// Lenient instant parser for configuration and source data: RFC 3339 with
/// any offset (converted to UTC), a date-time without offset (read as UTC,
/// with or without fractional seconds, `T` or space separator) or a plain
/// date (midnight UTC). The sources send dates "with and without time
/// zones"; UTC is the only sensible reading of a zone-less value there.
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn offsets_convert_to_utc() {
        assert_eq!(
            parse_instant("2026-11-23T02:00:00+02:00"),
            Some(Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap())
        );
        assert_eq!(
            parse_instant("2026-01-01T00:00:00"),
            Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(
            parse_instant("2026-01-01 12:00:00.250").map(|t| t.timestamp_millis() % 1000),
            Some(250)
        );
    }
}
