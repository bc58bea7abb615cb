use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use outreach_core::audit::AuditStamp;
use outreach_core::contact::{Channel, ConsentInput, Contact, ContactInput, ContactRole, parse_contacts_csv};
use outreach_core::ids::{ContactId, UnitCode};
use outreach_core::ports::ContactFilter;
use outreach_core::usecases::{self, ContactExport, ContactImportReport};
use serde::Deserialize;

use crate::audit::{self, AuditChange, AuditRecorded};
use crate::auth::{Caller, Role as CallerRole};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiJsonOrEmpty, ApiQuery, csv_upload};
use crate::routes::List;
use crate::{AppState, PageParams};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactListParams {
    pub commune: Option<String>,
    pub role: Option<ContactRole>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", params(ContactListParams),
    responses((status = 200, body = List<Contact>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ContactListParams>,
) -> ApiResult<Json<List<Contact>>> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let store = state.store.as_ref();
    let commune = match q.commune {
        Some(commune) => {
            caller.require_area(store, &commune, "commune", &commune).await?;
            Some(commune)
        }
        // A commune officer's list is their commune's.
        None if caller.role() == CallerRole::CommuneOfficer => Some(caller.claims.org.clone()),
        None => None,
    };
    let filter = ContactFilter {
        commune: commune.clone().map(UnitCode::from),
        role: q.role,
    };
    let mut page = store.list_contacts(&filter, &page).await?;
    if commune.is_none() {
        // Without a commune the list is every contact's: keep the caller's area (a page may
        // then hold fewer than `limit`; follow `next_cursor`).
        let area = caller.area(store).await?;
        page.items.retain(|c| area.contains(c.commune_code.as_str()));
    }
    Ok(Json(page.into()))
}

#[utoipa::path(post, path = "/v1/contacts", tag = "contacts", request_body = ContactInput,
    responses((status = 201, body = Contact), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<ContactInput>,
) -> ApiResult<(StatusCode, Extension<AuditChange>, Json<Contact>)> {
    let store = state.store.as_ref();
    caller
        .require_area(store, &input.commune_code, "commune", &input.commune_code)
        .await?;
    let contact = usecases::register_contact(store, input, state.clock.now(), &caller.actor()).await?;
    let change = audit::change("contact", &contact.id, None, Some(&contact));
    Ok((StatusCode::CREATED, change, Json(contact)))
}

#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path)),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
) -> ApiResult<Json<Contact>> {
    Ok(Json(contact_in_area(&state, &caller, &id).await?))
}

/// The contact `id` if it is in the caller's area; 404 as if missing otherwise.
pub(crate) async fn contact_in_area(state: &AppState, caller: &Caller, id: &ContactId) -> ApiResult<Contact> {
    let contact = usecases::get_contact(state.store.as_ref(), id).await?;
    caller
        .require_area(state.store.as_ref(), contact.commune_code.as_str(), "contact", id)
        .await?;
    Ok(contact)
}

/// Import a contact list (`text/csv`): header `name,phone,role,commune_code` and optional
/// `email,consent_sms,consent_email,consent_zns,consent_method,consent_wording_version,consent_at`.
/// Good rows are kept; each bad row is reported with its reason. Rows are written 100 at a
/// time, each batch audited as it commits (entity `contact import`: its rows and the ids it
/// created), so an import cut short leaves the entries of what it kept.
#[utoipa::path(post, path = "/v1/contacts:import", tag = "contacts",
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ContactImportReport), (status = 400, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Extension(stamp): Extension<AuditStamp>,
    req: Request,
) -> ApiResult<(Extension<AuditRecorded>, Json<ContactImportReport>)> {
    let text = csv_upload(req, &state, "the contact list").await?;
    let rows = parse_contacts_csv(&text)?;
    // A list with a commune outside the caller's area is refused whole, naming the row.
    let communes: Vec<&str> = rows
        .iter()
        .map(|r| r.input.as_ref().map_or("", |i| i.commune_code.as_str()))
        .collect();
    if let Some(i) = caller.first_outside(state.store.as_ref(), &communes).await? {
        return Err(ApiError::Forbidden(format!(
            "row {}: commune_code {} is outside your area",
            rows[i].row, communes[i]
        )));
    }
    let report = usecases::import_contacts(
        state.store.as_ref(),
        rows,
        state.clock.now(),
        &caller.actor(),
        Some(&stamp),
    )
    .await?;
    Ok((Extension(AuditRecorded), Json(report)))
}

#[utoipa::path(post, path = "/v1/contacts/{id}/consents", tag = "contacts", params(("id" = String, Path)),
    request_body = ConsentInput,
    responses((status = 201, body = Contact), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_consent(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
    ApiJson(input): ApiJson<ConsentInput>,
) -> ApiResult<(StatusCode, Extension<AuditChange>, Json<Contact>)> {
    let before = contact_in_area(&state, &caller, &id).await?;
    let contact =
        usecases::record_consent(state.store.as_ref(), &id, input, state.clock.now(), &caller.actor()).await?;
    let change = audit::change("contact", &id, Some(&before), Some(&contact));
    Ok((StatusCode::CREATED, change, Json(contact)))
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
    Path(id): Path<ContactId>,
    ApiJsonOrEmpty(input): ApiJsonOrEmpty<OptOutInput>,
) -> ApiResult<(Extension<AuditChange>, Json<Contact>)> {
    let before = contact_in_area(&state, &caller, &id).await?;
    let contact = usecases::opt_out(state.store.as_ref(), &id, input.channel, "planner", state.clock.now()).await?;
    Ok((
        audit::change("contact", &id, Some(&before), Some(&contact)),
        Json(contact),
    ))
}

/// Erase a contact's personal data at their request (name, phone number, email address,
/// wherever stored). The anonymous counts and the evidence of their consents and refusals
/// stay, under the contact's id. Erasing again answers the same.
#[utoipa::path(delete, path = "/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path)),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
pub async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
) -> ApiResult<(Extension<AuditChange>, Json<Contact>)> {
    let before = contact_in_area(&state, &caller, &id).await?;
    let erased = usecases::erase_contact(state.store.as_ref(), &id, state.clock.now()).await?;
    Ok((
        audit::change("contact", &id, Some(&before), Some(&erased)),
        Json(erased),
    ))
}

/// Everything held about one contact (their right of access): the record, every delivery,
/// the sessions they attended or staffed, their team.
#[utoipa::path(get, path = "/v1/contacts/{id}/export", tag = "contacts", params(("id" = String, Path)),
    responses((status = 200, body = ContactExport), (status = 404, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ContactId>,
) -> ApiResult<Json<ContactExport>> {
    contact_in_area(&state, &caller, &id).await?;
    Ok(Json(
        usecases::export_contact(state.store.as_ref(), &id, state.clock.now()).await?,
    ))
}
