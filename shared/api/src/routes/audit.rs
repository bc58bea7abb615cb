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

/// The audit log (admins): every change made through the API by a caller of the admin's
/// province, or by a webhook to data of the province, oldest first — who, what, when, and each changed field before and after,
/// personal values masked. A page may hold fewer entries than `limit` (another province's
/// are left out); the log ends where `next_cursor` is absent.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditListParams),
    responses((status = 200, body = List<AuditEntry>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
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
    let area = caller.area(state.store.as_ref()).await?;
    let mine = |entry: &AuditEntry| {
        [&entry.org, &entry.unit]
            .into_iter()
            .any(|unit| unit.as_ref().is_some_and(|u| area.contains(u)))
    };
    // Pages of other provinces' entries are skipped, a bounded number per request.
    let mut page = page;
    for _ in 0..MAX_PAGES_SKIPPED {
        let mut found = state.store.list_audit(year, &page).await?;
        found.items.retain(mine);
        match found.next_cursor.clone() {
            Some(cursor) if found.items.is_empty() => page.cursor = Some(cursor),
            _ => return Ok(Json(found.into())),
        }
    }
    Ok(Json(List {
        items: Vec::new(),
        next_cursor: page.cursor,
    }))
}

/// Store pages of other provinces' entries one request reads before it answers an empty
/// page with the cursor to go on from.
const MAX_PAGES_SKIPPED: usize = 20;
