//! The planner Lambda: on its EventBridge schedule, materialise sessions and reminder jobs,
//! and refresh the Zalo OA's access token when it nears expiry (the one refresher: senders
//! only read it; a Lambda of its own would cost CI a build for a 15-minute timer).

use outreach_app::{App, Config, Needs, lambda::scheduled_time};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber_with_writer(outreach_app::logging::redacted_stdout);
    let app = App::build_for(Needs::STORE, Config::from_env(None)?, None).await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let app = &app;
            async move {
                let now = scheduled_time(&event.payload);
                let report = app.plan(now).await?;
                // A failed refresh is logged with the alarm marker; it never fails the plan.
                match app.refresh_zns_token(now).await {
                    Ok(outcome) => tracing::debug!(?outcome, "ZNS token checked"),
                    Err(e) => tracing::error!(alarm = "ZNS_ALARM", error.message = %e,
                        "ZNS_ALARM: the ZNS token refresh failed"),
                }
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
            }
        },
    ))
    .await
}
