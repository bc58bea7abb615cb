use axum::Json;
use axum::extract::State;
use chrono::Datelike;
use outreach_core::audit::AuditEntry;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::routes::List;
use crate::{AppState, PageParams};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditListParams {
    /// The year whose changes to list (default: this year).
    pub year: Option<i32>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The audit log (admins): every change made through the API, oldest first — who, what,
/// when, and each changed field before and after, personal values masked.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditListParams),
    responses((status = 200, body = List<AuditEntry>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<AuditListParams>,
) -> ApiResult<Json<List<AuditEntry>>> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let year = q.year.unwrap_or_else(|| state.clock.now().year());
    if !(2000..=2100).contains(&year) {
        return Err(ApiError::bad("year", "a year between 2000 and 2100"));
    }
    Ok(Json(state.store.list_audit(year, &page).await?.into()))
}
