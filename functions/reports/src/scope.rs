//! Which partners a caller's report shows: the grant's scope and the
//! partner-level filters, decided on the partner's summary.

use portal_core::access::Grant;
use portal_core::model::PartnerSummary;
use portal_core::reports::ReportQuery;

/// Whether the grant may see the partner of summary `s` and it passes the
/// `region`/`tier`/`owner` (and `partner`) filters.
pub fn passes(grant: &Grant, q: &ReportQuery, s: &PartnerSummary) -> bool {
    grant.can_see_partner(&s.partner_id, s.owner_email.as_deref())
        && q.matches_partner(
            s.region.as_deref(),
            s.tier.as_ref(),
            s.owner_email.as_deref(),
            s.owner_name.as_deref(),
        )
        && q.partner.as_deref().is_none_or(|p| p == s.partner_id)
}
