//! [`PartnerInputs`] over the table: every read keyed (a partition Query or
//! a BatchGetItem), reference data memoised for the life of the value, so
//! a run that recomputes many partners reads courses, awards and programs
//! once.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use tokio::sync::OnceCell;

use super::inputs::{Changes, PartnerInputs, Person, Result, Stored};
use super::LOOKUPS_AT_ONCE;
use crate::model::{Contact, Course, LmsGroup, ManualAward, Membership};
use crate::rules::programs::Programs;
use crate::store::entities::{cert_row_item, summary_item};
use crate::store::keys::{self, entity};
use crate::store::{s_attr, schema, Item, ItemKey, Store, StoreError};

/// The recompute's reads and writes on `store`. Make one per run (or per
/// admin request): the memoised reference data is as old as the value.
pub struct StoreInputs<'a> {
    store: &'a Store,
    atomic: bool,
    courses: Mutex<HashMap<String, Option<Course>>>,
    awards: OnceCell<Vec<ManualAward>>,
    programs: OnceCell<Programs>,
}

impl<'a> StoreInputs<'a> {
    pub fn new(store: &'a Store) -> Self {
        StoreInputs {
            store,
            atomic: false,
            courses: Mutex::new(HashMap::new()),
            awards: OnceCell::new(),
            programs: OnceCell::new(),
        }
    }

    /// Rows and summary of a partner land in one transaction when they fit
    /// (an admin's change is seen whole or not at all). Without it (the
    /// sync, which recomputes many partners) rows are written first and the
    /// summary last: half the write cost of a transaction, and a failure
    /// still never shows a new summary over old rows.
    pub fn atomic(mut self) -> Self {
        self.atomic = true;
        self
    }

    /// One user's partition: profile and enrollments (its other items —
    /// fetch marker, group memberships — are skipped).
    async fn person(&self, id: &str) -> Result<Option<Person>> {
        let items = self.store.query_partition(&keys::user_pk(id)).await?;
        let mut user = None;
        let mut enrollments = Vec::new();
        for item in items {
            match s_attr(&item, schema::ENTITY).unwrap_or("") {
                entity::USER => {
                    user = Some(serde_dynamo::from_item(item).map_err(StoreError::from)?)
                }
                entity::ENROLLMENT => {
                    enrollments.push(serde_dynamo::from_item(item).map_err(StoreError::from)?)
                }
                _ => {}
            }
        }
        Ok(user.map(|user| Person { user, enrollments }))
    }
}

/// (user, course) of a `CERT#<user>#<course>` sort key.
fn row_key(sk: &str) -> Option<(String, String)> {
    let (user, course) = sk.strip_prefix("CERT#")?.split_once('#')?;
    Some((user.to_string(), course.to_string()))
}

fn file(stored: &mut Stored, item: Item) -> Result<()> {
    match s_attr(&item, schema::ENTITY).unwrap_or("") {
        entity::PARTNER => {
            stored.profile = Some(serde_dynamo::from_item(item).map_err(StoreError::from)?)
        }
        entity::SUMMARY => {
            stored.summary = Some(serde_dynamo::from_item(item).map_err(StoreError::from)?)
        }
        entity::ORGCERT => stored
            .org_certs
            .push(serde_dynamo::from_item(item).map_err(StoreError::from)?),
        entity::CERT => {
            let Some(key) = s_attr(&item, schema::SK).ok().and_then(row_key) else {
                return Ok(());
            };
            // A row this version cannot read is replaced or removed, not
            // an error that stops the partner.
            stored.rows.insert(key, serde_dynamo::from_item(item).ok());
        }
        _ => {}
    }
    Ok(())
}

impl PartnerInputs for StoreInputs<'_> {
    async fn stored(&self, partner_id: &str) -> Result<Stored> {
        let mut stored = Stored::default();
        for item in self
            .store
            .query_partition(&keys::partner_pk(partner_id))
            .await?
        {
            file(&mut stored, item)?;
        }
        Ok(stored)
    }

    async fn group(&self, group_id: &str) -> Result<Option<LmsGroup>> {
        Ok(self
            .store
            .get_as(&keys::group_pk(group_id), keys::PROFILE)
            .await?)
    }

    async fn members(&self, group_id: &str) -> Result<Vec<Membership>> {
        Ok(self.store.group_members(group_id).await?)
    }

    async fn contacts(&self, partner_id: &str) -> Result<Vec<Contact>> {
        Ok(self.store.partner_contacts(partner_id).await?)
    }

    async fn users_with_email(&self, email: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .lookup_email(email)
            .await?
            .into_iter()
            .filter_map(|l| l.user_id)
            .collect())
    }

    async fn people(&self, ids: &[String]) -> Result<Vec<Person>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOOKUPS_AT_ONCE) {
            let reads: Vec<_> = chunk.iter().map(|id| self.person(id)).collect();
            out.extend(
                futures::future::try_join_all(reads)
                    .await?
                    .into_iter()
                    .flatten(),
            );
        }
        Ok(out)
    }

    async fn courses(&self, ids: &BTreeSet<String>) -> Result<Vec<Course>> {
        let missing: Vec<ItemKey> = {
            let known = self.courses.lock().unwrap_or_else(|e| e.into_inner());
            ids.iter()
                .filter(|id| !known.contains_key(*id))
                .map(|id| ItemKey::new(keys::course_pk(id), keys::PROFILE))
                .collect()
        };
        let got: HashMap<ItemKey, Course> = if missing.is_empty() {
            HashMap::new()
        } else {
            self.store.get_items_as::<Course>(&missing).await?
        };
        let mut known = self.courses.lock().unwrap_or_else(|e| e.into_inner());
        for k in &missing {
            let id = k.pk.strip_prefix("COURSE#").unwrap_or(&k.pk).to_string();
            known.insert(id, got.get(k).cloned());
        }
        Ok(ids
            .iter()
            .filter_map(|id| known.get(id).cloned().flatten())
            .collect())
    }

    async fn awards(&self) -> Result<Vec<ManualAward>> {
        // Awards are recorded by hand, a few per partner at most: one read
        // of their type serves every partner of the run.
        Ok(self
            .awards
            .get_or_try_init(|| self.store.all_awards())
            .await?
            .clone())
    }

    async fn programs(&self) -> Result<Programs> {
        Ok(self
            .programs
            .get_or_try_init(|| self.store.load_programs())
            .await?
            .clone())
    }

    async fn write(&self, partner_id: &str, changes: Changes) -> Result<()> {
        let Changes {
            put_rows,
            delete_rows,
            summary,
        } = changes;
        let puts = put_rows
            .iter()
            .map(|r| cert_row_item(partner_id, r))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let deletes = delete_rows
            .iter()
            .map(|(u, c)| ItemKey::new(keys::partner_pk(partner_id), keys::cert_sk(u, c)))
            .collect();
        let last = summary.as_ref().map(summary_item).transpose()?;
        // Rows and summary in one transaction when asked and they fit; else
        // rows first and the summary last (store/transact.rs).
        self.store
            .write_together(puts, deletes, last, self.atomic)
            .await?;
        Ok(())
    }
}
