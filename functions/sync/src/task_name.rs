//! The sync tasks, by the names schedules and admins use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskName {
    #[serde(rename = "lms-users")]
    LmsUsers,
    #[serde(rename = "lms-courses")]
    LmsCourses,
    #[serde(rename = "crm-partners")]
    CrmPartners,
    #[serde(rename = "lms-groups")]
    LmsGroups,
    #[serde(rename = "crm-contacts")]
    CrmContacts,
    #[serde(rename = "lms-enrollments")]
    LmsEnrollments,
    #[serde(rename = "crm-push")]
    CrmPush,
    #[serde(rename = "lms-recert")]
    LmsRecert,
}

impl TaskName {
    /// Dependency order: users before contacts (contacts link to users by
    /// e-mail), partners before groups (matching needs both sides; each of
    /// the two re-matches so either order converges), groups and contacts
    /// before enrollments (only partner users' transcripts are fetched),
    /// push last (it sends the recomputed totals).
    pub const ALL: [TaskName; 7] = [
        TaskName::LmsUsers,
        TaskName::LmsCourses,
        TaskName::CrmPartners,
        TaskName::LmsGroups,
        TaskName::CrmContacts,
        TaskName::LmsEnrollments,
        TaskName::CrmPush,
    ];

    /// Tasks outside the sync chain: scheduled on their own (daily), run
    /// on demand by name, never part of `all` (recertification enrolment
    /// writes to the LMS and reads only the stored certifications).
    pub const OWN_SCHEDULE: [TaskName; 1] = [TaskName::LmsRecert];

    /// Every task: the chain, then the ones with their own schedule.
    pub fn every() -> impl Iterator<Item = TaskName> {
        TaskName::ALL.into_iter().chain(TaskName::OWN_SCHEDULE)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskName::LmsUsers => "lms-users",
            TaskName::LmsCourses => "lms-courses",
            TaskName::CrmPartners => "crm-partners",
            TaskName::LmsGroups => "lms-groups",
            TaskName::CrmContacts => "crm-contacts",
            TaskName::LmsEnrollments => "lms-enrollments",
            TaskName::CrmPush => "crm-push",
            TaskName::LmsRecert => "lms-recert",
        }
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        TaskName::every().find(|t| t.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = TaskName::every().map(TaskName::as_str).collect();
            format!(
                "unknown task '{s}' (expected one of: all, {})",
                names.join(", ")
            )
        })
    }
}
