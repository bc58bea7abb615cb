//! Configuration of the local command: where the store and the token key live.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use outreach_api::AuthConfig;
use outreach_api::auth::LOCAL_ISSUER;

use outreach_store::{DynamoStore, SqliteStore, StoreUrl};

/// `--db PATH` or `--store URL` (also `OUTREACH_STORE`).
#[derive(Args, Clone)]
pub struct StoreArgs {
    /// SQLite database file.
    #[arg(long, default_value = "outreach.db", conflicts_with = "store")]
    db: PathBuf,
    /// `sqlite:PATH` or `dynamodb:TABLE`.
    #[arg(long, env = "OUTREACH_STORE")]
    store: Option<StoreUrl>,
}

impl StoreArgs {
    /// Where the store points.
    pub fn url(&self) -> StoreUrl {
        self.store.clone().unwrap_or_else(|| StoreUrl::Sqlite(self.db.clone()))
    }

    /// Open the store: SQLite (created and migrated if needed) or DynamoDB (configured
    /// from the AWS SDK's environment).
    pub async fn open(&self) -> Result<Backend> {
        match self.url() {
            StoreUrl::Sqlite(path) => {
                let store = SqliteStore::open(&path)
                    .with_context(|| format!("opening the SQLite store at {}", path.display()))?;
                Ok(Backend::Sqlite(store, path))
            }
            StoreUrl::DynamoDb(table) => Ok(Backend::Dynamo(DynamoStore::from_env(&table).await)),
        }
    }
}

/// An opened store.
pub enum Backend {
    Sqlite(SqliteStore, PathBuf),
    Dynamo(DynamoStore),
}

impl Backend {
    /// Create the schema or the table; says what it did.
    pub async fn init(&self) -> Result<String> {
        match self {
            Backend::Sqlite(s, path) => Ok(format!(
                "SQLite schema version {} ready at {}",
                s.schema_version().await?,
                path.display()
            )),
            Backend::Dynamo(d) => {
                let created = d
                    .create_table()
                    .await
                    .with_context(|| format!("creating table {}", d.table()))?;
                Ok(if created {
                    format!("DynamoDB table {} created", d.table())
                } else {
                    format!("DynamoDB table {} already exists", d.table())
                })
            }
        }
    }
}

/// The key that signs and checks local tokens: `OUTREACH_JWT_SECRET`, or a key file
/// created on first use.
#[derive(Args, Clone)]
pub struct KeyArgs {
    /// File holding the HS256 secret (created with a random secret if missing).
    #[arg(long, default_value = "outreach.key")]
    key_file: PathBuf,
    #[arg(long, env = "OUTREACH_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
}

impl KeyArgs {
    /// The key of `file` (created if missing), whatever the environment says.
    pub fn file(key_file: PathBuf) -> Self {
        Self {
            key_file,
            jwt_secret: None,
        }
    }

    /// The key as bytes: `OUTREACH_JWT_SECRET`, or the key file (created if missing).
    pub fn secret(&self) -> Result<Vec<u8>> {
        match &self.jwt_secret {
            Some(s) => Ok(s.clone().into_bytes()),
            None => read_or_create_key(&self.key_file),
        }
    }

    pub fn auth_config(&self) -> Result<AuthConfig> {
        let secret = match &self.jwt_secret {
            Some(s) => s.clone().into_bytes(),
            None => read_or_create_key(&self.key_file)?,
        };
        AuthConfig::hs256(&secret, LOCAL_ISSUER).map_err(anyhow::Error::msg)
    }
}

fn read_or_create_key(path: &PathBuf) -> Result<Vec<u8>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s.trim().as_bytes().to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use rand::Rng;
            let bytes: [u8; 32] = rand::rng().random();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            use std::io::Write;
            let mut file = options
                .open(path)
                .with_context(|| format!("creating the key file {}", path.display()))?;
            file.write_all(hex.as_bytes())?;
            tracing::info!(path = %path.display(), "created a new token key file");
            Ok(hex.into_bytes())
        }
        Err(e) => Err(e).with_context(|| format!("reading the key file {}", path.display())),
    }
}

/// Human-readable logs on stderr with phone numbers and emails masked, filtered by
/// `RUST_LOG` (default `default_level`).
pub fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(outreach_app::logging::redacted_stderr)
        .init();
}
