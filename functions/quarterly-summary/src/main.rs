//! The quarterly-summary Lambda: on its EventBridge schedule (the first day after each
//! quarter, 07:00 local), or invoked on demand, freeze each unit's report of the quarter
//! that just ended as a new snapshot revision and email it to the unit's planners.
//! An on-demand event may name the quarter: `{"year": 2026, "quarter": 3}`.

use outreach_app::{App, Config, lambda::scheduled_time};
use outreach_core::quarter::Quarter;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber_with_writer(outreach_app::logging::redacted_stdout);
    let app = App::build(Config::from_env(None)?, None).await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let app = &app;
            async move {
                let payload = &event.payload;
                let quarter = match (payload.get("year"), payload.get("quarter")) {
                    (Some(y), Some(q)) => {
                        let year = y.as_i64().ok_or("year must be a number")? as i32;
                        let quarter = q.as_u64().ok_or("quarter must be a number")? as u8;
                        Some(outreach_core::usecases::check_quarter(year, quarter)?)
                    }
                    _ => None::<Quarter>,
                };
                let report = app.quarterly_summary(scheduled_time(payload), quarter).await?;
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
            }
        },
    ))
    .await
}
