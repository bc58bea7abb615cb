//! *Chỉ tiêu và báo cáo*: the quarterly report of the caller's unit as a table per level,
//! coloured by status, quarter by quarter beside it; CSV and XLSX downloads; the frozen
//! snapshots and their revisions.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use outreach_core::org::Level;
use outreach_core::outcome::MetricKind;
use outreach_core::quarter::quarter_of;
use outreach_core::schedule::DEFAULT_TIME_ZONE;
use outreach_core::usecases;
use serde::Deserialize;

use crate::AppState;
use crate::routes::reports::{ReportFormat, export};
use crate::ui::{Nav, Session as UiSession, UiError, charts, format, html, may};

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    year: Option<i32>,
    quarter: Option<u8>,
    org: Option<String>,
    /// `csv` or `xlsx` downloads the report.
    format: Option<String>,
}

/// One row of a level's table.
pub struct Row {
    pub name: String,
    pub code: String,
    pub metric: String,
    pub quarter: String,
    pub ytd: String,
    pub target: String,
    pub milestone: String,
    pub percent: String,
    pub status: &'static str,
    pub status_label: &'static str,
}

/// A level's table.
pub struct LevelTable {
    pub title: &'static str,
    pub rows: Vec<Row>,
}

/// A quarter to switch to.
pub struct QuarterLink {
    pub n: u8,
    pub current: bool,
}

/// A snapshot kept.
pub struct SnapshotRow {
    pub revision: u32,
    pub at: String,
}

#[derive(Template)]
#[template(path = "ui/reports.html")]
struct ReportsPage {
    nav: Nav,
    org: String,
    org_name: String,
    year: i32,
    quarter: u8,
    quarters: Vec<QuarterLink>,
    levels: Vec<LevelTable>,
    chart: String,
    chart_title: String,
    snapshots: Vec<SnapshotRow>,
    unattributed: usize,
}

/// `GET /ui/bao-cao?org&year&quarter[&format=csv|xlsx]`.
pub async fn page(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<ReportQuery>,
) -> Result<Response, UiError> {
    if !may(session.role(), Method::GET, "/v1/reports/quarterly") {
        return Err(UiError::Forbidden("Vai trò của bạn không xem báo cáo.".into()));
    }
    let store = state.store.as_ref();
    let now = state.clock.now();
    let current = quarter_of(now, DEFAULT_TIME_ZONE);
    let (year, quarter) = (q.year.unwrap_or(current.year), q.quarter.unwrap_or(current.quarter));
    let org = q.org.clone().unwrap_or_else(|| session.claims().org.clone());
    usecases::check_quarter(year, quarter)?;
    session.caller.require_area(store, &org, "unit", &org).await?;
    let report = usecases::quarterly_report(store, &org, year, quarter, now).await?;
    match q.format.as_deref() {
        Some("csv") => return Ok(export(&report, ReportFormat::Csv)?),
        Some("xlsx") => return Ok(export(&report, ReportFormat::Xlsx)?),
        _ => {}
    }
    let levels = [
        (Level::Province, "Cấp tỉnh"),
        (Level::District, "Cấp huyện"),
        (Level::Commune, "Cấp xã"),
    ]
    .into_iter()
    .map(|(level, title)| LevelTable {
        title,
        rows: report
            .level_rows(level)
            .map(|r| {
                let ratio = r.kind == MetricKind::Ratio;
                Row {
                    name: r.name.clone(),
                    code: r.code.clone(),
                    metric: outreach_report::metric_label(&r.metric).to_string(),
                    quarter: format::figure(r.quarter_value, ratio),
                    ytd: format::figure(r.ytd_value, ratio),
                    target: format::figure(r.target, ratio),
                    milestone: format::figure(r.milestone, ratio),
                    percent: r
                        .percent_of_milestone
                        .map(format::percent)
                        .unwrap_or_else(|| "—".into()),
                    status: charts::status_class(r.status),
                    status_label: r.status.map_or("—", |s| s.label()),
                }
            })
            .collect(),
    })
    .filter(|t| !t.rows.is_empty())
    .collect();
    // The unit's dossiers quarter by quarter this year: each quarter's own report row.
    let mut bars = Vec::new();
    for qn in 1..=quarter {
        let r = usecases::quarterly_report(store, &org, year, qn, now).await?;
        let v = r
            .row(&org, "dossiers_supported")
            .and_then(|row| row.quarter_value)
            .unwrap_or(0.0);
        bars.push((format!("Q{qn}"), v));
    }
    let chart_title = format!("Hồ sơ trực tuyến được hỗ trợ theo quý, năm {year}");
    let snapshots = store
        .snapshot_revisions(&org, year, quarter)
        .await?
        .into_iter()
        .map(|(revision, at)| SnapshotRow {
            revision,
            at: format::date_time(at),
        })
        .collect();
    html(ReportsPage {
        nav: Nav::new(&session, "/ui/bao-cao"),
        org_name: report.org_name.clone(),
        org,
        year,
        quarter,
        quarters: (1..=4)
            .map(|n| QuarterLink {
                n,
                current: n == quarter,
            })
            .collect(),
        levels,
        chart: charts::columns(&chart_title, &bars),
        chart_title,
        snapshots,
        unattributed: report.unattributed.len(),
    })
}
