use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use outreach_core::CoreError;
use outreach_core::ids::{CampaignId, ContactId, SessionId};
use outreach_core::ports::DeliveryFilter;
use outreach_core::reminder::{Delivery, DeliveryStatus};
use outreach_core::usecases;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::routes::List;
use crate::routes::campaigns::{Reach, campaign_in_area};
use crate::routes::sessions::session_in_area;
use crate::{AppState, PageParams};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListParams {
    pub campaign: Option<String>,
    pub session: Option<String>,
    pub contact: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The delivery log: what was sent, suppressed (and by which rule) or failed (and why).
/// Name a campaign, a session or a contact; filter by status. Only deliveries of sessions
/// in the caller's area are listed (a page may hold fewer than `limit`: the log ends where
/// `next_cursor` is absent); a contact outside it is as unknown as one that does not exist.
#[utoipa::path(get, path = "/v1/deliveries", tag = "deliveries", params(DeliveryListParams),
    responses((status = 200, body = List<Delivery>), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DeliveryListParams>,
) -> ApiResult<Json<List<Delivery>>> {
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let session = q.session.map(SessionId::from);
    let contact = q.contact.map(ContactId::from);
    let campaign = q.campaign.map(CampaignId::from);
    if let Some(id) = &session {
        session_in_area(&state, &caller, id).await?;
    }
    if let Some(id) = &campaign {
        campaign_in_area(&state, &caller, id, Reach::Touches).await?;
    }
    if let Some(id) = &contact {
        let contact = usecases::get_contact(state.store.as_ref(), id).await?;
        if !caller
            .covers(state.store.as_ref(), contact.commune_code.as_str())
            .await?
        {
            return Err(CoreError::not_found("contact", id).into());
        }
    }
    let filter = DeliveryFilter {
        campaign,
        session,
        contact,
        status: q.status,
    };
    let mut found = state.store.list_deliveries(&filter, &page).await?;
    // A campaign may span districts: keep the rows of sessions in the caller's area.
    let area = caller.area(state.store.as_ref()).await?;
    let mut communes: HashMap<SessionId, Option<String>> = HashMap::new();
    let mut kept = Vec::with_capacity(found.items.len());
    for delivery in found.items {
        if !communes.contains_key(&delivery.session_id) {
            let commune = state
                .store
                .get_session(&delivery.session_id)
                .await?
                .map(|s| s.commune_code.into_string());
            communes.insert(delivery.session_id.clone(), commune);
        }
        if communes[&delivery.session_id]
            .as_ref()
            .is_some_and(|c| area.contains(c))
        {
            kept.push(delivery);
        }
    }
    found.items = kept;
    Ok(Json(found.into()))
}
