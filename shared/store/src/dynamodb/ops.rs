//! The generic operations every port is written with: get, put-if-absent, versioned put,
//! paged queries, batched and transactional writes.

use super::*;

/// Conditional puts in flight at once (materialising sessions and reminder jobs).
const PARALLEL_PUTS: usize = 16;

impl DynamoStore {
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

    /// Read items by key (`PK`, `SK`) with strongly consistent BatchGetItem calls of at most
    /// 100 keys, retrying unprocessed keys with exponential backoff. Missing items are left
    /// out; the keys must differ (DynamoDB refuses a call that repeats one).
    pub(super) async fn batch_get(&self, keys: Vec<(String, String)>) -> Result<Vec<RawItem>, StoreError> {
        let found = std::sync::Mutex::new(Vec::new());
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            let keys: Vec<RawItem> = chunk
                .iter()
                .map(|(pk, sk)| HashMap::from([("PK".to_string(), s(pk)), ("SK".to_string(), s(sk))]))
                .collect();
            let found = &found;
            retry_unprocessed(keys, BATCH_RETRIES, |batch| async move {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(batch))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Encode(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(self.table.clone(), request)
                    .send()
                    .await
                    .map_err(sdk)?;
                let items = out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default();
                found.lock().unwrap_or_else(|e| e.into_inner()).extend(items);
                Ok(out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default())
            })
            .await?;
        }
        Ok(found.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    pub(super) async fn get_raw(&self, pk: String, sk: &str) -> Result<Option<RawItem>, StoreError> {
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

    pub(super) async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> CoreResult<Option<T>> {
        Ok(self.get_raw(pk, sk).await?.map(decode).transpose()?)
    }

    /// Put an item if `condition` holds (with `values` for its placeholders); false when it
    /// did not: the one conditional put behind `put_new` and `put_versioned`.
    pub(super) async fn put_if(
        &self,
        raw: RawItem,
        condition: &str,
        values: Option<HashMap<String, AttributeValue>>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(raw))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
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

    /// Put an item if its key is free; false when it was taken.
    pub(super) async fn put_new(&self, raw: RawItem) -> Result<bool, StoreError> {
        self.put_if(raw, "attribute_not_exists(PK)", None).await
    }

    /// Put items whose keys are free, several in flight; returns how many were new (a
    /// taken key is "already there", not an error).
    pub(super) async fn put_all_new(&self, raws: Vec<RawItem>) -> Result<usize, StoreError> {
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
    pub(super) async fn put_versioned(&self, raw: RawItem, version: u64) -> Result<bool, StoreError> {
        let prev = HashMap::from([(":prev".to_string(), n(version.saturating_sub(1)))]);
        self.put_if(raw, "version = :prev", Some(prev)).await
    }

    /// Replace `entity` `id` stored at `version - 1` by `raw`, or say it was changed by
    /// someone else (or does not exist): the versioned update of every aggregate.
    pub(super) async fn update_versioned(
        &self,
        raw: RawItem,
        version: u64,
        entity: &str,
        id: impl AsRef<str>,
    ) -> CoreResult<()> {
        if self.put_versioned(raw, version).await? {
            Ok(())
        } else {
            Err(stale(entity, id.as_ref()))
        }
    }

    /// Every raw item a query matches, following pages to the end.
    pub(super) async fn query_raw(&self, q: Query) -> Result<Vec<RawItem>, StoreError> {
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
    pub(super) async fn query_all<T: DeserializeOwned>(&self, q: Query) -> CoreResult<Vec<T>> {
        let raws = self.query_raw(q).await?;
        Ok(raws.into_iter().map(decode).collect::<Result<Vec<T>, _>>()?)
    }

    /// One page of a query: follows DynamoDB's own pages (1 MB, filters) until `limit`
    /// items are found, and gives a cursor only when more items exist.
    pub(super) async fn query_page<T: DeserializeOwned>(&self, q: Query, page: &PageRequest) -> CoreResult<Page<T>> {
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

/// Send `requests` (writes of a BatchWriteItem, keys of a BatchGetItem) through `send` until
/// none is left unprocessed, backing off exponentially (25 ms, 50 ms, …); fails after
/// `retries` rounds with requests still pending.
pub async fn retry_unprocessed<T, F, Fut>(mut requests: Vec<T>, retries: u32, mut send: F) -> Result<(), StoreError>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, StoreError>>,
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

pub(super) fn cancelled_by_condition(
    e: &aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
) -> Vec<bool> {
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

/// A fresh `ClientRequestToken` for one `TransactWriteItems` call: the SDK sends the same
/// token on each of its retries, and DynamoDB answers a retry of a transaction that had
/// already committed (within 10 minutes) with success instead of running it again.
pub(super) fn request_token() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(super) fn transact_put(
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

pub(super) fn plain_put(table: &str, raw: RawItem) -> Result<Put, StoreError> {
    Put::builder()
        .table_name(table)
        .set_item(Some(raw))
        .build()
        .map_err(|e| StoreError::Encode(e.to_string()))
}

pub(super) fn stale(entity: &str, id: impl AsRef<str>) -> CoreError {
    let id = id.as_ref();
    CoreError::Conflict(format!(
        "{entity} {id} was changed by someone else (or does not exist); reload and retry"
    ))
}
