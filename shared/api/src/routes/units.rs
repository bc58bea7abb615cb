use axum::extract::{Path, Request, State};
use axum::{Extension, Json};
use chrono::NaiveDate;
use outreach_core::ids::UnitCode;
use outreach_core::org::{
    ImportScope, ImportSummary, ImportValidity, Level, OrgUnit, parse_units_csv, parse_units_json,
};
use outreach_core::ports::OrgUnitFilter;
use outreach_core::usecases;
use serde::Deserialize;

use crate::audit::AuditChange;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, TextUpload, text_upload};
use crate::routes::List;
use crate::{AppState, PageParams};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnitListParams {
    pub level: Option<Level>,
    /// Direct children of this unit.
    pub parent: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/org-units", tag = "org-units", params(UnitListParams),
    responses((status = 200, body = List<OrgUnit>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<UnitListParams>,
) -> ApiResult<Json<List<OrgUnit>>> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let filter = OrgUnitFilter {
        level: q.level,
        parent_code: q.parent.map(UnitCode::from),
    };
    Ok(Json(state.store.list_org_units(&filter, &page).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnitGetParams {
    /// The version valid on this date (YYYY-MM-DD); the latest when omitted.
    pub on: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/v1/org-units/{code}", tag = "org-units",
    params(("code" = String, Path, description = "Official unit code"), UnitGetParams),
    responses((status = 200, body = OrgUnit), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    _caller: Caller,
    Path(code): Path<String>,
    ApiQuery(q): ApiQuery<UnitGetParams>,
) -> ApiResult<Json<OrgUnit>> {
    Ok(Json(usecases::get_org_unit(state.store.as_ref(), &code, q.on).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// First day the imported units are valid (for rows without their own).
    pub valid_from: Option<NaiveDate>,
    /// Last day the imported units are valid (for rows without their own).
    pub valid_until: Option<NaiveDate>,
}

/// Import units from a JSON array (`application/json`) or CSV (`text/csv`) of
/// `{code, name, level, parent_code}`. All or nothing: any bad row refuses the file, and
/// the answer lists every bad row with its reasons. An admin imports only units of their
/// own province: new units under it, stored ones that lie under it already. Audited as a
/// `unit import`: the units created, new versions, each field of a version replaced.
#[utoipa::path(post, path = "/v1/org-units:import", tag = "org-units", params(ImportParams),
    request_body(content = String, description = "JSON array or CSV of units", content_type = "text/csv"),
    responses((status = 200, body = ImportSummary), (status = 422, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ImportParams>,
    req: Request,
) -> ApiResult<(Extension<AuditChange>, Json<ImportSummary>)> {
    let TextUpload { content_type, text } = text_upload(req, &state).await?;
    let rows = if content_type.starts_with("application/json") {
        parse_units_json(&text)?
    } else if content_type.starts_with("text/csv") {
        parse_units_csv(&text)?
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "send the units as application/json or text/csv".into(),
        ));
    };
    let validity = ImportValidity {
        valid_from: q.valid_from,
        valid_until: q.valid_until,
    };
    let import = usecases::import_org_units(
        state.store.as_ref(),
        rows,
        validity,
        ImportScope::Within(&caller.claims.org),
    )
    .await?;
    let change = AuditChange::of_fields("unit import", &usecases::new_id("imp"), import.changes);
    Ok((Extension(change), Json(import.summary)))
}
