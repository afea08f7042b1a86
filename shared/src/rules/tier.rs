//! Tier requirement and certification gap.

use crate::model::{Tier, TierRequirements};

/// Where a partner stands against its tier requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierStanding {
    pub required: u32,
    /// Shortfall, 0 when the requirement is met.
    pub gap: u32,
    pub meets: bool,
}

/// Standing of a partner holding `npcu` in `tier`. A blank tier requires 0
/// and therefore always meets (a partner without tier is not "in gap").
pub fn standing(tiers: &TierRequirements, tier: Option<Tier>, npcu: u32) -> TierStanding {
    let required = tiers.required(tier);
    let gap = required.saturating_sub(npcu);
    TierStanding {
        required,
        gap,
        meets: gap == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table() {
        let t = TierRequirements::default();
        assert_eq!(t.required(Some(Tier::Premier)), 20);
        assert_eq!(t.required(Some(Tier::Select)), 10);
        assert_eq!(t.required(Some(Tier::Registered)), 5);
        assert_eq!(t.required(Some(Tier::Certified)), 0);
        assert_eq!(t.required(Some(Tier::Pending)), 0);
        assert_eq!(t.required(None), 0);
    }

    #[test]
    fn gap_is_shortfall() {
        let t = TierRequirements::default();
        assert_eq!(
            standing(&t, Some(Tier::Select), 7),
            TierStanding {
                required: 10,
                gap: 3,
                meets: false
            }
        );
        assert_eq!(standing(&t, Some(Tier::Select), 10).gap, 0);
        assert!(standing(&t, Some(Tier::Select), 10).meets);
        assert!(standing(&t, Some(Tier::Registered), 12).meets);
    }

    #[test]
    fn blank_tier_never_has_a_gap() {
        let s = standing(&TierRequirements::default(), None, 0);
        assert_eq!((s.required, s.gap, s.meets), (0, 0, true));
    }

    #[test]
    fn blank_or_unknown_crm_tier_parses_to_none() {
        assert_eq!(Tier::parse(""), None);
        assert_eq!(Tier::parse("   "), None);
        assert_eq!(Tier::parse("Gold"), None);
        assert_eq!(Tier::parse(" premier "), Some(Tier::Premier));
        assert_eq!(Tier::parse("SELECT"), Some(Tier::Select));
        assert_eq!(Tier::Registered.to_string(), "Registered");
    }
}
