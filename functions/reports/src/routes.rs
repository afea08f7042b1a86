//! Path → handler, and the report routes. Every report: authenticate,
//! parse parameters strictly (400 names the bad one), read summaries (never
//! enrollments), build rows with `portal_core::reports`, then filter, sort,
//! page and encode. The row reports page in DynamoDB by cursor unless
//! offset paging (`page`) or a `sort` is asked for (see [`crate::paged`]).

use crate::boxed::boxed;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use portal_core::access::Unsubscribe;
use portal_core::access::{current_link_version, partner_link_token, verify_unsubscribe, Grant};
use portal_core::model::PartnerSummary;
use portal_core::reports::forecast::TierAtRiskRow;
use portal_core::reports::params::{self, ReportSpec};
use portal_core::reports::rows::{self, CertFilter, Scored};
use portal_core::reports::table::{paginate, sort_rows};
use portal_core::reports::{Format, ReportQuery, ReportRow};
use portal_core::store::access::OptOut;

use crate::auth::{authenticate, require_admin, require_staff, TokenIn};
use crate::http::{self, query_pairs, secure, ApiError, ApiResult};
use crate::{admin, cert_rows, dashboards, export, paged, render, scope, AppState};

/// Handles one request. Never fails: every error becomes its HTTP answer
/// (the `Result` is what `lambda_http::service_fn` expects).
pub async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (label, result) = dispatch(state, &req, &method, &path).await;
    let resp = http::hsts(secure(result.unwrap_or_else(ApiError::into_response)), &req);
    // The route *pattern* is logged, never the path or query: both can hold
    // a token (`/p/{link}`, `?token=`).
    tracing::info!(
        method = %method,
        route = label,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    Ok(resp)
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

async fn dispatch(
    state: &AppState,
    req: &Request,
    method: &Method,
    path: &str,
) -> (&'static str, ApiResult) {
    let segs = segments(path);
    let get = method == Method::GET || method == Method::HEAD;
    // Every route, admin ones included: a repeated parameter is a 400.
    if let Err(e) = http::reject_duplicates(&query_pairs(req)) {
        return ("(parameters)", Err(e));
    }
    if let Some(page) = boxed(|| crate::web::dispatch(state, req, method, &segs)).await {
        return page;
    }
    match segs.as_slice() {
        ["health"] => (
            "/health",
            Ok(http::json(
                StatusCode::OK,
                &serde_json::json!({"status": "ok"}),
            )),
        ),
        ["p", link] if get => ("/p/{link}", boxed(|| partner_page(state, req, link)).await),
        ["p", link, file] if get => (
            "/p/{link}/{file}",
            boxed(|| partner_certifications_file(state, link, file)).await,
        ),
        ["unsubscribe", token] if get => (
            "/unsubscribe/{token}",
            boxed(|| unsubscribe_confirm(state, token)).await,
        ),
        ["unsubscribe", token] if method == Method::POST => (
            "/unsubscribe/{token}",
            boxed(|| unsubscribe(state, token)).await,
        ),
        ["unsubscribe", token, "resubscribe"] if method == Method::POST => (
            "/unsubscribe/{token}/resubscribe",
            boxed(|| resubscribe(state, token)).await,
        ),
        ["unsubscribe", ..] => ("(method)", Err(ApiError::MethodNotAllowed)),
        ["api", "reports", name] if get => {
            let label = report_label(name);
            let answer = match (boxed(|| report(state, req, name)).await, &state.offload) {
                (Ok(resp), Some(offload)) => boxed(|| offload.deliver(resp)).await,
                (other, _) => other,
            };
            (label, answer)
        }
        ["api", "partners", id] if get => (
            "/api/partners/{id}",
            boxed(|| partner_json(state, req, id)).await,
        ),
        ["api", "partners", id, "forecast"] if get => (
            "/api/partners/{id}/forecast",
            boxed(|| crate::forecast::partner_forecast(state, req, id)).await,
        ),
        ["api", "partners", id, "history"] if get => (
            "/api/partners/{id}/history",
            boxed(|| crate::history::partner_history_json(state, req, id)).await,
        ),
        ["api", "admin", "hooks"] if get => (
            "/api/admin/hooks",
            boxed(|| crate::hooks::status(state, req)).await,
        ),
        ["api", "admin", ..] => boxed(|| admin::dispatch(state, req, method, &segs[2..])).await,
        ["hooks", "northpass", secret] if method == Method::POST => (
            "/hooks/northpass/{secret}",
            boxed(|| crate::hooks::receive(state, req, secret)).await,
        ),
        ["p", _] | ["api", "reports", _] | ["api", "partners", _] => {
            ("(method)", Err(ApiError::MethodNotAllowed))
        }
        _ => ("(unknown)", Err(ApiError::NotFound)),
    }
}

pub(crate) const REPORTS: &[&str] = &[
    "overview",
    "leaderboard",
    "gaps",
    "user-certifications",
    "expiring",
    "owners",
    "partners-without-groups",
    "contacts-not-in-lms",
    "orphans",
    "tier-at-risk",
    "trends",
    "recent-certifications",
    "popular-courses",
    "inactive-users",
    "lms-users-not-in-crm",
    "group-audit",
    "tracking",
    "recertifications",
];

fn report_label(name: &str) -> &'static str {
    match name {
        "overview" => "/api/reports/overview",
        "leaderboard" => "/api/reports/leaderboard",
        "gaps" => "/api/reports/gaps",
        "user-certifications" => "/api/reports/user-certifications",
        "expiring" => "/api/reports/expiring",
        "owners" => "/api/reports/owners",
        "partners-without-groups" => "/api/reports/partners-without-groups",
        "contacts-not-in-lms" => "/api/reports/contacts-not-in-lms",
        "orphans" => "/api/reports/orphans",
        "tier-at-risk" => "/api/reports/tier-at-risk",
        "trends" => "/api/reports/trends",
        "recent-certifications" => "/api/reports/recent-certifications",
        "popular-courses" => "/api/reports/popular-courses",
        "inactive-users" => "/api/reports/inactive-users",
        "lms-users-not-in-crm" => "/api/reports/lms-users-not-in-crm",
        "group-audit" => "/api/reports/group-audit",
        "tracking" => "/api/reports/tracking",
        "recertifications" => "/api/reports/recertifications",
        _ => "/api/reports/(unknown)",
    }
}

fn spec<T: ReportRow>(extra: &'static [&'static str]) -> ReportSpec {
    ReportSpec {
        extra,
        columns: T::COLUMNS,
    }
}

/// Sorts, pages and encodes report rows. Exports carry every row unless
/// `page`/`limit` was given (a PAM exporting wants the whole list).
fn respond<T: ReportRow>(name: &str, rows: Vec<T>, q: &ReportQuery) -> ApiResult {
    let mut rows = match &q.search {
        Some(needle) => portal_core::reports::table::search_rows(rows, needle),
        None => rows,
    };
    sort_rows(&mut rows, &q.sort);
    let export_rows = |rows: Vec<T>| {
        if q.paged {
            paginate(rows, q.page, q.limit).data
        } else {
            rows
        }
    };
    match q.format {
        Format::Json => Ok(http::json(StatusCode::OK, &paginate(rows, q.page, q.limit))),
        format => export::file_of(name, format, &export_rows(rows)),
    }
}

/// Tracked partner summaries the caller may see and that pass the
/// `region`/`tier`/`owner` (and `partner`) filters, scored at now. One
/// paginated Query on the type index.
fn visible<'a>(
    state: &AppState,
    grant: &Grant,
    summaries: &'a [PartnerSummary],
    q: &ReportQuery,
) -> Vec<Scored<'a>> {
    let now = state.clock.now();
    rows::score(
        summaries.iter().filter(|s| scope::passes(grant, q, s)),
        now,
        state.warning_days,
        &state.tiers,
    )
}

pub(crate) async fn report(state: &AppState, req: &Request, name: &str) -> ApiResult {
    if !REPORTS.contains(&name) {
        return Err(ApiError::NotFound);
    }
    let pairs = query_pairs(req);
    let grant = authenticate(state, req, &pairs, TokenIn::HeaderOrQuery).await?;
    require_staff(&grant)?;
    if name == "orphans" {
        require_admin(&grant)?;
    }
    let now = state.clock.now();
    match name {
        "overview" => {
            let q = params::parse(&pairs, &spec::<rows::OverviewRow>(&[]))?;
            let summaries = state.store.all_summaries().await?;
            let scored = visible(state, &grant, &summaries, &q);
            respond(name, vec![rows::overview(&scored)], &q)
        }
        "leaderboard" => {
            let q = params::parse(&pairs, &spec::<rows::LeaderboardRow>(&[]))?;
            let summaries = state.store.all_summaries().await?;
            respond(
                name,
                rows::leaderboard(&visible(state, &grant, &summaries, &q)),
                &q,
            )
        }
        "gaps" => {
            let q = params::parse(&pairs, &spec::<rows::PartnerRow>(&[]))?;
            let summaries = state.store.all_summaries().await?;
            respond(
                name,
                rows::gaps(&visible(state, &grant, &summaries, &q)),
                &q,
            )
        }
        "partners-without-groups" => {
            let q = params::parse(&pairs, &spec::<rows::PartnerRow>(&[]))?;
            let summaries = state.store.all_summaries().await?;
            respond(
                name,
                rows::without_groups(&visible(state, &grant, &summaries, &q)),
                &q,
            )
        }
        "owners" => {
            let q = params::parse(&pairs, &spec::<rows::OwnerRow>(&[]))?;
            let summaries = state.store.all_summaries().await?;
            let scored = visible(state, &grant, &summaries, &q);
            // Links are derived, so listing them needs only each partner's
            // current version (one type-index Query over the token records).
            let (tokens, base) = match &state.link_key {
                Some(_) => (
                    state.store.all_tokens().await?,
                    http::base_url(state.public_base_url.as_deref(), req),
                ),
                None => (Vec::new(), String::new()),
            };
            let link = |pid: &str| {
                let key = state.link_key.as_ref()?;
                let v = current_link_version(&tokens, pid)?;
                Some(format!(
                    "{base}/p/{}",
                    partner_link_token(key.expose(), pid, v)
                ))
            };
            respond(name, rows::owners(&scored, link), &q)
        }
        "contacts-not-in-lms" => {
            let q = params::parse(&pairs, &spec::<rows::ContactRow>(&["partner", "cursor"]))?;
            if paged::cursor_mode(&q) {
                return paged::contacts_not_in_lms(state, &grant, name, &q).await;
            }
            let summaries = state.store.all_summaries().await?;
            let scored = visible(state, &grant, &summaries, &q);
            let contacts = state.store.all_contacts().await?;
            respond(name, rows::contacts_not_in_lms(&contacts, &scored), &q)
        }
        "expiring" => {
            let q = params::parse(
                &pairs,
                &spec::<rows::ExpiringRow>(&[
                    "days",
                    "course",
                    "certification",
                    "category",
                    "partner",
                    "cursor",
                ]),
            )?;
            if paged::cursor_mode(&q) {
                return paged::expiring(state, &grant, name, &q).await;
            }
            let days = q.days.unwrap_or(state.warning_days);
            let summaries = state.store.all_summaries().await?;
            let scored = visible(state, &grant, &summaries, &q);
            let by_id: HashMap<&str, &PartnerSummary> = scored
                .iter()
                .map(|s| (s.summary.partner_id.as_str(), s.summary))
                .collect();
            // The index range is half-open [from, to); one millisecond past
            // the window's end keeps the inclusive last instant.
            let certs = state
                .store
                .expiring_certs(
                    now,
                    now + chrono::Duration::days(i64::from(days))
                        + chrono::Duration::milliseconds(1),
                )
                .await?;
            let filter = CertFilter {
                status: None,
                course: q.course.as_deref(),
                category: q.category.as_deref(),
            };
            let rows = rows::expiring_rows(
                certs.iter().filter_map(|c| {
                    let s = by_id.get(c.partner_id.as_str())?;
                    filter
                        .matches(&c.row, c.row.status(now, state.warning_days))
                        .then_some((*s, &c.row))
                }),
                now,
                days,
            );
            respond(name, rows, &q)
        }
        "user-certifications" => {
            let q = params::parse(
                &pairs,
                &spec::<rows::UserCertRow>(&[
                    "status",
                    "course",
                    "certification",
                    "category",
                    "partner",
                    "cursor",
                ]),
            )?;
            if paged::cursor_mode(&q) {
                return paged::user_certifications(state, &grant, name, &q).await;
            }
            let summaries = state.store.all_summaries().await?;
            let scored = visible(state, &grant, &summaries, &q);
            let filter = CertFilter {
                status: q.status,
                course: q.course.as_deref(),
                category: q.category.as_deref(),
            };
            let ids: Vec<String> = scored
                .iter()
                .map(|s| s.summary.partner_id.clone())
                .collect();
            let certs = cert_rows::of_partners(state, ids, summaries.len()).await?;
            let per_partner = scored.iter().map(|s| {
                let c = certs
                    .get(&s.summary.partner_id)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                rows::user_cert_rows(s.summary, c, &filter, now, state.warning_days)
            });
            let mut out: Vec<rows::UserCertRow> = per_partner.into_iter().flatten().collect();
            rows::sort_user_certs(&mut out);
            respond(name, out, &q)
        }
        // Issue 16: people × certification with the ten statuses.
        "tracking" => {
            use portal_core::reports::tracking::{status_counts, tracking_rows, TrackingRow};
            let q = params::parse(
                &pairs,
                &spec::<TrackingRow>(&["status", "certification", "partner"]),
            )?;
            let summaries = state.store.all_summaries().await?;
            let scored = visible(state, &grant, &summaries, &q);
            let filter = CertFilter {
                status: None,
                course: q.course.as_deref(),
                category: None,
            };
            let ids: Vec<String> = scored
                .iter()
                .map(|s| s.summary.partner_id.clone())
                .collect();
            let certs = cert_rows::of_partners(state, ids, summaries.len()).await?;
            let mut all: Vec<TrackingRow> = scored
                .iter()
                .flat_map(|s| {
                    let c = certs
                        .get(&s.summary.partner_id)
                        .map(Vec::as_slice)
                        .unwrap_or(&[]);
                    tracking_rows(s.summary, c, &filter, now, state.warning_days)
                })
                .collect();
            if let Some(needle) = &q.search {
                all = portal_core::reports::table::search_rows(all, needle);
            }
            // The quick filter's counts are over every status (the other
            // filters applied), so picking one status still shows the rest.
            let counts = status_counts(&all);
            all.retain(|r| q.status.is_none_or(|s| s == r.status));
            if q.format != Format::Json {
                return respond(name, all, &q);
            }
            sort_rows(&mut all, &q.sort);
            let page = paginate(all, q.page, q.limit);
            let mut v =
                serde_json::to_value(&page).map_err(|e| ApiError::Internal(e.to_string()))?;
            v["status_counts"] = serde_json::json!(counts);
            Ok(http::json(StatusCode::OK, &v))
        }
        // Issue 16: recertification enrolments (`crate::recert`).
        "recertifications" => {
            let q = params::parse(
                &pairs,
                &spec::<crate::recert::Row>(crate::recert::EXTRA_PARAMS),
            )?;
            let summaries = state.store.all_summaries().await?;
            let scored = visible(state, &grant, &summaries, &q);
            respond(
                name,
                crate::recert::rows(state, &scored, &q, &pairs).await?,
                &q,
            )
        }
        "tier-at-risk" => {
            let q = params::parse(&pairs, &spec::<TierAtRiskRow>(&["days"]))?;
            let summaries = state.store.all_summaries().await?;
            let scored = visible(state, &grant, &summaries, &q);
            let rows = crate::forecast::tier_at_risk(state, &scored, &q).await?;
            respond(name, rows, &q)
        }
        "trends"
        | "recent-certifications"
        | "popular-courses"
        | "inactive-users"
        | "lms-users-not-in-crm"
        | "group-audit" => Box::pin(insight_report(state, &grant, &pairs, name)).await,
        "orphans" => {
            let q = params::parse(&pairs, &spec::<rows::OrphanRow>(&[]))?;
            for (p, given) in [
                ("region", q.region.is_some()),
                ("tier", q.tier.is_some()),
                ("owner", q.owner.is_some()),
            ] {
                if given {
                    return Err(params::ParamError::new(
                        p,
                        "orphans belong to no partner, so this filter does not apply",
                    )
                    .into());
                }
            }
            respond(name, orphan_rows(state).await?, &q)
        }
        _ => Err(ApiError::NotFound),
    }
}

/// The reports of issue 15's step 3 (`crate::trends`, `crate::audit`):
/// the usual filters, scope, sort, paging and exports.
async fn insight_report(
    state: &AppState,
    grant: &Grant,
    pairs: &[(String, String)],
    name: &str,
) -> ApiResult {
    use portal_core::reports::{audit, trends};
    let summaries = state.store.all_summaries().await?;
    let total = summaries.len();
    match name {
        "trends" => {
            let q = params::parse(
                pairs,
                &spec::<trends::TrendRow>(&["by", "group", "periods", "course", "category"]),
            )?;
            let t = trends::parse_trend(pairs)?;
            let scored = visible(state, grant, &summaries, &q);
            respond(
                name,
                crate::trends::trends(state, &scored, total, &q, &t).await?,
                &q,
            )
        }
        "recent-certifications" => {
            let q = params::parse(
                pairs,
                &spec::<trends::RecentCertRow>(&["days", "course", "category"]),
            )?;
            let scored = visible(state, grant, &summaries, &q);
            respond(
                name,
                crate::trends::recent(state, &scored, total, &q).await?,
                &q,
            )
        }
        "popular-courses" => {
            let q = params::parse(
                pairs,
                &spec::<trends::PopularCourseRow>(&["course", "category"]),
            )?;
            let scored = visible(state, grant, &summaries, &q);
            respond(
                name,
                crate::trends::popular(state, &scored, total, &q).await?,
                &q,
            )
        }
        "inactive-users" => {
            let q = params::parse(pairs, &spec::<audit::InactiveUserRow>(&["days"]))?;
            let scored = visible(state, grant, &summaries, &q);
            respond(
                name,
                crate::audit::inactive_users(state, &scored, &q).await?,
                &q,
            )
        }
        "lms-users-not-in-crm" => {
            let q = params::parse(pairs, &spec::<audit::LmsUserRow>(&[]))?;
            let scored = visible(state, grant, &summaries, &q);
            respond(
                name,
                crate::audit::lms_users_not_in_crm(state, &scored).await?,
                &q,
            )
        }
        _ => {
            let q = params::parse(pairs, &spec::<audit::GroupAuditRow>(&[]))?;
            let scored = visible(state, grant, &summaries, &q);
            respond(
                name,
                crate::audit::group_audit(state, grant, &scored).await?,
                &q,
            )
        }
    }
}

/// Orphans need the membership picture, which summaries do not hold:
/// users, partners, contacts and memberships, each a paginated Query on the
/// type index (a few dozen requests at ref). Admin-only and rare; it still
/// reads the whole set (see BENCHMARKS.md for its projection at 10x).
async fn orphan_rows(state: &AppState) -> Result<Vec<rows::OrphanRow>, ApiError> {
    let store = &state.store;
    let (users, partners, contacts) = futures::try_join!(
        store.all_users(),
        store.all_partners(),
        store.all_contacts()
    )?;
    let groups: BTreeSet<&str> = partners
        .iter()
        .filter(|p| p.tracked)
        .filter_map(|p| p.lms_group_id.as_deref())
        .collect();
    // Every membership in a few type-index pages (not one Query per
    // group: ~960 at ref), kept for the tracked partners' groups.
    let mut all = store.all_memberships().await?;
    if all.is_empty() && !groups.is_empty() {
        // Memberships written before they were in the type index (until
        // the next groups sync rewrites them): by group, as before.
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let lists: Vec<Vec<portal_core::model::Membership>> = futures::stream::iter(groups)
            .map(|g| {
                let store = store.clone();
                async move { store.group_members(&g).await }
            })
            .buffer_unordered(cert_rows::PARTITION_CONCURRENCY)
            .try_collect()
            .await?;
        all = lists.into_iter().flatten().collect();
    }
    let mut members: BTreeSet<String> = all
        .into_iter()
        .filter(|m| groups.contains(m.group_id.as_str()))
        .map(|m| m.user_id)
        .collect();
    // Users reached through an active contact of a tracked partner count
    // as members too (DESIGN: group ∪ contact e-mail).
    let tracked: BTreeSet<&str> = partners
        .iter()
        .filter(|p| p.tracked)
        .map(|p| p.id.as_str())
        .collect();
    let contact_emails: BTreeSet<String> = contacts
        .iter()
        .filter(|c| c.active && c.account_id.as_deref().is_some_and(|a| tracked.contains(a)))
        .map(|c| c.email.trim().to_lowercase())
        .collect();
    members.extend(
        users
            .iter()
            .filter(|u| contact_emails.contains(&u.email.trim().to_lowercase()))
            .map(|u| u.id.clone()),
    );
    Ok(rows::orphans(&users, &members, &partners, &contacts))
}

async fn partner_json(state: &AppState, req: &Request, id: &str) -> ApiResult {
    let pairs = query_pairs(req);
    let grant = authenticate(state, req, &pairs, TokenIn::HeaderOrQuery).await?;
    if let Some((k, _)) = pairs.iter().find(|(k, _)| k != "token" && k != "cursor") {
        return Err(params::ParamError::new(k, "unknown or not supported by this route").into());
    }
    let view = dashboards::load_page(state, &grant, id, dashboards::cursor_of(&pairs)).await?;
    Ok(http::json(StatusCode::OK, &view))
}

fn link_invalid() -> Response<Body> {
    http::html(
        StatusCode::NOT_FOUND,
        render::notice(
            "This link is not valid",
            "The dashboard link you opened is unknown or has been replaced. Please ask your partner manager for the current link.",
        ),
    )
}

/// `GET /p/{link}`: one GetItem (the link's hash) + one Query (the
/// partner's partition).
async fn partner_page(state: &AppState, req: &Request, link: &str) -> ApiResult {
    let rec = state.store.token_by_secret(link, state.clock.now()).await?;
    let Some(Grant::PartnerLink { partner_id }) = rec.as_ref().and_then(Grant::from_record) else {
        return Ok(link_invalid());
    };
    let grant = Grant::PartnerLink {
        partner_id: partner_id.clone(),
    };
    let pairs = query_pairs(req);
    match dashboards::load_page(state, &grant, &partner_id, dashboards::cursor_of(&pairs)).await {
        Ok(view) => {
            // Relative to `/p/{link}`: the partner's own export.
            let downloads = format!("{link}/certifications");
            // The chart's past from the stored history (one Query over its
            // months) when the page draws a chart at all.
            let today = view.generated_at.date_naive();
            let history = if view.next_cursor.is_none() && view.rows_shown >= view.rows_total {
                let from = today
                    .checked_sub_months(chrono::Months::new(
                        portal_core::reports::forecast::CHART_MONTHS_BACK,
                    ))
                    .unwrap_or(today);
                state.store.history(&partner_id, from, today).await?
            } else {
                Vec::new()
            };
            let page = render::dashboard_with(&view, Some(&downloads), &history)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(http::html(StatusCode::OK, page))
        }
        Err(ApiError::NotFound) => Ok(link_invalid()),
        Err(e) => Err(e),
    }
}

/// `GET /p/{link}/certifications.csv|.xlsx`: the partner's own
/// certification list (every line, the user certifications report's
/// columns). One GetItem (the link) + one Query (the partner's partition).
async fn partner_certifications_file(state: &AppState, link: &str, file: &str) -> ApiResult {
    let format = match file {
        "certifications.csv" => Format::Csv,
        "certifications.xlsx" => Format::Xlsx,
        _ => return Err(ApiError::NotFound),
    };
    let rec = state.store.token_by_secret(link, state.clock.now()).await?;
    let Some(Grant::PartnerLink { partner_id }) = rec.as_ref().and_then(Grant::from_record) else {
        return Ok(link_invalid());
    };
    let d = state.store.partner_dashboard(&partner_id).await?;
    let Some(summary) = d.summary.as_ref() else {
        return Ok(link_invalid());
    };
    let mut out = rows::user_cert_rows(
        summary,
        &d.certs,
        &CertFilter::default(),
        state.clock.now(),
        state.warning_days,
    );
    rows::sort_user_certs(&mut out);
    export::file_of("certifications", format, &out)
}

/// The verified token, or the page to answer instead (not configured,
/// forged, expired).
fn check_unsubscribe(state: &AppState, token: &str) -> Result<Unsubscribe, Box<Response<Body>>> {
    let Some(key) = &state.unsubscribe_key else {
        return Err(Box::new(http::html(
            StatusCode::SERVICE_UNAVAILABLE,
            render::notice(
                "Unsubscribe unavailable",
                "Unsubscribing is not configured. Please contact your partner manager.",
            ),
        )));
    };
    verify_unsubscribe(key.expose(), token, state.clock.now()).ok_or_else(|| {
        Box::new(http::html(
            StatusCode::NOT_FOUND,
            render::notice(
                "This link is not valid",
                "The unsubscribe link is incomplete, not valid or has expired. The latest reminder e-mail has a current one.",
            ),
        ))
    })
}

/// `GET|HEAD /unsubscribe/{token}`: a confirmation page, nothing changes —
/// mail scanners and link prefetchers open links without a person asking.
async fn unsubscribe_confirm(state: &AppState, token: &str) -> ApiResult {
    let u = match check_unsubscribe(state, token) {
        Ok(u) => u,
        Err(page) => return Ok(*page),
    };
    Ok(http::html(
        StatusCode::OK,
        render::unsubscribe_page(render::UnsubscribeStep::Confirm, &u.email, token),
    ))
}

/// `POST /unsubscribe/{token}`: records the opt-out (idempotent). Also the
/// RFC 8058 one-click POST a mail client sends from `List-Unsubscribe`.
async fn unsubscribe(state: &AppState, token: &str) -> ApiResult {
    let u = match check_unsubscribe(state, token) {
        Ok(u) => u,
        Err(page) => return Ok(*page),
    };
    state
        .store
        .put_optout(&OptOut {
            email: u.email.clone(),
            at: Some(state.clock.now()),
            reason: Some("unsubscribe link".into()),
        })
        .await?;
    tracing::info!("reminder opt-out recorded");
    Ok(http::html(
        StatusCode::OK,
        render::unsubscribe_page(render::UnsubscribeStep::Done, &u.email, token),
    ))
}

/// `POST /unsubscribe/{token}/resubscribe`: undoes the opt-out.
async fn resubscribe(state: &AppState, token: &str) -> ApiResult {
    let u = match check_unsubscribe(state, token) {
        Ok(u) => u,
        Err(page) => return Ok(*page),
    };
    state.store.remove_optout(&u.email).await?;
    tracing::info!("reminder opt-out withdrawn");
    Ok(http::html(
        StatusCode::OK,
        render::unsubscribe_page(render::UnsubscribeStep::Resubscribed, &u.email, token),
    ))
}
