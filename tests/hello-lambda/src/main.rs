//! The smallest `lambda_runtime` function: answers each event with the event itself. The
//! cold-start bench compares every outreach function with it.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
