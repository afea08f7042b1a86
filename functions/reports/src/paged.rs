//! Row reports paged in DynamoDB: `user-certifications`, `expiring` and
//! `contacts-not-in-lms` answer a page of `limit` rows and a `next_cursor`
//! (opaque; see `portal_core::store::pages`), reading about as many items
//! as the page holds instead of the whole report.
//!
//! | report | Queries walked, in this order | partners of a page |
//! |---|---|---|
//! | `user-certifications` | admin, no partner filter: the type index `CERT` (partner, user, course order); otherwise each visible partner's partition (`CERT#` rows), in partner id order | by key, BatchGetItem of the page's summaries / the visible set |
//! | `expiring` | the expiry index, one Query per month of the window, soonest first | likewise |
//! | `contacts-not-in-lms` | the type index `CONTACT` (contact id order) | likewise |
//!
//! Filters: partner-level ones (`region`, `tier`, `owner`, `partner`, a
//! PAM's scope) choose the Queries or the partners: they need the set of
//! visible partners, which is one Query of the partner summaries (one item
//! a partner, not a row; `partner=` alone is one GetItem). Row-level
//! filters (`status`, `course`, `category`, `q`, and the contacts with an
//! LMS user or the rows of untracked partners, which are dropped) have no
//! index: they are a **bounded scan** — a page reads at most
//! [`SCAN_ITEMS`] items (without a row filter: twice `limit`, summaries
//! included) and [`MAX_QUERIES`] Queries, so a selective filter can answer
//! fewer than `limit` rows (even none) with a `next_cursor`; the client
//! follows it until `next_cursor` is null.
//!
//! Order is the walk's (the index order), not the offset paging's default
//! sort; `sort` or `page` ask for offset paging, which sorts the whole set
//! (what the web pages use; their pages and exports read everything).

use std::collections::{BTreeMap, HashMap};

use lambda_http::http::StatusCode;
use portal_core::access::{token_hash, Grant};
use portal_core::model::{Contact, PartnerSummary};
use portal_core::reports::rows::{self, CertFilter};
use portal_core::reports::table::search_rows;
use portal_core::reports::{Format, ParamError, ReportQuery, ReportRow};
use portal_core::store::entities::partner_cert_row;
use portal_core::store::keys::{self, entity};
use portal_core::store::pages::{
    decode_cursor, encode_cursor, item_as, CursorError, Position, Walk,
};
use portal_core::store::{expiry_specs, schema, Item, ItemKey, QuerySpec, SkCondition};
use serde::Serialize;

use crate::http::{self, ApiError, ApiResult};
use crate::AppState;

/// Items one page with a row filter reads at most (≈ 1 MB of rows, one
/// full Query page); without one, a page reads at most twice its `limit`
/// (its rows, plus a summary for each partner on it, or the rows of
/// untracked partners it skips).
pub const SCAN_ITEMS: usize = 2_000;
/// Queries one page sends at most (a walk over partner partitions meets
/// partners without rows).
pub const MAX_QUERIES: u64 = 50;

/// Whether a request of a cursor-paged report pages by cursor: not when it
/// asks for offset paging (`page`) or a sort, nor for an export of the
/// whole report (CSV/XLSX without `limit` or `cursor`).
pub fn cursor_mode(q: &ReportQuery) -> bool {
    !q.offset && q.sort.is_empty() && (q.format == Format::Json || q.paged || q.cursor.is_some())
}

/// The JSON answer of a cursor page.
#[derive(Debug, Serialize)]
struct CursorPage<T> {
    data: Vec<T>,
    /// Pass back as `cursor` for the next page; `null` after the last.
    next_cursor: Option<String>,
    meta: CursorMeta,
}

#[derive(Debug, Serialize)]
struct CursorMeta {
    limit: u32,
    paging: &'static str,
}

fn cursor_error(e: CursorError) -> ApiError {
    ParamError::new("cursor", e.to_string()).into()
}

/// Fingerprint of a report and the filters that decide its rows: a cursor
/// issued for one query is refused by another instead of resuming it at a
/// position that means something else.
fn fingerprint(name: &str, q: &ReportQuery) -> String {
    let parts = [
        name.to_string(),
        q.region.clone().unwrap_or_default(),
        q.tier
            .as_ref()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        q.owner.clone().unwrap_or_default(),
        q.status.map(|s| s.to_string()).unwrap_or_default(),
        q.course.clone().unwrap_or_default(),
        q.category.clone().unwrap_or_default(),
        q.partner.clone().unwrap_or_default(),
        q.search.clone().unwrap_or_default(),
        q.days.map(|d| d.to_string()).unwrap_or_default(),
    ];
    token_hash(&parts.join("\u{1f}"))[..16].to_string()
}

/// The partners a page may show.
enum Partners {
    /// Every tracked partner (an admin without partner filters): the
    /// summaries of each chunk's partners are read by key, once each.
    All(HashMap<String, Option<PartnerSummary>>),
    /// Exactly these: visible, tracked, passing the partner filters.
    Only(BTreeMap<String, PartnerSummary>),
}

impl Partners {
    async fn of(state: &AppState, grant: &Grant, q: &ReportQuery) -> Result<Partners, ApiError> {
        let unfiltered =
            q.region.is_none() && q.tier.is_none() && q.owner.is_none() && q.partner.is_none();
        if grant.is_admin() && unfiltered {
            return Ok(Partners::All(HashMap::new()));
        }
        let summaries = match &q.partner {
            Some(p) => state.store.get_summary(p).await?.into_iter().collect(),
            None => state.store.all_summaries().await?,
        };
        Ok(Partners::Only(
            summaries
                .into_iter()
                .filter(|s| s.tracked && crate::scope::passes(grant, q, s))
                .map(|s| (s.partner_id.clone(), s))
                .collect(),
        ))
    }

    /// Reads the summaries of `ids` not looked up yet (All only); returns
    /// how many keys it asked for.
    async fn load(&mut self, state: &AppState, ids: Vec<String>) -> Result<usize, ApiError> {
        let Partners::All(known) = self else {
            return Ok(0);
        };
        let mut missing: Vec<String> = ids.into_iter().filter(|i| !known.contains_key(i)).collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(0);
        }
        let keys: Vec<ItemKey> = missing
            .iter()
            .map(|id| ItemKey::new(keys::partner_pk(id), keys::SUMMARY))
            .collect();
        let mut found = state.store.get_items_as::<PartnerSummary>(&keys).await?;
        for (id, key) in missing.into_iter().zip(keys.iter()) {
            let s = found.remove(key).filter(|s| s.tracked);
            known.insert(id, s);
        }
        Ok(keys.len())
    }

    /// Whether rows' partners are read by key as the walk meets them.
    fn looks_up(&self) -> bool {
        matches!(self, Partners::All(_))
    }

    fn get(&self, id: &str) -> Option<&PartnerSummary> {
        match self {
            Partners::All(m) => m.get(id).and_then(Option::as_ref),
            Partners::Only(m) => m.get(id),
        }
    }
}

/// The partner id of a CERT item (its `PK`).
fn cert_partner(item: &Item) -> Option<String> {
    item.get(schema::PK)?
        .as_s()
        .ok()?
        .strip_prefix("PARTNER#")
        .map(str::to_string)
}

/// The partner id of a CONTACT item (its CRM account).
fn contact_partner(item: &Item) -> Option<String> {
    item.get("account_id")?.as_s().ok().cloned()
}

/// A row that passes the free-text search (`q`), if one was given.
fn searched<T: ReportRow>(row: T, q: &ReportQuery) -> Option<T> {
    match &q.search {
        Some(needle) => search_rows(vec![row], needle).pop(),
        None => Some(row),
    }
}

/// Where a page starts: the request's cursor, decoded and checked against
/// the query's fingerprint before anything is read.
struct Start {
    name: String,
    scope: String,
    pos: Option<Position>,
}

/// What a page walks: the Queries in order, whether rows are filtered
/// beyond their partner, and where an item's partner id is.
struct Source {
    specs: Vec<QuerySpec>,
    row_filtered: bool,
    partner_of: fn(&Item) -> Option<String>,
}

fn start(name: &str, q: &ReportQuery) -> Result<Start, ApiError> {
    let scope = fingerprint(name, q);
    let pos = match &q.cursor {
        Some(c) => Some(decode_cursor(c, &scope).map_err(cursor_error)?),
        None => None,
    };
    Ok(Start {
        name: name.to_string(),
        scope,
        pos,
    })
}

/// Walks `specs` from the request's cursor until `limit` rows are built
/// or the page's read bound is reached; `build` makes (or drops) the row
/// of one item with its partner's summary.
async fn walk_page<T, F>(
    state: &AppState,
    q: &ReportQuery,
    start: Start,
    partners: &mut Partners,
    source: Source,
    mut build: F,
) -> Result<(Vec<T>, Option<String>), ApiError>
where
    F: FnMut(Item, &PartnerSummary) -> Result<Option<T>, ApiError>,
{
    let Start { name, scope, pos } = start;
    let Source {
        specs,
        row_filtered,
        partner_of,
    } = source;
    let mut walk = match &pos {
        Some(pos) => Walk::resume(specs, pos).map_err(cursor_error)?,
        None => Walk::new(specs),
    };
    let limit = q.limit as usize;
    // Items (rows and partner summaries) the page may read.
    let budget = if row_filtered {
        SCAN_ITEMS.max(2 * limit)
    } else {
        2 * limit
    };
    let mut looked_up = 0usize;
    let mut rows = Vec::new();
    let next = loop {
        if walk.done() {
            break None;
        }
        let read = walk.items_read as usize + looked_up;
        if read >= budget || walk.requests >= MAX_QUERIES {
            break walk.position();
        }
        let want = limit - rows.len();
        // Without a row filter every item of a tracked partner is a row:
        // read what the page lacks. With one, read ahead in bigger chunks.
        // Where each chunk's partners are looked up by key, a chunk of n
        // rows may cost up to n more items (one summary each): keep both
        // inside the budget.
        let room = if partners.looks_up() {
            (budget - read) / 2
        } else {
            budget - read
        };
        if room == 0 {
            break walk.position();
        }
        let n = if row_filtered {
            want.saturating_mul(4).max(100)
        } else {
            want
        }
        .min(room);
        let Some(chunk) = walk.next_chunk(&state.store, n).await? else {
            break None;
        };
        looked_up += partners
            .load(state, chunk.iter().filter_map(partner_of).collect())
            .await?;
        let mut full_at = None;
        for (i, item) in chunk.iter().enumerate() {
            let Some(s) = partner_of(item).and_then(|p| partners.get(&p)) else {
                continue;
            };
            if let Some(row) = build(item.clone(), s)? {
                rows.push(row);
                if rows.len() == limit {
                    full_at = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = full_at {
            break walk.position_after(&chunk[i])?;
        }
    };
    tracing::debug!(
        report = name.as_str(),
        rows = rows.len(),
        items_read = walk.items_read,
        queries = walk.requests,
        "cursor page"
    );
    Ok((rows, next.map(|p| encode_cursor(&scope, &p))))
}

/// Encodes a cursor page: JSON with `next_cursor`, or the page as a file
/// with the cursor in `X-Next-Cursor`.
fn respond<T: ReportRow>(
    name: &str,
    q: &ReportQuery,
    rows: Vec<T>,
    next_cursor: Option<String>,
) -> ApiResult {
    match q.format {
        Format::Json => Ok(http::json(
            StatusCode::OK,
            &CursorPage {
                data: rows,
                next_cursor,
                meta: CursorMeta {
                    limit: q.limit,
                    paging: "cursor",
                },
            },
        )),
        format => {
            let mut resp = crate::export::file_of(name, format, &rows)?;
            if let Some(c) = next_cursor {
                if let Ok(v) = c.parse() {
                    resp.headers_mut().insert("x-next-cursor", v);
                }
            }
            Ok(resp)
        }
    }
}

/// `user-certifications` by cursor.
pub async fn user_certifications(
    state: &AppState,
    grant: &Grant,
    name: &str,
    q: &ReportQuery,
) -> ApiResult {
    let now = state.clock.now();
    let start = start(name, q)?;
    let mut partners = Partners::of(state, grant, q).await?;
    let specs = match &partners {
        Partners::All(_) => vec![QuerySpec::partition(entity::CERT).index(schema::GSI1)],
        Partners::Only(m) => m
            .keys()
            .map(|id| {
                QuerySpec::partition(keys::partner_pk(id))
                    .sk(SkCondition::BeginsWith(keys::CERT_PREFIX.to_string()))
            })
            .collect(),
    };
    let filter = CertFilter {
        status: q.status,
        course: q.course.as_deref(),
        category: q.category.as_deref(),
    };
    let row_filtered =
        q.status.is_some() || q.course.is_some() || q.category.is_some() || q.search.is_some();
    let source = Source {
        specs,
        row_filtered,
        partner_of: cert_partner,
    };
    let (rows, next) = walk_page(state, q, start, &mut partners, source, |item, s| {
        let c = partner_cert_row(item)?;
        let row = rows::user_cert_rows(
            s,
            std::slice::from_ref(&c.row),
            &filter,
            now,
            state.warning_days,
        )
        .pop();
        Ok(row.and_then(|r| searched(r, q)))
    })
    .await?;
    respond(name, q, rows, next)
}

/// `expiring` by cursor: certifications expiring in `(now, now + days]`.
pub async fn expiring(state: &AppState, grant: &Grant, name: &str, q: &ReportQuery) -> ApiResult {
    let now = state.clock.now();
    let days = q.days.unwrap_or(state.warning_days);
    let start = start(name, q)?;
    let mut partners = Partners::of(state, grant, q).await?;
    // The index range is half-open [from, to); one millisecond past the
    // window's end keeps the inclusive last instant.
    let to = now + chrono::Duration::days(i64::from(days)) + chrono::Duration::milliseconds(1);
    let specs = expiry_specs(now, to);
    let filter = CertFilter {
        status: None,
        course: q.course.as_deref(),
        category: q.category.as_deref(),
    };
    let row_filtered = matches!(partners, Partners::Only(_))
        || q.course.is_some()
        || q.category.is_some()
        || q.search.is_some();
    let source = Source {
        specs,
        row_filtered,
        partner_of: cert_partner,
    };
    let (rows, next) = walk_page(state, q, start, &mut partners, source, |item, s| {
        let c = partner_cert_row(item)?;
        if !filter.matches(&c.row, c.row.status(now, state.warning_days)) {
            return Ok(None);
        }
        let row = rows::expiring_rows([(s, &c.row)], now, days).pop();
        Ok(row.and_then(|r| searched(r, q)))
    })
    .await?;
    respond(name, q, rows, next)
}

/// `contacts-not-in-lms` by cursor: active contacts of visible tracked
/// partners without an LMS user.
pub async fn contacts_not_in_lms(
    state: &AppState,
    grant: &Grant,
    name: &str,
    q: &ReportQuery,
) -> ApiResult {
    let now = state.clock.now();
    let start = start(name, q)?;
    let mut partners = Partners::of(state, grant, q).await?;
    let specs = vec![QuerySpec::partition(entity::CONTACT).index(schema::GSI1)];
    let source = Source {
        specs,
        row_filtered: true,
        partner_of: contact_partner,
    };
    let (rows, next) = walk_page(state, q, start, &mut partners, source, |item, s| {
        let c: Contact = item_as(item)?;
        let scored = rows::score([s], now, state.warning_days, &state.tiers);
        let row = rows::contacts_not_in_lms(std::slice::from_ref(&c), &scored).pop();
        Ok(row.and_then(|r| searched(r, q)))
    })
    .await?;
    respond(name, q, rows, next)
}
