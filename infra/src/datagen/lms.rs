//! Partner companies and the Northpass side: groups, people, memberships,
//! courses, properties, transcripts.
//!
//! Dirt produced on purpose (see docs/source-contract.md, "Real data is dirty"):
//! - group names: exact account name, `ptr_` prefix, other case, other
//!   punctuation, legal suffix ("Inc.", "Ltd") added or dropped;
//! - partner groups with no account, accounts with no group, a customer
//!   group and an internal group, empty groups;
//! - e-mails in mixed case; duplicate people sharing one e-mail (other case);
//!   people in several groups; customer users inside partner groups; orphans
//!   (partner-looking people in no group); deactivated people;
//! - courses with `title` instead of `name`; NPCU as number or string, and
//!   "", absent, null, invalid ("n/a"), out of range (3, -1) on the others;
//! - transcripts on deleted courses, non-course items (`learning_path`,
//!   `event`), null `expires_at` (expiry = completion + 24 months), 12-month
//!   `expires_at`, dates in four spellings (see [`super::dates`]);
//! - a certification expiring on each of the next 120 days (and at exactly
//!   as-of, +30, +60, +90 days), plus recently expired ones.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Months, TimeDelta, Utc};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use super::names::*;
use super::{
    dates, model::*, uuid_from, DatasetSize, GenOptions, CATEGORIES, CRM_TIERS, INTERNAL_DOMAIN,
    UNCONFIGURED_TIER,
};

pub(crate) struct Scale {
    pub accounts: usize,
    /// Accounts that have an LMS group.
    pub linked: usize,
    /// Partner groups with no account.
    pub unlinked_groups: usize,
    pub people: usize,
    pub partner_users: usize,
    pub courses: usize,
    pub npcu_courses: usize,
    pub contacts: usize,
    /// People whose `updated_at` falls in the 2 hours before as-of (what one
    /// incremental people sync touches).
    pub recent_people: usize,
    pub pams: usize,
}

impl Scale {
    fn of(size: DatasetSize) -> Self {
        match size {
            DatasetSize::Small => Scale {
                accounts: 50,
                linked: 45,
                unlinked_groups: 5,
                people: 1_000,
                partner_users: 760,
                courses: 60,
                npcu_courses: 16,
                contacts: 600,
                recent_people: 8,
                pams: 6,
            },
            // 1,150 + 247 + 2 special groups ≈ 1,400 groups.
            DatasetSize::Ref => Scale {
                accounts: 1_200,
                linked: 1_150,
                unlinked_groups: 248,
                people: 33_000,
                partner_users: 25_000,
                courses: 450,
                npcu_courses: 120,
                contacts: 20_000,
                recent_people: 160,
                pams: 30,
            },
        }
    }
}

/// A partner company (a CRM account, maybe with an LMS group).
pub(crate) struct Company {
    pub name: String,
    pub domain: String,
    pub tier: Option<&'static str>,
    pub status: &'static str,
    pub country: (&'static str, &'static str),
    /// Index into `Lms::groups`.
    pub group: Option<usize>,
}

impl Company {
    /// Tracked by the sync defaults: Active and a real tier.
    pub fn tracked(&self) -> bool {
        self.status == "Active" && matches!(self.tier, Some(t) if t != "Pending" && !t.is_empty())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PersonKind {
    Partner,
    Customer,
    Internal,
    Orphan,
    Duplicate,
}

pub(crate) struct Lms {
    pub people: Vec<Person>,
    pub groups: Vec<Group>,
    pub memberships: BTreeMap<String, Vec<Membership>>,
    pub courses: Vec<Course>,
    pub properties: Vec<CourseProperties>,
    pub transcripts: BTreeMap<String, Vec<Transcript>>,
    pub companies: Vec<Company>,
    pub person_kind: Vec<PersonKind>,
    /// group index → person indices (partner users and others).
    pub members: Vec<Vec<usize>>,
}

pub(crate) struct Generator {
    pub rng: ChaCha8Rng,
    pub as_of: DateTime<Utc>,
    pub scale: Scale,
    used_names: BTreeSet<String>,
    used_emails: BTreeSet<String>,
}

/// One date in one of the four spellings, by weight.
#[derive(Clone, Copy)]
pub(crate) enum Spelling {
    /// `Z` / millis `Z` / offset — an unambiguous instant (for `updated_at`).
    Instant,
    /// Also the offset-less spelling.
    Any,
}

impl Generator {
    pub fn new(opts: &GenOptions) -> Self {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            as_of: opts.as_of.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
            scale: Scale::of(opts.size),
            used_names: BTreeSet::new(),
            used_emails: BTreeSet::new(),
        }
    }

    pub fn uuid(&mut self) -> String {
        uuid_from(self.rng.random::<u128>())
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random::<f64>() < p
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        *xs.choose(&mut self.rng).expect("non-empty list")
    }

    /// An instant `lo..hi` days before as-of, whole seconds.
    pub fn days_ago(&mut self, lo: f64, hi: f64) -> DateTime<Utc> {
        let d = self.rng.random_range(lo..hi);
        self.as_of - TimeDelta::seconds((d * 86_400.0) as i64)
    }

    /// Uniform instant between `a` and `b` (whole seconds).
    pub fn between(&mut self, a: DateTime<Utc>, b: DateTime<Utc>) -> DateTime<Utc> {
        let span = (b - a).num_seconds();
        if span <= 0 {
            return a;
        }
        a + TimeDelta::seconds(self.rng.random_range(0..span))
    }

    pub fn spell(&mut self, t: DateTime<Utc>, how: Spelling) -> String {
        let r: f64 = self.rng.random();
        let offsets = [-5, -3, 1, 2, 5, 8, 10];
        match how {
            Spelling::Instant if r < 0.85 => dates::fmt_z(t),
            Spelling::Instant if r < 0.95 => dates::fmt_millis(t),
            Spelling::Instant => {
                let h = self.pick(&offsets);
                dates::fmt_offset(t, h)
            }
            Spelling::Any if r < 0.7 => dates::fmt_z(t),
            Spelling::Any if r < 0.8 => dates::fmt_millis(t),
            Spelling::Any if r < 0.9 => {
                let h = self.pick(&offsets);
                dates::fmt_offset(t, h)
            }
            Spelling::Any => dates::fmt_naive(t),
        }
    }

    fn company_name(&mut self) -> String {
        loop {
            let n = format!(
                "{}{} {}",
                self.pick(COMPANY_A),
                self.pick(COMPANY_B).to_lowercase(),
                self.pick(COMPANY_C)
            );
            if self.used_names.insert(n.to_lowercase()) {
                return n;
            }
        }
    }

    fn domain_of(name: &str) -> String {
        let first: String = name
            .split_whitespace()
            .next()
            .unwrap_or("partner")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        format!("{first}.example")
    }

    /// A fresh e-mail `first.last@domain` (number added if taken); the
    /// uniqueness check is case-insensitive, the result keeps mixed case.
    pub fn email(&mut self, first: &str, last: &str, domain: &str) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        };
        let (f, l) = (clean(first), clean(last));
        let mut n = 0;
        loop {
            let local = if n == 0 {
                format!("{f}.{l}")
            } else {
                format!("{f}.{l}{n}")
            };
            let e = format!("{local}@{domain}");
            if self.used_emails.insert(e.clone()) {
                return e;
            }
            n += 1;
        }
    }

    /// Mixed-case dirt: `John.Smith@Acme.example`, `JOHN.SMITH@...`.
    pub fn dirty_case(&mut self, email: &str) -> String {
        let r: f64 = self.rng.random();
        if r < 0.08 {
            title_case_email(email)
        } else if r < 0.10 {
            email.to_uppercase()
        } else {
            email.to_string()
        }
    }

    pub fn generate_lms(&mut self) -> Lms {
        let companies = self.companies();
        let (groups, mut companies) = self.groups(companies);
        let mut lms = Lms {
            people: Vec::new(),
            groups,
            memberships: BTreeMap::new(),
            courses: Vec::new(),
            properties: Vec::new(),
            transcripts: BTreeMap::new(),
            members: Vec::new(),
            companies: Vec::new(),
            person_kind: Vec::new(),
        };
        lms.members = vec![Vec::new(); lms.groups.len()];
        self.people(&mut lms, &companies);
        self.memberships(&mut lms);
        let deleted = self.courses(&mut lms);
        self.transcripts(&mut lms, &companies, &deleted);
        std::mem::swap(&mut lms.companies, &mut companies);
        lms
    }

    fn companies(&mut self) -> Vec<Company> {
        let n = self.scale.accounts;
        let every_tier: Vec<&'static str> =
            CRM_TIERS.into_iter().chain([UNCONFIGURED_TIER]).collect();
        (0..n)
            .map(|i| {
                let base = self.company_name();
                let domain = Self::domain_of(&base);
                let name = if self.chance(0.35) {
                    format!("{base} {}", self.pick(LEGAL))
                } else {
                    base
                };
                let r: f64 = self.rng.random();
                let tier = if r < 0.08 {
                    Some("Premier")
                } else if r < 0.12 {
                    Some("Premier Plus")
                } else if r < 0.28 {
                    Some("Select")
                } else if r < 0.60 {
                    Some("Registered")
                } else if r < 0.82 {
                    Some("Certified")
                } else if r < 0.86 {
                    Some("Aggregator")
                } else if r < 0.89 {
                    Some(UNCONFIGURED_TIER)
                } else if r < 0.95 {
                    Some("Pending")
                } else if r < 0.98 {
                    Some("")
                } else {
                    None
                };
                let status = if self.chance(0.9) {
                    "Active"
                } else {
                    "Inactive"
                };
                let country = self.pick(COUNTRIES);
                // The first accounts take each tier in turn, active, so
                // even the smallest data set has a partner in every one
                // (the draws above still happen: the rest does not shift).
                let (tier, status) = match every_tier.get(i) {
                    Some(t) if n >= 4 * every_tier.len() => (Some(*t), "Active"),
                    _ => (tier, status),
                };
                Company {
                    name,
                    domain,
                    tier,
                    status,
                    country,
                    group: None,
                }
            })
            .collect()
    }

    /// Group name for an account name, with the usual drift.
    fn group_name(&mut self, account: &str) -> String {
        let r: f64 = self.rng.random();
        let stripped = strip_legal(account);
        if r < 0.50 {
            account.to_string()
        } else if r < 0.65 {
            format!("ptr_{account}")
        } else if r < 0.72 {
            format!("ptr_{stripped}")
        } else if r < 0.80 {
            if self.chance(0.5) {
                account.to_lowercase()
            } else {
                account.to_uppercase()
            }
        } else if r < 0.90 {
            if stripped == account {
                format!("{account}, Inc.")
            } else {
                stripped.to_string()
            }
        } else {
            // Punctuation drift: "Bluebridge Solutions" → "Bluebridge-Solutions",
            // "Bluebridge Solutions." etc.
            match self.rng.random_range(0..3) {
                0 => account.replacen(' ', "-", 1),
                1 => format!("{}.", account.trim_end_matches('.')),
                _ => account.replace(" & ", " and ").replacen(' ', ", ", 1),
            }
        }
    }

    fn group(&mut self, name: String) -> Group {
        let created = self.days_ago(200.0, 2_000.0);
        let updated = self.between(created, self.as_of - TimeDelta::hours(3));
        let r: f64 = self.rng.random();
        let description = if r < 0.7 {
            Some(format!("Partner group for {name}"))
        } else if r < 0.9 {
            None
        } else {
            Some(String::new())
        };
        Group {
            id: self.uuid(),
            kind: "groups".into(),
            attributes: GroupAttributes {
                name,
                description,
                user_count: 0,
                created_at: self.spell(created, Spelling::Any),
                updated_at: self.spell(updated, Spelling::Instant),
            },
        }
    }

    fn groups(&mut self, mut companies: Vec<Company>) -> (Vec<Group>, Vec<Company>) {
        // Which accounts get a group: a shuffled subset, so "no group" is
        // spread over tiers and ids.
        let mut idx: Vec<usize> = (0..companies.len()).collect();
        idx.shuffle(&mut self.rng);
        let mut groups = Vec::new();
        let mut owner: Vec<Option<usize>> = Vec::new();
        for &ci in idx.iter().take(self.scale.linked) {
            let name = self.group_name(&companies[ci].name);
            groups.push(self.group(name));
            owner.push(Some(ci));
        }
        for _ in 0..self.scale.unlinked_groups {
            let base = self.company_name();
            let name = if self.chance(0.3) {
                format!("ptr_{base}")
            } else {
                base
            };
            groups.push(self.group(name));
            owner.push(None);
        }
        // Two non-partner groups: customers and the vendor's own staff.
        groups.push(self.group("Customer Academy".into()));
        owner.push(None);
        groups.push(self.group("Internal Enablement".into()));
        owner.push(None);
        // Shuffle the serving order; recompute the account → group links.
        let mut order: Vec<usize> = (0..groups.len()).collect();
        order.shuffle(&mut self.rng);
        let mut shuffled = Vec::with_capacity(groups.len());
        for (new_i, &old_i) in order.iter().enumerate() {
            shuffled.push(groups[old_i].clone());
            if let Some(ci) = owner[old_i] {
                companies[ci].group = Some(new_i);
            }
        }
        // A few groups changed in the last hours (incremental sync work).
        let recent = (shuffled.len() / 150).max(2);
        for _ in 0..recent {
            let gi = self.rng.random_range(0..shuffled.len());
            let t = self.days_ago(0.001, 0.08);
            shuffled[gi].attributes.updated_at = dates::fmt_z(t);
        }
        (shuffled, companies)
    }

    fn new_person(&mut self, email: String, first: &str, last: &str, recent: bool) -> Person {
        let created = self.days_ago(30.0, 1_500.0);
        let updated = if recent {
            self.days_ago(0.0005, 0.083)
        } else if self.chance(0.6) {
            self.between(
                created.max(self.as_of - TimeDelta::days(365)),
                self.as_of - TimeDelta::hours(3),
            )
        } else {
            self.between(created, self.as_of - TimeDelta::hours(3))
        };
        let last_active = if self.chance(0.15) {
            None
        } else {
            let t = self.between(created, self.as_of - TimeDelta::minutes(5));
            Some(self.spell(t, Spelling::Any))
        };
        let deactivated = if self.chance(0.04) {
            Some(self.spell(updated, Spelling::Any))
        } else {
            None
        };
        Person {
            id: self.uuid(),
            kind: "people".into(),
            attributes: PersonAttributes {
                email,
                first_name: first.to_string(),
                last_name: last.to_string(),
                created_at: self.spell(created, Spelling::Any),
                updated_at: self.spell(updated, Spelling::Instant),
                last_active_at: last_active,
                deactivated_at: deactivated,
            },
        }
    }

    fn people(&mut self, lms: &mut Lms, companies: &[Company]) {
        let s = &self.scale;
        let (n_people, n_partner, n_recent) = (s.people, s.partner_users, s.recent_people);
        // Which group each partner user joins: weighted (a few big partners,
        // many small ones; some groups end up empty).
        let mut partner_groups: Vec<(usize, String)> = Vec::new();
        let mut group_domain: BTreeMap<usize, String> = BTreeMap::new();
        for c in companies {
            if let Some(g) = c.group {
                group_domain.insert(g, c.domain.clone());
            }
        }
        let special = |name: &str| name == "Customer Academy" || name == "Internal Enablement";
        for (gi, g) in lms.groups.iter().enumerate() {
            if special(&g.attributes.name) {
                continue;
            }
            let domain = group_domain
                .get(&gi)
                .cloned()
                .unwrap_or_else(|| Self::domain_of(g.attributes.name.trim_start_matches("ptr_")));
            partner_groups.push((gi, domain));
        }
        let customer_group = lms
            .groups
            .iter()
            .position(|g| g.attributes.name == "Customer Academy")
            .expect("exists");
        let internal_group = lms
            .groups
            .iter()
            .position(|g| g.attributes.name == "Internal Enablement")
            .expect("exists");
        let weights: Vec<f64> = (0..partner_groups.len())
            .map(|_| {
                let u: f64 = self.rng.random();
                if u < 0.05 {
                    0.0
                } else {
                    0.3 + u.powi(4) * 12.0
                }
            })
            .collect();
        let cumulative: Vec<f64> = weights
            .iter()
            .scan(0.0, |acc, w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        let total_w = *cumulative.last().expect("groups");

        // Mark which people get an update in the last 2 hours.
        let mut recent = BTreeSet::new();
        while recent.len() < n_recent {
            recent.insert(self.rng.random_range(0..n_people));
        }

        let n_other = n_people - n_partner;
        let n_dup = n_other * 5 / 100;
        let n_orphan = n_other * 15 / 100;
        let n_internal = n_other / 10;
        let n_customer = n_other - n_dup - n_orphan - n_internal;

        let push = |lms: &mut Lms, p: Person, kind: PersonKind, groups: &[usize]| {
            let i = lms.people.len();
            for &g in groups {
                lms.members[g].push(i);
            }
            lms.people.push(p);
            lms.person_kind.push(kind);
        };
        let mut partner_idx = Vec::with_capacity(n_partner);
        for _ in 0..n_partner {
            let x = self.rng.random_range(0.0..total_w);
            let k = cumulative
                .partition_point(|c| *c <= x)
                .min(partner_groups.len() - 1);
            let (gi, domain) = partner_groups[k].clone();
            let (f, l) = (self.pick(FIRST), self.pick(LAST));
            let e = self.email(f, l, &domain);
            let e = self.dirty_case(&e);
            let i = lms.people.len();
            let p = self.new_person(e, f, l, recent.contains(&i));
            let mut gs = vec![gi];
            // People in several groups (consultants working for two partners).
            if self.chance(0.02) {
                let other = partner_groups[self.rng.random_range(0..partner_groups.len())].0;
                if other != gi {
                    gs.push(other);
                }
            }
            partner_idx.push(i);
            push(lms, p, PersonKind::Partner, &gs);
        }
        for _ in 0..n_customer {
            let (f, l) = (self.pick(FIRST), self.pick(LAST));
            let d = self.pick(CUSTOMER_DOMAINS);
            let e = self.email(f, l, d);
            let e = self.dirty_case(&e);
            let i = lms.people.len();
            let p = self.new_person(e, f, l, recent.contains(&i));
            let r: f64 = self.rng.random();
            let gs = if r < 0.10 {
                // A customer sitting in a partner's group.
                vec![partner_groups[self.rng.random_range(0..partner_groups.len())].0]
            } else if r < 0.6 {
                vec![customer_group]
            } else {
                vec![]
            };
            push(lms, p, PersonKind::Customer, &gs);
        }
        for _ in 0..n_internal {
            let (f, l) = (self.pick(FIRST), self.pick(LAST));
            let e = self.email(f, l, INTERNAL_DOMAIN);
            let i = lms.people.len();
            let p = self.new_person(e, f, l, recent.contains(&i));
            let gs = if self.chance(0.7) {
                vec![internal_group]
            } else {
                vec![]
            };
            push(lms, p, PersonKind::Internal, &gs);
        }
        for _ in 0..n_orphan {
            // Partner-looking address (an account's domain) but in no group.
            let (f, l) = (self.pick(FIRST), self.pick(LAST));
            let d = if self.chance(0.7) {
                companies[self.rng.random_range(0..companies.len())]
                    .domain
                    .clone()
            } else {
                Self::domain_of(&self.company_name())
            };
            let e = self.email(f, l, &d);
            let i = lms.people.len();
            let p = self.new_person(e, f, l, recent.contains(&i));
            push(lms, p, PersonKind::Orphan, &[]);
        }
        for _ in 0..n_dup {
            // A second LMS account with the same e-mail in another case.
            let orig = partner_idx[self.rng.random_range(0..partner_idx.len())];
            let o = lms.people[orig].attributes.clone();
            let e = if o.email == o.email.to_lowercase() {
                title_case_email(&o.email)
            } else {
                o.email.to_lowercase()
            };
            let i = lms.people.len();
            let p = self.new_person(e, &o.first_name, &o.last_name, recent.contains(&i));
            let same_group: Vec<usize> = lms
                .members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.contains(&orig))
                .map(|(g, _)| g)
                .take(1)
                .collect();
            let gs = if self.chance(0.5) { same_group } else { vec![] };
            push(lms, p, PersonKind::Duplicate, &gs);
        }
        for p in &lms.people {
            lms.transcripts.insert(p.id.clone(), Vec::new());
        }
    }

    fn memberships(&mut self, lms: &mut Lms) {
        for (gi, members) in lms.members.iter().enumerate() {
            let gid = lms.groups[gi].id.clone();
            let mut list = Vec::with_capacity(members.len());
            for &pi in members {
                let t = self.days_ago(1.0, 700.0);
                list.push(Membership {
                    id: uuid_from(self.rng.random::<u128>()),
                    kind: "memberships".into(),
                    attributes: MembershipAttributes {
                        created_at: dates::fmt_z(t),
                    },
                    relationships: MembershipRelationships {
                        person: ToOne::new(&lms.people[pi].id, "people"),
                        group: ToOne::new(&gid, "groups"),
                    },
                });
            }
            lms.groups[gi].attributes.user_count = list.len() as u32;
            lms.memberships.insert(gid, list);
        }
    }

    /// Courses and their properties; returns deleted courses (id, name, npcu)
    /// that transcripts still reference.
    fn courses(&mut self, lms: &mut Lms) -> Vec<(String, String)> {
        let n = self.scale.courses;
        let n_deleted = (n / 40).max(3);
        let mut used = BTreeSet::new();
        let mut npcu_flags = vec![false; n + n_deleted];
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(&mut self.rng);
        for &i in idx.iter().take(self.scale.npcu_courses) {
            npcu_flags[i] = true;
        }
        // Deleted courses were certifications half of the time.
        for f in npcu_flags.iter_mut().skip(n) {
            *f = self.chance(0.5);
        }
        let mut deleted = Vec::new();
        for (i, &is_cert) in npcu_flags.iter().enumerate() {
            let cat = self.pick(&CATEGORIES);
            let name = loop {
                let n = format!("{cat} {} {}", self.pick(TOPICS), self.pick(LEVELS));
                let n = if used.contains(&n) {
                    format!("{n} v{}", self.rng.random_range(2..9))
                } else {
                    n
                };
                if used.insert(n.clone()) {
                    break n;
                }
            };
            let id = self.uuid();
            if i >= n {
                deleted.push((id, name));
                continue;
            }
            let created = self.days_ago(60.0, 1_800.0);
            let updated = if self.chance(0.02) {
                self.days_ago(0.001, 0.2)
            } else {
                self.between(created, self.as_of - TimeDelta::hours(6))
            };
            let old = self.chance(0.1);
            let r: f64 = self.rng.random();
            let status = if r < 0.9 {
                "live"
            } else if r < 0.96 {
                "draft"
            } else {
                "archived"
            };
            let slug: String = name
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            lms.courses.push(Course {
                id: id.clone(),
                kind: "courses".into(),
                attributes: CourseAttributes {
                    name: (!old).then(|| name.clone()),
                    title: old.then(|| name.clone()),
                    status: status.into(),
                    permalink: format!("https://academy.{INTERNAL_DOMAIN}/c/{slug}"),
                    created_at: self.spell(created, Spelling::Any),
                    updated_at: self.spell(updated, Spelling::Instant),
                },
            });
            let mut props = Map::new();
            if is_cert {
                let v = if self.chance(0.65) { 1 } else { 2 };
                props.insert(
                    "npcu".into(),
                    if self.chance(0.6) {
                        json!(v)
                    } else {
                        json!(v.to_string())
                    },
                );
                if self.chance(0.9) {
                    props.insert("category".into(), json!(cat));
                }
            } else {
                let r: f64 = self.rng.random();
                let v = if r < 0.45 {
                    None
                } else if r < 0.65 {
                    Some(json!(0))
                } else if r < 0.75 {
                    Some(json!("0"))
                } else if r < 0.85 {
                    Some(json!(""))
                } else if r < 0.90 {
                    Some(json!("n/a"))
                } else if r < 0.95 {
                    Some(json!(3))
                } else if r < 0.97 {
                    Some(json!(-1))
                } else {
                    Some(Value::Null)
                };
                if let Some(v) = v {
                    props.insert("npcu".into(), v);
                }
                if self.chance(0.5) {
                    props.insert("category".into(), json!(cat));
                }
            }
            lms.properties.push(CourseProperties {
                id: id.clone(),
                kind: "course_properties".into(),
                attributes: PropertiesAttributes { properties: props },
                relationships: PropertiesRelationships {
                    course: ToOne::new(&id, "courses"),
                },
            });
        }
        deleted
    }

    fn transcript(
        &mut self,
        course_id: &str,
        name: &str,
        resource_type: &str,
        status: &str,
        completed: Option<DateTime<Utc>>,
        expires: Option<DateTime<Utc>>,
    ) -> Transcript {
        let (enrolled, started) = match completed {
            Some(c) => {
                let s = c - TimeDelta::seconds(self.rng.random_range(600..60 * 86_400));
                let e = s - TimeDelta::seconds(self.rng.random_range(0..20 * 86_400));
                (e, Some(s))
            }
            None => {
                let e = self.days_ago(1.0, 700.0);
                let s = (status == "in_progress").then(|| self.between(e, self.as_of));
                (e, s)
            }
        };
        Transcript {
            id: self.uuid(),
            kind: "transcript_items".into(),
            attributes: TranscriptAttributes {
                resource_id: course_id.to_string(),
                resource_type: resource_type.to_string(),
                name: name.to_string(),
                progress_status: status.to_string(),
                enrolled_at: Some(self.spell(enrolled, Spelling::Any)),
                started_at: started.map(|s| self.spell(s, Spelling::Any)),
                completed_at: completed.map(|c| self.spell(c, Spelling::Any)),
                expires_at: expires.map(|x| self.spell(x, Spelling::Any)),
                score: completed.map(|_| self.rng.random_range(60..=100)),
            },
        }
    }

    fn transcripts(&mut self, lms: &mut Lms, companies: &[Company], deleted: &[(String, String)]) {
        let npcu_ids: BTreeSet<&str> = lms
            .properties
            .iter()
            .filter(|p| {
                let v = p.attributes.properties.get("npcu");
                matches!(v, Some(Value::Number(n)) if n.as_i64().is_some_and(|x| x == 1 || x == 2))
                    || matches!(v, Some(Value::String(s)) if s == "1" || s == "2")
            })
            .map(|p| p.id.as_str())
            .collect();
        let certs: Vec<(String, String)> = lms
            .courses
            .iter()
            .filter(|c| npcu_ids.contains(c.id.as_str()))
            .map(|c| (c.id.clone(), c.display_name().to_string()))
            .collect();
        let others: Vec<(String, String)> = lms
            .courses
            .iter()
            .filter(|c| !npcu_ids.contains(c.id.as_str()))
            .map(|c| (c.id.clone(), c.display_name().to_string()))
            .collect();
        for pi in 0..lms.people.len() {
            let k = match lms.person_kind[pi] {
                PersonKind::Partner => self.rng.random_range(1..=10),
                PersonKind::Customer => self.rng.random_range(0..=3),
                PersonKind::Internal | PersonKind::Orphan => self.rng.random_range(0..=5),
                PersonKind::Duplicate => self.rng.random_range(0..=3),
            };
            let mut seen = BTreeSet::new();
            let mut items = Vec::with_capacity(k);
            for _ in 0..k {
                let r: f64 = self.rng.random();
                let (cid, name, rtype) = if r < 0.03 {
                    let kind = if self.chance(0.5) {
                        "learning_path"
                    } else {
                        "event"
                    };
                    (
                        self.uuid(),
                        format!("{} Learning Path", self.pick(TOPICS)),
                        kind,
                    )
                } else if r < 0.05 {
                    let (c, n) = deleted.choose(&mut self.rng).expect("deleted").clone();
                    (c, n, "course")
                } else if r < 0.6 {
                    let (c, n) = certs.choose(&mut self.rng).expect("certs").clone();
                    (c, n, "course")
                } else {
                    let (c, n) = others.choose(&mut self.rng).expect("courses").clone();
                    (c, n, "course")
                };
                if !seen.insert(cid.clone()) {
                    continue;
                }
                let r: f64 = self.rng.random();
                let t = if r < 0.6 {
                    let c = self.days_ago(0.1, 1_000.0);
                    let r2: f64 = self.rng.random();
                    let x = if r2 < 0.7 {
                        c.checked_add_months(Months::new(24))
                    } else if r2 < 0.9 {
                        None
                    } else {
                        c.checked_add_months(Months::new(12))
                    };
                    self.transcript(&cid, &name, rtype, "completed", Some(c), x)
                } else if r < 0.8 {
                    self.transcript(&cid, &name, rtype, "in_progress", None, None)
                } else {
                    self.transcript(&cid, &name, rtype, "enrolled", None, None)
                };
                items.push(t);
            }
            let pid = lms.people[pi].id.clone();
            lms.transcripts.insert(pid, items);
        }
        self.expiry_calendar(lms, companies, &certs);
    }

    /// Guarantee reminder work every day: one certification expiring on each
    /// of the next 120 days, extra ones at exactly as-of +0/30/60/90 days, and
    /// some expired in the last months — all held by active partner users of
    /// tracked partners. Every third day the record has a null `expires_at`
    /// and a completion exactly 24 months before (when that round-trips).
    fn expiry_calendar(
        &mut self,
        lms: &mut Lms,
        companies: &[Company],
        certs: &[(String, String)],
    ) {
        let mut pool: Vec<usize> = companies
            .iter()
            .filter(|c| c.tracked())
            .filter_map(|c| c.group)
            .flat_map(|g| lms.members[g].iter().copied())
            .filter(|&pi| {
                lms.person_kind[pi] == PersonKind::Partner
                    && lms.people[pi].attributes.deactivated_at.is_none()
            })
            .collect();
        pool.sort_unstable();
        pool.dedup();
        pool.shuffle(&mut self.rng);
        if pool.is_empty() || certs.is_empty() {
            return;
        }
        let mut plan: Vec<(DateTime<Utc>, bool)> = Vec::new();
        for d in 1..=120i64 {
            let hour = self.rng.random_range(8..18);
            plan.push((
                self.as_of + TimeDelta::days(d) + TimeDelta::hours(hour),
                d % 3 == 0,
            ));
        }
        for d in [0i64, 30, 60, 90] {
            plan.push((self.as_of + TimeDelta::days(d), false));
            plan.push((self.as_of + TimeDelta::days(d), true));
        }
        let n_expired = (pool.len() / 40).clamp(5, 40);
        for _ in 0..n_expired {
            let t = self.days_ago(1.0, 200.0);
            plan.push((t, self.chance(0.3)));
        }
        for (k, (expiry, null_expiry)) in plan.into_iter().enumerate() {
            let pi = pool[k % pool.len()];
            let pid = lms.people[pi].id.clone();
            let list = lms
                .transcripts
                .get_mut(&pid)
                .expect("every person has a list");
            let Some((cid, name)) = certs
                .iter()
                .find(|(c, _)| !list.iter().any(|t| &t.attributes.resource_id == c))
                .cloned()
            else {
                continue;
            };
            let completed = expiry
                .checked_sub_months(Months::new(24))
                .expect("in range");
            let round_trips = completed.checked_add_months(Months::new(24)) == Some(expiry);
            let expires = if null_expiry && round_trips {
                None
            } else {
                Some(expiry)
            };
            let t = self.transcript(&cid, &name, "course", "completed", Some(completed), expires);
            lms.transcripts.get_mut(&pid).expect("list").push(t);
        }
    }
}

fn strip_legal(name: &str) -> &str {
    for l in LEGAL {
        if let Some(s) = name.strip_suffix(l) {
            return s.trim_end_matches([' ', ',']);
        }
    }
    name
}

/// `john.smith@acme.example` → `John.Smith@Acme.example`.
pub(crate) fn title_case_email(e: &str) -> String {
    let mut out = String::with_capacity(e.len());
    let mut upper_next = true;
    let mut in_tld = false;
    for c in e.chars() {
        if upper_next && !in_tld {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        upper_next = c == '.' || c == '@';
        if c == '@' {
            in_tld = false;
        } else if c == '.' && out.contains('@') {
            in_tld = true;
        }
    }
    out
}
