//! The delivery queue on AWS SQS: the dispatcher enqueues, the sender's Lambda receives.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{DisplayErrorContext, SdkError};
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use outreach_core::notify::{DeliveryTask, Queue};
use outreach_core::{CoreError, CoreResult};

/// Settings of [`SqsQueue`].
#[derive(Debug, Clone)]
pub struct SqsConfig {
    /// The queue's URL.
    pub queue_url: String,
    /// Rounds of `SendMessageBatch` for the entries SQS reports failed (default 4).
    pub rounds: u32,
    /// Wait before the second round, doubled before each next one (default 100 ms).
    pub backoff: Duration,
    /// Timeout of one call, the SDK's retries included (default 10 s).
    pub timeout: Duration,
}

impl SqsConfig {
    /// Settings for the queue at `queue_url`, with the default retries and timeout.
    pub fn new(queue_url: impl Into<String>) -> Self {
        Self {
            queue_url: queue_url.into(),
            rounds: 4,
            backoff: Duration::from_millis(100),
            timeout: crate::DEFAULT_TIMEOUT,
        }
    }
}

/// Why tasks could not be enqueued; reaches callers as [`CoreError::Storage`].
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A task could not be written as JSON, or an entry built.
    #[error("cannot encode a delivery task: {0}")]
    Encode(String),
    /// The call itself failed (after the SDK's own retries).
    #[error("SQS SendMessageBatch failed: {detail}")]
    Send {
        detail: String,
        #[source]
        source: Box<SdkError<SendMessageBatchError, HttpResponse>>,
    },
    /// Receiving or deleting messages failed (after the SDK's own retries).
    #[error("SQS {operation} failed: {detail}")]
    Call { operation: &'static str, detail: String },
    /// SQS kept reporting entries as failed, or failed them for a fault of ours.
    #[error("SQS refused {count} task(s) after {rounds} round(s): {code}: {message}")]
    Refused {
        count: usize,
        rounds: u32,
        code: String,
        message: String,
    },
}

/// Enqueues delivery tasks on SQS with `SendMessageBatch`, at most 10 a call, each
/// message body the JSON of a [`DeliveryTask`] (read it back with [`SqsQueue::parse_body`]).
///
/// Entries SQS reports in `Failed` are sent again, with exponential backoff, for a few
/// rounds; entries failed for a fault of the sender (`SenderFault`), or still failing after
/// the last round, fail the call. Tasks sent before a failure stay enqueued: the sender
/// tolerates duplicates.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    config: SqsConfig,
}

impl SqsQueue {
    /// The most entries SQS takes in one `SendMessageBatch`.
    pub const MAX_BATCH: usize = 10;

    /// A queue with its own client, built from the shared AWS settings with `config.timeout`.
    pub fn new(sdk: &SdkConfig, config: SqsConfig) -> Self {
        let client_config = aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(crate::aws::timeouts(config.timeout))
            .build();
        Self::with_client(aws_sdk_sqs::Client::from_conf(client_config), config)
    }

    /// A queue over a client built elsewhere (its timeouts apply, not `config.timeout`).
    pub fn with_client(client: aws_sdk_sqs::Client, config: SqsConfig) -> Self {
        Self { client, config }
    }

    /// The task a message body carries.
    pub fn parse_body(body: &str) -> Result<DeliveryTask, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// Receive up to 10 messages (long-polling `wait_seconds`): each task with the receipt
    /// handle that deletes it. A body that is not a task is deleted and skipped.
    pub async fn receive(&self, wait_seconds: i32) -> Result<Vec<(String, DeliveryTask)>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.config.queue_url)
            .max_number_of_messages(Self::MAX_BATCH as i32)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .map_err(|e| QueueError::Call {
                operation: "ReceiveMessage",
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        let mut tasks = Vec::new();
        for message in out.messages.unwrap_or_default() {
            let Some(receipt) = message.receipt_handle else {
                continue;
            };
            match message.body.as_deref().map(Self::parse_body) {
                Some(Ok(task)) => tasks.push((receipt, task)),
                _ => {
                    tracing::error!(message_id = ?message.message_id, "a queue message is not a delivery task; dropped");
                    self.delete(&[receipt]).await?;
                }
            }
        }
        Ok(tasks)
    }

    /// Delete handled messages by their receipt handles.
    pub async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        for chunk in receipts.chunks(Self::MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::Encode(e.to_string()))?;
            self.client
                .delete_message_batch()
                .queue_url(&self.config.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Call {
                    operation: "DeleteMessageBatch",
                    detail: DisplayErrorContext(&e).to_string(),
                })?;
        }
        Ok(())
    }

    /// Send one batch (at most [`Self::MAX_BATCH`] tasks), again for failed entries.
    async fn send_batch(&self, tasks: &[DeliveryTask]) -> Result<(), QueueError> {
        // Entry ids only need to be unique within a call: the position will do.
        let mut pending = tasks
            .iter()
            .enumerate()
            .map(|(i, task)| Ok((i.to_string(), serde_json::to_string(task)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| QueueError::Encode(e.to_string()))?;
        let mut round = 1;
        loop {
            let entries = pending
                .iter()
                .map(|(id, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(body)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueueError::Encode(e.to_string()))?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.config.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Send {
                    detail: DisplayErrorContext(&e).to_string(),
                    source: Box::new(e),
                })?;
            let failed = out.failed();
            let Some(first) = failed.iter().find(|f| f.sender_fault()).or(failed.first()) else {
                return Ok(());
            };
            if first.sender_fault() || round >= self.config.rounds {
                return Err(QueueError::Refused {
                    count: failed.len(),
                    rounds: round,
                    code: first.code().to_owned(),
                    message: first.message().unwrap_or_default().to_owned(),
                });
            }
            let failed_ids: HashSet<&str> = failed.iter().map(|f| f.id()).collect();
            pending.retain(|(id, _)| failed_ids.contains(id.as_str()));
            let wait = self.config.backoff.saturating_mul(2u32.saturating_pow(round - 1));
            tracing::warn!(queue_url = %self.config.queue_url, failed = failed.len(), round, code = %first.code(),
                wait_ms = wait.as_millis() as u64, "SQS failed some entries; sending them again");
            tokio::time::sleep(wait).await;
            round += 1;
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn enqueue(&self, tasks: &[DeliveryTask]) -> CoreResult<()> {
        for batch in tasks.chunks(Self::MAX_BATCH) {
            self.send_batch(batch).await.map_err(|e| {
                tracing::error!(queue_url = %self.config.queue_url, error.message = %e, "tasks not enqueued");
                CoreError::Storage(Box::new(e))
            })?;
        }
        tracing::debug!(queue_url = %self.config.queue_url, tasks = tasks.len(), "tasks enqueued");
        Ok(())
    }
}
