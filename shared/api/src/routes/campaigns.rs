use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use outreach_core::campaign::{Campaign, CampaignAction, CampaignInput, CampaignPatch, CampaignStatus};
use outreach_core::ids::{CampaignId, UnitCode};
use outreach_core::org::UnitChange;
use outreach_core::ports::SessionFilter;
use outreach_core::schedule::{CronSchedule, DEFAULT_TIME_ZONE, Period};
use outreach_core::session::SessionStatus;
use outreach_core::usecases;
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditChange};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::sessions::SessionView;
use crate::routes::{List, split_action};
use crate::{AppState, PageParams};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CampaignListParams {
    pub status: Option<CampaignStatus>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/campaigns", tag = "campaigns", params(CampaignListParams),
    responses((status = 200, body = List<Campaign>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CampaignListParams>,
) -> ApiResult<Json<List<Campaign>>> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let store = state.store.as_ref();
    let mut page = store.list_campaigns(q.status, &page).await?;
    // The campaigns with a commune in the caller's area (a page may then hold fewer than
    // `limit`; follow `next_cursor`).
    let area = caller.area(store).await?;
    page.items.retain(|c| reaches(c, &area));
    Ok(Json(page.into()))
}

/// Whether a campaign holds sessions in one of `area`'s units.
fn reaches(campaign: &Campaign, area: &HashSet<String>) -> bool {
    campaign
        .communes
        .iter()
        .chain(&campaign.target_units)
        .any(|c| area.contains(c.as_str()))
}

/// What a caller needs of a campaign's area for what they do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// To read it: some of it lies in their area.
    Touches,
    /// To change it: all of it does.
    Whole,
}

/// The campaign `id` if it lies in the caller's area as far as `reach` needs.
pub(crate) async fn campaign_in_area(
    state: &AppState,
    caller: &Caller,
    id: &CampaignId,
    reach: Reach,
) -> ApiResult<Campaign> {
    let store = state.store.as_ref();
    let campaign = usecases::get_campaign(store, id).await?;
    match reach {
        Reach::Whole => {
            caller
                .require_all(store, &campaign.target_units, "target_units")
                .await?
        }
        Reach::Touches if !reaches(&campaign, &caller.area(store).await?) => {
            return Err(caller.outside("campaign", id.as_str()));
        }
        Reach::Touches => {}
    }
    Ok(campaign)
}

/// Create a campaign (as a draft). Target units may be communes, districts or the
/// province; they expand to the communes valid on the period's first day.
#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", request_body = CampaignInput,
    responses((status = 201, body = Campaign), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<CampaignInput>,
) -> ApiResult<(StatusCode, Extension<AuditChange>, Json<Campaign>)> {
    caller
        .require_all(state.store.as_ref(), &input.target_units, "target_units")
        .await?;
    let campaign = usecases::create_campaign(state.store.as_ref(), input, state.clock.now()).await?;
    let change = audit::change("campaign", &campaign.id, None, Some(&campaign));
    Ok((StatusCode::CREATED, change, Json(campaign)))
}

/// Edit a campaign: any field of the create input (a JSON merge; `reminder_rules`, when
/// given, replaces the list) with the `version` read. A draft may change everything; an
/// active or paused one its name, description, venues, capacity, min_staff, reminder rules
/// and end date (not before its last session held), not its schedule, time zone, session
/// length, start date or target units (422 naming the field). Sessions not yet started and
/// reminders not yet sent follow the change. A stale `version` answers 409; so does a
/// completed or cancelled campaign.
#[utoipa::path(patch, path = "/v1/campaigns/{id}", tag = "campaigns", params(("id" = String, Path)),
    request_body = CampaignPatch,
    responses((status = 200, body = Campaign), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CampaignId>,
    ApiJson(patch): ApiJson<CampaignPatch>,
) -> ApiResult<(Extension<AuditChange>, Json<Campaign>)> {
    let store = state.store.as_ref();
    campaign_in_area(&state, &caller, &id, Reach::Touches).await?;
    let before = campaign_in_area(&state, &caller, &id, Reach::Whole).await?;
    if let Some(units) = &patch.target_units {
        caller.require_all(store, units, "target_units").await?;
    }
    let after = usecases::update_campaign(store, &id, patch, state.clock.now()).await?;
    Ok((audit::change("campaign", &id, Some(&before), Some(&after)), Json(after)))
}

#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, body = Campaign), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CampaignId>,
) -> ApiResult<Json<Campaign>> {
    Ok(Json(campaign_in_area(&state, &caller, &id, Reach::Touches).await?))
}

/// What a campaign is expected to cost (a draft too, before activation): its sessions from
/// the schedule, the people each reminder reaches today by channel, SMS segments per
/// commune, and the cost per channel in đồng at the configured prices.
#[utoipa::path(get, path = "/v1/campaigns/{id}/estimate", tag = "campaigns", params(("id" = String, Path)),
    responses((status = 200, body = usecases::CampaignEstimate), (status = 404, body = ErrorBody)))]
pub async fn estimate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CampaignId>,
) -> ApiResult<Json<usecases::CampaignEstimate>> {
    let campaign = campaign_in_area(&state, &caller, &id, Reach::Touches).await?;
    let estimate =
        usecases::estimate_campaign(state.store.as_ref(), &campaign, &state.prices, state.clock.now()).await?;
    Ok(Json(estimate))
}

/// Lifecycle: `POST /v1/campaigns/{id}:activate` (also `:pause`, `:cancel`, `:complete`).
/// draft → active → paused ⇄ active; draft/active/paused → cancelled (its sessions to
/// come are cancelled too); active/paused → completed. Other transitions answer 409.
#[utoipa::path(post, path = "/v1/campaigns/{id}:{action}", tag = "campaigns",
    params(("id" = String, Path), ("action" = CampaignAction, Path)),
    responses((status = 200, body = Campaign), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn action(
    State(state): State<AppState>,
    caller: Caller,
    Path(segment): Path<String>,
) -> ApiResult<(Extension<AuditChange>, Json<Campaign>)> {
    let (id, action) = split_action(&segment)?;
    let id = &CampaignId::from(id);
    let action = action.parse::<CampaignAction>().map_err(|_| {
        ApiError::bad(
            "action",
            format!("unknown action {action:?}: activate, pause, cancel or complete"),
        )
    })?;
    let before = campaign_in_area(&state, &caller, id, Reach::Whole).await?;
    let after = usecases::act_on_campaign(state.store.as_ref(), id, action, state.clock.now()).await?;
    Ok((audit::change("campaign", id, Some(&before), Some(&after)), Json(after)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionListParams {
    pub commune: Option<String>,
    pub status: Option<SessionStatus>,
    /// Sessions starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Sessions starting before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only sessions with fewer volunteers assigned than they need (filters the page).
    pub short_of_staff: Option<bool>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A campaign's sessions, by start; each flags whether it is short of staff.
#[utoipa::path(get, path = "/v1/campaigns/{id}/sessions", tag = "campaigns",
    params(("id" = String, Path), SessionListParams),
    responses((status = 200, body = List<SessionView>), (status = 404, body = ErrorBody)))]
pub async fn sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<CampaignId>,
    ApiQuery(q): ApiQuery<SessionListParams>,
) -> ApiResult<Json<List<SessionView>>> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    if let (Some(from), Some(to)) = (q.from, q.to)
        && to < from
    {
        return Err(ApiError::bad("to", "`to` is before `from`"));
    }
    campaign_in_area(&state, &caller, &id, Reach::Touches).await?;
    let store = state.store.as_ref();
    if let Some(commune) = &q.commune {
        caller.require_area(store, commune, "commune", commune).await?;
    }
    let area = caller.area(store).await?;
    let filter = SessionFilter {
        campaign: Some(id),
        commune: q.commune.map(UnitCode::from),
        status: q.status,
        from: q.from,
        to: q.to,
    };
    let page = state.store.list_sessions(&filter, &page).await?;
    let items = page
        .items
        .into_iter()
        .filter(|s| area.contains(s.commune_code.as_str()))
        .map(SessionView::from)
        .filter(|s| q.short_of_staff.is_none_or(|want| s.short_of_staff == want))
        .collect();
    Ok(Json(List {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// A schedule to preview; with a period and target units, the changes of units it meets.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    pub cron: String,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "Asia/Ho_Chi_Minh")]
    pub time_zone: Option<Tz>,
    /// Preview sessions after this instant; when omitted, now, or the period's start when a
    /// period is given.
    #[serde(default)]
    pub after: Option<DateTime<Utc>>,
    /// How many sessions (default 10, at most 100).
    #[serde(default)]
    pub count: Option<usize>,
    /// The campaign's period (local dates, both inclusive): sessions are previewed within
    /// it, and `unit_changes` covers all of it.
    #[serde(default)]
    pub period: Option<Period>,
    /// The campaign's target units (communes, districts or the province), expanded to the
    /// communes valid on the period's first day (without a period: on the first previewed
    /// session's date). With them, the preview lists in `unit_changes` the communes that
    /// end within the period (or between the first and last previewed session).
    #[serde(default)]
    pub target_units: Vec<String>,
}

/// One previewed session start.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewItem {
    pub starts_at: DateTime<Utc>,
    /// The same instant in the schedule's zone (RFC 3339 with its offset).
    pub local: String,
}

/// The preview: the next sessions of the schedule, and the changes of units they cross.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    pub time_zone: String,
    pub sessions: Vec<PreviewItem>,
    /// The target units' communes that end within the period (a change of units, such as
    /// the reform of 1 July 2025): on which day, and which units hold their sessions from
    /// the next (the planner plans them there; none: they stop). Empty without
    /// `target_units` or when nothing changes.
    pub unit_changes: Vec<UnitChange>,
}

/// Preview the next N sessions of a cron expression in a time zone, within a period when
/// one is given; with target units, say which of their communes end or are replaced
/// within it, on which date and by what.
#[utoipa::path(post, path = "/v1/schedule:preview", tag = "campaigns", request_body = PreviewInput,
    responses((status = 200, body = Preview), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    _caller: Caller,
    ApiJson(input): ApiJson<PreviewInput>,
) -> ApiResult<Json<Preview>> {
    let count = input.count.unwrap_or(10);
    if !(1..=100).contains(&count) {
        return Err(ApiError::bad("count", "between 1 and 100"));
    }
    let tz = input.time_zone.unwrap_or(DEFAULT_TIME_ZONE);
    let schedule = CronSchedule::parse(&input.cron, tz)?;
    let starts: Vec<DateTime<Utc>> = match input.period {
        Some(period) => {
            let period = Period::new(period.start, period.end)?;
            schedule
                .occurrences_in(&period)
                .filter(|t| input.after.is_none_or(|after| *t > after))
                .take(count)
                .collect()
        }
        None => schedule.next_sessions(input.after.unwrap_or_else(|| state.clock.now()), count),
    };
    // Units change on Vietnam's calendar, whatever zone the schedule is written in.
    let local_day = |t: &DateTime<Utc>| t.with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let span = input.period.or_else(|| {
        Some(Period {
            start: local_day(starts.first()?),
            end: local_day(starts.last()?),
        })
    });
    let unit_changes = match span {
        Some(span) if !input.target_units.is_empty() => {
            usecases::unit_changes(state.store.as_ref(), &input.target_units, span, "target_units").await?
        }
        _ => Vec::new(),
    };
    let sessions = starts
        .into_iter()
        .map(|t| PreviewItem {
            starts_at: t,
            local: t.with_timezone(&tz).to_rfc3339(),
        })
        .collect();
    Ok(Json(Preview {
        time_zone: tz.name().to_string(),
        sessions,
        unit_changes,
    }))
}
