//! Deterministic, seeded generator of the raw data of both source systems,
//! relative to an as-of date, with the dirt real programs have (see
//! `docs/source-contract.md` and the module docs of [`lms`] and [`crm`]).
//!
//! Same `GenOptions` ⇒ the same `Dataset`, byte for byte once exported: only
//! a seeded ChaCha RNG, `Vec`s and `BTreeMap`s are used (never a `HashMap`
//! iteration order, never the wall clock).

mod crm;
pub mod dates;
mod lms;
pub mod model;
mod names;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use model::{
    Course, CourseAttributes, CourseProperties, Group, GroupAttributes, Membership,
    MembershipAttributes, MembershipRelationships, Person, PersonAttributes, PrmRecord,
    PropertiesAttributes, PropertiesRelationships, ResourceRef, ToOne, Transcript,
    TranscriptAttributes,
};

/// The e-mail domain of the vendor's own staff (internal contacts/users).
pub const INTERNAL_DOMAIN: &str = "vendor.example";
/// The local parts the generator uses for shared mailboxes.
pub const SHARED_MAILBOXES: [&str; 5] = ["demo", "sales", "support", "test", "accounts"];
/// Every tier the CRM is known to use (docs/source-contract.md: tiers are
/// the tenant's free text), each given to some accounts.
pub const CRM_TIERS: [&str; 7] = [
    "Premier",
    "Premier Plus",
    "Select",
    "Registered",
    "Certified",
    "Aggregator",
    "Pending",
];
/// A tier the generator also gives some accounts that the default
/// `PORTAL_TIERS` does not list: its partners are "tier not configured".
pub const UNCONFIGURED_TIER: &str = "Distributor";
/// Product categories carried by `properties.category`.
pub const CATEGORIES: [&str; 4] = ["Automation Cloud", "K2", "Promapp", "RPA"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetSize {
    /// ≈ 50 partners, 1,000 people, 60 courses — for tests.
    Small,
    /// The scale of a real program (docs/source-contract.md, "Scale").
    Ref,
}

impl std::str::FromStr for DatasetSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "small" => Ok(DatasetSize::Small),
            "ref" | "reference" => Ok(DatasetSize::Ref),
            other => Err(format!("unknown dataset size {other:?} (small|ref)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    pub size: DatasetSize,
    pub seed: u64,
    /// Everything is dated relative to this day (00:00:00 UTC is "now").
    pub as_of: NaiveDate,
}

/// The raw data of both systems, items exactly as the simulators serve them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Dataset {
    pub people: Vec<Person>,
    pub groups: Vec<Group>,
    /// group id → its membership items (every group has an entry).
    pub memberships: BTreeMap<String, Vec<Membership>>,
    pub courses: Vec<Course>,
    pub properties: Vec<CourseProperties>,
    /// person id → their transcript items (every person has an entry).
    pub transcripts: BTreeMap<String, Vec<Transcript>>,
    /// Impartner `Account` records.
    pub accounts: Vec<PrmRecord>,
    /// Impartner `User` records (partner contacts).
    pub users: Vec<PrmRecord>,
}

/// Generate the data set for `opts`. Deterministic.
pub fn generate(opts: &GenOptions) -> Dataset {
    let mut g = lms::Generator::new(opts);
    let lms = g.generate_lms();
    let (accounts, users) = crm::generate(&mut g, &lms);
    Dataset {
        people: lms.people,
        groups: lms.groups,
        memberships: lms.memberships,
        courses: lms.courses,
        properties: lms.properties,
        transcripts: lms.transcripts,
        accounts,
        users,
    }
}

impl Dataset {
    /// Write one JSON file per collection into `dir` (created if missing):
    /// people.json, groups.json, memberships.json, courses.json,
    /// properties.json, transcripts.json, accounts.json, users.json.
    /// Compact JSON (the ref set is ~100 MB pretty-printed) plus a final newline.
    pub fn export(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        write_json(&dir.join("people.json"), &self.people)?;
        write_json(&dir.join("groups.json"), &self.groups)?;
        write_json(&dir.join("memberships.json"), &self.memberships)?;
        write_json(&dir.join("courses.json"), &self.courses)?;
        write_json(&dir.join("properties.json"), &self.properties)?;
        write_json(&dir.join("transcripts.json"), &self.transcripts)?;
        write_json(&dir.join("accounts.json"), &self.accounts)?;
        write_json(&dir.join("users.json"), &self.users)?;
        Ok(())
    }

    /// Number of transcript items over all people.
    pub fn transcript_count(&self) -> usize {
        self.transcripts.values().map(Vec::len).sum()
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    serde_json::to_writer(&mut w, value)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// Format 128 random bits as a version-4-shaped UUID string (Northpass ids).
pub fn uuid_from(bits: u128) -> String {
    let b = (bits & !(0xf000u128 << 64) & !(0xc000u128 << 48))
        | (0x4000u128 << 64)
        | (0x8000u128 << 48);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
