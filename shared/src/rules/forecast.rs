//! Forecast: a partner's NPCU on any date, assuming nobody renews and nobody
//! completes anything new — only what is already known changes it
//! (certifications reach their expiry, organisation certifications start
//! and end). From that: the first date it drops below its tier
//! requirement, and the fewest certifications whose renewal keeps it in
//! tier over a window.
//!
//! Decisions:
//! - **A date's value is its value at the end of the day (UTC)**: on the
//!   date a certification expires it no longer counts (it expired during
//!   that day; there is no grace period, see [`super::status`]), and on
//!   the date a certification starts it counts. So "drops below on D"
//!   means the partner is below at the end of D and was not at the end of
//!   D − 1.
//! - **The same inputs as the summary**: personal certifications are the
//!   partner's completed certification rows ([`Holding::from_row`]),
//!   company-wide ones its organisation certifications
//!   ([`Holding::from_org`]); a personal certification counts from its
//!   completion (so the same holdings reconstruct the past, see
//!   [`super::history`]) until its effective expiry.
//! - **Renewing a certification** means it keeps counting to the end of
//!   the window. Only certifications that count now and end inside the
//!   window are candidates.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::model::{CertRow, OrgCertification, ProgressStatus, SummaryOrgCert};

/// One certification as the forecast sees it: what it is worth and the
/// instants between which it counts (`starts_at <= t < ends_at`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// `<user>#<course>` for a personal certification, `org#<id>` for an
    /// organisation one: stable, for tie-breaks and for callers to map a
    /// pick back to its row.
    pub key: String,
    pub npcu: u32,
    /// `None`: counts from any time.
    pub starts_at: Option<DateTime<Utc>>,
    /// `None`: never ends.
    pub ends_at: Option<DateTime<Utc>>,
}

impl Holding {
    /// The row as a holding when it is a completed certification
    /// (enrolled / in-progress rows and NPCU 0 give `None`).
    pub fn from_row(row: &CertRow) -> Option<Holding> {
        (row.progress == ProgressStatus::Completed && row.npcu > 0).then(|| Holding {
            key: format!("{}#{}", row.user_id, row.course_id),
            npcu: u32::from(row.npcu),
            starts_at: row.completed_at,
            ends_at: row.expires_at,
        })
    }

    pub fn from_org(o: &OrgCertification) -> Option<Holding> {
        (o.npcu > 0).then(|| Holding {
            key: format!("org#{}", o.id),
            npcu: u32::from(o.npcu),
            starts_at: Some(o.starts_at),
            ends_at: Some(o.ends_at),
        })
    }

    pub fn from_summary_org(o: &SummaryOrgCert) -> Option<Holding> {
        (o.npcu > 0).then(|| Holding {
            key: format!("org#{}", o.id),
            npcu: u32::from(o.npcu),
            starts_at: Some(o.starts_at),
            ends_at: Some(o.ends_at),
        })
    }

    /// Whether it counts at the instant `t`.
    pub fn counts_at(&self, t: DateTime<Utc>) -> bool {
        self.starts_at.is_none_or(|s| s <= t) && self.ends_at.is_none_or(|e| e > t)
    }

    /// Whether it counts on `date` (at the end of that day).
    pub fn counts_on(&self, date: NaiveDate) -> bool {
        self.counts_at(end_of_day(date))
    }
}

/// The last instant (millisecond) of `date`, UTC.
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    start_of_day(date) + Duration::days(1) - Duration::milliseconds(1)
}

/// Midnight UTC at the start of `date`.
pub fn start_of_day(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0)
        .expect("midnight is a valid time")
        .and_utc()
}

/// NPCU at the instant `t`.
pub fn npcu_at(holdings: &[Holding], t: DateTime<Utc>) -> u32 {
    holdings
        .iter()
        .filter(|h| h.counts_at(t))
        .map(|h| h.npcu)
        .sum()
}

/// NPCU on `date` (at the end of that day).
pub fn npcu_on(holdings: &[Holding], date: NaiveDate) -> u32 {
    npcu_at(holdings, end_of_day(date))
}

/// Dates in `(from, to]` on which some holding starts or ends: the only
/// dates the value can change on. Sorted, each once.
pub fn change_dates(holdings: &[Holding], from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
    let mut dates: Vec<NaiveDate> = holdings
        .iter()
        .flat_map(|h| [h.starts_at, h.ends_at])
        .flatten()
        .map(|t| t.date_naive())
        .filter(|d| *d > from && *d <= to)
        .collect();
    dates.sort_unstable();
    dates.dedup();
    dates
}

/// One point of a step series: the value from `date` on (until the next
/// point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Step {
    pub date: NaiveDate,
    pub npcu: u32,
}

/// The step series of NPCU over `[from, to]`: the value on `from`, then a
/// point on each later date the value changes.
pub fn steps(holdings: &[Holding], from: NaiveDate, to: NaiveDate) -> Vec<Step> {
    let mut out = vec![Step {
        date: from,
        npcu: npcu_on(holdings, from),
    }];
    for d in change_dates(holdings, from, to) {
        let npcu = npcu_on(holdings, d);
        if out.last().is_some_and(|s| s.npcu != npcu) {
            out.push(Step { date: d, npcu });
        }
    }
    out
}

/// The first date in `[from, to]` on which NPCU is below `required`.
pub fn drops_below_on(
    holdings: &[Holding],
    required: u32,
    from: NaiveDate,
    to: NaiveDate,
) -> Option<NaiveDate> {
    std::iter::once(from)
        .chain(change_dates(holdings, from, to))
        .find(|d| npcu_on(holdings, *d) < required)
}

/// The renewals that keep a partner in tier over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewals {
    /// Indices into the holdings, soonest-ending first.
    pub picks: Vec<usize>,
    /// Whether renewing `picks` keeps NPCU at or above the requirement on
    /// every date of the window (false only when even renewing every
    /// candidate would not: the partner is short already).
    pub keeps_tier: bool,
}

/// NPCU on `date` when the holdings in `renewed` keep counting.
fn npcu_on_renewed(holdings: &[Holding], renewed: &[bool], date: NaiveDate) -> u32 {
    let t = end_of_day(date);
    holdings
        .iter()
        .zip(renewed)
        .filter(|(h, r)| {
            if **r {
                h.starts_at.is_none_or(|s| s <= t)
            } else {
                h.counts_at(t)
            }
        })
        .map(|(h, _)| h.npcu)
        .sum()
}

/// The fewest certifications whose renewal keeps NPCU at or above
/// `required` on every date from `now`'s date to `to`: candidates count at
/// `now` and end by the end of `to`.
///
/// Greedy, date by date: on the first date still short, renew the
/// candidate already ended by then that is worth most (then the soonest
/// ending, then by key). Every candidate ended by that date covers that
/// date and all later ones alike, so the one worth most is never a worse
/// choice — which is why the count is the least possible (the property
/// tests check it against an exhaustive search).
pub fn renewals_needed(
    holdings: &[Holding],
    required: u32,
    now: DateTime<Utc>,
    to: NaiveDate,
) -> Renewals {
    let from = now.date_naive();
    let window_end = end_of_day(to);
    let candidate: Vec<bool> = holdings
        .iter()
        .map(|h| h.counts_at(now) && h.ends_at.is_some_and(|e| e <= window_end))
        .collect();
    let mut renewed = vec![false; holdings.len()];
    let mut keeps_tier = true;
    for d in std::iter::once(from).chain(change_dates(holdings, from, to)) {
        let day_end = end_of_day(d);
        while npcu_on_renewed(holdings, &renewed, d) < required {
            let best = holdings
                .iter()
                .enumerate()
                .filter(|(i, h)| {
                    candidate[*i] && !renewed[*i] && h.ends_at.is_some_and(|e| e <= day_end)
                })
                .max_by(|(_, a), (_, b)| {
                    a.npcu
                        .cmp(&b.npcu)
                        .then_with(|| b.ends_at.cmp(&a.ends_at))
                        .then_with(|| b.key.cmp(&a.key))
                });
            match best {
                Some((i, _)) => renewed[i] = true,
                None => {
                    keeps_tier = false;
                    break;
                }
            }
        }
    }
    let mut picks: Vec<usize> = (0..holdings.len()).filter(|i| renewed[*i]).collect();
    picks.sort_by(|a, b| {
        (holdings[*a].ends_at, &holdings[*a].key).cmp(&(holdings[*b].ends_at, &holdings[*b].key))
    });
    Renewals { picks, keeps_tier }
}

/// A partner's forecast over `[now's date, to]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecast {
    pub npcu_now: u32,
    pub required: u32,
    pub steps: Vec<Step>,
    /// `None` when NPCU stays at or above the requirement on every date of
    /// the window, and when it is below already at `now` (nothing to drop
    /// from).
    pub drops_below_on: Option<NaiveDate>,
    /// NPCU on `to`.
    pub projected_npcu: u32,
    /// Empty unless the partner meets its requirement now and drops.
    pub renewals: Renewals,
}

/// Everything above for one partner: `required` is its tier's requirement.
pub fn forecast(
    holdings: &[Holding],
    required: u32,
    now: DateTime<Utc>,
    to: NaiveDate,
) -> Forecast {
    let from = now.date_naive();
    let npcu_now = npcu_at(holdings, now);
    let meets_now = npcu_now >= required;
    let drops = meets_now
        .then(|| drops_below_on(holdings, required, from, to))
        .flatten();
    let renewals = if drops.is_some() {
        renewals_needed(holdings, required, now, to)
    } else {
        Renewals {
            picks: Vec::new(),
            keeps_tier: meets_now,
        }
    };
    Forecast {
        npcu_now,
        required,
        steps: steps(holdings, from, to),
        drops_below_on: drops,
        projected_npcu: npcu_on(holdings, to),
        renewals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap()
    }

    fn day(n: i64) -> NaiveDate {
        now().date_naive() + Duration::days(n)
    }

    fn h(key: &str, npcu: u32, ends_in_days: Option<i64>) -> Holding {
        Holding {
            key: key.into(),
            npcu,
            starts_at: Some(now() - Duration::days(300)),
            ends_at: ends_in_days.map(|d| now() + Duration::days(d)),
        }
    }

    #[test]
    fn expiry_day_no_longer_counts() {
        let hs = [h("a", 2, Some(10)), h("b", 1, None)];
        assert_eq!(npcu_on(&hs, day(9)), 3);
        assert_eq!(npcu_on(&hs, day(10)), 1);
        assert_eq!(
            steps(&hs, day(0), day(30)),
            vec![
                Step {
                    date: day(0),
                    npcu: 3
                },
                Step {
                    date: day(10),
                    npcu: 1
                }
            ]
        );
        assert_eq!(drops_below_on(&hs, 2, day(0), day(30)), Some(day(10)));
        assert_eq!(drops_below_on(&hs, 2, day(0), day(9)), None);
    }

    #[test]
    fn expiry_at_midnight_belongs_to_that_date() {
        let mid = start_of_day(day(5));
        let hs = [Holding {
            key: "m".into(),
            npcu: 1,
            starts_at: None,
            ends_at: Some(mid),
        }];
        assert_eq!(npcu_on(&hs, day(4)), 1);
        assert_eq!(npcu_on(&hs, day(5)), 0);
    }

    #[test]
    fn renewals_pick_the_fewest_then_soonest() {
        // Requirement 5 from 6: losing a (1, day 3) is fine, losing b (2,
        // day 5) too is not; renewing b alone keeps 5 until c (2, day 20)
        // goes, then c must be renewed as well.
        let hs = [
            h("a", 1, Some(3)),
            h("b", 2, Some(5)),
            h("c", 2, Some(20)),
            h("d", 1, None),
        ];
        let r = renewals_needed(&hs, 5, now(), day(30));
        assert!(r.keeps_tier);
        assert_eq!(r.picks, vec![1, 2]);
        let f = forecast(&hs, 5, now(), day(30));
        assert_eq!(f.drops_below_on, Some(day(5)));
        assert_eq!(f.projected_npcu, 1);
        assert_eq!(f.npcu_now, 6);
    }

    #[test]
    fn already_below_has_no_drop_date() {
        let hs = [h("a", 1, Some(3))];
        let f = forecast(&hs, 5, now(), day(30));
        assert_eq!(f.drops_below_on, None);
        assert!(!f.renewals.keeps_tier);
        assert!(f.renewals.picks.is_empty());
    }

    #[test]
    fn rows_and_org_certs_become_holdings() {
        let row = CertRow {
            user_id: "u".into(),
            course_id: "c".into(),
            npcu: 2,
            progress: ProgressStatus::Completed,
            completed_at: Some(now()),
            expires_at: Some(now() + Duration::days(1)),
            ..Default::default()
        };
        let got = Holding::from_row(&row).unwrap();
        assert_eq!((got.key.as_str(), got.npcu), ("u#c", 2));
        let enrolled = CertRow {
            progress: ProgressStatus::InProgress,
            ..row.clone()
        };
        assert_eq!(Holding::from_row(&enrolled), None);
        let org = OrgCertification {
            id: "o".into(),
            npcu: 3,
            starts_at: now(),
            ends_at: now() + Duration::days(2),
            ..Default::default()
        };
        assert_eq!(Holding::from_org(&org).unwrap().key, "org#o");
    }

    // -- property tests, against an oracle of their own ---------------------

    /// (npcu, start, end) in days relative to `now`, `None` = open.
    type Raw = (u32, Option<i64>, Option<i64>);

    fn arb_raw() -> impl Strategy<Value = Raw> {
        (
            1u32..=3,
            // Mostly started in the past; sometimes a future start (a
            // scheduled organisation certification or a new completion).
            prop_oneof![
                4 => (-800i64..=0).prop_map(Some),
                1 => (1i64..=200).prop_map(Some),
                1 => Just(None),
            ],
            prop_oneof![
                5 => (-30i64..=250).prop_map(Some),
                1 => Just(None),
            ],
        )
    }

    /// Hours of an offset, so instants fall at various times of day.
    fn arb_hours() -> impl Strategy<Value = i64> {
        0i64..24
    }

    fn build(raw: &[(Raw, i64)]) -> Vec<Holding> {
        raw.iter()
            .enumerate()
            .map(|(i, ((n, s, e), hrs))| Holding {
                key: format!("k{i:02}"),
                npcu: *n,
                starts_at: s.map(|d| now() + Duration::days(d) + Duration::hours(*hrs)),
                ends_at: e.map(|d| now() + Duration::days(d) - Duration::hours(*hrs)),
            })
            .collect()
    }

    /// The oracle: on a date, a holding counts when it started on or before
    /// that date and ends on a later date.
    fn oracle_on(hs: &[Holding], d: NaiveDate, renewed: &[usize]) -> u32 {
        hs.iter()
            .enumerate()
            .filter(|(i, h)| {
                let started = h.starts_at.is_none_or(|s| s.date_naive() <= d);
                let ends_later =
                    renewed.contains(i) || h.ends_at.is_none_or(|e| e.date_naive() > d);
                started && ends_later
            })
            .map(|(_, h)| h.npcu)
            .sum()
    }

    fn window(days: i64) -> impl Iterator<Item = NaiveDate> {
        (0..=days).map(day)
    }

    fn oracle_keeps(hs: &[Holding], req: u32, days: i64, renewed: &[usize]) -> bool {
        window(days).all(|d| oracle_on(hs, d, renewed) >= req)
    }

    proptest! {
        /// Without a new start, projected NPCU never goes up from one day
        /// to the next; and every date matches the oracle.
        #[test]
        fn projected_npcu_never_increases_without_a_new_completion(
            raw in prop::collection::vec((arb_raw(), arb_hours()), 0..14),
            days in 1i64..240,
        ) {
            let hs = build(&raw);
            for d in window(days) {
                prop_assert_eq!(npcu_on(&hs, d), oracle_on(&hs, d, &[]));
                let next = d + Duration::days(1);
                let started_next = hs.iter().any(|h| {
                    h.starts_at.is_some_and(|s| s.date_naive() == next)
                });
                if !started_next {
                    prop_assert!(npcu_on(&hs, next) <= npcu_on(&hs, d), "up on {}", next);
                }
            }
            // The step series holds the same values.
            let st = steps(&hs, day(0), day(days));
            for d in window(days) {
                let v = st.iter().rev().find(|s| s.date <= d).unwrap().npcu;
                prop_assert_eq!(v, oracle_on(&hs, d, &[]));
            }
            prop_assert!(st.windows(2).all(|w| w[0].npcu != w[1].npcu && w[0].date < w[1].date));
        }

        /// At the drop date NPCU is below the requirement and the day
        /// before (or, on the first day, at `now`) it is not; no earlier
        /// date of the window is below.
        #[test]
        fn drop_date_is_the_first_date_below(
            raw in prop::collection::vec((arb_raw(), arb_hours()), 0..14),
            req in 0u32..12,
            days in 1i64..240,
        ) {
            let hs = build(&raw);
            let f = forecast(&hs, req, now(), day(days));
            let first_below = window(days).find(|d| oracle_on(&hs, *d, &[]) < req);
            if npcu_at(&hs, now()) >= req {
                prop_assert_eq!(f.drops_below_on, first_below);
            } else {
                prop_assert_eq!(f.drops_below_on, None);
            }
            if let Some(d) = f.drops_below_on {
                prop_assert!(oracle_on(&hs, d, &[]) < req);
                if d > day(0) {
                    prop_assert!(oracle_on(&hs, d - Duration::days(1), &[]) >= req);
                } else {
                    prop_assert!(npcu_at(&hs, now()) >= req);
                }
            }
            prop_assert_eq!(f.projected_npcu, oracle_on(&hs, day(days), &[]));
        }

        /// Renewing the listed certifications keeps the partner in tier on
        /// every date of the window, and no smaller set does.
        #[test]
        fn renewing_the_listed_certifications_keeps_the_tier(
            raw in prop::collection::vec((arb_raw(), arb_hours()), 0..11),
            slack in 0u32..4,
            days in 1i64..240,
        ) {
            let hs = build(&raw);
            // A partner meeting its requirement now, often just so.
            let req = npcu_at(&hs, now()).saturating_sub(slack);
            let r = renewals_needed(&hs, req, now(), day(days));
            prop_assert!(r.keeps_tier);
            prop_assert!(oracle_keeps(&hs, req, days, &r.picks), "picks {:?}", r.picks);
            // Each pick counts now and ends inside the window, soonest first.
            let end = end_of_day(day(days));
            for i in &r.picks {
                prop_assert!(hs[*i].counts_at(now()));
                prop_assert!(hs[*i].ends_at.is_some_and(|e| e <= end));
            }
            prop_assert!(r.picks.windows(2).all(|w| hs[w[0]].ends_at <= hs[w[1]].ends_at));
            // Exhaustive search over the candidates (counting now, ending in
            // the window): no smaller set keeps it.
            let cands: Vec<usize> = (0..hs.len())
                .filter(|i| hs[*i].counts_at(now()) && hs[*i].ends_at.is_some_and(|e| e <= end))
                .collect();
            let n = cands.len();
            let fewest = (0u32..(1 << n))
                .filter(|mask| {
                    let set: Vec<usize> =
                        (0..n).filter(|i| mask & (1 << i) != 0).map(|i| cands[i]).collect();
                    oracle_keeps(&hs, req, days, &set)
                })
                .map(u32::count_ones)
                .min()
                .unwrap();
            prop_assert_eq!(r.picks.len() as u32, fewest);
            if f_drops(&hs, req, days) {
                prop_assert!(!r.picks.is_empty());
            } else {
                prop_assert!(r.picks.is_empty());
            }
        }
    }

    fn f_drops(hs: &[Holding], req: u32, days: i64) -> bool {
        window(days).any(|d| oracle_on(hs, d, &[]) < req)
    }
}
