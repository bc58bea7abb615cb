//! Exports of the quarterly report (báo cáo quý): CSV for any spreadsheet, XLSX with a
//! sheet per level and a progress chart, and JSON as the API returns it.
//!
//! CSV and XLSX share one column layout, [`HEADERS`], one row per unit and metric.

mod csv_export;
mod xlsx_export;

use outreach_core::org::Level;
use outreach_core::outcome::{MetricKind, report_metric};
use outreach_core::report::{QuarterlyReport, ReportRow};

pub use csv_export::{CsvRow, from_csv, to_csv};
pub use xlsx_export::{XLSX_FIRST_DATA_ROW, XLSX_HEADER_ROW, XLSX_TITLE_ROW, to_xlsx};

/// Column titles of the CSV and of each XLSX sheet, in order.
pub const HEADERS: [&str; 17] = [
    "Mã đơn vị",
    "Tên đơn vị",
    "Cấp",
    "Mã đơn vị cấp trên",
    "Chỉ tiêu (mã)",
    "Chỉ tiêu",
    "Quý",
    "Lũy kế năm",
    "Tử số quý",
    "Mẫu số quý",
    "Tử số lũy kế",
    "Mẫu số lũy kế",
    "Kế hoạch năm",
    "Mốc quý",
    "% so với mốc",
    "Trạng thái",
    "Mã trạng thái",
];

/// Why an export could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum ReportExportError {
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("XLSX: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// A CSV that is not in the layout [`to_csv`] writes.
    #[error("CSV line {line}: {message}")]
    InvalidCsv { line: u64, message: String },
}

/// The report as pretty-printed JSON, the same shape the API returns.
pub fn to_json(report: &QuarterlyReport) -> Vec<u8> {
    serde_json::to_vec_pretty(report).expect("a report has only string keys and serializable values")
}

/// The Vietnamese name of a level: the `Cấp` column and the XLSX sheet names.
pub fn level_label(level: Level) -> &'static str {
    match level {
        Level::Province => "Tỉnh",
        Level::District => "Huyện",
        Level::Commune => "Xã",
    }
}

/// The Vietnamese label of a metric; a planner-defined metric is shown by its key.
pub fn metric_label(key: &str) -> &str {
    report_metric(key).map_or(key, |m| m.label)
}

/// How a figure reads: each export formats these its own way.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Figure {
    /// A count, or a count's target or milestone.
    Count(f64),
    /// A ratio (0 to 1), or a ratio's target or milestone.
    Fraction(f64),
    /// A numerator or denominator.
    Integer(i64),
    /// Per cent of the milestone (100 = on the milestone).
    Percent(f64),
}

/// One cell of the shared layout.
#[derive(Debug, Clone, PartialEq)]
enum Cell<'a> {
    Text(&'a str),
    Number(Figure),
    Empty,
}

/// The cells of one row, in the order of [`HEADERS`].
fn cells(row: &ReportRow) -> [Cell<'_>; 17] {
    let text = |s: Option<&'static str>| s.map_or(Cell::Empty, Cell::Text);
    let value = |v: Option<f64>| match (v, row.kind) {
        (None, _) => Cell::Empty,
        (Some(v), MetricKind::Count) => Cell::Number(Figure::Count(v)),
        (Some(v), MetricKind::Ratio) => Cell::Number(Figure::Fraction(v)),
    };
    let integer = |v: Option<i64>| v.map_or(Cell::Empty, |v| Cell::Number(Figure::Integer(v)));
    [
        Cell::Text(&row.code),
        Cell::Text(&row.name),
        Cell::Text(level_label(row.level)),
        row.parent_code.as_deref().map_or(Cell::Empty, Cell::Text),
        Cell::Text(&row.metric),
        Cell::Text(metric_label(&row.metric)),
        value(row.quarter_value),
        value(row.ytd_value),
        integer(row.quarter_numerator),
        integer(row.quarter_denominator),
        integer(row.ytd_numerator),
        integer(row.ytd_denominator),
        value(row.target),
        value(row.milestone),
        row.percent_of_milestone
            .map_or(Cell::Empty, |p| Cell::Number(Figure::Percent(p))),
        text(row.status.map(|s| s.label())),
        text(row.status.map(|s| s.as_str())),
    ]
}
