//! Where "now" comes from. Production reads the system clock; tests and
//! demos pin it with `PORTAL_NOW` so reports and reminders are reproducible.
//! Rules never call this: they take the instant as an argument, and only
//! the Lambda wiring asks the clock.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::config::ConfigError;

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

    /// From the process environment (see [`Clock::from_lookup`]).
    pub fn from_env() -> Result<Clock, ConfigError> {
        Clock::from_lookup(|k| std::env::var(k).ok())
    }

    /// `PORTAL_NOW` unset or blank → system clock; RFC 3339 or `YYYY-MM-DD`
    /// (midnight UTC) → fixed. Anything else is an error rather than a
    /// silent fallback: a demo that thinks it is pinned but is not would show
    /// different numbers every day.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Clock, ConfigError> {
        match lookup(PORTAL_NOW) {
            None => Ok(Clock::System),
            Some(v) if v.trim().is_empty() => Ok(Clock::System),
            Some(v) => parse_instant(&v)
                .map(Clock::Fixed)
                .ok_or_else(|| ConfigError::Invalid {
                    var: PORTAL_NOW,
                    value: v.clone(),
                    reason: "expected RFC 3339 (2026-11-23T00:00:00Z) or YYYY-MM-DD".into(),
                }),
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

    fn lookup(v: Option<&str>) -> impl Fn(&str) -> Option<String> {
        let v = v.map(str::to_string);
        move |k| (k == PORTAL_NOW).then(|| v.clone()).flatten()
    }

    #[test]
    fn pinned_by_rfc3339() {
        let c = Clock::from_lookup(lookup(Some("2026-11-23T00:00:00Z"))).unwrap();
        assert_eq!(
            c.now(),
            Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
        );
        assert_eq!(c.now(), c.now());
    }

    #[test]
    fn pinned_by_date_is_midnight_utc() {
        let c = Clock::from_lookup(lookup(Some("2026-11-23"))).unwrap();
        assert_eq!(
            c,
            Clock::Fixed(Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap())
        );
    }

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

    #[test]
    fn unset_or_blank_is_system() {
        assert_eq!(Clock::from_lookup(lookup(None)).unwrap(), Clock::System);
        assert_eq!(
            Clock::from_lookup(lookup(Some("  "))).unwrap(),
            Clock::System
        );
    }

    #[test]
    fn garbage_is_an_error_naming_the_variable() {
        let err = Clock::from_lookup(lookup(Some("tomorrow"))).unwrap_err();
        assert!(err.to_string().contains("PORTAL_NOW"), "{err}");
        assert_eq!(parse_instant("2026-02-30"), None);
    }
}
