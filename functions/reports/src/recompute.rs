//! Recomputes one partner's summary and dashboard rows after an admin
//! change (manual award, organisation certification, group pin), so the
//! change shows at once instead of after the next scheduled sync. Uses the
//! same rules the sync uses (`build_partner_summary`, `build_cert_rows`)
//! and writes rows and summary together (`portal_core::store::transact`).

use futures::{StreamExt, TryStreamExt};
use portal_core::model::{Contact, LmsGroup, LmsUser, Membership, Partner, PartnerSummary};
use portal_core::rules::programs::summary_and_rows;
use portal_core::rules::summary::PartnerData;
use portal_core::store::keys;

use crate::http::ApiError;
use crate::AppState;

/// The people of one partner as the rules see them: its group, the
/// group's memberships, every contact, and the candidate users (group
/// members plus users reached by the partner's contacts' e-mails).
pub struct PartnerPeople {
    pub group: Option<LmsGroup>,
    pub memberships: Vec<Membership>,
    pub contacts: Vec<Contact>,
    pub users: Vec<LmsUser>,
}

/// Loads [`PartnerPeople`] of `partner` (used by the recompute and by the
/// staff partner page, so both see the same people).
pub async fn load_people(state: &AppState, partner: &Partner) -> Result<PartnerPeople, ApiError> {
    let store = &state.store;
    let group: Option<LmsGroup> = match partner.lms_group_id.as_deref() {
        Some(g) => store.get_as(&keys::group_pk(g), keys::PROFILE).await?,
        None => None,
    };
    let memberships = match partner.lms_group_id.as_deref() {
        Some(g) => store.group_members(g).await?,
        None => Vec::new(),
    };
    let contacts = store.all_contacts().await?;
    let mut user_ids: Vec<String> = memberships.iter().map(|m| m.user_id.clone()).collect();
    for c in contacts
        .iter()
        .filter(|c| c.account_id.as_deref() == Some(partner.id.as_str()))
    {
        for link in store.lookup_email(&c.email).await? {
            user_ids.extend(link.user_id);
        }
    }
    user_ids.sort();
    user_ids.dedup();
    let users: Vec<LmsUser> = futures::stream::iter(user_ids)
        .map(|id| {
            let store = store.clone();
            async move { store.get_user(&id).await }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    Ok(PartnerPeople {
        group,
        memberships,
        contacts,
        users,
    })
}

/// Rebuilds and stores the summary of `partner_id`; `None` when the
/// partner does not exist.
pub async fn recompute_partner(
    state: &AppState,
    partner_id: &str,
) -> Result<Option<PartnerSummary>, ApiError> {
    let store = &state.store;
    let Some(partner) = store.get_partner(partner_id).await? else {
        return Ok(None);
    };
    let (people, courses, awards, dashboard, programs) = futures::try_join!(
        load_people(state, &partner),
        async { Ok(store.all_courses().await?) },
        async { Ok(store.all_awards().await?) },
        async { Ok(store.partner_dashboard(partner_id).await?) },
        // PROGRAMS HOOK (issue 16): definitions and manual statuses.
        async { Ok(store.load_programs().await?) },
    )?;
    let PartnerPeople {
        group,
        memberships,
        contacts,
        users,
    } = people;
    let enrollments: Vec<_> =
        futures::stream::iter(users.iter().map(|u| u.id.clone()).collect::<Vec<_>>())
            .map(|id| {
                let store = store.clone();
                async move { store.user_enrollments(&id).await }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<_>>()
            .await?
            .into_iter()
            .flatten()
            .collect();
    let data = PartnerData {
        partner: &partner,
        group: group.as_ref(),
        memberships: &memberships,
        contacts: &contacts,
        users: &users,
        enrollments: &enrollments,
        courses: &courses,
        manual_awards: &awards,
        org_certs: &dashboard.org_certs,
        categories: &state.categories,
        default_validity_months: state.default_validity_months,
    };
    // PROGRAMS HOOK (issue 16): the plain rules when there are none.
    let (summary, rows) = summary_and_rows(&data, &programs, state.clock.now());
    // Rows and summary together: one transaction when the change is small
    // (an award moves a few rows), else rows first and the summary last,
    // so a failure never leaves a new summary over old rows.
    store.replace_partner(&summary, &rows).await?;
    Ok(Some(summary))
}
