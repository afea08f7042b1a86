//! Enrolling a person in a course (recertification, issue 16).
//!
//! Northpass documents enrolment through groups: a group has courses
//! assigned, and adding a person to it enrols them in those courses
//! (docs/source-contract.md, "Enrolling in a course"). No direct
//! course-enrollment call is documented there, so the portal uses the
//! group route: `POST /v2/groups/{id}/relationships/people`, through the
//! client's usual retry and rate limiting ([`NorthpassClient::add_member`]).

use super::NorthpassClient;
use crate::sources::error::SourceError;

impl NorthpassClient {
    /// Enrols `person_id` in the courses assigned to `group_id` by adding
    /// them to the group.
    ///
    /// "Already a member" (422) counts as done: the retry of a POST whose
    /// answer was lost must not enrol twice. A person still in the group
    /// from an earlier enrolment (an earlier expiry) would not be enrolled
    /// again by a plain add, so with `rejoin` they are removed first (404,
    /// not a member, is fine) and added again.
    pub async fn enrol_through_group(
        &self,
        group_id: &str,
        person_id: &str,
        rejoin: bool,
    ) -> Result<(), SourceError> {
        if rejoin {
            self.remove_member(group_id, person_id).await?;
        }
        self.add_member(group_id, person_id).await
    }
}
