//! The API Lambda: the same axum router as `outreach serve`, behind the HTTP API.

use std::sync::Arc;

use outreach_api::AppState;
use outreach_app::{App, Config, Needs};
use outreach_core::ports::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_runtime::tracing::init_default_subscriber_with_writer(outreach_app::logging::redacted_stdout);
    let config = Config::from_env(None)?;
    let auth = config.auth(None)?;
    let app = App::build_for(Needs::STORE, config, Some(&auth)).await?;
    let state = AppState::build(&app, auth, Arc::new(SystemClock))?;
    lambda_http::run(outreach_api::router(state)).await
}
