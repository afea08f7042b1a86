//! Per-run caches of the few items a reminder decision needs besides the
//! due row itself: the user (deactivated?), the partner (active, tracked?),
//! the opt-out record and the suppression record (`mail_events`). Each is
//! read at most once per run: the user and the partner by GetItem, an
//! address's opt-out and suppression together by one BatchGetItem. The
//! recertification link of a certification comes from its definition's
//! recert course (definitions: one Query per run, on first need; the
//! course: one GetItem).

use std::collections::HashMap;

use portal_core::model::{LmsUser, Partner};
use portal_core::store::access::AddressBlocks;
use portal_core::store::{Result, Store};

use crate::summary::SkipReason;

pub(crate) struct Lookups<'a> {
    store: &'a Store,
    users: HashMap<String, Option<LmsUser>>,
    partners: HashMap<String, Option<Partner>>,
    addresses: HashMap<String, AddressBlocks>,
    /// Certification id → its recert course id (definitions naming one).
    recert_courses: Option<HashMap<String, String>>,
    /// Course id → permalink.
    permalinks: HashMap<String, Option<String>>,
}

impl<'a> Lookups<'a> {
    pub(crate) fn new(store: &'a Store) -> Self {
        Lookups {
            store,
            users: HashMap::new(),
            partners: HashMap::new(),
            addresses: HashMap::new(),
            recert_courses: None,
            permalinks: HashMap::new(),
        }
    }

    /// The permalink of the recert course of `certification` when its
    /// definition names one (the course the holder was or will be enrolled
    /// in by the sync's `lms-recert`), else `None`.
    pub(crate) async fn recert_link(&mut self, certification: &str) -> Result<Option<String>> {
        if self.recert_courses.is_none() {
            let defs = self.store.all_definitions().await?;
            self.recert_courses = Some(
                defs.into_iter()
                    .filter_map(|d| d.recert_course_id.map(|c| (d.id, c)))
                    .collect(),
            );
        }
        let Some(course) = self
            .recert_courses
            .as_ref()
            .and_then(|m| m.get(certification))
            .cloned()
        else {
            return Ok(None);
        };
        if !self.permalinks.contains_key(&course) {
            let link = self
                .store
                .get_course(&course)
                .await?
                .and_then(|c| c.permalink);
            self.permalinks.insert(course.clone(), link);
        }
        Ok(self.permalinks.get(&course).cloned().flatten())
    }

    /// `Some(reason)` when the user must not be mailed. A user without a
    /// profile (e.g. a manual award by e-mail) is not known to be
    /// deactivated, so it is mailed.
    pub(crate) async fn user_block(&mut self, user_id: &str) -> Result<Option<SkipReason>> {
        if !self.users.contains_key(user_id) {
            let u = self.store.get_user(user_id).await?;
            self.users.insert(user_id.to_string(), u);
        }
        Ok(match self.users.get(user_id) {
            Some(Some(u)) if !u.is_active() => Some(SkipReason::UserDeactivated),
            _ => None,
        })
    }

    /// Display name from the profile read by [`Lookups::user_block`].
    pub(crate) fn display_name(&self, user_id: &str) -> Option<String> {
        self.users
            .get(user_id)
            .cloned()
            .flatten()
            .map(|u| u.display_name())
    }

    /// The partner if it may receive mail, else why not.
    pub(crate) async fn partner(
        &mut self,
        id: &str,
    ) -> Result<std::result::Result<Partner, SkipReason>> {
        if !self.partners.contains_key(id) {
            let p = self.store.get_partner(id).await?;
            self.partners.insert(id.to_string(), p);
        }
        Ok(match self.partners.get(id).cloned().flatten() {
            None => Err(SkipReason::PartnerUnknown),
            Some(p) if !p.tracked => Err(SkipReason::PartnerUntracked),
            Some(p) if !p.account_status_active => Err(SkipReason::PartnerInactive),
            Some(p) => Ok(p),
        })
    }

    /// The opt-out and suppression records of `email`, read together once
    /// a run.
    async fn blocks(&mut self, email: &str) -> Result<AddressBlocks> {
        let key = portal_core::store::keys::normalize_email(email);
        if let Some(v) = self.addresses.get(&key) {
            return Ok(*v);
        }
        let v = self.store.address_blocks(&key).await?;
        self.addresses.insert(key, v);
        Ok(v)
    }

    pub(crate) async fn opted_out(&mut self, email: &str) -> Result<bool> {
        Ok(self.blocks(email).await?.opted_out)
    }

    /// Whether SES reported the address as hard-bounced or complaining.
    pub(crate) async fn suppressed(&mut self, email: &str) -> Result<bool> {
        Ok(self.blocks(email).await?.suppressed)
    }
}
