//! Ports for what leaves the system: reminders by email and SMS, and the queue of
//! deliveries between the dispatcher and the sender. Adapters live in `outreach-notify`.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::contact::Channel;
use crate::error::CoreResult;
use crate::ids::{CampaignId, ContactId, JobId, SessionId};

/// A file attached to an email (a report, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// An email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    /// The recipient's address.
    pub to: String,
    pub subject: String,
    /// Plain-text body (UTF-8; Vietnamese as written).
    pub body_text: String,
    /// One-click unsubscribe link (RFC 8058): sent as `List-Unsubscribe` with
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    pub unsubscribe_url: Option<String>,
    pub attachments: Vec<Attachment>,
    /// The same on every attempt at one delivery (its id): a provider that takes a key
    /// drops a repeat (the outbox; see each adapter).
    pub idempotency_key: Option<String>,
}

/// An SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSms {
    /// E.164 (`+84…`).
    pub to: String,
    /// The final text: already unaccented unless the campaign sends Unicode.
    pub text: String,
    /// As [`OutboundEmail::idempotency_key`].
    pub idempotency_key: Option<String>,
}

/// The provider accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id of the message (SES/SNS MessageId, the gateway's id, …).
    pub message_id: String,
}

/// Why a provider did not accept a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Worth retrying: throttling, a timeout, a 5xx.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Retrying will not help: a refused address, a malformed request.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The request may have reached the provider and its answer was lost (a timeout after
    /// sending, an unreadable answer): the message may have been accepted.
    #[error("unclear outcome: {0}")]
    Unclear(String),
}

/// Sends email.
#[async_trait]
pub trait EmailChannel: Send + Sync {
    async fn send_email(&self, email: &OutboundEmail) -> Result<Sent, ChannelError>;

    /// Whether the provider drops a second message with the same idempotency key, so that
    /// asking it again after a crash cannot send twice.
    fn drops_repeats(&self) -> bool {
        false
    }
}

/// Sends SMS.
#[async_trait]
pub trait SmsChannel: Send + Sync {
    async fn send_sms(&self, sms: &OutboundSms) -> Result<Sent, ChannelError>;

    /// As [`EmailChannel::drops_repeats`].
    fn drops_repeats(&self) -> bool {
        false
    }
}

/// A Zalo ZNS message: an approved template with its parameters, to the Zalo account of a
/// phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundZns {
    /// The number as ZNS takes it: `84…`, digits only.
    pub phone: String,
    pub template_id: String,
    /// Template parameter → value.
    pub template_data: std::collections::BTreeMap<String, String>,
    /// The delivery's id, echoed by Zalo's delivery callbacks.
    pub tracking_id: String,
}

impl OutboundZns {
    /// `+84912345678` → `84912345678`.
    pub fn phone_from_e164(e164: &str) -> String {
        e164.trim_start_matches('+').to_string()
    }
}

/// What the sender does after ZNS did not take a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZnsNext {
    /// The person cannot get it on Zalo (no account, old app, refused ZNS) or the OA cannot
    /// send now (quota): the same delivery goes by SMS when the rule names SMS. Also where
    /// a temporary failure ends once its retries are spent.
    FallBackToSms,
    /// The number itself is wrong: no SMS either, the delivery fails.
    Fail,
    /// The app, OA link, token or template is misconfigured: the delivery fails, no SMS,
    /// and the operators are alarmed (every such message would fail the same way).
    FailAndAlarm,
}

/// Why ZNS did not take a message, and what follows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct ZnsError {
    pub error: ChannelError,
    pub next: ZnsNext,
}

/// The stable marker of a ZNS misconfiguration in the logs, which the template's metric
/// filter counts and alarms on.
pub const ZNS_ALARM_MARKER: &str = "ZNS_ALARM";

/// Sends Zalo ZNS template messages.
#[async_trait]
pub trait ZnsChannel: Send + Sync {
    async fn send_zns(&self, zns: &OutboundZns) -> Result<Sent, ZnsError>;

    /// As [`EmailChannel::drops_repeats`], by `tracking_id`.
    fn drops_repeats(&self) -> bool {
        false
    }
}

/// One delivery for the sender to attempt: a reminder rule of a session to one contact
/// on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveryTask {
    pub job_id: JobId,
    pub campaign_id: CampaignId,
    pub session_id: SessionId,
    pub rule_id: String,
    pub contact_id: ContactId,
    pub channel: Channel,
}

/// Carries delivery tasks from the dispatcher to the sender.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueue every task or fail; a task may be delivered more than once downstream.
    async fn enqueue(&self, tasks: &[DeliveryTask]) -> CoreResult<()>;
}

/// The in-process queue of the local command: the dispatcher pushes, the local sender drains.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    tasks: Mutex<VecDeque<DeliveryTask>>,
}

impl MemoryQueue {
    /// Take up to `max` tasks, oldest first.
    pub fn drain(&self, max: usize) -> Vec<DeliveryTask> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        let n = max.min(tasks.len());
        tasks.drain(..n).collect()
    }

    /// Tasks waiting.
    pub fn len(&self) -> usize {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no task waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, tasks: &[DeliveryTask]) -> CoreResult<()> {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(tasks.iter().cloned());
        Ok(())
    }
}

/// Makes the one-click unsubscribe link of a contact (RFC 8058), signed so nobody can
/// unsubscribe someone else.
pub trait UnsubscribeLinks: Send + Sync {
    fn link(&self, contact_id: &ContactId) -> Option<String>;

    /// A signed link that answers `answer` to delivery `delivery_id` (a reminder that
    /// asked whether the person will come); none without a public URL.
    fn answer_link(
        &self,
        _campaign_id: &CampaignId,
        _delivery_id: &str,
        _answer: crate::answer::Answer,
    ) -> Option<String> {
        None
    }

    /// A signed link to the page with the personal check-in code (a QR code) of
    /// `contact_id` for `session_id`, to show at the door; none without a public URL.
    fn check_in_link(&self, _session_id: &SessionId, _contact_id: &ContactId) -> Option<String> {
        None
    }

    /// The six-digit check-in code of `contact_id` for `session_id`, for an SMS too short
    /// for a link (an officer types it on the door page); none where links are not signed.
    fn check_in_code(&self, _session_id: &SessionId, _contact_id: &ContactId) -> Option<String> {
        None
    }
}

/// No links (local runs without a public URL).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoUnsubscribeLinks;

impl UnsubscribeLinks for NoUnsubscribeLinks {
    fn link(&self, _contact_id: &ContactId) -> Option<String> {
        None
    }
}
