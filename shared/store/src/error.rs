use outreach_core::CoreError;

/// Failures of a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[cfg(feature = "sqlite")]
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored item is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("invalid cursor")]
    BadCursor,
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BadCursor => CoreError::invalid("cursor", "the cursor is not one this list gave out"),
            other => CoreError::Storage(Box::new(other)),
        }
    }
}
