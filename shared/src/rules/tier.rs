//! Tier requirement and certification gap.
//!
//! Tiers are the CRM's text and their requirements are configuration
//! (docs/source-contract.md): a tier the configuration does not list has no
//! requirement, and a partner in it is "tier not configured" — neither met
//! nor in gap — rather than silently requiring 0.

use crate::model::{Standing, Tier, TierRequirements};

/// Where a partner stands against its tier requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierStanding {
    /// The configured requirement; `None` when the tier has none.
    pub required: Option<u32>,
    /// Shortfall, 0 when the requirement is met or not configured.
    pub gap: u32,
    pub standing: Standing,
}

impl TierStanding {
    /// Met, and only when a requirement is configured.
    pub fn meets(&self) -> bool {
        self.standing == Standing::Met
    }
}

/// Standing of a partner holding `npcu` in `tier`. A blank tier requires 0
/// and therefore always meets (a partner without tier is not "in gap"); a
/// tier without a configured requirement is [`Standing::TierNotConfigured`].
pub fn standing(tiers: &TierRequirements, tier: Option<&Tier>, npcu: u32) -> TierStanding {
    match tiers.required(tier) {
        None => TierStanding {
            required: None,
            gap: 0,
            standing: Standing::TierNotConfigured,
        },
        Some(required) => {
            let gap = required.saturating_sub(npcu);
            TierStanding {
                required: Some(required),
                gap,
                standing: if gap == 0 {
                    Standing::Met
                } else {
                    Standing::Below
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn tier(s: &str) -> Tier {
        Tier::parse(s).unwrap()
    }

    #[test]
    fn default_table_covers_every_known_tier_but_pending() {
        let t = TierRequirements::default();
        assert_eq!(t.required(Some(&Tier::Premier)), Some(20));
        assert_eq!(t.required(Some(&Tier::PremierPlus)), Some(20));
        assert_eq!(t.required(Some(&Tier::Select)), Some(10));
        assert_eq!(t.required(Some(&Tier::Registered)), Some(5));
        assert_eq!(t.required(Some(&Tier::Certified)), Some(0));
        assert_eq!(t.required(Some(&Tier::Aggregator)), Some(0));
        assert_eq!(t.required(None), Some(0));
        // Pending is untracked by default, so it needs no requirement.
        assert_eq!(t.required(Some(&Tier::Pending)), None);
        for known in Tier::KNOWN.iter().filter(|k| **k != Tier::Pending) {
            assert!(t.required(Some(known)).is_some(), "{known}");
        }
    }

    #[test]
    fn requirement_lookup_ignores_case_and_whitespace() {
        let t = TierRequirements::default();
        assert_eq!(t.required(Some(&tier("  premier PLUS "))), Some(20));
        assert_eq!(t.required(Some(&tier("SELECT"))), Some(10));
    }

    #[test]
    fn gap_is_shortfall() {
        let t = TierRequirements::default();
        assert_eq!(
            standing(&t, Some(&Tier::Select), 7),
            TierStanding {
                required: Some(10),
                gap: 3,
                standing: Standing::Below,
            }
        );
        assert_eq!(standing(&t, Some(&Tier::Select), 10).gap, 0);
        assert!(standing(&t, Some(&Tier::Select), 10).meets());
        assert!(standing(&t, Some(&Tier::Registered), 12).meets());
        assert!(!standing(&t, Some(&Tier::PremierPlus), 19).meets());
        assert!(standing(&t, Some(&Tier::Aggregator), 0).meets());
    }

    #[test]
    fn blank_tier_never_has_a_gap() {
        let s = standing(&TierRequirements::default(), None, 0);
        assert_eq!((s.required, s.gap, s.standing), (Some(0), 0, Standing::Met));
    }

    #[test]
    fn unconfigured_tier_is_never_met_nor_a_gap() {
        let t = TierRequirements::default();
        for npcu in [0, 5, 100] {
            let s = standing(&t, Some(&tier("Distributor")), npcu);
            assert_eq!(
                (s.required, s.gap, s.standing),
                (None, 0, Standing::TierNotConfigured),
                "{npcu}"
            );
            assert!(!s.meets());
        }
    }

    #[test]
    fn a_tier_added_to_the_table_takes_effect() {
        let mut t = TierRequirements::default();
        let d = tier("Distributor");
        assert_eq!(
            standing(&t, Some(&d), 3).standing,
            Standing::TierNotConfigured
        );
        t.by_tier.insert(tier("distributor"), 4);
        assert_eq!(
            standing(&t, Some(&d), 3),
            TierStanding {
                required: Some(4),
                gap: 1,
                standing: Standing::Below
            }
        );
        let only: TierRequirements = TierRequirements {
            by_tier: BTreeMap::from([(tier("Gold"), 1)]),
        };
        assert_eq!(
            standing(&only, Some(&Tier::Premier), 0).standing,
            Standing::TierNotConfigured
        );
    }
}
