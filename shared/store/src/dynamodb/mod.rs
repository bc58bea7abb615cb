//! `DynamoStore`: every `Store` port over one DynamoDB table (see `DYNAMODB.md`).

mod answers;
mod campaigns;
mod contacts;
mod deliveries;
mod item;
pub mod keys;
#[cfg(feature = "meter")]
pub mod meter;
mod ops;
mod query;
mod reminders;
mod reports;
mod sessions;
pub mod size;
pub mod table;
mod teams;
mod units;
mod zns;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, PutRequest, TransactWriteItem, WriteRequest};
use futures::stream::{self, StreamExt};
use outreach_core::campaign::{Campaign, CampaignStatus};
use outreach_core::contact::Channel;
use outreach_core::contact::Contact;
use outreach_core::error::{CoreError, CoreResult};
use outreach_core::ids::{CampaignId, ContactId, JobId, SessionId, UnitCode};
use outreach_core::org::OrgUnit;
use outreach_core::ports::{
    CampaignStore, Claim, ContactFilter, ContactStore, DeliveryFilter, DeliveryStore, MAX_PAGE_SIZE, OrgUnitFilter,
    OrgUnitStore, Page, PageRequest, ReminderStore, SessionFilter, SessionStore, TeamStore,
};
use outreach_core::reminder::{Delivery, DeliveryStatus, JobStatus, ReminderJob};
use outreach_core::session::Session;
use outreach_core::team::VolunteerTeam;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use crate::{StoreError, cursor};
use size::{MAX_ITEM_BYTES, item_size};

pub use item::{Item, PhoneLock, RawItem, StoredDelivery, items};
pub use ops::retry_unprocessed;
use ops::*;
use query::Query;

/// The DynamoDB store: one table, a client built once.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// How often unprocessed items of a BatchWriteItem (keys of a BatchGetItem) are retried
/// before giving up.
const BATCH_RETRIES: u32 = 8;
/// AWS's limit on the requests of one BatchWriteItem call.
pub const BATCH_WRITE_LIMIT: usize = 25;
/// AWS's limit on the keys of one BatchGetItem call.
pub const BATCH_GET_LIMIT: usize = 100;

fn sdk<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let message = match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("")
        ),
        None => DisplayErrorContext(&e).to_string(),
    };
    StoreError::Dynamo(message.into())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn decode<T: DeserializeOwned>(raw: RawItem) -> Result<T, StoreError> {
    let item: Item<T> = from_item(raw).map_err(|e| StoreError::Decode(e.to_string()))?;
    Ok(item.data)
}

/// The due-time index's partitions the dispatcher queries at once.
const DUE_QUERIES_AT_ONCE: usize = 8;

impl DynamoStore {
    /// A store over `table` with a client configured from the environment (region,
    /// credentials, `AWS_ENDPOINT_URL`), with bounded timeouts on every call.
    pub async fn from_env(table: &str) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Self::with_sdk(&config, table)
    }

    /// A store over `table` with a client of the given SDK settings, and bounded timeouts on
    /// every call.
    pub fn with_sdk(sdk: &aws_config::SdkConfig, table: &str) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(30))
            .build();
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .build();
        Self::new(Client::from_conf(config), table)
    }

    /// A store over `table` with a given client.
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
    }

    /// The client it calls DynamoDB with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Create the table if it does not exist; true when it was created.
    pub async fn create_table(&self) -> CoreResult<bool> {
        Ok(table::create_table(&self.client, &self.table).await?)
    }
}
