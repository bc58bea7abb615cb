//! The report as CSV: UTF-8 with a byte-order mark so Excel shows Vietnamese, one line per
//! unit and metric, numbers in plain `.`-decimal notation, and no text a spreadsheet would
//! run as a formula (OWASP's CSV injection advice: a text cell that starts with `=`, `+`,
//! `-`, `@`, a tab or a carriage return gets a leading `'`).

use std::borrow::Cow;

use outreach_core::report::QuarterlyReport;

use crate::{Cell, Figure, HEADERS, ReportExportError, cells, spend_cells};

/// The UTF-8 byte-order mark Excel needs to read the file as UTF-8.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One line of the CSV read back: the columns of [`HEADERS`], in order.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvRow {
    pub code: String,
    pub name: String,
    /// `Tỉnh`, `Huyện` or `Xã`.
    pub level: String,
    pub parent_code: Option<String>,
    pub metric: String,
    pub metric_label: String,
    pub quarter_value: Option<f64>,
    pub ytd_value: Option<f64>,
    pub quarter_numerator: Option<i64>,
    pub quarter_denominator: Option<i64>,
    pub ytd_numerator: Option<i64>,
    pub ytd_denominator: Option<i64>,
    pub target: Option<f64>,
    pub milestone: Option<f64>,
    pub percent_of_milestone: Option<f64>,
    /// The Vietnamese label, e.g. `Đạt tiến độ`.
    pub status_label: Option<String>,
    /// The stable code, e.g. `on_track`.
    pub status: Option<String>,
}

/// The report as CSV: a BOM, the header line of [`HEADERS`], one line per report row, then
/// one line per spend figure ([`crate::SPEND_METRICS`]) of each unit.
///
/// Counts are whole numbers, ratios fractions with up to 4 decimals, the percentage of the
/// milestone has 1 decimal; a missing figure is an empty cell.
pub fn to_csv(report: &QuarterlyReport) -> Vec<u8> {
    let write = || -> csv::Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(BOM.to_vec());
        writer.write_record(HEADERS)?;
        for row in &report.rows {
            let fields: Vec<Cow<'_, str>> = cells(row).iter().map(field).collect();
            writer.write_record(fields.iter().map(|f| f.as_bytes()))?;
        }
        for line in spend_cells(report) {
            let fields: Vec<Cow<'_, str>> = line.iter().map(field).collect();
            writer.write_record(fields.iter().map(|f| f.as_bytes()))?;
        }
        writer.into_inner().map_err(|e| e.into_error().into())
    };
    write().expect("writing to memory cannot fail and every line has the header's length")
}

/// Read back a CSV written by [`to_csv`] (with or without its BOM).
pub fn from_csv(bytes: &[u8]) -> Result<Vec<CsvRow>, ReportExportError> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers()?;
    if let Some(i) = (0..HEADERS.len().max(headers.len())).find(|&i| headers.get(i) != HEADERS.get(i).copied()) {
        return Err(ReportExportError::InvalidCsv {
            line: 1,
            message: format!(
                "column {} should be {:?}, found {:?}",
                i + 1,
                HEADERS.get(i).copied().unwrap_or(""),
                headers.get(i).unwrap_or("")
            ),
        });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record?;
        let line = record.position().map_or(0, |p| p.line());
        // The reader rejects a line whose length differs from the header's.
        let text = |i: usize| restore(record.get(i).unwrap_or_default()).to_string();
        let optional = |i: usize| Some(text(i)).filter(|s| !s.is_empty());
        let trimmed = |i: usize| record.get(i).map(str::trim).filter(|s| !s.is_empty());
        let invalid = |i: usize, value: &str, what: &str| ReportExportError::InvalidCsv {
            line,
            message: format!("{:?} should be {what}, found {value:?}", HEADERS[i]),
        };
        let float = |i: usize| -> Result<Option<f64>, ReportExportError> {
            trimmed(i)
                .map(|s| s.parse::<f64>().map_err(|_| invalid(i, s, "a number")))
                .transpose()
        };
        let integer = |i: usize| -> Result<Option<i64>, ReportExportError> {
            trimmed(i)
                .map(|s| s.parse::<i64>().map_err(|_| invalid(i, s, "a whole number")))
                .transpose()
        };
        rows.push(CsvRow {
            code: text(0),
            name: text(1),
            level: text(2),
            parent_code: optional(3),
            metric: text(4),
            metric_label: text(5),
            quarter_value: float(6)?,
            ytd_value: float(7)?,
            quarter_numerator: integer(8)?,
            quarter_denominator: integer(9)?,
            ytd_numerator: integer(10)?,
            ytd_denominator: integer(11)?,
            target: float(12)?,
            milestone: float(13)?,
            percent_of_milestone: float(14)?,
            status_label: optional(15),
            status: optional(16),
        });
    }
    Ok(rows)
}

/// The text of one cell.
fn field<'a>(cell: &Cell<'a>) -> Cow<'a, str> {
    match *cell {
        Cell::Text(s) => neutralise(s),
        Cell::Empty => Cow::Borrowed(""),
        Cell::Number(Figure::Count(v) | Figure::Fraction(v)) => Cow::Owned(plain(v, 4)),
        Cell::Number(Figure::Integer(v)) => Cow::Owned(v.to_string()),
        Cell::Number(Figure::Percent(v)) => Cow::Owned(format!("{v:.1}")),
    }
}

/// Whether a spreadsheet would read a cell starting with `c` as a formula (or, for `'`,
/// hide the character: it is escaped too, so that reading back is exact).
fn starts_a_formula(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r' | '\'')
}

/// `text` as a spreadsheet shows it and never runs it: a leading `'` before a character
/// that would start a formula.
fn neutralise(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some(c) if starts_a_formula(c) => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// The text [`neutralise`] was given.
fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.chars().next().is_some_and(starts_a_formula) => rest,
        _ => cell,
    }
}

/// `v` with at most `decimals` decimals and no trailing zeros: `12`, `0.8125`, `0.3333`.
fn plain(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_numbers_drop_trailing_zeros() {
        assert_eq!(plain(12.0, 4), "12");
        assert_eq!(plain(1500.0, 4), "1500");
        assert_eq!(plain(0.8125, 4), "0.8125");
        assert_eq!(plain(1.0 / 3.0, 4), "0.3333");
        assert_eq!(plain(0.5, 4), "0.5");
        assert_eq!(plain(-0.00001, 4), "0");
    }

    #[test]
    fn text_that_would_run_as_a_formula_is_neutralised_and_reads_back_exactly() {
        for (name, written) in [
            ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
            ("\tTab", "'\tTab"),
            ("\rCR", "'\rCR"),
            ("'=quoted", "''=quoted"),
            ("Xã Tân Mỹ", "Xã Tân Mỹ"),
            ("'O'Neil", "''O'Neil"),
        ] {
            assert_eq!(neutralise(name), written, "{name:?}");
            assert_eq!(restore(&neutralise(name)), name, "{name:?}");
        }
    }

    #[test]
    fn wrong_headers_are_named() {
        let err = from_csv("Mã đơn vị,Tên\n".as_bytes()).unwrap_err();
        assert!(err.to_string().contains("Tên đơn vị"), "{err}");
    }
}
