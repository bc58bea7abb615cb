//! `DynamoStore`: every `Store` port over one DynamoDB table (see `DYNAMODB.md`).

pub mod keys;
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
use outreach_core::contact::Contact;
use outreach_core::error::{CoreError, CoreResult};
use outreach_core::org::OrgUnit;
use outreach_core::ports::{
    CampaignStore, ContactFilter, ContactStore, MAX_PAGE_SIZE, OrgUnitFilter, OrgUnitStore, Page, PageRequest,
    SessionFilter, SessionStore, TeamStore,
};
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

    pub fn phone_lock(c: &Contact) -> Item<PhoneLock> {
        Item::new(
            keys::phone_pk(&c.phone.e164),
            keys::PHONE_SK,
            "phone",
            1,
            PhoneLock {
                contact_id: c.id.clone(),
            },
        )
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

impl DynamoStore {
    /// A store over `table` with a client configured from the environment (region,
    /// credentials, `AWS_ENDPOINT_URL`), with bounded timeouts on every call.
    pub async fn from_env(table: &str) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(10))
            .operation_timeout(Duration::from_secs(30))
            .build();
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts)
            .load()
            .await;
        Self::new(Client::new(&config), table)
    }

    /// A store over `table` with a given client.
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_string(),
        }
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

    /// Every item a query matches, following pages to the end.
    async fn query_all<T: DeserializeOwned>(&self, q: Query) -> CoreResult<Vec<T>> {
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
            for raw in resp.items.unwrap_or_default() {
                out.push(decode(raw)?);
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
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
        let lock = items::encode(&items::phone_lock(contact))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(transact_put(&self.table, record, "attribute_not_exists(PK)", None)?)
            .transact_items(transact_put(&self.table, lock, "attribute_not_exists(PK)", None)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons = e.as_service_error().map(cancelled_by_condition).unwrap_or_default();
                match reasons.as_slice() {
                    [true, _] => Err(CoreError::AlreadyExists {
                        entity: "contact",
                        id: contact.id.clone(),
                    }),
                    [_, true] => Err(CoreError::AlreadyExists {
                        entity: "contact with phone",
                        id: contact.phone.masked(),
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
        if stored.phone.e164 != contact.phone.e164 {
            // The number moves: take the new one and free the old one in the same transaction.
            let lock = items::encode(&items::phone_lock(contact))?;
            request = request.transact_items(transact_put(&self.table, lock, "attribute_not_exists(PK)", None)?);
            let delete = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .key("PK", s(keys::phone_pk(&stored.phone.e164)))
                .key("SK", s(keys::PHONE_SK))
                .build()
                .map_err(|e| StoreError::Encode(e.to_string()))?;
            request = request.transact_items(TransactWriteItem::builder().delete(delete).build());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons = e.as_service_error().map(cancelled_by_condition).unwrap_or_default();
                match reasons.as_slice() {
                    [true, ..] => Err(stale("contact", &contact.id)),
                    [_, true, ..] => Err(CoreError::AlreadyExists {
                        entity: "contact with phone",
                        id: contact.phone.masked(),
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
