//! Attendance and outcomes of sessions, official statistics, targets, and the quarterly
//! report with its snapshots and exports.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use outreach_core::ids::SessionId;
use outreach_core::outcome::{OfficialStatistics, SessionRecord};
use outreach_core::quarter::Quarter;
use outreach_core::report::{QuarterlyReport, ReportSnapshot};
use outreach_core::target::{TargetInput, TargetPlan};
use outreach_core::usecases::{self, AttendanceInput, CheckIn, CheckInOutcome, OutcomesInput, StatisticsImportReport};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::audit::{self, AuditChange};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, csv_upload};
use crate::routes::sessions::session_in_area;

/// `PUT /v1/sessions/{id}/attendance`: the whole list; sending it again corrects it.
#[utoipa::path(put, path = "/v1/sessions/{id}/attendance", tag = "outcomes", params(("id" = String, Path)),
    request_body = AttendanceInput,
    responses((status = 200, body = SessionRecord), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_attendance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SessionId>,
    ApiJson(input): ApiJson<AttendanceInput>,
) -> ApiResult<(Extension<AuditChange>, Json<SessionRecord>)> {
    session_in_area(&state, &caller, &id).await?;
    let before = state.store.get_session_record(&id).await?;
    let actor = caller.actor_in_area(state.store.as_ref()).await?;
    let record = usecases::record_attendance(state.store.as_ref(), &id, input, state.clock.now(), &actor).await?;
    Ok((
        audit::change("session record", &id, before.as_ref(), Some(&record)),
        Json(record),
    ))
}

/// `POST /v1/sessions/{id}/check-ins`: one person at the door, a registered contact
/// (`{"contact_id"}`) or a walk-in (`{"phone", "name"}`); checking someone in twice counts
/// once. Open from an hour before the start.
#[utoipa::path(post, path = "/v1/sessions/{id}/check-ins", tag = "outcomes", params(("id" = String, Path)),
    request_body = CheckIn,
    responses((status = 200, body = CheckInOutcome), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn check_in(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SessionId>,
    ApiJson(who): ApiJson<CheckIn>,
) -> ApiResult<(Extension<AuditChange>, Json<CheckInOutcome>)> {
    session_in_area(&state, &caller, &id).await?;
    let before = state.store.get_session_record(&id).await?;
    let actor = caller.actor_in_area(state.store.as_ref()).await?;
    let outcome = usecases::check_in(state.store.as_ref(), &id, who, state.clock.now(), &actor).await?;
    let after = state.store.get_session_record(&id).await?;
    Ok((
        audit::change("session record", &id, before.as_ref(), after.as_ref()),
        Json(outcome),
    ))
}

/// `PUT /v1/sessions/{id}/outcomes`: the counts; sending them again corrects them.
#[utoipa::path(put, path = "/v1/sessions/{id}/outcomes", tag = "outcomes", params(("id" = String, Path)),
    request_body = OutcomesInput,
    responses((status = 200, body = SessionRecord), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_outcomes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SessionId>,
    ApiJson(input): ApiJson<OutcomesInput>,
) -> ApiResult<(Extension<AuditChange>, Json<SessionRecord>)> {
    session_in_area(&state, &caller, &id).await?;
    let before = state.store.get_session_record(&id).await?;
    let record =
        usecases::record_outcomes(state.store.as_ref(), &id, input, state.clock.now(), &caller.actor()).await?;
    Ok((
        audit::change("session record", &id, before.as_ref(), Some(&record)),
        Json(record),
    ))
}

/// What was recorded for a session (attendance and outcomes).
#[utoipa::path(get, path = "/v1/sessions/{id}/attendance", tag = "outcomes", params(("id" = String, Path)),
    responses((status = 200, body = SessionRecord), (status = 404, body = ErrorBody)))]
pub async fn get_attendance(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SessionId>,
) -> ApiResult<Json<SessionRecord>> {
    get_record(&state, &caller, &id).await
}

/// What was recorded for a session (the same record as its attendance).
#[utoipa::path(get, path = "/v1/sessions/{id}/outcomes", tag = "outcomes", params(("id" = String, Path)),
    responses((status = 200, body = SessionRecord), (status = 404, body = ErrorBody)))]
pub async fn get_outcomes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SessionId>,
) -> ApiResult<Json<SessionRecord>> {
    get_record(&state, &caller, &id).await
}

async fn get_record(state: &AppState, caller: &Caller, id: &SessionId) -> ApiResult<Json<SessionRecord>> {
    session_in_area(state, caller, id).await?;
    let record = state
        .store
        .get_session_record(id)
        .await?
        .ok_or_else(|| outreach_core::CoreError::not_found("session record", id))?;
    Ok(Json(record))
}

/// Body of `PUT /v1/statistics`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatisticsInput {
    pub statistics: Vec<OfficialStatistics>,
}

/// Official statistics per commune and quarter (`dossiers_online`, `dossiers_total`,
/// `services_publicized`, `services_total`): all rows are checked, then all are written.
#[utoipa::path(put, path = "/v1/statistics", tag = "outcomes", request_body = StatisticsInput,
    responses((status = 200, body = StatisticsImportReport), (status = 422, body = ErrorBody)))]
pub async fn put_statistics(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<StatisticsInput>,
) -> ApiResult<Json<StatisticsImportReport>> {
    require_statistics_area(&state, &caller, &input.statistics).await?;
    Ok(Json(
        usecases::set_official_statistics(state.store.as_ref(), input.statistics).await?,
    ))
}

/// The same from a CSV file (`text/csv`) with header `commune_code,year,quarter,
/// dossiers_online,dossiers_total,services_publicized,services_total`.
#[utoipa::path(post, path = "/v1/statistics:import", tag = "outcomes",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = StatisticsImportReport), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_statistics(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult<Json<StatisticsImportReport>> {
    let text = csv_upload(req, &state, "the statistics").await?;
    let rows = usecases::parse_statistics_csv(&text)?;
    require_statistics_area(&state, &caller, &rows).await?;
    Ok(Json(
        usecases::set_official_statistics(state.store.as_ref(), rows).await?,
    ))
}

/// Refuse statistics of a commune outside the caller's area (naming the first).
async fn require_statistics_area(state: &AppState, caller: &Caller, rows: &[OfficialStatistics]) -> ApiResult<()> {
    let communes: Vec<&str> = rows.iter().map(|r| r.commune_code.as_str()).collect();
    match caller.first_outside(state.store.as_ref(), &communes).await? {
        None => Ok(()),
        Some(i) => Err(ApiError::Forbidden(format!(
            "statistics[{i}]: commune {} is outside your area",
            communes[i]
        ))),
    }
}

/// Body of `PUT /v1/targets/{year}/{org_code}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetsInput {
    pub targets: Vec<TargetInput>,
}

/// A unit's targets for a year and the shares allocated to the units under it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TargetList {
    pub items: Vec<TargetPlan>,
}

fn year_of(year: &str) -> ApiResult<i32> {
    year.parse::<i32>()
        .ok()
        .filter(|y| (2000..=2100).contains(y))
        .ok_or_else(|| ApiError::bad("year", "a year between 2000 and 2100"))
}

/// Set a unit's yearly targets; each may be allocated to the units under it (`equal`,
/// `weighted` by `weights`, or `explicit` `shares`). Ratio targets are fractions (0.4), or
/// percentages with `"unit": "percent"`. Milestones default to 25/50/75/100 % (ratios:
/// the target all year).
#[utoipa::path(put, path = "/v1/targets/{year}/{org_code}", tag = "targets",
    params(("year" = i32, Path), ("org_code" = String, Path)), request_body = TargetsInput,
    responses((status = 200, body = TargetList), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_targets(
    State(state): State<AppState>,
    caller: Caller,
    Path((year, org)): Path<(String, String)>,
    ApiJson(input): ApiJson<TargetsInput>,
) -> ApiResult<(Extension<AuditChange>, Json<TargetList>)> {
    let year = year_of(&year)?;
    caller.require_area(state.store.as_ref(), &org, "unit", &org).await?;
    let before = TargetList {
        items: usecases::targets_of(state.store.as_ref(), year, &org).await?,
    };
    usecases::set_targets(
        state.store.as_ref(),
        year,
        &org,
        input.targets,
        state.clock.now(),
        &caller.actor(),
    )
    .await?;
    let after = TargetList {
        items: usecases::targets_of(state.store.as_ref(), year, &org).await?,
    };
    let change = audit::change("targets", format!("{year}/{org}"), Some(&before), Some(&after));
    Ok((change, Json(after)))
}

#[utoipa::path(get, path = "/v1/targets/{year}/{org_code}", tag = "targets",
    params(("year" = i32, Path), ("org_code" = String, Path)),
    responses((status = 200, body = TargetList), (status = 400, body = ErrorBody)))]
pub async fn get_targets(
    State(state): State<AppState>,
    caller: Caller,
    Path((year, org)): Path<(String, String)>,
) -> ApiResult<Json<TargetList>> {
    let year = year_of(&year)?;
    caller.require_area(state.store.as_ref(), &org, "unit", &org).await?;
    Ok(Json(TargetList {
        items: usecases::targets_of(state.store.as_ref(), year, &org).await?,
    }))
}

/// The export formats of a report.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    #[default]
    Json,
    Csv,
    Xlsx,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    pub year: i32,
    pub quarter: u8,
    /// The unit reported on (its code).
    pub org: String,
    #[serde(default)]
    #[param(inline)]
    pub format: ReportFormat,
    /// A snapshot's revision, or `latest`; without it the report is built now.
    #[serde(default)]
    pub revision: Option<String>,
}

/// Send a report in the format asked for.
pub fn export(report: &QuarterlyReport, format: ReportFormat) -> ApiResult<Response> {
    let base = format!("bao-cao-{}-Q{}-{}", report.year, report.quarter, report.org_code);
    let (bytes, content_type, extension) = match format {
        ReportFormat::Json => return Ok(Json(report).into_response()),
        ReportFormat::Csv => (outreach_report::to_csv(report), "text/csv; charset=utf-8", "csv"),
        ReportFormat::Xlsx => (
            outreach_report::to_xlsx(report).map_err(|e| {
                tracing::error!(error.message = %e, "xlsx export failed");
                ApiError::Core(outreach_core::CoreError::Storage(Box::new(e)))
            })?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    };
    let mut response = Response::new(Body::from(bytes));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{base}.{extension}\"")) {
        response.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// The quarterly report of a unit and every unit under it: quarter and year-to-date
/// figures, milestones and status, rolled up from the running tallies. `format=csv`
/// (UTF-8 with BOM) or `xlsx` downloads it; `revision` reads a frozen snapshot instead.
#[utoipa::path(get, path = "/v1/reports/quarterly", tag = "reports", params(ReportParams),
    responses((status = 200, body = QuarterlyReport), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn quarterly(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ReportParams>,
) -> ApiResult<Response> {
    let quarter = Quarter::new(q.year, q.quarter)?;
    caller
        .require_area(state.store.as_ref(), &q.org, "unit", &q.org)
        .await?;
    let report = match q.revision.as_deref() {
        None => usecases::quarterly_report(state.store.as_ref(), &q.org, quarter, state.clock.now()).await?,
        Some(r) => {
            let revision = match r {
                "latest" => None,
                n => Some(
                    n.parse::<u32>()
                        .map_err(|_| ApiError::bad("revision", "a revision number or `latest`"))?,
                ),
            };
            state
                .store
                .get_snapshot(&q.org, quarter, revision)
                .await?
                .ok_or_else(|| {
                    outreach_core::CoreError::not_found(
                        "report snapshot",
                        format!("{} {}-Q{} {r}", q.org, q.year, q.quarter),
                    )
                })?
                .report
        }
    };
    export(&report, q.format)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SnapshotParams {
    pub year: i32,
    pub quarter: u8,
    pub org: String,
}

/// A snapshot as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotInfo {
    pub revision: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotList {
    pub items: Vec<SnapshotInfo>,
}

/// Freeze the report now as the quarter's next revision (earlier revisions are kept).
#[utoipa::path(post, path = "/v1/reports/quarterly:snapshot", tag = "reports", params(SnapshotParams),
    responses((status = 201, body = ReportSnapshot), (status = 422, body = ErrorBody)))]
pub async fn snapshot(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SnapshotParams>,
) -> ApiResult<(StatusCode, Json<ReportSnapshot>)> {
    let quarter = Quarter::new(q.year, q.quarter)?;
    caller
        .require_area(state.store.as_ref(), &q.org, "unit", &q.org)
        .await?;
    let snapshot = usecases::take_snapshot(
        state.store.as_ref(),
        &q.org,
        quarter,
        &caller.claims.sub,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(snapshot)))
}

/// The revisions kept for a unit's quarter.
#[utoipa::path(get, path = "/v1/reports/quarterly/snapshots", tag = "reports", params(SnapshotParams),
    responses((status = 200, body = SnapshotList), (status = 422, body = ErrorBody)))]
pub async fn snapshots(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SnapshotParams>,
) -> ApiResult<Json<SnapshotList>> {
    let quarter = Quarter::new(q.year, q.quarter)?;
    caller
        .require_area(state.store.as_ref(), &q.org, "unit", &q.org)
        .await?;
    let items = state
        .store
        .snapshot_revisions(&q.org, quarter)
        .await?
        .into_iter()
        .map(|(revision, created_at)| SnapshotInfo { revision, created_at })
        .collect();
    Ok(Json(SnapshotList { items }))
}
