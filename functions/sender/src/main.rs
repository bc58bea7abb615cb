//! The sender Lambda: SQS batches of delivery tasks; per-message failures go back to the
//! queue through `batch_item_failures`.

use aws_lambda_events::sqs::SqsEvent;
use outreach_app::{App, Config, Needs, lambda::handle_sqs};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber_with_writer(outreach_app::logging::redacted_stdout);
    let config = Config::from_env(None)?;
    let auth = config.auth(None).ok();
    let app = App::build_for(Needs::CHANNELS, config, auth.as_ref()).await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let app = &app;
            async move { Ok::<_, std::convert::Infallible>(handle_sqs(app, event.payload, chrono::Utc::now()).await) }
        },
    ))
    .await
}
