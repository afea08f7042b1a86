//! The reports over certification rows: `trends`, `recent-certifications`
//! and `popular-courses` (registered with the other reports in `routes`,
//! which filters, sorts, pages and exports them). The numbers are
//! `portal_core::reports::trends`'s; this module only reads the store.
//!
//! Reads, beyond the summaries the caller read: the certification rows of
//! the partners shown (`cert_rows::of_partners`: one Query per partner
//! partition for a few partners, else one paginated type-index Query over
//! the CERT rows). Completion dates are in no index (the expiry index
//! orders expiries only), so new certifications of a period cannot be
//! read by range; the rows are one item per user × course, the smallest
//! set holding them.

use std::collections::HashMap;

use portal_core::model::{CertRow, PartnerSummary};
use portal_core::reports::rows::{CertFilter, Scored};
use portal_core::reports::trends::{
    self, PopularCourseRow, RecentCertRow, TrendQuery, TrendRow, DEFAULT_RECENT_DAYS,
};
use portal_core::reports::ReportQuery;

use crate::http::ApiError;
use crate::AppState;

/// The certification rows of the partners shown, with their summaries.
async fn rows_of(
    state: &AppState,
    scored: &[Scored<'_>],
    total: usize,
) -> Result<(HashMap<String, Vec<CertRow>>, Vec<PartnerSummary>), ApiError> {
    let ids: Vec<String> = scored
        .iter()
        .map(|s| s.summary.partner_id.clone())
        .collect();
    let certs = crate::cert_rows::of_partners(state, ids, total).await?;
    let summaries = scored.iter().map(|s| s.summary.clone()).collect();
    Ok((certs, summaries))
}

fn pairs<'a>(
    certs: &'a HashMap<String, Vec<CertRow>>,
    summaries: &'a [PartnerSummary],
) -> impl Iterator<Item = (&'a PartnerSummary, &'a CertRow)> {
    summaries.iter().flat_map(move |s| {
        certs
            .get(&s.partner_id)
            .into_iter()
            .flatten()
            .map(move |r| (s, r))
    })
}

/// `trends?by=month|week&group=region|tier|owner|category&periods=N`.
pub async fn trends(
    state: &AppState,
    scored: &[Scored<'_>],
    total: usize,
    q: &ReportQuery,
    t: &TrendQuery,
) -> Result<Vec<TrendRow>, ApiError> {
    let (certs, summaries) = rows_of(state, scored, total).await?;
    let filter = category_filter(state, q);
    Ok(trends::trends(
        pairs(&certs, &summaries).filter(|(_, r)| filter(r)),
        t,
        state.clock.now(),
    ))
}

/// `recent-certifications?days=N` (default 30).
pub async fn recent(
    state: &AppState,
    scored: &[Scored<'_>],
    total: usize,
    q: &ReportQuery,
) -> Result<Vec<RecentCertRow>, ApiError> {
    let (certs, summaries) = rows_of(state, scored, total).await?;
    let filter = category_filter(state, q);
    Ok(trends::recent_certifications(
        pairs(&certs, &summaries).filter(|(_, r)| filter(r)),
        state.clock.now(),
        q.days.unwrap_or(DEFAULT_RECENT_DAYS),
    ))
}

/// `popular-courses`.
pub async fn popular(
    state: &AppState,
    scored: &[Scored<'_>],
    total: usize,
    q: &ReportQuery,
) -> Result<Vec<PopularCourseRow>, ApiError> {
    let (certs, summaries) = rows_of(state, scored, total).await?;
    let filter = category_filter(state, q);
    Ok(trends::popular_courses(
        pairs(&certs, &summaries)
            .filter(|(_, r)| filter(r))
            .map(|(s, r)| (s.partner_id.as_str(), r)),
        state.clock.now(),
    ))
}

/// The `course` / `category` filters on a row: the certification reports'
/// own ([`CertFilter`]), no status filter.
fn category_filter<'a>(state: &'a AppState, q: &'a ReportQuery) -> impl Fn(&CertRow) -> bool + 'a {
    let filter = CertFilter {
        status: None,
        course: q.course.as_deref(),
        category: q.category.as_deref(),
    };
    let now = state.clock.now();
    move |r: &CertRow| filter.matches(r, r.status(now, state.warning_days))
}
