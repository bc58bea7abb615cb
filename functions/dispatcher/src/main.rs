//! The dispatcher Lambda: every minute, enqueue the deliveries of the reminder jobs now due.

use outreach_app::{App, Config, DeliveryQueue, Needs, lambda::scheduled_time};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber_with_writer(outreach_app::logging::redacted_stdout);
    let app = App::build_for(Needs::DISPATCHER, Config::from_env(None)?, None).await?;
    if !matches!(app.queue, DeliveryQueue::Sqs(_)) {
        return Err("OUTREACH_QUEUE_URL is not set: the dispatcher needs the SQS delivery queue".into());
    }
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let app = &app;
            async move {
                let report = app.dispatch(scheduled_time(&event.payload)).await?;
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
            }
        },
    ))
    .await
}
