//! People: `/people?q=` finds LMS users and CRM contacts by name or
//! e-mail; `/people/{user_id}` shows one LMS user's partners, groups,
//! every certification with status and dates, and reminder history.
//!
//! A PAM sees only people of their partners: contacts of those partners,
//! and users who belong to one of them (group member, or reached through
//! a contact's e-mail — the rules' `partner_members`). Anyone else is the
//! API's 404, like a partner outside the scope.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt};
use lambda_http::Request;
use minijinja::context;
use portal_core::access::Grant;
use portal_core::model::{CertRow, CertStatus, Contact, LmsUser, Partner};
use portal_core::rules::members::{normalize_email, partner_members};
use portal_core::rules::status::record_status;
use portal_core::store::access::{reminder_key, ReminderClaimRecord};
use portal_core::store::{keys, ItemKey};
use serde::Serialize;

use super::layout::{self, Chrome};
use super::session::Session;
use crate::auth::require_staff;
use crate::http::{query_pairs, ApiError, ApiResult};
use crate::AppState;

/// Shortest search: one letter would list nearly everyone.
const MIN_QUERY: usize = 2;
/// Longest search accepted (a pasted paragraph is not a name).
const MAX_QUERY: usize = 200;
/// Rows shown per kind; more means the search should be narrower.
const MAX_RESULTS: usize = 100;
/// Reads at once (group memberships, partner partitions, claims).
const CONCURRENCY: usize = 8;

fn full_name(first: Option<&str>, last: Option<&str>) -> String {
    [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn user_name(u: &LmsUser) -> String {
    full_name(u.first_name.as_deref(), u.last_name.as_deref())
}

fn day(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.map(|t| t.format("%Y-%m-%d").to_string())
}

/// Partners `grant` may see, by id.
fn visible_partners<'a>(grant: &Grant, partners: &'a [Partner]) -> BTreeMap<&'a str, &'a Partner> {
    partners
        .iter()
        .filter(|p| grant.can_see_partner(&p.id, p.owner_email.as_deref()))
        .map(|p| (p.id.as_str(), p))
        .collect()
}

/// Ids of the users belonging to any of `partners` (the rules' members:
/// active group members and users reached by an active contact).
async fn members_of(
    state: &AppState,
    partners: &[&Partner],
    contacts: &[Contact],
    users: &[LmsUser],
) -> Result<BTreeSet<String>, ApiError> {
    let groups: BTreeSet<String> = partners
        .iter()
        .filter_map(|p| p.lms_group_id.clone())
        .collect();
    let memberships: Vec<_> = futures::stream::iter(groups)
        .map(|g| {
            let store = state.store.clone();
            async move { store.group_members(&g).await }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    let mut out = BTreeSet::new();
    for p in partners {
        let m = partner_members(p, p.lms_group_id.as_deref(), &memberships, contacts, users);
        out.extend(m.into_keys().map(str::to_string));
    }
    Ok(out)
}

#[derive(Serialize)]
struct UserHit {
    id: String,
    name: String,
    email: String,
    active: bool,
}

#[derive(Serialize)]
struct ContactHit {
    name: String,
    email: String,
    partner_id: Option<String>,
    partner_name: Option<String>,
    active: bool,
    lms_user_id: Option<String>,
}

/// `GET /people?q=`.
pub async fn search(state: &AppState, req: &Request, s: &Session, chrome: &Chrome) -> ApiResult {
    require_staff(&s.grant)?;
    let q = query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let too_long = q.chars().count() > MAX_QUERY;
    let searched = q.chars().count() >= MIN_QUERY && !too_long;
    let (mut users_out, mut contacts_out) = (Vec::new(), Vec::new());
    let (mut more_users, mut more_contacts) = (false, false);
    if searched {
        let needle = q.to_lowercase();
        let hit = |name: &str, email: &str| {
            name.to_lowercase().contains(&needle) || email.to_lowercase().contains(&needle)
        };
        let (users, contacts, partners) = futures::try_join!(
            state.store.all_users(),
            state.store.all_contacts(),
            state.store.all_partners(),
        )?;
        let visible = visible_partners(&s.grant, &partners);
        let admin = s.grant.is_admin();
        let allowed_users = if admin {
            None
        } else {
            let mine: Vec<&Partner> = visible.values().copied().collect();
            Some(members_of(state, &mine, &contacts, &users).await?)
        };
        let mut u: Vec<UserHit> = users
            .iter()
            .filter(|u| allowed_users.as_ref().is_none_or(|a| a.contains(&u.id)))
            .filter(|u| hit(&user_name(u), &u.email))
            .map(|u| UserHit {
                id: u.id.clone(),
                name: user_name(u),
                email: u.email.clone(),
                active: u.is_active(),
            })
            .collect();
        u.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.email.cmp(&b.email)));
        more_users = u.len() > MAX_RESULTS;
        u.truncate(MAX_RESULTS);
        users_out = u;
        let by_email: BTreeMap<String, &str> = users
            .iter()
            .map(|u| (normalize_email(&u.email), u.id.as_str()))
            .collect();
        let mut c: Vec<ContactHit> = contacts
            .iter()
            .filter(|c| {
                admin
                    || c.account_id
                        .as_deref()
                        .is_some_and(|a| visible.contains_key(a))
            })
            .filter(|c| {
                hit(
                    &full_name(c.first_name.as_deref(), c.last_name.as_deref()),
                    &c.email,
                )
            })
            .map(|c| {
                let partner = c.account_id.as_deref().and_then(|a| visible.get(a));
                ContactHit {
                    name: full_name(c.first_name.as_deref(), c.last_name.as_deref()),
                    email: c.email.clone(),
                    partner_id: partner.map(|p| p.id.clone()),
                    partner_name: partner
                        .map(|p| p.name.clone())
                        .or_else(|| c.account_name.clone()),
                    active: c.active,
                    lms_user_id: c.lms_user_id.clone().or_else(|| {
                        by_email
                            .get(&normalize_email(&c.email))
                            .map(|s| s.to_string())
                    }),
                }
            })
            .collect();
        c.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.email.cmp(&b.email)));
        more_contacts = c.len() > MAX_RESULTS;
        c.truncate(MAX_RESULTS);
        contacts_out = c;
    }
    let html = layout::render(
        "people.html",
        Some(chrome),
        context! {
            q => q,
            searched => searched,
            too_long => too_long,
            min => MIN_QUERY,
            users => users_out,
            contacts => contacts_out,
            more_users => more_users,
            more_contacts => more_contacts,
            max => MAX_RESULTS,
        },
    )?;
    layout::ok(html)
}

#[derive(Serialize)]
struct PartnerLine {
    id: String,
    name: String,
    /// How the person belongs: "group", "contact" or both.
    via: String,
}

#[derive(Serialize)]
struct CertLine {
    course_id: String,
    course_name: String,
    category: Option<String>,
    npcu: u8,
    status: CertStatus,
    enrolled_on: Option<String>,
    completed_on: Option<String>,
    expires_on: Option<String>,
    manual: bool,
}

#[derive(Serialize)]
struct ReminderLine {
    course_name: String,
    /// Days before expiry (0: the expired notice).
    stage: u32,
    expires_on: Option<String>,
    state: String,
    claimed_at: Option<String>,
    sent_at: Option<String>,
    error: Option<String>,
}

fn minute(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// `GET /people/{user_id}`.
pub async fn person(state: &AppState, s: &Session, chrome: &Chrome, user_id: &str) -> ApiResult {
    require_staff(&s.grant)?;
    let store = &state.store;
    let user = store.get_user(user_id).await?.ok_or(ApiError::NotFound)?;
    let (partners, groups, links) = futures::try_join!(
        store.all_partners(),
        store.all_groups(),
        store.lookup_email(&user.email),
    )?;

    // The user's groups: one batched existence check of the membership
    // item in each group (`BatchGetItem`, 100 keys a request).
    let member_keys: Vec<ItemKey> = groups
        .iter()
        .map(|g| ItemKey::new(keys::group_pk(&g.id), keys::member_sk(&user.id)))
        .collect();
    let (found, _) = store.stored_hashes(&member_keys).await?;
    let my_groups: Vec<&portal_core::model::LmsGroup> = groups
        .iter()
        .zip(&member_keys)
        .filter(|(_, k)| found.contains_key(*k))
        .map(|(g, _)| g)
        .collect();
    let group_ids: BTreeSet<&str> = my_groups
        .iter()
        .filter(|g| g.active)
        .map(|g| g.id.as_str())
        .collect();

    // Contacts with the same e-mail (the CRM side of the person).
    let contacts: Vec<Contact> = store.contacts_of(&links).await?;
    let via_contact: BTreeSet<&str> = contacts
        .iter()
        .filter(|c| c.active)
        .filter_map(|c| c.account_id.as_deref())
        .collect();

    // Partners the person belongs to, as far as the caller may see them.
    let visible = visible_partners(&s.grant, &partners);
    let mut mine: Vec<PartnerLine> = visible
        .values()
        .filter(|p| p.tracked)
        .filter_map(|p| {
            let g = p
                .lms_group_id
                .as_deref()
                .is_some_and(|g| group_ids.contains(g));
            let c = via_contact.contains(p.id.as_str());
            let via = match (g, c) {
                (true, true) => "group and contact",
                (true, false) => "group",
                (false, true) => "contact",
                (false, false) => return None,
            };
            Some(PartnerLine {
                id: p.id.clone(),
                name: p.name.clone(),
                via: via.to_string(),
            })
        })
        .collect();
    mine.sort_by(|a, b| a.name.cmp(&b.name));
    // A PAM may see a person only through one of their partners, and of
    // their groups only those of such partners.
    let admin = s.grant.is_admin();
    if !admin && mine.is_empty() {
        return Err(ApiError::NotFound);
    }
    let shown_groups: BTreeSet<&str> = visible
        .values()
        .filter_map(|p| p.lms_group_id.as_deref())
        .collect();
    let my_groups: Vec<_> = my_groups
        .into_iter()
        .filter(|g| admin || shown_groups.contains(g.id.as_str()))
        .collect();

    // Certifications: the rows the partners' dashboards hold for the
    // person (effective expiry, manual awards included), one per course;
    // a person of no partner has their LMS enrollments.
    let now = state.clock.now();
    let ids: Vec<String> = mine.iter().map(|p| p.id.clone()).collect();
    let partitions: Vec<Vec<CertRow>> = futures::stream::iter(ids)
        .map(|id| {
            let store = store.clone();
            async move { store.partner_dashboard(&id).await.map(|d| d.certs) }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut rows: BTreeMap<String, CertRow> = BTreeMap::new();
    for r in partitions
        .into_iter()
        .flatten()
        .filter(|r| r.user_id == user.id)
    {
        rows.entry(r.course_id.clone()).or_insert(r);
    }
    let mut certs: Vec<CertLine> = rows
        .values()
        .map(|r| CertLine {
            course_id: r.course_id.clone(),
            course_name: r.course_name.clone(),
            category: r.category.clone(),
            npcu: r.npcu,
            status: r.status(now, state.warning_days),
            enrolled_on: day(r.enrolled_at),
            completed_on: day(r.completed_at),
            expires_on: day(r.expires_at),
            manual: r.source == portal_core::model::RecordSource::Manual,
        })
        .collect();
    if rows.is_empty() {
        let courses = store.all_courses().await?;
        for e in store.user_enrollments(&user.id).await? {
            let c = courses.iter().find(|c| c.id == e.course_id);
            certs.push(CertLine {
                course_id: e.course_id.clone(),
                course_name: c.map(|c| c.name.clone()).unwrap_or(e.course_id.clone()),
                category: c.and_then(|c| c.category.clone()),
                npcu: c.map(|c| c.npcu).unwrap_or(0),
                status: record_status(e.progress, e.expires_at, now, state.warning_days),
                enrolled_on: day(e.enrolled_at),
                completed_on: day(e.completed_at),
                expires_on: day(e.expires_at),
                manual: false,
            });
        }
    }
    certs.sort_by(|a, b| a.course_name.cmp(&b.course_name));

    // Reminder history: the claim the reminders function keeps for each
    // certification × stage (`store::access::reminder_key`).
    let uid = user.id.as_str();
    let wanted: Vec<(String, ReminderLine)> = rows
        .values()
        .filter_map(|r| r.expires_at.map(|e| (r, e)))
        .flat_map(|(r, e)| {
            state.reminder_stages.iter().map(move |stage| {
                let line = ReminderLine {
                    course_name: r.course_name.clone(),
                    stage: *stage,
                    expires_on: day(Some(e)),
                    state: String::new(),
                    claimed_at: None,
                    sent_at: None,
                    error: None,
                };
                (reminder_key(uid, &r.course_id, e, *stage), line)
            })
        })
        .collect();
    let claims: Vec<Option<ReminderLine>> = futures::stream::iter(wanted)
        .map(|(key, line)| {
            let store = store.clone();
            async move {
                let claim: Option<ReminderClaimRecord> = store.get_reminder_claim(&key).await?;
                Ok::<_, ApiError>(claim.map(|c| ReminderLine {
                    state: c.state,
                    claimed_at: minute(c.claimed_at),
                    sent_at: minute(c.sent_at),
                    error: c.error,
                    ..line
                }))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut reminders: Vec<ReminderLine> = claims.into_iter().flatten().collect();
    reminders.sort_by(|a, b| {
        b.claimed_at
            .cmp(&a.claimed_at)
            .then_with(|| a.course_name.cmp(&b.course_name))
    });
    let opted_out = store.is_opted_out(&user.email).await?;

    let html = layout::render(
        "person.html",
        Some(chrome),
        context! {
            user => context! {
                id => &user.id,
                name => user_name(&user),
                email => &user.email,
                active => user.is_active(),
                last_active_on => day(user.last_active_at),
            },
            partners => mine,
            groups => my_groups.iter().map(|g| context! { id => &g.id, name => &g.name, active => g.active }).collect::<Vec<_>>(),
            contacts => contacts.iter().filter(|c| admin || c.account_id.as_deref().is_some_and(|a| visible.contains_key(a))).map(|c| context! {
                name => full_name(c.first_name.as_deref(), c.last_name.as_deref()),
                title => &c.title,
                account_name => &c.account_name,
                active => c.active,
            }).collect::<Vec<_>>(),
            certs => certs,
            reminders => reminders,
            opted_out => opted_out,
            stages => &state.reminder_stages,
        },
    )?;
    layout::ok(html)
}
