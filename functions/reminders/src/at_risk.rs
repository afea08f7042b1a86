//! Whether a reminded certification's expiry drops its partner below tier,
//! and on which date: the partner's summary evaluated at future instants
//! (a summary holds its counted certifications by expiry bucket, so its
//! view at a later instant is the NPCU then, nobody renewing; the same
//! numbers as `portal_core::reports::forecast`). One GetItem per partner
//! per run, cached: no certification rows are read.
//!
//! A date's value is the value at the midnight after it: a summary bucket
//! counts until the first midnight at or after its expiries (see
//! `portal_core::rules::summary::expiry_bucket`).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use portal_core::model::PartnerSummary;
use portal_core::rules::forecast::start_of_day;
use portal_core::store::{Result, Store};

use crate::settings::Settings;

pub(crate) struct AtRisk<'a> {
    store: &'a Store,
    summaries: HashMap<String, Option<PartnerSummary>>,
}

impl<'a> AtRisk<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        AtRisk {
            store,
            summaries: HashMap::new(),
        }
    }

    /// The first date, no later than the day of `expiry`, on which the
    /// partner is below its tier requirement when nobody renews; `None`
    /// when it stays in tier until then, is below already, has no summary
    /// or its tier has no configured requirement.
    pub(crate) async fn drop_date(
        &mut self,
        partner_id: &str,
        expiry: DateTime<Utc>,
        now: DateTime<Utc>,
        s: &Settings,
    ) -> Result<Option<NaiveDate>> {
        if !self.summaries.contains_key(partner_id) {
            let got = self.store.get_summary(partner_id).await?;
            self.summaries.insert(partner_id.to_string(), got);
        }
        let Some(summary) = self.summaries.get(partner_id).and_then(Option::as_ref) else {
            return Ok(None);
        };
        Ok(drop_date(summary, expiry, now, s))
    }
}

/// See [`AtRisk::drop_date`].
pub(crate) fn drop_date(
    summary: &PartnerSummary,
    expiry: DateTime<Utc>,
    now: DateTime<Utc>,
    s: &Settings,
) -> Option<NaiveDate> {
    let v = summary.view(now, s.warning_days, &s.tiers);
    if !v.meets_requirement {
        return None;
    }
    let mut d = now.date_naive();
    while d <= expiry.date_naive() {
        let next = start_of_day(d + Duration::days(1));
        if summary.view(next, s.warning_days, &s.tiers).npcu < v.required_npcu {
            return Some(d);
        }
        d += Duration::days(1);
    }
    None
}
