//! Shared set-up of the reminders e2e tests: the shared emulator, a fresh
//! table per test, a sender identity, and seeding straight into the store
//! so each case states exactly the certifications it is about.
//!
//! Tests share one moto (and its SES outbox), so every test mails its own
//! domain (`@<tag>.test`) and reads back only messages to that domain.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use portal_core::mail::{Mailer, SesMailer};
use portal_core::model::{
    CertRow, LmsUser, Partner, PartnerSummary, ProgressStatus, SummaryCert, Tier,
};
use portal_core::store::entities::{cert_row_item, partner_item, summary_item, user_items};
use portal_core::store::Store;
use portal_infra::emulator::{Emulator, SentEmail};
use portal_reminders::{Deps, HmacLinks, Settings};

pub const SENDER: &str = "reminders@portal.test";
/// Base URL and key of the unsubscribe links the test deps sign.
pub const PUBLIC_BASE_URL: &str = "https://portal.test";
pub const UNSUBSCRIBE_KEY: &[u8] = b"test-key";

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

pub struct Env {
    pub emu: &'static Emulator,
    pub store: Store,
    pub ses: Arc<SesMailer>,
    /// Unique mail domain of this test.
    pub domain: String,
}

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Env {
    pub async fn new(tag: &str) -> Env {
        let emu = Emulator::shared().await.expect("emulator");
        let sdk = emu.sdk_config().await;
        let id = unique(tag);
        let store = Store::from_sdk_config(&sdk, format!("portal-{id}"));
        store.create_table().await.expect("create table");
        let ses = SesMailer::from_sdk_config(&sdk, SENDER)
            .rate_per_second(0.0)
            .build();
        ses.ensure_identity().await.expect("sender identity");
        Env {
            emu,
            store,
            ses: Arc::new(ses),
            domain: format!("{id}.test"),
        }
    }

    pub fn email(&self, local: &str) -> String {
        format!("{local}@{}", self.domain)
    }

    pub fn deps(&self) -> Deps {
        self.deps_with(self.ses.clone(), Settings::default())
    }

    pub fn deps_with(&self, mailer: Arc<dyn Mailer>, settings: Settings) -> Deps {
        Deps {
            store: self.store.clone(),
            mailer,
            settings,
            links: Some(Arc::new(HmacLinks::new(PUBLIC_BASE_URL, UNSUBSCRIBE_KEY))),
        }
    }

    /// Messages to this test's domain, oldest first.
    pub async fn sent(&self) -> Vec<SentEmail> {
        let suffix = format!("@{}", self.domain);
        self.emu
            .sent_emails()
            .await
            .expect("read outbox")
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.ends_with(&suffix)))
            .collect()
    }

    pub async fn partner(&self, id: &str, name: &str, owner: Option<&str>) -> Partner {
        let p = Partner {
            id: id.into(),
            name: name.into(),
            tier: Some(Tier::Select),
            account_status_active: true,
            tracked: true,
            owner_name: owner.map(|o| format!("PAM {o}")),
            owner_email: owner.map(|o| self.email(o)),
            ..Default::default()
        };
        self.put_partner(&p).await;
        p
    }

    pub async fn put_partner(&self, p: &Partner) {
        self.store.put(partner_item(p).unwrap()).await.unwrap();
    }

    pub async fn user(&self, id: &str, active: bool) -> LmsUser {
        let u = LmsUser {
            id: id.into(),
            email: self.email(id),
            first_name: Some(format!("First-{id}")),
            last_name: Some("Last".into()),
            deactivated_at: (!active).then(now),
            ..Default::default()
        };
        for it in user_items(&u).unwrap() {
            self.store.put(it).await.unwrap();
        }
        u
    }

    /// A completed certification of `user` on `course` listed under
    /// `partner`, expiring `expires_in` after [`now`].
    pub async fn cert(
        &self,
        partner: &str,
        user: &str,
        course: &str,
        expires_in: Duration,
    ) -> CertRow {
        let row = CertRow {
            user_id: user.into(),
            user_name: format!("First-{user} Last"),
            email: self.email(user),
            course_id: course.into(),
            course_name: format!("Course {course}"),
            npcu: 1,
            progress: ProgressStatus::Completed,
            completed_at: Some(now() - days(300)),
            expires_at: Some(now() + expires_in),
            permalink: Some(format!("https://lms.test/c/{course}")),
            ..Default::default()
        };
        self.put_cert(partner, &row).await;
        row
    }

    pub async fn put_cert(&self, partner: &str, row: &CertRow) {
        self.store
            .put(cert_row_item(partner, row).unwrap())
            .await
            .unwrap();
    }

    pub async fn summary(&self, p: &Partner, npcu_certs: u32) {
        let mut s = PartnerSummary {
            partner_id: p.id.clone(),
            name: p.name.clone(),
            tier: p.tier.clone(),
            owner_email: p.owner_email.clone(),
            tracked: true,
            computed_at: now(),
            ..Default::default()
        };
        let certs: Vec<SummaryCert> = (0..npcu_certs)
            .map(|i| SummaryCert {
                user_id: format!("s{i}"),
                course_id: "c".into(),
                npcu: 1,
                expires_at: Some(now() + days(400)),
                ..Default::default()
            })
            .collect();
        portal_core::rules::summary::count_certs(&mut s, &certs);
        self.store.put(summary_item(&s).unwrap()).await.unwrap();
    }
}

/// Recipients of `mails`, sorted.
pub fn recipients(mails: &[SentEmail]) -> Vec<String> {
    let mut r: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    r.sort();
    r
}

/// The one mail to `to`; fails when there is none or more than one.
pub fn only_mail_to<'a>(mails: &'a [SentEmail], to: &str) -> &'a SentEmail {
    let m: Vec<&SentEmail> = mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t == to))
        .collect();
    assert_eq!(m.len(), 1, "mails to {to}: {m:#?}");
    m[0]
}

/// The HTML body with minijinja's `/` escape undone (`&#x2f;`, valid HTML
/// in attributes), so URLs can be looked for as written.
pub fn body(m: &SentEmail) -> String {
    m.body.replace("&#x2f;", "/")
}

/// Tokens of the `<PUBLIC_BASE_URL>/unsubscribe/<token>` links in a mail
/// body (every occurrence, in order).
pub fn unsubscribe_tokens(m: &SentEmail) -> Vec<String> {
    let prefix = format!("{PUBLIC_BASE_URL}/unsubscribe/");
    body(m)
        .split(prefix.as_str())
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect()
        })
        .collect()
}
