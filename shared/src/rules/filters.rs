//! Sync filters: which CRM partners are tracked and which contacts are
//! skipped. Defaults come from the program this portal replaces; the lists
//! are configuration ([`crate::config::Config`]).

use serde::{Deserialize, Serialize};

use crate::model::{Partner, Tier};

/// Whether a partner is tracked: active in the CRM and not in an untracked
/// tier (default `Pending`). A blank tier is tracked — it only means the
/// CRM has no tier yet, and such a partner requires 0 NPCU.
pub fn partner_tracked(active: bool, tier: Option<&Tier>, untracked_tiers: &[Tier]) -> bool {
    active && !tier.is_some_and(|t| untracked_tiers.contains(t))
}

/// [`partner_tracked`] for a partner record.
pub fn is_partner_tracked(partner: &Partner, untracked_tiers: &[Tier]) -> bool {
    partner_tracked(
        partner.account_status_active,
        partner.tier.as_ref(),
        untracked_tiers,
    )
}

/// Why a contact is skipped.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ContactExclusion {
    /// Not an e-mail address at all (no `@`, empty part).
    InvalidEmail,
    /// The vendor's own staff.
    InternalDomain,
    /// A shared mailbox (`sales@…`), not a person.
    SharedMailbox,
}

/// Whether a contact with `email` is skipped, and why. Domains match
/// exactly or as a parent (`vendor.com` also covers `eu.vendor.com`). A
/// local part is a shared mailbox when it equals a listed name or is the
/// name followed by a digit or separator (`sales2`, `sales.emea`,
/// `support-uk`) — but not a longer word (`tester`, `salesforce.admin`
/// stay).
pub fn contact_exclusion(
    email: &str,
    internal_domains: &[String],
    shared_mailboxes: &[String],
) -> Option<ContactExclusion> {
    let email = super::members::normalize_email(email);
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Some(ContactExclusion::InvalidEmail);
    };
    if local.is_empty() || domain.is_empty() {
        return Some(ContactExclusion::InvalidEmail);
    }
    let internal = internal_domains.iter().any(|d| {
        let d = d.trim().trim_start_matches('@').to_lowercase();
        !d.is_empty()
            && (domain == d
                || domain
                    .strip_suffix(&d)
                    .is_some_and(|head| head.ends_with('.')))
    });
    if internal {
        return Some(ContactExclusion::InternalDomain);
    }
    let shared = shared_mailboxes.iter().any(|name| {
        let name = name.trim().to_lowercase();
        !name.is_empty()
            && local.strip_prefix(name.as_str()).is_some_and(|rest| {
                rest.chars()
                    .next()
                    .is_none_or(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '_' | '+'))
            })
    });
    shared.then_some(ContactExclusion::SharedMailbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pending_and_inactive_partners_are_not_tracked() {
        let untracked = [Tier::Pending];
        assert!(partner_tracked(true, Some(&Tier::Premier), &untracked));
        assert!(partner_tracked(true, None, &untracked));
        assert!(!partner_tracked(true, Some(&Tier::Pending), &untracked));
        assert!(!partner_tracked(false, Some(&Tier::Premier), &untracked));
    }

    #[test]
    fn untracked_tiers_are_any_configured_text() {
        let untracked = [
            Tier::parse("Aggregator").unwrap(),
            Tier::parse("Former Partner").unwrap(),
        ];
        let t = |s: &str| Tier::parse(s).unwrap();
        assert!(!partner_tracked(
            true,
            Some(&t("former partner")),
            &untracked
        ));
        assert!(!partner_tracked(true, Some(&t("AGGREGATOR")), &untracked));
        assert!(partner_tracked(true, Some(&t("Premier Plus")), &untracked));
        assert!(partner_tracked(true, Some(&Tier::Pending), &untracked));
    }

    #[test]
    fn internal_domains_and_subdomains_are_skipped() {
        let internal = list(&["vendor.com"]);
        let shared = list(&[]);
        assert_eq!(
            contact_exclusion("Jo@Vendor.com", &internal, &shared),
            Some(ContactExclusion::InternalDomain)
        );
        assert_eq!(
            contact_exclusion("jo@eu.vendor.com", &internal, &shared),
            Some(ContactExclusion::InternalDomain)
        );
        assert_eq!(
            contact_exclusion("jo@notvendor.com", &internal, &shared),
            None
        );
    }

    #[test]
    fn shared_mailboxes_are_skipped_but_not_longer_words() {
        let shared = list(&["demo", "sales", "support", "test", "accounts"]);
        for e in [
            "sales@p.com",
            "SALES@p.com",
            "sales2@p.com",
            "support.uk@p.com",
            "test-1@p.com",
        ] {
            assert_eq!(
                contact_exclusion(e, &[], &shared),
                Some(ContactExclusion::SharedMailbox),
                "{e}"
            );
        }
        for e in ["tester@p.com", "salesforce@p.com", "jane.sales@p.com"] {
            assert_eq!(contact_exclusion(e, &[], &shared), None, "{e}");
        }
    }

    #[test]
    fn non_addresses_are_invalid() {
        for e in ["", "nobody", "@p.com", "x@"] {
            assert_eq!(
                contact_exclusion(e, &[], &[]),
                Some(ContactExclusion::InvalidEmail),
                "{e}"
            );
        }
    }
}
