//! The planner Lambda: on its EventBridge schedule, materialise sessions and reminder jobs.

use outreach_app::{App, Config, Needs, lambda::scheduled_time};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber_with_writer(outreach_app::logging::redacted_stdout);
    let app = App::build_for(Needs::STORE, Config::from_env(None)?, None).await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let app = &app;
            async move {
                let report = app.plan(scheduled_time(&event.payload)).await?;
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
            }
        },
    ))
    .await
}
