//! Send one mail covering a set of claims: on success every claim is marked
//! sent, on failure every claim is released so the next run retries.

use chrono::{DateTime, Utc};
use portal_core::mail::{Email, MailError};
use portal_core::store::Result;

use crate::claims::{self, Claim};
use crate::Deps;

pub(crate) async fn send_claimed(
    deps: &Deps,
    email: Result<Email, MailError>,
    claims: &[Claim],
    now: DateTime<Utc>,
) -> Result<Result<String, MailError>> {
    let sent = match email {
        Ok(e) => deps.mailer.send(&e).await,
        Err(e) => Err(e),
    };
    match &sent {
        Ok(id) => {
            for c in claims {
                claims::mark_sent(&deps.store, c, now, id).await?;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "mail failed; releasing its claims for a retry");
            for c in claims {
                claims::release(&deps.store, c, &e.to_string()).await?;
            }
        }
    }
    Ok(sent)
}
