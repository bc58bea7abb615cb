//! The report as an Excel workbook: one sheet per level (`Tỉnh`, `Huyện`, `Xã`) in the
//! layout of [`HEADERS`], and a native bar chart of the district sheet (the commune sheet
//! where the 2025 reform left no districts) on a chart sheet of its own, `Biểu đồ`.
//!
//! Every sheet has its title in row 1 and the column titles in row 2 (0-based
//! [`XLSX_TITLE_ROW`] and [`XLSX_HEADER_ROW`]), frozen with the code and name columns;
//! report rows follow from row 3 ([`XLSX_FIRST_DATA_ROW`]) in the report's order.
//!
//! The quarter's spend on messages has a sheet of its own, `Chi phí tin nhắn`: a line per
//! unit and channel that carried messages (a ZNS message that fell back is SMS).
//!
//! Every sheet prints on landscape A4 with page numbers: a table sheet one page wide over
//! as many pages as it needs, its title and column titles repeated on each; the chart
//! sheet on one page, which is all a chart sheet can print on.

use outreach_core::org::Level;
use outreach_core::outcome::MetricKind;
use outreach_core::report::{QuarterlyReport, ReportRow, SpendRow, Unattributed};
use rust_xlsxwriter::{
    Chart, ChartDataLabel, ChartType, ColNum, Format, FormatAlign, FormatBorder, RowNum, Workbook, Worksheet, XlsxError,
};

use crate::{Cell, Figure, HEADERS, ReportExportError, cells, channel_label, level_label, metric_label};

/// Row (0-based) of each sheet's title, e.g. `Báo cáo quý 2/2025 — Tỉnh Bắc Ninh`.
pub const XLSX_TITLE_ROW: RowNum = 0;
/// Row (0-based) of the column titles of [`HEADERS`], which start in column A.
pub const XLSX_HEADER_ROW: RowNum = 1;
/// Row (0-based) of a sheet's first report row.
pub const XLSX_FIRST_DATA_ROW: RowNum = 2;

/// The metric the chart shows when it has a milestone, or when no metric has one.
const CHART_METRIC: &str = "dossiers_supported";
/// The most units the chart shows. 30 bars still read at about 5 mm each on a landscape A4
/// page, and no province had more districts (Hà Nội had 30); a province's ~200 communes
/// would be under 1 mm each, so of those the chart shows the 30 furthest behind.
const CHART_MAX_UNITS: usize = 30;
/// Column widths of [`HEADERS`], in characters.
const WIDTHS: [f64; 17] = [
    12.0, 30.0, 8.0, 14.0, 22.0, 44.0, 11.0, 11.0, 10.0, 10.0, 11.0, 11.0, 12.0, 11.0, 11.0, 17.0, 12.0,
];
/// The chart's data: unit names and percentages, one blank column right of the table.
const CHART_NAME_COL: ColNum = HEADERS.len() as ColNum + 1;
const CHART_VALUE_COL: ColNum = CHART_NAME_COL + 1;
/// Name of the sheet of figures no current unit took over.
const UNATTRIBUTED_SHEET: &str = "Chưa phân bổ";
/// Name of the sheet of the quarter's spend on messages.
pub const SPEND_SHEET: &str = "Chi phí tin nhắn";
/// Name of the chart sheet.
const CHART_SHEET: &str = "Biểu đồ";
/// A4 among Excel's paper sizes.
const PAPER_A4: u8 = 9;
/// The page number and page count, centred at the foot of each page: `Trang 3/12`.
const FOOTER: &str = "&CTrang &P/&N";

/// The cell formats of the workbook.
struct Formats {
    title: Format,
    header: Format,
    count: Format,
    fraction: Format,
    integer: Format,
    percent: Format,
}

impl Formats {
    fn new() -> Self {
        Self {
            title: Format::new().set_bold().set_font_size(14),
            header: Format::new()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter)
                .set_border(FormatBorder::Thin)
                .set_background_color(0xD9E1F2),
            count: Format::new().set_num_format("#,##0"),
            fraction: Format::new().set_num_format("0.0%"),
            integer: Format::new().set_num_format("#,##0"),
            // The value is already a percentage (85.3 means 85.3 %), as in the CSV.
            percent: Format::new().set_num_format("0.0"),
        }
    }
}

/// The report as an XLSX workbook: a sheet per level that has rows, in the order province,
/// district, commune, then `Chưa phân bổ` when some figures belong to no current unit.
///
/// Counts, numerators and denominators show as whole numbers, ratios as percentages
/// (the cell holds the fraction), `% so với mốc` with 1 decimal; a missing figure is a
/// blank cell.
pub fn to_xlsx(report: &QuarterlyReport) -> Result<Vec<u8>, ReportExportError> {
    let formats = Formats::new();
    let title = format!(
        "Báo cáo quý {}/{} — {} (số liệu đến ngày {})",
        report.quarter,
        report.year,
        report.org_name,
        report.as_of.format("%d/%m/%Y")
    );
    let levels: Vec<Level> = [Level::Province, Level::District, Level::Commune]
        .into_iter()
        .filter(|&l| report.level_rows(l).next().is_some())
        .collect();
    let chart_level = [Level::District, Level::Commune]
        .into_iter()
        .find(|l| levels.contains(l));

    let mut workbook = Workbook::new();
    let mut chart = None;
    for level in levels {
        let rows: Vec<&ReportRow> = report.level_rows(level).collect();
        let mut sheet = level_sheet(level_label(level), &title, &rows, &formats)?;
        if chart_level == Some(level) {
            chart = chart_sheet(&mut sheet, level, &rows, report, &formats)?;
        }
        workbook.push_worksheet(sheet);
    }
    // After the level sheets, so the tables read province to commune without a break.
    if let Some(chart) = chart {
        workbook.push_worksheet(chart);
    }
    if !report.spend.is_empty() {
        workbook.push_worksheet(spend_sheet(&title, &report.spend, &formats)?);
    }
    if !report.unattributed.is_empty() {
        workbook.push_worksheet(unattributed_sheet(&title, &report.unattributed, &formats)?);
    }
    Ok(workbook.save_to_buffer()?)
}

/// The sheet of one level: title, column titles, one line per row.
fn level_sheet(name: &str, title: &str, rows: &[&ReportRow], formats: &Formats) -> Result<Worksheet, XlsxError> {
    let mut sheet = Worksheet::new();
    sheet.set_name(name)?;
    sheet.write_string_with_format(XLSX_TITLE_ROW, 0, title, &formats.title)?;
    for (col, (header, width)) in HEADERS.iter().zip(WIDTHS).enumerate() {
        let col = col as ColNum;
        sheet.write_string_with_format(XLSX_HEADER_ROW, col, *header, &formats.header)?;
        sheet.set_column_width(col, width)?;
    }
    sheet.set_row_height(XLSX_HEADER_ROW, 32)?;
    for (i, row) in rows.iter().enumerate() {
        let r = XLSX_FIRST_DATA_ROW + i as RowNum;
        for (col, cell) in cells(row).iter().enumerate() {
            write_cell(&mut sheet, r, col as ColNum, cell, formats)?;
        }
    }
    // The column titles' row when there are no rows.
    let last = XLSX_FIRST_DATA_ROW + rows.len() as RowNum - 1;
    if !rows.is_empty() {
        sheet.autofilter(XLSX_HEADER_ROW, 0, last, HEADERS.len() as ColNum - 1)?;
    }
    sheet.set_freeze_panes(XLSX_FIRST_DATA_ROW, 2)?;
    print_table(&mut sheet, last, HEADERS.len() as ColNum - 1)?;
    Ok(sheet)
}

/// Print setup of every sheet: landscape A4, narrow margins, page numbers at the foot.
fn set_page(sheet: &mut Worksheet) {
    sheet
        .set_paper_size(PAPER_A4)
        .set_landscape()
        // Excel's "Narrow" margins (inches): the 17 columns of a level sheet print 1 page
        // wide at about 57 % of their size instead of 52 % with the default 0.7.
        .set_margins(0.25, 0.25, 0.75, 0.75, 0.3, 0.3)
        .set_footer(FOOTER);
}

/// Print a table from its title to row `last_row` and column `last_col` (the columns right
/// of it, such as the chart's data, stay off paper), one page wide and as many long as it
/// takes, with the title and column titles at the top of each page.
fn print_table(sheet: &mut Worksheet, last_row: RowNum, last_col: ColNum) -> Result<(), XlsxError> {
    set_page(sheet);
    sheet.set_print_area(XLSX_TITLE_ROW, 0, last_row, last_col)?;
    sheet.set_repeat_rows(XLSX_TITLE_ROW, XLSX_HEADER_ROW)?;
    sheet.set_print_fit_to_pages(1, 0);
    Ok(())
}

fn write_cell(sheet: &mut Worksheet, row: RowNum, col: ColNum, cell: &Cell<'_>, f: &Formats) -> Result<(), XlsxError> {
    let (value, format) = match *cell {
        Cell::Empty => return Ok(()),
        Cell::Text(s) => {
            sheet.write_string(row, col, s)?;
            return Ok(());
        }
        Cell::Number(Figure::Count(v)) => (v, &f.count),
        Cell::Number(Figure::Fraction(v)) => (v, &f.fraction),
        Cell::Number(Figure::Integer(v)) => (v as f64, &f.integer),
        Cell::Number(Figure::Percent(v)) => (v, &f.percent),
    };
    sheet.write_number_with_format(row, col, value, format)?;
    Ok(())
}

/// What the chart shows of each unit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    /// `% so với mốc`: how far the year to date has come towards the milestone.
    PercentOfMilestone,
    /// The quarter's figure itself, while the metric has no milestone.
    Quarter,
}

impl Measure {
    fn of(self, row: &ReportRow) -> Option<f64> {
        match self {
            Measure::PercentOfMilestone => row.percent_of_milestone,
            Measure::Quarter => row.quarter_value,
        }
    }

    /// The column title of [`HEADERS`] the figure comes from.
    fn header(self) -> &'static str {
        match self {
            Measure::PercentOfMilestone => HEADERS[14],
            Measure::Quarter => HEADERS[6],
        }
    }

    /// The figure's cell format, as in its column of the table.
    fn format(self, formats: &Formats) -> &Format {
        match self {
            Measure::PercentOfMilestone => &formats.percent,
            Measure::Quarter => &formats.count,
        }
    }

    /// The number format of the chart's labels.
    fn num_format(self) -> &'static str {
        match self {
            Measure::PercentOfMilestone => "0.0",
            Measure::Quarter => "#,##0",
        }
    }
}

/// A chart sheet with a bar chart of one metric per unit of `sheet`, over a two-column copy
/// of the figures (unit name, figure) right of the table: a metric's rows are not adjacent
/// in it. None when the sheet has no count metric to chart.
///
/// A chart sheet prints its chart whole on one page, where a chart on the table's sheet
/// would straddle the page breaks of the table beside it.
fn chart_sheet(
    sheet: &mut Worksheet,
    level: Level,
    rows: &[&ReportRow],
    report: &QuarterlyReport,
    formats: &Formats,
) -> Result<Option<Worksheet>, XlsxError> {
    let Some((metric, measure)) = chart_metric(rows) else {
        return Ok(None);
    };
    let all: Vec<&ReportRow> = rows.iter().copied().filter(|r| r.metric == metric).collect();
    let units = chart_units(&all, measure);
    let label = metric_label(metric);
    sheet.write_string_with_format(XLSX_TITLE_ROW, CHART_NAME_COL, label, &formats.title)?;
    sheet.write_string_with_format(XLSX_HEADER_ROW, CHART_NAME_COL, HEADERS[1], &formats.header)?;
    sheet.write_string_with_format(XLSX_HEADER_ROW, CHART_VALUE_COL, measure.header(), &formats.header)?;
    sheet.set_column_width(CHART_NAME_COL, 30)?;
    sheet.set_column_width(CHART_VALUE_COL, 11)?;
    for (i, unit) in units.iter().enumerate() {
        let r = XLSX_FIRST_DATA_ROW + i as RowNum;
        sheet.write_string(r, CHART_NAME_COL, &unit.name)?;
        if let Some(v) = measure.of(unit) {
            sheet.write_number_with_format(r, CHART_VALUE_COL, v, measure.format(formats))?;
        }
    }

    let sheet_name = level_label(level);
    let unit_word = lowercase_first(sheet_name);
    let what = match measure {
        Measure::PercentOfMilestone => format!("Tiến độ {}", lowercase_first(label)),
        Measure::Quarter => format!("{label} trong quý {}/{}", report.quarter, report.year),
    };
    let which = if units.len() == all.len() {
        format!(" theo {unit_word}")
    } else {
        format!(
            ": {} {unit_word} thấp nhất trong {} {unit_word}",
            units.len(),
            all.len()
        )
    };
    let unit_of_measure = match measure {
        Measure::PercentOfMilestone => " (% so với mốc)",
        Measure::Quarter => "",
    };

    let last = XLSX_FIRST_DATA_ROW + units.len() as RowNum - 1;
    let mut chart = Chart::new(ChartType::Bar);
    chart.title().set_name(&format!("{what}{which}{unit_of_measure}"));
    chart
        .add_series()
        .set_name(measure.header())
        .set_categories((sheet_name, XLSX_FIRST_DATA_ROW, CHART_NAME_COL, last, CHART_NAME_COL))
        .set_values((sheet_name, XLSX_FIRST_DATA_ROW, CHART_VALUE_COL, last, CHART_VALUE_COL))
        .set_data_label(ChartDataLabel::new().show_value().set_num_format(measure.num_format()));
    chart.legend().set_hidden();
    // Units top to bottom in the order of the chart's data.
    chart.y_axis().set_reverse();
    chart
        .x_axis()
        .set_name(measure.header())
        .set_num_format("#,##0")
        .set_min(0);

    let mut chartsheet = Worksheet::new_chartsheet();
    chartsheet.set_name(CHART_SHEET)?;
    set_page(&mut chartsheet);
    chartsheet.insert_chart(0, 0, &chart)?;
    Ok(Some(chartsheet))
}

/// The metric to chart and what of it: the progress of `dossiers_supported`, else of the
/// first count metric with a milestone; with no milestone at all, the quarter's figures of
/// `dossiers_supported`, else of the first count metric, so a year before its targets are
/// set still has a chart.
fn chart_metric<'a>(rows: &[&'a ReportRow]) -> Option<(&'a str, Measure)> {
    let has_milestone = |m: &str| rows.iter().any(|r| r.metric == m && r.milestone.is_some());
    if has_milestone(CHART_METRIC) {
        return Some((CHART_METRIC, Measure::PercentOfMilestone));
    }
    let counts = || rows.iter().filter(|r| r.kind == MetricKind::Count);
    if let Some(r) = counts().find(|r| r.milestone.is_some()) {
        return Some((r.metric.as_str(), Measure::PercentOfMilestone));
    }
    if counts().any(|r| r.metric == CHART_METRIC) {
        return Some((CHART_METRIC, Measure::Quarter));
    }
    counts().next().map(|r| (r.metric.as_str(), Measure::Quarter))
}

/// The units the chart shows: all of them in the table's order when they fit, else the
/// [`CHART_MAX_UNITS`] lowest, lowest first, which are the ones a planner has to call on
/// (the table lists the rest). Units without a figure come after those with one.
fn chart_units<'a>(units: &[&'a ReportRow], measure: Measure) -> Vec<&'a ReportRow> {
    let mut units = units.to_vec();
    if units.len() > CHART_MAX_UNITS {
        units.sort_by(|a, b| {
            let figure = |r: &ReportRow| measure.of(r).unwrap_or(f64::INFINITY);
            figure(a).total_cmp(&figure(b))
        });
        units.truncate(CHART_MAX_UNITS);
    }
    units
}

/// The sheet of the quarter's spend: a line per unit and channel, in the report's order.
fn spend_sheet(title: &str, rows: &[SpendRow], formats: &Formats) -> Result<Worksheet, XlsxError> {
    const COLUMNS: [(&str, f64); 9] = [
        ("Mã đơn vị", 12.0),
        ("Tên đơn vị", 30.0),
        ("Cấp", 8.0),
        ("Mã đơn vị cấp trên", 14.0),
        ("Kênh", 12.0),
        ("Tin đã gửi", 12.0),
        ("Số phần tin", 12.0),
        ("Chi phí (đồng)", 16.0),
        ("Trong đó: Zalo ZNS chuyển sang SMS", 18.0),
    ];
    let mut sheet = Worksheet::new();
    sheet.set_name(SPEND_SHEET)?;
    sheet.write_string_with_format(XLSX_TITLE_ROW, 0, format!("{title} — chi phí tin nhắn"), &formats.title)?;
    for (col, (header, width)) in COLUMNS.into_iter().enumerate() {
        let col = col as ColNum;
        sheet.write_string_with_format(XLSX_HEADER_ROW, col, header, &formats.header)?;
        sheet.set_column_width(col, width)?;
    }
    sheet.set_row_height(XLSX_HEADER_ROW, 32)?;
    for (i, row) in rows.iter().enumerate() {
        let r = XLSX_FIRST_DATA_ROW + i as RowNum;
        sheet.write_string(r, 0, &row.code)?;
        sheet.write_string(r, 1, &row.name)?;
        sheet.write_string(r, 2, level_label(row.level))?;
        if let Some(parent) = &row.parent_code {
            sheet.write_string(r, 3, parent)?;
        }
        sheet.write_string(r, 4, channel_label(row.channel))?;
        sheet.write_number_with_format(r, 5, row.messages as f64, &formats.integer)?;
        sheet.write_number_with_format(r, 6, row.segments as f64, &formats.integer)?;
        sheet.write_number_with_format(r, 7, row.cost_vnd as f64, &formats.integer)?;
        if row.channel == outreach_core::contact::Channel::Sms {
            sheet.write_number_with_format(r, 8, row.zns_fallbacks as f64, &formats.integer)?;
        }
    }
    let last = XLSX_FIRST_DATA_ROW + rows.len() as RowNum - 1;
    sheet.autofilter(XLSX_HEADER_ROW, 0, last, COLUMNS.len() as ColNum - 1)?;
    sheet.set_freeze_panes(XLSX_FIRST_DATA_ROW, 2)?;
    print_table(&mut sheet, last, COLUMNS.len() as ColNum - 1)?;
    Ok(sheet)
}

/// The sheet of figures of former units that no current unit took over.
fn unattributed_sheet(title: &str, figures: &[Unattributed], formats: &Formats) -> Result<Worksheet, XlsxError> {
    const COLUMNS: [(&str, f64); 5] = [
        ("Mã đơn vị cũ", 14.0),
        ("Quý", 8.0),
        ("Chỉ tiêu (mã)", 22.0),
        ("Chỉ tiêu", 44.0),
        ("Giá trị", 11.0),
    ];
    let mut sheet = Worksheet::new();
    sheet.set_name(UNATTRIBUTED_SHEET)?;
    sheet.write_string_with_format(XLSX_TITLE_ROW, 0, title, &formats.title)?;
    for (col, (header, width)) in COLUMNS.into_iter().enumerate() {
        let col = col as ColNum;
        sheet.write_string_with_format(XLSX_HEADER_ROW, col, header, &formats.header)?;
        sheet.set_column_width(col, width)?;
    }
    for (i, u) in figures.iter().enumerate() {
        let r = XLSX_FIRST_DATA_ROW + i as RowNum;
        sheet.write_string(r, 0, &u.unit_code)?;
        sheet.write_number(r, 1, u.quarter)?;
        sheet.write_string(r, 2, &u.metric)?;
        sheet.write_string(r, 3, metric_label(&u.metric))?;
        sheet.write_number_with_format(r, 4, u.value as f64, &formats.integer)?;
    }
    sheet.set_freeze_panes(XLSX_FIRST_DATA_ROW, 0)?;
    let last = XLSX_FIRST_DATA_ROW + figures.len() as RowNum - 1;
    print_table(&mut sheet, last, COLUMNS.len() as ColNum - 1)?;
    Ok(sheet)
}

/// `s` with its first letter in lower case: `Huyện` → `huyện`.
fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_title_words_are_lower_case() {
        assert_eq!(
            lowercase_first("Hồ sơ trực tuyến được hỗ trợ"),
            "hồ sơ trực tuyến được hỗ trợ"
        );
        assert_eq!(lowercase_first("Xã"), "xã");
        assert_eq!(lowercase_first(""), "");
    }
}
