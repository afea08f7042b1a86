//! A partner's dashboard as the API, the partner page and the staff page
//! show it: the access check first, then a page of its certification lines
//! (or all of them, for the forecast and history).

use portal_core::access::Grant;
use portal_core::reports::{dashboard, params};

use crate::http::ApiError;
use crate::AppState;

/// Certification lines a dashboard shows at once; `?cursor=` pages on, so
/// a partner of any size is read and rendered a page at a time.
pub const ROWS: usize = 500;

/// The `cursor` parameter of a dashboard address, if any.
pub fn cursor_of(pairs: &[(String, String)]) -> Option<&str> {
    pairs
        .iter()
        .find(|(k, v)| k == "cursor" && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

/// Dashboard of `partner_id` if the grant may see it, with the page of
/// lines after `cursor` (`None`: the first); unknown and out-of-scope look
/// the same (404) *and cost the same*: a PAM's scope is checked on the
/// profile (one GetItem) before the partition is read, so an unknown id
/// and another owner's partner are one GetItem each and response time
/// tells nothing. A cursor that is not one of the partner's is a 400.
pub async fn load_page(
    state: &AppState,
    grant: &Grant,
    partner_id: &str,
    cursor: Option<&str>,
) -> Result<dashboard::DashboardView, ApiError> {
    load_lines(state, grant, partner_id, Lines::Page(cursor)).await
}

/// Dashboard of `partner_id` with every certification line, for what needs
/// each line's dates (the forecast and history APIs): one Query over the
/// partner's partition, paged by the store. Same access as
/// [`load_page`].
pub async fn load_all(
    state: &AppState,
    grant: &Grant,
    partner_id: &str,
) -> Result<dashboard::DashboardView, ApiError> {
    load_lines(state, grant, partner_id, Lines::All).await
}

/// Which certification lines a dashboard read takes.
enum Lines<'a> {
    /// [`ROWS`] lines after the cursor (`None`: the first).
    Page(Option<&'a str>),
    All,
}

async fn load_lines(
    state: &AppState,
    grant: &Grant,
    partner_id: &str,
    lines: Lines<'_>,
) -> Result<dashboard::DashboardView, ApiError> {
    match grant {
        // A partner link is checked before any read: it can only ever see
        // its own partner.
        Grant::PartnerLink { partner_id: own } if own != partner_id => {
            return Err(ApiError::NotFound)
        }
        Grant::Pam { .. } => {
            let owner = state
                .store
                .get_partner(partner_id)
                .await?
                .and_then(|p| p.owner_email);
            if !grant.can_see_partner(partner_id, owner.as_deref()) {
                return Err(ApiError::NotFound);
            }
        }
        _ => {}
    }
    let d = match lines {
        Lines::Page(cursor) => {
            state
                .store
                .partner_dashboard_page(partner_id, ROWS, cursor)
                .await
        }
        Lines::All => state.store.partner_dashboard(partner_id).await,
    }
    .map_err(|e| match e {
        portal_core::store::StoreError::Malformed(m) => {
            ApiError::from(params::ParamError::new("cursor", m))
        }
        other => other.into(),
    })?;
    let owner = d
        .profile
        .as_ref()
        .and_then(|p| p.owner_email.clone())
        .or_else(|| d.summary.as_ref().and_then(|s| s.owner_email.clone()));
    if !grant.can_see_partner(partner_id, owner.as_deref()) {
        return Err(ApiError::NotFound);
    }
    let mut view = dashboard::build(
        d.profile.as_ref(),
        d.summary.as_ref(),
        &d.certs,
        &d.org_certs,
        state.clock.now(),
        state.warning_days,
        &state.tiers,
    )
    .ok_or(ApiError::NotFound)?;
    view.next_cursor = d.next_cursor;
    Ok(view)
}
