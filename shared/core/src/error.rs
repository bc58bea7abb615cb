//! The domain's error type: what went wrong in the caller's terms.

use serde::Serialize;

/// One rejected row of an import, with every reason it was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowError {
    /// 1-based row number in the file (for CSV, the header is row 0).
    pub row: usize,
    /// The row's key (a unit code or a phone number, masked) when it could be read.
    pub key: Option<String>,
    /// Every problem found in this row.
    pub reasons: Vec<String>,
}

/// Errors of the domain and its ports.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The caller sent a value that breaks a rule; `field` names it.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// The referenced entity does not exist.
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// An entity with the same identity already exists.
    #[error("{entity} {id} already exists")]
    AlreadyExists { entity: &'static str, id: String },
    /// A concurrent change won, or the entity is in a state that forbids this change.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A lifecycle transition that the rules do not allow.
    #[error("cannot {action} a campaign that is {from}")]
    InvalidTransition { action: &'static str, from: String },
    /// An import whose rows were all refused because some were bad; nothing was written.
    #[error("import refused: {} bad rows", .0.len())]
    ImportRejected(Vec<RowError>),
    /// The storage backend failed (an outage or a bug, never bad input).
    #[error("storage failure: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl CoreError {
    /// A validation error on `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A not-found error for `entity` with `id`.
    pub fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { entity, id: id.into() }
    }
}

/// Result alias for the domain.
pub type CoreResult<T> = Result<T, CoreError>;
