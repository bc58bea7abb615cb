//! The API Lambda: the same axum router as `outreach serve`, behind the HTTP API.

use std::sync::Arc;

use outreach_api::{AppState, Oidc};
use outreach_app::{App, Config, Needs};
use outreach_core::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_runtime::tracing::init_default_subscriber_with_writer(outreach_app::logging::redacted_stdout);
    let config = Config::from_env(None)?;
    let auth = config.auth(None)?;
    let webhook_secret = config.webhook_secret.clone();
    let zalo_webhook = config.zalo_webhook.clone();
    let prices = config.sender.prices;
    let answer_window = config.answer_window;
    let oidc = config.oidc.clone().map(Oidc::new).transpose()?.map(Arc::new);
    let app = App::build_for(Needs::STORE, config, Some(&auth)).await?;
    let state = AppState {
        store: app.store.clone(),
        auth,
        clock: Arc::new(SystemClock),
        webhook_secret,
        zalo_webhook,
        prices,
        oidc,
        answer_window,
    };
    lambda_http::run(outreach_api::router(state)).await
}
