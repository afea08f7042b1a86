//! Web portal sign-in: sessions (cookie-backed) and one-time sign-in links
//! sent by e-mail. Like tokens, both are stored only under the SHA-256 of
//! their secret, so the table never holds a usable cookie or link.
//!
//! Times here are wall-clock instants (the caller passes the real "now"),
//! not the business clock: a pinned `PORTAL_NOW` must not keep sessions
//! alive forever or set TTLs in the past.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::access::{hash_token, TokenKind};
use super::keys::{self, entity};
use super::{Keys, Result, Store, StoreError, StoreItem};

/// A session unused this long ends.
pub fn session_idle() -> Duration {
    Duration::hours(8)
}
/// A session ends this long after sign-in, however busy.
pub fn session_max() -> Duration {
    Duration::days(7)
}
/// A sign-in link works this long (and once).
pub fn login_link_ttl() -> Duration {
    Duration::minutes(15)
}
/// `last_seen` is rewritten at most this often: one write per request
/// would double the cost of every page for no gain in precision.
pub fn touch_interval() -> Duration {
    Duration::minutes(5)
}

/// A signed-in browser. The grant is stored as a token's `(kind, scope)`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SessionRecord {
    pub kind: TokenKind,
    /// PAM e-mail for PAM sessions, `None` for admins.
    pub scope: Option<String>,
    /// Who signed in, for the page header (an e-mail or "admin token").
    pub who: String,
    /// Per-session anti-forgery token every state-changing form carries.
    pub csrf: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl SessionRecord {
    /// When the session ends unless used again: idle limit or absolute
    /// limit, whichever comes first.
    pub fn ends_at(&self) -> DateTime<Utc> {
        (self.last_seen + session_idle()).min(self.created_at + session_max())
    }
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.ends_at()
    }
    /// Whether a request at `now` should record itself as `last_seen`.
    pub fn needs_touch(&self, now: DateTime<Utc>) -> bool {
        now - self.last_seen >= touch_interval()
    }
}

/// A one-time sign-in link sent by e-mail.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LoginLink {
    pub kind: TokenKind,
    pub scope: Option<String>,
    /// The address the link was sent to.
    pub email: String,
    pub expires_at: DateTime<Utc>,
}

fn session_item(hash: &str, rec: &SessionRecord) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(keys::session_pk(hash), keys::SESSION_SK, entity::SESSION).ttl(rec.ends_at()),
        rec,
    )
}

impl Store {
    /// Stores a new session under the hash of `secret`; never overwrites.
    pub async fn put_session(&self, secret: &str, rec: &SessionRecord) -> Result<()> {
        self.put_new(session_item(&hash_token(secret), rec)?).await
    }

    /// The live session of a presented cookie value (one GetItem); ended
    /// sessions read as absent before DynamoDB's TTL sweep removes them.
    pub async fn session_by_secret(
        &self,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>> {
        let rec: Option<SessionRecord> = self
            .get_as(&keys::session_pk(&hash_token(secret)), keys::SESSION_SK)
            .await?;
        Ok(rec.filter(|r| r.is_live(now)))
    }

    /// Records use at `now` (moving the idle end and the TTL).
    pub async fn touch_session(
        &self,
        secret: &str,
        rec: &SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<SessionRecord> {
        let mut r = rec.clone();
        r.last_seen = now;
        self.put(session_item(&hash_token(secret), &r)?).await?;
        Ok(r)
    }

    /// Signs out; `true` when a session was there.
    pub async fn delete_session(&self, secret: &str) -> Result<bool> {
        self.delete(&keys::session_pk(&hash_token(secret)), keys::SESSION_SK)
            .await
    }

    /// Stores a sign-in link under the hash of `secret` (TTL = its expiry).
    pub async fn put_login_link(&self, secret: &str, link: &LoginLink) -> Result<()> {
        let item = StoreItem::new(
            Keys::new(
                keys::login_pk(&hash_token(secret)),
                keys::LOGIN_SK,
                entity::LOGIN,
            )
            .ttl(link.expires_at),
            link,
        )?;
        self.put_new(item).await
    }

    /// The live sign-in link of `secret` without using it (one GetItem):
    /// what the confirmation page a mail scanner may prefetch reads.
    pub async fn peek_login_link(
        &self,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LoginLink>> {
        let link: Option<LoginLink> = self
            .get_as(&keys::login_pk(&hash_token(secret)), keys::LOGIN_SK)
            .await?;
        Ok(link.filter(|l| now < l.expires_at))
    }

    /// Uses a sign-in link: `Some` exactly once, for the caller whose
    /// delete removed the item (two browsers racing on one link: one wins);
    /// an expired link is removed and reads as `None`.
    pub async fn take_login_link(
        &self,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LoginLink>> {
        let pk = keys::login_pk(&hash_token(secret));
        let Some(link) = self.get_as::<LoginLink>(&pk, keys::LOGIN_SK).await? else {
            return Ok(None);
        };
        match self.delete(&pk, keys::LOGIN_SK).await {
            Ok(true) => Ok((now < link.expires_at).then_some(link)),
            Ok(false) => Ok(None),
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rec(created: DateTime<Utc>, seen: DateTime<Utc>) -> SessionRecord {
        SessionRecord {
            kind: TokenKind::Admin,
            scope: None,
            who: "admin token".into(),
            csrf: "c".into(),
            created_at: created,
            last_seen: seen,
        }
    }

    #[test]
    fn sessions_end_when_idle_or_too_old() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        let r = rec(t0, t0);
        assert!(r.is_live(t0 + Duration::hours(7)));
        assert!(!r.is_live(t0 + Duration::hours(8)), "8 h idle ends it");
        // Used an hour ago, but signed in seven days ago: over.
        let old = rec(t0, t0 + Duration::days(7) - Duration::hours(1));
        assert_eq!(old.ends_at(), t0 + Duration::days(7));
        assert!(!old.is_live(t0 + Duration::days(7)));
        assert!(!r.needs_touch(t0 + Duration::minutes(4)));
        assert!(r.needs_touch(t0 + Duration::minutes(5)));
    }
}
