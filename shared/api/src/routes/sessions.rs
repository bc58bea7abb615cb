use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use outreach_core::ids::SessionId;
use outreach_core::session::Session;
use outreach_core::team::{TeamInput, VolunteerTeam};
use outreach_core::usecases;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::audit::{self, AuditChange};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiJsonOrEmpty};
use crate::routes::split_action;

/// A session with the flags a planner scans for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    #[serde(flatten)]
    pub session: Session,
    /// Fewer volunteers assigned than the session needs.
    pub short_of_staff: bool,
    /// Moved from the time the schedule gave.
    pub moved: bool,
}

impl From<Session> for SessionView {
    fn from(session: Session) -> Self {
        Self {
            short_of_staff: session.is_short_of_staff(),
            moved: session.is_moved(),
            session,
        }
    }
}

/// What `GET /v1/sessions` takes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CommuneSessionParams {
    /// The commune (a commune officer's own when left out; required of everyone else).
    pub commune: Option<String>,
    pub status: Option<outreach_core::session::SessionStatus>,
    /// Sessions starting at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Sessions starting before this instant.
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// One commune's sessions, of every campaign, by start: what a commune officer has to run.
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", params(CommuneSessionParams),
    responses((status = 200, body = crate::routes::List<SessionView>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<CommuneSessionParams>,
) -> ApiResult<Json<crate::routes::List<SessionView>>> {
    let page = crate::PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    if let (Some(from), Some(to)) = (q.from, q.to)
        && to < from
    {
        return Err(ApiError::bad("to", "`to` is before `from`"));
    }
    let commune = match (q.commune, caller.role()) {
        (Some(commune), _) => commune,
        (None, crate::auth::Role::CommuneOfficer) => caller.claims.org.clone(),
        (None, _) => return Err(ApiError::bad("commune", "name the commune whose sessions to list")),
    };
    caller
        .require_area(state.store.as_ref(), &commune, "commune", &commune)
        .await?;
    let filter = outreach_core::ports::SessionFilter {
        campaign: None,
        commune: Some(commune.into()),
        status: q.status,
        from: q.from,
        to: q.to,
    };
    let found = state.store.list_sessions(&filter, &page).await?;
    Ok(Json(crate::routes::List {
        items: found.items.into_iter().map(SessionView::from).collect(),
        next_cursor: found.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SessionId>,
) -> ApiResult<Json<SessionView>> {
    Ok(Json(session_in_area(&state, &caller, &id).await?.into()))
}

/// How many people the session's reminders asked whether they will come, and what they
/// answered (citizens and volunteers apart), against its capacity and staff.
#[utoipa::path(get, path = "/v1/sessions/{id}/headcount", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = outreach_core::answer::Headcount), (status = 404, body = ErrorBody)))]
pub async fn headcount(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SessionId>,
) -> ApiResult<Json<outreach_core::answer::Headcount>> {
    let session = session_in_area(&state, &caller, &id).await?;
    Ok(Json(usecases::session_headcount(state.store.as_ref(), &session).await?))
}

/// The session `id` if its commune is in the caller's area.
pub(crate) async fn session_in_area(state: &AppState, caller: &Caller, id: &SessionId) -> ApiResult<Session> {
    let session = usecases::get_session(state.store.as_ref(), id).await?;
    caller
        .require_area(state.store.as_ref(), session.commune_code.as_str(), "session", id)
        .await?;
    Ok(session)
}

/// Body of `:cancel` (optional) and `:move`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionActionInput {
    /// Why the session is cancelled (`:cancel`).
    #[serde(default)]
    pub reason: Option<String>,
    /// The new start (`:move`, required).
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    /// A new venue (`:move`, optional).
    #[serde(default)]
    pub venue: Option<String>,
}

/// `POST /v1/sessions/{id}:cancel` or `:move`. Only a session that has not started can
/// be changed; a moved session keeps its id and length.
#[utoipa::path(post, path = "/v1/sessions/{id}:{action}", tag = "sessions",
    params(("id" = String, Path), ("action" = String, Path, description = "cancel or move")),
    request_body = SessionActionInput,
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn action(
    State(state): State<AppState>,
    caller: Caller,
    Path(segment): Path<String>,
    ApiJsonOrEmpty(input): ApiJsonOrEmpty<SessionActionInput>,
) -> ApiResult<(Extension<AuditChange>, Json<SessionView>)> {
    let (id, action) = split_action(&segment)?;
    let id = &SessionId::from(id);
    let before = session_in_area(&state, &caller, id).await?;
    let store = state.store.as_ref();
    let now = state.clock.now();
    let session = match action {
        "cancel" => usecases::cancel_session(store, id, input.reason, now).await?,
        "move" => {
            let starts_at = input
                .starts_at
                .ok_or_else(|| ApiError::bad("starts_at", "a move needs the new start"))?;
            usecases::move_session(store, id, starts_at, input.venue, now).await?
        }
        other => {
            return Err(ApiError::bad(
                "action",
                format!("unknown action {other:?}: cancel or move"),
            ));
        }
    };
    Ok((
        audit::change("session", id, Some(&before), Some(&session)),
        Json(session.into()),
    ))
}

/// The volunteers who staff a session.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffInput {
    pub volunteer_ids: Vec<String>,
}

/// Assign the volunteers of the commune's team who staff a session (replaces the list).
#[utoipa::path(put, path = "/v1/sessions/{id}/staff", tag = "sessions", params(("id" = String, Path)),
    request_body = StaffInput,
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn assign_staff(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<SessionId>,
    ApiJson(input): ApiJson<StaffInput>,
) -> ApiResult<(Extension<AuditChange>, Json<SessionView>)> {
    let before = session_in_area(&state, &caller, &id).await?;
    let session = usecases::assign_staff(state.store.as_ref(), &id, input.volunteer_ids, state.clock.now()).await?;
    Ok((
        audit::change("session", &id, Some(&before), Some(&session)),
        Json(session.into()),
    ))
}

#[utoipa::path(get, path = "/v1/teams/{commune}", tag = "teams", params(("commune" = String, Path)),
    responses((status = 200, body = VolunteerTeam), (status = 404, body = ErrorBody)))]
pub async fn get_team(
    State(state): State<AppState>,
    caller: Caller,
    Path(commune): Path<String>,
) -> ApiResult<Json<VolunteerTeam>> {
    caller
        .require_area(state.store.as_ref(), &commune, "commune", &commune)
        .await?;
    Ok(Json(usecases::get_team(state.store.as_ref(), &commune).await?))
}

/// Set a commune's volunteer team (đội tình nguyện): members are registered volunteers.
#[utoipa::path(put, path = "/v1/teams/{commune}", tag = "teams", params(("commune" = String, Path)),
    request_body = TeamInput,
    responses((status = 200, body = VolunteerTeam), (status = 422, body = ErrorBody)))]
pub async fn put_team(
    State(state): State<AppState>,
    caller: Caller,
    Path(commune): Path<String>,
    ApiJson(input): ApiJson<TeamInput>,
) -> ApiResult<(Extension<AuditChange>, Json<VolunteerTeam>)> {
    let store = state.store.as_ref();
    caller.require_area(store, &commune, "commune", &commune).await?;
    let before = store.get_team(&commune).await?;
    let actor = caller.actor_in_area(store).await?;
    let team = usecases::put_team(store, &commune, input, state.clock.now(), &actor).await?;
    Ok((
        audit::change("team", &commune, before.as_ref(), Some(&team)),
        Json(team),
    ))
}
