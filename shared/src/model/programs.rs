//! Certification programs as the program owners define them (issue 16):
//! a certification made of several courses, and the status staff set on a
//! person's certification by hand. Plain serde data; the rules are in
//! [`crate::rules::programs`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CertStatus, DEFAULT_VALIDITY_MONTHS};

/// Default lead time of a recertification enrolment, in days before expiry.
pub const DEFAULT_RECERT_DAYS_BEFORE: u32 = 30;

/// How many of a definition's courses must be completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Require {
    /// Every course.
    #[default]
    All,
    /// At least this many of them (1 ..= number of courses).
    AtLeast(u32),
}

impl Serialize for Require {
    /// `"all"` or the number, as the admin API takes it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Require::All => s.serialize_str("all"),
            Require::AtLeast(n) => s.serialize_u32(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Require {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Require::AtLeast(n)),
            Raw::S(s) if s.trim().eq_ignore_ascii_case("all") => Ok(Require::All),
            Raw::S(s) => s.trim().parse().map(Require::AtLeast).map_err(|_| {
                serde::de::Error::custom(format!("expected \"all\" or a number, got '{s}'"))
            }),
        }
    }
}

/// A certification an admin defined: awarded when a person has completed
/// the required courses (see [`crate::rules::programs::award`]). Its id is
/// also the `course_id` of the dashboard rows it produces, and the
/// `certification` a manual status names.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct CertDefinition {
    pub id: String,
    pub name: String,
    /// LMS course ids, each once.
    pub courses: Vec<String>,
    pub require: Require,
    /// Validity from the last required completion.
    pub validity_months: u32,
    pub npcu: u8,
    pub category: Option<String>,
    /// Course the holder is enrolled in before expiry; completing it
    /// renews the certification.
    pub recert_course_id: Option<String>,
    /// LMS group that has the recert course assigned: Northpass enrols a
    /// person in a course by adding them to such a group
    /// (docs/source-contract.md, "Enrolling in a course"). Set exactly
    /// when `recert_course_id` is.
    pub recert_group_id: Option<String>,
    pub recert_days_before: u32,
    /// A complete certification shows *Admin review* (and does not count)
    /// until staff approve it (manual status `active`).
    pub requires_approval: bool,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

impl Default for CertDefinition {
    fn default() -> Self {
        CertDefinition {
            id: String::new(),
            name: String::new(),
            courses: Vec::new(),
            require: Require::All,
            validity_months: DEFAULT_VALIDITY_MONTHS,
            npcu: 0,
            category: None,
            recert_course_id: None,
            recert_group_id: None,
            recert_days_before: DEFAULT_RECERT_DAYS_BEFORE,
            requires_approval: false,
            updated_at: None,
            updated_by: None,
        }
    }
}

/// One change of a manual status (the item keeps every one).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct StatusChange {
    /// `None` = cleared (the computed status applies again).
    pub status: Option<CertStatus>,
    pub note: Option<String>,
    pub by: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

/// The status staff set on one person's certification (a definition id or,
/// for a one-course certification, the course id). `status: None` is a
/// cleared status, kept for its history.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct ManualStatus {
    pub user_id: String,
    pub certification: String,
    pub status: Option<CertStatus>,
    pub note: Option<String>,
    pub set_by: Option<String>,
    pub set_at: Option<DateTime<Utc>>,
    /// Oldest first, the current one last.
    pub history: Vec<StatusChange>,
    /// Bumped by every change (optimistic concurrency of the store).
    pub version: u64,
}
