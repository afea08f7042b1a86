//! What a run did: returned to the caller and stored as the task's run
//! record, the shared [`portal_core::runs::RunRecord`], so the sync status
//! report lists reminder runs like any other task (`processed` = due,
//! `created` = sent); why due items got no mail.

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

impl AsRef<str> for SkipReason {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A reminder or digest run: the shared run record every job stores
/// ([`portal_core::runs::RunRecord`]), counted with [`RunSummary::skip`].
pub type RunSummary = portal_core::runs::RunRecord;
