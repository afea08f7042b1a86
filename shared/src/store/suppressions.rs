//! Mail suppressions: addresses SES reported as a hard (permanent) bounce
//! or a complaint, recorded from the configuration set's event destination
//! (`functions/reminders/src/bounces.rs`). Unlike an opt-out, which the
//! person can undo from the unsubscribe page, a suppression is the mail
//! system's verdict: no reminder or digest goes to the address again
//! (SES reviews an account whose bounce or complaint rate grows).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{self, entity};
use super::{Keys, Result, Store, StoreItem};

/// Why an address is suppressed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionKind {
    /// A permanent bounce (`bounceType` `Permanent`).
    #[default]
    Bounce,
    /// The recipient marked the mail as spam.
    Complaint,
}

/// One suppressed address (the latest report wins).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct Suppression {
    /// Lower-cased.
    pub email: String,
    pub kind: SuppressionKind,
    /// When SES observed it.
    pub at: Option<DateTime<Utc>>,
    /// `bounceSubType` / `complaintFeedbackType` and the diagnostic, for
    /// whoever looks into it.
    pub detail: Option<String>,
    /// SES `feedbackId` of the report.
    pub feedback_id: Option<String>,
    /// SES message id of the mail that bounced or was complained about.
    pub message_id: Option<String>,
}

impl Store {
    /// Records `s` (idempotent: a redelivered notification rewrites it).
    pub async fn put_suppression(&self, s: &Suppression) -> Result<()> {
        let stored = Suppression {
            email: keys::normalize_email(&s.email),
            ..s.clone()
        };
        let item = StoreItem::new(
            Keys::new(
                keys::suppression_pk(&s.email),
                keys::SUPPRESSION_SK,
                entity::SUPPRESSION,
            ),
            &stored,
        )?;
        self.put(item).await
    }

    /// The suppression of `email`, if any (one GetItem).
    pub async fn get_suppression(&self, email: &str) -> Result<Option<Suppression>> {
        self.get_as(&keys::suppression_pk(email), keys::SUPPRESSION_SK)
            .await
    }
}
