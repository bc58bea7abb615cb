//! The HTTP API of outreach. `router(state)` is served by `lambda_http` on AWS and by
//! `axum::serve` on a laptop; no handler knows which.

pub mod access;
pub mod audit;
pub mod auth;
pub mod error;
pub mod extract;
mod openapi;
mod routes;
pub mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing::MethodRouter;
use outreach_core::ports::{Clock, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest, Store};
use serde::Deserialize;

pub use access::{Access, Endpoint, Foreign};
pub use auth::{AuthConfig, Role};
pub use error::{ApiError, ApiResult};
pub use openapi::openapi;
pub use outreach_core::zns::ZaloWebhookKeys;
pub use ui::Oidc;

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
    /// Zalo's OA webhook keys: without them `inbound/zns-events` is closed.
    pub zalo_webhook: Option<ZaloWebhookKeys>,
    /// What messages cost, for a campaign's estimate (`OUTREACH_PRICES`).
    pub prices: outreach_core::cost::PriceTable,
    /// The dashboard's sign-in through the identity provider, when one is configured.
    pub oidc: Option<Arc<ui::Oidc>>,
    /// How long after a reminder asked whether a person will come an SMS reply answers it
    /// (`OUTREACH_ANSWER_WINDOW_HOURS`).
    pub answer_window: chrono::Duration,
}

impl AppState {
    /// The state of the router from the wiring both binaries build (the API Lambda and
    /// `outreach serve`), in this one place, so that the two cannot differ. Fails when the
    /// identity provider's settings cannot make a client.
    pub fn build(app: &outreach_app::App, auth: AuthConfig, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let config = &app.config;
        Ok(Self {
            store: app.store.clone(),
            auth,
            clock,
            webhook_secret: config.webhook_secret.clone(),
            zalo_webhook: config.zalo_webhook.clone(),
            prices: config.sender.prices,
            oidc: config.oidc.clone().map(Oidc::new).transpose()?.map(Arc::new),
            answer_window: config.answer_window,
        })
    }
}

/// Every endpoint: its method, its path as the OpenAPI document names it, what it needs of
/// its caller, and its handler. The router is built from this table, and the access tests
/// walk it, so an endpoint cannot exist without declaring who may call it.
#[rustfmt::skip]
fn table() -> Vec<(Endpoint, MethodRouter<AppState>)> {
    use Access::{Anywhere, InArea, Public};
    use Foreign::{Forbidden, NotFound};
    use access::{ADMINS, OFFICERS, PLANNERS, READERS};
    use axum::routing::{delete, get, patch, post, put};
    use routes::{campaigns, contacts, deliveries, inbound, reports, sessions, units};
    let e = |method: Method, path: &'static str, access: Access, handler: MethodRouter<AppState>| {
        (Endpoint { method, path, access }, handler)
    };
    vec![
        e(Method::GET,    "/healthz",                           Public,                       get(routes::healthz)),
        e(Method::GET,    "/openapi.json",                      Public,                       get(routes::openapi_json)),
        e(Method::GET,    "/v1/org-units",                      Anywhere(READERS),            get(units::list)),
        e(Method::POST,   "/v1/org-units:import",               Anywhere(ADMINS),             post(units::import)),
        e(Method::GET,    "/v1/org-units/{code}",               Anywhere(READERS),            get(units::get_one)),
        e(Method::GET,    "/v1/contacts",                       InArea(OFFICERS, Forbidden),  get(contacts::list)),
        e(Method::POST,   "/v1/contacts",                       InArea(OFFICERS, Forbidden),  post(contacts::create)),
        e(Method::POST,   "/v1/contacts:import",                InArea(OFFICERS, Forbidden),  post(contacts::import)),
        e(Method::GET,    "/v1/contacts/{id}",                  InArea(OFFICERS, NotFound),   get(contacts::get_one)),
        e(Method::DELETE, "/v1/contacts/{id}",                  InArea(PLANNERS, NotFound),   delete(contacts::erase)),
        e(Method::GET,    "/v1/contacts/{id}/export",           InArea(OFFICERS, NotFound),   get(contacts::export)),
        e(Method::POST,   "/v1/contacts/{id}/consents",         InArea(OFFICERS, NotFound),   post(contacts::add_consent)),
        e(Method::POST,   "/v1/contacts/{id}/opt-out",          InArea(OFFICERS, NotFound),   post(contacts::opt_out)),
        e(Method::GET,    "/v1/campaigns",                      InArea(PLANNERS, Forbidden),  get(campaigns::list)),
        e(Method::POST,   "/v1/campaigns",                      InArea(PLANNERS, Forbidden),  post(campaigns::create)),
        e(Method::GET,    "/v1/campaigns/{id}",                 InArea(PLANNERS, Forbidden),  get(campaigns::get_one)),
        // Answered as the estimate: another area's campaign does not exist.
        e(Method::PATCH,  "/v1/campaigns/{id}",                 InArea(PLANNERS, NotFound),   patch(campaigns::update)),
        e(Method::POST,   "/v1/campaigns/{id}:{action}",        InArea(PLANNERS, Forbidden),  post(campaigns::action)),
        e(Method::GET,    "/v1/campaigns/{id}/sessions",        InArea(OFFICERS, Forbidden),  get(campaigns::sessions)),
        // Counts of a commune's consenting people: another area's campaign does not exist.
        e(Method::GET,    "/v1/campaigns/{id}/estimate",        InArea(PLANNERS, NotFound),   get(campaigns::estimate)),
        e(Method::POST,   "/v1/schedule:preview",               Anywhere(PLANNERS),           post(campaigns::preview)),
        e(Method::GET,    "/v1/sessions",                       InArea(OFFICERS, Forbidden),  get(sessions::list)),
        e(Method::GET,    "/v1/sessions/{id}",                  InArea(OFFICERS, Forbidden),  get(sessions::get_one)),
        e(Method::POST,   "/v1/sessions/{id}:{action}",         InArea(PLANNERS, Forbidden),  post(sessions::action)),
        e(Method::PUT,    "/v1/sessions/{id}/staff",            InArea(PLANNERS, Forbidden),  put(sessions::assign_staff)),
        e(Method::GET,    "/v1/teams/{commune}",                InArea(OFFICERS, Forbidden),  get(sessions::get_team)),
        e(Method::PUT,    "/v1/teams/{commune}",                InArea(PLANNERS, Forbidden),  put(sessions::put_team)),
        e(Method::GET,    "/v1/sessions/{id}/headcount",        InArea(OFFICERS, Forbidden),  get(sessions::headcount)),
        e(Method::GET,    "/v1/sessions/{id}/attendance",       InArea(OFFICERS, Forbidden),  get(reports::get_attendance)),
        e(Method::PUT,    "/v1/sessions/{id}/attendance",       InArea(OFFICERS, Forbidden),  put(reports::put_attendance)),
        e(Method::POST,   "/v1/sessions/{id}/check-ins",        InArea(OFFICERS, Forbidden),  post(reports::check_in)),
        e(Method::GET,    "/v1/sessions/{id}/outcomes",         InArea(OFFICERS, Forbidden),  get(reports::get_outcomes)),
        e(Method::PUT,    "/v1/sessions/{id}/outcomes",         InArea(OFFICERS, Forbidden),  put(reports::put_outcomes)),
        e(Method::PUT,    "/v1/statistics",                     InArea(PLANNERS, Forbidden),  put(reports::put_statistics)),
        e(Method::POST,   "/v1/statistics:import",              InArea(PLANNERS, Forbidden),  post(reports::import_statistics)),
        e(Method::GET,    "/v1/targets/{year}/{org_code}",      InArea(READERS, Forbidden),   get(reports::get_targets)),
        e(Method::PUT,    "/v1/targets/{year}/{org_code}",      InArea(PLANNERS, Forbidden),  put(reports::put_targets)),
        e(Method::GET,    "/v1/reports/quarterly",              InArea(READERS, Forbidden),   get(reports::quarterly)),
        e(Method::POST,   "/v1/reports/quarterly:snapshot",     InArea(PLANNERS, Forbidden),  post(reports::snapshot)),
        e(Method::GET,    "/v1/reports/quarterly/snapshots",    InArea(READERS, Forbidden),   get(reports::snapshots)),
        e(Method::GET,    "/v1/deliveries",                     InArea(PLANNERS, Forbidden),  get(deliveries::list)),
        e(Method::GET,    "/v1/audit",                          Anywhere(ADMINS),             get(routes::audit::list)),
        e(Method::POST,   "/v1/inbound/sms",                    Public,                       post(inbound::sms)),
        e(Method::POST,   "/v1/inbound/email-events",           Public,                       post(inbound::email_events)),
        e(Method::POST,   "/v1/inbound/zns-events",             Public,                       post(inbound::zns_events)),
        e(Method::GET,    "/v1/inbound/unsubscribe",            Public,                       get(inbound::unsubscribe_page)),
        e(Method::POST,   "/v1/inbound/unsubscribe",            Public,                       post(inbound::unsubscribe)),
        e(Method::GET,    "/v1/inbound/answer",                 Public,                       get(inbound::answer_page)),
        e(Method::POST,   "/v1/inbound/answer",                 Public,                       post(inbound::answer)),
    ]
}

/// Every endpoint of the API and what it needs of its caller.
pub fn endpoints() -> Vec<Endpoint> {
    table().into_iter().map(|(endpoint, _)| endpoint).collect()
}

/// The path the router matches for a documented path: `{id}:{action}` is one segment,
/// which the handler splits.
fn route_path(path: &str) -> String {
    path.replace("}:{action}", "}")
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (endpoint, handler) in table() {
        let path = route_path(endpoint.path);
        let guard = axum::middleware::from_fn_with_state((state.clone(), endpoint), access::guard);
        router = router.route(&path, handler.route_layer(guard));
    }
    router
        .merge(ui::routes())
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A bug must not take the process down with it: a panic is answered 500 and logged.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(routes::panicked))
        // The span names the path only: query strings carry webhook keys and unsubscribe tokens.
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &axum::extract::Request| {
                tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
            }),
        )
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
