//! What the API tests share: a clock they can step, and the real router served on a socket
//! of 127.0.0.1 over a SQLite file.

#![allow(dead_code)]

use std::sync::Arc;

use outreach_api::{AppState, AuthConfig};
use outreach_core::ports::Clock;
use outreach_store::SqliteStore;

#[allow(unused_imports)] // each test binary takes what it needs
pub use outreach_testkit::{StepClock, t};

/// A running API: its URL, its store and the file the store lives in (removed on drop).
pub struct Served {
    pub base: String,
    pub store: Arc<SqliteStore>,
    pub db: std::path::PathBuf,
    pub dir: tempfile::TempDir,
}

/// The Zalo app and OA secret key the served router verifies ZNS events with (those of
/// `scripts/zns_server.py`'s defaults).
pub const ZALO_APP_ID: &str = "local-app";
pub const ZALO_OA_SECRET_KEY: &str = "local-oa-secret";

/// Serve the router on a free port over a new SQLite file.
pub async fn serve(auth: AuthConfig, clock: Arc<dyn Clock>, webhook_secret: Option<&str>) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("api.db");
    let store = Arc::new(SqliteStore::open(&db).unwrap());
    let state = AppState {
        store: store.clone(),
        auth,
        clock,
        webhook_secret: webhook_secret.map(str::to_string),
        zalo_webhook: Some(outreach_api::ZaloWebhookKeys {
            app_id: ZALO_APP_ID.into(),
            oa_secret_key: ZALO_OA_SECRET_KEY.into(),
        }),
        prices: outreach_core::cost::PriceTable::default(),
        oidc: None,
        answer_window: outreach_core::usecases::DEFAULT_ANSWER_WINDOW,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, outreach_api::router(state)).await.unwrap() });
    Served {
        base: format!("http://{addr}"),
        store,
        db,
        dir,
    }
}
