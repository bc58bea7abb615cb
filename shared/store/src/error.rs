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
    #[error("dynamodb: {0}")]
    Dynamo(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot encode item: {0}")]
    Encode(String),
    #[error("stored item is unreadable: {0}")]
    Decode(String),
    #[error("{entity} would be {bytes} bytes stored; DynamoDB items are at most 409600 bytes")]
    ItemTooLarge { entity: String, bytes: usize },
    #[error("{0} writes still unprocessed after retries")]
    Unprocessed(usize),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::BadCursor => CoreError::invalid("cursor", "the cursor is not one this list gave out"),
            StoreError::ItemTooLarge { entity, bytes } => CoreError::invalid(
                entity.clone(),
                format!(
                    "the {entity} would take {} KB of storage, over the 400 KB a record may hold; make it smaller \
                     (fewer communes, shorter texts)",
                    bytes.div_ceil(1024)
                ),
            ),
            other => CoreError::Storage(Box::new(other)),
        }
    }
}
