//! Wire records of both sources, parsed tolerantly.
//!
//! Real data is dirty (docs/source-contract.md): fields come and go, numbers arrive as
//! strings, dates with and without offsets, `null` anywhere. Every field
//! here is therefore optional and parsed by a lenient helper; unknown
//! fields are ignored (serde's default). A single record that cannot be
//! read at all (no id) is skipped by the page parser rather than failing
//! the whole page, because one bad row must not block a sync of 30,000.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Lenient scalar parsing
// ---------------------------------------------------------------------------

/// Parses a date-time in any of the shapes the sources send.
///
/// A date-time *without* an offset is taken as UTC: both APIs store and
/// serve UTC (Impartner's OData-style `Updated` never carries an offset,
/// older Northpass records lost theirs in a migration), and guessing a
/// local zone would shift expiry instants by hours depending on where the
/// code runs. A bare date is midnight UTC. Unparseable text gives `None`
/// instead of an error so one bad date does not reject the record.
pub fn parse_datetime_lenient(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    // Offsets without a colon (`+0000`) or after a space.
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f %z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    // No offset at all: UTC (see above). A trailing " UTC" is the same.
    let naive_part = s.strip_suffix(" UTC").unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(naive_part, fmt) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

/// A date-time from any JSON value: strings as above, numbers as Unix
/// seconds (some exports do that), anything else `None`.
pub fn datetime_from_value(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => parse_datetime_lenient(s),
        Value::Number(n) => n
            .as_i64()
            .and_then(|secs| DateTime::from_timestamp(secs, 0)),
        _ => None,
    }
}

/// NPCU value of a course: 0, 1 or 2. Arrives as a number or a string;
/// empty, absent, invalid, fractional or out of `0..=2` all mean 0 (the
/// contract), because a course nobody configured properly is not a
/// certification.
pub fn npcu_from_value(v: Option<&Value>) -> u8 {
    let n = match v {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(x) if x.fract() == 0.0 && (0.0..=2.0).contains(&x) => x as u8,
        _ => 0,
    }
}

/// A non-empty string from a string, number or bool; `None` otherwise.
/// Empty strings are `None`: the sources use `""` and `null` for the same
/// "not set".
pub fn string_from_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn f64_from_value(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

pub(crate) fn u64_from_value(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

fn bool_from_value(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

// serde adapters: each reads any JSON value and maps what it cannot use to
// `None`, so a wrong type in one field never fails the record.

pub(crate) fn de_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .as_ref()
        .and_then(string_from_value))
}

pub(crate) fn de_opt_datetime<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .as_ref()
        .and_then(datetime_from_value))
}

pub(crate) fn de_opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .as_ref()
        .and_then(bool_from_value))
}

/// The value of `key` in a JSON object, whatever the case of its first
/// letter (`name` / `Name`).
fn field_ci<'a>(m: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// An id given as text, a number, or an object reference (`{"id": ..}`).
pub(crate) fn de_opt_ref_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Object(m)) => field_ci(&m, "id").and_then(string_from_value),
        Some(v) => string_from_value(&v),
        None => None,
    })
}

/// A name given as text or as an object reference carrying `name`.
pub(crate) fn de_opt_ref_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Object(m)) => field_ci(&m, "name").and_then(string_from_value),
        Some(v @ Value::String(_)) => string_from_value(&v),
        _ => None,
    })
}

/// Ids are required; numbers are accepted and kept as their decimal text
/// so ids compare the same whatever the source sent.
pub(crate) fn de_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    string_from_value(&v).ok_or_else(|| serde::de::Error::custom(format!("unusable id: {v}")))
}

// ---------------------------------------------------------------------------
// Northpass records (flattened from JSON:API resources)
// ---------------------------------------------------------------------------

/// `GET /v2/people`: an LMS user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    /// As sent (mixed case happens); normalising is the domain's job.
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub last_active_at: Option<DateTime<Utc>>,
    /// `None` = active.
    pub deactivated_at: Option<DateTime<Utc>>,
}

impl Person {
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }
}

/// `GET /v2/groups`: one group per partner company (name sometimes with a
/// `ptr_` prefix), plus customer groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    /// Empty when the source sent none (it is still a group we can list).
    pub name: String,
    pub description: Option<String>,
    pub user_count: Option<u64>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `GET /v2/groups/{id}/memberships`: one member of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub group_id: String,
    pub person_id: String,
}

/// `GET /v2/courses`: a catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Course {
    pub id: String,
    /// `name`, or the older `title`; empty if neither.
    pub name: String,
    pub status: Option<String>,
    /// Learner URL.
    pub permalink: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `GET /v2/properties/courses`: custom properties of one course.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourseProperties {
    pub course_id: String,
    /// 0, 1 or 2 (see [`npcu_from_value`]).
    pub npcu: u8,
    /// Product category, if configured.
    pub category: Option<String>,
}

/// Progress of a transcript record. Unknown values are kept, not
/// rejected, so a new LMS status shows up in logs instead of failing a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProgressStatus {
    Enrolled,
    InProgress,
    Completed,
    Other(String),
}

impl ProgressStatus {
    pub fn parse(s: &str) -> Self {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "enrolled" | "not_started" => ProgressStatus::Enrolled,
            "in_progress" | "started" => ProgressStatus::InProgress,
            "completed" | "complete" | "passed" => ProgressStatus::Completed,
            _ => ProgressStatus::Other(s.to_string()),
        }
    }
}

/// `GET /v2/transcripts/{person_id}`: one course record of one user. Only
/// `resource_type == course` records are returned by the client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    pub person_id: String,
    /// The course id (`resource_id`); the course may have been deleted.
    pub course_id: String,
    /// The course name as the transcript carries it (handy when the
    /// course itself was deleted).
    pub course_name: Option<String>,
    pub status: ProgressStatus,
    pub enrolled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub score: Option<f64>,
}

// ---------------------------------------------------------------------------
// Impartner records (flat OData-style objects)
// ---------------------------------------------------------------------------

/// `Account`: a partner company in the PRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    #[serde(rename = "Id", deserialize_with = "de_id")]
    pub id: String,
    #[serde(rename = "Name", default, deserialize_with = "de_opt_string")]
    pub name: Option<String>,
    /// Premier, Select, Registered, Certified, Pending, or blank (`None`).
    #[serde(
        rename = "Partner_Tier__cf",
        default,
        deserialize_with = "de_opt_string"
    )]
    pub partner_tier: Option<String>,
    /// Active / Inactive.
    #[serde(
        rename = "Account_Status__cf",
        default,
        deserialize_with = "de_opt_string"
    )]
    pub account_status: Option<String>,
    /// PAM name.
    #[serde(
        rename = "Account_Owner__cf",
        default,
        deserialize_with = "de_opt_string"
    )]
    pub account_owner: Option<String>,
    #[serde(
        rename = "Account_Owner_Email__cf",
        default,
        deserialize_with = "de_opt_string"
    )]
    pub account_owner_email: Option<String>,
    #[serde(
        rename = "Partner_Type__cf",
        default,
        deserialize_with = "de_opt_string"
    )]
    pub partner_type: Option<String>,
    #[serde(rename = "Website", default, deserialize_with = "de_opt_string")]
    pub website: Option<String>,
    /// Salesforce id, 15 or 18 chars (the first 15 identify it).
    #[serde(rename = "CrmId", default, deserialize_with = "de_opt_string")]
    pub crm_id: Option<String>,
    #[serde(rename = "MailingCountry", default, deserialize_with = "de_opt_string")]
    pub mailing_country: Option<String>,
    /// A region name carried on the record itself: older tenants send
    /// `Region` as text, others as an object reference that may hold a
    /// `name`. The usual source of the name is `region_id` + the `Region`
    /// object (see `ImpartnerClient::regions`).
    #[serde(rename = "Region", default, deserialize_with = "de_opt_ref_name")]
    pub region: Option<String>,
    #[serde(rename = "RegionId", default, deserialize_with = "de_opt_ref_id")]
    pub region_id: Option<String>,
    #[serde(
        rename = "ParentAccountId",
        default,
        deserialize_with = "de_opt_ref_id"
    )]
    pub parent_account_id: Option<String>,
    #[serde(rename = "PrimaryUserId", default, deserialize_with = "de_opt_ref_id")]
    pub primary_user_id: Option<String>,
    #[serde(rename = "Updated", default, deserialize_with = "de_opt_datetime")]
    pub updated: Option<DateTime<Utc>>,
}

/// `Region`: a named region an account points at by `RegionId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    #[serde(rename = "Id", deserialize_with = "de_id")]
    pub id: String,
    #[serde(rename = "Name", default, deserialize_with = "de_opt_string")]
    pub name: Option<String>,
}

/// `User`: a partner contact in the PRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmUser {
    #[serde(rename = "Id", deserialize_with = "de_id")]
    pub id: String,
    #[serde(rename = "Email", default, deserialize_with = "de_opt_string")]
    pub email: Option<String>,
    #[serde(rename = "FirstName", default, deserialize_with = "de_opt_string")]
    pub first_name: Option<String>,
    #[serde(rename = "LastName", default, deserialize_with = "de_opt_string")]
    pub last_name: Option<String>,
    #[serde(rename = "Title", default, deserialize_with = "de_opt_string")]
    pub title: Option<String>,
    #[serde(rename = "Phone", default, deserialize_with = "de_opt_string")]
    pub phone: Option<String>,
    /// `AccountId`; production code requests `Account` (an id or an
    /// object reference), accepted too.
    #[serde(
        rename = "AccountId",
        alias = "Account",
        default,
        deserialize_with = "de_opt_ref_id"
    )]
    pub account_id: Option<String>,
    #[serde(rename = "AccountName", default, deserialize_with = "de_opt_string")]
    pub account_name: Option<String>,
    /// `None` when the source did not say; callers decide the default.
    #[serde(rename = "IsActive", default, deserialize_with = "de_opt_bool")]
    pub is_active: Option<bool>,
    /// Inactive, Terminated, Suspended, Deactivated → not an active contact.
    #[serde(
        rename = "Contact_Status__cf",
        default,
        deserialize_with = "de_opt_string"
    )]
    pub contact_status: Option<String>,
    #[serde(rename = "Updated", default, deserialize_with = "de_opt_datetime")]
    pub updated: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn dates_with_and_without_offsets() {
        let cases = [
            ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"),
            ("2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00Z"),
            ("2026-03-01T12:00:00.250+0200", "2026-03-01T10:00:00.250Z"),
            ("2026-03-01 05:00:00-05:00", "2026-03-01T10:00:00Z"),
            ("2026-03-01T10:00:00", "2026-03-01T10:00:00Z"),
            ("2026-03-01T10:00:00.123456", "2026-03-01T10:00:00.123456Z"),
            ("2026-03-01 10:00:00", "2026-03-01T10:00:00Z"),
            ("2026-03-01 10:00:00 UTC", "2026-03-01T10:00:00Z"),
            ("2026-03-01T10:00", "2026-03-01T10:00:00Z"),
            ("2026-03-01", "2026-03-01T00:00:00Z"),
        ];
        for (input, want) in cases {
            assert_eq!(parse_datetime_lenient(input), Some(utc(want)), "{input}");
        }
        for bad in ["", "  ", "yesterday", "2026-13-01", "01/03/2026"] {
            assert_eq!(parse_datetime_lenient(bad), None, "{bad}");
        }
        assert_eq!(
            datetime_from_value(&json!(1_767_225_600)),
            Some(utc("2026-01-01T00:00:00Z"))
        );
        assert_eq!(datetime_from_value(&json!(null)), None);
        assert_eq!(datetime_from_value(&json!({"x": 1})), None);
    }

    #[test]
    fn npcu_rules() {
        let cases = [
            (Some(json!(0)), 0),
            (Some(json!(1)), 1),
            (Some(json!(2)), 2),
            (Some(json!(2.0)), 2),
            (Some(json!("1")), 1),
            (Some(json!(" 2 ")), 2),
            (Some(json!("")), 0),
            (None, 0),
            (Some(json!(null)), 0),
            (Some(json!("abc")), 0),
            (Some(json!(3)), 0),
            (Some(json!(-1)), 0),
            (Some(json!("5")), 0),
            (Some(json!(1.5)), 0),
            (Some(json!(true)), 0),
            (Some(json!([1])), 0),
        ];
        for (v, want) in cases {
            assert_eq!(npcu_from_value(v.as_ref()), want, "{v:?}");
        }
    }

    #[test]
    fn impartner_account_tolerates_types_nulls_and_unknown_fields() {
        let a: Account = serde_json::from_value(json!({
            "Id": 1042,
            "Name": "Acme Ltd",
            "Partner_Tier__cf": "",
            "Account_Status__cf": null,
            "CrmId": "0015g00000AbCdEAAZ",
            "Updated": "2026-02-03T04:05:06",
            "Some_New_Field__cf": {"nested": true}
        }))
        .unwrap();
        assert_eq!(a.id, "1042");
        assert_eq!(a.name.as_deref(), Some("Acme Ltd"));
        assert_eq!(a.partner_tier, None);
        assert_eq!(a.account_status, None);
        assert_eq!(a.region, None);
        assert_eq!(a.updated, Some(utc("2026-02-03T04:05:06Z")));
    }

    #[test]
    fn impartner_user_bool_variants_and_missing_id() {
        let u: CrmUser = serde_json::from_value(json!({
            "Id": "u-1", "Email": "Jane@Example.com", "AccountId": 7,
            "IsActive": "true", "Updated": "not a date"
        }))
        .unwrap();
        assert_eq!(u.account_id.as_deref(), Some("7"));
        assert_eq!(u.is_active, Some(true));
        assert_eq!(u.updated, None);
        let u: CrmUser = serde_json::from_value(json!({"Id": 3, "IsActive": 0})).unwrap();
        assert_eq!(u.is_active, Some(false));
        assert!(serde_json::from_value::<CrmUser>(json!({"Email": "x@y.z"})).is_err());
        assert!(serde_json::from_value::<CrmUser>(json!({"Id": null})).is_err());
    }

    #[test]
    fn progress_status_parsing() {
        assert_eq!(ProgressStatus::parse("enrolled"), ProgressStatus::Enrolled);
        assert_eq!(
            ProgressStatus::parse("In Progress"),
            ProgressStatus::InProgress
        );
        assert_eq!(
            ProgressStatus::parse("COMPLETED"),
            ProgressStatus::Completed
        );
        assert_eq!(
            ProgressStatus::parse("archived"),
            ProgressStatus::Other("archived".into())
        );
    }
}
