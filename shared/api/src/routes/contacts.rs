use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use outreach_core::contact::{Channel, ConsentInput, Contact, ContactInput, Role, parse_contacts_csv};
use outreach_core::ports::ContactFilter;
use outreach_core::usecases::{self, ContactImportReport};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery, csv_upload};
use crate::routes::List;
use crate::{AppState, PageParams};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactListParams {
    pub commune: Option<String>,
    pub role: Option<Role>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", params(ContactListParams),
    responses((status = 200, body = List<Contact>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(q): ApiQuery<ContactListParams>,
) -> ApiResult<Json<List<Contact>>> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let filter = ContactFilter {
        commune: q.commune,
        role: q.role,
    };
    Ok(Json(state.store.list_contacts(&filter, &page).await?.into()))
}

#[utoipa::path(post, path = "/v1/contacts", tag = "contacts", request_body = ContactInput,
    responses((status = 201, body = Contact), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<ContactInput>,
) -> ApiResult<(StatusCode, Json<Contact>)> {
    caller.require_write()?;
    let contact = usecases::register_contact(state.store.as_ref(), input, state.clock.now(), &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path)),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Contact>> {
    Ok(Json(usecases::get_contact(state.store.as_ref(), &id).await?))
}

/// Import a contact list (`text/csv`): header `name,phone,role,commune_code` and optional
/// `email,consent_sms,consent_email,consent_method,consent_wording_version,consent_at`.
/// Good rows are kept; each bad row is reported with its reason.
#[utoipa::path(post, path = "/v1/contacts:import", tag = "contacts",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ContactImportReport), (status = 400, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult<Json<ContactImportReport>> {
    caller.require_write()?;
    let text = csv_upload(req, &state, "the contact list").await?;
    let rows = parse_contacts_csv(&text)?;
    let report = usecases::import_contacts(state.store.as_ref(), rows, state.clock.now(), &caller.actor()).await?;
    Ok(Json(report))
}

#[utoipa::path(post, path = "/v1/contacts/{id}/consents", tag = "contacts", params(("id" = String, Path)),
    request_body = ConsentInput,
    responses((status = 201, body = Contact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_consent(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ConsentInput>,
) -> ApiResult<(StatusCode, Json<Contact>)> {
    caller.require_write()?;
    let contact =
        usecases::record_consent(state.store.as_ref(), &id, input, state.clock.now(), &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

/// An opt-out request; without a channel, every channel.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptOutInput {
    #[serde(default)]
    pub channel: Option<Channel>,
}

#[utoipa::path(post, path = "/v1/contacts/{id}/opt-out", tag = "contacts", params(("id" = String, Path)),
    request_body = OptOutInput, responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
pub async fn opt_out(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJsonOrEmpty(input): ApiJsonOrEmpty<OptOutInput>,
) -> ApiResult<Json<Contact>> {
    caller.require_write()?;
    let contact = usecases::opt_out(state.store.as_ref(), &id, input.channel, "planner", state.clock.now()).await?;
    Ok(Json(contact))
}
