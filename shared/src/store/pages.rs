//! Reads bounded by the page: a [`Walk`] goes through one or more Queries
//! in order (the type index of an entity, a list of partner partitions,
//! the months of the expiry index) a chunk at a time, and stops wherever
//! its caller has a page full. Where it stopped is a [`Position`] — the
//! Query it was on and the key of the last item used — which travels to
//! the client as an opaque, validated cursor ([`encode_cursor`] /
//! [`decode_cursor`]): base64url of a small JSON object. A garbled or
//! forged cursor is a [`CursorError`] (the API answers 400), and a cursor
//! can only ever resume one of the Queries its caller would run anyway, so
//! a forged one cannot reach data outside the caller's scope.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{s_attr, schema, Item, ItemKey, QuerySpec, Result, SkCondition, Store, StoreError};

/// Where a walk resumes: the partition key of the Query it was on and,
/// unless it starts that Query from the beginning, the key attributes of
/// the last item it used (the `ExclusiveStartKey`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub pk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<BTreeMap<String, String>>,
}

/// A position and the query it belongs to (`scope`: a fingerprint of the
/// report and its filters, chosen by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CursorWire {
    v: u8,
    s: String,
    #[serde(flatten)]
    pos: Position,
}

const CURSOR_VERSION: u8 = 1;

/// Why a cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("not a cursor this API issued ({0}); pass back next_cursor exactly as received")]
    Garbled(String),
    #[error("this cursor belongs to another query (report or filters changed); start again without cursor")]
    Foreign,
}

/// The cursor of `pos` for the query fingerprinted `scope`.
pub fn encode_cursor(scope: &str, pos: &Position) -> String {
    let wire = CursorWire {
        v: CURSOR_VERSION,
        s: scope.to_string(),
        pos: pos.clone(),
    };
    // Serialising a struct of strings cannot fail.
    let json = serde_json::to_vec(&wire).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// The position in `cursor`, which must have been issued for `scope`.
pub fn decode_cursor(cursor: &str, scope: &str) -> Result<Position, CursorError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| CursorError::Garbled("not base64url".into()))?;
    let wire: CursorWire = serde_json::from_slice(&bytes)
        .map_err(|_| CursorError::Garbled("unreadable content".into()))?;
    if wire.v != CURSOR_VERSION {
        return Err(CursorError::Garbled(format!("unknown version {}", wire.v)));
    }
    if wire.s != scope {
        return Err(CursorError::Foreign);
    }
    Ok(wire.pos)
}

/// Names of the hash and range attributes a Query on `index` (None = the
/// table) matches on.
fn key_names(index: Option<&str>) -> Result<(&'static str, &'static str)> {
    match index {
        None => Ok((schema::PK, schema::SK)),
        Some(i) => schema::TABLE
            .gsis
            .iter()
            .find(|g| g.name == i)
            .map(|g| (g.hash_key, g.range_key))
            .ok_or_else(|| StoreError::Schema(format!("unknown index {i}"))),
    }
}

/// The attributes an `ExclusiveStartKey` of a Query on `index` has: the
/// table key, plus the index key on an index.
fn start_key_names(index: Option<&str>) -> Result<Vec<&'static str>> {
    let mut v = vec![schema::PK, schema::SK];
    if index.is_some() {
        let (h, r) = key_names(index)?;
        v.push(h);
        v.push(r);
    }
    Ok(v)
}

/// Whether a range-key value can come out of a Query with `sk`.
fn sk_matches(sk: &SkCondition, v: &str) -> bool {
    match sk {
        SkCondition::Any => true,
        SkCondition::Eq(a) => v == a,
        SkCondition::BeginsWith(p) => v.starts_with(p.as_str()),
        SkCondition::Between(a, b) => a.as_str() <= v && v <= b.as_str(),
    }
}

/// A walk through `specs` in order, a Query page at a time.
#[derive(Debug)]
pub struct Walk {
    specs: Vec<QuerySpec>,
    /// The Query the next chunk comes from (`specs.len()` = done).
    at: usize,
    start: Option<Item>,
    /// The Query the last chunk came from, and the key of its last item.
    last_spec: usize,
    last_key: Option<ItemKey>,
    /// DynamoDB requests and items this walk read.
    pub requests: u64,
    pub items_read: u64,
}

impl Walk {
    /// From the beginning of the first Query.
    pub fn new(specs: Vec<QuerySpec>) -> Walk {
        Walk {
            specs,
            at: 0,
            start: None,
            last_spec: 0,
            last_key: None,
            requests: 0,
            items_read: 0,
        }
    }

    /// From `pos`, which must name one of `specs` and, if it carries a key,
    /// a key that Query could have returned; anything else is refused.
    pub fn resume(specs: Vec<QuerySpec>, pos: &Position) -> Result<Walk, CursorError> {
        let at = specs
            .iter()
            .position(|s| s.pk == pos.pk)
            .ok_or(CursorError::Foreign)?;
        let mut walk = Walk::new(specs);
        walk.at = at;
        walk.last_spec = at;
        if let Some(after) = &pos.after {
            let spec = &walk.specs[at];
            let bad = |what: &str| CursorError::Garbled(what.to_string());
            let names = start_key_names(spec.index).map_err(|_| bad("unknown index"))?;
            let (hash, range) = key_names(spec.index).map_err(|_| bad("unknown index"))?;
            if after.len() != names.len() || names.iter().any(|n| !after.contains_key(*n)) {
                return Err(bad("wrong key attributes"));
            }
            if after[hash] != spec.pk {
                return Err(CursorError::Foreign);
            }
            if !sk_matches(&spec.sk, &after[range]) {
                return Err(CursorError::Foreign);
            }
            walk.start = Some(
                after
                    .iter()
                    .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
                    .collect(),
            );
        }
        Ok(walk)
    }

    /// Whether every Query has been read to its end.
    pub fn done(&self) -> bool {
        self.at >= self.specs.len()
    }

    /// The next chunk: at most `n` items of one Query (fewer at the end of
    /// a Query, possibly none). `None` once every Query is read.
    pub async fn next_chunk(&mut self, store: &Store, n: usize) -> Result<Option<Vec<Item>>> {
        let Some(spec) = self.specs.get(self.at) else {
            return Ok(None);
        };
        let spec = spec.clone().limit(n.max(1));
        let (items, next) = store.query_page(&spec, self.start.take()).await?;
        self.requests += 1;
        self.items_read += items.len() as u64;
        self.last_spec = self.at;
        self.last_key = items.last().and_then(|i| ItemKey::of(i).ok());
        match next {
            Some(k) => self.start = Some(k),
            None => self.at += 1,
        }
        Ok(Some(items))
    }

    /// Where the walk stands (after the last chunk); `None` when done.
    pub fn position(&self) -> Option<Position> {
        let spec = self.specs.get(self.at)?;
        let after = self.start.as_ref().map(|k| {
            k.iter()
                .filter_map(|(n, v)| Some((n.clone(), v.as_s().ok()?.clone())))
                .collect()
        });
        Some(Position {
            pk: spec.pk.clone(),
            after,
        })
    }

    /// The position right after `item`, one of the last chunk's items:
    /// the next page starts with the item that follows it.
    pub fn position_after(&self, item: &Item) -> Result<Option<Position>> {
        let key = ItemKey::of(item)?;
        if self.last_key.as_ref() == Some(&key) {
            // The chunk's last item: the walk's own position says it
            // without a Query that would find nothing after it.
            return Ok(self.position());
        }
        let spec = &self.specs[self.last_spec];
        let mut after = BTreeMap::new();
        for n in start_key_names(spec.index)? {
            after.insert(n.to_string(), s_attr(item, n)?.to_string());
        }
        Ok(Some(Position {
            pk: spec.pk.clone(),
            after: Some(after),
        }))
    }
}

/// A raw item of a walk as its entity.
pub fn item_as<T: serde::de::DeserializeOwned>(item: Item) -> Result<T> {
    Ok(serde_dynamo::from_item(item)?)
}

impl Store {
    /// Typed [`Store::get_items`], keyed by each item's key.
    pub async fn get_items_as<T: serde::de::DeserializeOwned>(
        &self,
        keys: &[ItemKey],
    ) -> Result<HashMap<ItemKey, T>> {
        let mut out = HashMap::new();
        for item in self.get_items(keys).await? {
            let key = ItemKey::of(&item)?;
            out.insert(key, serde_dynamo::from_item(item)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(pk: &str, after: Option<&[(&str, &str)]>) -> Position {
        Position {
            pk: pk.into(),
            after: after.map(|a| {
                a.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
        }
    }

    fn cert_specs() -> Vec<QuerySpec> {
        ["PARTNER#a", "PARTNER#b"]
            .iter()
            .map(|pk| QuerySpec::partition(*pk).sk(SkCondition::BeginsWith("CERT#".into())))
            .collect()
    }

    #[test]
    fn cursor_round_trips_within_its_scope_only() {
        let p = pos(
            "PARTNER#b",
            Some(&[("PK", "PARTNER#b"), ("SK", "CERT#u#c")]),
        );
        let c = encode_cursor("s1", &p);
        assert!(!c.contains(['/', '+', '=']));
        assert_eq!(decode_cursor(&c, "s1").unwrap(), p);
        assert_eq!(decode_cursor(&c, "s2"), Err(CursorError::Foreign));
        for garbage in ["%%%", "", "bm90IGpzb24", &c[..c.len() - 3]] {
            assert!(
                matches!(decode_cursor(garbage, "s1"), Err(CursorError::Garbled(_))),
                "{garbage}"
            );
        }
    }

    #[test]
    fn resume_accepts_only_keys_its_queries_could_return() {
        let ok = pos(
            "PARTNER#b",
            Some(&[("PK", "PARTNER#b"), ("SK", "CERT#u#c")]),
        );
        let w = Walk::resume(cert_specs(), &ok).unwrap();
        assert_eq!(w.at, 1);
        assert!(Walk::resume(cert_specs(), &pos("PARTNER#a", None)).is_ok());
        // A partition the caller does not read (another PAM's partner).
        assert_eq!(
            Walk::resume(cert_specs(), &pos("PARTNER#z", None)).unwrap_err(),
            CursorError::Foreign
        );
        // A key of another partition, or outside the rows' prefix.
        for after in [
            [("PK", "PARTNER#z"), ("SK", "CERT#u#c")],
            [("PK", "PARTNER#b"), ("SK", "SUMMARY")],
        ] {
            assert_eq!(
                Walk::resume(cert_specs(), &pos("PARTNER#b", Some(&after))).unwrap_err(),
                CursorError::Foreign
            );
        }
        // Missing or extra attributes.
        assert!(matches!(
            Walk::resume(
                cert_specs(),
                &pos("PARTNER#b", Some(&[("PK", "PARTNER#b")]))
            ),
            Err(CursorError::Garbled(_))
        ));
        let idx = vec![QuerySpec::partition("CERT").index(schema::GSI1)];
        assert!(matches!(
            Walk::resume(
                idx.clone(),
                &pos("CERT", Some(&[("PK", "PARTNER#b"), ("SK", "CERT#u#c")]))
            ),
            Err(CursorError::Garbled(_))
        ));
        let full = [
            ("PK", "PARTNER#b"),
            ("SK", "CERT#u#c"),
            (schema::GSI1PK, "CERT"),
            (schema::GSI1SK, "b#u#c"),
        ];
        assert!(Walk::resume(idx, &pos("CERT", Some(&full))).is_ok());
    }
}
