//! Email through AWS SES v2 `SendEmail`, as raw MIME so that the message carries the
//! unsubscribe headers and attachments exactly as SMTP sends them.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use lettre::message::Mailbox;
use outreach_core::contact::mask_email;
use outreach_core::notify::{ChannelError, EmailChannel, OutboundEmail, Sent};

use crate::mime::build_message;

/// Settings of [`SesEmail`].
#[derive(Debug, Clone)]
pub struct SesConfig {
    /// The sender, an identity verified in SES (`Đoàn Thanh niên <noreply@example.org>`).
    pub from: Mailbox,
    /// The SES configuration set that publishes delivery events (bounces, complaints), if any.
    pub configuration_set: Option<String>,
    /// Timeout of one send, the SDK's retries included (default 10 s).
    pub timeout: Duration,
}

impl SesConfig {
    /// Settings sending from `from`, without a configuration set, with the default timeout.
    pub fn new(from: Mailbox) -> Self {
        Self {
            from,
            configuration_set: None,
            timeout: crate::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends email through AWS SES v2 (`SendEmail` with raw content).
///
/// Throttling, 5xx answers and network failures are [`ChannelError::Transient`]; a timeout
/// or an unreadable answer after the request went out is [`ChannelError::Unclear`];
/// a rejected message, an unverified sender and other validation errors are
/// [`ChannelError::Permanent`]. The message id is SES's `MessageId`.
#[derive(Debug, Clone)]
pub struct SesEmail {
    client: aws_sdk_sesv2::Client,
    config: SesConfig,
}

impl SesEmail {
    /// An adapter with its own client, built from the shared AWS settings with `config.timeout`.
    pub fn new(sdk: &SdkConfig, config: SesConfig) -> Self {
        let client_config = aws_sdk_sesv2::config::Builder::from(sdk)
            .timeout_config(crate::aws::timeouts(config.timeout))
            .build();
        Self::with_client(aws_sdk_sesv2::Client::from_conf(client_config), config)
    }

    /// An adapter over a client built elsewhere (its timeouts apply, not `config.timeout`).
    pub fn with_client(client: aws_sdk_sesv2::Client, config: SesConfig) -> Self {
        Self { client, config }
    }
}

#[async_trait]
impl EmailChannel for SesEmail {
    async fn send_email(&self, email: &OutboundEmail) -> Result<Sent, ChannelError> {
        let to = mask_email(&email.to);
        let mime = build_message(&self.config.from, email)?;
        let raw = RawMessage::builder()
            .data(Blob::new(mime.message.formatted()))
            .build()
            .map_err(|e| ChannelError::Permanent(format!("SES: {e}")))?;
        let result = self
            .client
            .send_email()
            .from_email_address(self.config.from.email.to_string())
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.config.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(out) => {
                // SES always answers with an id; the Message-ID we wrote is a fallback, not a guess.
                let message_id = out.message_id().map_or(mime.message_id, str::to_owned);
                tracing::info!(channel = "email", provider = "ses", to = %to, message_id = %message_id, "email sent");
                Ok(Sent { message_id })
            }
            Err(e) => {
                let error = crate::aws::classify("SES", &e);
                tracing::warn!(channel = "email", provider = "ses", to = %to, error.message = %error, "email not sent");
                Err(error)
            }
        }
    }
}
