//! SMS through AWS SNS `Publish` to a phone number.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sns::types::MessageAttributeValue;
use outreach_core::notify::{ChannelError, OutboundSms, Sent, SmsChannel};
use outreach_core::phone::mask_phone_digits;

/// Settings of [`SnsSms`].
#[derive(Debug, Clone)]
pub struct SnsConfig {
    /// Alphanumeric sender id (`AWS.SNS.SMS.SenderID`, up to 11 characters) where the
    /// destination country supports one; Vietnam requires a registered brandname.
    pub sender_id: Option<String>,
    /// Timeout of one send, the SDK's retries included (default 10 s).
    pub timeout: Duration,
}

impl Default for SnsConfig {
    fn default() -> Self {
        Self {
            sender_id: None,
            timeout: crate::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends SMS through AWS SNS `Publish` to a phone number, as `Transactional` messages
/// (`AWS.SNS.SMS.SMSType`) with the configured sender id (`AWS.SNS.SMS.SenderID`).
///
/// Throttling, 5xx answers, timeouts and network failures are [`ChannelError::Transient`];
/// an invalid parameter or number is [`ChannelError::Permanent`]. The message id is SNS's
/// `MessageId`.
#[derive(Debug, Clone)]
pub struct SnsSms {
    client: aws_sdk_sns::Client,
    config: SnsConfig,
}

impl SnsSms {
    /// An adapter with its own client, built from the shared AWS settings with `config.timeout`.
    pub fn new(sdk: &SdkConfig, config: SnsConfig) -> Self {
        let client_config = aws_sdk_sns::config::Builder::from(sdk)
            .timeout_config(crate::aws::timeouts(config.timeout))
            .build();
        Self::with_client(aws_sdk_sns::Client::from_conf(client_config), config)
    }

    /// An adapter over a client built elsewhere (its timeouts apply, not `config.timeout`).
    pub fn with_client(client: aws_sdk_sns::Client, config: SnsConfig) -> Self {
        Self { client, config }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, ChannelError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| ChannelError::Permanent(format!("SNS: {e}")))
}

#[async_trait]
impl SmsChannel for SnsSms {
    async fn send_sms(&self, sms: &OutboundSms) -> Result<Sent, ChannelError> {
        let to = mask_phone_digits(&sms.to);
        let mut request = self
            .client
            .publish()
            .phone_number(&sms.to)
            .message(&sms.text)
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(sender_id) = &self.config.sender_id {
            request = request.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender_id)?);
        }
        match request.send().await {
            Ok(out) => {
                let message_id = out.message_id().map_or_else(
                    || crate::unknown_message_id("SNS answered without a MessageId"),
                    str::to_owned,
                );
                tracing::info!(channel = "sms", provider = "sns", to = %to, message_id = %message_id, "sms sent");
                Ok(Sent { message_id })
            }
            Err(e) => {
                let error = crate::aws::classify("SNS", &e);
                tracing::warn!(channel = "sms", provider = "sns", to = %to, error.message = %error, "sms not sent");
                Err(error)
            }
        }
    }
}
