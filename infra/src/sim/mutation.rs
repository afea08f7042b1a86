//! Changes between syncs, as users of the real systems make them. Every
//! mutation stamps what it changed with the simulator clock
//! (`updated_at` on Northpass, `Updated` on Impartner), like the real
//! systems do, so incremental syncs see it.

use chrono::{DateTime, Months, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::world::World;
use super::SimError;
use crate::datagen::{
    dates, Group, GroupAttributes, Membership, MembershipAttributes, MembershipRelationships,
    Person, PersonAttributes, PrmRecord, ToOne, Transcript, TranscriptAttributes,
};

/// Validity the LMS applies when it stamps `expires_at` on a completion made
/// through the simulator (matches the portal's default).
const VALIDITY_MONTHS: u32 = 24;

/// One change. On the control endpoint: `{"type": "complete_course", ...}`.
/// Impartner ids are integers (`account_id`, `user_id`), Northpass ids strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Mutation {
    /// Completes the person's record of the course (creating it if missing);
    /// `expires_at` = completion + 24 months. `at` defaults to the clock.
    CompleteCourse {
        person_id: String,
        course_id: String,
        #[serde(default)]
        at: Option<DateTime<Utc>>,
    },
    /// Retake of a completed course: the same record gets a new completion
    /// and expiry (one record per person × course, as in Northpass).
    RenewCourse {
        person_id: String,
        course_id: String,
        #[serde(default)]
        at: Option<DateTime<Utc>>,
    },
    /// New `enrolled` record; conflict if the person already has one.
    Enrol {
        person_id: String,
        course_id: String,
        #[serde(default)]
        at: Option<DateTime<Utc>>,
    },
    /// New LMS person, optionally placed in a group. Outcome id = person id.
    AddPerson {
        email: String,
        first_name: String,
        last_name: String,
        #[serde(default)]
        group_id: Option<String>,
    },
    /// New group (not a partner's) with these courses assigned: adding a
    /// person to it enrols them in each (the LMS's enrolment route, see
    /// `add_member`). Outcome id = the group id.
    AddGroup {
        name: String,
        #[serde(default)]
        course_ids: Vec<String>,
    },
    AddMember {
        group_id: String,
        person_id: String,
    },
    RemoveMember {
        group_id: String,
        person_id: String,
    },
    MoveUser {
        person_id: String,
        from_group: String,
        to_group: String,
    },
    DeactivatePerson {
        person_id: String,
    },
    ReactivatePerson {
        person_id: String,
    },
    ChangeEmail {
        person_id: String,
        email: String,
    },
    RenameGroup {
        group_id: String,
        name: String,
    },
    /// The course leaves the catalog and the properties list; transcripts
    /// keep pointing at it.
    DeleteCourse {
        course_id: String,
    },
    /// Set (or with `null`, remove) `properties.npcu`; any JSON value.
    SetNpcu {
        course_id: String,
        npcu: Value,
    },
    /// `None` = blank tier.
    SetTier {
        account_id: i64,
        tier: Option<String>,
    },
    SetOwner {
        account_id: i64,
        name: String,
        email: String,
    },
    /// `Active` / `Inactive`.
    SetAccountStatus {
        account_id: i64,
        status: String,
    },
    /// Gone from `GET Account` (its contacts stay, like a CRM hard delete
    /// that leaves orphaned contact rows).
    DeleteAccount {
        account_id: i64,
    },
    /// Bring a deleted account back (Updated bumped).
    RestoreAccount {
        account_id: i64,
    },
    /// New contact of an account. Outcome id = the new `User.Id`.
    AddContact {
        account_id: i64,
        email: String,
        first_name: String,
        last_name: String,
    },
    SetContactActive {
        user_id: i64,
        active: bool,
    },
    DeleteContact {
        user_id: i64,
    },
}

/// What a mutation did: the id it created (if any) and its timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutationOutcome {
    pub id: Option<String>,
    pub at: DateTime<Utc>,
}

fn not_found(kind: &'static str, id: impl ToString) -> SimError {
    SimError::NotFound {
        kind,
        id: id.to_string(),
    }
}

pub(crate) fn apply(w: &mut World, m: Mutation) -> Result<MutationOutcome, SimError> {
    let now = w.now();
    let stamp = dates::fmt_z(now);
    let mut created: Option<String> = None;
    match m {
        Mutation::CompleteCourse {
            person_id,
            course_id,
            at,
        } => {
            let at = at.unwrap_or(now);
            let rec = transcript_entry(w, &person_id, &course_id, &stamp, true)?;
            complete(rec, at);
            touch_person_activity(w, &person_id, &stamp)?;
        }
        Mutation::RenewCourse {
            person_id,
            course_id,
            at,
        } => {
            let at = at.unwrap_or(now);
            let rec = transcript_entry(w, &person_id, &course_id, &stamp, false)?;
            if rec.attributes.progress_status != "completed" {
                return Err(SimError::Conflict(format!(
                    "{person_id} has not completed {course_id}"
                )));
            }
            complete(rec, at);
            touch_person_activity(w, &person_id, &stamp)?;
        }
        Mutation::Enrol {
            person_id,
            course_id,
            at,
        } => {
            let at = dates::fmt_z(at.unwrap_or(now));
            if find_transcript(w, &person_id, &course_id)?.is_some() {
                return Err(SimError::Conflict(format!(
                    "{person_id} already has a record of {course_id}"
                )));
            }
            let rec = transcript_entry(w, &person_id, &course_id, &stamp, true)?;
            rec.attributes.enrolled_at = Some(at);
            touch_person_activity(w, &person_id, &stamp)?;
        }
        Mutation::AddPerson {
            email,
            first_name,
            last_name,
            group_id,
        } => {
            if let Some(g) = &group_id {
                group_index(w, g)?;
            }
            let id = new_uuid(w);
            w.data.people.push(Person {
                id: id.clone(),
                kind: "people".into(),
                attributes: PersonAttributes {
                    email,
                    first_name,
                    last_name,
                    created_at: stamp.clone(),
                    updated_at: stamp.clone(),
                    last_active_at: None,
                    deactivated_at: None,
                },
            });
            w.data.transcripts.insert(id.clone(), Vec::new());
            if let Some(g) = group_id {
                add_member(w, &g, &id, &stamp)?;
            }
            created = Some(id);
        }
        Mutation::AddGroup { name, course_ids } => {
            for c in &course_ids {
                if !w.data.courses.iter().any(|x| &x.id == c) {
                    return Err(not_found("course", c));
                }
            }
            let id = new_uuid(w);
            w.data.groups.push(Group {
                id: id.clone(),
                kind: "groups".into(),
                attributes: GroupAttributes {
                    name,
                    description: None,
                    user_count: 0,
                    created_at: stamp.clone(),
                    updated_at: stamp.clone(),
                },
            });
            w.group_courses.insert(id.clone(), course_ids);
            created = Some(id);
        }
        Mutation::AddMember {
            group_id,
            person_id,
        } => {
            created = Some(add_member(w, &group_id, &person_id, &stamp)?);
        }
        Mutation::RemoveMember {
            group_id,
            person_id,
        } => remove_member(w, &group_id, &person_id, &stamp)?,
        Mutation::MoveUser {
            person_id,
            from_group,
            to_group,
        } => {
            group_index(w, &to_group)?;
            remove_member(w, &from_group, &person_id, &stamp)?;
            created = Some(add_member(w, &to_group, &person_id, &stamp)?);
        }
        Mutation::DeactivatePerson { person_id } => {
            let p = person_mut(w, &person_id)?;
            p.attributes.deactivated_at = Some(stamp.clone());
            p.attributes.updated_at = stamp.clone();
        }
        Mutation::ReactivatePerson { person_id } => {
            let p = person_mut(w, &person_id)?;
            p.attributes.deactivated_at = None;
            p.attributes.updated_at = stamp.clone();
        }
        Mutation::ChangeEmail { person_id, email } => {
            let p = person_mut(w, &person_id)?;
            p.attributes.email = email;
            p.attributes.updated_at = stamp.clone();
        }
        Mutation::RenameGroup { group_id, name } => {
            let i = group_index(w, &group_id)?;
            let g = &mut w.data.groups[i].attributes;
            g.name = name;
            g.updated_at = stamp.clone();
        }
        Mutation::DeleteCourse { course_id } => {
            let before = w.data.courses.len();
            w.data.courses.retain(|c| c.id != course_id);
            if w.data.courses.len() == before {
                return Err(not_found("course", course_id));
            }
            w.data.properties.retain(|p| p.id != course_id);
        }
        Mutation::SetNpcu { course_id, npcu } => {
            let props = w
                .data
                .properties
                .iter_mut()
                .find(|p| p.id == course_id)
                .ok_or_else(|| not_found("course", &course_id))?;
            if npcu.is_null() {
                props.attributes.properties.remove("npcu");
            } else {
                props.attributes.properties.insert("npcu".into(), npcu);
            }
            // Property edits bump the course, which is what the catalog
            // filter can see.
            if let Some(c) = w.data.courses.iter_mut().find(|c| c.id == course_id) {
                c.attributes.updated_at = stamp.clone();
            }
        }
        Mutation::SetTier { account_id, tier } => {
            let a = account_mut(w, account_id)?;
            a.insert(
                "Partner_Tier__cf".into(),
                tier.map(Value::String).unwrap_or(Value::Null),
            );
            a.insert("Updated".into(), json!(stamp));
        }
        Mutation::SetOwner {
            account_id,
            name,
            email,
        } => {
            let a = account_mut(w, account_id)?;
            a.insert("Account_Owner__cf".into(), json!(name));
            a.insert("Account_Owner_Email__cf".into(), json!(email));
            a.insert("Updated".into(), json!(stamp));
        }
        Mutation::SetAccountStatus { account_id, status } => {
            let a = account_mut(w, account_id)?;
            a.insert("Account_Status__cf".into(), json!(status));
            a.insert("Updated".into(), json!(stamp));
        }
        Mutation::DeleteAccount { account_id } => {
            let i = w
                .data
                .accounts
                .iter()
                .position(|a| record_id(a) == Some(account_id))
                .ok_or_else(|| not_found("account", account_id))?;
            let rec = w.data.accounts.remove(i);
            w.deleted_accounts.push(rec);
        }
        Mutation::RestoreAccount { account_id } => {
            let i = w
                .deleted_accounts
                .iter()
                .position(|a| record_id(a) == Some(account_id))
                .ok_or_else(|| not_found("deleted account", account_id))?;
            let mut rec = w.deleted_accounts.remove(i);
            rec.insert("Updated".into(), json!(stamp));
            let pos = w
                .data
                .accounts
                .partition_point(|a| record_id(a).unwrap_or(0) < account_id);
            w.data.accounts.insert(pos, rec);
        }
        Mutation::AddContact {
            account_id,
            email,
            first_name,
            last_name,
        } => {
            let name = account_mut(w, account_id)?
                .get("Name")
                .cloned()
                .unwrap_or(Value::Null);
            let id = w.data.users.iter().filter_map(record_id).max().unwrap_or(0) + 1;
            let mut rec = PrmRecord::new();
            rec.insert("AccountId".into(), json!(account_id));
            rec.insert("AccountName".into(), name);
            rec.insert("Email".into(), json!(email));
            rec.insert("FirstName".into(), json!(first_name));
            rec.insert("Id".into(), json!(id));
            rec.insert("IsActive".into(), json!(true));
            rec.insert("LastName".into(), json!(last_name));
            rec.insert("Phone".into(), Value::Null);
            rec.insert("Title".into(), Value::Null);
            rec.insert("Updated".into(), json!(stamp));
            w.data.users.push(rec);
            created = Some(id.to_string());
        }
        Mutation::SetContactActive { user_id, active } => {
            let u = user_mut(w, user_id)?;
            u.insert("IsActive".into(), json!(active));
            u.insert("Updated".into(), json!(stamp));
        }
        Mutation::DeleteContact { user_id } => {
            let before = w.data.users.len();
            w.data.users.retain(|u| record_id(u) != Some(user_id));
            if w.data.users.len() == before {
                return Err(not_found("user", user_id));
            }
        }
    }
    Ok(MutationOutcome {
        id: created,
        at: now,
    })
}

/// `Id` of an Impartner record (served as a number).
pub(crate) fn record_id(r: &PrmRecord) -> Option<i64> {
    r.get("Id").and_then(Value::as_i64)
}

fn account_mut(w: &mut World, id: i64) -> Result<&mut PrmRecord, SimError> {
    w.data
        .accounts
        .iter_mut()
        .find(|a| record_id(a) == Some(id))
        .ok_or_else(|| not_found("account", id))
}

fn user_mut(w: &mut World, id: i64) -> Result<&mut PrmRecord, SimError> {
    w.data
        .users
        .iter_mut()
        .find(|a| record_id(a) == Some(id))
        .ok_or_else(|| not_found("user", id))
}

fn person_mut<'a>(w: &'a mut World, id: &str) -> Result<&'a mut Person, SimError> {
    w.data
        .people
        .iter_mut()
        .find(|p| p.id == id)
        .ok_or_else(|| not_found("person", id))
}

fn group_index(w: &World, id: &str) -> Result<usize, SimError> {
    w.data
        .groups
        .iter()
        .position(|g| g.id == id)
        .ok_or_else(|| not_found("group", id))
}

/// Course activity shows on the person: `last_active_at` and `updated_at`
/// move, which is how an incremental enrollment sync learns whose
/// transcript to fetch again.
fn touch_person_activity(w: &mut World, person_id: &str, stamp: &str) -> Result<(), SimError> {
    let p = person_mut(w, person_id)?;
    p.attributes.last_active_at = Some(stamp.to_string());
    p.attributes.updated_at = stamp.to_string();
    Ok(())
}

fn find_transcript<'a>(
    w: &'a World,
    person_id: &str,
    course_id: &str,
) -> Result<Option<&'a Transcript>, SimError> {
    let list = w
        .data
        .transcripts
        .get(person_id)
        .ok_or_else(|| not_found("person", person_id))?;
    Ok(list
        .iter()
        .find(|t| t.attributes.resource_id == course_id && t.attributes.resource_type == "course"))
}

/// The person's record of a course, created as `enrolled` when `create`.
fn transcript_entry<'a>(
    w: &'a mut World,
    person_id: &str,
    course_id: &str,
    stamp: &str,
    create: bool,
) -> Result<&'a mut Transcript, SimError> {
    let name = w
        .data
        .courses
        .iter()
        .find(|c| c.id == course_id)
        .map(|c| c.display_name().to_string())
        .ok_or_else(|| not_found("course", course_id))?;
    let exists = find_transcript(w, person_id, course_id)?.is_some();
    if !exists && !create {
        return Err(not_found("transcript", format!("{person_id}/{course_id}")));
    }
    if !exists {
        let id = new_uuid(w);
        let list = w.data.transcripts.get_mut(person_id).expect("checked");
        list.push(Transcript {
            id,
            kind: "transcript_items".into(),
            attributes: TranscriptAttributes {
                resource_id: course_id.to_string(),
                resource_type: "course".into(),
                name,
                progress_status: "enrolled".into(),
                enrolled_at: Some(stamp.to_string()),
                started_at: None,
                completed_at: None,
                expires_at: None,
                score: None,
            },
        });
    }
    let list = w.data.transcripts.get_mut(person_id).expect("checked");
    Ok(list
        .iter_mut()
        .find(|t| t.attributes.resource_id == course_id && t.attributes.resource_type == "course")
        .expect("exists"))
}

fn complete(rec: &mut Transcript, at: DateTime<Utc>) {
    let a = &mut rec.attributes;
    a.progress_status = "completed".into();
    if a.started_at.is_none() {
        a.started_at = Some(dates::fmt_z(at));
    }
    a.completed_at = Some(dates::fmt_z(at));
    a.expires_at = at
        .checked_add_months(Months::new(VALIDITY_MONTHS))
        .map(dates::fmt_z);
    a.score = Some(a.score.unwrap_or(90));
}

/// Adds a membership (conflict if already a member); bumps the group
/// (`user_count` changed) and the person.
pub(crate) fn add_member(
    w: &mut World,
    group_id: &str,
    person_id: &str,
    stamp: &str,
) -> Result<String, SimError> {
    let gi = group_index(w, group_id)?;
    person_mut(w, person_id)?;
    let list = w.data.memberships.entry(group_id.to_string()).or_default();
    if list
        .iter()
        .any(|m| m.relationships.person.data.id == person_id)
    {
        return Err(SimError::Conflict(format!(
            "{person_id} is already a member of {group_id}"
        )));
    }
    let id = new_uuid(w);
    let list = w.data.memberships.entry(group_id.to_string()).or_default();
    list.push(Membership {
        id: id.clone(),
        kind: "memberships".into(),
        attributes: MembershipAttributes {
            created_at: stamp.to_string(),
        },
        relationships: MembershipRelationships {
            person: ToOne::new(person_id, "people"),
            group: ToOne::new(group_id, "groups"),
        },
    });
    let count = list.len() as u32;
    let g = &mut w.data.groups[gi].attributes;
    g.user_count = count;
    g.updated_at = stamp.to_string();
    person_mut(w, person_id)?.attributes.updated_at = stamp.to_string();
    enrol_in_group_courses(w, group_id, person_id, stamp)?;
    Ok(id)
}

/// Joining a group enrols the person in the group's assigned courses: each
/// gets an `enrolled` record stamped now. A record they had of the course
/// starts over (enrolling resets progress, as the LMS does), which is why
/// the portal enrols once per expiry.
fn enrol_in_group_courses(
    w: &mut World,
    group_id: &str,
    person_id: &str,
    stamp: &str,
) -> Result<(), SimError> {
    let courses = w.group_courses.get(group_id).cloned().unwrap_or_default();
    for c in &courses {
        let rec = transcript_entry(w, person_id, c, stamp, true)?;
        let a = &mut rec.attributes;
        a.progress_status = "enrolled".into();
        a.enrolled_at = Some(stamp.to_string());
        a.started_at = None;
        a.completed_at = None;
        a.expires_at = None;
        a.score = None;
    }
    Ok(())
}

pub(crate) fn remove_member(
    w: &mut World,
    group_id: &str,
    person_id: &str,
    stamp: &str,
) -> Result<(), SimError> {
    let gi = group_index(w, group_id)?;
    let list = w.data.memberships.entry(group_id.to_string()).or_default();
    let before = list.len();
    list.retain(|m| m.relationships.person.data.id != person_id);
    if list.len() == before {
        return Err(not_found("membership", format!("{group_id}/{person_id}")));
    }
    let count = list.len() as u32;
    let g = &mut w.data.groups[gi].attributes;
    g.user_count = count;
    g.updated_at = stamp.to_string();
    if let Ok(p) = person_mut(w, person_id) {
        p.attributes.updated_at = stamp.to_string();
    }
    Ok(())
}

/// A UUID-shaped id (Northpass ids are UUIDs), from the world's seeded RNG.
pub(crate) fn new_uuid(w: &mut World) -> String {
    crate::datagen::uuid_from(w.id_rng.random::<u128>())
}
