//! Path → handler, and the report routes. Every report: authenticate,
//! parse parameters strictly (400 names the bad one), read summaries (never
//! enrollments), build rows with `portal_core::reports`, then filter, sort,
//! page and encode. The row reports page in DynamoDB by cursor unless
//! offset paging (`page`) or a `sort` is asked for (see [`crate::paged`]).

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
use portal_core::reports::{dashboard, Format, ReportQuery, ReportRow};
use portal_core::store::access::OptOut;

use crate::auth::{authenticate, require_admin, require_staff, TokenIn};
use crate::http::{self, query_pairs, secure, ApiError, ApiResult};
use crate::{admin, export, paged, render, AppState};

/// Partitions read at once for the user certifications report.
const PARTITION_CONCURRENCY: usize = 8;

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
    // Boxed: the page futures are large, and inlining them into every
    // API request's future overflows a worker's stack in debug builds.
    if let Some(page) = Box::pin(crate::web::dispatch(state, req, method, &segs)).await {
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
        ["p", link] if get => ("/p/{link}", partner_page(state, req, link).await),
        ["unsubscribe", token] if get => (
            "/unsubscribe/{token}",
            unsubscribe_confirm(state, token).await,
        ),
        ["unsubscribe", token] if method == Method::POST => {
            ("/unsubscribe/{token}", unsubscribe(state, token).await)
        }
        ["unsubscribe", token, "resubscribe"] if method == Method::POST => (
            "/unsubscribe/{token}/resubscribe",
            resubscribe(state, token).await,
        ),
        ["unsubscribe", ..] => ("(method)", Err(ApiError::MethodNotAllowed)),
        ["api", "reports", name] if get => {
            let label = report_label(name);
            let answer = match (report(state, req, name).await, &state.offload) {
                (Ok(resp), Some(offload)) => offload.deliver(resp).await,
                (other, _) => other,
            };
            (label, answer)
        }
        ["api", "partners", id] if get => {
            ("/api/partners/{id}", partner_json(state, req, id).await)
        }
        ["api", "partners", id, "forecast"] if get => (
            "/api/partners/{id}/forecast",
            crate::forecast::partner_forecast(state, req, id).await,
        ),
        ["api", "partners", id, "history"] if get => (
            "/api/partners/{id}/history",
            crate::history::partner_history_json(state, req, id).await,
        ),
        ["api", "admin", ..] => admin::dispatch(state, req, method, &segs[2..]).await,
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
    "tracking",
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
        "tracking" => "/api/reports/tracking",
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
        format => file_of(name, format, &export_rows(rows)),
    }
}

/// Report rows as a CSV or XLSX download (`Json` is not a file: 400).
pub(crate) fn file_of<T: ReportRow>(name: &str, format: Format, rows: &[T]) -> ApiResult {
    match format {
        Format::Json => Err(ApiError::BadRequest("JSON is not a file format".into())),
        Format::Csv => {
            let bytes = export::to_csv(rows).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(http::file(
                "text/csv; charset=utf-8",
                &format!("{name}.csv"),
                bytes,
            ))
        }
        Format::Xlsx => {
            let bytes =
                export::to_xlsx(name, rows).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(http::file(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &format!("{name}.xlsx"),
                bytes,
            ))
        }
    }
}

/// Whether the grant may see the partner of summary `s` and it passes the
/// `region`/`tier`/`owner` (and `partner`) filters.
pub(crate) fn passes(grant: &Grant, q: &ReportQuery, s: &PartnerSummary) -> bool {
    grant.can_see_partner(&s.partner_id, s.owner_email.as_deref())
        && q.matches_partner(
            s.region.as_deref(),
            s.tier.as_ref(),
            s.owner_email.as_deref(),
            s.owner_name.as_deref(),
        )
        && q.partner.as_deref().is_none_or(|p| p == s.partner_id)
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
        summaries.iter().filter(|s| passes(grant, q, s)),
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
            let certs = cert_rows_of(state, ids, summaries.len()).await?;
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
            let certs = cert_rows_of(state, ids, summaries.len()).await?;
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
        "tier-at-risk" => {
            let q = params::parse(&pairs, &spec::<TierAtRiskRow>(&["days"]))?;
            let summaries = state.store.all_summaries().await?;
            let scored = visible(state, &grant, &summaries, &q);
            let rows = crate::forecast::tier_at_risk(state, &scored, &q).await?;
            respond(name, rows, &q)
        }
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

/// Orphans need the membership picture, which summaries do not hold:
/// users, partners, contacts, and one Query per matched group. Admin-only
/// and rare, so the cost is acceptable.
/// Certification rows of the partners `ids`, by partner. Few partners: one
/// Query per partition, a few at a time (reads only their rows). Most of
/// the `total` partners (an admin's or a big PAM's report): one paginated
/// Query on the type index, ~1 MB a page, instead of hundreds of Queries —
/// the same items billed, far fewer round trips; rows of partners not in
/// `ids` are dropped here and never leave the function.
async fn cert_rows_of(
    state: &AppState,
    ids: Vec<String>,
    total: usize,
) -> Result<HashMap<String, Vec<portal_core::model::CertRow>>, ApiError> {
    if ids.len() > PARTITION_CONCURRENCY && ids.len() * 2 > total {
        let wanted: BTreeSet<String> = ids.into_iter().collect();
        let mut by_partner: HashMap<String, Vec<portal_core::model::CertRow>> = HashMap::new();
        for r in state.store.all_cert_rows().await? {
            if wanted.contains(&r.partner_id) {
                by_partner.entry(r.partner_id).or_default().push(r.row);
            }
        }
        return Ok(by_partner);
    }
    // Owned ids and a cloned store handle keep the futures free of
    // borrowed closure arguments (which would make them non-`Send`).
    futures::stream::iter(ids)
        .map(|id| {
            let store = state.store.clone();
            async move {
                let d = store.partner_dashboard(&id).await?;
                Ok::<_, ApiError>((id, d.certs))
            }
        })
        .buffer_unordered(PARTITION_CONCURRENCY)
        .try_collect()
        .await
}

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
    let groups: Vec<String> = groups.into_iter().map(str::to_string).collect();
    let member_lists: Vec<Vec<portal_core::model::Membership>> = futures::stream::iter(groups)
        .map(|g| {
            let store = store.clone();
            async move { store.group_members(&g).await }
        })
        .buffer_unordered(PARTITION_CONCURRENCY)
        .try_collect()
        .await?;
    let mut members: BTreeSet<String> = member_lists
        .into_iter()
        .flatten()
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

/// Certification lines a dashboard shows at once; `?cursor=` pages on, so
/// a partner of any size is read and rendered a page at a time.
pub const DASHBOARD_ROWS: usize = 500;

/// The `cursor` parameter of a dashboard address, if any.
pub(crate) fn dashboard_cursor(pairs: &[(String, String)]) -> Option<&str> {
    pairs
        .iter()
        .find(|(k, v)| k == "cursor" && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

/// Dashboard of `partner_id` if the grant may see it, with the page of
/// lines after `cursor` (`None`: the first); unknown and out-of-scope look
/// the same (404) *and cost the same*: a PAM's scope is checked on the
/// profile (one GetItem) before the partition is read, so an unknown id
/// and another owner's partner are one GetItem each and response time
/// tells nothing. A cursor that is not one of the partner's is a 400.
pub(crate) async fn load_dashboard_page(
    state: &AppState,
    grant: &Grant,
    partner_id: &str,
    cursor: Option<&str>,
) -> Result<dashboard::DashboardView, ApiError> {
    load_dashboard_lines(state, grant, partner_id, Lines::Page(cursor)).await
}

/// Dashboard of `partner_id` with every certification line, for what needs
/// each line's dates (the forecast and history APIs): one Query over the
/// partner's partition, paged by the store. Same access as
/// [`load_dashboard_page`].
pub(crate) async fn load_dashboard(
    state: &AppState,
    grant: &Grant,
    partner_id: &str,
) -> Result<dashboard::DashboardView, ApiError> {
    load_dashboard_lines(state, grant, partner_id, Lines::All).await
}

/// Which certification lines a dashboard read takes.
enum Lines<'a> {
    /// [`DASHBOARD_ROWS`] lines after the cursor (`None`: the first).
    Page(Option<&'a str>),
    All,
}

async fn load_dashboard_lines(
    state: &AppState,
    grant: &Grant,
    partner_id: &str,
    lines: Lines<'_>,
) -> Result<dashboard::DashboardView, ApiError> {
    match grant {
        // A partner link is checked before any read: it can only ever see
        // its own partner.
        Grant::PartnerLink { partner_id: own } if own != partner_id => {
            return Err(ApiError::NotFound)
        }
        Grant::Pam { .. } => {
            let owner = state
                .store
                .get_partner(partner_id)
                .await?
                .and_then(|p| p.owner_email);
            if !grant.can_see_partner(partner_id, owner.as_deref()) {
                return Err(ApiError::NotFound);
            }
        }
        _ => {}
    }
    let d = match lines {
        Lines::Page(cursor) => {
            state
                .store
                .partner_dashboard_page(partner_id, DASHBOARD_ROWS, cursor)
                .await
        }
        Lines::All => state.store.partner_dashboard(partner_id).await,
    }
    .map_err(|e| match e {
        portal_core::store::StoreError::Malformed(m) => {
            ApiError::from(params::ParamError::new("cursor", m))
        }
        other => other.into(),
    })?;
    let owner = d
        .profile
        .as_ref()
        .and_then(|p| p.owner_email.clone())
        .or_else(|| d.summary.as_ref().and_then(|s| s.owner_email.clone()));
    if !grant.can_see_partner(partner_id, owner.as_deref()) {
        return Err(ApiError::NotFound);
    }
    let mut view = dashboard::build(
        d.profile.as_ref(),
        d.summary.as_ref(),
        &d.certs,
        &d.org_certs,
        state.clock.now(),
        state.warning_days,
        &state.tiers,
    )
    .ok_or(ApiError::NotFound)?;
    view.next_cursor = d.next_cursor;
    Ok(view)
}

async fn partner_json(state: &AppState, req: &Request, id: &str) -> ApiResult {
    let pairs = query_pairs(req);
    let grant = authenticate(state, req, &pairs, TokenIn::HeaderOrQuery).await?;
    if let Some((k, _)) = pairs.iter().find(|(k, _)| k != "token" && k != "cursor") {
        return Err(params::ParamError::new(k, "unknown or not supported by this route").into());
    }
    let view = load_dashboard_page(state, &grant, id, dashboard_cursor(&pairs)).await?;
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
    match load_dashboard_page(state, &grant, &partner_id, dashboard_cursor(&pairs)).await {
        Ok(view) => {
            let page = render::dashboard(&view).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(http::html(StatusCode::OK, page))
        }
        Err(ApiError::NotFound) => Ok(link_invalid()),
        Err(e) => Err(e),
    }
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
