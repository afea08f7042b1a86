//! Typed helpers for the model: how each entity is keyed (see the layout in
//! [`super::keys`]) and the reads the reports, sync and reminders need.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::batch::hashes_of;
use super::keys::{self, entity};
use super::{
    s_attr, schema, Item, ItemKey, Keys, QuerySpec, Result, SkCondition, Store, StoreError,
    StoreItem, WriteStats,
};
use crate::model::{
    CertRow, Contact, Course, Enrollment, LmsGroup, LmsUser, ManualAward, Membership,
    OrgCertification, Partner, PartnerSummary, ProgressStatus,
};

/// E-mail → LMS user / CRM contact link (`EMAIL#<email>` partition).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(default)]
pub struct EmailLink {
    pub email: String,
    pub user_id: Option<String>,
    pub contact_id: Option<String>,
}

/// Everything of one partner's dashboard, read with ONE Query on
/// `PARTNER#<id>` (more requests only if the partition passes 1 MB) — or,
/// paged ([`Store::partner_dashboard_page`]), with a page of its rows.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PartnerDashboard {
    pub profile: Option<Partner>,
    pub summary: Option<PartnerSummary>,
    pub certs: Vec<CertRow>,
    pub org_certs: Vec<OrgCertification>,
    /// Paged reads: the cursor of the next page of rows, `None` on the last.
    pub next_cursor: Option<String>,
}

/// Items of a partner partition that sort after its CERT rows (descending,
/// they come first): summary, profile and — at most this many are expected
/// on a first page — organisation certifications.
const HEAD_ITEMS: usize = 2 + 20;

impl PartnerDashboard {
    /// Files one item of the partner's partition.
    fn take(&mut self, item: Item) -> Result<()> {
        match entity_of(&item) {
            entity::PARTNER => self.profile = Some(serde_dynamo::from_item(item)?),
            entity::SUMMARY => self.summary = Some(serde_dynamo::from_item(item)?),
            entity::CERT => self.certs.push(serde_dynamo::from_item(item)?),
            entity::ORGCERT => self.org_certs.push(serde_dynamo::from_item(item)?),
            // Unknown kinds (written by a newer version) are ignored so an
            // old reader keeps working during a deploy.
            _ => {}
        }
        Ok(())
    }
}

/// A certification row with its partner (taken from the row's `PK`, as
/// `CertRow` does not carry it). Returned by the expiry index and by
/// [`Store::all_cert_rows`].
#[derive(Clone, Debug, PartialEq)]
pub struct PartnerCertRow {
    pub partner_id: String,
    pub row: CertRow,
}

/// Name used by the reminder code; same type.
pub type ExpiringCert = PartnerCertRow;

/// A CERT item as its partner's row (the partner id from its `PK`).
pub fn partner_cert_row(item: Item) -> Result<PartnerCertRow> {
    let pk = s_attr(&item, schema::PK)?;
    let partner_id = pk
        .strip_prefix("PARTNER#")
        .ok_or_else(|| StoreError::Malformed(format!("cert row outside a partner: {pk}")))?
        .to_string();
    Ok(PartnerCertRow {
        partner_id,
        row: serde_dynamo::from_item(item)?,
    })
}

pub fn partner_item(p: &Partner) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(keys::partner_pk(&p.id), keys::PROFILE, entity::PARTNER).typed(p.id.clone()),
        p,
    )
}

pub fn summary_item(s: &PartnerSummary) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(
            keys::partner_pk(&s.partner_id),
            keys::SUMMARY,
            entity::SUMMARY,
        )
        .typed(s.partner_id.clone()),
        s,
    )
}

/// A dashboard row. It is in the type index (`CERT` / `<partner>#<user>#<course>`)
/// for the cross-partner user-certifications report; completed rows with an
/// expiry also go into the expiry index (GSI2), which the reminder run
/// queries by date.
pub fn cert_row_item(partner_id: &str, row: &CertRow) -> Result<StoreItem> {
    let mut k = Keys::new(
        keys::partner_pk(partner_id),
        keys::cert_sk(&row.user_id, &row.course_id),
        entity::CERT,
    )
    .typed(format!("{partner_id}#{}#{}", row.user_id, row.course_id));
    // A row staff set a status on, or awaiting approval, does not count and
    // is not due a reminder: it stays out of the expiry index (issue 16).
    let held_back = row.status_override.is_some() || row.awaiting_approval;
    if let (ProgressStatus::Completed, Some(exp), false) = (row.progress, row.expires_at, held_back)
    {
        k = k.gsi2(
            keys::expiry_pk(exp),
            keys::expiry_sk(exp, &row.user_id, &row.course_id),
        );
    }
    StoreItem::new(k, row)
}

pub fn org_cert_item(c: &OrgCertification) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(
            keys::partner_pk(&c.partner_id),
            keys::orgcert_sk(&c.id),
            entity::ORGCERT,
        )
        .typed(c.id.clone()),
        c,
    )
}

/// The user's profile plus its e-mail lookup item. When a user's e-mail
/// changes, the caller deletes the old lookup (`EMAIL#<old>/USER#<id>`).
pub fn user_items(u: &LmsUser) -> Result<Vec<StoreItem>> {
    let mut out = vec![StoreItem::new(
        Keys::new(keys::user_pk(&u.id), keys::PROFILE, entity::USER).typed(u.id.clone()),
        u,
    )?];
    if !u.email.trim().is_empty() {
        out.push(StoreItem::new(
            Keys::new(
                keys::email_pk(&u.email),
                keys::email_user_sk(&u.id),
                entity::EMAIL,
            ),
            &EmailLink {
                email: keys::normalize_email(&u.email),
                user_id: Some(u.id.clone()),
                contact_id: None,
            },
        )?);
    }
    Ok(out)
}

pub fn enrollment_item(e: &Enrollment) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(
            keys::user_pk(&e.user_id),
            keys::enrollment_sk(&e.course_id),
            entity::ENROLLMENT,
        ),
        e,
    )
}

pub fn group_item(g: &LmsGroup) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(keys::group_pk(&g.id), keys::PROFILE, entity::GROUP).typed(g.id.clone()),
        g,
    )
}

pub fn membership_item(m: &Membership) -> Result<StoreItem> {
    // In the type index so the orphans report reads every membership in a
    // few pages instead of one Query per group. The index keys are part
    // of the content hash, so the next groups sync rewrites memberships
    // stored without them.
    StoreItem::new(
        Keys::new(
            keys::group_pk(&m.group_id),
            keys::member_sk(&m.user_id),
            entity::MEMBER,
        )
        .typed(format!("{}#{}", m.group_id, m.user_id)),
        m,
    )
}

/// The membership's copy in the user's partition (`USER#<user>` /
/// `MEMBEROF#<group>`): the groups of a changed user in one Query.
pub fn member_of_item(m: &Membership) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(
            keys::user_pk(&m.user_id),
            keys::member_of_sk(&m.group_id),
            entity::MEMBER_OF,
        ),
        m,
    )
}

/// Both items of a membership: in the group's partition and the user's.
pub fn membership_items(m: &Membership) -> Result<Vec<StoreItem>> {
    Ok(vec![membership_item(m)?, member_of_item(m)?])
}

/// Keys of both items of the membership of `user_id` in `group_id`.
pub fn membership_keys(group_id: &str, user_id: &str) -> [ItemKey; 2] {
    [
        ItemKey::new(keys::group_pk(group_id), keys::member_sk(user_id)),
        ItemKey::new(keys::user_pk(user_id), keys::member_of_sk(group_id)),
    ]
}

pub fn course_item(c: &Course) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(keys::course_pk(&c.id), keys::PROFILE, entity::COURSE).typed(c.id.clone()),
        c,
    )
}

/// The contact plus its e-mail lookup item (see [`user_items`]) and its
/// copy under its partner account ([`account_contact_key`]). When a
/// contact's e-mail or account changes, the caller deletes the old lookup
/// and the old copy.
pub fn contact_items(c: &Contact) -> Result<Vec<StoreItem>> {
    let mut out = vec![StoreItem::new(
        Keys::new(keys::contact_pk(&c.id), keys::PROFILE, entity::CONTACT).typed(c.id.clone()),
        c,
    )?];
    if let Some(account) = c.account_id.as_deref() {
        out.push(StoreItem::new(
            Keys::new(
                keys::account_pk(account),
                keys::account_contact_sk(&c.id),
                entity::ACCOUNT_CONTACT,
            ),
            c,
        )?);
    }
    if !c.email.trim().is_empty() {
        out.push(StoreItem::new(
            Keys::new(
                keys::email_pk(&c.email),
                keys::email_contact_sk(&c.id),
                entity::EMAIL,
            ),
            &EmailLink {
                email: keys::normalize_email(&c.email),
                user_id: None,
                contact_id: Some(c.id.clone()),
            },
        )?);
    }
    Ok(out)
}

/// Key of the copy of contact `contact_id` under partner `account_id`.
pub fn account_contact_key(account_id: &str, contact_id: &str) -> ItemKey {
    ItemKey::new(
        keys::account_pk(account_id),
        keys::account_contact_sk(contact_id),
    )
}

pub fn award_item(a: &ManualAward) -> Result<StoreItem> {
    StoreItem::new(
        Keys::new(keys::award_pk(&a.id), keys::PROFILE, entity::AWARD).typed(a.id.clone()),
        a,
    )
}

fn entity_of(item: &Item) -> &str {
    s_attr(item, schema::ENTITY).unwrap_or("")
}

impl Store {
    pub async fn get_partner(&self, id: &str) -> Result<Option<Partner>> {
        self.get_as(&keys::partner_pk(id), keys::PROFILE).await
    }

    pub async fn get_summary(&self, partner_id: &str) -> Result<Option<PartnerSummary>> {
        self.get_as(&keys::partner_pk(partner_id), keys::SUMMARY)
            .await
    }

    pub async fn get_user(&self, id: &str) -> Result<Option<LmsUser>> {
        self.get_as(&keys::user_pk(id), keys::PROFILE).await
    }

    pub async fn get_course(&self, id: &str) -> Result<Option<Course>> {
        self.get_as(&keys::course_pk(id), keys::PROFILE).await
    }

    pub async fn all_partners(&self) -> Result<Vec<Partner>> {
        self.query_type_as(entity::PARTNER).await
    }

    /// Every partner summary: one paginated Query on the type index (the
    /// all-partner reports never read enrollments).
    pub async fn all_summaries(&self) -> Result<Vec<PartnerSummary>> {
        self.query_type_as(entity::SUMMARY).await
    }

    pub async fn all_users(&self) -> Result<Vec<LmsUser>> {
        self.query_type_as(entity::USER).await
    }

    pub async fn all_groups(&self) -> Result<Vec<LmsGroup>> {
        self.query_type_as(entity::GROUP).await
    }

    pub async fn all_courses(&self) -> Result<Vec<Course>> {
        self.query_type_as(entity::COURSE).await
    }

    pub async fn all_contacts(&self) -> Result<Vec<Contact>> {
        self.query_type_as(entity::CONTACT).await
    }

    pub async fn all_awards(&self) -> Result<Vec<ManualAward>> {
        self.query_type_as(entity::AWARD).await
    }

    pub async fn all_org_certs(&self) -> Result<Vec<OrgCertification>> {
        self.query_type_as(entity::ORGCERT).await
    }

    /// A partner's dashboard in one Query on its partition.
    pub async fn partner_dashboard(&self, partner_id: &str) -> Result<PartnerDashboard> {
        let mut d = PartnerDashboard::default();
        for item in self.query_partition(&keys::partner_pk(partner_id)).await? {
            d.take(item)?;
        }
        Ok(d)
    }

    /// A partner's dashboard with at most `rows` of its certification rows,
    /// in sort-key order from the highest (`CERT#<user>#<course>`
    /// descending). The first page (`cursor: None`) is one Query: read
    /// descending, the partition yields summary, profile and organisation
    /// certifications before the rows. A later page (the previous page's
    /// `next_cursor`) adds one Query for those items (every sort key from
    /// `ORGCERT#` to `SUMMARY`). Reads are bounded by `rows`, however many
    /// rows the partner has. A cursor that is not one of this partner's
    /// row keys is [`StoreError::Malformed`].
    pub async fn partner_dashboard_page(
        &self,
        partner_id: &str,
        rows: usize,
        cursor: Option<&str>,
    ) -> Result<PartnerDashboard> {
        let pk = keys::partner_pk(partner_id);
        let rows = rows.max(1);
        let mut d = PartnerDashboard::default();
        let mut start = match cursor {
            None => None,
            Some(c) => {
                let key = dashboard_cursor_key(c, &pk)?;
                for item in self
                    .query(&QuerySpec::partition(pk.clone()).sk(SkCondition::Between(
                        "ORGCERT#".into(),
                        keys::SUMMARY.into(),
                    )))
                    .await?
                {
                    d.take(item)?;
                }
                Some(key)
            }
        };
        let mut last_row: Option<Item> = None;
        loop {
            let want = rows - d.certs.len() + if start.is_none() { HEAD_ITEMS } else { 0 };
            let spec = QuerySpec::partition(pk.clone()).descending().limit(want);
            let (items, next) = self.query_page(&spec, start.take()).await?;
            let mut truncated = false;
            for item in items {
                if d.certs.len() == rows {
                    truncated = true;
                    break;
                }
                if entity_of(&item) == entity::CERT {
                    last_row = Some(
                        [schema::PK, schema::SK]
                            .into_iter()
                            .filter_map(|k| item.get(k).map(|v| (k.to_string(), v.clone())))
                            .collect(),
                    );
                }
                d.take(item)?;
            }
            if next.is_some() && d.certs.len() < rows {
                start = next;
                continue;
            }
            // A full page with more behind it: the next page starts after
            // its last row (and is empty at worst).
            if next.is_some() || truncated {
                d.next_cursor = last_row.as_ref().map(|k| dashboard_cursor(&pk, k));
            }
            break;
        }
        Ok(d)
    }

    pub async fn user_enrollments(&self, user_id: &str) -> Result<Vec<Enrollment>> {
        let items = self
            .query(
                &QuerySpec::partition(keys::user_pk(user_id))
                    .sk(SkCondition::BeginsWith(keys::enrollment_sk(""))),
            )
            .await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    pub async fn group_members(&self, group_id: &str) -> Result<Vec<Membership>> {
        let items = self
            .query(
                &QuerySpec::partition(keys::group_pk(group_id))
                    .sk(SkCondition::BeginsWith(keys::member_sk(""))),
            )
            .await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    /// Every membership of every group: one paginated Query on the type
    /// index, ordered by group and user.
    pub async fn all_memberships(&self) -> Result<Vec<Membership>> {
        self.query_type_as(entity::MEMBER).await
    }

    /// The contacts of one partner account (active or not): one Query of
    /// the copies [`contact_items`] keeps under `ACCOUNT#<id>`.
    pub async fn partner_contacts(&self, partner_id: &str) -> Result<Vec<Contact>> {
        let items = self.query_partition(&keys::account_pk(partner_id)).await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    /// LMS users and CRM contacts with this e-mail (case-insensitive).
    pub async fn lookup_email(&self, email: &str) -> Result<Vec<EmailLink>> {
        let items = self.query_partition(&keys::email_pk(email)).await?;
        Ok(serde_dynamo::from_items(items)?)
    }

    /// The CRM contacts `links` name (from [`Store::lookup_email`]): one
    /// BatchGetItem of their profiles, in id order; deleted ones are left
    /// out.
    pub async fn contacts_of(&self, links: &[EmailLink]) -> Result<Vec<Contact>> {
        let keys: Vec<ItemKey> = links
            .iter()
            .filter_map(|l| l.contact_id.as_deref())
            .map(|id| ItemKey::new(keys::contact_pk(id), keys::PROFILE))
            .collect();
        let mut contacts: Vec<Contact> = self
            .get_items_as::<Contact>(&keys)
            .await?
            .into_values()
            .collect();
        contacts.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(contacts)
    }

    /// Certification rows whose expiry lies in `[from, to)`, across all
    /// partners, ordered by expiry — reads only those rows.
    pub async fn expiring_certs(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ExpiringCert>> {
        let items = self.query_expiring(from, to).await?;
        items.into_iter().map(partner_cert_row).collect()
    }

    /// Every dashboard row of every partner: one paginated Query on the type
    /// index, ordered by partner, user, course.
    pub async fn all_cert_rows(&self) -> Result<Vec<PartnerCertRow>> {
        let items = self.query_type(entity::CERT).await?;
        items.into_iter().map(partner_cert_row).collect()
    }

    /// Makes the items under `pk` whose sort key starts with `sk_prefix`
    /// exactly `items`: one Query to load what is there (hashes included),
    /// writes only changed/new items, deletes the ones no longer present.
    pub async fn replace_prefix(
        &self,
        pk: &str,
        sk_prefix: &str,
        items: Vec<StoreItem>,
    ) -> Result<WriteStats> {
        let existing = self
            .query(&QuerySpec::partition(pk).sk(SkCondition::BeginsWith(sk_prefix.to_string())))
            .await?;
        let known: HashMap<ItemKey, String> = hashes_of(&existing);
        let mut stale: HashMap<ItemKey, ()> = existing
            .iter()
            .filter_map(|i| ItemKey::of(i).ok())
            .map(|k| (k, ()))
            .collect();
        for it in &items {
            if it.key().pk != pk || !it.key().sk.starts_with(sk_prefix) {
                return Err(StoreError::Malformed(format!(
                    "item {}/{} is outside {pk}/{sk_prefix}*",
                    it.key().pk,
                    it.key().sk
                )));
            }
            stale.remove(it.key());
        }
        let mut stats = self.put_if_changed_known(items, &known).await?;
        let deleted = self.batch_delete(stale.into_keys().collect()).await?;
        stats.deleted = deleted.deleted;
        stats.write_requests += deleted.write_requests;
        stats.retried_items += deleted.retried_items;
        Ok(stats)
    }

    /// A partner's dashboard rows become exactly `rows` (sync helper).
    pub async fn replace_partner_certs(
        &self,
        partner_id: &str,
        rows: &[CertRow],
    ) -> Result<WriteStats> {
        let items = rows
            .iter()
            .map(|r| cert_row_item(partner_id, r))
            .collect::<Result<Vec<_>>>()?;
        self.replace_prefix(&keys::partner_pk(partner_id), "CERT#", items)
            .await
    }
}

/// The scope of a partner dashboard's cursors: one partner's partition, so
/// a cursor of another partner (or of a report) is refused.
fn dashboard_scope(pk: &str) -> String {
    format!("dashboard:{pk}")
}

/// The cursor resuming a dashboard after the row keyed `last` (its PK/SK).
fn dashboard_cursor(pk: &str, last: &Item) -> String {
    let after = last
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.clone(), s.clone())))
        .collect();
    super::pages::encode_cursor(
        &dashboard_scope(pk),
        &super::pages::Position {
            pk: pk.to_string(),
            after: Some(after),
        },
    )
}

/// The `ExclusiveStartKey` in a dashboard cursor, which must name one of
/// this partner's certification rows; anything else is
/// [`StoreError::Malformed`] (the API answers 400 on `cursor`).
fn dashboard_cursor_key(cursor: &str, pk: &str) -> Result<Item> {
    let pos = super::pages::decode_cursor(cursor, &dashboard_scope(pk))
        .map_err(|e| StoreError::Malformed(format!("cursor: {e}")))?;
    let after = pos.after.unwrap_or_default();
    let ok = pos.pk == pk
        && after.len() == 2
        && after.get(schema::PK).map(String::as_str) == Some(pk)
        && after
            .get(schema::SK)
            .is_some_and(|sk| sk.starts_with("CERT#"));
    if !ok {
        return Err(StoreError::Malformed(
            "cursor: not a row of this partner".into(),
        ));
    }
    Ok(after
        .into_iter()
        .map(|(k, v)| (k, aws_sdk_dynamodb::types::AttributeValue::S(v)))
        .collect())
}
