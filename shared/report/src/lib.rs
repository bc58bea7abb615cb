//! Exports of the quarterly report (báo cáo quý): CSV for any spreadsheet, XLSX with a
//! sheet per level and a progress chart, and JSON as the API returns it.
//!
//! CSV and XLSX share one column layout, [`HEADERS`], one row per unit and metric. The
//! quarter's spend on messages follows the metrics in the CSV, as rows of the same layout
//! ([`SPEND_METRICS`]: the figure in `Quý`), and has a sheet of its own in the XLSX,
//! `Chi phí tin nhắn`.

mod csv_export;
mod xlsx_export;

use outreach_core::contact::Channel;
use outreach_core::org::Level;
use outreach_core::outcome::{MetricKind, report_metric};
use outreach_core::report::{QuarterlyReport, ReportRow, SpendRow};

pub use csv_export::{CsvRow, from_csv, to_csv};
pub use xlsx_export::{SPEND_SHEET, XLSX_FIRST_DATA_ROW, XLSX_HEADER_ROW, XLSX_TITLE_ROW, to_xlsx};

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

/// The Vietnamese label of a metric or a spend figure; a planner-defined metric is shown
/// by its key.
pub fn metric_label(key: &str) -> &str {
    match SPEND_METRICS.iter().find(|(k, _)| *k == key) {
        Some((_, label)) => label,
        None => report_metric(key).map_or(key, |m| m.label),
    }
}

/// The spend figures of the CSV, by code and label: per unit, after its metrics' rows.
/// Email and ZNS are one segment a message, so only SMS shows its segments.
pub const SPEND_METRICS: [(&str, &str); 8] = [
    ("sms_messages", "Tin nhắn SMS đã gửi"),
    ("sms_segments", "Số phần tin SMS"),
    ("sms_cost_vnd", "Chi phí SMS (đồng)"),
    ("sms_zns_fallbacks", "Trong đó: tin Zalo ZNS chuyển sang SMS"),
    ("email_messages", "Email đã gửi"),
    ("email_cost_vnd", "Chi phí email (đồng)"),
    ("zns_messages", "Tin Zalo ZNS đã gửi"),
    ("zns_cost_vnd", "Chi phí Zalo ZNS (đồng)"),
];

/// The Vietnamese name of a channel in the spend table.
pub fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "SMS",
        Channel::Email => "Email",
        Channel::Zns => "Zalo ZNS",
    }
}

/// The spend figures of one spend row, as (code of [`SPEND_METRICS`], value).
fn spend_figures(row: &SpendRow) -> Vec<(&'static str, u64)> {
    match row.channel {
        Channel::Sms => vec![
            ("sms_messages", row.messages),
            ("sms_segments", row.segments),
            ("sms_cost_vnd", row.cost_vnd),
            ("sms_zns_fallbacks", row.zns_fallbacks),
        ],
        Channel::Email => vec![("email_messages", row.messages), ("email_cost_vnd", row.cost_vnd)],
        Channel::Zns => vec![("zns_messages", row.messages), ("zns_cost_vnd", row.cost_vnd)],
    }
}

/// The CSV lines of the spend, in the layout of [`HEADERS`]: unit, figure's code and label,
/// the figure in `Quý`, the other columns empty.
fn spend_cells(report: &QuarterlyReport) -> Vec<[Cell<'_>; 17]> {
    let mut lines = Vec::new();
    for row in &report.spend {
        for (code, value) in spend_figures(row) {
            let mut cells: [Cell<'_>; 17] = std::array::from_fn(|_| Cell::Empty);
            cells[0] = Cell::Text(&row.code);
            cells[1] = Cell::Text(&row.name);
            cells[2] = Cell::Text(level_label(row.level));
            cells[3] = row.parent_code.as_deref().map_or(Cell::Empty, Cell::Text);
            cells[4] = Cell::Text(code);
            cells[5] = Cell::Text(metric_label(code));
            cells[6] = Cell::Number(Figure::Count(value as f64));
            lines.push(cells);
        }
    }
    lines
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
