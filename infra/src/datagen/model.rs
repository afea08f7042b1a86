//! The items of the two source systems, typed so that serialising one gives
//! exactly the JSON the simulators serve (the `data` items of a Northpass
//! JSON:API page, the `results` items of an Impartner answer).
//!
//! Northpass items are typed structs (150,000 transcripts as `serde_json::Value`
//! would cost several hundred MB); Impartner records are plain JSON objects
//! because `fields=`, `filter=` and `PATCH` address arbitrary field names.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One Impartner object (`Account` or `User`) exactly as served in `results`.
pub type PrmRecord = Map<String, Value>;

/// `{"id": .., "type": ..}` — a JSON:API resource identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRef {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `{"data": {"id": .., "type": ..}}` — a to-one JSON:API relationship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToOne {
    pub data: ResourceRef,
}

impl ToOne {
    pub fn new(id: &str, kind: &str) -> Self {
        ToOne {
            data: ResourceRef {
                id: id.to_string(),
                kind: kind.to_string(),
            },
        }
    }
}

/// `GET /v2/people` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub attributes: PersonAttributes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonAttributes {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub created_at: String,
    pub updated_at: String,
    pub last_active_at: Option<String>,
    /// `null` = active.
    pub deactivated_at: Option<String>,
}

/// `GET /v2/groups` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub attributes: GroupAttributes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupAttributes {
    pub name: String,
    pub description: Option<String>,
    pub user_count: u32,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /v2/groups/{id}/memberships` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub attributes: MembershipAttributes,
    pub relationships: MembershipRelationships,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembershipAttributes {
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembershipRelationships {
    pub person: ToOne,
    pub group: ToOne,
}

/// `GET /v2/courses` item. Older records carry `title` instead of `name`:
/// exactly one of the two is present in the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Course {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub attributes: CourseAttributes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseAttributes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub status: String,
    pub permalink: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Course {
    /// The display name whichever attribute carries it.
    pub fn display_name(&self) -> &str {
        self.attributes
            .name
            .as_deref()
            .or(self.attributes.title.as_deref())
            .unwrap_or("")
    }
}

/// `GET /v2/properties/courses` item. The id is the course id (one properties
/// record per course); `relationships.course` repeats it so a client can use
/// either. `properties` is free-form: `npcu` may be a number, a string, "",
/// absent, invalid or out of range; `category` is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CourseProperties {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub attributes: PropertiesAttributes,
    pub relationships: PropertiesRelationships,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertiesAttributes {
    pub properties: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertiesRelationships {
    pub course: ToOne,
}

/// `GET /v2/transcripts/{person_id}` item (one enrollment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub attributes: TranscriptAttributes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptAttributes {
    pub resource_id: String,
    /// `course`, or `learning_path` / `event` which the portal ignores.
    pub resource_type: String,
    pub name: String,
    /// `enrolled`, `in_progress`, `completed`.
    pub progress_status: String,
    pub enrolled_at: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub expires_at: Option<String>,
    pub score: Option<u32>,
}
