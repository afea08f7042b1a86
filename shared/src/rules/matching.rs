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
//!    dropping trailing legal-form suffixes (Inc, Ltd, LLC, GmbH, Limited,
//!    Corp, Corporation, Co, PLC, Pty).
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

/// Legal-form words dropped from the end of a normalised name.
const SUFFIXES: &[&str] = &[
    "inc",
    "ltd",
    "llc",
    "gmbh",
    "limited",
    "corp",
    "corporation",
    "co",
    "plc",
    "pty",
];

/// `name` without a leading `ptr_` (case-insensitive).
pub fn strip_ptr(name: &str) -> &str {
    match name.get(..PTR_PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(PTR_PREFIX) => &name[PTR_PREFIX.len()..],
        _ => name,
    }
}

/// Normalised form of a company/group name (rule 4).
pub fn normalize_name(name: &str) -> String {
    let lowered = strip_ptr(name.trim()).to_lowercase().replace('&', " and ");
    let spaced: String = lowered
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words: Vec<&str> = spaced.split_whitespace().collect();
    // Keep at least one word: a company literally named "Limited" must not
    // normalise to "" and match every other empty name.
    while words.len() > 1 && words.last().is_some_and(|w| SUFFIXES.contains(w)) {
        words.pop();
    }
    words.join(" ")
}

/// Precomputed lookups over the group list, for matching many partners.
pub struct GroupMatcher<'a> {
    by_id: HashMap<&'a str, &'a LmsGroup>,
    exact: HashMap<&'a str, &'a LmsGroup>,
    ptr: HashMap<&'a str, &'a LmsGroup>,
    normalized: HashMap<String, &'a LmsGroup>,
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
    pub fn new(groups: &'a [LmsGroup]) -> Self {
        let mut m = GroupMatcher {
            by_id: HashMap::new(),
            exact: HashMap::new(),
            ptr: HashMap::new(),
            normalized: HashMap::new(),
        };
        for g in groups {
            m.by_id.insert(g.id.as_str(), g);
            keep_smallest(&mut m.exact, g.name.as_str(), g);
            keep_smallest(&mut m.ptr, strip_ptr(&g.name), g);
            let norm = normalize_name(&g.name);
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
        let norm = normalize_name(&partner.name);
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
}
