//! All configuration, read once from the environment into one typed
//! [`Config`]. Every variable is listed in [`ENV_VARS`] (name, default,
//! meaning) — the README's configuration table is generated from it, so a
//! new variable goes there too.
//!
//! Secrets (API keys, the admin seed token) are held as [`Secret`] /
//! [`SecretRef`], whose `Debug` prints `***`: logging a `Config` never leaks
//! a key. In AWS the keys are given *by reference* (`*_SECRET_ARN`) and
//! fetched from Secrets Manager by the adapter that needs them.

use std::fmt;

use crate::clock::{parse_instant, Clock, PORTAL_NOW};
use crate::model::{
    CategoryMap, CategoryMatcher, CategoryRule, Tier, TierRequirements, DEFAULT_VALIDITY_MONTHS,
    DEFAULT_WARNING_DAYS,
};
use crate::rules::matching::{LegalForms, DEFAULT_LEGAL_FORMS};

/// Configuration problem, always naming the variable at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing required environment variable {var}")]
    Missing { var: &'static str },
    /// `value` is never a secret: secrets are not validated by content.
    #[error("invalid value '{value}' for {var}: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
    #[error("set only one of {a} and {b}")]
    Conflict { a: &'static str, b: &'static str },
}

/// `(name, default, meaning)` of every variable; `""` default = unset.
pub const ENV_VARS: &[(&str, &str, &str)] = &[
    ("PORTAL_TABLE", "(required)", "DynamoDB table name"),
    ("PORTAL_NOW", "", "Pin the clock (RFC 3339 or YYYY-MM-DD) for tests and demos; unset = system time"),
    ("PORTAL_WARNING_DAYS", "90", "A certification is 'expiring' when it expires within this many days (inclusive)"),
    ("PORTAL_TIERS", TierRequirements::DEFAULT_SETTING, "NPCU required per tier: 'Name=NPCU,...', any CRM tier text (case-insensitive), merged over the defaults; a blank tier requires 0, a tier listed nowhere is reported as 'tier not configured'"),
    ("PORTAL_CATEGORY_MAP", "", "Course → product category when the course has no category property: 'prefix:<name prefix>=<category>;course:<course id>=<category>'"),
    ("PORTAL_DEFAULT_VALIDITY_MONTHS", "24", "Validity of a completion when the LMS gives no expiry"),
    ("PORTAL_REMINDER_THRESHOLDS", "90,60,30", "Days before expiry at which reminder e-mails are sent"),
    ("PORTAL_REMINDER_EXPIRED_NOTICE", "false", "Also mail on the day a certification expired (true/false)"),
    ("PORTAL_REMINDER_CATCH_UP_DAYS", "1", "On the very first reminder run, only thresholds reached within this many days are mailed"),
    ("PORTAL_UNTRACKED_TIERS", "Pending", "CRM tiers whose partners are not tracked (any tier text, case-insensitive)"),
    ("PORTAL_INTERNAL_DOMAINS", "", "Comma-separated e-mail domains of the vendor's own staff; such contacts are skipped"),
    ("PORTAL_SHARED_MAILBOXES", "demo,sales,support,test,accounts", "Local parts that mark a shared mailbox; such contacts are skipped"),
    ("PORTAL_LEGAL_FORMS", crate::rules::matching::DEFAULT_LEGAL_FORMS, "Comma-separated legal forms ignored at the end of partner and LMS group names when matching them (dots and case do not matter)"),
    ("PORTAL_INACTIVE_CONTACT_STATUSES", "Inactive,Terminated,Suspended,Deactivated", "CRM Contact_Status__cf values that make a contact inactive (case-insensitive)"),
    ("PORTAL_PUSH_NPCU_FIELD", "Total_NPCU__cf", "CRM Account field receiving a partner's total NPCU ('none' = not pushed)"),
    ("PORTAL_PUSH_CATEGORY_FIELDS", DEFAULT_PUSH_CATEGORY_FIELDS, "CRM Account fields receiving certification counts: '<field>=<category>,<category>;...' (several categories add into one field; 'none' = no count fields)"),
    ("PORTAL_PUSH_GROUP_ID_FIELD", "LMS_Account_ID__cf", "CRM Account field receiving the partner's LMS group id ('none' = not pushed)"),
    ("PORTAL_PUSH_GROUP_NAME_FIELD", "LMS_Group_Name__cf", "CRM Account field receiving the partner's LMS group name ('none' = not pushed)"),
    ("PORTAL_PUSH_DASHBOARD_FIELD", "LMS_Training_Dashboard__cf", "CRM Account field receiving the partner's dashboard link ('none' = not pushed)"),
    ("PORTAL_PUSH_USER_COUNT_FIELD", "", "CRM Account field receiving the partner's LMS user count (unset = not pushed)"),
    ("PORTAL_UNTRACK_GUARD_PERCENT", "20", "A full CRM sync that would untrack/deactivate more than this percentage of the stored partners or contacts changes nothing and fails; re-run with force=true to apply it"),
    ("NORTHPASS_BASE_URL", "https://api.northpass.com", "Northpass LMS API base URL"),
    ("NORTHPASS_API_KEY", "", "Northpass API key (local/dev); prefer NORTHPASS_API_KEY_SECRET_ARN in AWS"),
    ("NORTHPASS_API_KEY_SECRET_ARN", "", "Secrets Manager ARN holding the Northpass API key"),
    ("NORTHPASS_RATE_LIMIT", "10", "Maximum Northpass requests per second"),
    ("IMPARTNER_BASE_URL", "", "Impartner PRM API base URL"),
    ("IMPARTNER_API_KEY", "", "Impartner API key (local/dev); prefer IMPARTNER_API_KEY_SECRET_ARN in AWS"),
    ("IMPARTNER_API_KEY_SECRET_ARN", "", "Secrets Manager ARN holding the Impartner API key"),
    ("IMPARTNER_TENANT_ID", "", "Impartner tenant id (X-PRM-TenantId), local/dev"),
    ("IMPARTNER_TENANT_ID_SECRET_ARN", "", "Secrets Manager ARN holding the Impartner tenant id"),
    ("PORTAL_PUBLIC_BASE_URL", "", "Public base URL of the portal, for dashboard links in e-mails, reports and the CRM"),
    ("PORTAL_MAIL_FROM", "", "Sender address of reminder e-mails (a verified SES identity)"),
    ("PORTAL_MAIL_CONFIGURATION_SET", "", "SES configuration set for sent mail (optional)"),
    ("PORTAL_PAM_TOKEN_DAYS", "180", "Days a PAM token works when it is created without an explicit expires_at"),
    ("PORTAL_MAIL_RATE", "1", "SES messages per second, the account's maximum send rate (0 = unthrottled)"),
    ("PORTAL_ADMIN_TOKEN", "", "Seed admin bearer token, stored only as a hash (optional, local/dev)"),
    ("PORTAL_ADMIN_TOKEN_SECRET_ARN", "", "Secrets Manager ARN holding the seed admin bearer token (optional)"),
    ("PORTAL_ADMIN_EMAILS", "", "Comma-separated e-mail addresses that may sign in to the web portal as admins by e-mail link"),
    ("PORTAL_LINK_KEY", "", "HMAC key deriving partner dashboard link tokens (sync + reports), local/dev"),
    ("PORTAL_LINK_KEY_SECRET_ARN", "", "Secrets Manager ARN holding the dashboard link key"),
    ("PORTAL_UNSUBSCRIBE_KEY", "", "Secret sealing mail unsubscribe links (encrypted address + expiry; reminders + reports), local/dev"),
    ("PORTAL_UNSUBSCRIBE_KEY_SECRET_ARN", "", "Secrets Manager ARN holding the unsubscribe link key"),
    ("SYNC_TRANSCRIPT_MAX_AGE_HOURS", "168", "An incremental enrollment sync re-fetches a partner user's transcript at the latest after this many hours"),
    ("SYNC_CONCURRENCY", "8", "Transcripts / memberships the sync fetches at once (>= 1; the rate limit still paces them)"),
    ("SYNC_CHECKPOINT_MARGIN_SECS", "60", "The sync checkpoints when less than this many seconds of Lambda time are left"),
    ("PORTAL_SYNC_STATE_MACHINE_ARN", "", "ARN of the sync state machine; reports starts an execution of it for on-demand runs (unset = run now unavailable, except in-process locally)"),
    ("PORTAL_HOOK_SECRET", "", "Path secret of the Northpass webhook endpoint POST /hooks/northpass/{secret}, local/dev; unset (with its ARN) = the endpoint answers 404"),
    ("PORTAL_HOOK_SECRET_PREVIOUS", "", "The path secret before the last rotation, still accepted (local/dev; with the ARN, Secrets Manager's AWSPREVIOUS version is)"),
    ("PORTAL_HOOK_SECRET_SECRET_ARN", "", "Secrets Manager ARN holding the webhook path secret (AWSCURRENT, and AWSPREVIOUS during rotation)"),
    ("PORTAL_HOOK_QUEUE_URL", "", "SQS queue URL the webhook endpoint enqueues events to (the sync consumes it)"),
    ("PORTAL_EXPORT_BUCKET", "", "S3 bucket for exports too large for a Lambda response (answered 303 to a presigned URL); unset = every export inline"),
];

/// Default of `PORTAL_PUSH_CATEGORY_FIELDS`: the tenant's count fields,
/// each fed by the LMS categories of that product line.
pub const DEFAULT_PUSH_CATEGORY_FIELDS: &str = "Nintex_CE_Certifications__cf=Automation Cloud,Promapp,RPA;Nintex_K2_Certifications__cf=K2;Nintex_for_Salesforce_Certifications__cf=Nintex for Salesforce;Nintex_GTM_Certifications__cf=GTM";

/// Which CRM Account fields the push writes (`PORTAL_PUSH_*`). A field
/// left `None` is never sent; nothing outside this mapping ever is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMapping {
    pub npcu: Option<String>,
    /// `(field, categories)`: the field receives the sum of the
    /// certification counts of its categories (compared case-insensitively).
    pub category_counts: Vec<(String, Vec<String>)>,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub dashboard: Option<String>,
    pub user_count: Option<String>,
}

impl Default for PushMapping {
    fn default() -> Self {
        PushMapping {
            npcu: Some("Total_NPCU__cf".into()),
            category_counts: parse_push_categories(
                "PORTAL_PUSH_CATEGORY_FIELDS",
                DEFAULT_PUSH_CATEGORY_FIELDS,
            )
            .expect("the default parses"),
            group_id: Some("LMS_Account_ID__cf".into()),
            group_name: Some("LMS_Group_Name__cf".into()),
            dashboard: Some("LMS_Training_Dashboard__cf".into()),
            user_count: None,
        }
    }
}

/// A CRM field name: letters, digits and `_` (what the tenant's schema
/// allows), so a typo cannot smuggle anything else into a PATCH.
fn push_field(var: &'static str, v: &str) -> Result<String, ConfigError> {
    let f = v.trim();
    if f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid(
            var,
            v,
            "expected a CRM field name (letters, digits, _)",
        ));
    }
    Ok(f.to_string())
}

/// `<field>=<category>,<category>;...`; `none` = no count fields.
pub fn parse_push_categories(
    var: &'static str,
    v: &str,
) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    if v.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (field, cats) = part
            .split_once('=')
            .ok_or_else(|| invalid(var, part, "expected <field>=<category>,<category>"))?;
        let field = push_field(var, field)?;
        let cats: Vec<String> = cats
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        if cats.is_empty() {
            return Err(invalid(var, part, "a field needs at least one category"));
        }
        if out.iter().any(|(f, _)| *f == field) {
            return Err(invalid(var, part, "field listed twice"));
        }
        out.push((field, cats));
    }
    Ok(out)
}

/// A secret value. `Debug` never shows it and there is no `Display`; read it
/// with [`Secret::expose`] only where it is sent.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An API key, given directly (dev) or by Secrets Manager reference (AWS).
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    Value(Secret),
    SecretArn(String),
}

impl SecretRef {
    /// The value when given directly; `None` for an ARN, which the adapter
    /// must fetch from Secrets Manager.
    pub fn direct_value(&self) -> Option<&Secret> {
        match self {
            SecretRef::Value(s) => Some(s),
            SecretRef::SecretArn(_) => None,
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Value(_) => f.write_str("SecretRef::Value(***)"),
            // An ARN is not secret, and showing it helps debugging access.
            SecretRef::SecretArn(arn) => write!(f, "SecretRef::SecretArn({arn})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NorthpassConfig {
    /// Base URL without trailing slash.
    pub base_url: String,
    /// `None` when neither variable is set (functions that do not talk to
    /// Northpass need not have it); see [`Config::northpass_key`].
    pub api_key: Option<SecretRef>,
    /// Requests per second, > 0.
    pub rate_limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpartnerConfig {
    /// Base URL without trailing slash.
    pub base_url: Option<String>,
    pub api_key: Option<SecretRef>,
    /// Not secret as such, but deployed by reference like the key.
    pub tenant_id: Option<SecretRef>,
}

/// Everything the functions read from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// DynamoDB table (`PORTAL_TABLE`).
    pub table: String,
    /// Source of "now" (`PORTAL_NOW`).
    pub clock: Clock,
    /// Expiring window in days (`PORTAL_WARNING_DAYS`).
    pub warning_days: u32,
    /// NPCU required per tier (`PORTAL_TIERS`).
    pub tiers: TierRequirements,
    /// Course → category fallback (`PORTAL_CATEGORY_MAP`).
    pub categories: CategoryMap,
    /// Validity when the LMS gives no expiry (`PORTAL_DEFAULT_VALIDITY_MONTHS`).
    pub default_validity_months: u32,
    /// Reminder days before expiry, sorted descending, no duplicates
    /// (`PORTAL_REMINDER_THRESHOLDS`).
    pub reminder_thresholds: Vec<u32>,
    /// Also mail on the day a certification expired
    /// (`PORTAL_REMINDER_EXPIRED_NOTICE`).
    pub reminder_expired_notice: bool,
    /// How far back the very first reminder run looks, in days, so a new
    /// install does not flood inboxes (`PORTAL_REMINDER_CATCH_UP_DAYS`).
    pub reminder_catch_up_days: u32,
    /// Tiers whose partners are not tracked (`PORTAL_UNTRACKED_TIERS`).
    pub untracked_tiers: Vec<Tier>,
    /// Lower-cased domains without `@` (`PORTAL_INTERNAL_DOMAINS`).
    pub internal_domains: Vec<String>,
    /// Lower-cased shared-mailbox local parts (`PORTAL_SHARED_MAILBOXES`).
    pub shared_mailboxes: Vec<String>,
    /// Name suffixes that are noise when matching partners to LMS groups
    /// (`PORTAL_LEGAL_FORMS`).
    pub legal_forms: LegalForms,
    /// Lower-cased `Contact_Status__cf` values that make a contact
    /// inactive (`PORTAL_INACTIVE_CONTACT_STATUSES`).
    pub inactive_contact_statuses: Vec<String>,
    /// Mass-untrack guard, 0..=100 (`PORTAL_UNTRACK_GUARD_PERCENT`).
    pub untrack_guard_percent: u32,
    /// CRM fields of the push (`PORTAL_PUSH_*`).
    pub push: PushMapping,
    /// `NORTHPASS_*`.
    pub northpass: NorthpassConfig,
    /// `IMPARTNER_*`.
    pub impartner: ImpartnerConfig,
    /// Public base URL without trailing slash (`PORTAL_PUBLIC_BASE_URL`).
    pub public_base_url: Option<String>,
    /// Sender of reminder mail (`PORTAL_MAIL_FROM`).
    pub mail_from: Option<String>,
    /// SES configuration set (`PORTAL_MAIL_CONFIGURATION_SET`).
    pub mail_configuration_set: Option<String>,
    /// Lifetime of a PAM token created without `expires_at`
    /// (`PORTAL_PAM_TOKEN_DAYS`): a forgotten token stops working.
    pub pam_token_days: u32,
    /// SES messages per second, finite and >= 0; 0 = unthrottled
    /// (`PORTAL_MAIL_RATE`).
    pub mail_rate: f64,
    /// Seed admin token (`PORTAL_ADMIN_TOKEN` / `_SECRET_ARN`).
    pub admin_token: Option<SecretRef>,
    /// Lower-cased addresses that sign in to the portal as admins
    /// (`PORTAL_ADMIN_EMAILS`).
    pub admin_emails: Vec<String>,
    /// Dashboard link HMAC key (`PORTAL_LINK_KEY` / `_SECRET_ARN`).
    pub link_key: Option<SecretRef>,
    /// Unsubscribe link HMAC key (`PORTAL_UNSUBSCRIBE_KEY` / `_SECRET_ARN`).
    pub unsubscribe_key: Option<SecretRef>,
    /// Bucket of large exports (`PORTAL_EXPORT_BUCKET`).
    pub export_bucket: Option<String>,
    /// The sync function's section (`SYNC_*`, `PORTAL_SYNC_STATE_MACHINE_ARN`).
    pub sync: SyncSettings,
    /// The Northpass webhook endpoint (reports function).
    pub hooks: HookSettings,
}

/// The Northpass webhook endpoint's settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HookSettings {
    /// The path secret (`PORTAL_HOOK_SECRET` / `..._SECRET_ARN`); `None`
    /// turns the endpoint off (404).
    pub secret: Option<SecretRef>,
    /// The secret before the last rotation, given directly
    /// (`PORTAL_HOOK_SECRET_PREVIOUS`); by ARN it is the AWSPREVIOUS version.
    pub previous_secret: Option<Secret>,
    /// Where events are enqueued (`PORTAL_HOOK_QUEUE_URL`).
    pub queue_url: Option<String>,
}

/// The sync function's own knobs, parsed here once; the sync turns them
/// into its runtime options (`portal_sync::SyncOptions::from_config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// An incremental enrollment sync re-fetches a partner user's
    /// transcript at the latest after this many hours
    /// (`SYNC_TRANSCRIPT_MAX_AGE_HOURS`).
    pub transcript_max_age_hours: u32,
    /// Transcripts / memberships fetched at once, >= 1 (`SYNC_CONCURRENCY`).
    pub concurrency: u32,
    /// Checkpoint when fewer seconds than this are left of the Lambda time
    /// (`SYNC_CHECKPOINT_MARGIN_SECS`).
    pub checkpoint_margin_secs: u32,
    /// The sync state machine's ARN (`PORTAL_SYNC_STATE_MACHINE_ARN`):
    /// reports starts an execution of it for on-demand runs.
    pub state_machine_arn: Option<String>,
}

impl Default for SyncSettings {
    /// The defaults [`ENV_VARS`] lists.
    fn default() -> Self {
        SyncSettings {
            transcript_max_age_hours: 168,
            concurrency: 8,
            checkpoint_margin_secs: 60,
            state_machine_arn: None,
        }
    }
}

/// Reads variables through `lookup`, treating blank values as unset (an
/// empty `VAR=` in a template or `.env` means "not configured").
struct Env<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.get(var).ok_or(ConfigError::Missing { var })
    }

    fn u32_or(&self, var: &'static str, default: u32) -> Result<u32, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| invalid(var, &v, "expected a whole number")),
        }
    }

    fn bool_or(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(invalid(var, &v, "expected true or false")),
            },
        }
    }

    /// A rate: a finite number >= 0 (fractions allowed, e.g. `0.5`).
    fn rate_or(&self, var: &'static str, default: f64) -> Result<f64, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.0)
                .ok_or_else(|| invalid(var, &v, "expected a number per second >= 0")),
        }
    }

    fn list_or(&self, var: &str, default: &str) -> Vec<String> {
        let raw = self.get(var).unwrap_or_else(|| default.to_string());
        raw.split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn url(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        self.get(var).map(|v| parse_url(var, &v)).transpose()
    }

    /// A key given either directly or by ARN, never both.
    fn secret_ref(
        &self,
        value_var: &'static str,
        arn_var: &'static str,
    ) -> Result<Option<SecretRef>, ConfigError> {
        match (self.get(value_var), self.get(arn_var)) {
            (Some(_), Some(_)) => Err(ConfigError::Conflict {
                a: value_var,
                b: arn_var,
            }),
            (Some(v), None) => Ok(Some(SecretRef::Value(Secret(v)))),
            (None, Some(arn)) => Ok(Some(SecretRef::SecretArn(arn))),
            (None, None) => Ok(None),
        }
    }
}

fn invalid(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn parse_url(var: &'static str, v: &str) -> Result<String, ConfigError> {
    let u = url::Url::parse(v).map_err(|e| invalid(var, v, e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(invalid(var, v, "expected an http(s) URL"));
    }
    Ok(v.trim_end_matches('/').to_string())
}

/// Parse `PORTAL_TIERS` ("Premier=20,Premier Plus=20") over the default
/// table. A tier is any text the CRM uses (tiers are data), compared
/// case-insensitively; only a blank name or a bad number is an error.
pub fn parse_tiers(var: &'static str, v: &str) -> Result<TierRequirements, ConfigError> {
    let mut t = TierRequirements::default();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, n) = part
            .split_once('=')
            .ok_or_else(|| invalid(var, v, format!("'{part}' is not Tier=NPCU")))?;
        let tier = Tier::parse(name)
            .ok_or_else(|| invalid(var, v, format!("'{part}' has no tier name")))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| invalid(var, v, format!("'{}' is not a whole number", n.trim())))?;
        t.by_tier.insert(tier, n);
    }
    Ok(t)
}

/// Parse `PORTAL_CATEGORY_MAP`
/// ("prefix:Automation Cloud=Automation Cloud;course:abc123=K2"). Rules are
/// separated by `;` because course names contain commas.
pub fn parse_category_map(var: &'static str, v: &str) -> Result<CategoryMap, ConfigError> {
    let mut rules = Vec::new();
    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = |why: &str| invalid(var, v, format!("'{part}': {why}"));
        let (kind, rest) = part
            .split_once(':')
            .ok_or_else(|| bad("expected prefix:<text>=<category> or course:<id>=<category>"))?;
        let (key, category) = rest
            .split_once('=')
            .ok_or_else(|| bad("missing '=<category>'"))?;
        let (key, category) = (key.trim(), category.trim());
        if key.is_empty() || category.is_empty() {
            return Err(bad("empty key or category"));
        }
        let matcher = match kind.trim().to_ascii_lowercase().as_str() {
            "prefix" => CategoryMatcher::NamePrefix(key.to_string()),
            "course" => CategoryMatcher::CourseId(key.to_string()),
            _ => return Err(bad("kind must be 'prefix' or 'course'")),
        };
        rules.push(CategoryRule {
            matcher,
            category: category.to_string(),
        });
    }
    Ok(CategoryMap { rules })
}

/// Parse a comma-separated list of day counts, sorted descending, deduped.
pub fn parse_thresholds(var: &'static str, v: &str) -> Result<Vec<u32>, ConfigError> {
    let mut days = v
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<u32>()
                .map_err(|_| invalid(var, v, format!("'{p}' is not a whole number of days")))
        })
        .collect::<Result<Vec<u32>, _>>()?;
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    Ok(days)
}

/// `PORTAL_NOW`, read here with the rest of the configuration (the clock
/// itself knows nothing of variables).
impl Clock {
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

impl Config {
    /// From the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// From any variable lookup (tests pass a map; no process env needed).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env { lookup };
        let clock = Clock::from_lookup(&env.lookup)?;

        let tiers = match env.get("PORTAL_TIERS") {
            Some(v) => parse_tiers("PORTAL_TIERS", &v)?,
            None => TierRequirements::default(),
        };
        let categories = match env.get("PORTAL_CATEGORY_MAP") {
            Some(v) => parse_category_map("PORTAL_CATEGORY_MAP", &v)?,
            None => CategoryMap::default(),
        };
        let reminder_thresholds = parse_thresholds(
            "PORTAL_REMINDER_THRESHOLDS",
            &env.get("PORTAL_REMINDER_THRESHOLDS")
                .unwrap_or_else(|| "90,60,30".into()),
        )?;
        // Any tier text (blank entries are skipped), compared
        // case-insensitively like every tier.
        let untracked_tiers: Vec<Tier> = env
            .get("PORTAL_UNTRACKED_TIERS")
            .unwrap_or_else(|| "Pending".into())
            .split(',')
            .filter_map(Tier::parse)
            .collect();

        let rate_limit = env.u32_or("NORTHPASS_RATE_LIMIT", 10)?;
        if rate_limit == 0 {
            return Err(invalid("NORTHPASS_RATE_LIMIT", "0", "must be at least 1"));
        }
        let default_validity_months =
            env.u32_or("PORTAL_DEFAULT_VALIDITY_MONTHS", DEFAULT_VALIDITY_MONTHS)?;
        if default_validity_months == 0 {
            return Err(invalid(
                "PORTAL_DEFAULT_VALIDITY_MONTHS",
                "0",
                "must be at least 1 (0 would expire every completion at once)",
            ));
        }
        let push = {
            let d = PushMapping::default();
            let field = |var: &'static str, default: Option<String>| match env.get(var) {
                None => Ok(default),
                Some(v) if v.eq_ignore_ascii_case("none") => Ok(None),
                Some(v) => push_field(var, &v).map(Some),
            };
            PushMapping {
                npcu: field("PORTAL_PUSH_NPCU_FIELD", d.npcu)?,
                category_counts: match env.get("PORTAL_PUSH_CATEGORY_FIELDS") {
                    Some(v) => parse_push_categories("PORTAL_PUSH_CATEGORY_FIELDS", &v)?,
                    None => d.category_counts,
                },
                group_id: field("PORTAL_PUSH_GROUP_ID_FIELD", d.group_id)?,
                group_name: field("PORTAL_PUSH_GROUP_NAME_FIELD", d.group_name)?,
                dashboard: field("PORTAL_PUSH_DASHBOARD_FIELD", d.dashboard)?,
                user_count: field("PORTAL_PUSH_USER_COUNT_FIELD", d.user_count)?,
            }
        };
        let untrack_guard_percent = env.u32_or("PORTAL_UNTRACK_GUARD_PERCENT", 20)?;
        if untrack_guard_percent > 100 {
            return Err(invalid(
                "PORTAL_UNTRACK_GUARD_PERCENT",
                &untrack_guard_percent.to_string(),
                "a percentage, 0 to 100",
            ));
        }
        let sync = {
            let d = SyncSettings::default();
            let concurrency = env.u32_or("SYNC_CONCURRENCY", d.concurrency)?;
            if concurrency == 0 {
                return Err(invalid("SYNC_CONCURRENCY", "0", "must be at least 1"));
            }
            SyncSettings {
                transcript_max_age_hours: env
                    .u32_or("SYNC_TRANSCRIPT_MAX_AGE_HOURS", d.transcript_max_age_hours)?,
                concurrency,
                checkpoint_margin_secs: env
                    .u32_or("SYNC_CHECKPOINT_MARGIN_SECS", d.checkpoint_margin_secs)?,
                state_machine_arn: env.get("PORTAL_SYNC_STATE_MACHINE_ARN"),
            }
        };
        let pam_token_days = env.u32_or("PORTAL_PAM_TOKEN_DAYS", 180)?;
        if pam_token_days == 0 {
            return Err(invalid(
                "PORTAL_PAM_TOKEN_DAYS",
                "0",
                "must be at least 1 (give expires_at to choose another lifetime)",
            ));
        }
        let mail_from = env.get("PORTAL_MAIL_FROM");
        if let Some(m) = &mail_from {
            if !m.contains('@') {
                return Err(invalid("PORTAL_MAIL_FROM", m, "expected an e-mail address"));
            }
        }

        let admin_emails = env.list_or("PORTAL_ADMIN_EMAILS", "");
        if let Some(bad) = admin_emails.iter().find(|e| !e.contains('@')) {
            return Err(invalid(
                "PORTAL_ADMIN_EMAILS",
                bad,
                "expected comma-separated e-mail addresses",
            ));
        }

        Ok(Config {
            table: env.required("PORTAL_TABLE")?,
            clock,
            warning_days: env.u32_or("PORTAL_WARNING_DAYS", DEFAULT_WARNING_DAYS)?,
            tiers,
            categories,
            default_validity_months,
            reminder_thresholds,
            reminder_expired_notice: env.bool_or("PORTAL_REMINDER_EXPIRED_NOTICE", false)?,
            reminder_catch_up_days: env.u32_or("PORTAL_REMINDER_CATCH_UP_DAYS", 1)?,
            untracked_tiers,
            internal_domains: env
                .list_or("PORTAL_INTERNAL_DOMAINS", "")
                .into_iter()
                .map(|d| d.trim_start_matches('@').to_string())
                .collect(),
            shared_mailboxes: env.list_or(
                "PORTAL_SHARED_MAILBOXES",
                "demo,sales,support,test,accounts",
            ),
            legal_forms: LegalForms::parse(
                &env.get("PORTAL_LEGAL_FORMS")
                    .unwrap_or_else(|| DEFAULT_LEGAL_FORMS.to_string()),
            ),
            inactive_contact_statuses: env.list_or(
                "PORTAL_INACTIVE_CONTACT_STATUSES",
                "Inactive,Terminated,Suspended,Deactivated",
            ),
            untrack_guard_percent,
            push,
            northpass: NorthpassConfig {
                base_url: parse_url(
                    "NORTHPASS_BASE_URL",
                    &env.get("NORTHPASS_BASE_URL")
                        .unwrap_or_else(|| "https://api.northpass.com".into()),
                )?,
                api_key: env.secret_ref("NORTHPASS_API_KEY", "NORTHPASS_API_KEY_SECRET_ARN")?,
                rate_limit,
            },
            impartner: ImpartnerConfig {
                base_url: env.url("IMPARTNER_BASE_URL")?,
                api_key: env.secret_ref("IMPARTNER_API_KEY", "IMPARTNER_API_KEY_SECRET_ARN")?,
                tenant_id: env
                    .secret_ref("IMPARTNER_TENANT_ID", "IMPARTNER_TENANT_ID_SECRET_ARN")?,
            },
            public_base_url: env.url("PORTAL_PUBLIC_BASE_URL")?,
            mail_from,
            mail_configuration_set: env.get("PORTAL_MAIL_CONFIGURATION_SET"),
            pam_token_days,
            mail_rate: env.rate_or("PORTAL_MAIL_RATE", 1.0)?,
            admin_token: env.secret_ref("PORTAL_ADMIN_TOKEN", "PORTAL_ADMIN_TOKEN_SECRET_ARN")?,
            admin_emails,
            link_key: env.secret_ref("PORTAL_LINK_KEY", "PORTAL_LINK_KEY_SECRET_ARN")?,
            unsubscribe_key: env.secret_ref(
                "PORTAL_UNSUBSCRIBE_KEY",
                "PORTAL_UNSUBSCRIBE_KEY_SECRET_ARN",
            )?,
            export_bucket: env.get("PORTAL_EXPORT_BUCKET"),
            sync,
            hooks: HookSettings {
                secret: env.secret_ref("PORTAL_HOOK_SECRET", "PORTAL_HOOK_SECRET_SECRET_ARN")?,
                previous_secret: env.get("PORTAL_HOOK_SECRET_PREVIOUS").map(Secret),
                queue_url: env.url("PORTAL_HOOK_QUEUE_URL")?,
            },
        })
    }

    /// The Northpass key, or an error naming the variable to set; for the
    /// functions that need it (sync).
    pub fn northpass_key(&self) -> Result<&SecretRef, ConfigError> {
        self.northpass.api_key.as_ref().ok_or(ConfigError::Missing {
            var: "NORTHPASS_API_KEY",
        })
    }

    /// Impartner base URL, key and tenant, or an error naming the first
    /// missing variable.
    pub fn impartner_access(&self) -> Result<(&str, &SecretRef, &SecretRef), ConfigError> {
        let i = &self.impartner;
        Ok((
            i.base_url.as_deref().ok_or(ConfigError::Missing {
                var: "IMPARTNER_BASE_URL",
            })?,
            i.api_key.as_ref().ok_or(ConfigError::Missing {
                var: "IMPARTNER_API_KEY",
            })?,
            i.tenant_id.as_ref().ok_or(ConfigError::Missing {
                var: "IMPARTNER_TENANT_ID",
            })?,
        ))
    }

    /// Sender address, or an error naming `PORTAL_MAIL_FROM` (reminders).
    pub fn require_mail_from(&self) -> Result<&str, ConfigError> {
        self.mail_from.as_deref().ok_or(ConfigError::Missing {
            var: "PORTAL_MAIL_FROM",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_with_only_the_table() {
        let c = cfg(&[("PORTAL_TABLE", "portal")]).unwrap();
        assert_eq!(c.table, "portal");
        assert_eq!(c.clock, Clock::System);
        assert_eq!(c.warning_days, 90);
        assert_eq!(c.tiers, TierRequirements::default());
        assert_eq!(c.default_validity_months, 24);
        assert_eq!(c.reminder_thresholds, vec![90, 60, 30]);
        assert_eq!(c.untracked_tiers, vec![Tier::Pending]);
        assert_eq!(
            c.shared_mailboxes,
            vec!["demo", "sales", "support", "test", "accounts"]
        );
        assert!(c.internal_domains.is_empty());
        assert_eq!(c.northpass.base_url, "https://api.northpass.com");
        assert_eq!(c.northpass.rate_limit, 10);
        assert_eq!(c.northpass.api_key, None);
        assert!(c.categories.rules.is_empty());
        assert!(!c.reminder_expired_notice);
        assert_eq!(c.reminder_catch_up_days, 1);
        assert_eq!(c.mail_rate, 1.0);
        assert_eq!(c.unsubscribe_key, None);
        assert_eq!(c.sync, SyncSettings::default());
        assert_eq!(
            (
                c.sync.transcript_max_age_hours,
                c.sync.concurrency,
                c.sync.checkpoint_margin_secs,
                c.sync.state_machine_arn
            ),
            (168, 8, 60, None)
        );
    }

    #[test]
    fn sync_knobs_parse_and_name_bad_values() {
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("SYNC_TRANSCRIPT_MAX_AGE_HOURS", "24"),
            ("SYNC_CONCURRENCY", "2"),
            ("SYNC_CHECKPOINT_MARGIN_SECS", "90"),
            (
                "PORTAL_SYNC_STATE_MACHINE_ARN",
                " arn:aws:states:us-east-1:1:stateMachine:portal-sync ",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.sync,
            SyncSettings {
                transcript_max_age_hours: 24,
                concurrency: 2,
                checkpoint_margin_secs: 90,
                state_machine_arn: Some(
                    "arn:aws:states:us-east-1:1:stateMachine:portal-sync".into()
                ),
            }
        );
        // Blank is unset, as for every variable.
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("PORTAL_SYNC_STATE_MACHINE_ARN", "  "),
        ])
        .unwrap();
        assert_eq!(c.sync.state_machine_arn, None);
        // 0 transcripts at once would stall the sync: refused, not raised to 1.
        assert_eq!(
            cfg(&[("PORTAL_TABLE", "t"), ("SYNC_CONCURRENCY", "0")]).unwrap_err(),
            ConfigError::Invalid {
                var: "SYNC_CONCURRENCY",
                value: "0".into(),
                reason: "must be at least 1".into(),
            }
        );
        for (var, bad) in [
            ("SYNC_TRANSCRIPT_MAX_AGE_HOURS", "a week"),
            ("SYNC_CONCURRENCY", "0"),
            ("SYNC_CHECKPOINT_MARGIN_SECS", "-5"),
        ] {
            let err = cfg(&[("PORTAL_TABLE", "t"), (var, bad)]).unwrap_err();
            assert!(err.to_string().contains(var), "{var}={bad}: {err}");
        }
    }

    #[test]
    fn reminder_and_mail_knobs_parse_and_name_bad_values() {
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("PORTAL_REMINDER_EXPIRED_NOTICE", "Yes"),
            ("PORTAL_REMINDER_CATCH_UP_DAYS", "3"),
            ("PORTAL_MAIL_RATE", "0.5"),
            ("PORTAL_UNSUBSCRIBE_KEY", "unsub-key"),
        ])
        .unwrap();
        assert!(c.reminder_expired_notice);
        assert_eq!(c.reminder_catch_up_days, 3);
        assert_eq!(c.mail_rate, 0.5);
        assert!(
            matches!(&c.unsubscribe_key, Some(SecretRef::Value(k)) if k.expose() == "unsub-key")
        );
        assert_eq!(
            cfg(&[("PORTAL_TABLE", "t"), ("PORTAL_MAIL_RATE", "0")])
                .unwrap()
                .mail_rate,
            0.0,
            "0 = unthrottled"
        );
        for (var, bad) in [
            ("PORTAL_REMINDER_EXPIRED_NOTICE", "maybe"),
            ("PORTAL_REMINDER_CATCH_UP_DAYS", "-1"),
            ("PORTAL_MAIL_RATE", "fast"),
            ("PORTAL_MAIL_RATE", "-2"),
            ("PORTAL_MAIL_RATE", "inf"),
        ] {
            let err = cfg(&[("PORTAL_TABLE", "t"), (var, bad)]).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { var: v, value, .. } if *v == var && value == bad),
                "{var}={bad}: {err:?}"
            );
            assert!(err.to_string().contains(var), "{err}");
        }
        let err = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("PORTAL_UNSUBSCRIBE_KEY", "k"),
            ("PORTAL_UNSUBSCRIBE_KEY_SECRET_ARN", "arn"),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Conflict {
                a: "PORTAL_UNSUBSCRIBE_KEY",
                b: "PORTAL_UNSUBSCRIBE_KEY_SECRET_ARN"
            }
        );
    }

    #[test]
    fn missing_table_names_the_variable() {
        let err = cfg(&[]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing {
                var: "PORTAL_TABLE"
            }
        );
        assert!(err.to_string().contains("PORTAL_TABLE"));
        // Blank counts as missing.
        assert!(cfg(&[("PORTAL_TABLE", "  ")]).is_err());
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let err = cfg(&[("PORTAL_TABLE", "t"), ("PORTAL_WARNING_DAYS", "ninety")]).unwrap_err();
        assert!(err.to_string().contains("PORTAL_WARNING_DAYS"), "{err}");
        let err = cfg(&[("PORTAL_TABLE", "t"), ("NORTHPASS_RATE_LIMIT", "0")]).unwrap_err();
        assert!(err.to_string().contains("NORTHPASS_RATE_LIMIT"), "{err}");
        let err = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("PORTAL_REMINDER_THRESHOLDS", "90,x"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("PORTAL_REMINDER_THRESHOLDS"),
            "{err}"
        );
        let err = cfg(&[("PORTAL_TABLE", "t"), ("PORTAL_NOW", "soon")]).unwrap_err();
        assert!(err.to_string().contains("PORTAL_NOW"), "{err}");
    }

    #[test]
    fn tiers_merge_over_defaults() {
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("PORTAL_TIERS", "premier=25, Certified=2"),
        ])
        .unwrap();
        assert_eq!(c.tiers.required(Some(&Tier::Premier)), Some(25));
        assert_eq!(c.tiers.required(Some(&Tier::Select)), Some(10));
        assert_eq!(c.tiers.required(Some(&Tier::Certified)), Some(2));
        assert!(cfg(&[("PORTAL_TABLE", "t"), ("PORTAL_TIERS", "Premier")]).is_err());
    }

    #[test]
    fn tiers_accept_any_name_and_reject_only_bad_entries() {
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            (
                "PORTAL_TIERS",
                "Premier=20,Premier Plus=20,Select=10,Registered=5,Certified=0,Aggregator=0, gold elite = 7",
            ),
        ])
        .unwrap();
        let tier = |s: &str| Tier::parse(s).unwrap();
        assert_eq!(c.tiers.required(Some(&tier("premier plus"))), Some(20));
        assert_eq!(c.tiers.required(Some(&tier("Gold Elite"))), Some(7));
        assert_eq!(c.tiers.required(Some(&tier("Aggregator"))), Some(0));
        assert_eq!(c.tiers.required(Some(&tier("Distributor"))), None);
        // The default setting is the default table.
        assert_eq!(
            parse_tiers("PORTAL_TIERS", TierRequirements::DEFAULT_SETTING).unwrap(),
            TierRequirements::default()
        );
        for (bad, names) in [
            ("Gold", "Gold"),
            ("=5", "=5"),
            ("Gold=five", "five"),
            ("Gold=-1", "-1"),
        ] {
            let err = cfg(&[("PORTAL_TABLE", "t"), ("PORTAL_TIERS", bad)]).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("PORTAL_TIERS") && msg.contains(names),
                "{bad}: {msg}"
            );
        }
    }

    #[test]
    fn category_map_parses_both_kinds() {
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            (
                "PORTAL_CATEGORY_MAP",
                "prefix:Automation Cloud=Automation Cloud; course:abc123=K2;",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.categories.rules,
            vec![
                CategoryRule {
                    matcher: CategoryMatcher::NamePrefix("Automation Cloud".into()),
                    category: "Automation Cloud".into()
                },
                CategoryRule {
                    matcher: CategoryMatcher::CourseId("abc123".into()),
                    category: "K2".into()
                },
            ]
        );
        for bad in ["K2", "name:x=y", "prefix:=K2", "course:abc"] {
            let err = cfg(&[("PORTAL_TABLE", "t"), ("PORTAL_CATEGORY_MAP", bad)]).unwrap_err();
            assert!(
                err.to_string().contains("PORTAL_CATEGORY_MAP"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn thresholds_sorted_desc_and_deduped() {
        assert_eq!(
            parse_thresholds("X", "30, 90,60,30").unwrap(),
            vec![90, 60, 30]
        );
    }

    #[test]
    fn keys_by_value_or_reference_never_both() {
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("NORTHPASS_API_KEY", "np-secret-value"),
            (
                "IMPARTNER_API_KEY_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:imp",
            ),
            ("IMPARTNER_BASE_URL", "http://127.0.0.1:9000/"),
            ("IMPARTNER_TENANT_ID", "42"),
        ])
        .unwrap();
        match c.northpass_key().unwrap() {
            SecretRef::Value(s) => assert_eq!(s.expose(), "np-secret-value"),
            other => panic!("{other:?}"),
        }
        let (base, key, tenant) = c.impartner_access().unwrap();
        assert_eq!(base, "http://127.0.0.1:9000");
        assert!(matches!(key, SecretRef::SecretArn(a) if a.ends_with(":imp")));
        assert!(matches!(tenant, SecretRef::Value(t) if t.expose() == "42"));

        let err = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("NORTHPASS_API_KEY", "k"),
            ("NORTHPASS_API_KEY_SECRET_ARN", "arn"),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Conflict {
                a: "NORTHPASS_API_KEY",
                b: "NORTHPASS_API_KEY_SECRET_ARN"
            }
        );
    }

    #[test]
    fn missing_source_access_names_the_variable() {
        let c = cfg(&[("PORTAL_TABLE", "t")]).unwrap();
        assert!(c
            .northpass_key()
            .unwrap_err()
            .to_string()
            .contains("NORTHPASS_API_KEY"));
        assert!(c
            .impartner_access()
            .unwrap_err()
            .to_string()
            .contains("IMPARTNER_BASE_URL"));
        assert!(c
            .require_mail_from()
            .unwrap_err()
            .to_string()
            .contains("PORTAL_MAIL_FROM"));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("NORTHPASS_API_KEY", "np-secret-value"),
            ("IMPARTNER_API_KEY", "imp-secret-value"),
            ("PORTAL_ADMIN_TOKEN", "admin-secret-value"),
            ("PORTAL_LINK_KEY", "link-secret-value"),
            ("PORTAL_UNSUBSCRIBE_KEY_SECRET_ARN", "arn:unsub"),
        ])
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("secret-value"), "{dbg}");
        assert!(dbg.contains("***"));
        assert!(dbg.contains("arn:unsub"), "ARNs are not secret: {dbg}");
    }

    #[test]
    fn urls_are_validated() {
        let err = cfg(&[("PORTAL_TABLE", "t"), ("NORTHPASS_BASE_URL", "not a url")]).unwrap_err();
        assert!(err.to_string().contains("NORTHPASS_BASE_URL"));
        let err = cfg(&[("PORTAL_TABLE", "t"), ("PORTAL_PUBLIC_BASE_URL", "ftp://x")]).unwrap_err();
        assert!(err.to_string().contains("PORTAL_PUBLIC_BASE_URL"));
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("PORTAL_PUBLIC_BASE_URL", "https://portal.example.com/"),
        ])
        .unwrap();
        assert_eq!(
            c.public_base_url.as_deref(),
            Some("https://portal.example.com")
        );
    }

    #[test]
    fn lists_are_lowercased_and_trimmed() {
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("PORTAL_INTERNAL_DOMAINS", " @Vendor.com, vendor.co.uk ,"),
            ("PORTAL_SHARED_MAILBOXES", "Info, Sales"),
            ("PORTAL_UNTRACKED_TIERS", "pending, registered"),
        ])
        .unwrap();
        assert_eq!(c.internal_domains, vec!["vendor.com", "vendor.co.uk"]);
        assert_eq!(c.shared_mailboxes, vec!["info", "sales"]);
        assert_eq!(c.untracked_tiers, vec![Tier::Pending, Tier::Registered]);
        let c = cfg(&[
            ("PORTAL_TABLE", "t"),
            ("PORTAL_UNTRACKED_TIERS", "Pending, Former Partner"),
        ])
        .unwrap();
        assert_eq!(
            c.untracked_tiers,
            vec![Tier::Pending, Tier::parse("former partner").unwrap()]
        );
    }

    #[test]
    fn every_variable_read_is_documented() {
        let names: Vec<&str> = ENV_VARS.iter().map(|(n, _, _)| *n).collect();
        // Record every variable the loader asks for.
        let asked = std::cell::RefCell::new(Vec::<String>::new());
        let _ = Config::from_lookup(|k| {
            asked.borrow_mut().push(k.to_string());
            (k == "PORTAL_TABLE").then(|| "t".to_string())
        });
        for k in asked.borrow().iter() {
            assert!(names.contains(&k.as_str()), "{k} missing from ENV_VARS");
        }
        assert_eq!(
            asked.borrow().len(),
            {
                let mut a = asked.borrow().clone();
                a.sort();
                a.dedup();
                a.len()
            },
            "each variable read once"
        );
        assert_eq!(
            names.len(),
            asked.borrow().len(),
            "ENV_VARS lists unread variables"
        );
    }

    /// `PORTAL_NOW` → [`Clock`].
    mod clock_from_env {
        use super::*;
        use chrono::{TimeZone, Utc};

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
}
