//! What a run did: returned to the caller and stored as the task's run
//! record. The first fields mirror the store's generic `RunRecord` so the
//! sync status report lists reminder runs like any other task
//! (`processed` = due, `created` = sent).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a due item got no mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SkipReason {
    OptedOut,
    /// SES reported a hard bounce or a complaint for the address.
    Suppressed,
    UserDeactivated,
    NoEmail,
    PartnerInactive,
    PartnerUntracked,
    PartnerUnknown,
    /// A previous run sent it.
    AlreadySent,
    /// Claimed by another run (or a crashed one) within the claim timeout.
    InFlight,
    /// Digest only: the PAM's partners have nothing to report.
    NothingToReport,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::OptedOut => "opted_out",
            SkipReason::Suppressed => "suppressed",
            SkipReason::UserDeactivated => "user_deactivated",
            SkipReason::NoEmail => "no_email",
            SkipReason::PartnerInactive => "partner_inactive",
            SkipReason::PartnerUntracked => "partner_untracked",
            SkipReason::PartnerUnknown => "partner_unknown",
            SkipReason::AlreadySent => "already_sent",
            SkipReason::InFlight => "in_flight",
            SkipReason::NothingToReport => "nothing_to_report",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct RunSummary {
    pub task: String,
    pub run_id: String,
    /// `daily` / `weekly`.
    pub mode: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `succeeded`, `partial` (some sends failed; they are retried) or `failed`.
    pub status: String,
    pub processed: u64,
    pub created: u64,
    pub failed: u64,
    pub error: Option<String>,

    /// Threshold dates covered: `(window_after, window_until]`.
    pub window_after: Option<DateTime<Utc>>,
    pub window_until: Option<DateTime<Utc>>,
    /// Reminders: certification × stage items due. Digest: PAMs considered.
    pub due: u64,
    /// Items delivered (reminders: certifications listed in sent mails).
    pub sent: u64,
    pub emails_sent: u64,
    pub emails_failed: u64,
    /// Due items skipped, by [`SkipReason::as_str`].
    pub skipped: BTreeMap<String, u64>,
    /// Rows the due-date Query returned (to compare with `due`).
    pub rows_read: u64,
}

impl RunSummary {
    pub fn skip(&mut self, reason: SkipReason, n: u64) {
        if n > 0 {
            *self.skipped.entry(reason.as_str().to_string()).or_default() += n;
        }
    }

    pub fn skipped_for(&self, reason: SkipReason) -> u64 {
        self.skipped.get(reason.as_str()).copied().unwrap_or(0)
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}
