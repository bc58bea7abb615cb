//! Store adapters of outreach: `SqliteStore`, the embedded default (feature `sqlite`), and
//! `DynamoStore`, the production store (feature `dynamodb`).
//! Every adapter implements the `Store` ports of `outreach-core` and passes the same
//! contract suite (`tests/contract`).

mod cursor;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
mod error;
#[cfg(feature = "sqlite")]
mod sqlite;

#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoStore;
pub use error::StoreError;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// Where the store lives, as `OUTREACH_STORE` or `--store` spell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite:PATH`: one SQLite file.
    Sqlite(std::path::PathBuf),
    /// `dynamodb:TABLE`: a DynamoDB table.
    DynamoDb(String),
}

impl std::str::FromStr for StoreUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("sqlite", path)) if !path.is_empty() => Ok(Self::Sqlite(path.into())),
            Some(("dynamodb", table)) if !table.is_empty() => Ok(Self::DynamoDb(table.to_string())),
            _ => Err(format!("store URL {s:?} is neither sqlite:PATH nor dynamodb:TABLE")),
        }
    }
}
