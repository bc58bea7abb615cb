//! Handlers, one module per resource. Each is thin: extract, call a use case, answer.

pub mod audit;
pub mod campaigns;
pub mod contacts;
pub mod deliveries;
pub mod inbound;
pub mod reports;
pub mod sessions;
pub mod units;

use axum::Json;
use serde::Serialize;

use crate::error::ApiError;

/// Liveness.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[utoipa::path(get, path = "/healthz", tag = "meta", security(), responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The OpenAPI document, generated from the code.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi())
}

/// The answer to a handler that panicked (a bug): 500, with the cause only in the log.
pub fn panicked(cause: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let cause = cause
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| cause.downcast_ref::<&str>().copied())
        .unwrap_or("unknown");
    tracing::error!(error.message = %outreach_core::privacy::redact(cause), "a request handler panicked");
    let body = serde_json::json!({"error": {"code": "internal", "message": "an internal error; it has been logged"}});
    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

pub async fn no_route() -> ApiError {
    ApiError::NoRoute
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A page of a list: `{"items": [...], "next_cursor": "..."|null}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> From<outreach_core::ports::Page<T>> for List<T> {
    fn from(p: outreach_core::ports::Page<T>) -> Self {
        Self {
            items: p.items,
            next_cursor: p.next_cursor,
        }
    }
}

/// Split `id:action` from a path segment such as `cmp_1:activate`.
pub fn split_action(segment: &str) -> Result<(&str, &str), ApiError> {
    segment
        .rsplit_once(':')
        .filter(|(id, action)| !id.is_empty() && !action.is_empty())
        .ok_or(ApiError::MethodNotAllowed)
}
