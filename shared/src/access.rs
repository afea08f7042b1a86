//! Access tokens, private partner links and signed unsubscribe links — pure
//! functions, no I/O.
//!
//! * **Bearer tokens** (admin, PAM) are random ([`generate_token`], 256
//!   bits), handed out once, and stored only as [`token_hash`] (SHA-256 hex,
//!   the same form `store::access::hash_token` uses as the item key).
//!   Presented secrets are compared by hash in constant time
//!   ([`verify_token`]).
//! * **Partner links** are *derived*, not random:
//!   `HMAC-SHA256(link key, partner_id, version)` ([`partner_link_token`]).
//!   Deterministic so the sync can recompute the link it pushes to the CRM
//!   without reading a secret back from the table. A link is valid exactly
//!   while its stored record is live: revoking *marks* the record
//!   (`revoked_at`, a tombstone) instead of deleting it, and every link is
//!   created with a conditional put that fails on any existing record, so a
//!   revoked link can never be stored again — by a push that read stale
//!   data, a retry, or anything else. Protocol shared by sync and reports
//!   (`Store::ensure_partner_link`, `Store::tombstone_token`):
//!   1. the current version is the highest *live* one the caller knows of
//!      ([`current_link_version`]); with none, issuing starts at
//!      [`next_link_version`] and walks up: a conditional put of version v
//!      either creates it, finds it live (someone else issued it: use it)
//!      or finds a tombstone (try v + 1). Versions are only ever created
//!      above a dead one, so a partner has at most one live link;
//!   2. `GET /p/{link}` finds it by hash (one GetItem) → partner id, and a
//!      tombstoned record reads as absent;
//!   3. revoking tombstones the record, then issues from version + 1.
//! * **Unsubscribe links** carry the e-mail and an expiry *encrypted and
//!   authenticated* (ChaCha20-Poly1305 under a key derived from the
//!   unsubscribe key: [`unsubscribe_token`] / [`verify_unsubscribe`]): the
//!   reports function verifies them offline, the reminders function needs no
//!   table write per mail, a link cannot be forged for someone else's
//!   address, and the URL does not reveal the address to whoever sees it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit as _, Nonce};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::rules::members::normalize_email;
use crate::store::access::{TokenKind, TokenRecord};

type HmacSha256 = Hmac<Sha256>;

/// Random bytes in a generated token: 256 bits, well above the 128 the
/// brief requires, so guessing is hopeless even at scale.
pub const TOKEN_BYTES: usize = 32;

/// Domain-separation labels: the same key may sign links and unsubscribe
/// tokens without a MAC of one kind ever being valid as the other.
const LINK_LABEL: &[u8] = b"portal/partner-link/v1";
const UNSUB_LABEL: &[u8] = b"portal/unsubscribe/v2/encryption-key";

/// How long an unsubscribe link works: a year covers every reminder a
/// person keeps in their mailbox, and a leaked old link stops working.
pub const UNSUBSCRIBE_VALIDITY_DAYS: i64 = 365;

/// Nonce bytes of an unsubscribe token (random per mail: 96 bits).
const UNSUB_NONCE: usize = 12;

/// Prefix of a partner link's public (non-secret) id.
const LINK_ID_PREFIX: &str = "link-";

/// What a token lets its holder see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Everything, including admin operations.
    Admin,
    /// Reports restricted to partners whose owner e-mail is this one
    /// (compared case-insensitively).
    Pam { owner_email: String },
    /// One partner's dashboard.
    PartnerLink { partner_id: String },
}

impl Grant {
    /// The grant a stored token record carries; `None` for a record that
    /// lacks the scope its kind needs (never treat that as admin).
    pub fn from_record(rec: &TokenRecord) -> Option<Grant> {
        let scope = rec
            .scope
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match rec.kind {
            _ if rec.is_revoked() => None,
            TokenKind::Admin => Some(Grant::Admin),
            TokenKind::Pam => scope.map(|s| Grant::Pam {
                owner_email: s.to_lowercase(),
            }),
            TokenKind::Partner => scope.map(|s| Grant::PartnerLink {
                partner_id: s.to_string(),
            }),
        }
    }

    /// `(kind, scope)` as stored in a [`TokenRecord`].
    pub fn kind_and_scope(&self) -> (TokenKind, Option<String>) {
        match self {
            Grant::Admin => (TokenKind::Admin, None),
            Grant::Pam { owner_email } => (TokenKind::Pam, Some(owner_email.to_lowercase())),
            Grant::PartnerLink { partner_id } => (TokenKind::Partner, Some(partner_id.clone())),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Grant::Admin)
    }

    /// Whether this grant may see the partner `partner_id` owned by
    /// `owner_email`.
    pub fn can_see_partner(&self, partner_id: &str, owner_email: Option<&str>) -> bool {
        match self {
            Grant::Admin => true,
            Grant::Pam { owner_email: mine } => {
                owner_email.is_some_and(|o| o.trim().eq_ignore_ascii_case(mine.trim()))
            }
            Grant::PartnerLink { partner_id: p } => p == partner_id,
        }
    }
}

/// A fresh random token (URL-safe base64, 43 characters, 256 bits) from the
/// operating system's CSPRNG (through `rand`'s thread RNG, which is seeded
/// from it and cryptographically secure).
pub fn generate_token() -> String {
    let mut buf = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A short random public id for a token record (shown in lists, used to
/// revoke); not a secret.
pub fn generate_token_id() -> String {
    let mut buf = [0u8; 9];
    rand::rng().fill_bytes(&mut buf);
    format!("tok-{}", URL_SAFE_NO_PAD.encode(buf))
}

/// SHA-256 hex of a token — the only form in which tokens are stored. A
/// plain (unsalted) hash is enough because tokens are high-entropy random
/// or MAC values, not passwords: there is no dictionary to try.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality, so response timing does not reveal how many
/// leading bytes of a guess were right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Whether `presented` hashes to `stored_hash_hex`, compared in constant
/// time (used for the configured admin token, which is kept as a hash).
pub fn verify_token(presented: &str, stored_hash_hex: &str) -> bool {
    constant_time_eq(
        token_hash(presented).as_bytes(),
        stored_hash_hex.to_ascii_lowercase().as_bytes(),
    )
}

fn mac(secret: &[u8], label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(label);
    for p in parts {
        // Length-prefix every part so ("ab","c") and ("a","bc") differ.
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// The private dashboard link token of `partner_id` at `version`:
/// URL-safe base64 of HMAC-SHA256(secret, partner_id, version), 43
/// characters. Reveals nothing about the partner.
pub fn partner_link_token(secret: impl AsRef<[u8]>, partner_id: &str, version: u32) -> String {
    let tag = mac(
        secret.as_ref(),
        LINK_LABEL,
        &[partner_id.as_bytes(), &version.to_be_bytes()],
    );
    URL_SAFE_NO_PAD.encode(tag)
}

/// Public id of the token record of a partner link: `link-<version>-<partner id>`.
pub fn partner_link_id(partner_id: &str, version: u32) -> String {
    format!("{LINK_ID_PREFIX}{version}-{partner_id}")
}

/// Inverse of [`partner_link_id`]: `(partner_id, version)`.
pub fn parse_partner_link_id(id: &str) -> Option<(String, u32)> {
    let rest = id.strip_prefix(LINK_ID_PREFIX)?;
    let (v, partner) = rest.split_once('-')?;
    if partner.is_empty() {
        return None;
    }
    Some((partner.to_string(), v.parse().ok()?))
}

/// The record to store (with [`partner_link_token`] as the secret) for a
/// partner's link at `version`.
pub fn partner_link_record(partner_id: &str, version: u32, now: DateTime<Utc>) -> TokenRecord {
    TokenRecord {
        id: partner_link_id(partner_id, version),
        kind: TokenKind::Partner,
        scope: Some(partner_id.to_string()),
        label: Some(format!("partner link v{version}")),
        created_at: Some(now),
        expires_at: None,
        revoked_at: None,
    }
}

fn link_versions<'a>(
    records: &'a [TokenRecord],
    partner_id: &'a str,
) -> impl Iterator<Item = (u32, &'a TokenRecord)> + 'a {
    records
        .iter()
        .filter(|r| r.kind == TokenKind::Partner)
        .filter_map(|r| parse_partner_link_id(&r.id).map(|(p, v)| (p, v, r)))
        .filter(move |(p, _, _)| p == partner_id)
        .map(|(_, v, r)| (v, r))
}

/// Highest *live* (not revoked) link version of `partner_id` among
/// `records` (e.g. `Store::all_tokens()`), `None` when it has no live link.
pub fn current_link_version(records: &[TokenRecord], partner_id: &str) -> Option<u32> {
    link_versions(records, partner_id)
        .filter(|(_, r)| !r.is_revoked())
        .map(|(v, _)| v)
        .max()
}

/// Where issuing a new link of `partner_id` starts: above every version
/// the caller knows of, live or revoked (1 when it knows none — the
/// conditional put then tells whether version 1 exists after all).
pub fn next_link_version(records: &[TokenRecord], partner_id: &str) -> u32 {
    link_versions(records, partner_id)
        .map(|(v, _)| v.saturating_add(1))
        .max()
        .unwrap_or(1)
}

/// Live link records of `partner_id` other than version `keep` (left over
/// from before links were tombstoned, or from a key rotation): revoking
/// closes them too, so a partner ends with exactly one live link.
pub fn stale_live_links<'a>(
    records: &'a [TokenRecord],
    partner_id: &'a str,
    keep: u32,
) -> impl Iterator<Item = &'a TokenRecord> + 'a {
    link_versions(records, partner_id)
        .filter(move |(v, r)| *v != keep && !r.is_revoked())
        .map(|(_, r)| r)
}

fn unsubscribe_cipher(secret: &[u8]) -> ChaCha20Poly1305 {
    // A derived key, so the configured secret is never used raw as a
    // cipher key and the same secret could sign other things safely.
    let key = mac(secret, UNSUB_LABEL, &[]);
    ChaCha20Poly1305::new(&key.into())
}

/// A verified unsubscribe token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Normalised (trimmed, lower-case) address.
    pub email: String,
    pub expires_at: DateTime<Utc>,
}

/// Unsubscribe token for `email`, valid for [`UNSUBSCRIBE_VALIDITY_DAYS`]
/// from `now`: `base64url(nonce ‖ ChaCha20-Poly1305(expiry ‖ email))`. The
/// e-mail is normalised (trimmed, lower-cased) first, so the opt-out
/// matches however the address was capitalised; the random nonce makes
/// every mail's link different.
pub fn unsubscribe_token(secret: impl AsRef<[u8]>, email: &str, now: DateTime<Utc>) -> String {
    let expires = now + Duration::days(UNSUBSCRIBE_VALIDITY_DAYS);
    let mut plain = expires.timestamp().to_be_bytes().to_vec();
    plain.extend_from_slice(normalize_email(email).as_bytes());
    let mut nonce = [0u8; UNSUB_NONCE];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = unsubscribe_cipher(secret.as_ref())
        .encrypt(Nonce::from_slice(&nonce), plain.as_slice())
        .expect("ChaCha20-Poly1305 encrypts any message this size");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    URL_SAFE_NO_PAD.encode(out)
}

/// The address an unsubscribe token was issued for, if it authenticates
/// under `secret` and has not expired at `now`; `None` for anything
/// malformed, forged, tampered with or expired.
pub fn verify_unsubscribe(
    secret: impl AsRef<[u8]>,
    token: &str,
    now: DateTime<Utc>,
) -> Option<Unsubscribe> {
    let raw = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    if raw.len() <= UNSUB_NONCE {
        return None;
    }
    let (nonce, sealed) = raw.split_at(UNSUB_NONCE);
    let plain = unsubscribe_cipher(secret.as_ref())
        .decrypt(Nonce::from_slice(nonce), sealed)
        .ok()?;
    if plain.len() < 8 {
        return None;
    }
    let (exp, email) = plain.split_at(8);
    let expires_at = DateTime::from_timestamp(i64::from_be_bytes(exp.try_into().ok()?), 0)?;
    let email = String::from_utf8(email.to_vec()).ok()?;
    (expires_at > now && !email.is_empty()).then_some(Unsubscribe { email, expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_long_random_and_url_safe() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), TOKEN_BYTES);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(generate_token_id(), generate_token_id());
    }

    #[test]
    fn hash_matches_the_store_key_form() {
        assert_eq!(
            token_hash("abc"),
            crate::store::access::hash_token("abc"),
            "reports and store must agree on the stored form"
        );
        assert!(verify_token("abc", &token_hash("abc")));
        assert!(verify_token("abc", &token_hash("abc").to_uppercase()));
        assert!(!verify_token("abd", &token_hash("abc")));
        assert!(!verify_token("abc", ""));
    }

    #[test]
    fn partner_links_are_deterministic_and_versioned() {
        let k = b"link-key";
        let l1 = partner_link_token(k, "P1", 1);
        assert_eq!(l1, partner_link_token(k, "P1", 1));
        assert_ne!(l1, partner_link_token(k, "P1", 2), "bumping revokes");
        assert_ne!(l1, partner_link_token(k, "P2", 1));
        assert_ne!(l1, partner_link_token(b"other", "P1", 1));
        assert_eq!(URL_SAFE_NO_PAD.decode(&l1).unwrap().len(), 32);
        assert!(!l1.contains("P1"));
    }

    #[test]
    fn link_ids_round_trip_even_with_dashes_in_the_id() {
        let id = partner_link_id("acme-01", 7);
        assert_eq!(parse_partner_link_id(&id), Some(("acme-01".into(), 7)));
        assert_eq!(parse_partner_link_id("tok-abc"), None);
        assert_eq!(parse_partner_link_id("link-x-P1"), None);
        assert_eq!(parse_partner_link_id("link-3-"), None);
    }

    #[test]
    fn current_version_is_the_highest_stored() {
        let now = Utc::now();
        let recs = vec![
            partner_link_record("P1", 1, now),
            partner_link_record("P1", 3, now),
            partner_link_record("P10", 9, now),
            TokenRecord {
                id: "tok-x".into(),
                kind: TokenKind::Pam,
                scope: Some("a@b.c".into()),
                ..Default::default()
            },
        ];
        assert_eq!(current_link_version(&recs, "P1"), Some(3));
        assert_eq!(current_link_version(&recs, "P2"), None);
        let g = Grant::from_record(&recs[0]).unwrap();
        assert_eq!(
            g,
            Grant::PartnerLink {
                partner_id: "P1".into()
            }
        );
    }

    #[test]
    fn unsubscribe_round_trips_hides_the_address_and_expires() {
        let k = "unsub-key";
        let now = Utc::now();
        let t = unsubscribe_token(k, " Ann@Example.COM ", now);
        let v = verify_unsubscribe(k, &t, now).unwrap();
        assert_eq!(v.email, "ann@example.com");
        assert_eq!(
            v.expires_at.timestamp(),
            (now + Duration::days(UNSUBSCRIBE_VALIDITY_DAYS)).timestamp()
        );
        // Nothing of the address is in the token, not even base64 of it.
        let raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        assert!(!raw.windows(3).any(|w| w == b"ann"), "{t}");
        assert!(!t.contains(&URL_SAFE_NO_PAD.encode("ann@example.com")[..8]));
        // Each mail gets its own link.
        assert_ne!(t, unsubscribe_token(k, "ann@example.com", now));
        assert_eq!(verify_unsubscribe("other", &t, now), None);
        let later = now + Duration::days(UNSUBSCRIBE_VALIDITY_DAYS) + Duration::seconds(1);
        assert_eq!(verify_unsubscribe(k, &t, later), None, "expired");
        // Any flipped bit fails authentication.
        let mut bad = raw.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            verify_unsubscribe(k, &URL_SAFE_NO_PAD.encode(&bad), now),
            None
        );
        bad = raw;
        bad[20] ^= 1;
        assert_eq!(
            verify_unsubscribe(k, &URL_SAFE_NO_PAD.encode(&bad), now),
            None
        );
        for junk in ["", ".", "abc", "a.b.c", "!!.??"] {
            assert_eq!(verify_unsubscribe(k, junk, now), None, "{junk}");
        }
    }

    #[test]
    fn tombstoned_links_are_not_current_and_issuing_starts_above_them() {
        let now = Utc::now();
        let mut dead = partner_link_record("P1", 1, now);
        dead.revoked_at = Some(now);
        let recs = vec![dead.clone(), partner_link_record("P1", 2, now)];
        assert_eq!(current_link_version(&recs, "P1"), Some(2));
        assert_eq!(next_link_version(&recs, "P1"), 3);
        assert_eq!(current_link_version(&[dead.clone()], "P1"), None);
        assert_eq!(next_link_version(&[dead.clone()], "P1"), 2);
        assert_eq!(next_link_version(&[], "P1"), 1);
        assert_eq!(
            Grant::from_record(&dead),
            None,
            "a tombstone grants nothing"
        );
        let old = vec![
            partner_link_record("P1", 1, now),
            dead,
            partner_link_record("P1", 3, now),
        ];
        let stale: Vec<_> = stale_live_links(&old, "P1", 3)
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(stale, ["link-1-P1"]);
    }

    #[test]
    fn grants_scope_partners() {
        let pam = Grant::Pam {
            owner_email: "pam@vendor.com".into(),
        };
        assert!(pam.can_see_partner("P1", Some("PAM@vendor.com")));
        assert!(!pam.can_see_partner("P1", Some("other@vendor.com")));
        assert!(!pam.can_see_partner("P1", None));
        let link = Grant::PartnerLink {
            partner_id: "P1".into(),
        };
        assert!(link.can_see_partner("P1", None));
        assert!(!link.can_see_partner("P2", None));
        assert!(Grant::Admin.can_see_partner("P2", None));
        // A PAM record without scope grants nothing (never admin).
        let bad = TokenRecord {
            kind: TokenKind::Pam,
            scope: Some("  ".into()),
            ..Default::default()
        };
        assert_eq!(Grant::from_record(&bad), None);
        let (kind, scope) = pam.kind_and_scope();
        assert_eq!(kind, TokenKind::Pam);
        assert_eq!(scope.as_deref(), Some("pam@vendor.com"));
    }
}
