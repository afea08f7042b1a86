//! The table's key schema, GSIs and TTL attribute — defined once, here.
//!
//! [`Store::create_table`](super::Store::create_table) builds the local table
//! from [`TABLE`]; the SAM template must declare the same thing, and
//! [`cloudformation_yaml`] / [`description_json`] render it so ops can check
//! (or paste) it instead of keeping a second hand-written copy in sync.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

use super::{Result, StoreError};

/// Partition key of the table (every item).
pub const PK: &str = "PK";
/// Sort key of the table (every item).
pub const SK: &str = "SK";
/// Type index: `GSI1PK` = entity type (`SUMMARY`, `PARTNER`, `USER`, …),
/// `GSI1SK` = the entity id. "All X" is one paginated Query, not a Scan.
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
/// Expiry index (sparse: only certification rows with an expiry):
/// `GSI2PK` = `EXP#<YYYY-MM>`, `GSI2SK` = `<expiry RFC 3339 ms>#<user>#<course>`.
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
/// DynamoDB TTL attribute (epoch seconds, number) on run records,
/// reminder claims and other expiring bookkeeping.
pub const TTL: &str = "ttl";
/// Content hash used to skip unchanged writes.
pub const HASH: &str = "h";
/// Entity type of every item (same values as `GSI1PK` where indexed), so a
/// mixed partition (a dashboard) can be split without parsing sort keys.
pub const ENTITY: &str = "et";

/// Attributes the store owns on every item; an entity serialising a field
/// with one of these names would be silently overwritten, so it is refused.
pub const RESERVED: [&str; 9] = [PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, TTL, HASH, ENTITY];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    S,
    N,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::S => "S",
            AttrType::N => "N",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectionKind {
    All,
    KeysOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub hash_key: &'static str,
    pub range_key: &'static str,
    pub projection: ProjectionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSchema {
    pub hash_key: &'static str,
    pub range_key: &'static str,
    /// Only key attributes (of the table and the GSIs) are declared, as
    /// DynamoDB requires.
    pub attributes: &'static [(&'static str, AttrType)],
    pub gsis: &'static [IndexDef],
    pub ttl_attribute: &'static str,
}

/// The single table of the portal.
pub const TABLE: TableSchema = TableSchema {
    hash_key: PK,
    range_key: SK,
    attributes: &[
        (PK, AttrType::S),
        (SK, AttrType::S),
        (GSI1PK, AttrType::S),
        (GSI1SK, AttrType::S),
        (GSI2PK, AttrType::S),
        (GSI2SK, AttrType::S),
    ],
    gsis: &[
        // ALL projection: reports read whole summaries from the index; a
        // KEYS_ONLY index would cost one GetItem per partner afterwards.
        IndexDef {
            name: GSI1,
            hash_key: GSI1PK,
            range_key: GSI1SK,
            projection: ProjectionKind::All,
        },
        // ALL projection: the reminder run needs the row (user, e-mail,
        // course) it mails about, straight from the due-date Query.
        IndexDef {
            name: GSI2,
            hash_key: GSI2PK,
            range_key: GSI2SK,
            projection: ProjectionKind::All,
        },
    ],
    ttl_attribute: TTL,
};

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| StoreError::Schema(e.to_string()))
}

impl TableSchema {
    pub fn sdk_attribute_definitions(&self) -> Result<Vec<AttributeDefinition>> {
        self.attributes
            .iter()
            .map(|(name, t)| {
                AttributeDefinition::builder()
                    .attribute_name(*name)
                    .attribute_type(match t {
                        AttrType::S => ScalarAttributeType::S,
                        AttrType::N => ScalarAttributeType::N,
                    })
                    .build()
                    .map_err(|e| StoreError::Schema(e.to_string()))
            })
            .collect()
    }

    pub fn sdk_key_schema(&self) -> Result<Vec<KeySchemaElement>> {
        Ok(vec![
            key_element(self.hash_key, KeyType::Hash)?,
            key_element(self.range_key, KeyType::Range)?,
        ])
    }

    pub fn sdk_gsis(&self) -> Result<Vec<GlobalSecondaryIndex>> {
        self.gsis
            .iter()
            .map(|g| {
                GlobalSecondaryIndex::builder()
                    .index_name(g.name)
                    .key_schema(key_element(g.hash_key, KeyType::Hash)?)
                    .key_schema(key_element(g.range_key, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(match g.projection {
                                ProjectionKind::All => ProjectionType::All,
                                ProjectionKind::KeysOnly => ProjectionType::KeysOnly,
                            })
                            .build(),
                    )
                    .build()
                    .map_err(|e| StoreError::Schema(e.to_string()))
            })
            .collect()
    }

    /// On-demand billing: sync bursts and idle hours suit it, and it needs
    /// no provisioned-throughput numbers in the template.
    pub fn billing_mode(&self) -> BillingMode {
        BillingMode::PayPerRequest
    }
}

fn projection_name(p: ProjectionKind) -> &'static str {
    match p {
        ProjectionKind::All => "ALL",
        ProjectionKind::KeysOnly => "KEYS_ONLY",
    }
}

/// The `Properties` of an `AWS::DynamoDB::Table` resource for [`TABLE`], as
/// YAML indented by `indent` spaces (no `TableName`: the template names it).
pub fn cloudformation_yaml(indent: usize) -> String {
    let p = " ".repeat(indent);
    let mut out = String::new();
    out.push_str(&format!("{p}BillingMode: PAY_PER_REQUEST\n"));
    out.push_str(&format!("{p}AttributeDefinitions:\n"));
    for (name, t) in TABLE.attributes {
        out.push_str(&format!(
            "{p}  - AttributeName: {name}\n{p}    AttributeType: {}\n",
            t.as_str()
        ));
    }
    out.push_str(&format!("{p}KeySchema:\n"));
    out.push_str(&format!(
        "{p}  - AttributeName: {}\n{p}    KeyType: HASH\n",
        TABLE.hash_key
    ));
    out.push_str(&format!(
        "{p}  - AttributeName: {}\n{p}    KeyType: RANGE\n",
        TABLE.range_key
    ));
    out.push_str(&format!("{p}GlobalSecondaryIndexes:\n"));
    for g in TABLE.gsis {
        out.push_str(&format!("{p}  - IndexName: {}\n", g.name));
        out.push_str(&format!("{p}    KeySchema:\n"));
        out.push_str(&format!(
            "{p}      - AttributeName: {}\n{p}        KeyType: HASH\n",
            g.hash_key
        ));
        out.push_str(&format!(
            "{p}      - AttributeName: {}\n{p}        KeyType: RANGE\n",
            g.range_key
        ));
        out.push_str(&format!(
            "{p}    Projection:\n{p}      ProjectionType: {}\n",
            projection_name(g.projection)
        ));
    }
    out.push_str(&format!(
        "{p}TimeToLiveSpecification:\n{p}  AttributeName: {}\n{p}  Enabled: true\n",
        TABLE.ttl_attribute
    ));
    out
}

/// [`TABLE`] as JSON in CloudFormation property names (`AttributeDefinitions`,
/// `KeySchema`, `GlobalSecondaryIndexes`, `TimeToLiveSpecification`,
/// `BillingMode`), so a check can compare it with the parsed template.
pub fn description_json() -> serde_json::Value {
    use serde_json::json;
    let key = |name: &str, kind: &str| json!({"AttributeName": name, "KeyType": kind});
    json!({
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": TABLE.attributes.iter()
            .map(|(n, t)| json!({"AttributeName": n, "AttributeType": t.as_str()}))
            .collect::<Vec<_>>(),
        "KeySchema": [key(TABLE.hash_key, "HASH"), key(TABLE.range_key, "RANGE")],
        "GlobalSecondaryIndexes": TABLE.gsis.iter().map(|g| json!({
            "IndexName": g.name,
            "KeySchema": [key(g.hash_key, "HASH"), key(g.range_key, "RANGE")],
            "Projection": {"ProjectionType": projection_name(g.projection)},
        })).collect::<Vec<_>>(),
        "TimeToLiveSpecification": {"AttributeName": TABLE.ttl_attribute, "Enabled": true},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_key_is_declared_once() {
        let declared: Vec<&str> = TABLE.attributes.iter().map(|(n, _)| *n).collect();
        let mut used = vec![TABLE.hash_key, TABLE.range_key];
        for g in TABLE.gsis {
            used.push(g.hash_key);
            used.push(g.range_key);
        }
        // DynamoDB rejects declared-but-unused attributes and vice versa.
        let mut d = declared.clone();
        d.sort();
        used.sort();
        assert_eq!(d, used);
        d.dedup();
        assert_eq!(d.len(), declared.len());
    }

    #[test]
    fn sdk_definitions_build() {
        assert_eq!(TABLE.sdk_attribute_definitions().unwrap().len(), 6);
        assert_eq!(TABLE.sdk_key_schema().unwrap().len(), 2);
        assert_eq!(TABLE.sdk_gsis().unwrap().len(), 2);
    }

    #[test]
    fn yaml_and_json_agree() {
        let y = cloudformation_yaml(6);
        assert!(y.contains("      BillingMode: PAY_PER_REQUEST\n"));
        assert!(y.contains("IndexName: GSI2"));
        assert!(y.contains("AttributeName: ttl"));
        let j = description_json();
        assert_eq!(j["GlobalSecondaryIndexes"][0]["IndexName"], "GSI1");
        assert_eq!(j["TimeToLiveSpecification"]["AttributeName"], "ttl");
        assert_eq!(j["AttributeDefinitions"].as_array().unwrap().len(), 6);
    }
}
