//! Generic report-table operations: every row type lists its columns once
//! ([`ReportRow::COLUMNS`]) and serialises with serde; sorting, paging and
//! the CSV/XLSX encoders work on the serialised cells, so a new report only
//! declares its row struct.

use std::cmp::Ordering;

use serde::Serialize;
use serde_json::{Map, Value};

use super::params::SortKey;

/// A report row: serialisable, with its columns in display order.
pub trait ReportRow: Serialize {
    /// Column names = the serialised field names, in export order.
    const COLUMNS: &'static [&'static str];

    /// The row as a JSON object (fields keyed by column).
    fn cells(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            // Row types are plain structs; anything else is a programming
            // error caught by the unit tests of each row type.
            _ => Map::new(),
        }
    }
}

/// One page of rows plus the paging metadata of the JSON answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub meta: PageMeta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PageMeta {
    /// Rows after filtering, before paging.
    pub total: usize,
    pub page: u32,
    pub limit: u32,
}

/// Orders two cells: numbers numerically, strings case-insensitively,
/// booleans false < true, and empty cells (null) last whatever the
/// direction — a missing expiry is not "the earliest".
fn cmp_cells(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let a = a.filter(|v| !v.is_null());
    let b = b.filter(|v| !v.is_null());
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::String(x)), Some(Value::String(y))) => x
            .to_lowercase()
            .cmp(&y.to_lowercase())
            .then_with(|| x.cmp(y)),
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}

/// Columns the free-text search (`q`) looks in: names and e-mails of
/// partners, users, contacts and owners — not course or group names.
pub const SEARCH_COLUMNS: &[&str] = &[
    "name",
    "partner_name",
    "user_name",
    "first_name",
    "last_name",
    "email",
    "owner_name",
    "owner_email",
];

/// Rows with a [`SEARCH_COLUMNS`] cell containing `needle`
/// (case-insensitive); a blank needle keeps every row.
pub fn search_rows<T: ReportRow>(rows: Vec<T>, needle: &str) -> Vec<T> {
    let needle = needle.trim().to_lowercase();
    if needle.is_empty() {
        return rows;
    }
    rows.into_iter()
        .filter(|r| {
            let cells = r.cells();
            SEARCH_COLUMNS.iter().any(|c| {
                cells
                    .get(*c)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.to_lowercase().contains(&needle))
            })
        })
        .collect()
}

/// Sorts `rows` by `keys` in turn (stable: rows equal on every key keep
/// their builder order, which is each report's default order).
pub fn sort_rows<T: ReportRow>(rows: &mut [T], keys: &[SortKey]) {
    if keys.is_empty() {
        return;
    }
    let mut keyed: Vec<(Map<String, Value>, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.cells(), i))
        .collect();
    keyed.sort_by(|(a, ia), (b, ib)| {
        for k in keys {
            let o = cmp_cells(a.get(&k.field), b.get(&k.field));
            // Nulls stay last in both directions.
            let both = a.get(&k.field).is_some_and(|v| !v.is_null())
                && b.get(&k.field).is_some_and(|v| !v.is_null());
            let o = if k.descending && both { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        ia.cmp(ib)
    });
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i).collect();
    apply_order(rows, &order);
}

/// Permutes `rows` so that position `p` holds the old `order[p]`.
fn apply_order<T>(rows: &mut [T], order: &[usize]) {
    let mut pos: Vec<usize> = (0..rows.len()).collect(); // where old i is now
    let mut at: Vec<usize> = (0..rows.len()).collect(); // which old is at p
    for (p, &want) in order.iter().enumerate() {
        let cur = pos[want];
        if cur != p {
            rows.swap(p, cur);
            let displaced = at[p];
            at[cur] = displaced;
            pos[displaced] = cur;
            at[p] = want;
            pos[want] = p;
        }
    }
}

/// Page `page` (1-based) of `limit` rows; `total` counts all rows.
pub fn paginate<T>(rows: Vec<T>, page: u32, limit: u32) -> Page<T> {
    let total = rows.len();
    let start = (page.saturating_sub(1) as usize).saturating_mul(limit as usize);
    let data = rows.into_iter().skip(start).take(limit as usize).collect();
    Page {
        data,
        meta: PageMeta { total, page, limit },
    }
}

/// The cell as export text: strings as-is, numbers/bools in JSON form,
/// null as empty.
pub fn cell_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Debug, Clone, PartialEq)]
    struct R {
        name: String,
        n: Option<u32>,
    }
    impl ReportRow for R {
        const COLUMNS: &'static [&'static str] = &["name", "n"];
    }
    fn r(name: &str, n: Option<u32>) -> R {
        R {
            name: name.into(),
            n,
        }
    }
    fn key(f: &str, d: bool) -> SortKey {
        SortKey {
            field: f.into(),
            descending: d,
        }
    }

    #[test]
    fn search_matches_names_case_insensitively() {
        let rows = vec![
            r("Acme GmbH", Some(1)),
            r("Globex", Some(2)),
            r("ACME Inc", None),
        ];
        let hits = search_rows(rows.clone(), " acme ");
        assert_eq!(hits, vec![rows[0].clone(), rows[2].clone()]);
        assert_eq!(search_rows(rows.clone(), "").len(), 3);
        assert!(
            search_rows(rows, "2").is_empty(),
            "numbers are not searched"
        );
    }

    #[test]
    fn sorts_numbers_numerically_nulls_last_both_ways() {
        let mut rows = vec![
            r("a", Some(10)),
            r("b", None),
            r("c", Some(9)),
            r("d", Some(10)),
        ];
        sort_rows(&mut rows, &[key("n", false)]);
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["c", "a", "d", "b"]);
        sort_rows(&mut rows, &[key("n", true), key("name", true)]);
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["d", "a", "c", "b"]);
    }

    #[test]
    fn strings_sort_case_insensitively_and_stably() {
        let mut rows = vec![r("b", Some(1)), r("A", Some(2)), r("a", Some(3))];
        sort_rows(&mut rows, &[key("name", false)]);
        let ns: Vec<_> = rows.iter().map(|r| r.n.unwrap()).collect();
        assert_eq!(ns, [2, 3, 1]);
    }

    #[test]
    fn permutation_is_applied_exactly() {
        let mut v: Vec<u32> = vec![10, 11, 12, 13, 14];
        apply_order(&mut v, &[3, 0, 4, 1, 2]);
        assert_eq!(v, [13, 10, 14, 11, 12]);
    }

    #[test]
    fn pages_are_one_based_and_total_counts_everything() {
        let p = paginate((1..=25).collect::<Vec<_>>(), 3, 10);
        assert_eq!(p.data, vec![21, 22, 23, 24, 25]);
        assert_eq!(p.meta.total, 25);
        let p = paginate((1..=5).collect::<Vec<_>>(), 9, 10);
        assert!(p.data.is_empty());
        assert_eq!(p.meta.total, 5);
    }
}
