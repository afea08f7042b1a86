//! An independent reference model of the business rules, for end-to-end
//! expectations.
//!
//! It reads the raw JSON the simulators serve (the generator's
//! [`Dataset`], serialised) into plain structs of its own and applies the
//! product rules as the program documents them — it uses no rule, matcher,
//! parser or view of `portal_core`, so a wrong rule there shows up as a
//! difference here instead of being reproduced:
//!
//! - one record per user × course: the latest completion wins (then the
//!   further progress, then later dates);
//! - a certification is a completed record of a course with NPCU 1 or 2;
//!   it expires at the LMS `expires_at`, else completion + validity
//!   (default 24 months), and counts while `now < expiry`;
//! - "expiring" = counted and expiring within the warning window
//!   (default 90 days, inclusive);
//! - a partner's members are the active users of its LMS group plus the
//!   active users reached through its active CRM contacts by e-mail, each
//!   once;
//! - partner ↔ group: exact name, then with/without `ptr_`, then a
//!   normalised name (case, punctuation, `&`, trailing legal forms); ties go
//!   to the smallest group id;
//! - partners that are inactive or in an untracked tier (default `Pending`)
//!   are not tracked; contacts of internal domains or shared mailboxes are
//!   skipped; Impartner record keys are read case-insensitively and
//!   `Contact_Status__cf` Inactive/Terminated/Suspended/Deactivated means the
//!   contact is not active.
//!
//! Organisation certifications and manual awards are admin data, not in
//! the sources, so they are not modelled here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use portal_infra::datagen::Dataset;
use serde_json::{Map, Value};

/// The parameters of the rules, at the product's documented defaults.
#[derive(Debug, Clone)]
pub struct Rules {
    pub validity_months: u32,
    pub warning_days: i64,
    /// Lower-case tier names whose partners are not tracked.
    pub untracked_tiers: Vec<String>,
    pub internal_domains: Vec<String>,
    pub shared_mailboxes: Vec<String>,
    /// NPCU required per (lower-case) tier: any text the CRM uses. A tier
    /// not listed has no configured requirement; a blank tier requires 0.
    pub tier_requirements: BTreeMap<String, u32>,
    /// Legal forms that are noise at the end of a company name.
    pub legal_forms: Vec<String>,
}

/// Legal-form suffixes of company names (with dotted spellings).
pub const LEGAL_FORMS: &[&str] = &[
    "AG",
    "GmbH",
    "SA",
    "S.A.",
    "BV",
    "B.V.",
    "NV",
    "N.V.",
    "Pty",
    "PLC",
    "LLC",
    "LLP",
    "Corp",
    "Corporation",
    "Co",
    "Inc",
    "Incorporated",
    "Ltd",
    "Limited",
    "SAS",
    "SRL",
    "KK",
    "Oy",
    "AB",
    "AS",
];

impl Rules {
    /// The documented defaults, with the harness's internal domain.
    pub fn defaults(internal_domains: &[&str]) -> Rules {
        Rules {
            validity_months: 24,
            warning_days: 90,
            untracked_tiers: vec!["pending".into()],
            internal_domains: internal_domains.iter().map(|d| d.to_lowercase()).collect(),
            shared_mailboxes: ["demo", "sales", "support", "test", "accounts"]
                .map(String::from)
                .to_vec(),
            tier_requirements: [
                ("premier", 20),
                ("premier plus", 20),
                ("select", 10),
                ("registered", 5),
                ("certified", 0),
                ("aggregator", 0),
            ]
            .into_iter()
            .map(|(t, n)| (t.to_string(), n))
            .collect(),
            legal_forms: LEGAL_FORMS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Progress {
    Enrolled,
    InProgress,
    Completed,
}

/// A record's status at an instant, as the reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Enrolled,
    InProgress,
    Active,
    Expiring,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enrolled => "enrolled",
            Status::InProgress => "in_progress",
            Status::Active => "active",
            Status::Expiring => "expiring",
            Status::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    /// Trimmed, lower-case.
    pub email: String,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct Course {
    pub id: String,
    pub npcu: u32,
    pub category: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub user_id: String,
    pub course_id: String,
    pub progress: Progress,
    pub enrolled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Contact {
    pub id: String,
    pub email: String,
    pub account_id: Option<String>,
    /// Active in the CRM and not skipped by the contact filters.
    pub counts: bool,
    /// Active in the CRM (whatever the filters say).
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct Partner {
    pub id: String,
    pub name: String,
    /// The CRM's text, trimmed; `None` when blank.
    pub tier: Option<String>,
    pub active: bool,
    pub tracked: bool,
    pub group_id: Option<String>,
    /// User ids, each once.
    pub members: BTreeSet<String>,
}

/// A partner's numbers at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Numbers {
    pub npcu: u32,
    pub certifications: u32,
    pub certified_users: u32,
    pub expiring: u32,
    /// Category → (users, npcu, certifications).
    pub by_category: BTreeMap<String, (u32, u32, u32)>,
    pub user_count: u32,
    /// Shortfall against the tier's requirement; `None` when the tier has
    /// none configured.
    pub gap: Option<u32>,
}

/// The reference result of one data set.
#[derive(Debug, Clone)]
pub struct Reference {
    pub rules: Rules,
    pub partners: BTreeMap<String, Partner>,
    pub users: BTreeMap<String, User>,
    pub courses: BTreeMap<String, Course>,
    /// Group id → (name, member user ids as listed, active or not).
    pub groups: BTreeMap<String, (String, BTreeSet<String>)>,
    pub contacts: Vec<Contact>,
    /// The kept record per (user, course).
    pub records: BTreeMap<(String, String), Record>,
}

// ---------------------------------------------------------------------------
// Reading the raw JSON
// ---------------------------------------------------------------------------

fn date(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v?.as_str()?.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A CRM field whatever the case of its key (`Id`/`id`, `Partner_Tier__cf`
/// / `partner_Tier__cf`).
fn field<'a>(r: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    r.get(name).or_else(|| {
        r.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

pub fn crm_text(r: &Map<String, Value>, name: &str) -> Option<String> {
    text_of(field(r, name))
}

fn npcu(v: Option<&Value>) -> u32 {
    let n = match v {
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(Value::Number(n)) => n.as_f64(),
        _ => None,
    };
    n.filter(|x| [1.0, 2.0].contains(x)).map_or(0, |x| x as u32)
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

fn s(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    text_of(Some(cur))
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

fn without_ptr(name: &str) -> &str {
    match name.get(..4) {
        Some(h) if h.eq_ignore_ascii_case("ptr_") => &name[4..],
        _ => name,
    }
}

fn words(name: &str) -> Vec<String> {
    name.to_lowercase()
        .replace('&', " and ")
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The normalised name: lower case, punctuation as spaces, `&` as "and",
/// no `ptr_`, trailing legal forms dropped (one word always stays).
pub fn normalised(name: &str, legal_forms: &[String]) -> String {
    let forms: Vec<Vec<String>> = legal_forms
        .iter()
        .map(|f| words(f))
        .filter(|w| !w.is_empty())
        .collect();
    let mut w = words(without_ptr(name.trim()));
    loop {
        let hit = forms
            .iter()
            .find(|f| f.len() < w.len() && w.ends_with(f.as_slice()));
        match hit {
            Some(f) => w.truncate(w.len() - f.len()),
            None => break,
        }
    }
    w.join(" ")
}

fn shared_mailbox(local: &str, names: &[String]) -> bool {
    names.iter().any(|n| {
        local
            .strip_prefix(n.as_str())
            .is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_alphabetic()))
    })
}

fn skipped_email(email: &str, rules: &Rules) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return true;
    };
    if local.is_empty() || domain.is_empty() {
        return true;
    }
    let internal = rules
        .internal_domains
        .iter()
        .any(|d| domain == d || domain.ends_with(&format!(".{d}")));
    internal || shared_mailbox(local, &rules.shared_mailboxes)
}

const INACTIVE_CONTACT_STATUSES: &[&str] = &["inactive", "terminated", "suspended", "deactivated"];

fn is_true(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

impl Reference {
    pub fn from_dataset(ds: &Dataset, rules: &Rules) -> Reference {
        let raw = serde_json::to_value(ds).expect("dataset as JSON");

        let users: BTreeMap<String, User> = array(&raw, "people")
            .iter()
            .filter_map(|p| {
                let id = s(p, &["id"])?;
                let a = p.get("attributes")?;
                Some((
                    id.clone(),
                    User {
                        id,
                        email: s(a, &["email"]).unwrap_or_default().to_lowercase(),
                        active: date(a.get("deactivated_at")).is_none(),
                    },
                ))
            })
            .collect();

        let groups: Vec<(String, String)> = array(&raw, "groups")
            .iter()
            .filter_map(|g| {
                let name = g.get("attributes")?.get("name")?.as_str()?.to_string();
                Some((s(g, &["id"])?, name))
            })
            .collect();
        let mut members_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        if let Some(m) = raw.get("memberships").and_then(Value::as_object) {
            for (gid, items) in m {
                let set = members_of.entry(gid.clone()).or_default();
                for it in items.as_array().into_iter().flatten() {
                    if let Some(uid) = s(it, &["relationships", "person", "data", "id"]) {
                        set.insert(uid);
                    }
                }
            }
        }

        let mut props: BTreeMap<String, &Map<String, Value>> = BTreeMap::new();
        for p in array(&raw, "properties") {
            let cid = s(p, &["relationships", "course", "data", "id"]).or_else(|| s(p, &["id"]));
            let map = p
                .get("attributes")
                .and_then(|a| a.get("properties"))
                .and_then(Value::as_object);
            if let (Some(cid), Some(map)) = (cid, map) {
                props.insert(cid, map);
            }
        }
        let courses: BTreeMap<String, Course> = array(&raw, "courses")
            .iter()
            .filter_map(|c| {
                let id = s(c, &["id"])?;
                let p = props.get(&id);
                Some((
                    id.clone(),
                    Course {
                        id,
                        npcu: npcu(p.and_then(|p| p.get("npcu"))),
                        category: p.and_then(|p| text_of(p.get("category"))),
                    },
                ))
            })
            .collect();

        let mut records: BTreeMap<(String, String), Record> = BTreeMap::new();
        if let Some(t) = raw.get("transcripts").and_then(Value::as_object) {
            for (uid, items) in t {
                for it in items.as_array().into_iter().flatten() {
                    let Some(a) = it.get("attributes") else {
                        continue;
                    };
                    if s(a, &["resource_type"]).as_deref() != Some("course") {
                        continue;
                    }
                    let progress = match s(a, &["progress_status"]).as_deref() {
                        Some("enrolled") => Progress::Enrolled,
                        Some("in_progress") => Progress::InProgress,
                        Some("completed") => Progress::Completed,
                        _ => continue,
                    };
                    let Some(cid) = s(a, &["resource_id"]) else {
                        continue;
                    };
                    let rec = Record {
                        user_id: uid.clone(),
                        course_id: cid.clone(),
                        progress,
                        enrolled_at: date(a.get("enrolled_at")),
                        started_at: date(a.get("started_at")),
                        completed_at: date(a.get("completed_at")),
                        expires_at: date(a.get("expires_at")),
                    };
                    let key = (uid.clone(), cid);
                    let newer = records.get(&key).is_none_or(|old| {
                        let rank = |r: &Record| {
                            (
                                r.completed_at,
                                r.progress,
                                r.expires_at,
                                r.started_at,
                                r.enrolled_at,
                            )
                        };
                        rank(&rec) > rank(old)
                    });
                    if newer {
                        records.insert(key, rec);
                    }
                }
            }
        }

        let contacts: Vec<Contact> = array(&raw, "users")
            .iter()
            .filter_map(Value::as_object)
            .map(|u| {
                let email = crm_text(u, "Email").unwrap_or_default().to_lowercase();
                let flag = is_true(field(u, "IsActive")).unwrap_or(true);
                let status_ok = crm_text(u, "Contact_Status__cf").is_none_or(|st| {
                    !INACTIVE_CONTACT_STATUSES.contains(&st.to_lowercase().as_str())
                });
                let active = flag && status_ok;
                Contact {
                    id: crm_text(u, "Id").unwrap_or_default(),
                    counts: active && !skipped_email(&email, rules),
                    email,
                    account_id: crm_text(u, "AccountId").or_else(|| crm_text(u, "Account")),
                    active,
                }
            })
            .collect();

        let mut by_email: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for u in users.values().filter(|u| !u.email.is_empty()) {
            by_email.entry(&u.email).or_default().push(&u.id);
        }

        let mut partners = BTreeMap::new();
        for a in array(&raw, "accounts").iter().filter_map(Value::as_object) {
            let id = crm_text(a, "Id").unwrap_or_default();
            let name = crm_text(a, "Name").unwrap_or_default();
            let tier = crm_text(a, "Partner_Tier__cf");
            let active = crm_text(a, "Account_Status__cf")
                .is_some_and(|st| st.eq_ignore_ascii_case("active"));
            let tracked = active
                && !tier
                    .as_deref()
                    .is_some_and(|t| rules.untracked_tiers.contains(&t.to_lowercase()));
            let group_id = match_group(&name, &groups, &rules.legal_forms);
            let mut members = BTreeSet::new();
            if let Some(g) = &group_id {
                for uid in members_of.get(g).into_iter().flatten() {
                    if users.get(uid).is_some_and(|u| u.active) {
                        members.insert(uid.clone());
                    }
                }
            }
            for c in contacts
                .iter()
                .filter(|c| c.counts && c.account_id.as_deref() == Some(id.as_str()))
            {
                for uid in by_email.get(c.email.as_str()).into_iter().flatten() {
                    if users[*uid].active {
                        members.insert(uid.to_string());
                    }
                }
            }
            partners.insert(
                id.clone(),
                Partner {
                    id,
                    name,
                    tier,
                    active,
                    tracked,
                    group_id,
                    members,
                },
            );
        }

        Reference {
            rules: rules.clone(),
            partners,
            users,
            groups: groups
                .iter()
                .map(|(id, name)| {
                    let m = members_of.get(id).cloned().unwrap_or_default();
                    (id.clone(), (name.clone(), m))
                })
                .collect(),
            courses,
            contacts,
            records,
        }
    }

    /// Effective expiry of a record.
    pub fn expiry(&self, r: &Record) -> Option<DateTime<Utc>> {
        r.expires_at.or_else(|| {
            r.completed_at
                .and_then(|c| c.checked_add_months(Months::new(self.rules.validity_months)))
        })
    }

    pub fn status(&self, r: &Record, now: DateTime<Utc>) -> Status {
        match r.progress {
            Progress::Enrolled => Status::Enrolled,
            Progress::InProgress => Status::InProgress,
            Progress::Completed => match self.expiry(r) {
                None => Status::Active,
                Some(e) if now >= e => Status::Expired,
                Some(e) if e - now <= TimeDelta::days(self.rules.warning_days) => Status::Expiring,
                Some(_) => Status::Active,
            },
        }
    }

    /// Kept records of `user` on certification courses (NPCU > 0).
    fn cert_records<'a>(&'a self, user: &'a str) -> impl Iterator<Item = (&'a Record, &'a Course)> {
        self.records
            .range((user.to_string(), String::new())..)
            .take_while(move |((u, _), _)| u == user)
            .filter_map(|(_, r)| {
                let c = self.courses.get(&r.course_id)?;
                (c.npcu > 0).then_some((r, c))
            })
    }

    /// The numbers of every partner at `now`.
    pub fn numbers(&self, now: DateTime<Utc>) -> BTreeMap<String, Numbers> {
        self.partners
            .values()
            .map(|p| (p.id.clone(), self.partner_numbers(p, now)))
            .collect()
    }

    pub fn partner_numbers(&self, p: &Partner, now: DateTime<Utc>) -> Numbers {
        let mut n = Numbers {
            user_count: p.members.len() as u32,
            ..Default::default()
        };
        let mut users = BTreeSet::new();
        let mut cat_users: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for uid in &p.members {
            for (r, c) in self.cert_records(uid) {
                let st = self.status(r, now);
                if !matches!(st, Status::Active | Status::Expiring) {
                    continue;
                }
                let cat = c
                    .category
                    .clone()
                    .unwrap_or_else(|| portal_core::model::UNCATEGORIZED.to_string());
                let e = n.by_category.entry(cat.clone()).or_default();
                e.1 += c.npcu;
                e.2 += 1;
                cat_users.entry(cat).or_default().insert(uid);
                users.insert(uid.as_str());
                n.npcu += c.npcu;
                n.certifications += 1;
                n.expiring += u32::from(st == Status::Expiring);
            }
        }
        for (cat, set) in cat_users {
            if let Some(e) = n.by_category.get_mut(&cat) {
                e.0 = set.len() as u32;
            }
        }
        n.certified_users = users.len() as u32;
        n.gap = self.required(p).map(|req| req.saturating_sub(n.npcu));
        n
    }

    /// NPCU the partner's tier requires, when the tier has a requirement: a
    /// partner without a tier requires 0; a tier the requirements do not
    /// list has none ("tier not configured").
    pub fn required(&self, p: &Partner) -> Option<u32> {
        match p.tier.as_deref() {
            None => Some(0),
            Some(t) => self.rules.tier_requirements.get(&t.to_lowercase()).copied(),
        }
    }

    /// (partner, user, course) → status at `now`, one per member × record
    /// of a certification course.
    pub fn statuses(&self, now: DateTime<Utc>) -> BTreeMap<(String, String, String), Status> {
        let mut out = BTreeMap::new();
        for p in self.partners.values() {
            for uid in &p.members {
                for (r, _) in self.cert_records(uid) {
                    out.insert(
                        (p.id.clone(), uid.clone(), r.course_id.clone()),
                        self.status(r, now),
                    );
                }
            }
        }
        out
    }

    pub fn tracked(&self) -> impl Iterator<Item = &Partner> {
        self.partners.values().filter(|p| p.tracked)
    }
}

/// Group of a partner named `name`: exact, then `ptr_`, then normalised;
/// ties at one rule go to the smallest group id.
pub fn match_group(
    name: &str,
    groups: &[(String, String)],
    legal_forms: &[String],
) -> Option<String> {
    if name.trim().is_empty() {
        return None;
    }
    let pick = |f: &dyn Fn(&str) -> bool| {
        groups
            .iter()
            .filter(|(_, g)| f(g))
            .map(|(id, _)| id.clone())
            .min()
    };
    let norm = normalised(name, legal_forms);
    pick(&|g| g == name)
        .or_else(|| pick(&|g| without_ptr(g) == without_ptr(name)))
        .or_else(|| pick(&|g| !norm.is_empty() && normalised(g, legal_forms) == norm))
}

/// Differences between two keyed maps, as readable lines (empty = equal).
pub fn diff_maps<K: Ord + Debug, V: PartialEq + Debug>(
    what: &str,
    want: &BTreeMap<K, V>,
    got: &BTreeMap<K, V>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (k, w) in want {
        match got.get(k) {
            None => out.push(format!("{what} {k:?}: missing, want {w:?}")),
            Some(g) if g != w => out.push(format!("{what} {k:?}: got {g:?}, want {w:?}")),
            Some(_) => {}
        }
    }
    for (k, g) in got {
        if !want.contains_key(k) {
            out.push(format!("{what} {k:?}: unexpected {g:?}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms() -> Vec<String> {
        LEGAL_FORMS.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn legal_forms_and_punctuation_are_noise() {
        let f = forms();
        assert_eq!(normalised("Zenithpeak Labs AG", &f), "zenithpeak labs");
        assert_eq!(normalised("ptr_Zenithpeak Labs", &f), "zenithpeak labs");
        assert_eq!(normalised("Foo S.A.", &f), "foo");
        assert_eq!(normalised("Smith & Sons Pty Ltd", &f), "smith and sons");
        assert_eq!(normalised("Limited", &f), "limited");
    }

    #[test]
    fn group_rules_in_order() {
        let g = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        let f = forms();
        let groups = g(&[("3", "acme gmbh"), ("2", "ptr_Acme"), ("1", "ACME Inc")]);
        assert_eq!(match_group("Acme", &groups, &f), Some("2".into()));
        assert_eq!(match_group("Acme AG", &groups, &f), Some("1".into()));
        assert_eq!(match_group("Other", &groups, &f), None);
    }

    #[test]
    fn expiry_boundary_and_window() {
        let now = NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        let r = Reference {
            rules: Rules::defaults(&[]),
            partners: BTreeMap::new(),
            users: BTreeMap::new(),
            courses: BTreeMap::new(),
            groups: BTreeMap::new(),
            contacts: Vec::new(),
            records: BTreeMap::new(),
        };
        let rec = |exp: DateTime<Utc>| Record {
            user_id: "u".into(),
            course_id: "c".into(),
            progress: Progress::Completed,
            enrolled_at: None,
            started_at: None,
            completed_at: None,
            expires_at: Some(exp),
        };
        assert_eq!(r.status(&rec(now), now), Status::Expired);
        assert_eq!(
            r.status(&rec(now + TimeDelta::days(90)), now),
            Status::Expiring
        );
        assert_eq!(
            r.status(&rec(now + TimeDelta::days(90) + TimeDelta::seconds(1)), now),
            Status::Active
        );
        let mut done = rec(now);
        done.expires_at = None;
        done.completed_at = Some(now - TimeDelta::days(10));
        assert_eq!(
            r.expiry(&done),
            Some(now - TimeDelta::days(10) + Months::new(24))
        );
    }
}
