//! `/partners/{id}` for staff: the dashboard the partner sees (rendered by
//! `crate::render`, the same template) plus the partner's people — CRM
//! contacts, users in its LMS group, users matched through a contact but
//! not in the group — and its manual awards. Admins also get the tools:
//! the portal link (copy, revoke), manual awards and organisation
//! certifications (add, remove) and the group pin (set, clear), each
//! through the admin API's own functions (`crate::admin::dispatch`). A PAM
//! gets the API's 404 for a partner outside their scope.

use std::collections::{BTreeMap, BTreeSet};

use lambda_http::http::Method;
use lambda_http::Request;
use minijinja::context;
use portal_core::access::{
    current_link_version, parse_partner_link_id, partner_link_id, partner_link_token, Grant,
};
use portal_core::model::{LmsUser, ManualAward};
use portal_core::rules::members::{normalize_email, partner_members};
use serde::Serialize;
use serde_json::{json, Value};

use super::admin::admin_api;
use super::layout::{self, Chrome};
use super::session::{see_other, Session};
use super::Form;
use crate::auth::require_admin;
use crate::http::{self, query_pairs, ApiError, ApiResult};
use crate::refresh::load_people;
use crate::AppState;

/// The `<main>` content of the partner's own dashboard page, so staff see
/// exactly what the partner sees.
fn dashboard_body(page: &str) -> &str {
    let start = page.find("<main>").map(|i| i + "<main>".len());
    let end = page.rfind("</main>");
    match (start, end) {
        (Some(s), Some(e)) if s <= e => &page[s..e],
        _ => "",
    }
}

/// Notices a form's redirect may ask for (fixed texts: nothing from the
/// address is echoed).
fn notice(req: &Request) -> Option<&'static str> {
    let done = query_pairs(req)
        .into_iter()
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v)?;
    Some(match done.as_str() {
        "award" => "Saved. The numbers above include it.",
        "award-removed" => "Award removed. The numbers above no longer count it.",
        "org-removed" => "Certification removed. The numbers above no longer count it.",
        "pinned" => "Group pinned: the sync keeps this group for the partner.",
        "unpinned" => "Pin cleared: the next sync matches the group automatically.",
        "revoked" => {
            "Link revoked. The old link no longer opens the dashboard; the new one is below."
        }
        _ => return None,
    })
}

#[derive(Serialize)]
struct Person {
    id: String,
    name: String,
    email: String,
}

fn person(u: &LmsUser) -> Person {
    let name = [u.first_name.as_deref(), u.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Person {
        id: u.id.clone(),
        name: if name.trim().is_empty() {
            u.email.clone()
        } else {
            name
        },
        email: u.email.clone(),
    }
}

#[derive(Serialize)]
struct ContactLine {
    name: String,
    email: String,
    title: Option<String>,
    phone: Option<String>,
    active: bool,
    /// The LMS user with this contact's e-mail, when there is one.
    lms_user_id: Option<String>,
}

#[derive(Serialize)]
struct AwardLine {
    id: String,
    holder: String,
    course_id: String,
    course_name: Option<String>,
    completed_on: String,
    expires_on: Option<String>,
    recorded_by: Option<String>,
    note: Option<String>,
}

#[derive(Serialize)]
struct LinkLine {
    id: String,
    url: String,
}

#[derive(Serialize)]
struct GroupLine {
    id: String,
    name: Option<String>,
    pinned: bool,
}

fn day(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// The partner's current dashboard link, derived like the owners report's
/// column (`None` without a link key or a live link).
async fn current_link(
    state: &AppState,
    req: &Request,
    partner_id: &str,
) -> Result<Option<LinkLine>, ApiError> {
    let Some(key) = &state.link_key else {
        return Ok(None);
    };
    let tokens = state.store.all_tokens().await?;
    Ok(current_link_version(&tokens, partner_id).map(|v| LinkLine {
        id: partner_link_id(partner_id, v),
        url: format!(
            "{}/p/{}",
            http::base_url(state.public_base_url.as_deref(), req),
            partner_link_token(key.expose(), partner_id, v)
        ),
    }))
}

pub async fn page(
    state: &AppState,
    req: &Request,
    s: &Session,
    chrome: &Chrome,
    id: &str,
) -> ApiResult {
    // Scope first: a PAM learns nothing of a partner that is not theirs.
    let pairs = query_pairs(req);
    let cursor = crate::dashboards::cursor_of(&pairs);
    let view = crate::dashboards::load_page(state, &s.grant, id, cursor).await?;
    let full = crate::render::dashboard(&view).map_err(|e| ApiError::Internal(e.to_string()))?;
    let partner = state
        .store
        .get_partner(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let admin = matches!(s.grant, Grant::Admin);
    let (people, awards) = futures::try_join!(load_people(state, &partner), async {
        Ok::<_, ApiError>(state.store.all_awards().await?)
    })?;

    let members = partner_members(
        &partner,
        partner.lms_group_id.as_deref(),
        &people.memberships,
        &people.contacts,
        &people.users,
    );
    let in_group: Vec<Person> = members
        .values()
        .filter(|(_, r)| r.via_group)
        .map(|(u, _)| person(u))
        .collect();
    let matched_only: Vec<Person> = members
        .values()
        .filter(|(_, r)| r.via_contact && !r.via_group)
        .map(|(u, _)| person(u))
        .collect();
    let mut contacts: Vec<ContactLine> = people
        .contacts
        .iter()
        .filter(|c| c.account_id.as_deref() == Some(id))
        .map(|c| ContactLine {
            name: [c.first_name.as_deref(), c.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            email: c.email.clone(),
            title: c.title.clone(),
            phone: c.phone.clone(),
            active: c.active,
            lms_user_id: c.lms_user_id.clone().or_else(|| {
                people
                    .users
                    .iter()
                    .find(|u| normalize_email(&u.email) == normalize_email(&c.email))
                    .map(|u| u.id.clone())
            }),
        })
        .collect();
    contacts.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.email.cmp(&b.email)));

    // Awards count for this partner when their holder is a member: by user
    // id, or by e-mail (the rules' attribution, `rules::summary`).
    let member_ids: BTreeSet<&str> = members.keys().copied().collect();
    let member_emails: BTreeMap<String, &LmsUser> = members
        .values()
        .map(|(u, _)| (normalize_email(&u.email), *u))
        .collect();
    let course_names: BTreeMap<&str, &str> = view
        .categories
        .iter()
        .flat_map(|c| c.rows.iter())
        .map(|r| (r.course_id.as_str(), r.course_name.as_str()))
        .collect();
    let award_line = |a: &ManualAward| {
        let holder = match (&a.user_id, &a.email) {
            (Some(uid), _) if member_ids.contains(uid.as_str()) => members
                .get(uid.as_str())
                .map(|(u, _)| u.email.clone())
                .unwrap_or_else(|| uid.clone()),
            (None, Some(e)) if member_emails.contains_key(&normalize_email(e)) => e.clone(),
            _ => return None,
        };
        Some(AwardLine {
            id: a.id.clone(),
            holder,
            course_id: a.course_id.clone(),
            course_name: course_names
                .get(a.course_id.as_str())
                .map(|s| s.to_string()),
            completed_on: day(a.completed_at),
            expires_on: a.expires_at.map(day),
            recorded_by: a.recorded_by.clone(),
            note: a.note.clone(),
        })
    };
    let mut award_lines: Vec<AwardLine> = awards.iter().filter_map(award_line).collect();
    award_lines.sort_by(|a, b| {
        b.completed_on
            .cmp(&a.completed_on)
            .then_with(|| a.id.cmp(&b.id))
    });

    let group = partner.lms_group_id.as_ref().map(|g| GroupLine {
        id: g.clone(),
        name: people.group.as_ref().map(|x| x.name.clone()),
        pinned: partner.group_pinned,
    });
    let (link, groups) = if admin {
        let mut groups: Vec<Value> = state
            .store
            .all_groups()
            .await?
            .into_iter()
            .filter(|g| g.active)
            .map(|g| json!({ "id": g.id, "name": g.name }))
            .collect();
        groups.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        (current_link(state, req, id).await?, groups)
    } else {
        (None, Vec::new())
    };

    let html = layout::render(
        "partner.html",
        Some(chrome),
        context! {
            d => &view,
            // Rendered (and escaped) by the dashboard template itself.
            dashboard => minijinja::Value::from_safe_string(dashboard_body(&full).to_string()),
            notice => notice(req),
            staff => context! {
                contacts => contacts,
                in_group => in_group,
                matched_only => matched_only,
                awards => award_lines,
                group => group,
                groups => groups,
                link => link,
            },
        },
    )?;
    layout::ok(html)
}

fn back(id: &str, done: &str) -> ApiResult {
    let pid: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    Ok(see_other(&format!("/partners/{pid}?done={done}")))
}

/// `POST /partners/{id}/awards`: a manual award (`kind=award`: `email`,
/// `course_id`, `completed_at`, optional `expires_at`, `note`) or an
/// organisation certification (`kind=org`: `name`, `category`, `npcu`,
/// `starts_at`, `ends_at`), through the admin API.
pub async fn add_award(
    state: &AppState,
    req: &Request,
    s: &Session,
    id: &str,
    form: &Form,
) -> ApiResult {
    require_admin(&s.grant)?;
    let body = match form.get("kind") {
        Some("org") => {
            let npcu: u8 = form.text("npcu").unwrap_or_default().parse().map_err(|_| {
                ApiError::BadRequest("'npcu': expected a whole number 0-255".into())
            })?;
            json!({
                "kind": "org",
                "partner_id": id,
                "name": form.text("name").unwrap_or_default(),
                "category": form.text("category"),
                "npcu": npcu,
                "starts_at": form.text("starts_at").unwrap_or_default(),
                "ends_at": form.text("ends_at").unwrap_or_default(),
            })
        }
        _ => json!({
            "kind": "award",
            "partner_id": id,
            "email": form.text("email"),
            "course_id": form.text("course_id").unwrap_or_default(),
            "completed_at": form.text("completed_at").unwrap_or_default(),
            "expires_at": form.text("expires_at"),
            "recorded_by": s.record.who,
            "note": form.text("note"),
        }),
    };
    admin_api(state, req, s, Method::POST, "awards", Some(body)).await?;
    back(id, "award")
}

/// `POST /partners/{id}/awards/{award}/remove` and
/// `POST /partners/{id}/org-certs/{org}/remove`.
pub async fn remove(
    state: &AppState,
    req: &Request,
    s: &Session,
    id: &str,
    what: &str,
    item: &str,
) -> ApiResult {
    require_admin(&s.grant)?;
    let done = match what {
        "awards" => "award-removed",
        "org-certs" => "org-removed",
        _ => return Err(ApiError::NotFound),
    };
    let rest = format!("partners/{id}/{what}/{item}");
    admin_api(state, req, s, Method::DELETE, &rest, None).await?;
    back(id, done)
}

/// `POST /partners/{id}/group` (field `group_id`) pins the group;
/// `POST /partners/{id}/group/clear` lifts the pin.
pub async fn group(
    state: &AppState,
    req: &Request,
    s: &Session,
    id: &str,
    clear: bool,
    form: &Form,
) -> ApiResult {
    require_admin(&s.grant)?;
    if clear {
        let rest = format!("partners/{id}/group");
        admin_api(state, req, s, Method::DELETE, &rest, None).await?;
        return back(id, "unpinned");
    }
    let body = json!({ "group_id": form.text("group_id").unwrap_or_default() });
    let rest = format!("partners/{id}/group");
    admin_api(state, req, s, Method::PUT, &rest, Some(body)).await?;
    back(id, "pinned")
}

/// `POST /partners/{id}/link/revoke` (field `link`: the link's id): the
/// admin API revokes it and issues the next one.
pub async fn revoke_link(
    state: &AppState,
    req: &Request,
    s: &Session,
    id: &str,
    form: &Form,
) -> ApiResult {
    require_admin(&s.grant)?;
    let link = form.text("link").unwrap_or_default();
    // Only a link of this very partner is revoked from its page.
    match parse_partner_link_id(&link) {
        Some((pid, _)) if pid == id => {}
        _ => return Err(ApiError::NotFound),
    }
    let rest = format!("tokens/{link}");
    admin_api(state, req, s, Method::DELETE, &rest, None).await?;
    back(id, "revoked")
}
