//! The tracking view (issue 16): people × certification with the status
//! shown (one of the ten, see `CertStatus::TRACKING`), dates and the note
//! of a manual status. Built from the stored dashboard rows, which carry
//! the definitions' rows and the manual statuses (`rules::programs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::rows::CertFilter;
use super::table::ReportRow;
use crate::model::{CertRow, CertStatus, PartnerSummary};

/// One person's certification.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct TrackingRow {
    pub partner_id: String,
    pub partner_name: String,
    pub user_id: String,
    pub user_name: String,
    pub email: String,
    /// A definition id, or the course id of a one-course certification.
    pub certification: String,
    pub certification_name: String,
    pub status: CertStatus,
    /// The words shown ("Admin review").
    pub status_label: String,
    /// Set by staff rather than computed from the data.
    pub manual: bool,
    pub note: Option<String>,
    pub npcu: u32,
    pub completed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl ReportRow for TrackingRow {
    const COLUMNS: &'static [&'static str] = &[
        "partner_id",
        "partner_name",
        "user_id",
        "user_name",
        "email",
        "certification",
        "certification_name",
        "status",
        "status_label",
        "manual",
        "note",
        "npcu",
        "completed_at",
        "expires_at",
    ];
}

/// Rows of one partner that pass `filter`, in dashboard order.
pub fn tracking_rows(
    partner: &PartnerSummary,
    certs: &[CertRow],
    filter: &CertFilter<'_>,
    now: DateTime<Utc>,
    warning_days: u32,
) -> Vec<TrackingRow> {
    certs
        .iter()
        .filter_map(|c| {
            let status = c.status(now, warning_days);
            filter.matches(c, status).then(|| TrackingRow {
                partner_id: partner.partner_id.clone(),
                partner_name: partner.name.clone(),
                user_id: c.user_id.clone(),
                user_name: c.user_name.clone(),
                email: c.email.clone(),
                certification: c.course_id.clone(),
                certification_name: c.course_name.clone(),
                status,
                status_label: status.label().to_string(),
                manual: c.status_override.is_some(),
                note: c.status_note.clone(),
                npcu: if status.counts() {
                    u32::from(c.npcu)
                } else {
                    0
                },
                completed_at: c.completed_at,
                expires_at: c.expires_at,
            })
        })
        .collect()
}

/// How many rows each of the ten statuses has (zeros included), for the
/// quick filter.
pub fn status_counts(rows: &[TrackingRow]) -> BTreeMap<&'static str, u32> {
    let mut out: BTreeMap<&'static str, u32> = CertStatus::TRACKING
        .iter()
        .map(|s| (s.as_str(), 0))
        .collect();
    for r in rows {
        *out.entry(r.status.as_str()).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProgressStatus;
    use chrono::TimeZone;

    #[test]
    fn rows_show_the_manual_status_and_count_only_what_counts() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let p = PartnerSummary {
            partner_id: "P".into(),
            name: "Acme".into(),
            ..Default::default()
        };
        let row = |course: &str, o: Option<CertStatus>| CertRow {
            user_id: "u".into(),
            user_name: "Ann".into(),
            course_id: course.into(),
            course_name: course.to_uppercase(),
            npcu: 2,
            progress: ProgressStatus::Completed,
            completed_at: Some(now - chrono::Duration::days(10)),
            expires_at: Some(now + chrono::Duration::days(300)),
            status_override: o,
            status_note: o.map(|_| "voided".into()),
            ..Default::default()
        };
        let certs = [row("a", None), row("b", Some(CertStatus::Cancelled))];
        let all = tracking_rows(&p, &certs, &CertFilter::default(), now, 90);
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].status, all[0].npcu, all[0].manual),
            (CertStatus::Active, 2, false)
        );
        assert_eq!(
            (all[1].status, all[1].npcu, all[1].manual),
            (CertStatus::Cancelled, 0, true)
        );
        assert_eq!(all[1].status_label, "Cancelled");
        assert_eq!(all[1].note.as_deref(), Some("voided"));
        let only = CertFilter {
            status: Some(CertStatus::Cancelled),
            ..Default::default()
        };
        let got = tracking_rows(&p, &certs, &only, now, 90);
        assert_eq!(got.len(), 1);
        let counts = status_counts(&all);
        assert_eq!(counts.len(), 10);
        assert_eq!(
            (
                counts["active"],
                counts["cancelled"],
                counts["admin_review"]
            ),
            (1, 1, 0)
        );
    }
}
