//! Channel and queue adapters of outreach, each named after its technology:
//!
//! - email: [`SesEmail`] (AWS SES v2, raw MIME) and [`SmtpEmail`] (lettre), both sending the
//!   same MIME message (one-click unsubscribe headers of RFC 8058, attachments);
//! - SMS: [`SnsSms`] (AWS SNS `Publish`) and [`HttpSmsGateway`] (a JSON POST as Vietnamese
//!   brandname aggregators take);
//! - [`Outbox`]: email and SMS as JSON lines in a directory, for local runs and tests;
//! - Zalo ZNS: [`ZaloZns`] (template messages) and [`ZaloOAuth`] (the OA token's refresh);
//! - [`SqsQueue`]: the delivery queue between the dispatcher and the sender.
//!
//! [`ChannelConfig::from_env`] reads which adapters to use and [`build_channels`] builds them.
//! Phone numbers and email addresses are masked in every log line and error message.

mod aws;
mod config;
mod error;
mod http_gateway;
mod mime;
mod outbox;
mod redact;
mod ses;
mod smtp;
mod sns;
mod sqs;
mod zns;

pub use config::{ChannelConfig, EmailChannelConfig, SmsChannelConfig, ZnsChannelConfig, build_channels};
pub use error::{NotifyError, Secret};
pub use http_gateway::{HttpSmsGateway, HttpSmsGatewayConfig};
pub use outbox::{Outbox, OutboxAttachment, OutboxEmail, OutboxSms, OutboxZns};
pub use ses::{SesConfig, SesEmail};
pub use smtp::{SmtpConfig, SmtpCredentials, SmtpEmail};
pub use sns::{SnsConfig, SnsSms};
pub use sqs::{QueueError, SqsConfig, SqsQueue};
pub use zns::{ZALO_OAUTH_URL, ZNS_API_URL, ZaloOAuth, ZaloZns, ZnsConfig, classify_zns_error};

/// An email address with an optional display name (`Đoàn Thanh niên <noreply@example.org>`),
/// as the email adapters take their sender.
pub use lettre::message::Mailbox;

/// Timeout of one outbound call (a send, with the SDK's own retries) unless configured.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether an SMS text needs UCS-2 ("Unicode"): it does not fit the GSM 7-bit alphabet
/// (accented Vietnamese, say).
fn needs_unicode(text: &str) -> bool {
    outreach_core::sms::count_segments(text).encoding == outreach_core::sms::SmsEncoding::Ucs2
}

/// An id for a message the provider accepted without naming it: retrying would send it
/// twice, so it counts as sent under a local id (`local-<uuid v7>`).
fn unknown_message_id(why: &str) -> String {
    let id = format!("local-{}", uuid::Uuid::now_v7());
    tracing::warn!(message_id = %id, why, "provider accepted a message without an id");
    id
}
