//! Query parameters of the report routes. Parsing is strict: an unknown
//! parameter, a bad value or a parameter the report does not support is an
//! error naming the parameter (the HTTP layer answers 400 with it), because
//! a silently ignored typo (`?teir=Premier`) would show wrong numbers.

use crate::model::{CertStatus, Tier};

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest accepted `limit`.
pub const MAX_LIMIT: u32 = 1000;
/// Largest accepted `days` (ten years is already far past any validity).
pub const MAX_DAYS: u32 = 3650;

/// Parameters every report accepts. `token` is the credential (handled
/// by the auth layer) and is allowed here so it is not reported unknown.
const COMMON: &[&str] = &[
    "region", "tier", "owner", "sort", "page", "limit", "format", "token", "q",
];

/// A bad parameter: `param` is the offending name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter '{param}': {message}")]
pub struct ParamError {
    pub param: String,
    pub message: String,
}

impl ParamError {
    pub fn new(param: &str, message: impl Into<String>) -> Self {
        ParamError {
            param: param.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Json,
    Csv,
    Xlsx,
}

/// One `sort` key: a column, ascending unless written `-column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

/// Parsed parameters of one report request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportQuery {
    /// Case-insensitive exact match on the partner's region.
    pub region: Option<String>,
    pub tier: Option<Tier>,
    /// PAM e-mail or name, case-insensitive exact match.
    pub owner: Option<String>,
    pub status: Option<CertStatus>,
    pub sort: Vec<SortKey>,
    /// 1-based.
    pub page: u32,
    pub limit: u32,
    /// `page` or `limit` was given: exports then export that page only,
    /// otherwise every row.
    pub paged: bool,
    pub format: Format,
    pub days: Option<u32>,
    /// Course id or course name (case-insensitive exact).
    pub course: Option<String>,
    /// Product category (case-insensitive exact).
    pub category: Option<String>,
    /// Partner id.
    pub partner: Option<String>,
    /// Free text (`q`): rows whose partner / user name or e-mail contains
    /// it, case-insensitively (see `table::search_rows`).
    pub search: Option<String>,
    /// `page` was given: offset paging (reports that page by cursor then
    /// read the whole set, as every report did before cursors).
    pub offset: bool,
    /// Opaque `cursor` of a report paged in DynamoDB (its `next_cursor`);
    /// accepted only by the reports that list it in their extras.
    pub cursor: Option<String>,
}

/// What a report accepts beyond [`COMMON`], and its columns (for `sort`).
#[derive(Debug, Clone, Copy)]
pub struct ReportSpec {
    pub extra: &'static [&'static str],
    pub columns: &'static [&'static str],
}

fn parse_u32(name: &str, v: &str, min: u32, max: u32) -> Result<u32, ParamError> {
    let n: u32 = v
        .parse()
        .map_err(|_| ParamError::new(name, format!("'{v}' is not a whole number")))?;
    if n < min || n > max {
        return Err(ParamError::new(
            name,
            format!("{n} is out of range {min}..={max}"),
        ));
    }
    Ok(n)
}

/// Parses decoded `(name, value)` pairs for a report described by `spec`.
/// Blank values count as absent (HTML forms send `?region=`).
pub fn parse(pairs: &[(String, String)], spec: &ReportSpec) -> Result<ReportQuery, ParamError> {
    let mut q = ReportQuery {
        page: 1,
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in pairs {
        let name = name.as_str();
        if !COMMON.contains(&name) && !spec.extra.contains(&name) {
            return Err(ParamError::new(
                name,
                "unknown or not supported by this report",
            ));
        }
        if seen.contains(&name) {
            return Err(ParamError::new(name, "given more than once"));
        }
        seen.push(name);
        let v = value.trim();
        if v.is_empty() {
            continue;
        }
        match name {
            "region" => q.region = Some(v.to_string()),
            // Any tier text: tiers are the CRM's data, so a tier no partner
            // has is an empty result, not an error. (`v` is not blank here.)
            "tier" => q.tier = Tier::parse(v),
            "owner" => q.owner = Some(v.to_string()),
            "status" => {
                q.status = Some(v.parse().map_err(|_| {
                    ParamError::new(
                        "status",
                        format!(
                            "unknown status '{v}' (expected one of {})",
                            CertStatus::ALL.map(CertStatus::as_str).join(", ")
                        ),
                    )
                })?)
            }
            "sort" => q.sort = parse_sort(v, spec.columns)?,
            "page" => {
                q.page = parse_u32("page", v, 1, u32::MAX)?;
                q.paged = true;
                q.offset = true;
            }
            "limit" => {
                q.limit = parse_u32("limit", v, 1, MAX_LIMIT)?;
                q.paged = true;
            }
            "format" => {
                q.format = match v.to_ascii_lowercase().as_str() {
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    "xlsx" => Format::Xlsx,
                    _ => {
                        return Err(ParamError::new(
                            "format",
                            format!("unknown format '{v}' (expected json, csv or xlsx)"),
                        ))
                    }
                }
            }
            "days" => q.days = Some(parse_u32("days", v, 0, MAX_DAYS)?),
            // `certification` (issue 16) names a certification definition
            // (its id or name) or a one-course certification: the rows of
            // a definition carry its id as their course id, so it is the
            // course filter under the program's word.
            "course" | "certification" => {
                if q.course.is_some() {
                    return Err(ParamError::new(
                        name,
                        "give either 'course' or 'certification', not both",
                    ));
                }
                q.course = Some(v.to_string())
            }
            "category" => q.category = Some(v.to_string()),
            "partner" => q.partner = Some(v.to_string()),
            "q" => q.search = Some(v.to_string()),
            "cursor" => q.cursor = Some(v.to_string()),
            // `token` and any extra the spec allows but this parser does not
            // interpret are left to the caller.
            _ => {}
        }
    }
    if q.cursor.is_some() {
        // A cursor walks the index order from where the last page ended;
        // an offset or a sort would silently mean something else.
        if q.offset {
            return Err(ParamError::new(
                "cursor",
                "cannot be combined with page (use one: cursor paging or page numbers)",
            ));
        }
        if !q.sort.is_empty() {
            return Err(ParamError::new(
                "cursor",
                "cannot be combined with sort (cursor pages keep the report's index order; sorted reports page by page number)",
            ));
        }
    }
    Ok(q)
}

fn parse_sort(v: &str, columns: &[&str]) -> Result<Vec<SortKey>, ParamError> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (field, descending) = match s.strip_prefix('-') {
                Some(f) => (f, true),
                None => (s.strip_prefix('+').unwrap_or(s), false),
            };
            if columns.contains(&field) {
                Ok(SortKey {
                    field: field.to_string(),
                    descending,
                })
            } else {
                Err(ParamError::new(
                    "sort",
                    format!("unknown field '{field}' (sortable: {})", columns.join(", ")),
                ))
            }
        })
        .collect()
}

impl ReportQuery {
    /// Whether a partner passes the `region`, `tier` and `owner` filters.
    pub fn matches_partner(
        &self,
        region: Option<&str>,
        tier: Option<&Tier>,
        owner_email: Option<&str>,
        owner_name: Option<&str>,
    ) -> bool {
        let eq = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        self.region
            .as_deref()
            .is_none_or(|r| region.is_some_and(|x| eq(x, r)))
            && self.tier.as_ref().is_none_or(|t| tier == Some(t))
            && self.owner.as_deref().is_none_or(|o| {
                owner_email.is_some_and(|x| eq(x, o)) || owner_name.is_some_and(|x| eq(x, o))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: ReportSpec = ReportSpec {
        extra: &["days"],
        columns: &["name", "npcu"],
    };

    fn p(pairs: &[(&str, &str)]) -> Result<ReportQuery, ParamError> {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        parse(&v, &SPEC)
    }

    #[test]
    fn defaults() {
        let q = p(&[]).unwrap();
        assert_eq!((q.page, q.limit, q.paged), (1, 100, false));
        assert_eq!(q.format, Format::Json);
    }

    #[test]
    fn every_bad_parameter_names_itself() {
        for (pairs, name) in [
            (vec![("limit", "1001")], "limit"),
            (vec![("limit", "0")], "limit"),
            (vec![("page", "x")], "page"),
            (vec![("format", "pdf")], "format"),
            (vec![("sort", "-bogus")], "sort"),
            (vec![("days", "-1")], "days"),
            (vec![("status", "active")], "status"), // not in this spec
            (vec![("teir", "Premier")], "teir"),
            (vec![("region", "a"), ("region", "b")], "region"),
        ] {
            let e = p(&pairs).unwrap_err();
            assert_eq!(e.param, name, "{pairs:?}");
            assert!(e.to_string().contains(name));
        }
    }

    #[test]
    fn sort_keys_and_filters() {
        let q = p(&[
            ("sort", "-npcu,name"),
            ("tier", "premier"),
            ("owner", "PAM@x.com"),
            ("limit", "5"),
            ("days", "30"),
            ("region", ""),
        ])
        .unwrap();
        assert_eq!(
            q.sort,
            vec![
                SortKey {
                    field: "npcu".into(),
                    descending: true
                },
                SortKey {
                    field: "name".into(),
                    descending: false
                }
            ]
        );
        assert_eq!(q.days, Some(30));
        assert!(q.paged);
        assert_eq!(q.region, None);
        assert!(q.matches_partner(Some("EMEA"), Some(&Tier::Premier), Some("pam@x.com"), None));
        assert!(!q.matches_partner(Some("EMEA"), Some(&Tier::Select), Some("pam@x.com"), None));
        assert!(!q.matches_partner(None, Some(&Tier::Premier), None, Some("Someone")));
    }

    #[test]
    fn tier_filter_takes_any_tier_text() {
        let q = p(&[("tier", " Premier Plus ")]).unwrap();
        assert_eq!(q.tier.as_ref().map(Tier::as_str), Some("Premier Plus"));
        let plus = Tier::parse("premier plus").unwrap();
        assert!(q.matches_partner(None, Some(&plus), None, None));
        assert!(!q.matches_partner(None, Some(&Tier::Premier), None, None));
        assert!(!q.matches_partner(None, None, None, None));
        let q = p(&[("tier", "Gold")]).unwrap();
        assert!(!q.matches_partner(None, Some(&Tier::Premier), None, None));
    }
}
