//! The HTTP API of outreach. `router(state)` is served by `lambda_http` on AWS and by
//! `axum::serve` on a laptop; no handler knows which.

pub mod auth;
pub mod error;
pub mod extract;
mod openapi;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use outreach_core::ports::{Clock, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest, Store};
use serde::Deserialize;

pub use auth::{AuthConfig, Role};
pub use error::{ApiError, ApiResult};
pub use openapi::openapi;

/// Largest request body (JSON or an import file).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// What every handler shares: the store, the token checker and the clock.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: AuthConfig,
    pub clock: Arc<dyn Clock>,
    /// Shared secret the inbound webhooks (SMS replies, SES events) must present as
    /// `?key=` or `X-Outreach-Webhook-Key`; without one the webhooks are closed.
    pub webhook_secret: Option<String>,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/org-units", get(routes::units::list))
        .route("/org-units:import", post(routes::units::import))
        .route("/org-units/{code}", get(routes::units::get_one))
        .route("/contacts", get(routes::contacts::list).post(routes::contacts::create))
        .route("/contacts:import", post(routes::contacts::import))
        .route("/contacts/{id}", get(routes::contacts::get_one))
        .route("/contacts/{id}/consents", post(routes::contacts::add_consent))
        .route("/contacts/{id}/opt-out", post(routes::contacts::opt_out))
        .route(
            "/campaigns",
            get(routes::campaigns::list).post(routes::campaigns::create),
        )
        .route(
            "/campaigns/{id}",
            get(routes::campaigns::get_one).post(routes::campaigns::action),
        )
        .route("/campaigns/{id}/sessions", get(routes::campaigns::sessions))
        .route("/schedule:preview", post(routes::campaigns::preview))
        .route(
            "/sessions/{id}",
            get(routes::sessions::get_one).post(routes::sessions::action),
        )
        .route(
            "/sessions/{id}/staff",
            axum::routing::put(routes::sessions::assign_staff),
        )
        .route(
            "/teams/{commune}",
            get(routes::sessions::get_team).put(routes::sessions::put_team),
        )
        .route(
            "/sessions/{id}/attendance",
            get(routes::reports::get_record).put(routes::reports::put_attendance),
        )
        .route(
            "/sessions/{id}/outcomes",
            get(routes::reports::get_record).put(routes::reports::put_outcomes),
        )
        .route("/statistics", axum::routing::put(routes::reports::put_statistics))
        .route("/statistics:import", post(routes::reports::import_statistics))
        .route(
            "/targets/{year}/{org_code}",
            get(routes::reports::get_targets).put(routes::reports::put_targets),
        )
        .route("/reports/quarterly", get(routes::reports::quarterly))
        .route("/reports/quarterly:snapshot", post(routes::reports::snapshot))
        .route("/reports/quarterly/snapshots", get(routes::reports::snapshots))
        .route("/deliveries", get(routes::deliveries::list))
        .route("/inbound/sms", post(routes::inbound::sms))
        .route("/inbound/email-events", post(routes::inbound::email_events))
        .route(
            "/inbound/unsubscribe",
            get(routes::inbound::unsubscribe_page).post(routes::inbound::unsubscribe),
        );
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/openapi.json", get(routes::openapi_json))
        .nest("/v1", v1)
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// `limit` and `cursor` of every list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page: default 50, at most 500.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// Check the bounds and build the store's page request.
    pub fn page(&self) -> ApiResult<PageRequest> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if limit == 0 || limit > MAX_PAGE_SIZE {
            return Err(ApiError::bad("limit", format!("between 1 and {MAX_PAGE_SIZE}")));
        }
        let cursor = self.cursor.clone().filter(|c| !c.is_empty());
        if cursor.as_ref().is_some_and(|c| c.len() > 1024) {
            return Err(ApiError::bad("cursor", "the cursor is not one this list gave out"));
        }
        Ok(PageRequest { limit, cursor })
    }
}
