//! Partner ↔ LMS group matching.
//!
//! Rules, first hit wins:
//! 1. **Pinned**: an admin fixed `partner.lms_group_id` (`group_pinned`).
//!    If the pinned group no longer exists there is *no* match: silently
//!    falling back to a name match would override the admin's decision.
//! 2. **Exact** name (byte-for-byte).
//! 3. **PtrPrefix**: equal once a leading `ptr_` (any case) is removed from
//!    either side — groups are often named `ptr_<Partner name>`.
//! 4. **Normalized**: equal after lower-casing, dropping `ptr_`, turning
//!    punctuation into spaces, `&` into "and", collapsing whitespace and
//!    dropping trailing legal forms ([`LegalForms`], configurable through
//!    `PORTAL_LEGAL_FORMS`; default [`DEFAULT_LEGAL_FORMS`]: AG, GmbH, S.A.,
//!    B.V., Ltd, …). A dotted form ("S.A.") is the word sequence "s a" once
//!    punctuation became spaces, so forms match as trailing word sequences.
//!
//! When several groups tie at the same rule the one with the smallest id is
//! chosen, so repeated syncs pick the same group.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{LmsGroup, Partner};

/// Which rule linked a partner to its group (shown to admins so a doubtful
/// normalised match can be checked and pinned).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    Pinned,
    Exact,
    PtrPrefix,
    Normalized,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct GroupMatch {
    pub group_id: String,
    pub group_name: String,
    pub rule: MatchRule,
}

const PTR_PREFIX: &str = "ptr_";

/// Legal forms treated as noise at the end of a company name, as the
/// `PORTAL_LEGAL_FORMS` default spells them.
pub const DEFAULT_LEGAL_FORMS: &str = "AG,GmbH,SA,S.A.,BV,B.V.,NV,N.V.,Pty,PLC,LLC,LLP,Corp,Corporation,Co,Inc,Incorporated,Ltd,Limited,SAS,SRL,KK,Oy,AB,AS";

/// The legal forms dropped from the end of a normalised name, each held as
/// its normalised word sequence ("S.A." → `["s", "a"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalForms {
    forms: Vec<Vec<String>>,
}

impl LegalForms {
    /// From a list of spellings (`"GmbH"`, `"S.A."`); blank ones are ignored.
    pub fn new<S: AsRef<str>>(spellings: impl IntoIterator<Item = S>) -> Self {
        let mut forms: Vec<Vec<String>> = spellings
            .into_iter()
            .map(|f| words(f.as_ref()))
            .filter(|w| !w.is_empty())
            .collect();
        forms.sort();
        forms.dedup();
        LegalForms { forms }
    }

    /// From the comma-separated form of `PORTAL_LEGAL_FORMS`.
    pub fn parse(list: &str) -> Self {
        LegalForms::new(list.split(','))
    }

    /// Length of the legal form ending `words`, if one does (and is not all
    /// of it: a name is never reduced to nothing).
    fn trailing(&self, words: &[String]) -> Option<usize> {
        self.forms
            .iter()
            .filter(|f| f.len() < words.len() && words.ends_with(f))
            .map(Vec::len)
            .max()
    }
}

impl Default for LegalForms {
    fn default() -> Self {
        LegalForms::parse(DEFAULT_LEGAL_FORMS)
    }
}

fn words(name: &str) -> Vec<String> {
    let lowered = name.to_lowercase().replace('&', " and ");
    let spaced: String = lowered
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    spaced.split_whitespace().map(str::to_string).collect()
}

/// `name` without a leading `ptr_` (case-insensitive).
pub fn strip_ptr(name: &str) -> &str {
    match name.get(..PTR_PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(PTR_PREFIX) => &name[PTR_PREFIX.len()..],
        _ => name,
    }
}

/// Normalised form of a company/group name (rule 4), with the default
/// legal forms.
pub fn normalize_name(name: &str) -> String {
    normalize_name_with(name, &LegalForms::default())
}

/// Normalised form of a company/group name (rule 4).
pub fn normalize_name_with(name: &str, legal_forms: &LegalForms) -> String {
    let mut w = words(strip_ptr(name.trim()));
    // Keep at least one word: a company literally named "Limited" must not
    // normalise to "" and match every other empty name.
    while let Some(n) = legal_forms.trailing(&w) {
        w.truncate(w.len() - n);
    }
    w.join(" ")
}

/// Precomputed lookups over the group list, for matching many partners.
pub struct GroupMatcher<'a> {
    by_id: HashMap<&'a str, &'a LmsGroup>,
    exact: HashMap<&'a str, &'a LmsGroup>,
    ptr: HashMap<&'a str, &'a LmsGroup>,
    normalized: HashMap<String, &'a LmsGroup>,
    legal_forms: LegalForms,
}

fn keep_smallest<'a, K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, &'a LmsGroup>,
    key: K,
    g: &'a LmsGroup,
) {
    map.entry(key)
        .and_modify(|cur| {
            if g.id < cur.id {
                *cur = g;
            }
        })
        .or_insert(g);
}

impl<'a> GroupMatcher<'a> {
    /// With the default legal forms.
    pub fn new(groups: &'a [LmsGroup]) -> Self {
        GroupMatcher::with_legal_forms(groups, &LegalForms::default())
    }

    pub fn with_legal_forms(groups: &'a [LmsGroup], legal_forms: &LegalForms) -> Self {
        let mut m = GroupMatcher {
            by_id: HashMap::new(),
            exact: HashMap::new(),
            ptr: HashMap::new(),
            normalized: HashMap::new(),
            legal_forms: legal_forms.clone(),
        };
        for g in groups {
            m.by_id.insert(g.id.as_str(), g);
            keep_smallest(&mut m.exact, g.name.as_str(), g);
            keep_smallest(&mut m.ptr, strip_ptr(&g.name), g);
            let norm = normalize_name_with(&g.name, legal_forms);
            if !norm.is_empty() {
                keep_smallest(&mut m.normalized, norm, g);
            }
        }
        m
    }

    /// The group of `partner` and the rule that found it.
    pub fn match_partner(&self, partner: &Partner) -> Option<GroupMatch> {
        let hit = |g: &LmsGroup, rule| {
            Some(GroupMatch {
                group_id: g.id.clone(),
                group_name: g.name.clone(),
                rule,
            })
        };
        if partner.group_pinned {
            if let Some(id) = partner.lms_group_id.as_deref() {
                return self.by_id.get(id).and_then(|g| hit(g, MatchRule::Pinned));
            }
        }
        if partner.name.trim().is_empty() {
            return None;
        }
        if let Some(g) = self.exact.get(partner.name.as_str()) {
            return hit(g, MatchRule::Exact);
        }
        if let Some(g) = self.ptr.get(strip_ptr(&partner.name)) {
            return hit(g, MatchRule::PtrPrefix);
        }
        let norm = normalize_name_with(&partner.name, &self.legal_forms);
        self.normalized
            .get(&norm)
            .and_then(|g| hit(g, MatchRule::Normalized))
    }
}

/// Match one partner against `groups` (builds the lookups; use
/// [`GroupMatcher`] to match many partners).
pub fn match_group(partner: &Partner, groups: &[LmsGroup]) -> Option<GroupMatch> {
    GroupMatcher::new(groups).match_partner(partner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(id: &str, name: &str) -> LmsGroup {
        LmsGroup {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn p(name: &str) -> Partner {
        Partner {
            id: "P".into(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn rule_of(partner: &Partner, groups: &[LmsGroup]) -> Option<(String, MatchRule)> {
        match_group(partner, groups).map(|m| (m.group_id, m.rule))
    }

    #[test]
    fn exact_beats_prefix_and_normalized() {
        let groups = vec![g("1", "ptr_Acme"), g("2", "Acme"), g("3", "ACME inc.")];
        assert_eq!(
            rule_of(&p("Acme"), &groups),
            Some(("2".into(), MatchRule::Exact))
        );
    }

    #[test]
    fn ptr_prefix_both_ways() {
        let groups = vec![g("1", "ptr_Acme Widgets")];
        assert_eq!(
            rule_of(&p("Acme Widgets"), &groups),
            Some(("1".into(), MatchRule::PtrPrefix))
        );
        let groups = vec![g("1", "Acme Widgets")];
        assert_eq!(
            rule_of(&p("PTR_Acme Widgets"), &groups),
            Some(("1".into(), MatchRule::PtrPrefix))
        );
    }

    #[test]
    fn normalized_ignores_case_punctuation_suffixes() {
        let groups = vec![g("1", "ptr_ACME  Widgets, Inc.")];
        assert_eq!(
            rule_of(&p("Acme Widgets Ltd"), &groups),
            Some(("1".into(), MatchRule::Normalized))
        );
        assert_eq!(normalize_name("Müller GmbH"), "müller");
        assert_eq!(normalize_name("Smith & Sons Pty Ltd"), "smith and sons");
        assert_eq!(normalize_name("Foo-Bar LLC"), "foo bar");
        assert_eq!(normalize_name("Limited"), "limited");
    }

    #[test]
    fn different_names_do_not_match() {
        let groups = vec![g("1", "Acme Widgets"), g("2", "ptr_Acme")];
        assert_eq!(rule_of(&p("Acme Gadgets"), &groups), None);
        assert_eq!(rule_of(&p(""), &[g("1", "")]), None);
    }

    #[test]
    fn pinned_wins_even_over_exact() {
        let groups = vec![g("1", "Acme"), g("9", "Something else")];
        let mut partner = p("Acme");
        partner.lms_group_id = Some("9".into());
        partner.group_pinned = true;
        assert_eq!(
            rule_of(&partner, &groups),
            Some(("9".into(), MatchRule::Pinned))
        );
    }

    #[test]
    fn pinned_to_missing_group_gives_no_match() {
        let mut partner = p("Acme");
        partner.lms_group_id = Some("gone".into());
        partner.group_pinned = true;
        assert_eq!(rule_of(&partner, &[g("1", "Acme")]), None);
    }

    #[test]
    fn unpinned_existing_link_is_rematched_by_name() {
        let mut partner = p("Acme");
        partner.lms_group_id = Some("9".into());
        let groups = vec![g("1", "Acme"), g("9", "Other")];
        assert_eq!(
            rule_of(&partner, &groups),
            Some(("1".into(), MatchRule::Exact))
        );
    }

    #[test]
    fn ties_pick_smallest_id() {
        let groups = vec![g("b", "Acme Inc"), g("a", "ACME LTD")];
        assert_eq!(
            rule_of(&p("acme"), &groups),
            Some(("a".into(), MatchRule::Normalized))
        );
    }

    #[test]
    fn every_default_legal_form_is_noise() {
        let forms = [
            "AG",
            "GmbH",
            "SA",
            "S.A.",
            "BV",
            "B.V.",
            "NV",
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
        for f in forms {
            assert_eq!(
                normalize_name(&format!("Zenithpeak Labs {f}")),
                "zenithpeak labs",
                "{f}"
            );
        }
        assert_eq!(normalize_name("Acme B.V. Ltd."), "acme");
        // The case: the group has no legal form, the partner has.
        let groups = vec![g("7", "ptr_Zenithpeak Labs")];
        assert_eq!(
            rule_of(&p("Zenithpeak Labs AG"), &groups),
            Some(("7".into(), MatchRule::Normalized))
        );
    }

    #[test]
    fn legal_forms_are_configurable() {
        let only_inc = LegalForms::parse("Inc, ");
        assert_eq!(normalize_name_with("Acme AG", &only_inc), "acme ag");
        assert_eq!(normalize_name_with("Acme Inc.", &only_inc), "acme");
        let groups = vec![g("1", "Acme")];
        let m = GroupMatcher::with_legal_forms(&groups, &only_inc);
        assert_eq!(m.match_partner(&p("Acme AG")), None);
        assert!(GroupMatcher::new(&groups)
            .match_partner(&p("Acme AG"))
            .is_some());
        // A name that is only a legal form keeps it.
        assert_eq!(normalize_name("S.A."), "s a");
    }

    mod legal_form_props {
        use super::*;
        use proptest::prelude::*;

        const FORMS: &[&str] = &[
            "AG",
            "GmbH",
            "gmbh",
            "SA",
            "S.A.",
            "BV",
            "B.V.",
            "NV",
            "Pty",
            "PLC",
            "LLC",
            "LLP",
            "Corp",
            "Corp.",
            "Corporation",
            "Co",
            "Co.",
            "Inc",
            "Inc.",
            "Incorporated",
            "Ltd",
            "Ltd.",
            "Limited",
            "SAS",
            "SRL",
            "KK",
            "Oy",
            "AB",
            "AS",
            "Pty Ltd",
        ];
        // Words that are no legal form, so a base name never ends in one.
        const WORDS: &[&str] = &[
            "acme",
            "zenith",
            "peak",
            "labs",
            "blue",
            "river",
            "data",
            "works",
            "nova",
            "orbit",
            "systems",
            "partners",
            "müller",
            "solutions",
            "grid",
        ];

        fn base() -> impl Strategy<Value = Vec<&'static str>> {
            prop::collection::vec(prop::sample::select(WORDS), 1..4)
        }

        fn spell(words: &[&str], caps: bool, sep: &str) -> String {
            let w: Vec<String> = words
                .iter()
                .map(|w| {
                    if caps {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_uppercase().chain(c).collect())
                            .unwrap_or_default()
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            w.join(sep)
        }

        proptest! {
            /// Adding or removing a legal form, on either side, never
            /// changes which group a partner is linked to. Groups have
            /// distinct base names, so the expected group is known.
            #[test]
            fn adding_or_removing_a_legal_form_never_changes_the_match(
                bases in prop::collection::btree_set(base(), 1..6),
                pick in any::<prop::sample::Index>(),
                group_forms in prop::collection::vec(
                    prop::option::of(prop::sample::select(FORMS)), 6),
                partner_form in prop::option::of(prop::sample::select(FORMS)),
                ptr in any::<bool>(),
                caps in any::<bool>(),
                comma in any::<bool>(),
            ) {
                let bases: Vec<Vec<&str>> = bases.into_iter().collect();
                let groups: Vec<LmsGroup> = bases
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        let mut name = spell(b, i % 2 == 0, " ");
                        if let Some(f) = group_forms[i] {
                            name = format!("{name}{} {f}", if comma { "," } else { "" });
                        }
                        if ptr {
                            name = format!("ptr_{name}");
                        }
                        g(&format!("g{i}"), &name)
                    })
                    .collect();
                let i = pick.index(bases.len());
                let want = Some(format!("g{i}"));
                let bare = spell(&bases[i], caps, " ");
                let with = match partner_form {
                    Some(f) => format!("{bare} {f}"),
                    None => bare.clone(),
                };
                let m = GroupMatcher::new(&groups);
                let got_bare = m.match_partner(&p(&bare)).map(|m| m.group_id);
                let got_with = m.match_partner(&p(&with)).map(|m| m.group_id);
                prop_assert_eq!(&got_bare, &want, "{} vs {:?}", bare, groups);
                prop_assert_eq!(&got_with, &want, "{} vs {:?}", with, groups);
            }
        }
    }
}
