//! Capacity units as on-demand DynamoDB would bill them, computed from the
//! items themselves. The local emulator reports no (or flat) consumed
//! capacity, so the benchmarks' cost model needs these to price a run
//! instead of guessing an item size.
//!
//! Rules (DynamoDB developer guide, "Read/write capacity mode"):
//! - an item's size is the sum of its attribute names' and values' lengths;
//! - a write costs 1 WRU per started KB of the item (a failed condition
//!   still costs 1);
//! - a read costs 1 RRU per started 4 KB when strongly consistent, half that
//!   when eventually consistent; a Query adds the sizes of all items of a
//!   page before rounding (≥ one unit per page), GetItem/BatchGetItem round
//!   per item (a missing item still costs the minimum).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

const WRITE_UNIT: usize = 1024;
const READ_UNIT: usize = 4096;

/// Bytes DynamoDB counts for one item.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn number_size(n: &str) -> usize {
    // Numbers are stored as base-100 digit pairs plus a byte: ≈ half the
    // significant digits + 1.
    let digits = n.chars().filter(char::is_ascii_digit).count();
    digits.div_ceil(2) + 1
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        // Containers: 3 bytes of overhead plus 1 per element.
        AttributeValue::L(l) => 3 + l.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// Write units of putting (or deleting) an item of `bytes`.
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(WRITE_UNIT).max(1) as f64
}

/// Read units of reading `bytes` at once (one item, or one Query page).
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(READ_UNIT).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// Read units of a Query page returning `items`.
pub fn query_page_units(items: &[HashMap<String, AttributeValue>], consistent: bool) -> f64 {
    read_units(items.iter().map(item_size).sum(), consistent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn sizes_follow_the_names_and_values() {
        let it = item(&[
            ("PK", AttributeValue::S("USER#1".into())),
            ("n", AttributeValue::N("12345".into())),
            ("ok", AttributeValue::Bool(true)),
        ]);
        // 2+6, 1+(3+1), 2+1
        assert_eq!(item_size(&it), 8 + 5 + 3);
        let nested = item(&[(
            "m",
            AttributeValue::M(item(&[("a", AttributeValue::S("xy".into()))])),
        )]);
        assert_eq!(item_size(&nested), 1 + 3 + (1 + 1 + 2));
    }

    #[test]
    fn units_round_up_with_a_minimum() {
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(10, true), 1.0);
        assert_eq!(read_units(10, false), 0.5);
        assert_eq!(read_units(4097, false), 1.0);
        // A page of 100 small items is one unit, not 100.
        let small = item(&[("PK", AttributeValue::S("x".repeat(30)))]);
        assert_eq!(query_page_units(&vec![small; 100], false), 0.5);
    }
}
