//! CSV and XLSX encodings of report rows. Both have the row type's
//! declared columns in the same order as the JSON fields: the CSV header
//! is the field names (for scripts), the XLSX header readable titles
//! ([`column_title`]) for people, with an autofilter, a frozen header,
//! fitted widths and dates as real date cells.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use portal_core::reports::table::cell_text;
use portal_core::reports::{Format, ReportRow};
use rust_xlsxwriter::ExcelDateTime;
use serde_json::Value;

use crate::http::{self, ApiError, ApiResult};

/// Most characters an Excel cell holds; a longer string makes the whole
/// file invalid, so such text is cut (the CSV keeps all of it).
pub const XLSX_CELL_MAX: usize = 32_767;
/// Appended to a cut cell, so nobody mistakes it for the whole text.
pub const TRUNCATED_MARKER: &str = "… [truncated: the CSV export has the full text]";

/// Column widths (in characters) the sheet fits contents into.
const MIN_WIDTH: usize = 8;
const MAX_WIDTH: usize = 60;

/// `partner_name` → `Partner name`, `npcu` → `NPCU`: the header a person
/// reads in Excel.
pub fn column_title(col: &str) -> String {
    let words: Vec<String> = col
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| match w {
            "npcu" | "id" | "lms" | "crm" | "pam" | "url" => w.to_uppercase(),
            _ => w.to_string(),
        })
        .collect();
    let mut t = words.join(" ");
    if let Some(first) = t.get(0..1) {
        t = first.to_uppercase() + &t[1..];
    }
    t
}

/// `s` cut to fit one Excel cell, marker included; `s` itself when it fits.
pub fn fit_cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().count() <= XLSX_CELL_MAX {
        return s.into();
    }
    let keep = XLSX_CELL_MAX - TRUNCATED_MARKER.chars().count();
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(TRUNCATED_MARKER);
    out.into()
}

/// A date or instant as the report rows write them (`YYYY-MM-DD`, RFC
/// 3339): only exactly those shapes, so text that merely starts with digits
/// stays text.
fn as_date(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 10 || !(b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-') {
        return None;
    }
    if b.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn excel_datetime(t: DateTime<Utc>) -> Option<ExcelDateTime> {
    let year = u16::try_from(t.year()).ok()?;
    ExcelDateTime::from_ymd(year, t.month() as u8, t.day() as u8)
        .and_then(|d| {
            d.and_hms(
                t.hour() as u16,
                t.minute() as u8,
                f64::from(t.second()) + f64::from(t.timestamp_subsec_millis()) / 1000.0,
            )
        })
        .ok()
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("CSV encoding: {0}")]
    Csv(#[from] csv::Error),
    #[error("XLSX encoding: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("CSV buffer: {0}")]
    Buffer(String),
}

/// Protects spreadsheet users from formula injection: a cell starting with
/// `=`, `+`, `-` or `@` (e.g. a partner named `=HYPERLINK(...)`) would run as
/// a formula when the CSV is opened in Excel. A leading `'` makes it text.
/// Numbers are written without this (they are not user text).
fn defuse(s: String) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s
    }
}

pub fn to_csv<T: ReportRow>(rows: &[T]) -> Result<Vec<u8>, ExportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(T::COLUMNS)?;
    for r in rows {
        let cells = r.cells();
        w.write_record(T::COLUMNS.iter().map(|c| match cells.get(*c) {
            Some(Value::String(s)) => defuse(s.clone()),
            other => cell_text(other),
        }))?;
    }
    w.into_inner()
        .map_err(|e| ExportError::Buffer(e.to_string()))
}

/// One worksheet named after the report: readable titles in bold with an
/// autofilter and frozen, numbers as numbers, booleans as booleans, dates
/// and instants (UTC) as date cells, text as text — never formulas
/// (written with `write_string`, so no injection there) and cut to Excel's
/// cell limit ([`fit_cell`]).
pub fn to_xlsx<T: ReportRow>(sheet: &str, rows: &[T]) -> Result<Vec<u8>, ExportError> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    let name: String = sheet
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c))
        .take(31)
        .collect();
    ws.set_name(&name)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let day = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    let instant = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let mut widths: Vec<usize> = Vec::with_capacity(T::COLUMNS.len());
    for (c, col) in T::COLUMNS.iter().enumerate() {
        let title = column_title(col);
        widths.push(title.chars().count() + 3); // room for the filter button
        ws.write_string_with_format(0, c as u16, title, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        let cells = r.cells();
        for (c, col) in T::COLUMNS.iter().enumerate() {
            let (c, w) = (c as u16, &mut widths[c]);
            match cells.get(*col) {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) => {
                    ws.write_number(row, c, n.as_f64().unwrap_or(0.0))?;
                    *w = (*w).max(n.to_string().len());
                }
                Some(Value::Bool(b)) => {
                    ws.write_boolean(row, c, *b)?;
                    *w = (*w).max(5);
                }
                Some(Value::String(s)) => {
                    match as_date(s).and_then(|t| excel_datetime(t).map(|e| (t, e))) {
                        Some((t, e)) if t.time() == chrono::NaiveTime::MIN => {
                            ws.write_datetime_with_format(row, c, e, &day)?;
                            *w = (*w).max(10);
                        }
                        Some((_, e)) => {
                            ws.write_datetime_with_format(row, c, e, &instant)?;
                            *w = (*w).max(16);
                        }
                        None => {
                            let text = fit_cell(s);
                            *w = (*w).max(text.chars().count().min(MAX_WIDTH));
                            ws.write_string(row, c, text)?;
                        }
                    }
                }
                Some(other) => {
                    let text = other.to_string();
                    *w = (*w).max(text.chars().count().min(MAX_WIDTH));
                    ws.write_string(row, c, fit_cell(&text))?;
                }
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, (*w).clamp(MIN_WIDTH, MAX_WIDTH) as f64 + 1.0)?;
    }
    if !T::COLUMNS.is_empty() {
        ws.autofilter(0, 0, rows.len() as u32, T::COLUMNS.len() as u16 - 1)?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(wb.save_to_buffer()?)
}

/// Report rows as a CSV or XLSX download (`Json` is not a file: 400).
pub(crate) fn file_of<T: ReportRow>(name: &str, format: Format, rows: &[T]) -> ApiResult {
    match format {
        Format::Json => Err(ApiError::BadRequest("JSON is not a file format".into())),
        Format::Csv => {
            let bytes = to_csv(rows).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(http::file(
                "text/csv; charset=utf-8",
                &format!("{name}.csv"),
                bytes,
            ))
        }
        Format::Xlsx => {
            let bytes = to_xlsx(name, rows).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(http::file(
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &format!("{name}.xlsx"),
                bytes,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    struct R {
        name: String,
        n: u32,
        ok: bool,
        note: Option<String>,
    }
    impl ReportRow for R {
        const COLUMNS: &'static [&'static str] = &["name", "n", "ok", "note"];
    }

    #[test]
    fn csv_has_header_and_defuses_formulas() {
        let rows = [R {
            name: "=cmd()".into(),
            n: 3,
            ok: true,
            note: None,
        }];
        let s = String::from_utf8(to_csv(&rows).unwrap()).unwrap();
        assert_eq!(s, "name,n,ok,note\n'=cmd(),3,true,\n");
    }

    #[test]
    fn titles_are_readable_and_long_text_is_cut_with_a_marker() {
        assert_eq!(column_title("partner_name"), "Partner name");
        assert_eq!(column_title("required_npcu"), "Required NPCU");
        assert_eq!(column_title("lms_group_id"), "LMS group ID");
        let long = "x".repeat(40_000);
        let cut = fit_cell(&long);
        assert_eq!(cut.chars().count(), XLSX_CELL_MAX);
        assert!(cut.ends_with(TRUNCATED_MARKER));
        assert_eq!(fit_cell("short"), "short");
        assert!(as_date("2026-11-23").is_some());
        assert!(as_date("2026-11-23T10:00:00Z").is_some());
        assert!(as_date("2026-11-23 and more").is_none());
        assert!(as_date("Acme 2026").is_none());
    }

    #[test]
    fn xlsx_is_a_zip() {
        let rows = [R {
            name: "a".into(),
            n: 1,
            ok: false,
            note: Some("x".into()),
        }];
        let b = to_xlsx("leaderboard", &rows).unwrap();
        assert_eq!(&b[..2], b"PK");
    }
}
