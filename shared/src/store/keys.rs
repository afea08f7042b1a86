//! Key layout of the single table. Every key string is built here, so the
//! layout is readable in one place and nobody formats `PARTNER#…` by hand.
//!
//! | item | PK | SK | GSI1 (type index) | GSI2 (expiry) | TTL |
//! |---|---|---|---|---|---|
//! | partner profile | `PARTNER#<id>` | `PROFILE` | `PARTNER` / id | | |
//! | partner summary | `PARTNER#<id>` | `SUMMARY` | `SUMMARY` / id | | |
//! | dashboard cert row | `PARTNER#<id>` | `CERT#<user>#<course>` | `CERT` / `<partner>#<user>#<course>` | `EXP#<YYYY-MM>` / `<expiry>#<user>#<course>` (completed rows with an expiry) | |
//! | org certification | `PARTNER#<id>` | `ORGCERT#<id>` | `ORGCERT` / id | | |
//! | partner history month | `HISTORY#<id>` | `MONTH#<YYYY-MM>` | | | |
//! | history marker | `HISTORY` | `LAST` | | | |
//! | LMS user | `USER#<id>` | `PROFILE` | `USER` / id | | |
//! | enrollment | `USER#<id>` | `ENR#<course>` | | | |
//! | LMS group | `GROUP#<id>` | `PROFILE` | `GROUP` / id | | |
//! | membership | `GROUP#<id>` | `MEMBER#<user>` | `MEMBER` / `<group>#<user>` | | |
//! | course | `COURSE#<id>` | `PROFILE` | `COURSE` / id | | |
//! | contact | `CONTACT#<id>` | `PROFILE` | `CONTACT` / id | | |
//! | contact of a partner (copy, for the recompute) | `ACCOUNT#<partner id>` | `CONTACT#<id>` | | | |
//! | group a user is a member of (reverse of membership) | `USER#<id>` | `MEMBEROF#<group>` | | | |
//! | transcript fetch marker (sync: `markers.rs`) | `USER#<id>` | `TRANSCRIPT` | `TFETCH` / `<fetched at>#<id>` | | |
//! | transcript due for the next incremental run (sync: `markers.rs`) | `USER#<id>` | `TDUE` | `TDUE` / id | | |
//! | e-mail lookup | `EMAIL#<lower-case e-mail>` | `USER#<id>` / `CONTACT#<id>` | | | |
//! | manual award | `AWARD#<id>` | `PROFILE` | `AWARD` / id | | |
//! | task lock | `TASK#<name>` | `LOCK` | | | |
//! | task state | `TASK#<name>` | `STATE` | `TASK` / name | | |
//! | task run | `TASK#<name>` | `RUN#<started>#<run id>` | | | 90 days |
//! | access token | `TOKEN#<sha256 hex>` | `TOKEN` | `TOKEN` / token id | | optional |
//! | reminder claim | `REMINDER#<key>` | `CLAIM` | | | yes |
//! | opt-out | `OPTOUT#<lower-case e-mail>` | `OPTOUT` | | | |
//! | mail suppression (hard bounce, complaint) | `SUPPRESS#<lower-case e-mail>` | `SUPPRESS` | | | |
//! | web session | `SESSION#<sha256 hex>` | `SESSION` | | | idle / absolute end |
//! | sign-in link | `LOGIN#<sha256 hex>` | `LOGIN` | | | 15 minutes |
//! | certification definition | `CERTDEF#<id>` | `PROFILE` | `CERTDEF` / id | | |
//! | manual status | `MSTATUS#<user>` | `CERT#<certification>` | `MSTATUS` / `<user>#<certification>` | | |
//! | recertification enrolment | `RECERT#<user>#<certification>` | `EXP#<expiry>` | `RECERT` / `<user>#<certification>#<expiry>` | | |
//! | attempt counter | `RATE#<bucket>#<sha256 hex of subject>` | `COUNT` | | | when its window ends |
//! | webhook event (dedupe) | `HOOK#<event id>` | `EVENT` | | | 3 days |
//! | webhook counters | `HOOKS` | `COUNTERS` | | | |
//!
//! Ids are opaque source ids (UUIDs, CRM ids) and must not contain `#`.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};

pub const PROFILE: &str = "PROFILE";
pub const SUMMARY: &str = "SUMMARY";

/// Entity types: the `et` attribute and, for indexed ones, `GSI1PK`.
pub mod entity {
    pub const PARTNER: &str = "PARTNER";
    pub const SUMMARY: &str = "SUMMARY";
    pub const CERT: &str = "CERT";
    pub const ORGCERT: &str = "ORGCERT";
    pub const HISTORY: &str = "HISTORY";
    pub const USER: &str = "USER";
    pub const ENROLLMENT: &str = "ENR";
    pub const GROUP: &str = "GROUP";
    pub const MEMBER: &str = "MEMBER";
    pub const COURSE: &str = "COURSE";
    pub const CONTACT: &str = "CONTACT";
    /// A contact's copy under its partner account (not type-indexed).
    pub const ACCOUNT_CONTACT: &str = "ACONTACT";
    /// A membership's copy under its user (not type-indexed).
    pub const MEMBER_OF: &str = "MEMBEROF";
    pub const EMAIL: &str = "EMAIL";
    pub const AWARD: &str = "AWARD";
    pub const LOCK: &str = "LOCK";
    pub const TASK: &str = "TASK";
    pub const RUN: &str = "RUN";
    pub const TOKEN: &str = "TOKEN";
    pub const REMINDER: &str = "REMINDER";
    pub const OPTOUT: &str = "OPTOUT";
    pub const SUPPRESSION: &str = "SUPPRESS";
    pub const SESSION: &str = "SESSION";
    pub const LOGIN: &str = "LOGIN";
    pub const RATE: &str = "RATE";
    pub const HOOK: &str = "HOOK";
    pub const HOOK_COUNTERS: &str = "HOOKS";
    pub const CERTDEF: &str = "CERTDEF";
    pub const MSTATUS: &str = "MSTATUS";
    pub const RECERT: &str = "RECERT";
}

/// Timestamps inside keys: UTC, fixed width, millisecond precision, `Z`
/// suffix — so lexicographic order equals time order.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn partner_pk(id: &str) -> String {
    format!("PARTNER#{id}")
}
/// Sort-key prefix of a partner's dashboard rows.
pub const CERT_PREFIX: &str = "CERT#";
pub fn cert_sk(user_id: &str, course_id: &str) -> String {
    format!("CERT#{user_id}#{course_id}")
}
pub fn orgcert_sk(id: &str) -> String {
    format!("ORGCERT#{id}")
}
/// A partner's daily history, one item per month (see `store::history`).
pub fn history_pk(partner_id: &str) -> String {
    format!("HISTORY#{partner_id}")
}
pub fn history_sk(month: &str) -> String {
    format!("MONTH#{month}")
}
pub const HISTORY_MARKER_PK: &str = "HISTORY";
pub const HISTORY_MARKER_SK: &str = "LAST";
pub fn user_pk(id: &str) -> String {
    format!("USER#{id}")
}
pub fn enrollment_sk(course_id: &str) -> String {
    format!("ENR#{course_id}")
}
pub fn group_pk(id: &str) -> String {
    format!("GROUP#{id}")
}
pub fn member_sk(user_id: &str) -> String {
    format!("MEMBER#{user_id}")
}
pub fn course_pk(id: &str) -> String {
    format!("COURSE#{id}")
}
pub fn contact_pk(id: &str) -> String {
    format!("CONTACT#{id}")
}
/// The contacts of one partner account (copies of the `CONTACT#` items),
/// so one Query answers "who are this partner's contacts".
pub fn account_pk(partner_id: &str) -> String {
    format!("ACCOUNT#{partner_id}")
}
pub fn account_contact_sk(contact_id: &str) -> String {
    format!("CONTACT#{contact_id}")
}
/// The groups a user is a member of, in the user's own partition, so the
/// partners of a changed user are found without reading every group.
pub fn member_of_sk(group_id: &str) -> String {
    format!("MEMBEROF#{group_id}")
}

pub fn award_pk(id: &str) -> String {
    format!("AWARD#{id}")
}
/// E-mails are compared case-insensitively everywhere in the portal.
pub use crate::rules::members::normalize_email;
pub fn email_pk(email: &str) -> String {
    format!("EMAIL#{}", normalize_email(email))
}
pub fn email_user_sk(user_id: &str) -> String {
    format!("USER#{user_id}")
}
pub fn email_contact_sk(contact_id: &str) -> String {
    format!("CONTACT#{contact_id}")
}
pub fn task_pk(name: &str) -> String {
    format!("TASK#{name}")
}
pub const LOCK_SK: &str = "LOCK";
pub const STATE_SK: &str = "STATE";
pub const RUN_PREFIX: &str = "RUN#";
pub fn run_sk(started: DateTime<Utc>, run_id: &str) -> String {
    format!("RUN#{}#{run_id}", ts(started))
}
pub fn token_pk(hash_hex: &str) -> String {
    format!("TOKEN#{hash_hex}")
}
pub const TOKEN_SK: &str = "TOKEN";
pub fn reminder_pk(key: &str) -> String {
    format!("REMINDER#{key}")
}
pub const CLAIM_SK: &str = "CLAIM";
pub fn optout_pk(email: &str) -> String {
    format!("OPTOUT#{}", normalize_email(email))
}
pub const OPTOUT_SK: &str = "OPTOUT";
pub fn suppression_pk(email: &str) -> String {
    format!("SUPPRESS#{}", normalize_email(email))
}
pub const SUPPRESSION_SK: &str = "SUPPRESS";
pub fn session_pk(hash_hex: &str) -> String {
    format!("SESSION#{hash_hex}")
}
pub const SESSION_SK: &str = "SESSION";
pub fn login_pk(hash_hex: &str) -> String {
    format!("LOGIN#{hash_hex}")
}
pub const LOGIN_SK: &str = "LOGIN";
pub fn rate_pk(bucket: &str, subject_hash: &str) -> String {
    format!("RATE#{bucket}#{subject_hash}")
}
pub const RATE_SK: &str = "COUNT";
pub fn hook_pk(event_id: &str) -> String {
    format!("HOOK#{event_id}")
}
pub const HOOK_SK: &str = "EVENT";
pub const HOOK_COUNTERS_PK: &str = "HOOKS";
pub const HOOK_COUNTERS_SK: &str = "COUNTERS";
/// A certification definition (`store::programs`).
pub fn certdef_pk(id: &str) -> String {
    format!("CERTDEF#{id}")
}
/// The manual statuses of one person, one item per certification.
pub fn mstatus_pk(user_id: &str) -> String {
    format!("MSTATUS#{user_id}")
}
pub fn mstatus_sk(certification: &str) -> String {
    format!("CERT#{certification}")
}
/// The recertification enrolments of one person's certification, one item
/// per expiry they were made for (so each expiry enrols once).
pub fn recert_pk(user_id: &str, certification: &str) -> String {
    format!("RECERT#{user_id}#{certification}")
}
pub fn recert_sk(expires_at: DateTime<Utc>) -> String {
    format!("EXP#{}", ts(expires_at))
}

/// Expiry-index partition of an instant: one partition per calendar month
/// keeps partitions small while a range of a few days/months is still only
/// one or a few Queries.
pub fn expiry_pk(t: DateTime<Utc>) -> String {
    format!("EXP#{:04}-{:02}", t.year(), t.month())
}
pub fn expiry_sk(t: DateTime<Utc>, user_id: &str, course_id: &str) -> String {
    format!("{}#{user_id}#{course_id}", ts(t))
}

/// The expiry-index partitions a half-open range `[from, to)` touches, in
/// order. Empty when `to <= from`.
pub fn expiry_months(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    if to <= from {
        return out;
    }
    // The last instant inside the range decides the last month.
    let last = to - chrono::Duration::milliseconds(1);
    let (mut y, mut m) = (from.year(), from.month());
    let (ly, lm) = (last.year(), last.month());
    while (y, m) <= (ly, lm) {
        out.push(format!("EXP#{y:04}-{m:02}"));
        if m == 12 {
            y += 1;
            m = 1;
        } else {
            m += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, mo: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn timestamps_sort_like_time() {
        let a = ts(t(2026, 1, 31));
        let b = ts(t(2026, 2, 1));
        assert_eq!(a, "2026-01-31T00:00:00.000Z");
        assert!(a < b);
        // A key that starts with the upper bound sorts after it, which is
        // what makes BETWEEN from AND to mean [from, to) on `<ts>#…` keys.
        assert!(expiry_sk(t(2026, 2, 1), "u", "c") > b);
    }

    #[test]
    fn months_of_ranges() {
        assert_eq!(
            expiry_months(t(2026, 11, 20), t(2027, 2, 1)),
            vec!["EXP#2026-11", "EXP#2026-12", "EXP#2027-01"]
        );
        assert_eq!(
            expiry_months(t(2026, 11, 20), t(2026, 11, 21)),
            vec!["EXP#2026-11"]
        );
        assert!(expiry_months(t(2026, 11, 20), t(2026, 11, 20)).is_empty());
    }

    #[test]
    fn emails_are_lowercased() {
        assert_eq!(email_pk(" John@X.io "), "EMAIL#john@x.io");
        assert_eq!(optout_pk("A@B.C"), "OPTOUT#a@b.c");
    }
}
