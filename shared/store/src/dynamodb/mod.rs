//! `DynamoStore`: every `Store` port over one DynamoDB table (see `DYNAMODB.md`).

pub mod keys;
pub mod meter;
mod reports;
pub mod size;
pub mod table;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, PutRequest, TransactWriteItem, WriteRequest};
use futures::stream::{self, StreamExt};
use outreach_core::campaign::{Campaign, CampaignStatus};
use outreach_core::contact::Channel;
use outreach_core::contact::Contact;
use outreach_core::error::{CoreError, CoreResult};
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

/// A DynamoDB item as a map of attributes.
pub type RawItem = HashMap<String, AttributeValue>;

/// One item of the table: keys, type and version beside the domain value it stores.
#[derive(Debug, Serialize, Deserialize)]
pub struct Item<T> {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity_type: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    #[serde(rename = "GSI3PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi3pk: Option<String>,
    #[serde(rename = "GSI3SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi3sk: Option<String>,
    pub version: u64,
    pub data: T,
}

impl<T> Item<T> {
    fn new(pk: String, sk: impl Into<String>, entity_type: &str, version: u64, data: T) -> Self {
        Self {
            pk,
            sk: sk.into(),
            entity_type: entity_type.to_string(),
            gsi1pk: None,
            gsi1sk: None,
            gsi2pk: None,
            gsi2sk: None,
            gsi3pk: None,
            gsi3sk: None,
            version,
            data,
        }
    }
    fn gsi1(mut self, pk: String, sk: String) -> Self {
        (self.gsi1pk, self.gsi1sk) = (Some(pk), Some(sk));
        self
    }
    fn gsi2(mut self, pk: String, sk: String) -> Self {
        (self.gsi2pk, self.gsi2sk) = (Some(pk), Some(sk));
        self
    }
    fn gsi3(mut self, pk: String, sk: String) -> Self {
        (self.gsi3pk, self.gsi3sk) = (Some(pk), Some(sk));
        self
    }
}

/// A delivery as stored: its id is left out (the keys carry it, and it is derived from the
/// fields), which keeps a recorded delivery under the 1 KB of one write unit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredDelivery {
    pub campaign_id: String,
    pub session_id: String,
    pub rule_id: String,
    pub contact_id: String,
    pub channel: Channel,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: u32,
    pub lease_until: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
}

impl From<&Delivery> for StoredDelivery {
    fn from(d: &Delivery) -> Self {
        Self {
            campaign_id: d.campaign_id.clone(),
            session_id: d.session_id.clone(),
            rule_id: d.rule_id.clone(),
            contact_id: d.contact_id.clone(),
            channel: d.channel,
            status: d.status,
            message_id: d.message_id.clone(),
            reason: d.reason.clone(),
            attempts: d.attempts,
            lease_until: d.lease_until,
            updated_at: d.updated_at,
            expires_at: d.expires_at,
            version: d.version,
        }
    }
}

impl From<StoredDelivery> for Delivery {
    fn from(d: StoredDelivery) -> Self {
        Self {
            id: Delivery::id_for(&d.session_id, &d.rule_id, &d.contact_id, d.channel),
            campaign_id: d.campaign_id,
            session_id: d.session_id,
            rule_id: d.rule_id,
            contact_id: d.contact_id,
            channel: d.channel,
            status: d.status,
            message_id: d.message_id,
            reason: d.reason,
            attempts: d.attempts,
            lease_until: d.lease_until,
            updated_at: d.updated_at,
            expires_at: d.expires_at,
            version: d.version,
        }
    }
}

/// The item that reserves a phone number for one contact.
#[derive(Debug, Serialize, Deserialize)]
pub struct PhoneLock {
    pub contact_id: String,
}

/// The item of each entity: keys built by `keys`, sizes checked before anything is sent.
pub mod items {
    use super::*;

    pub fn unit(u: &OrgUnit) -> Item<&OrgUnit> {
        let sort = keys::unit_sort(&u.code, u.valid_from);
        let mut item = Item::new(keys::unit_pk(&u.code), keys::unit_sk(u.valid_from), "unit", 1, u)
            .gsi2(keys::unit_level(u.level.as_str()), sort.clone())
            .gsi3(keys::entity_index("unit"), sort.clone());
        if let Some(parent) = &u.parent_code {
            item = item.gsi1(keys::unit_parent(parent), sort);
        }
        item
    }

    pub fn contact(c: &Contact) -> Item<&Contact> {
        Item::new(keys::contact_pk(&c.id), keys::CONTACT_SK, "contact", c.version, c)
            .gsi1(keys::commune_contacts(&c.commune_code), c.id.clone())
            .gsi2(
                keys::commune_role_contacts(&c.commune_code, c.role.as_str()),
                c.id.clone(),
            )
            .gsi3(keys::entity_index("contact"), c.id.clone())
    }

    /// The item that finds a contact by email address.
    pub fn email_entry(c: &Contact, email: &str) -> Item<PhoneLock> {
        Item::new(
            keys::email_pk(email),
            keys::email_sk(&c.id),
            "email",
            1,
            PhoneLock {
                contact_id: c.id.clone(),
            },
        )
    }

    /// The item that holds a phone number for one contact (none once erased).
    pub fn phone_lock(c: &Contact) -> Option<Item<PhoneLock>> {
        let phone = c.phone.as_ref()?;
        Some(Item::new(
            keys::phone_pk(&phone.e164),
            keys::PHONE_SK,
            "phone",
            1,
            PhoneLock {
                contact_id: c.id.clone(),
            },
        ))
    }

    pub fn campaign(c: &Campaign) -> Item<&Campaign> {
        Item::new(keys::campaign_pk(&c.id), keys::CAMPAIGN_SK, "campaign", c.version, c)
            .gsi1(keys::campaigns_by_status(c.status.as_str()), c.id.clone())
            .gsi3(keys::entity_index("campaign"), c.id.clone())
    }

    pub fn session(s: &Session) -> Item<&Session> {
        let sort = keys::session_sort(s.starts_at, &s.id);
        Item::new(keys::session_pk(&s.id), keys::SESSION_SK, "session", s.version, s)
            .gsi1(keys::campaign_sessions(&s.campaign_id), sort.clone())
            .gsi2(keys::commune_sessions(&s.commune_code), sort.clone())
            .gsi3(keys::entity_index("session"), sort)
    }

    pub fn team(t: &VolunteerTeam) -> Item<&VolunteerTeam> {
        Item::new(keys::team_pk(&t.commune_code), keys::TEAM_SK, "team", t.version, t)
    }

    pub fn job(j: &ReminderJob) -> Item<&ReminderJob> {
        let item = Item::new(keys::job_pk(&j.id), keys::JOB_SK, "job", j.version, j)
            .gsi2(keys::session_jobs(&j.session_id), j.id.clone());
        if j.status == JobStatus::Pending {
            item.gsi1(
                keys::due_bucket(j.due_at, keys::due_shard(&j.id)),
                format!("{}#{}", keys::instant(j.due_at), j.id),
            )
        } else {
            item
        }
    }

    /// A delivery as claimed: no index keys yet, so a claim costs one write unit.
    pub fn claimed_delivery(d: &Delivery) -> Item<StoredDelivery> {
        Item::new(
            keys::campaign_deliveries(&d.campaign_id),
            d.id.clone(),
            "delivery",
            d.version,
            StoredDelivery::from(d),
        )
    }

    /// A delivery with its outcome: indexed by contact (its campaign and session are its key).
    pub fn recorded_delivery(d: &Delivery) -> Item<StoredDelivery> {
        let channel = match d.channel {
            Channel::Sms => "sms",
            Channel::Email => "email",
        };
        claimed_delivery(d).gsi2(
            keys::contact_deliveries(&d.contact_id),
            keys::contact_delivery_sort(channel, d.updated_at),
        )
    }

    /// Add the top-level attributes conditions test (status, lease end) and the TTL.
    pub fn with_delivery_attributes(mut raw: RawItem, d: &Delivery) -> RawItem {
        raw.insert("status".into(), AttributeValue::S(d.status.as_str().into()));
        raw.insert("lease_until".into(), AttributeValue::S(keys::instant(d.lease_until)));
        raw.insert(
            "expires_at".into(),
            AttributeValue::N(d.expires_at.timestamp().to_string()),
        );
        raw
    }

    /// Serialise an item, refusing one DynamoDB would refuse for its size.
    pub fn encode<T: Serialize>(item: &Item<T>) -> Result<RawItem, StoreError> {
        let raw: RawItem = to_item(item).map_err(|e| StoreError::Encode(e.to_string()))?;
        let bytes = item_size(&raw);
        if bytes > MAX_ITEM_BYTES {
            return Err(StoreError::ItemTooLarge {
                entity: item.entity_type.clone(),
                bytes,
            });
        }
        Ok(raw)
    }
}

/// The DynamoDB store: one table, a client built once.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// How often BatchWriteItem's unprocessed items are retried before giving up.
const BATCH_RETRIES: u32 = 8;
/// AWS's limit on the requests of one BatchWriteItem call.
pub const BATCH_WRITE_LIMIT: usize = 25;

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

/// A query of the table or an index, paged by the store.
struct Query {
    index: Option<&'static str>,
    key_condition: String,
    filter: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    /// The partition key value, checked against a cursor so a foreign cursor is refused.
    partition: String,
}

impl Query {
    fn on(index: Option<&'static str>, partition: String) -> Self {
        let pk_attr = match index {
            None => "PK",
            Some(i) => table::TABLE
                .indexes
                .iter()
                .find(|x| x.name == i)
                .map_or("PK", |x| x.partition_key),
        };
        Self {
            index,
            key_condition: "#pk = :pk".into(),
            filter: None,
            names: HashMap::from([("#pk".to_string(), pk_attr.to_string())]),
            values: HashMap::from([(":pk".to_string(), s(partition.clone()))]),
            partition,
        }
    }

    fn sort_attr(&self) -> &'static str {
        match self.index {
            None => "SK",
            Some(i) => table::TABLE
                .indexes
                .iter()
                .find(|x| x.name == i)
                .map_or("SK", |x| x.sort_key),
        }
    }

    /// `from <= sort < to` on the sort key, by prefix.
    fn sort_range(mut self, from: Option<String>, to: Option<String>) -> Self {
        let sk = self.sort_attr();
        if from.is_some() || to.is_some() {
            self.names.insert("#sk".into(), sk.into());
        }
        let cond = match (from, to) {
            (Some(f), Some(t)) => {
                self.values.insert(":from".into(), s(f));
                self.values.insert(":to".into(), s(t));
                // Sort keys are `instant#id`: nothing equals `:to` itself, so BETWEEN excludes it.
                " AND #sk BETWEEN :from AND :to"
            }
            (Some(f), None) => {
                self.values.insert(":from".into(), s(f));
                " AND #sk >= :from"
            }
            (None, Some(t)) => {
                self.values.insert(":to".into(), s(t));
                " AND #sk < :to"
            }
            (None, None) => return self,
        };
        self.key_condition.push_str(cond);
        self
    }

    fn begins_with(mut self, prefix: &str) -> Self {
        let sk = self.sort_attr();
        self.names.insert("#sk".into(), sk.into());
        self.values.insert(":prefix".into(), s(prefix));
        self.key_condition.push_str(" AND begins_with(#sk, :prefix)");
        self
    }

    /// Keep only items whose `data.<field>` equals `value`.
    fn filter_eq(mut self, field: &str, value: &str) -> Self {
        let n = self.values.len();
        let (name, val) = (format!("#f{n}"), format!(":f{n}"));
        self.names.insert("#data".into(), "data".into());
        self.names.insert(name.clone(), field.into());
        self.values.insert(val.clone(), s(value));
        let cond = format!("#data.{name} = {val}");
        self.filter = Some(match self.filter.take() {
            Some(f) => format!("{f} AND {cond}"),
            None => cond,
        });
        self
    }

    /// The attributes that make up this query's LastEvaluatedKey.
    fn key_attrs(&self) -> Vec<&'static str> {
        let mut attrs = vec!["PK", "SK"];
        if let Some(i) = self
            .index
            .and_then(|i| table::TABLE.indexes.iter().find(|x| x.name == i))
        {
            attrs.push(i.partition_key);
            attrs.push(i.sort_key);
        }
        attrs
    }
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

    /// Write items with BatchWriteItem in requests of at most 25, retrying unprocessed
    /// items with exponential backoff. Returns the size of each first-attempt request.
    pub async fn batch_put(&self, items: Vec<RawItem>) -> Result<Vec<usize>, StoreError> {
        let mut sizes = Vec::new();
        for chunk in items.chunks(BATCH_WRITE_LIMIT) {
            sizes.push(chunk.len());
            let requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder().set_item(Some(item.clone())).build();
                    put.map(|p| WriteRequest::builder().put_request(p).build())
                        .map_err(|e| StoreError::Encode(e.to_string()))
                })
                .collect::<Result<_, _>>()?;
            retry_unprocessed(requests, BATCH_RETRIES, |batch| async move {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(self.table.clone(), batch)
                    .send()
                    .await
                    .map_err(sdk)?;
                Ok(out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&self.table))
                    .unwrap_or_default())
            })
            .await?;
        }
        Ok(sizes)
    }

    async fn get_raw(&self, pk: String, sk: &str) -> Result<Option<RawItem>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.item)
    }

    async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> CoreResult<Option<T>> {
        Ok(self.get_raw(pk, sk).await?.map(decode).transpose()?)
    }

    /// Put an item if its key is free; false when it was taken.
    async fn put_new(&self, raw: RawItem) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(raw))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk(e)),
        }
    }

    /// Put items whose keys are free, several in flight; returns how many were new (a
    /// taken key is "already there", not an error).
    async fn put_all_new(&self, raws: Vec<RawItem>) -> Result<usize, StoreError> {
        let results: Vec<Result<bool, StoreError>> = stream::iter(raws)
            .map(|raw| self.put_new(raw))
            .buffer_unordered(PARALLEL_PUTS)
            .collect()
            .await;
        let mut created = 0;
        for r in results {
            created += usize::from(r?);
        }
        Ok(created)
    }

    /// Replace an item whose stored version is `version - 1`; false on a version mismatch.
    async fn put_versioned(&self, raw: RawItem, version: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(raw))
            .condition_expression("version = :prev")
            .expression_attribute_values(":prev", n(version.saturating_sub(1)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk(e)),
        }
    }

    /// Every raw item a query matches, following pages to the end.
    async fn query_raw(&self, q: Query) -> Result<Vec<RawItem>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<RawItem> = None;
        loop {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(q.index.map(str::to_string))
                .key_condition_expression(&q.key_condition)
                .set_filter_expression(q.filter.clone())
                .set_expression_attribute_names(Some(q.names.clone()))
                .set_expression_attribute_values(Some(q.values.clone()))
                .set_consistent_read(q.index.is_none().then_some(true))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            out.extend(resp.items.unwrap_or_default());
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Every item a query matches, following pages to the end.
    async fn query_all<T: DeserializeOwned>(&self, q: Query) -> CoreResult<Vec<T>> {
        let raws = self.query_raw(q).await?;
        Ok(raws.into_iter().map(decode).collect::<Result<Vec<T>, _>>()?)
    }

    /// One page of a query: follows DynamoDB's own pages (1 MB, filters) until `limit`
    /// items are found, and gives a cursor only when more items exist.
    async fn query_page<T: DeserializeOwned>(&self, q: Query, page: &PageRequest) -> CoreResult<Page<T>> {
        let limit = page.limit.clamp(1, MAX_PAGE_SIZE) as usize;
        let attrs = q.key_attrs();
        let mut start = match &page.cursor {
            None => None,
            Some(c) => {
                let parts = cursor::decode(c, attrs.len())?;
                let key: RawItem = attrs.iter().zip(parts).map(|(a, v)| (a.to_string(), s(v))).collect();
                let partition_attr = attrs.get(2).copied().unwrap_or("PK");
                if key.get(partition_attr) != Some(&s(q.partition.clone())) {
                    return Err(StoreError::BadCursor.into());
                }
                Some(key)
            }
        };
        let mut raws: Vec<RawItem> = Vec::new();
        loop {
            let want = (limit + 1 - raws.len()) as i32;
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(q.index.map(str::to_string))
                .key_condition_expression(&q.key_condition)
                .set_filter_expression(q.filter.clone())
                .set_expression_attribute_names(Some(q.names.clone()))
                .set_expression_attribute_values(Some(q.values.clone()))
                .set_consistent_read(q.index.is_none().then_some(true))
                .limit(want)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            raws.extend(resp.items.unwrap_or_default());
            if raws.len() > limit {
                break;
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        let next_cursor = if raws.len() > limit {
            raws.truncate(limit);
            let last = raws.last().ok_or(StoreError::BadCursor)?;
            let parts: Vec<String> = attrs
                .iter()
                .map(|a| last.get(*a).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default())
                .collect();
            Some(cursor::encode(&parts.iter().map(String::as_str).collect::<Vec<_>>()))
        } else {
            None
        };
        let items = raws.into_iter().map(decode).collect::<Result<Vec<T>, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

/// Send `requests` through `send` until none is left unprocessed, backing off
/// exponentially (25 ms, 50 ms, …); fails after `retries` rounds with items still pending.
pub async fn retry_unprocessed<F, Fut>(
    mut requests: Vec<WriteRequest>,
    retries: u32,
    mut send: F,
) -> Result<(), StoreError>
where
    F: FnMut(Vec<WriteRequest>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<WriteRequest>, StoreError>>,
{
    let mut attempt = 0;
    while !requests.is_empty() {
        if attempt > retries {
            return Err(StoreError::Unprocessed(requests.len()));
        }
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(25 << attempt.min(8))).await;
        }
        requests = send(requests).await?;
        attempt += 1;
    }
    Ok(())
}

fn cancelled_by_condition(e: &aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError) -> Vec<bool> {
    match e {
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code() == Some("ConditionalCheckFailed"))
                .collect()
        }
        _ => Vec::new(),
    }
}

fn transact_put(
    table: &str,
    raw: RawItem,
    condition: &str,
    values: Option<HashMap<String, AttributeValue>>,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(raw))
        .condition_expression(condition)
        .set_expression_attribute_values(values)
        .build()
        .map_err(|e| StoreError::Encode(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn plain_put(table: &str, raw: RawItem) -> Result<Put, StoreError> {
    Put::builder()
        .table_name(table)
        .set_item(Some(raw))
        .build()
        .map_err(|e| StoreError::Encode(e.to_string()))
}

fn stale(entity: &str, id: &str) -> CoreError {
    CoreError::Conflict(format!(
        "{entity} {id} was changed by someone else (or does not exist); reload and retry"
    ))
}

#[async_trait]
impl OrgUnitStore for DynamoStore {
    async fn put_org_units(&self, units: &[OrgUnit]) -> CoreResult<()> {
        // Encode everything first, so an oversized item refuses the import before any write.
        let raws = units
            .iter()
            .map(|u| items::encode(&items::unit(u)))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_put(raws).await?;
        Ok(())
    }

    async fn org_unit_versions(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        self.query_all(Query::on(None, keys::unit_pk(code)).begins_with("V#"))
            .await
    }

    async fn org_unit_children(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        self.query_all(Query::on(Some("GSI1"), keys::unit_parent(code))).await
    }

    async fn org_unit_descendants(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        // Every unit of the table (a province's few hundred, a page or two of the entity
        // index), the subtree found in memory: not one query a unit.
        let all = self
            .query_all(Query::on(Some("GSI3"), keys::entity_index("unit")))
            .await?;
        Ok(outreach_core::org::descendants(all, code))
    }

    async fn list_org_units(&self, filter: &OrgUnitFilter, page: &PageRequest) -> CoreResult<Page<OrgUnit>> {
        let q = match (&filter.parent_code, filter.level) {
            (Some(parent), level) => {
                let q = Query::on(Some("GSI1"), keys::unit_parent(parent));
                match level {
                    Some(l) => q.filter_eq("level", l.as_str()),
                    None => q,
                }
            }
            (None, Some(level)) => Query::on(Some("GSI2"), keys::unit_level(level.as_str())),
            (None, None) => Query::on(Some("GSI3"), keys::entity_index("unit")),
        };
        self.query_page(q, page).await
    }
}

#[async_trait]
impl ContactStore for DynamoStore {
    async fn insert_contact(&self, contact: &Contact) -> CoreResult<()> {
        let record = items::encode(&items::contact(contact))?;
        let Some(lock) = items::phone_lock(contact) else {
            return Err(CoreError::invalid("phone", "a new contact needs a phone number"));
        };
        let lock = items::encode(&lock)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(transact_put(&self.table, record, "attribute_not_exists(PK)", None)?)
            .transact_items(transact_put(&self.table, lock, "attribute_not_exists(PK)", None)?);
        if let Some(email) = &contact.email {
            let entry = items::encode(&items::email_entry(contact, email))?;
            request = request.transact_items(TransactWriteItem::builder().put(plain_put(&self.table, entry)?).build());
        }
        let result = request.send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons = e.as_service_error().map(cancelled_by_condition).unwrap_or_default();
                match reasons.as_slice() {
                    [true, ..] => Err(CoreError::AlreadyExists {
                        entity: "contact",
                        id: contact.id.clone(),
                    }),
                    [_, true, ..] => Err(CoreError::AlreadyExists {
                        entity: "contact with phone",
                        id: contact.masked_phone(),
                    }),
                    _ => Err(sdk(e).into()),
                }
            }
        }
    }

    async fn get_contact(&self, id: &str) -> CoreResult<Option<Contact>> {
        self.get(keys::contact_pk(id), keys::CONTACT_SK).await
    }

    async fn find_contact_by_phone(&self, e164: &str) -> CoreResult<Option<Contact>> {
        let Some(lock) = self.get::<PhoneLock>(keys::phone_pk(e164), keys::PHONE_SK).await? else {
            return Ok(None);
        };
        self.get_contact(&lock.contact_id).await
    }

    async fn find_contacts_by_email(&self, email: &str) -> CoreResult<Vec<Contact>> {
        let entries: Vec<PhoneLock> = self
            .query_all(Query::on(None, keys::email_pk(email)).begins_with("CONTACT#"))
            .await?;
        let mut out = Vec::new();
        for entry in entries {
            if let Some(c) = self.get_contact(&entry.contact_id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn update_contact(&self, contact: &Contact) -> CoreResult<()> {
        let Some(stored) = self.get_contact(&contact.id).await? else {
            return Err(stale("contact", &contact.id));
        };
        let record = items::encode(&items::contact(contact))?;
        let prev = HashMap::from([(":prev".to_string(), n(contact.version.saturating_sub(1)))]);
        let mut request = self.client.transact_write_items().transact_items(transact_put(
            &self.table,
            record,
            "version = :prev",
            Some(prev),
        )?);
        if stored.phone != contact.phone {
            // The number moves (or is erased): take the new one and free the old one in the
            // same transaction.
            if let Some(lock) = items::phone_lock(contact) {
                let lock = items::encode(&lock)?;
                request = request.transact_items(transact_put(&self.table, lock, "attribute_not_exists(PK)", None)?);
            }
            if let Some(old) = &stored.phone {
                let delete = aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .key("PK", s(keys::phone_pk(&old.e164)))
                    .key("SK", s(keys::PHONE_SK))
                    .build()
                    .map_err(|e| StoreError::Encode(e.to_string()))?;
                request = request.transact_items(TransactWriteItem::builder().delete(delete).build());
            }
        }
        let old_email = stored.email.as_deref().map(str::to_lowercase);
        let new_email = contact.email.as_deref().map(str::to_lowercase);
        if old_email != new_email {
            if let Some(old) = &old_email {
                let delete = aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .key("PK", s(keys::email_pk(old)))
                    .key("SK", s(keys::email_sk(&contact.id)))
                    .build()
                    .map_err(|e| StoreError::Encode(e.to_string()))?;
                request = request.transact_items(TransactWriteItem::builder().delete(delete).build());
            }
            if let Some(new) = &new_email {
                let entry = items::encode(&items::email_entry(contact, new))?;
                request =
                    request.transact_items(TransactWriteItem::builder().put(plain_put(&self.table, entry)?).build());
            }
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons = e.as_service_error().map(cancelled_by_condition).unwrap_or_default();
                match reasons.as_slice() {
                    [true, ..] => Err(stale("contact", &contact.id)),
                    [_, true, ..] => Err(CoreError::AlreadyExists {
                        entity: "contact with phone",
                        id: contact.masked_phone(),
                    }),
                    _ => Err(sdk(e).into()),
                }
            }
        }
    }

    async fn list_contacts(&self, filter: &ContactFilter, page: &PageRequest) -> CoreResult<Page<Contact>> {
        let q = match (&filter.commune, filter.role) {
            (Some(commune), Some(role)) => Query::on(Some("GSI2"), keys::commune_role_contacts(commune, role.as_str())),
            (Some(commune), None) => Query::on(Some("GSI1"), keys::commune_contacts(commune)),
            (None, Some(role)) => {
                Query::on(Some("GSI3"), keys::entity_index("contact")).filter_eq("role", role.as_str())
            }
            (None, None) => Query::on(Some("GSI3"), keys::entity_index("contact")),
        };
        self.query_page(q, page).await
    }
}

#[async_trait]
impl CampaignStore for DynamoStore {
    async fn insert_campaign(&self, campaign: &Campaign) -> CoreResult<()> {
        let raw = items::encode(&items::campaign(campaign))?;
        if self.put_new(raw).await? {
            Ok(())
        } else {
            Err(CoreError::AlreadyExists {
                entity: "campaign",
                id: campaign.id.clone(),
            })
        }
    }

    async fn get_campaign(&self, id: &str) -> CoreResult<Option<Campaign>> {
        self.get(keys::campaign_pk(id), keys::CAMPAIGN_SK).await
    }

    async fn update_campaign(&self, campaign: &Campaign) -> CoreResult<()> {
        let raw = items::encode(&items::campaign(campaign))?;
        if self.put_versioned(raw, campaign.version).await? {
            Ok(())
        } else {
            Err(stale("campaign", &campaign.id))
        }
    }

    async fn list_campaigns(&self, status: Option<CampaignStatus>, page: &PageRequest) -> CoreResult<Page<Campaign>> {
        let q = match status {
            Some(status) => Query::on(Some("GSI1"), keys::campaigns_by_status(status.as_str())),
            None => Query::on(Some("GSI3"), keys::entity_index("campaign")),
        };
        self.query_page(q, page).await
    }
}

/// Conditional puts in flight at once when materialising sessions.
const PARALLEL_PUTS: usize = 16;

#[async_trait]
impl SessionStore for DynamoStore {
    async fn insert_sessions_if_absent(&self, sessions: &[Session]) -> CoreResult<usize> {
        let raws = sessions
            .iter()
            .map(|s| items::encode(&items::session(s)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.put_all_new(raws).await?)
    }

    async fn get_session(&self, id: &str) -> CoreResult<Option<Session>> {
        self.get(keys::session_pk(id), keys::SESSION_SK).await
    }

    async fn update_session(&self, session: &Session) -> CoreResult<()> {
        let raw = items::encode(&items::session(session))?;
        if self.put_versioned(raw, session.version).await? {
            Ok(())
        } else {
            Err(stale("session", &session.id))
        }
    }

    async fn list_sessions(&self, filter: &SessionFilter, page: &PageRequest) -> CoreResult<Page<Session>> {
        let from = filter.from.map(keys::instant);
        let to = filter.to.map(keys::instant);
        let mut q = match (&filter.campaign, &filter.commune) {
            (Some(campaign), commune) => {
                let q = Query::on(Some("GSI1"), keys::campaign_sessions(campaign)).sort_range(from, to);
                match commune {
                    Some(c) => q.filter_eq("commune_code", c),
                    None => q,
                }
            }
            (None, Some(commune)) => Query::on(Some("GSI2"), keys::commune_sessions(commune)).sort_range(from, to),
            (None, None) => Query::on(Some("GSI3"), keys::entity_index("session")).sort_range(from, to),
        };
        if let Some(status) = filter.status {
            q = q.filter_eq("status", status.as_str());
        }
        self.query_page(q, page).await
    }
}

#[async_trait]
impl TeamStore for DynamoStore {
    async fn put_team(&self, team: &VolunteerTeam) -> CoreResult<()> {
        let raw = items::encode(&items::team(team))?;
        let written = if team.version == 1 {
            self.put_new(raw).await?
        } else {
            self.put_versioned(raw, team.version).await?
        };
        if written {
            Ok(())
        } else {
            Err(stale("volunteer team", &team.commune_code))
        }
    }

    async fn get_team(&self, commune_code: &str) -> CoreResult<Option<VolunteerTeam>> {
        self.get(keys::team_pk(commune_code), keys::TEAM_SK).await
    }
}

#[async_trait]
impl ReminderStore for DynamoStore {
    async fn insert_jobs_if_absent(&self, jobs: &[ReminderJob]) -> CoreResult<usize> {
        let raws = jobs
            .iter()
            .map(|j| items::encode(&items::job(j)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.put_all_new(raws).await?)
    }

    async fn get_job(&self, id: &str) -> CoreResult<Option<ReminderJob>> {
        self.get(keys::job_pk(id), keys::JOB_SK).await
    }

    async fn update_job(&self, job: &ReminderJob) -> CoreResult<()> {
        let raw = items::encode(&items::job(job))?;
        if self.put_versioned(raw, job.version).await? {
            Ok(())
        } else {
            Err(stale("reminder job", &job.id))
        }
    }

    async fn due_jobs(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> CoreResult<Vec<ReminderJob>> {
        // Every (hour, shard) partition between `since` and `now`: a bounded number of
        // small queries on the sparse index, never a scan, DUE_QUERIES_AT_ONCE at a time (one
        // after the other they were most of a dispatcher run; all at once, a cold start would
        // open a TLS connection for each).
        use futures::{StreamExt, TryStreamExt};
        let mut buckets = Vec::new();
        let mut hour = since;
        while hour <= now + chrono::Duration::hours(1) {
            buckets.extend((0..keys::DUE_SHARDS).map(|shard| keys::due_bucket(hour, shard)));
            hour += chrono::Duration::hours(1);
        }
        let pages: Vec<Vec<ReminderJob>> = futures::stream::iter(buckets)
            .map(|bucket| {
                let q = Query::on(Some("GSI1"), bucket)
                    .sort_range(Some(keys::instant(since)), Some(format!("{}~", keys::instant(now))));
                self.query_all::<ReminderJob>(q)
            })
            .buffer_unordered(DUE_QUERIES_AT_ONCE)
            .try_collect()
            .await?;
        let mut jobs: Vec<ReminderJob> = pages.into_iter().flatten().collect();
        jobs.retain(|j| j.status == JobStatus::Pending && j.due_at >= since && j.due_at <= now);
        jobs.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        jobs.dedup_by(|a, b| a.id == b.id);
        jobs.truncate(limit as usize);
        Ok(jobs)
    }

    async fn session_jobs(&self, session_id: &str) -> CoreResult<Vec<ReminderJob>> {
        self.query_all(Query::on(Some("GSI2"), keys::session_jobs(session_id)))
            .await
    }
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn claim_delivery(&self, claim: &Delivery, now: chrono::DateTime<chrono::Utc>) -> CoreResult<Claim> {
        let raw = items::with_delivery_attributes(items::encode(&items::claimed_delivery(claim))?, claim);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(raw))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        let stored: Delivery = match result {
            Ok(_) => return Ok(Claim::Claimed(claim.clone())),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    match c.item.clone() {
                        Some(old) => decode::<StoredDelivery>(old)?.into(),
                        None => match self.get_delivery(&claim.campaign_id, &claim.id).await? {
                            Some(d) => d,
                            None => return Err(stale("delivery", &claim.id)),
                        },
                    }
                }
                _ => return Err(sdk(e).into()),
            },
        };
        let free = stored.status == DeliveryStatus::Retrying
            || (stored.status == DeliveryStatus::Claimed && stored.lease_until < now);
        if !free {
            return Ok(Claim::Taken(stored));
        }
        let taken = Delivery {
            status: DeliveryStatus::Claimed,
            attempts: stored.attempts + 1,
            lease_until: claim.lease_until,
            updated_at: claim.updated_at,
            version: stored.version + 1,
            ..stored.clone()
        };
        let raw = items::with_delivery_attributes(items::encode(&items::claimed_delivery(&taken))?, &taken);
        if self.put_versioned(raw, taken.version).await? {
            Ok(Claim::Claimed(taken))
        } else {
            // Another sender took it over first.
            let now_stored = self
                .get_delivery(&claim.campaign_id, &claim.id)
                .await?
                .unwrap_or(stored);
            Ok(Claim::Taken(now_stored))
        }
    }

    async fn record_delivery(&self, delivery: &Delivery) -> CoreResult<()> {
        let raw = items::with_delivery_attributes(items::encode(&items::recorded_delivery(delivery))?, delivery);
        if self.put_versioned(raw, delivery.version).await? {
            Ok(())
        } else {
            Err(stale("delivery", &delivery.id))
        }
    }

    async fn get_delivery(&self, campaign_id: &str, id: &str) -> CoreResult<Option<Delivery>> {
        Ok(self
            .get::<StoredDelivery>(keys::campaign_deliveries(campaign_id), id)
            .await?
            .map(Delivery::from))
    }

    async fn list_deliveries(&self, filter: &DeliveryFilter, page: &PageRequest) -> CoreResult<Page<Delivery>> {
        let campaign = match (&filter.campaign, &filter.session) {
            (Some(c), _) => Some(c.clone()),
            // A session's deliveries sit in its campaign's partition.
            (None, Some(s)) => match self.get_session(s).await? {
                Some(session) => Some(session.campaign_id),
                None => {
                    return Ok(Page {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
            (None, None) => None,
        };
        let mut q = match (campaign, &filter.contact) {
            (Some(campaign), contact) => {
                let q = Query::on(None, keys::campaign_deliveries(&campaign));
                let q = match &filter.session {
                    Some(s) => q.begins_with(&format!("{s}|")),
                    None => q,
                };
                match contact {
                    Some(c) => q.filter_eq("contact_id", c),
                    None => q,
                }
            }
            (None, Some(contact)) => Query::on(Some("GSI2"), keys::contact_deliveries(contact)),
            (None, None) => {
                return Err(CoreError::invalid("filter", "name a campaign, a session or a contact"));
            }
        };
        if let Some(status) = filter.status {
            q = q.filter_eq("status", status.as_str());
        }
        let page: Page<StoredDelivery> = self.query_page(q, page).await?;
        Ok(Page {
            items: page.items.into_iter().map(Delivery::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn count_sent_since(
        &self,
        contact_id: &str,
        channel: Channel,
        since: chrono::DateTime<chrono::Utc>,
    ) -> CoreResult<usize> {
        let channel = match channel {
            Channel::Sms => "sms",
            Channel::Email => "email",
        };
        let q = Query::on(Some("GSI2"), keys::contact_deliveries(contact_id))
            .sort_range(
                Some(format!("{channel}#{}", keys::instant(since))),
                Some(format!("{channel}#~")),
            )
            .filter_eq("status", DeliveryStatus::Sent.as_str());
        Ok(self.query_all::<StoredDelivery>(q).await?.len())
    }
}
