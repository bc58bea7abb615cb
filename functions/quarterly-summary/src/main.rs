//! The quarterly-summary Lambda: on its EventBridge schedule (the first day after each
//! quarter, 07:00 local), or invoked on demand, freeze each unit's report of the quarter
//! that just ended as a new snapshot revision and email it to the unit's planners.
//! An on-demand event may name the quarter: `{"year": 2026, "quarter": 3}`.

use outreach_app::lambda::SummaryEvent;
use outreach_app::{App, Config, Needs};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber_with_writer(outreach_app::logging::redacted_stdout);
    let app = App::build_for(Needs::CHANNELS, Config::from_env(None)?, None).await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<SummaryEvent>| {
            let app = &app;
            async move {
                let quarter = event.payload.quarter()?;
                let report = app.quarterly_summary(event.payload.time(), quarter).await?;
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
            }
        },
    ))
    .await
}
