//! CSV and XLSX encodings of report rows. Both use the row type's
//! declared columns as the header, so a download has the same columns in
//! the same order as the JSON fields.

use portal_core::reports::table::cell_text;
use portal_core::reports::ReportRow;
use serde_json::Value;

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

/// One worksheet named after the report: header row in bold, numbers as
/// numbers, booleans as booleans, text as text (never formulas — written
/// with `write_string`, so no injection there).
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
    for (c, col) in T::COLUMNS.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *col, &bold)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        let cells = r.cells();
        for (c, col) in T::COLUMNS.iter().enumerate() {
            let c = c as u16;
            match cells.get(*col) {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) => {
                    ws.write_number(row, c, n.as_f64().unwrap_or(0.0))?;
                }
                Some(Value::Bool(b)) => {
                    ws.write_boolean(row, c, *b)?;
                }
                Some(Value::String(s)) => {
                    ws.write_string(row, c, s)?;
                }
                Some(other) => {
                    ws.write_string(row, c, other.to_string())?;
                }
            }
        }
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(wb.save_to_buffer()?)
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
