//! A partner's numbers on a day, for its history: from a stored daily
//! snapshot (the numbers every report showed that day), or — for the days
//! before the first snapshot — reconstructed from the completion and expiry
//! dates of the certifications it holds today.
//!
//! A reconstruction knows only today's records: a certification renewed
//! since shows only its latest period, and members who left took theirs
//! with them, so the reconstructed past can be lower than it was. It is
//! marked as such wherever it is shown.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::forecast::Holding;
use crate::model::{SummaryView, UNCATEGORIZED};

/// Per-category numbers of a [`HistoryPoint`], stored as a 3-item list to
/// keep the snapshot small.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CategoryPoint {
    pub users: u32,
    pub npcu: u32,
    pub certifications: u32,
}

/// A partner's numbers on one day. Field names are short on purpose: a
/// partner's month of points is one stored item (see the store's history
/// module), so every byte is paid 31 times a month.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct HistoryPoint {
    #[serde(rename = "d")]
    pub date: NaiveDate,
    #[serde(rename = "n")]
    pub npcu: u32,
    #[serde(rename = "u")]
    pub certified_users: u32,
    #[serde(rename = "c")]
    pub certifications: u32,
    #[serde(rename = "r")]
    pub required_npcu: u32,
    /// Category → `[users, npcu, certifications]`.
    #[serde(rename = "k", default)]
    pub by_category: BTreeMap<String, [u32; 3]>,
}

impl HistoryPoint {
    /// The snapshot of a partner's numbers (its summary's view) on `date`.
    pub fn from_view(date: NaiveDate, v: &SummaryView) -> HistoryPoint {
        HistoryPoint {
            date,
            npcu: v.npcu,
            certified_users: v.certified_users,
            certifications: v.certifications,
            required_npcu: v.required_npcu,
            by_category: v
                .by_category
                .iter()
                .map(|(k, t)| (k.clone(), [t.users, t.npcu, t.certifications]))
                .collect(),
        }
    }

    pub fn category(&self, name: &str) -> CategoryPoint {
        let [users, npcu, certifications] = self.by_category.get(name).copied().unwrap_or_default();
        CategoryPoint {
            users,
            npcu,
            certifications,
        }
    }
}

/// One certification for a reconstruction: its holding and, for a
/// personal one, its holder (organisation certifications count NPCU and
/// certifications but no users, as in the summary).
#[derive(Debug, Clone)]
pub struct Held<'a> {
    pub holding: Holding,
    pub user_id: Option<&'a str>,
    pub category: Option<&'a str>,
}

/// The numbers on `date` (at the end of that day) if the partner had held
/// exactly `held`, against `required_npcu`.
pub fn reconstruct(held: &[Held<'_>], date: NaiveDate, required_npcu: u32) -> HistoryPoint {
    let mut p = HistoryPoint {
        date,
        required_npcu,
        ..Default::default()
    };
    let mut users: BTreeSet<&str> = BTreeSet::new();
    let mut cat_users: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for h in held.iter().filter(|h| h.holding.counts_on(date)) {
        let cat = h.category.unwrap_or(UNCATEGORIZED);
        let e = p.by_category.entry(cat.to_string()).or_default();
        e[1] += h.holding.npcu;
        e[2] += 1;
        p.npcu += h.holding.npcu;
        p.certifications += 1;
        if let Some(u) = h.user_id {
            users.insert(u);
            cat_users.entry(cat).or_default().insert(u);
        }
    }
    for (cat, set) in cat_users {
        if let Some(e) = p.by_category.get_mut(cat) {
            e[0] = u32::try_from(set.len()).unwrap_or(u32::MAX);
        }
    }
    p.certified_users = u32::try_from(users.len()).unwrap_or(u32::MAX);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CategoryTotals;
    use chrono::{Duration, TimeZone, Utc};

    fn day(n: i64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap() + Duration::days(n)
    }

    fn held<'a>(
        user: Option<&'a str>,
        cat: Option<&'a str>,
        npcu: u32,
        from: i64,
        to: i64,
    ) -> Held<'a> {
        let at = |d: i64| Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap() + Duration::days(d);
        Held {
            holding: Holding {
                key: format!("{user:?}{from}"),
                npcu,
                starts_at: Some(at(from)),
                ends_at: Some(at(to)),
            },
            user_id: user,
            category: cat,
        }
    }

    #[test]
    fn reconstruction_counts_what_was_held_that_day() {
        let hs = [
            held(Some("u1"), Some("K2"), 2, -100, 100),
            held(Some("u1"), None, 1, -10, 5),
            held(Some("u2"), Some("K2"), 1, -50, -20),
            held(None, Some("K2"), 3, -30, 30),
        ];
        let p = reconstruct(&hs, day(0), 5);
        assert_eq!((p.npcu, p.certifications, p.certified_users), (6, 3, 1));
        assert_eq!(
            p.category("K2"),
            CategoryPoint {
                users: 1,
                npcu: 5,
                certifications: 2
            }
        );
        assert_eq!(p.category(UNCATEGORIZED).npcu, 1);
        let past = reconstruct(&hs, day(-40), 5);
        assert_eq!((past.npcu, past.certified_users), (3, 2));
        // Expired on day -20 itself: not counted that day.
        assert_eq!(reconstruct(&hs, day(-20), 5).npcu, 5);
        assert_eq!(reconstruct(&hs, day(-21), 5).npcu, 6);
    }

    #[test]
    fn snapshot_of_a_view_round_trips_compactly() {
        let v = SummaryView {
            npcu: 7,
            required_npcu: 5,
            certified_users: 3,
            certifications: 4,
            by_category: BTreeMap::from([(
                "K2".to_string(),
                CategoryTotals {
                    users: 2,
                    npcu: 5,
                    certifications: 3,
                },
            )]),
            ..Default::default()
        };
        let p = HistoryPoint::from_view(day(0), &v);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"d":"2026-11-23","n":7,"u":3,"c":4,"r":5,"k":{"K2":[2,5,3]}}"#
        );
        assert_eq!(serde_json::from_str::<HistoryPoint>(&json).unwrap(), p);
    }
}
