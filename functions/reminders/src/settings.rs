//! Tunables of the reminder and digest jobs: the configurable ones come
//! from the shared [`Config`]; the rest are fixed here (timeouts that must
//! fit Lambda's limits, not something to tune per deployment).

use chrono::Duration;
use portal_core::config::Config;
use portal_core::model::{TierRequirements, DEFAULT_WARNING_DAYS};

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Days before expiry, any order (`PORTAL_REMINDER_THRESHOLDS`).
    pub thresholds: Vec<u32>,
    /// Also mail on the day a certification expired
    /// (`PORTAL_REMINDER_EXPIRED_NOTICE`).
    pub expired_notice: bool,
    /// How far back the very first run looks, so a new install does not
    /// flood inboxes (`PORTAL_REMINDER_CATCH_UP_DAYS`, default 1).
    pub first_run_catch_up: Duration,
    /// How far back any run looks at most (long outage, failing recipient).
    pub max_catch_up: Duration,
    /// A claim older than this without a send is a crashed run's, retried.
    /// Longer than a Lambda can run (15 min), so it never races a live run.
    pub claim_timeout: Duration,
    /// The PAM digest lists certifications expiring within this many days.
    pub digest_window_days: u32,
    pub warning_days: u32,
    pub tiers: TierRequirements,
    /// Public portal URL (links in mail), no trailing slash.
    pub public_base_url: Option<String>,
    /// SES messages per second (`PORTAL_MAIL_RATE`, 0 = unthrottled).
    pub mail_rate_per_second: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            thresholds: vec![90, 60, 30],
            expired_notice: false,
            first_run_catch_up: Duration::days(1),
            max_catch_up: Duration::days(31),
            claim_timeout: Duration::hours(1),
            digest_window_days: 90,
            warning_days: DEFAULT_WARNING_DAYS,
            tiers: TierRequirements::default(),
            public_base_url: None,
            mail_rate_per_second: 1.0,
        }
    }
}

impl Settings {
    /// From the shared config (every knob is a `Config` field, validated
    /// there with errors naming the variable).
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            thresholds: config.reminder_thresholds.clone(),
            expired_notice: config.reminder_expired_notice,
            first_run_catch_up: Duration::days(i64::from(config.reminder_catch_up_days)),
            warning_days: config.warning_days,
            tiers: config.tiers.clone(),
            public_base_url: config.public_base_url.clone(),
            mail_rate_per_second: config.mail_rate,
            ..Settings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_lookup(|k| {
            (k == "PORTAL_TABLE").then(|| "t".to_string()).or_else(|| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        })
        .unwrap()
    }

    #[test]
    fn defaults_match_the_config_defaults() {
        let s = Settings::from_config(&config(&[]));
        let d = Settings::default();
        assert_eq!(s.thresholds, d.thresholds);
        assert_eq!(s.expired_notice, d.expired_notice);
        assert_eq!(s.first_run_catch_up, d.first_run_catch_up);
        assert_eq!(s.mail_rate_per_second, d.mail_rate_per_second);
        assert_eq!(s.warning_days, d.warning_days);
    }

    #[test]
    fn reads_the_reminder_knobs_from_config() {
        let s = Settings::from_config(&config(&[
            ("PORTAL_REMINDER_EXPIRED_NOTICE", "yes"),
            ("PORTAL_REMINDER_CATCH_UP_DAYS", "3"),
            ("PORTAL_MAIL_RATE", "14"),
            ("PORTAL_REMINDER_THRESHOLDS", "30,60"),
            ("PORTAL_PUBLIC_BASE_URL", "https://p.example/"),
        ]));
        assert!(s.expired_notice);
        assert_eq!(s.first_run_catch_up, Duration::days(3));
        assert_eq!(s.mail_rate_per_second, 14.0);
        assert_eq!(s.thresholds, vec![60, 30]);
        assert_eq!(s.public_base_url.as_deref(), Some("https://p.example"));
    }
}
