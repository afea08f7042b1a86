//! `/reports` and `/reports/{name}`: every API report as a page. The rows
//! are the API's own (`routes::report` called in-process with the page's
//! query), so filters, search (`q`), sorting, paging and the caller's
//! scope are exactly the API's, and the export buttons link to the API
//! with the same query: the file holds what the page filtered.

use lambda_http::http::Method;
use lambda_http::Request;
use minijinja::context;
use portal_core::reports::params::MAX_LIMIT;
use portal_core::reports::rows;
use portal_core::reports::ReportRow;
use serde::Serialize;
use serde_json::Value;

use super::layout::{self, Chrome};
use super::session::Session;
use super::{api_request, href, json_of};
use crate::http::{query_pairs, ApiError, ApiResult};
use crate::AppState;

/// A report as the portal lists it. `extra` = the filters it takes beyond
/// region / tier / owner (the API rejects any other, so the form offers
/// only these).
pub struct ReportInfo {
    pub name: &'static str,
    pub title: &'static str,
    pub about: &'static str,
    pub extra: &'static [&'static str],
    pub columns: &'static [&'static str],
    /// Takes the region / tier / owner filters (all but orphans).
    pub partner_filters: bool,
    pub admin_only: bool,
}

const fn info(
    name: &'static str,
    title: &'static str,
    about: &'static str,
    extra: &'static [&'static str],
    columns: &'static [&'static str],
) -> ReportInfo {
    ReportInfo {
        name,
        title,
        about,
        extra,
        columns,
        partner_filters: true,
        admin_only: false,
    }
}

pub const REPORT_PAGES: &[ReportInfo] = &[
    info(
        "overview",
        "Overview",
        "Totals over the partners shown.",
        &[],
        rows::OverviewRow::COLUMNS,
    ),
    info(
        "leaderboard",
        "Leaderboard",
        "Partners ranked by NPCU.",
        &[],
        rows::LeaderboardRow::COLUMNS,
    ),
    info(
        "gaps",
        "Tier gaps",
        "Partners below the NPCU their tier requires.",
        &[],
        rows::PartnerRow::COLUMNS,
    ),
    info(
        "user-certifications",
        "User certifications",
        "Every certification of every partner user.",
        &["status", "course", "category"],
        rows::UserCertRow::COLUMNS,
    ),
    info(
        "expiring",
        "Expiring",
        "Certifications expiring within the window.",
        &["days", "course", "category"],
        rows::ExpiringRow::COLUMNS,
    ),
    info(
        "owners",
        "Owner report",
        "Partners by partner manager, with their portal links.",
        &[],
        rows::OwnerRow::COLUMNS,
    ),
    info(
        "partners-without-groups",
        "Partners without groups",
        "Partners with no LMS group.",
        &[],
        rows::PartnerRow::COLUMNS,
    ),
    info(
        "contacts-not-in-lms",
        "Contacts not in the LMS",
        "CRM contacts with no LMS user.",
        &[],
        rows::ContactRow::COLUMNS,
    ),
    info(
        "tier-at-risk",
        "Tier at risk",
        "Partners meeting their tier now who drop below it within the window, nobody renewing.",
        &["days"],
        portal_core::reports::forecast::TierAtRiskRow::COLUMNS,
    ),
    info(
        "trends",
        "Trends",
        "New certifications, expirations and net NPCU per month or week, with the same period a year before.",
        &["by", "group", "periods", "course", "category"],
        portal_core::reports::trends::TrendRow::COLUMNS,
    ),
    info(
        "recent-certifications",
        "Recent certifications",
        "Certifications completed within the last days.",
        &["days", "course", "category"],
        portal_core::reports::trends::RecentCertRow::COLUMNS,
    ),
    info(
        "popular-courses",
        "Popular courses",
        "Certification courses by completions: enrolments, distinct users, partners and the NPCU they bring.",
        &["course", "category"],
        portal_core::reports::trends::PopularCourseRow::COLUMNS,
    ),
    info(
        "inactive-users",
        "Inactive users",
        "Partner users with no LMS activity within the last days.",
        &["days"],
        portal_core::reports::audit::InactiveUserRow::COLUMNS,
    ),
    info(
        "lms-users-not-in-crm",
        "LMS users not in the CRM",
        "Members of partner groups with no CRM contact.",
        &[],
        portal_core::reports::audit::LmsUserRow::COLUMNS,
    ),
    info(
        "group-audit",
        "Group audit",
        "Group members whose e-mail domain is none of the partner's, and users in more than one partner group.",
        &[],
        portal_core::reports::audit::GroupAuditRow::COLUMNS,
    ),
    info(
        "tracking",
        "Certification tracking",
        "People and their certifications, with the status staff set and its note.",
        &["status", "certification"],
        portal_core::reports::tracking::TrackingRow::COLUMNS,
    ),
    info(
        "recertifications",
        "Recertifications",
        "Holders enrolled in a recertification course before their certification expires, and whether they completed it.",
        &["outcome", "certification"],
        portal_core::reports::recert::RecertRow::COLUMNS,
    ),
    ReportInfo {
        partner_filters: false,
        admin_only: true,
        ..info(
            "orphans",
            "Orphaned users",
            "LMS users who belong to no partner.",
            &[],
            rows::OrphanRow::COLUMNS,
        )
    },
];

pub fn find(name: &str) -> Option<&'static ReportInfo> {
    REPORT_PAGES.iter().find(|r| r.name == name)
}

/// One page of a report's rows as the API answers it.
pub struct RowsPage {
    pub rows: Vec<Value>,
    pub total: u64,
    pub page: u64,
    pub limit: u64,
}

async fn fetch(
    state: &AppState,
    req: &Request,
    s: &Session,
    name: &str,
    pairs: &[(String, String)],
) -> Result<RowsPage, ApiError> {
    // Pages number their pages and show a total: offset paging, which
    // the row reports otherwise replace with cursors (crate::paged).
    let mut pairs = pairs.to_vec();
    if !pairs.iter().any(|(k, _)| k == "page") {
        pairs.push(("page".into(), "1".into()));
    }
    let inner = api_request(
        req,
        &s.grant,
        Method::GET,
        &href(&format!("/api/reports/{name}"), &pairs),
        None,
    )?;
    let v = json_of(&Box::pin(crate::routes::report(state, &inner, name)).await?)?;
    Ok(RowsPage {
        rows: v["data"].as_array().cloned().unwrap_or_default(),
        total: v["meta"]["total"].as_u64().unwrap_or(0),
        page: v["meta"]["page"].as_u64().unwrap_or(1),
        limit: v["meta"]["limit"].as_u64().unwrap_or(0),
    })
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// One page of report `name` as the session's grant.
pub async fn rows_page(
    state: &AppState,
    req: &Request,
    s: &Session,
    name: &str,
    pairs: &[(&str, &str)],
) -> Result<RowsPage, ApiError> {
    fetch(state, req, s, name, &owned(pairs)).await
}

/// Every row of report `name` (page after page of the largest size).
pub async fn all_rows(
    state: &AppState,
    req: &Request,
    s: &Session,
    name: &str,
    pairs: &[(&str, &str)],
) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for page in 1u32.. {
        let mut p = owned(pairs);
        p.push(("limit".into(), MAX_LIMIT.to_string()));
        p.push(("page".into(), page.to_string()));
        let got = fetch(state, req, s, name, &p).await?;
        let n = got.rows.len();
        out.extend(got.rows);
        if n == 0 || out.len() as u64 >= got.total {
            break;
        }
    }
    Ok(out)
}

pub fn index(s: &Session, chrome: &Chrome) -> ApiResult {
    #[derive(Serialize)]
    struct Item {
        name: &'static str,
        title: &'static str,
        about: &'static str,
    }
    let items: Vec<Item> = REPORT_PAGES
        .iter()
        .filter(|r| !r.admin_only || s.grant.is_admin())
        .map(|r| Item {
            name: r.name,
            title: r.title,
            about: r.about,
        })
        .collect();
    layout::ok(layout::render(
        "reports.html",
        Some(chrome),
        context! { reports => items },
    )?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn column_labels_read_as_words() {
        assert_eq!(super::label("required_npcu"), "Required NPCU");
        assert_eq!(super::label("partner_id"), "Partner ID");
        assert_eq!(super::label("lms_group_name"), "LMS group name");
    }
}

#[derive(Serialize)]
struct Header {
    column: &'static str,
    label: String,
    href: String,
    /// `ascending` / `descending` on the column the rows are sorted by.
    sorted: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Cell {
    text: String,
    href: Option<String>,
    copy: Option<String>,
}

#[derive(Serialize)]
struct Filter {
    name: &'static str,
    label: &'static str,
    value: String,
    options: &'static [&'static str],
}

/// A column's header: words capitalised, initialisms kept upper-case.
fn label(column: &str) -> String {
    let words: Vec<String> = column
        .split('_')
        .enumerate()
        .map(|(i, w)| match w {
            "npcu" | "id" | "lms" => w.to_uppercase(),
            _ if i == 0 => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
            _ => w.to_string(),
        })
        .collect();
    words.join(" ")
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::Bool(true) => "Yes".into(),
        Value::Bool(false) => "No".into(),
        Value::String(s) if s.is_empty() => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Partner names link to the partner page.
fn partner_link(column: &str, row: &Value) -> Option<String> {
    let id = match column {
        "name" | "partner_name" => row["partner_id"].as_str(),
        "suggested_partner_name" => row["suggested_partner_id"].as_str(),
        _ => None,
    }?;
    Some(format!(
        "/partners/{}",
        url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
    ))
}

const STATUSES: &[&str] = &[
    "",
    "enrolled",
    "in_progress",
    "active",
    "expiring",
    "expired",
    // Set by staff (issue 16).
    "applied",
    "declined",
    "inactive",
    "not_completed",
    "admin_review",
    "cancelled",
];

const BY: &[&str] = &["month", "week"];
const OUTCOMES: &[&str] = &["", "enrolled", "completed", "expired"];
const GROUPS: &[&str] = &["", "region", "tier", "owner", "category"];

pub async fn page(
    state: &AppState,
    req: &Request,
    s: &Session,
    chrome: &Chrome,
    name: &str,
) -> ApiResult {
    let Some(info) = find(name) else {
        return Err(ApiError::NotFound);
    };
    if info.admin_only && !s.grant.is_admin() {
        return Err(ApiError::NotFound);
    }
    // Blank fields of the filter form are dropped so the address stays
    // readable; the API treats them as absent anyway.
    let pairs: Vec<(String, String)> = query_pairs(req)
        .into_iter()
        .filter(|(k, v)| k != "token" && k != "format" && !v.trim().is_empty())
        .collect();
    let got = fetch(state, req, s, name, &pairs).await?;
    let value = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let sort = value("sort");
    let without = |drop: &[&str]| -> Vec<(String, String)> {
        pairs
            .iter()
            .filter(|(k, _)| !drop.contains(&k.as_str()))
            .cloned()
            .collect()
    };
    let path = format!("/reports/{name}");
    let headers: Vec<Header> = info
        .columns
        .iter()
        .map(|c| {
            let (sorted, next) = if sort == *c {
                (Some("ascending"), format!("-{c}"))
            } else if sort == format!("-{c}") {
                (Some("descending"), c.to_string())
            } else {
                (None, c.to_string())
            };
            let mut p = without(&["sort", "page"]);
            p.push(("sort".into(), next));
            Header {
                column: c,
                label: label(c),
                href: href(&path, &p),
                sorted,
            }
        })
        .collect();
    let rows: Vec<Vec<Cell>> = got
        .rows
        .iter()
        .map(|r| {
            info.columns
                .iter()
                .map(|c| {
                    let v = &r[*c];
                    let copy = (*c == "portal_link")
                        .then(|| v.as_str().map(str::to_string))
                        .flatten();
                    Cell {
                        text: text_of(v),
                        href: partner_link(c, r),
                        copy,
                    }
                })
                .collect()
        })
        .collect();
    let mut filters = Vec::new();
    if info.partner_filters {
        for (n, l) in [
            ("region", "Region"),
            ("tier", "Tier"),
            ("owner", "Owner (e-mail or name)"),
        ] {
            filters.push(Filter {
                name: n,
                label: l,
                value: value(n),
                options: &[],
            });
        }
    }
    for n in info.extra {
        let (l, options) = match *n {
            "status" => ("Status", STATUSES),
            "course" => ("Course (ID or name)", &[][..]),
            "certification" => ("Certification (ID or name)", &[][..]),
            "category" => ("Category", &[][..]),
            "days" if matches!(name, "recent-certifications" | "inactive-users") => {
                ("Days back", &[][..])
            }
            "days" => ("Days ahead", &[][..]),
            "by" => ("Period", BY),
            "group" => ("Group by", GROUPS),
            "periods" => ("Periods", &[][..]),
            "outcome" => ("Outcome", OUTCOMES),
            _ => continue,
        };
        filters.push(Filter {
            name: n,
            label: l,
            value: value(n),
            options,
        });
    }
    let export = |format: &str| {
        let mut p = without(&["page", "limit"]);
        p.push(("format".into(), format.into()));
        href(&format!("/api/reports/{name}"), &p)
    };
    let pages = if got.limit == 0 {
        1
    } else {
        got.total.div_ceil(got.limit).max(1)
    };
    let page_href = |n: u64| {
        let mut p = without(&["page"]);
        p.push(("page".into(), n.to_string()));
        href(&path, &p)
    };
    let html = layout::render(
        "report.html",
        Some(chrome),
        context! {
            name => name,
            title => info.title,
            about => info.about,
            filters => filters,
            q => value("q"),
            sort => sort,
            limit => value("limit"),
            headers => headers,
            rows => rows,
            total => got.total,
            page => got.page,
            pages => pages,
            prev => (got.page > 1).then(|| page_href(got.page - 1)),
            next => (got.page < pages).then(|| page_href(got.page + 1)),
            csv => export("csv"),
            xlsx => export("xlsx"),
            copy_all => name == "owners",
        },
    )?;
    layout::ok(html)
}
