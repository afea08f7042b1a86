//! Plain data of the portal: what the two sources tell us (partners, contacts,
//! LMS users, groups, courses, enrollments), what admins record by hand
//! (manual awards, organisation certifications), the configurable tables
//! (tier requirements, category map) and the derived per-partner summary.
//!
//! Everything here is serde data with no I/O, and imports nothing from
//! [`crate::rules`] (layers point one way). Rules that *compute* things
//! live there, including the methods callers write as
//! `summary.view(now, ..)` / `row.status(now, ..)` /
//! `categories.category_for(course)` (inherent methods defined next to
//! their rule).
//!
//! Serde notes: structs use `#[serde(default)]` so an item written by an
//! older version (missing a newer field) still reads back; dates are
//! `DateTime<Utc>` and serialise as RFC 3339 strings.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod programs;
pub use programs::*;

/// Default validity of a certification when the LMS gives no `expires_at`.
pub const DEFAULT_VALIDITY_MONTHS: u32 = 24;

/// Default "expiring soon" window, in days.
pub const DEFAULT_WARNING_DAYS: u32 = 90;

/// Category used in per-category totals for certifications whose course
/// has no category (neither a course property nor a configured mapping).
pub const UNCATEGORIZED: &str = "Uncategorized";

// ---------------------------------------------------------------------------
// Tier
// ---------------------------------------------------------------------------

/// Partner tier as held in the CRM (`Partner_Tier__cf`): the tenant's own
/// free text, trimmed (see docs/source-contract.md — tiers are data, not an
/// enum). Two tiers are the same when their text is equal ignoring ASCII
/// case, so `premier` from the CRM and `Premier` in `PORTAL_TIERS` are one
/// tier; the text shown is the one the value was made from. What a tier
/// requires, and whether it is tracked, is configuration
/// ([`TierRequirements`], `PORTAL_UNTRACKED_TIERS`), never code.
#[derive(Clone, Debug)]
pub struct Tier(Cow<'static, str>);

// The tiers docs/source-contract.md lists, named for code and tests (they
// keep the paths of the former enum's variants). Any other text is a tier
// as good as these.
#[allow(non_upper_case_globals)]
impl Tier {
    pub const Premier: Tier = Tier(Cow::Borrowed("Premier"));
    pub const PremierPlus: Tier = Tier(Cow::Borrowed("Premier Plus"));
    pub const Select: Tier = Tier(Cow::Borrowed("Select"));
    pub const Registered: Tier = Tier(Cow::Borrowed("Registered"));
    pub const Certified: Tier = Tier(Cow::Borrowed("Certified"));
    pub const Aggregator: Tier = Tier(Cow::Borrowed("Aggregator"));
    pub const Pending: Tier = Tier(Cow::Borrowed("Pending"));
}

impl Tier {
    /// The tiers the CRM is known to use (docs/source-contract.md), highest
    /// first; the defaults of the configuration cover them.
    pub const KNOWN: [Tier; 7] = [
        Tier::Premier,
        Tier::PremierPlus,
        Tier::Select,
        Tier::Registered,
        Tier::Certified,
        Tier::Aggregator,
        Tier::Pending,
    ];

    /// The CRM value, surrounding whitespace removed. Blank gives `None`:
    /// the CRM has partners with no tier and we must not guess one. Any
    /// other text is a tier, known to the configuration or not.
    pub fn parse(s: &str) -> Option<Tier> {
        let s = s.trim();
        (!s.is_empty()).then(|| Tier(Cow::Owned(s.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(&self) -> impl Iterator<Item = u8> + '_ {
        self.0.bytes().map(|b| b.to_ascii_lowercase())
    }
}

impl PartialEq for Tier {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Tier {}

impl std::hash::Hash for Tier {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for b in self.key() {
            state.write_u8(b);
        }
        state.write_u8(0xff);
    }
}

impl PartialOrd for Tier {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Tier {
    /// Alphabetical ignoring ASCII case (consistent with `Eq`).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(other.key())
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Tier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Tier {
    /// Any non-blank text (items written when tiers were an enum hold the
    /// same names, so they read back unchanged).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Tier::parse(&s).ok_or_else(|| serde::de::Error::custom("blank tier"))
    }
}

/// Error of the strict parsers (`FromStr`) used for query parameters and
/// configuration, where an unknown value must be reported, not ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}'")]
pub struct ParseEnumError {
    pub kind: &'static str,
    pub value: String,
}

impl FromStr for Tier {
    type Err = ParseEnumError;
    /// Any non-blank text; blank is an error (a filter or setting naming
    /// "no tier" is a mistake, not a tier).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::parse(s).ok_or_else(|| ParseEnumError {
            kind: "tier",
            value: s.to_string(),
        })
    }
}

// ---------------------------------------------------------------------------
// CRM side
// ---------------------------------------------------------------------------

/// A partner company (CRM `Account`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct Partner {
    /// CRM Account `Id`; the partner's key everywhere in the portal.
    pub id: String,
    pub name: String,
    /// The CRM's text; `None` when blank.
    pub tier: Option<Tier>,
    /// `Account_Status__cf == "Active"`.
    pub account_status_active: bool,
    /// PAM name (`Account_Owner__cf`).
    pub owner_name: Option<String>,
    /// PAM e-mail, lower-cased so PAM token scoping compares exactly.
    pub owner_email: Option<String>,
    pub partner_type: Option<String>,
    pub website: Option<String>,
    /// Salesforce id (`CrmId`, 15 or 18 chars).
    pub crm_id: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    /// False when excluded by the sync filters or gone from the CRM. Partners
    /// are never deleted so history and pinned links survive a comeback.
    pub tracked: bool,
    /// The partner's LMS group, once matched (or pinned by an admin).
    pub lms_group_id: Option<String>,
    /// An admin fixed `lms_group_id` by hand; automatic matching must not
    /// change it.
    pub group_pinned: bool,
    /// CRM `ParentAccountId`: the account this one belongs under.
    pub parent_account_id: Option<String>,
    /// CRM `PrimaryUserId`: the partner's primary contact (a `User` id).
    pub primary_user_id: Option<String>,
}

/// A partner contact (CRM `User`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct Contact {
    pub id: String,
    /// As given by the CRM (mixed case happens); compare case-insensitively.
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    /// CRM Account id of the partner this contact belongs to.
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    /// `IsActive` and not excluded/vanished; inactive contacts never link a
    /// user to a partner.
    pub active: bool,
    pub updated_at: Option<DateTime<Utc>>,
    /// The LMS person with the same e-mail, when one was found.
    pub lms_user_id: Option<String>,
}

// ---------------------------------------------------------------------------
// LMS side
// ---------------------------------------------------------------------------

/// An LMS person (Northpass `people`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct LmsUser {
    pub id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub last_active_at: Option<DateTime<Utc>>,
    /// `None` = active (Northpass convention).
    pub deactivated_at: Option<DateTime<Utc>>,
}

impl LmsUser {
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }

    /// "First Last", falling back to whichever part exists, then the e-mail,
    /// so a row never shows an empty name.
    pub fn display_name(&self) -> String {
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            self.email.clone()
        } else {
            parts.join(" ")
        }
    }
}

/// An LMS group; one per partner company (name = partner name, sometimes
/// with a `ptr_` prefix).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct LmsGroup {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub user_count: u32,
    pub updated_at: Option<DateTime<Utc>>,
    /// False once a full sync no longer finds the group in the LMS: the
    /// record is kept (never deleted) and comes back if the group does, but
    /// an inactive group links no partner and gives no members.
    #[serde(default = "default_true")]
    pub active: bool,
}

fn default_true() -> bool {
    true
}

impl Default for LmsGroup {
    fn default() -> Self {
        LmsGroup {
            id: String::new(),
            name: String::new(),
            description: None,
            user_count: 0,
            updated_at: None,
            active: true,
        }
    }
}

/// A person in a group.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, Default)]
#[serde(default)]
pub struct Membership {
    pub group_id: String,
    pub user_id: String,
}

/// An LMS course. NPCU > 0 makes it a certification.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct Course {
    pub id: String,
    pub name: String,
    pub status: Option<String>,
    /// Learner URL.
    pub permalink: Option<String>,
    /// 0 (not a certification), 1 basic, 2 advanced. See
    /// [`crate::rules::npcu::parse_npcu`] for how the property is read.
    pub npcu: u8,
    /// The course property `category`, when set. Wins over the configured
    /// [`CategoryMap`].
    pub category: Option<String>,
    /// Validity used when the LMS gives no `expires_at`.
    pub validity_months: u32,
    pub updated_at: Option<DateTime<Utc>>,
    /// Gone from the catalog. Kept so old transcripts still resolve; a
    /// certification earned on a course that was later deleted still counts
    /// until it expires.
    pub deleted: bool,
}

impl Default for Course {
    fn default() -> Self {
        Course {
            id: String::new(),
            name: String::new(),
            status: None,
            permalink: None,
            npcu: 0,
            category: None,
            validity_months: DEFAULT_VALIDITY_MONTHS,
            updated_at: None,
            deleted: false,
        }
    }
}

impl Course {
    pub fn is_certification(&self) -> bool {
        self.npcu > 0
    }
}

/// Progress of one user on one course (transcript `progress_status`).
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum ProgressStatus {
    #[default]
    Enrolled,
    InProgress,
    Completed,
}

impl ProgressStatus {
    /// Parse the LMS value (`enrolled`, `in_progress`, `completed`), case-
    /// insensitively; `in-progress`/`in progress` are accepted too.
    pub fn parse(s: &str) -> Option<ProgressStatus> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        match norm.as_str() {
            "enrolled" => Some(ProgressStatus::Enrolled),
            "in_progress" | "started" => Some(ProgressStatus::InProgress),
            "completed" | "complete" => Some(ProgressStatus::Completed),
            _ => None,
        }
    }

    /// Renewal tie-break: further along wins.
    pub fn rank(self) -> u8 {
        match self {
            ProgressStatus::Enrolled => 0,
            ProgressStatus::InProgress => 1,
            ProgressStatus::Completed => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProgressStatus::Enrolled => "enrolled",
            ProgressStatus::InProgress => "in_progress",
            ProgressStatus::Completed => "completed",
        }
    }
}

impl fmt::Display for ProgressStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a record comes from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum RecordSource {
    #[default]
    Lms,
    Manual,
}

/// One user × course record (a transcript line, or a manual award turned
/// into a record). There is at most one per user × course after
/// [`crate::rules::renewal::dedup_records`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct Enrollment {
    pub user_id: String,
    pub course_id: String,
    pub progress: ProgressStatus,
    pub enrolled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// As given by the LMS; `None` means "completion + course validity".
    pub expires_at: Option<DateTime<Utc>>,
    pub score: Option<f64>,
    pub source: RecordSource,
}

// ---------------------------------------------------------------------------
// Admin-recorded data
// ---------------------------------------------------------------------------

/// A completion an admin records by hand (e.g. an exam taken outside the
/// LMS). It follows the same status rules as a synced completion.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct ManualAward {
    pub id: String,
    /// The LMS user, when known.
    pub user_id: Option<String>,
    /// Otherwise the holder's e-mail; resolved to an LMS user
    /// case-insensitively when that user exists.
    pub email: Option<String>,
    pub course_id: String,
    pub completed_at: DateTime<Utc>,
    /// `None` = completion + course validity, as for LMS records.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who recorded it (admin name/e-mail), for the audit trail.
    pub recorded_by: Option<String>,
    pub note: Option<String>,
}

impl ManualAward {
    /// The award as a completed record of `user_id`.
    pub fn to_enrollment(&self, user_id: &str) -> Enrollment {
        Enrollment {
            user_id: user_id.to_string(),
            course_id: self.course_id.clone(),
            progress: ProgressStatus::Completed,
            enrolled_at: None,
            started_at: None,
            completed_at: Some(self.completed_at),
            expires_at: self.expires_at,
            score: None,
            source: RecordSource::Manual,
        }
    }
}

/// A company-wide certification (held by the partner, not by a person).
/// It counts `npcu` towards the partner total while `starts_at <= now <
/// ends_at`, and follows the same expiring window as personal records.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct OrgCertification {
    pub id: String,
    pub partner_id: String,
    pub name: String,
    pub category: Option<String>,
    pub npcu: u8,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------

/// Status of one record at an instant. The first five are computed from
/// the data; the others (issue 16) are set by staff, but `AdminReview`,
/// which a certification that requires approval also shows when complete
/// (see [`crate::rules::programs::effective_status`]). New variants are
/// appended so stored items and API outputs of the old ones read the same.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum CertStatus {
    Enrolled,
    InProgress,
    Active,
    Expiring,
    Expired,
    Applied,
    Declined,
    Inactive,
    NotCompleted,
    AdminReview,
    Cancelled,
}

impl CertStatus {
    pub const ALL: [CertStatus; 11] = [
        CertStatus::Enrolled,
        CertStatus::InProgress,
        CertStatus::Active,
        CertStatus::Expiring,
        CertStatus::Expired,
        CertStatus::Applied,
        CertStatus::Declined,
        CertStatus::Inactive,
        CertStatus::NotCompleted,
        CertStatus::AdminReview,
        CertStatus::Cancelled,
    ];

    /// The ten statuses of the tracking view's quick filter.
    pub const TRACKING: [CertStatus; 10] = [
        CertStatus::InProgress,
        CertStatus::Applied,
        CertStatus::Declined,
        CertStatus::Active,
        CertStatus::Inactive,
        CertStatus::Expired,
        CertStatus::NotCompleted,
        CertStatus::AdminReview,
        CertStatus::Expiring,
        CertStatus::Cancelled,
    ];

    /// Statuses staff may set by hand (`PUT /api/admin/status`); `Active`
    /// there means "approved" (see [`crate::rules::programs`]).
    pub const MANUAL: [CertStatus; 7] = [
        CertStatus::Active,
        CertStatus::Applied,
        CertStatus::Declined,
        CertStatus::Inactive,
        CertStatus::NotCompleted,
        CertStatus::AdminReview,
        CertStatus::Cancelled,
    ];

    /// Whether a record in this status counts NPCU (expiring still counts:
    /// it is active until its expiry instant).
    pub fn counts(self) -> bool {
        matches!(self, CertStatus::Active | CertStatus::Expiring)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CertStatus::Enrolled => "enrolled",
            CertStatus::InProgress => "in_progress",
            CertStatus::Active => "active",
            CertStatus::Expiring => "expiring",
            CertStatus::Expired => "expired",
            CertStatus::Applied => "applied",
            CertStatus::Declined => "declined",
            CertStatus::Inactive => "inactive",
            CertStatus::NotCompleted => "not_completed",
            CertStatus::AdminReview => "admin_review",
            CertStatus::Cancelled => "cancelled",
        }
    }

    /// The words the tracking view shows ("Admin review").
    pub fn label(self) -> &'static str {
        match self {
            CertStatus::Enrolled => "Enrolled",
            CertStatus::InProgress => "In progress",
            CertStatus::Active => "Active",
            CertStatus::Expiring => "Expiring",
            CertStatus::Expired => "Expired",
            CertStatus::Applied => "Applied",
            CertStatus::Declined => "Declined",
            CertStatus::Inactive => "Inactive",
            CertStatus::NotCompleted => "Not completed",
            CertStatus::AdminReview => "Admin review",
            CertStatus::Cancelled => "Cancelled",
        }
    }
}

impl fmt::Display for CertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CertStatus {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        // "admin review", "Admin-review" and "admin_review" are one status.
        let norm = s.replace([' ', '-'], "_");
        CertStatus::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(&norm))
            .ok_or_else(|| ParseEnumError {
                kind: "status",
                value: s.to_string(),
            })
    }
}

// ---------------------------------------------------------------------------
// Configurable tables
// ---------------------------------------------------------------------------

/// NPCU each tier must hold (`PORTAL_TIERS`). A tier absent from the table
/// has **no configured requirement**: its partners are reported as "tier
/// not configured", never as meeting it. A blank tier (the CRM gives none)
/// requires 0.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TierRequirements {
    pub by_tier: BTreeMap<Tier, u32>,
}

impl Default for TierRequirements {
    /// The program's table over every tier docs/source-contract.md lists
    /// (but `Pending`, which is not tracked): Premier 20, Premier Plus 20,
    /// Select 10, Registered 5, Certified 0, Aggregator 0.
    fn default() -> Self {
        TierRequirements {
            by_tier: BTreeMap::from([
                (Tier::Premier, 20),
                (Tier::PremierPlus, 20),
                (Tier::Select, 10),
                (Tier::Registered, 5),
                (Tier::Certified, 0),
                (Tier::Aggregator, 0),
            ]),
        }
    }
}

impl TierRequirements {
    /// The default table as `PORTAL_TIERS` spells it.
    pub const DEFAULT_SETTING: &'static str =
        "Premier=20,Premier Plus=20,Select=10,Registered=5,Certified=0,Aggregator=0";

    /// NPCU required for `tier`: `Some(0)` for a blank tier (`None`),
    /// `None` for a tier the table does not list (not configured).
    pub fn required(&self, tier: Option<&Tier>) -> Option<u32> {
        match tier {
            None => Some(0),
            Some(t) => self.by_tier.get(t).copied(),
        }
    }
}

/// How one configured category rule selects courses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum CategoryMatcher {
    /// Exact course id.
    CourseId(String),
    /// Course name starts with this text (case-insensitive).
    NamePrefix(String),
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CategoryRule {
    pub matcher: CategoryMatcher,
    pub category: String,
}

/// Configured course → product category mapping. The course property
/// `category` wins when present; then a course-id rule; then the longest
/// matching name prefix. See [`crate::rules::category::category_for`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct CategoryMap {
    pub rules: Vec<CategoryRule>,
}

// ---------------------------------------------------------------------------
// Per-partner summary (read by all-partner reports)
// ---------------------------------------------------------------------------

/// One counted certification: the fact a [`PartnerSummary`] is counted
/// from (see [`crate::rules::summary::count_certs`]). The summary keeps
/// counts, not these, so its size does not grow with the partner.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct SummaryCert {
    pub user_id: String,
    pub course_id: String,
    pub category: Option<String>,
    pub npcu: u8,
    pub completed_at: Option<DateTime<Utc>>,
    /// Effective expiry; `None` only when neither the LMS nor a completion
    /// date gives one (the record then never expires).
    pub expires_at: Option<DateTime<Utc>>,
}

/// A company-wide certification held in a [`PartnerSummary`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct SummaryOrgCert {
    pub id: String,
    pub name: String,
    pub category: Option<String>,
    pub npcu: u8,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The per-partner item that all-partner reports read (leaderboard, gaps,
/// overview, owner report). Build it with
/// [`crate::rules::summary::build_partner_summary`]; read numbers through
/// [`PartnerSummary::view`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct PartnerSummary {
    pub partner_id: String,
    pub name: String,
    pub tier: Option<Tier>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
    pub partner_type: Option<String>,
    pub tracked: bool,
    pub lms_group_id: Option<String>,
    pub lms_group_name: Option<String>,
    /// Distinct member users (group members ∪ users reached by contact
    /// e-mail), each once.
    pub user_count: u32,
    /// The counted certifications — completed, NPCU > 0, one per user ×
    /// course after renewal, not yet expired at `computed_at` — as counts
    /// per category (`Uncategorized` when none) and expiry bucket (see
    /// [`crate::rules::summary::expiry_bucket`]: a day, a month when far
    /// off, or `never`). Dates, not statuses, so the numbers stay right as
    /// time passes without a re-sync; counts, not a list, so the item stays
    /// far below DynamoDB's 400 KB whatever the partner's size. Anything per
    /// certification lives in the partner's CERT rows.
    pub counts: BTreeMap<String, BTreeMap<String, BucketCount>>,
    /// Users by the bucket of their last counted certification's expiry
    /// (a user is certified until then).
    pub users_by_expiry: BTreeMap<String, u32>,
    /// The partner's dashboard rows (records of certification courses, any
    /// status) by progress (`enrolled`, `in_progress`, `completed`): how
    /// many lines the paged dashboard has.
    pub rows_by_progress: BTreeMap<String, u32>,
    /// Company-wide certifications not yet ended at `computed_at`.
    pub org_certs: Vec<SummaryOrgCert>,
    pub computed_at: DateTime<Utc>,
    /// Items written before the summary held counts carried one entry per
    /// certification here; they are still read (and counted at
    /// [`PartnerSummary::view`]) until the next recompute replaces them.
    #[serde(rename = "certs", skip_serializing)]
    pub legacy_certs: Vec<SummaryCert>,
}

/// Counted certifications of one category in one expiry bucket. Stored as
/// `[certifications, npcu, users]` — no attribute names per entry, as
/// DynamoDB counts every name's bytes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(from = "(u32, u32, u32)", into = "(u32, u32, u32)")]
pub struct BucketCount {
    pub certifications: u32,
    pub npcu: u32,
    /// Users whose last counted certification of this category expires in
    /// this bucket.
    pub users: u32,
}

impl From<(u32, u32, u32)> for BucketCount {
    fn from((certifications, npcu, users): (u32, u32, u32)) -> Self {
        BucketCount {
            certifications,
            npcu,
            users,
        }
    }
}

impl From<BucketCount> for (u32, u32, u32) {
    fn from(b: BucketCount) -> Self {
        (b.certifications, b.npcu, b.users)
    }
}

/// Per-category totals of a [`SummaryView`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct CategoryTotals {
    /// Distinct users holding at least one counted cert of the category.
    pub users: u32,
    pub npcu: u32,
    pub certifications: u32,
}

/// Where a partner stands against its tier. Serialised as the words the
/// reports show.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Standing {
    /// The requirement is configured and the partner holds it (a blank
    /// tier requires 0, so it is met).
    #[default]
    #[serde(rename = "met")]
    Met,
    /// The requirement is configured and the partner is short of it.
    #[serde(rename = "below")]
    Below,
    /// The partner's tier has no requirement in `PORTAL_TIERS`: nothing can
    /// be said, so it is neither met nor a gap.
    #[serde(rename = "tier not configured")]
    TierNotConfigured,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Met => "met",
            Standing::Below => "below",
            Standing::TierNotConfigured => "tier not configured",
        }
    }
}

impl fmt::Display for Standing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Numbers of a partner at an instant, derived from a [`PartnerSummary`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct SummaryView {
    /// Σ NPCU of counted certs (personal + organisation).
    pub npcu: u32,
    pub required_npcu: u32,
    /// Shortfall against the tier requirement, 0 when met (and when the
    /// tier has no configured requirement: see `standing`).
    pub gap: u32,
    /// Only when the tier has a configured requirement and it is met.
    pub meets_requirement: bool,
    pub standing: Standing,
    /// Distinct users with at least one counted certification.
    pub certified_users: u32,
    /// Counted certifications (personal + organisation).
    pub certifications: u32,
    /// Keyed by category ([`UNCATEGORIZED`] when none).
    pub by_category: BTreeMap<String, CategoryTotals>,
    /// Counted certifications in the expiring window.
    pub expiring: u32,
}

// ---------------------------------------------------------------------------
// Dashboard rows
// ---------------------------------------------------------------------------

/// One certification line of a partner's dashboard (or of the user
/// certifications report). Holds dates; the status is computed at read time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct CertRow {
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    pub course_id: String,
    pub course_name: String,
    pub category: Option<String>,
    pub npcu: u8,
    pub progress: ProgressStatus,
    pub enrolled_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Effective expiry (LMS value, else completion + validity).
    pub expires_at: Option<DateTime<Utc>>,
    pub permalink: Option<String>,
    pub source: RecordSource,
    /// A status staff set (issue 16); wins over the computed one. Absent
    /// from the item when unset, so rows without one hash as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_override: Option<CertStatus>,
    /// Complete, but its certification requires approval and has none yet:
    /// shows *Admin review* and does not count.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub awaiting_approval: bool,
    /// The note of the manual status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cert_status_serialises_snake_case_and_parses_back() {
        let names: Vec<String> = CertStatus::ALL
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "enrolled",
                "in_progress",
                "active",
                "expiring",
                "expired",
                "applied",
                "declined",
                "inactive",
                "not_completed",
                "admin_review",
                "cancelled"
            ]
        );
        assert_eq!(
            "Admin review".parse::<CertStatus>(),
            Ok(CertStatus::AdminReview)
        );
        assert_eq!(
            "not-completed".parse::<CertStatus>(),
            Ok(CertStatus::NotCompleted)
        );
        for s in CertStatus::ALL {
            assert_eq!(s.as_str().parse::<CertStatus>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(" EXPIRING ".parse::<CertStatus>(), Ok(CertStatus::Expiring));
        assert!("soon".parse::<CertStatus>().is_err());
    }

    #[test]
    fn progress_parses_lms_values() {
        assert_eq!(
            ProgressStatus::parse("in_progress"),
            Some(ProgressStatus::InProgress)
        );
        assert_eq!(
            ProgressStatus::parse("Completed"),
            Some(ProgressStatus::Completed)
        );
        assert_eq!(
            ProgressStatus::parse("enrolled"),
            Some(ProgressStatus::Enrolled)
        );
        assert_eq!(ProgressStatus::parse("failed"), None);
        assert_eq!(
            serde_json::to_value(ProgressStatus::InProgress).unwrap(),
            json!("in_progress")
        );
    }

    #[test]
    fn tier_parse_and_strict_from_str() {
        assert_eq!(Tier::parse("registered"), Some(Tier::Registered));
        assert_eq!(Tier::parse(""), None);
        assert!("".parse::<Tier>().is_err());
        assert!("  ".parse::<Tier>().is_err());
        assert_eq!("Pending".parse::<Tier>(), Ok(Tier::Pending));
        // Any other text is a tier, kept as the CRM spells it (trimmed).
        let gold = Tier::parse("  Gold Elite ").unwrap();
        assert_eq!(gold.as_str(), "Gold Elite");
        assert_eq!(gold, Tier::parse("GOLD ELITE").unwrap());
        assert_eq!(Tier::parse("premier plus"), Some(Tier::PremierPlus));
        assert_ne!(Tier::Premier, Tier::PremierPlus);
    }

    #[test]
    fn tier_equality_hash_and_order_ignore_case() {
        use std::collections::{BTreeSet, HashSet};
        let a = Tier::parse("select").unwrap();
        let h: HashSet<Tier> = [a.clone(), Tier::Select].into_iter().collect();
        assert_eq!(h.len(), 1);
        let b: BTreeSet<Tier> = [a, Tier::Select, Tier::parse("aggregator").unwrap()]
            .into_iter()
            .collect();
        assert_eq!(b.len(), 2);
        assert_eq!(
            b.iter()
                .map(|t| t.as_str().to_lowercase())
                .collect::<Vec<_>>(),
            ["aggregator", "select"]
        );
    }

    #[test]
    fn tier_serialises_as_its_text_and_rejects_blank() {
        let t = Tier::parse("Premier Plus").unwrap();
        assert_eq!(serde_json::to_value(&t).unwrap(), json!("Premier Plus"));
        let back: Tier = serde_json::from_value(json!(" Aggregator ")).unwrap();
        assert_eq!(back.as_str(), "Aggregator");
        assert!(serde_json::from_value::<Tier>(json!("  ")).is_err());
        // An item written when tiers were an enum reads back.
        let p: Partner = serde_json::from_value(json!({"id": "1", "tier": "Select"})).unwrap();
        assert_eq!(p.tier, Some(Tier::Select));
    }

    #[test]
    fn standing_serialises_as_report_words() {
        assert_eq!(
            serde_json::to_value(Standing::TierNotConfigured).unwrap(),
            json!("tier not configured")
        );
        assert_eq!(Standing::Below.to_string(), "below");
    }

    #[test]
    fn course_missing_fields_take_defaults() {
        let c: Course = serde_json::from_value(json!({"id": "c1", "name": "X"})).unwrap();
        assert_eq!(c.validity_months, DEFAULT_VALIDITY_MONTHS);
        assert_eq!(c.npcu, 0);
        assert!(!c.is_certification());
    }

    #[test]
    fn display_name_falls_back_to_email() {
        let mut u = LmsUser {
            id: "u".into(),
            email: "a@b.com".into(),
            first_name: Some("Ann".into()),
            last_name: Some(" ".into()),
            ..Default::default()
        };
        assert_eq!(u.display_name(), "Ann");
        u.last_name = Some("Lee".into());
        assert_eq!(u.display_name(), "Ann Lee");
        u.first_name = None;
        u.last_name = None;
        assert_eq!(u.display_name(), "a@b.com");
        assert!(u.is_active());
    }

    #[test]
    fn summary_round_trips_through_json() {
        let mut s = PartnerSummary {
            partner_id: "P".into(),
            tier: Some(Tier::Select),
            ..Default::default()
        };
        crate::rules::summary::count_certs(
            &mut s,
            &[SummaryCert {
                user_id: "u".into(),
                course_id: "c".into(),
                npcu: 2,
                ..Default::default()
            }],
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["counts"]["Uncategorized"]["never"], json!([1, 2, 1]));
        assert!(v.get("certs").is_none(), "{v}");
        let back: PartnerSummary = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn legacy_summary_with_a_cert_list_still_reads() {
        let s: PartnerSummary = serde_json::from_value(json!({
            "partner_id": "P",
            "certs": [{"user_id": "u", "course_id": "c", "npcu": 2}],
            "computed_at": "2026-11-23T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(s.legacy_certs.len(), 1);
        let v = s.view(s.computed_at, 90, &TierRequirements::default());
        assert_eq!((v.npcu, v.certified_users), (2, 1));
    }
}
