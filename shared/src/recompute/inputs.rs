//! The narrow port of the partner recompute: exactly the reads one
//! partner's numbers need, and the one write that stores them. The store
//! implements it over DynamoDB ([`super::dynamo`]); [`super::memory`]
//! implements it over plain vectors for the domain tests.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::model::{
    CertRow, Contact, Course, Enrollment, LmsGroup, LmsUser, ManualAward, Membership,
    OrgCertification, Partner, PartnerSummary,
};
use crate::rules::programs::Programs;

/// Why a recompute could not read or write.
#[derive(Debug, thiserror::Error)]
pub enum RecomputeError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub type Result<T> = std::result::Result<T, RecomputeError>;

/// What is stored for a partner: one Query of its partition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    pub profile: Option<Partner>,
    pub summary: Option<PartnerSummary>,
    /// Dashboard rows by (user, course). `None`: an item under that key the
    /// current model cannot read (it is rewritten or deleted).
    pub rows: BTreeMap<(String, String), Option<CertRow>>,
    pub org_certs: Vec<OrgCertification>,
}

/// An LMS user with the enrollments stored for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub user: LmsUser,
    pub enrollments: Vec<Enrollment>,
}

/// What changed for one partner, to be written in this order: rows, row
/// deletions, then the summary, so a failure half-way never leaves a new
/// summary over old rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub put_rows: Vec<CertRow>,
    /// (user, course) of rows that no longer apply.
    pub delete_rows: Vec<(String, String)>,
    /// `None` when the stored summary is still right.
    pub summary: Option<PartnerSummary>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.put_rows.is_empty() && self.delete_rows.is_empty() && self.summary.is_none()
    }
}

/// The reads and the write of one partner's recompute. Every read is keyed
/// by the partner or by what its own items name, so its cost follows the
/// partner's size, never the table's. Reference data (awards, programs,
/// courses) may be memoised by an implementation across partners.
pub trait PartnerInputs: Sync {
    fn stored(&self, partner_id: &str) -> impl Future<Output = Result<Stored>> + Send;
    fn group(&self, group_id: &str) -> impl Future<Output = Result<Option<LmsGroup>>> + Send;
    fn members(&self, group_id: &str) -> impl Future<Output = Result<Vec<Membership>>> + Send;
    /// Contacts whose account is `partner_id` (active or not).
    fn contacts(&self, partner_id: &str) -> impl Future<Output = Result<Vec<Contact>>> + Send;
    /// Ids of the LMS users with this e-mail (case-insensitive).
    fn users_with_email(&self, email: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The users of `ids` that exist, with their stored enrollments.
    fn people(&self, ids: &[String]) -> impl Future<Output = Result<Vec<Person>>> + Send;
    /// The courses of `ids` that exist.
    fn courses(&self, ids: &BTreeSet<String>) -> impl Future<Output = Result<Vec<Course>>> + Send;
    fn awards(&self) -> impl Future<Output = Result<Vec<ManualAward>>> + Send;
    fn programs(&self) -> impl Future<Output = Result<Programs>> + Send;
    fn write(&self, partner_id: &str, changes: Changes) -> impl Future<Output = Result<()>> + Send;
}
