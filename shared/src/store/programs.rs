//! Certification programs in the table (issue 16): definitions
//! (`CERTDEF#<id>`), manual statuses (`MSTATUS#<user>` / `CERT#<cert>`,
//! history inside the item) and recertification enrolments
//! (`RECERT#<user>#<cert>` / `EXP#<expiry>`). All three are in the type
//! index, so the recompute loads each kind with one Query.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{self, entity};
use super::{Keys, Result, Store, StoreError, StoreItem};
use crate::model::{CertDefinition, CertStatus, ManualStatus, StatusChange};
use crate::rules::programs::Programs;

/// Changes of one manual status kept in its item, at most (the oldest go
/// first; far below DynamoDB's 400 KB with 500-character notes).
pub const MAX_HISTORY: usize = 100;

pub fn definition_item(d: &CertDefinition) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(keys::certdef_pk(&d.id), keys::PROFILE, entity::CERTDEF).typed(d.id.clone()),
        d,
    )
}

pub fn manual_status_item(m: &ManualStatus) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(
            keys::mstatus_pk(&m.user_id),
            keys::mstatus_sk(&m.certification),
            entity::MSTATUS,
        )
        .typed(format!("{}#{}", m.user_id, m.certification)),
        m,
    )
}

/// One recertification enrolment: made once per (person, certification,
/// expiry). `enrolled_at: None` with an `error` is an attempt that failed
/// (retried by the next run).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct RecertEnrolment {
    pub user_id: String,
    pub email: String,
    pub partner_id: String,
    pub certification: String,
    pub certification_name: String,
    pub recert_course_id: String,
    /// The expiry the enrolment was made for.
    pub expires_at: Option<DateTime<Utc>>,
    /// The day it became due (`expires_at - recert_days_before`).
    pub due_on: Option<DateTime<Utc>>,
    pub enrolled_at: Option<DateTime<Utc>>,
    /// Set with `enrolled_at`: the condition of
    /// [`Store::record_recert_enrolment`] (a boolean compares the same in
    /// every DynamoDB implementation, a null does not).
    pub done: bool,
    pub attempts: u32,
    pub error: Option<String>,
}

pub fn recert_item(r: &RecertEnrolment) -> Result<StoreItem> {
    let exp = r.expires_at.unwrap_or(DateTime::<Utc>::MIN_UTC);
    StoreItem::new(
        Keys::new(
            keys::recert_pk(&r.user_id, &r.certification),
            keys::recert_sk(exp),
            entity::RECERT,
        )
        .typed(format!(
            "{}#{}#{}",
            r.user_id,
            r.certification,
            keys::ts(exp)
        )),
        r,
    )
}

impl Store {
    pub async fn all_definitions(&self) -> Result<Vec<CertDefinition>> {
        self.query_type_as(entity::CERTDEF).await
    }

    pub async fn get_definition(&self, id: &str) -> Result<Option<CertDefinition>> {
        self.get_as(&keys::certdef_pk(id), keys::PROFILE).await
    }

    pub async fn put_definition(&self, d: &CertDefinition) -> Result<()> {
        self.put(definition_item(d)?).await
    }

    /// `true` when it existed.
    pub async fn delete_definition(&self, id: &str) -> Result<bool> {
        self.delete(&keys::certdef_pk(id), keys::PROFILE).await
    }

    /// Every manual status, cleared ones included (they keep the history).
    pub async fn all_manual_statuses(&self) -> Result<Vec<ManualStatus>> {
        self.query_type_as(entity::MSTATUS).await
    }

    pub async fn get_manual_status(
        &self,
        user_id: &str,
        certification: &str,
    ) -> Result<Option<ManualStatus>> {
        self.get_as(&keys::mstatus_pk(user_id), &keys::mstatus_sk(certification))
            .await
    }

    /// Sets (or, with `status: None`, clears) the manual status of a
    /// person's certification, appending the change to its history. Two
    /// admins changing the same status at once: the item is written only if
    /// it is still the version read (the loser retries, so no change of
    /// the history is lost).
    pub async fn set_manual_status(
        &self,
        user_id: &str,
        certification: &str,
        change: StatusChange,
    ) -> Result<ManualStatus> {
        for _ in 0..5 {
            let old = self.get_manual_status(user_id, certification).await?;
            let seen = old.as_ref().map(|o| o.version);
            let mut m = old.unwrap_or_else(|| ManualStatus {
                user_id: user_id.to_string(),
                certification: certification.to_string(),
                ..Default::default()
            });
            m.status = change.status;
            m.note = change.note.clone();
            m.set_by = change.by.clone();
            m.set_at = change.at;
            m.version += 1;
            m.history.push(change.clone());
            if m.history.len() > MAX_HISTORY {
                let extra = m.history.len() - MAX_HISTORY;
                m.history.drain(..extra);
            }
            let item = manual_status_item(&m)?;
            let res = match seen {
                None => self.put_new(item).await,
                Some(v) => {
                    self.put_conditional(
                        item,
                        "#v = :v",
                        &[("#v", "version")],
                        &[(":v", AttributeValue::N(v.to_string()))],
                    )
                    .await
                }
            };
            match res {
                Ok(()) => return Ok(m),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Malformed(format!(
            "manual status of {user_id} / {certification}: too many concurrent changes"
        )))
    }

    /// Definitions and manual statuses, for the recompute (two Queries).
    pub async fn load_programs(&self) -> Result<Programs> {
        let (definitions, statuses) =
            futures::try_join!(self.all_definitions(), self.all_manual_statuses())?;
        Ok(Programs {
            definitions,
            statuses: statuses
                .into_iter()
                .filter(|m: &ManualStatus| m.status.is_some())
                .collect(),
        })
    }

    pub async fn all_recert_enrolments(&self) -> Result<Vec<RecertEnrolment>> {
        self.query_type_as(entity::RECERT).await
    }

    pub async fn get_recert_enrolment(
        &self,
        user_id: &str,
        certification: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<RecertEnrolment>> {
        self.get_as(
            &keys::recert_pk(user_id, certification),
            &keys::recert_sk(expires_at),
        )
        .await
    }

    /// Every enrolment of one person's certification, one per expiry it was
    /// made for (one Query on their partition).
    pub async fn recert_enrolments_of(
        &self,
        user_id: &str,
        certification: &str,
    ) -> Result<Vec<RecertEnrolment>> {
        let items = self
            .query(&super::QuerySpec::partition(keys::recert_pk(
                user_id,
                certification,
            )))
            .await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    pub async fn put_recert_enrolment(&self, r: &RecertEnrolment) -> Result<()> {
        self.put(recert_item(r)?).await
    }

    /// Writes an enrolment (or a failed attempt) unless one that is done is
    /// stored for the same (person, certification, expiry): `Ok(false)`
    /// then, and nothing changes. So a done enrolment is never overwritten,
    /// whatever runs race.
    pub async fn record_recert_enrolment(&self, r: &RecertEnrolment) -> Result<bool> {
        let written = self
            .put_conditional(
                recert_item(r)?,
                "attribute_not_exists(#pk) OR #done = :f",
                &[("#pk", super::schema::PK), ("#done", "done")],
                &[(":f", AttributeValue::Bool(false))],
            )
            .await;
        match written {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Whether `s` may be set by hand (see [`CertStatus::MANUAL`]).
pub fn settable(s: CertStatus) -> bool {
    CertStatus::MANUAL.contains(&s)
}
