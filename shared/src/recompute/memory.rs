//! [`PartnerInputs`] over plain vectors: the domain tests run the one
//! recompute on it, and the end-to-end tests compare what it computes from
//! the stored data with what the store path wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::inputs::{Changes, PartnerInputs, Person, Result, Stored};
use crate::model::{
    CertRow, Contact, Course, Enrollment, LmsGroup, LmsUser, ManualAward, Membership,
    OrgCertification, Partner, PartnerSummary,
};
use crate::rules::members::normalize_email;
use crate::rules::programs::Programs;

/// The whole picture in memory; writes land in `summaries` and `rows`.
#[derive(Debug, Default)]
pub struct MemoryInputs {
    pub partners: Vec<Partner>,
    pub groups: Vec<LmsGroup>,
    pub memberships: Vec<Membership>,
    pub contacts: Vec<Contact>,
    pub users: Vec<LmsUser>,
    pub enrollments: Vec<Enrollment>,
    pub courses: Vec<Course>,
    pub awards: Vec<ManualAward>,
    pub org_certs: Vec<OrgCertification>,
    pub programs: Programs,
    pub written: Mutex<Written>,
}

/// What the recompute stored, by partner.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Written {
    pub summaries: BTreeMap<String, PartnerSummary>,
    pub rows: BTreeMap<String, BTreeMap<(String, String), CertRow>>,
    /// Partners written to, in call order (a partner with no change is
    /// never written).
    pub writes: Vec<String>,
}

impl MemoryInputs {
    pub fn written(&self) -> Written {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl PartnerInputs for MemoryInputs {
    async fn stored(&self, partner_id: &str) -> Result<Stored> {
        let w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Stored {
            profile: self.partners.iter().find(|p| p.id == partner_id).cloned(),
            summary: w.summaries.get(partner_id).cloned(),
            rows: w
                .rows
                .get(partner_id)
                .map(|r| {
                    r.iter()
                        .map(|(k, v)| (k.clone(), Some(v.clone())))
                        .collect()
                })
                .unwrap_or_default(),
            org_certs: self
                .org_certs
                .iter()
                .filter(|o| o.partner_id == partner_id)
                .cloned()
                .collect(),
        })
    }

    async fn group(&self, group_id: &str) -> Result<Option<LmsGroup>> {
        Ok(self.groups.iter().find(|g| g.id == group_id).cloned())
    }

    async fn members(&self, group_id: &str) -> Result<Vec<Membership>> {
        Ok(self
            .memberships
            .iter()
            .filter(|m| m.group_id == group_id)
            .cloned()
            .collect())
    }

    async fn contacts(&self, partner_id: &str) -> Result<Vec<Contact>> {
        Ok(self
            .contacts
            .iter()
            .filter(|c| c.account_id.as_deref() == Some(partner_id))
            .cloned()
            .collect())
    }

    async fn users_with_email(&self, email: &str) -> Result<Vec<String>> {
        let e = normalize_email(email);
        Ok(self
            .users
            .iter()
            .filter(|u| !e.is_empty() && normalize_email(&u.email) == e)
            .map(|u| u.id.clone())
            .collect())
    }

    async fn people(&self, ids: &[String]) -> Result<Vec<Person>> {
        let ids: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
        Ok(self
            .users
            .iter()
            .filter(|u| ids.contains(u.id.as_str()))
            .map(|u| Person {
                user: u.clone(),
                enrollments: self
                    .enrollments
                    .iter()
                    .filter(|e| e.user_id == u.id)
                    .cloned()
                    .collect(),
            })
            .collect())
    }

    async fn courses(&self, ids: &BTreeSet<String>) -> Result<Vec<Course>> {
        Ok(self
            .courses
            .iter()
            .filter(|c| ids.contains(&c.id))
            .cloned()
            .collect())
    }

    async fn awards(&self) -> Result<Vec<ManualAward>> {
        Ok(self.awards.clone())
    }

    async fn programs(&self) -> Result<Programs> {
        Ok(self.programs.clone())
    }

    async fn write(&self, partner_id: &str, changes: Changes) -> Result<()> {
        let mut w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        w.writes.push(partner_id.to_string());
        let rows = w.rows.entry(partner_id.to_string()).or_default();
        for r in changes.put_rows {
            rows.insert((r.user_id.clone(), r.course_id.clone()), r);
        }
        for k in changes.delete_rows {
            rows.remove(&k);
        }
        if let Some(s) = changes.summary {
            w.summaries.insert(partner_id.to_string(), s);
        }
        Ok(())
    }
}
