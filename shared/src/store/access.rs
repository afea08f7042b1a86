//! Access tokens (stored only by hash), reminder claims (exactly-once mail)
//! and e-mail opt-outs.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::{self, entity};
use super::{schema, ItemKey, Keys, QuerySpec, Result, SkCondition, Store, StoreError, StoreItem};

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    #[default]
    Partner,
    Pam,
    Admin,
}

/// What a token grants. The secret itself is never stored: the item's key
/// is `TOKEN#<sha256 hex of the secret>`, so a leaked table does not leak
/// usable links.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct TokenRecord {
    /// Public, non-secret id (shown in admin lists, used to revoke).
    pub id: String,
    pub kind: TokenKind,
    /// Partner id (partner links) or PAM e-mail (PAM tokens); `None` for admin.
    pub scope: Option<String>,
    pub label: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// Also set as the item's TTL, so expired tokens disappear by themselves.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set when a partner link is revoked: the record stays as a tombstone
    /// so the same (deterministic) link can never be stored again. Absent
    /// on the item while live, which the revoke condition tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// A test seam in link issuing: a future run after the caller read what
/// links exist and before the first conditional write, so a test can
/// revoke "in between" deterministically (the race a push and an admin
/// revoke can run). Set only inside [`with_link_issue_hook`].
pub type LinkIssueHook =
    std::sync::Arc<dyn Fn(String) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

tokio::task_local! {
    static LINK_ISSUE_HOOK: LinkIssueHook;
}

/// Runs `fut` with `hook` called (with the partner id) before each link
/// issue inside it.
pub async fn with_link_issue_hook<F: std::future::Future>(
    hook: LinkIssueHook,
    fut: F,
) -> F::Output {
    LINK_ISSUE_HOOK.scope(hook, fut).await
}

/// Most versions one issue walks past (each a tombstone); far above any
/// real revocation history, it only stops a corrupt table from looping.
const MAX_LINK_PROBES: u32 = 1000;

/// Hex SHA-256 of a token secret — the only form in which it is stored.
/// A plain hash suffices because secrets are long random strings (no
/// dictionary to guess from), unlike passwords.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Reminder claim key of one certification at one stage (days before
/// expiry; 0 = the expired notice). The expiry is part of it, so a renewed
/// certification (new expiry) starts afresh. Written by the reminders
/// function, read by the portal's person page (reminder history).
pub fn reminder_key(user_id: &str, course_id: &str, expiry: DateTime<Utc>, stage: u32) -> String {
    format!("{user_id}#{course_id}#{}#{stage}d", keys::ts(expiry))
}

/// States of a reminder claim item (`REMINDER#<key>/CLAIM`).
pub mod claim_state {
    /// Taken by a run that is about to send (or crashed before it could).
    pub const CLAIMED: &str = "claimed";
    /// Sent: never again for this key.
    pub const SENT: &str = "sent";
    /// The send failed; a later run may claim it again.
    pub const RELEASED: &str = "released";
}

/// The stored reminder claim.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct ReminderClaimRecord {
    pub key: String,
    /// One of [`claim_state`].
    pub state: String,
    pub run_id: String,
    pub claimed_at: Option<DateTime<Utc>>,
    /// `claimed_at` in epoch ms: a number, so the stale-claim condition can
    /// compare it in DynamoDB, and the identity of this very claim.
    pub claimed_ms: i64,
    pub sent_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    pub error: Option<String>,
    /// When the item's TTL removes it (epoch seconds are on the item as `ttl`).
    pub keep_until: Option<DateTime<Utc>>,
}

/// A claim the caller holds; finish it with [`Store::mark_reminder_sent`] or
/// [`Store::release_reminder`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReminderClaim {
    record: ReminderClaimRecord,
    keep_until: DateTime<Utc>,
}

impl ReminderClaim {
    pub fn key(&self) -> &str {
        &self.record.key
    }
    pub fn record(&self) -> &ReminderClaimRecord {
        &self.record
    }
}

/// Result of [`Store::claim_reminder`].
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    Claimed(ReminderClaim),
    /// Sent by an earlier run.
    AlreadySent,
    /// Claimed by another (or a crashed) run less than the timeout ago.
    InFlight,
}

fn claim_item(r: &ReminderClaimRecord, keep_until: DateTime<Utc>) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(keys::reminder_pk(&r.key), keys::CLAIM_SK, entity::REMINDER).ttl(keep_until),
        r,
    )
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct OptOut {
    pub email: String,
    pub at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

impl Store {
    /// Stores a new token under the hash of `secret`; [`StoreError::Conflict`]
    /// if that hash exists already (never overwrite someone's token).
    pub async fn put_token(&self, secret: &str, token: &TokenRecord) -> Result<String> {
        let hash = hash_token(secret);
        let mut k =
            Keys::new(keys::token_pk(&hash), keys::TOKEN_SK, entity::TOKEN).typed(token.id.clone());
        if let Some(exp) = token.expires_at {
            k = k.ttl(exp);
        }
        self.put_new(StoreItem::new(k, token)?).await?;
        Ok(hash)
    }

    /// Looks a presented secret up (one GetItem). Expired tokens read as
    /// absent even before DynamoDB's TTL sweep (which can lag by days).
    pub async fn token_by_secret(
        &self,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>> {
        self.token_by_hash(&hash_token(secret), now).await
    }

    pub async fn token_by_hash(
        &self,
        hash_hex: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TokenRecord>> {
        let t: Option<TokenRecord> = self
            .get_as(&keys::token_pk(hash_hex), keys::TOKEN_SK)
            .await?;
        Ok(t.filter(|t| t.expires_at.is_none_or(|e| e > now) && !t.is_revoked()))
    }

    /// The stored record under a secret, live or tombstoned (strongly
    /// consistent GetItem).
    async fn token_record_by_secret(&self, secret: &str) -> Result<Option<TokenRecord>> {
        self.get_as(&keys::token_pk(&hash_token(secret)), keys::TOKEN_SK)
            .await
    }

    /// The live link of a partner at version `from` or above: for each
    /// version, a conditional put that creates the link when no record
    /// exists; an existing live record is the answer (someone else issued
    /// it), a tombstone sends the walk one version up. Never overwrites a
    /// record, so a revoked link stays revoked whatever the caller read
    /// before. `link_of(v)` gives the secret and record of version `v`.
    pub async fn ensure_partner_link(
        &self,
        partner_id: &str,
        from: u32,
        link_of: &(dyn Fn(u32) -> (String, TokenRecord) + Send + Sync),
    ) -> Result<(u32, String)> {
        if let Ok(hook) = LINK_ISSUE_HOOK.try_with(|h| h.clone()) {
            hook(partner_id.to_string()).await;
        }
        let mut v = from.max(1);
        for _ in 0..MAX_LINK_PROBES {
            let (secret, rec) = link_of(v);
            match self.put_token(&secret, &rec).await {
                Ok(_) => return Ok((v, secret)),
                Err(StoreError::Conflict { .. }) => {
                    match self.token_record_by_secret(&secret).await? {
                        Some(r) if r.is_revoked() => v += 1,
                        Some(_) => return Ok((v, secret)),
                        // Removed between the put and the read (only a
                        // TTL or a hand edit removes links): try again.
                        None => {}
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Malformed(format!(
            "partner {partner_id}: no free link version within {MAX_LINK_PROBES} of {from}"
        )))
    }

    /// Tombstones the token stored under `secret` (a partner link): a
    /// conditional put that only succeeds on a live record. `Ok(false)`
    /// when there is no such record; an already revoked one is `Ok(true)`.
    pub async fn tombstone_token(&self, secret: &str, now: DateTime<Utc>) -> Result<bool> {
        self.tombstone_hash(&hash_token(secret), now).await
    }

    async fn tombstone_hash(&self, hash: &str, now: DateTime<Utc>) -> Result<bool> {
        let pk = keys::token_pk(hash);
        let Some(rec): Option<TokenRecord> = self.get_as(&pk, keys::TOKEN_SK).await? else {
            return Ok(false);
        };
        if rec.is_revoked() {
            return Ok(true);
        }
        let dead = TokenRecord {
            revoked_at: Some(now),
            ..rec
        };
        let mut k = Keys::new(pk, keys::TOKEN_SK, entity::TOKEN).typed(dead.id.clone());
        if let Some(exp) = dead.expires_at {
            k = k.ttl(exp);
        }
        match self
            .put_conditional(
                StoreItem::new(k, &dead)?,
                "attribute_exists(#pk) AND attribute_not_exists(#rv)",
                &[("#pk", schema::PK), ("#rv", "revoked_at")],
                &[],
            )
            .await
        {
            // Revoked by someone else in between: the same outcome.
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Tombstones every live record with public id `id` (found through the
    /// type index); returns how many were found, live or not.
    pub async fn tombstone_token_id(&self, id: &str, now: DateTime<Utc>) -> Result<usize> {
        let found = self
            .query(
                &QuerySpec::partition(entity::TOKEN)
                    .index(schema::GSI1)
                    .sk(SkCondition::Eq(id.to_string())),
            )
            .await?;
        let mut n = 0;
        for item in found {
            let key = super::ItemKey::of(&item)?;
            if let Some(hash) = key.pk.strip_prefix("TOKEN#") {
                n += usize::from(self.tombstone_hash(hash, now).await?);
            }
        }
        Ok(n)
    }

    /// Every token (type index), for the admin list.
    pub async fn all_tokens(&self) -> Result<Vec<TokenRecord>> {
        self.query_type_as(entity::TOKEN).await
    }

    /// Deletes the token with public id `id` (found through the type index).
    /// Returns whether one was found.
    pub async fn revoke_token(&self, id: &str) -> Result<bool> {
        let found = self
            .query(
                &QuerySpec::partition(entity::TOKEN)
                    .index(schema::GSI1)
                    .sk(SkCondition::Eq(id.to_string())),
            )
            .await?;
        let mut any = false;
        for item in found {
            let key = super::ItemKey::of(&item)?;
            any |= self.delete(&key.pk, &key.sk).await?;
        }
        Ok(any)
    }

    /// Claims reminder `key` (e.g. `<user>#<course>#<expiry>#<stage>`)
    /// before its mail is sent: taken when absent, `released`, or `claimed`
    /// at or before `now - timeout` (a run that crashed between claim and
    /// send; the timeout must exceed a run's length so a live run is never
    /// overtaken). One conditional PutItem (+ a GetItem on conflict to tell
    /// sent from in flight); no DeleteItem anywhere, which the reminders
    /// role lacks. The item's TTL is `keep_until`.
    pub async fn claim_reminder(
        &self,
        key: &str,
        run_id: &str,
        now: DateTime<Utc>,
        timeout: Duration,
        keep_until: DateTime<Utc>,
    ) -> Result<ClaimOutcome> {
        let record = ReminderClaimRecord {
            key: key.to_string(),
            state: claim_state::CLAIMED.into(),
            run_id: run_id.to_string(),
            claimed_at: Some(now),
            claimed_ms: now.timestamp_millis(),
            keep_until: Some(keep_until),
            ..Default::default()
        };
        let stale = (now - timeout).timestamp_millis();
        let res = self
            .put_conditional(
                claim_item(&record, keep_until)?,
                "attribute_not_exists(#pk) OR #st = :released OR (#st = :claimed AND #cms <= :stale)",
                &[("#pk", schema::PK), ("#st", "state"), ("#cms", "claimed_ms")],
                &[
                    (":released", AttributeValue::S(claim_state::RELEASED.into())),
                    (":claimed", AttributeValue::S(claim_state::CLAIMED.into())),
                    (":stale", AttributeValue::N(stale.to_string())),
                ],
            )
            .await;
        match res {
            Ok(()) => Ok(ClaimOutcome::Claimed(ReminderClaim { record, keep_until })),
            Err(StoreError::Conflict { .. }) => Ok(match self.get_reminder_claim(key).await? {
                Some(r) if r.state == claim_state::SENT => ClaimOutcome::AlreadySent,
                _ => ClaimOutcome::InFlight,
            }),
            Err(e) => Err(e),
        }
    }

    /// The stored claim of `key`, in whatever state.
    pub async fn get_reminder_claim(&self, key: &str) -> Result<Option<ReminderClaimRecord>> {
        self.get_as(&keys::reminder_pk(key), keys::CLAIM_SK).await
    }

    /// Marks our claim sent. `Ok(false)` when it is no longer ours (a run
    /// took the stale claim over): nothing is written then.
    pub async fn mark_reminder_sent(
        &self,
        claim: &ReminderClaim,
        now: DateTime<Utc>,
        message_id: &str,
    ) -> Result<bool> {
        let r = ReminderClaimRecord {
            state: claim_state::SENT.into(),
            sent_at: Some(now),
            message_id: Some(message_id.to_string()),
            ..claim.record.clone()
        };
        self.finish_claim(claim, r).await
    }

    /// Gives our claim back (the mail failed) so a later run retries;
    /// `error` is kept on the item for diagnosis. `Ok(false)` when it is no
    /// longer ours. A conditional PutItem, not a DeleteItem.
    pub async fn release_reminder(&self, claim: &ReminderClaim, error: &str) -> Result<bool> {
        let r = ReminderClaimRecord {
            state: claim_state::RELEASED.into(),
            error: Some(error.to_string()),
            ..claim.record.clone()
        };
        self.finish_claim(claim, r).await
    }

    /// Writes `r` only while the item is still *this* claim (`claimed` with
    /// our `claimed_ms`): a slow original must not overwrite a takeover.
    async fn finish_claim(&self, claim: &ReminderClaim, r: ReminderClaimRecord) -> Result<bool> {
        match self
            .put_conditional(
                claim_item(&r, claim.keep_until)?,
                "#st = :claimed AND #cms = :mine",
                &[("#st", "state"), ("#cms", "claimed_ms")],
                &[
                    (":claimed", AttributeValue::S(claim_state::CLAIMED.into())),
                    (
                        ":mine",
                        AttributeValue::N(claim.record.claimed_ms.to_string()),
                    ),
                ],
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => {
                tracing::warn!(key = %r.key, "reminder claim was taken over before it was finished");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub async fn put_optout(&self, optout: &OptOut) -> Result<()> {
        let stored = OptOut {
            email: keys::normalize_email(&optout.email),
            ..optout.clone()
        };
        let item = StoreItem::new(
            Keys::new(
                keys::optout_pk(&optout.email),
                keys::OPTOUT_SK,
                entity::OPTOUT,
            ),
            &stored,
        )?;
        self.put(item).await
    }

    pub async fn is_opted_out(&self, email: &str) -> Result<bool> {
        Ok(self
            .get(&keys::optout_pk(email), keys::OPTOUT_SK)
            .await?
            .is_some())
    }

    /// Whether `email` opted out and whether SES suppressed it (a hard
    /// bounce or a complaint): both records in one BatchGetItem, since a
    /// reminder needs both answers for every address it mails.
    pub async fn address_blocks(&self, email: &str) -> Result<AddressBlocks> {
        let optout = ItemKey::new(keys::optout_pk(email), keys::OPTOUT_SK);
        let suppression = ItemKey::new(keys::suppression_pk(email), keys::SUPPRESSION_SK);
        let found = self
            .get_items(&[optout.clone(), suppression.clone()])
            .await?
            .iter()
            .map(ItemKey::of)
            .collect::<Result<Vec<_>>>()?;
        Ok(AddressBlocks {
            opted_out: found.contains(&optout),
            suppressed: found.contains(&suppression),
        })
    }

    pub async fn remove_optout(&self, email: &str) -> Result<bool> {
        self.delete(&keys::optout_pk(email), keys::OPTOUT_SK).await
    }
}

/// What stops mail to one address ([`Store::address_blocks`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressBlocks {
    pub opted_out: bool,
    pub suppressed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
