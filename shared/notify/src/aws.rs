//! What the AWS adapters share: how an SDK error becomes a `ChannelError`, and client timeouts.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
// The three SDK crates re-export the same smithy types; one import serves all.
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use outreach_core::notify::ChannelError;

use crate::redact::redact;

/// Error codes that mean "slow down" or "try later" whatever the HTTP status says.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "Throttled",
    "ThrottledException",
    "TooManyRequestsException",
    "LimitExceededException",
    "RequestThrottled",
    "RequestThrottledException",
    "KMSThrottling",
    "KMSThrottlingException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Timeouts of every call of an AWS client: the whole operation, the SDK's retries included.
pub(crate) fn timeouts(timeout: Duration) -> TimeoutConfig {
    TimeoutConfig::builder().operation_timeout(timeout).build()
}

/// Throttling, 5xx, timeouts and unreachable endpoints are `Transient`; anything else the
/// service refused (a rejected message, a validation error) is `Permanent`. The SDK has
/// already retried what it deems retryable.
pub(crate) fn classify<E>(service: &str, err: &SdkError<E, HttpResponse>) -> ChannelError
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("Unknown");
            let text = format!(
                "{service} {code} (HTTP {status}): {}",
                redact(ctx.err().message().unwrap_or(""))
            );
            if status == 429 || status >= 500 || TRANSIENT_CODES.contains(&code) {
                ChannelError::Transient(text)
            } else {
                ChannelError::Permanent(text)
            }
        }
        // Sent, perhaps accepted, answer lost: the sender decides whether to ask again.
        SdkError::TimeoutError(_) => ChannelError::Unclear(format!("{service}: timed out")),
        SdkError::DispatchFailure(f) if f.is_user() => {
            ChannelError::Permanent(format!("{service}: the request could not be sent as built"))
        }
        SdkError::DispatchFailure(f) if f.is_timeout() => ChannelError::Unclear(format!("{service}: timed out")),
        SdkError::DispatchFailure(_) => ChannelError::Transient(format!("{service}: the service could not be reached")),
        SdkError::ResponseError(_) => ChannelError::Unclear(format!("{service}: the response could not be read")),
        SdkError::ConstructionFailure(_) => {
            ChannelError::Permanent(format!("{service}: the request could not be built"))
        }
        _ => ChannelError::Transient(format!("{service}: unexpected SDK error")),
    }
}
