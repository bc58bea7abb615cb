//! `ApiError`: every failure a handler can return, mapped to a status and a stable code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use outreach_core::{CoreError, RowError};
use serde::Serialize;

/// The error body: `{"error": {"code", "message", "field"?, "rows"?}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for a person and for a program.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `validation`, `not_found`, `conflict`, `unauthorized`…
    pub code: &'static str,
    pub message: String,
    /// The input field at fault, when there is one (`period.end`, `reminder_rules[0].channels`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a refused import: every bad row and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<RowError>>,
}

/// Errors of the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("{message}")]
    BadRequest { field: Option<String>, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("no such route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }
}

/// A refused API token is a 401; a forged unsubscribe link is a 400 naming its `token`.
impl From<outreach_auth::TokenError> for ApiError {
    fn from(e: outreach_auth::TokenError) -> Self {
        match e {
            outreach_auth::TokenError::Invalid(message) => Self::Unauthorized(message.to_string()),
            outreach_auth::TokenError::Claims => Self::Unauthorized(e.to_string()),
            outreach_auth::TokenError::Unsubscribe
            | outreach_auth::TokenError::Answer
            | outreach_auth::TokenError::CheckIn => Self::bad("token", e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, field, rows) = match &self {
            ApiError::Core(e) => match e {
                CoreError::Validation { field, .. } => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    Some(field.clone()),
                    None,
                ),
                CoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found", None, None),
                CoreError::AlreadyExists { .. } => (StatusCode::CONFLICT, "already_exists", None, None),
                CoreError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None, None),
                CoreError::InvalidTransition { .. } => (StatusCode::CONFLICT, "invalid_transition", None, None),
                CoreError::ImportRejected(rows) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "import_rejected",
                    None,
                    Some(rows.clone()),
                ),
                CoreError::Storage(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", None, None),
            },
            ApiError::BadRequest { field, .. } => (StatusCode::BAD_REQUEST, "bad_request", field.clone(), None),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None, None),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", None, None),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, "not_found", None, None),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None, None),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None, None)
            }
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None, None),
        };
        let message = match &self {
            // The cause goes to the log, never to the caller.
            ApiError::Core(CoreError::Storage(e)) => {
                tracing::error!(error.message = %e, "storage failure");
                "the store is unavailable; try again later".to_string()
            }
            other => other.to_string(),
        };
        if status.is_client_error() {
            tracing::debug!(status = status.as_u16(), code, "request refused");
        }
        let mut response = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code,
                    message,
                    field,
                    rows,
                },
            }),
        )
            .into_response();
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"outreach\""),
            );
        }
        response
    }
}

/// Result alias of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
