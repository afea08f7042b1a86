//! The membership reports: `inactive-users`, `lms-users-not-in-crm` and
//! `group-audit` (registered with the other reports in `routes`). The rows
//! are `portal_core::reports::audit`'s; this module only reads the store.
//!
//! Reads, beyond the summaries: the partner profiles, the CRM contacts and
//! the LMS users (one paginated type-index Query each), and the members of
//! each partner group needed (one Query per group partition, a few at a
//! time): the groups of the partners shown, and for `group-audit` the
//! groups of every tracked partner (a user in two partner groups is found
//! only by reading both).

use std::collections::{BTreeSet, HashMap};

use futures::{StreamExt, TryStreamExt};
use portal_core::access::Grant;
use portal_core::model::{Contact, LmsUser, Membership, Partner};
use portal_core::reports::audit::{self, GroupAuditRow, InactiveUserRow, LmsUserRow, Picture};
use portal_core::reports::rows::Scored;
use portal_core::reports::trends::DEFAULT_RECENT_DAYS;
use portal_core::reports::ReportQuery;

use crate::http::ApiError;
use crate::AppState;

/// Group partitions read at once.
const GROUP_CONCURRENCY: usize = 8;

/// What the three reports read.
struct Loaded {
    partners: Vec<Partner>,
    contacts: Vec<Contact>,
    users: Vec<LmsUser>,
    memberships: Vec<Membership>,
}

async fn load(
    state: &AppState,
    scored: &[Scored<'_>],
    every_group: bool,
) -> Result<Loaded, ApiError> {
    let store = &state.store;
    let (partners, contacts, users) = futures::try_join!(
        store.all_partners(),
        store.all_contacts(),
        store.all_users()
    )?;
    let shown: BTreeSet<&str> = scored
        .iter()
        .map(|s| s.summary.partner_id.as_str())
        .collect();
    let groups: BTreeSet<String> = partners
        .iter()
        .filter(|p| p.tracked && (every_group || shown.contains(p.id.as_str())))
        .filter_map(|p| p.lms_group_id.clone())
        .collect();
    let memberships: Vec<Vec<Membership>> = futures::stream::iter(groups)
        .map(|g| {
            let store = store.clone();
            async move { store.group_members(&g).await }
        })
        .buffer_unordered(GROUP_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(Loaded {
        partners,
        contacts,
        users,
        memberships: memberships.into_iter().flatten().collect(),
    })
}

fn picture<'a>(l: &'a Loaded, scored: &[Scored<'a>]) -> Picture<'a> {
    let by_id: HashMap<&str, &Partner> = l.partners.iter().map(|p| (p.id.as_str(), p)).collect();
    Picture {
        shown: scored
            .iter()
            .filter_map(|s| Some((s.summary, *by_id.get(s.summary.partner_id.as_str())?)))
            .collect(),
        memberships: &l.memberships,
        contacts: &l.contacts,
        users: &l.users,
    }
}

/// `inactive-users?days=N` (default 30).
pub async fn inactive_users(
    state: &AppState,
    scored: &[Scored<'_>],
    q: &ReportQuery,
) -> Result<Vec<InactiveUserRow>, ApiError> {
    let l = load(state, scored, false).await?;
    let members = picture(&l, scored).members();
    Ok(audit::inactive_users(
        &members,
        state.clock.now(),
        q.days.unwrap_or(DEFAULT_RECENT_DAYS),
    ))
}

/// `lms-users-not-in-crm`.
pub async fn lms_users_not_in_crm(
    state: &AppState,
    scored: &[Scored<'_>],
) -> Result<Vec<LmsUserRow>, ApiError> {
    let l = load(state, scored, false).await?;
    let members = picture(&l, scored).members();
    Ok(audit::lms_users_not_in_crm(&members, &l.contacts))
}

/// `group-audit`.
pub async fn group_audit(
    state: &AppState,
    grant: &Grant,
    scored: &[Scored<'_>],
) -> Result<Vec<GroupAuditRow>, ApiError> {
    let l = load(state, scored, true).await?;
    let members = picture(&l, scored).members();
    Ok(audit::group_audit(
        &members,
        &l.partners,
        &l.memberships,
        &l.contacts,
        |p| grant.can_see_partner(&p.id, p.owner_email.as_deref()),
    ))
}
