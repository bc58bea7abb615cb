//! *Chỉ tiêu và báo cáo*: the quarterly report of the caller's unit as a table per level,
//! coloured by status, quarter by quarter beside it; CSV and XLSX downloads; the frozen
//! snapshots and their revisions.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use outreach_core::org::Level;
use outreach_core::outcome::MetricKind;
use outreach_core::quarter::{Quarter, quarter_of};
use outreach_core::report::{QuarterlyReport, ReportRow};
use outreach_core::schedule::DEFAULT_TIME_ZONE;
use outreach_core::usecases;
use serde::Deserialize;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use outreach_core::outcome::REPORT_METRICS;
use outreach_core::target::{AllocationInput, TargetInput};

use crate::AppState;
use crate::audit;
use crate::error::ApiError;
use crate::routes::reports::{ReportFormat, export};
use crate::ui::form::FormData;
use crate::ui::{Nav, Session as UiSession, UiError, audit_change, charts, format, html, may, require_form, text};

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    year: Option<i32>,
    quarter: Option<u8>,
    org: Option<String>,
    /// `csv` or `xlsx` downloads the report.
    format: Option<String>,
    /// With `format`: download this snapshot revision instead of the report built now.
    revision: Option<u32>,
    #[serde(default)]
    ok: String,
}

/// The units of a level below the report's unit: one row a unit, one column a metric.
pub struct LevelGrid {
    pub title: &'static str,
    pub metrics: Vec<String>,
    pub units: Vec<GridRow>,
}

/// A unit's figures in a level's grid.
pub struct GridRow {
    pub name: String,
    pub code: String,
    pub cells: Vec<GridCell>,
}

/// A metric's year to date and share of its milestone, coloured by status.
pub struct GridCell {
    pub ytd: String,
    pub percent: Option<String>,
    pub status: &'static str,
    pub status_label: &'static str,
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

/// One line of the spend table: a channel, or the total.
pub struct SpendLine {
    pub channel: &'static str,
    /// The SMS line: how many were ZNS messages carried by SMS.
    pub note: Option<String>,
    pub messages: String,
    pub segments: String,
    pub cost: String,
}

/// One metric of the targets form: its current target for the year, as typed.
pub struct TargetField {
    pub key: &'static str,
    pub label: &'static str,
    pub percent: bool,
    pub value: String,
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
    grids: Vec<LevelGrid>,
    chart: String,
    chart_title: String,
    spend: Vec<SpendLine>,
    spend_total: SpendLine,
    snapshots: Vec<SnapshotRow>,
    unattributed: usize,
    can_set_targets: bool,
    targets: Vec<TargetField>,
    notice: Option<String>,
    error: Option<String>,
}

/// `GET /ui/bao-cao?org&year&quarter[&format=csv|xlsx]`.
pub async fn page(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<ReportQuery>,
) -> Result<Response, UiError> {
    let notice = (q.ok == "chi-tieu").then(|| "Đã lưu chỉ tiêu năm.".to_string());
    render(&state, &session, q, notice, None).await
}

async fn render(
    state: &AppState,
    session: &UiSession,
    q: ReportQuery,
    notice: Option<String>,
    error: Option<(String, Vec<TargetField>)>,
) -> Result<Response, UiError> {
    if !may(session.role(), Method::GET, "/v1/reports/quarterly") {
        return Err(UiError::Forbidden("Vai trò của bạn không xem báo cáo.".into()));
    }
    let store = state.store.as_ref();
    let now = state.clock.now();
    let current = quarter_of(now, DEFAULT_TIME_ZONE);
    let (year, quarter) = (q.year.unwrap_or(current.year), q.quarter.unwrap_or(current.quarter));
    let org = q.org.clone().unwrap_or_else(|| session.claims().org.clone());
    let checked = Quarter::new(year, quarter)?;
    session.caller.require_area(store, &org, "unit", &org).await?;
    let download = match q.format.as_deref() {
        Some("csv") => Some(ReportFormat::Csv),
        Some("xlsx") => Some(ReportFormat::Xlsx),
        _ => None,
    };
    if let Some(format) = download {
        // A revision downloads the report as it was frozen; without one, as it is now.
        let report = match q.revision {
            Some(revision) => {
                store
                    .get_snapshot(&org, checked, Some(revision))
                    .await?
                    .ok_or(UiError::NotFound)?
                    .report
            }
            None => usecases::quarterly_report(store, &org, checked, now).await?,
        };
        return Ok(export(&report, format)?);
    }
    // The quarter's report, and the unit's dossiers of each quarter of the year for the chart.
    let (report, values) =
        usecases::quarterly_report_and_quarter_values(store, &org, checked, "dossiers_supported", now).await?;
    let bars: Vec<(String, f64)> = values
        .iter()
        .zip(1..)
        .map(|(v, n)| (format!("Q{n}"), v.unwrap_or(0.0)))
        .collect();
    let titles = [
        (Level::Province, "Cấp tỉnh"),
        (Level::District, "Cấp huyện"),
        (Level::Commune, "Cấp xã"),
    ];
    let own_level = report.rows.first().map(|r| r.level);
    // The unit's own figures in full, metric by metric.
    let levels: Vec<LevelTable> = titles
        .iter()
        .filter(|(level, _)| Some(*level) == own_level)
        .map(|(level, title)| LevelTable {
            title,
            rows: report.level_rows(*level).map(row).collect(),
        })
        .collect();
    // Each level below it as a grid: a row a unit, a column a metric (a province's 99 to
    // 192 communes stay one screen wide and a few hundred rows long, not eight times that).
    let grids: Vec<LevelGrid> = titles
        .iter()
        .filter(|(level, _)| Some(*level) != own_level)
        .map(|(level, title)| grid(&report, *level, title))
        .filter(|g| !g.units.is_empty())
        .collect();
    let (spend, spend_total) = spend_lines(&report);
    // The unit's dossiers quarter by quarter this year: each quarter's own report row.
    let chart_title = format!("Hồ sơ trực tuyến được hỗ trợ theo quý, năm {year}");
    let snapshots = store
        .snapshot_revisions(&org, checked)
        .await?
        .into_iter()
        .map(|(revision, at)| SnapshotRow {
            revision,
            at: format::date_time(at),
        })
        .collect();
    let can_set_targets = may(session.role(), Method::PUT, "/v1/targets/{year}/{org_code}");
    let (error, targets) = match error {
        Some((message, typed)) => (Some(message), typed),
        None => (
            None,
            target_fields(&usecases::targets_of(store, year, &org).await?, &org),
        ),
    };
    let mut response = html(ReportsPage {
        nav: Nav::new(session, "/ui/bao-cao"),
        can_set_targets,
        targets,
        notice,
        error: error.clone(),
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
        grids,
        chart: charts::columns(&chart_title, &bars),
        chart_title,
        spend,
        spend_total,
        snapshots,
        unattributed: report.unattributed.len(),
    })?;
    if error.is_some() {
        *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// The unit's own spend per channel, and the total.
fn spend_lines(report: &QuarterlyReport) -> (Vec<SpendLine>, SpendLine) {
    let n = |v: u64| format::count(i64::try_from(v).unwrap_or(i64::MAX));
    let (mut messages, mut segments, mut cost) = (0, 0, 0);
    let lines = report
        .spend_of(&report.org_code)
        .map(|s| {
            messages += s.messages;
            segments += s.segments;
            cost += s.cost_milli_vnd;
            SpendLine {
                channel: outreach_report::channel_label(s.channel),
                note: (s.zns_fallbacks > 0).then(|| format!("gồm {} tin Zalo ZNS chuyển sang SMS", n(s.zns_fallbacks))),
                messages: n(s.messages),
                segments: n(s.segments),
                cost: n(s.cost_vnd),
            }
        })
        .collect();
    let total = SpendLine {
        channel: "Tổng",
        note: None,
        messages: n(messages),
        segments: n(segments),
        cost: n(outreach_core::cost::vnd(cost)),
    };
    (lines, total)
}

/// A row of the unit's own table.
fn row(r: &ReportRow) -> Row {
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
}

/// The units of one level as a grid, in the report's order.
fn grid(report: &QuarterlyReport, level: Level, title: &'static str) -> LevelGrid {
    let mut metrics: Vec<String> = Vec::new();
    let mut units: Vec<GridRow> = Vec::new();
    for r in report.level_rows(level) {
        if !metrics.contains(&r.metric) {
            metrics.push(r.metric.clone());
        }
        if units.last().is_none_or(|u| u.code != r.code) {
            units.push(GridRow {
                name: r.name.clone(),
                code: r.code.clone(),
                cells: Vec::new(),
            });
        }
        let ratio = r.kind == MetricKind::Ratio;
        if let Some(unit) = units.last_mut() {
            unit.cells.push(GridCell {
                ytd: format::figure(r.ytd_value, ratio),
                percent: r.percent_of_milestone.map(format::percent),
                status: charts::status_class(r.status),
                status_label: r.status.map_or("", |s| s.label()),
            });
        }
    }
    LevelGrid {
        title,
        metrics: metrics
            .iter()
            .map(|m| outreach_report::metric_label(m).to_string())
            .collect(),
        units,
    }
}

/// The metrics a planner sets targets for, with the unit's current ones.
fn target_fields(current: &[outreach_core::target::TargetPlan], org: &str) -> Vec<TargetField> {
    REPORT_METRICS
        .iter()
        .filter(|m| m.takes_target && m.key != "attendees")
        .map(|m| {
            let percent = m.kind == MetricKind::Ratio;
            let value = current
                .iter()
                .find(|t| t.org_code == org && t.metric == m.key)
                .map(|t| {
                    if percent {
                        format!("{}", (t.value * 1000.0).round() / 10.0)
                    } else {
                        format!("{}", t.value.round() as i64)
                    }
                })
                .unwrap_or_default();
            TargetField {
                key: m.key,
                label: m.label,
                percent,
                value,
            }
        })
        .collect()
}

/// `POST /ui/bao-cao/chi-tieu` (`year`, `org`, a value per metric, `allocate`): set the
/// unit's targets for the year, allocated equally to the units under it when asked.
pub async fn set_targets(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    form: FormData,
) -> Result<Response, UiError> {
    let api = (Method::PUT, "/v1/targets/{year}/{org_code}");
    require_form(
        &headers,
        &session,
        form.get("csrf"),
        api,
        "Vai trò của bạn không đặt chỉ tiêu.",
    )?;
    let store = state.store.as_ref();
    let year: i32 = form.get("year").and_then(|y| y.parse().ok()).unwrap_or_default();
    let quarter: u8 = form.get("quarter").and_then(|q| q.parse().ok()).unwrap_or(1);
    let org = form.get("org").unwrap_or_default().to_string();
    session.caller.require_area(store, &org, "unit", &org).await?;
    let allocate = form.get("allocate").is_some();
    let mut typed = target_fields(&[], &org);
    let mut inputs = Vec::new();
    let mut fault = None;
    for field in &mut typed {
        field.value = form.get(field.key).unwrap_or_default().trim().to_string();
        if field.value.is_empty() {
            continue;
        }
        // `15.000` is fifteen thousand, `42,5` is forty-two and a half (as the pages write them).
        let number = if field.percent {
            field.value.replace(',', ".")
        } else {
            field.value.replace('.', "")
        };
        match number.parse::<f64>() {
            Ok(v) if v >= 0.0 && (!field.percent || v <= 100.0) => inputs.push(TargetInput {
                metric: field.key.to_string(),
                value: v,
                unit: field.percent.then(|| "percent".to_string()),
                milestones: None,
                allocate: allocate.then_some(AllocationInput::Equal),
            }),
            _ => {
                fault.get_or_insert_with(|| {
                    if field.percent {
                        format!("{}: hãy nhập một tỷ lệ từ 0 đến 100 (%).", field.label)
                    } else {
                        format!("{}: hãy nhập một số không âm.", field.label)
                    }
                });
            }
        }
    }
    let query = |year| ReportQuery {
        year: Some(year),
        quarter: Some(quarter),
        org: Some(org.clone()),
        format: None,
        revision: None,
        ok: String::new(),
    };
    if inputs.is_empty() && fault.is_none() {
        fault = Some("Hãy nhập ít nhất một chỉ tiêu.".into());
    }
    if let Some(message) = fault {
        return render(&state, &session, query(year), None, Some((message, typed))).await;
    }
    let before = usecases::targets_of(store, year, &org).await?;
    match usecases::set_targets(store, year, &org, inputs, state.clock.now(), &session.caller.actor()).await {
        Ok(_) => {
            let after = usecases::targets_of(store, year, &org).await?;
            let change = audit::change("targets", format!("{year}/{org}"), Some(&before), Some(&after)).0;
            audit_change(
                &state,
                &session,
                "/ui/bao-cao/chi-tieu",
                "/ui/bao-cao/chi-tieu",
                Some(&change),
            )
            .await;
            Ok(Redirect::to(&format!(
                "/ui/bao-cao?org={org}&year={year}&quarter={quarter}&ok=chi-tieu"
            ))
            .into_response())
        }
        Err(e) => {
            let message = text::error_message(&ApiError::Core(e));
            render(&state, &session, query(year), None, Some((message, typed))).await
        }
    }
}
