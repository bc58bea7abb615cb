//! The request units a DynamoDB client spends, counted by an SDK interceptor on the operations
//! it really issues and priced the way DynamoDB bills them (moto's ConsumedCapacity figures
//! are placeholders):
//!
//! - a write: 1 unit per KB of the item, plus the same again for every index the item appears
//!   in; a transactional write (condition checks included) twice that; a write refused by its
//!   condition is billed all the same;
//! - a read: 1 unit per 4 KB (a query or scan: of all the items of the page, rounded up once),
//!   half that when eventually consistent; a read that finds nothing still costs the minimum.
//!
//! Puts carry their item, so they are priced as they are sent. Updates, deletes and condition
//! checks carry only a key: [`Meter::settle`] prices them from the items as they are once the
//! measured work is done (DynamoDB bills an update on the larger of the item before and after;
//! the items here only grow, so the final size is that). A deleted item is priced at 1 KB.
//! A query's filter hides the size of the items it dropped: they are counted at the average
//! size of the items returned.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::scan::{ScanInput, ScanOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use super::size::{item_size, put_cost, read_units, write_units};

type Item = HashMap<String, AttributeValue>;

/// A write billed on an item's size that only the table knows: an update, a delete or a
/// transaction's condition check.
#[derive(Debug, Clone)]
pub struct KeyedWrite {
    pub table: String,
    pub key: Item,
    pub transactional: bool,
    /// Whether the write reaches the item's indexes (a condition check writes nothing).
    pub writes_indexes: bool,
}

/// What the metered client spent since the meter was last taken.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Calls by operation name.
    pub calls: HashMap<&'static str, u64>,
    /// Write units of the writes priced as they were sent (puts).
    pub write_units: f64,
    pub read_units: f64,
    /// Writes [`Meter::settle`] prices.
    pub keyed_writes: Vec<KeyedWrite>,
}

impl Usage {
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// Counts what a client spends; attach with [`Meter::client`].
#[derive(Debug, Clone, Default)]
pub struct Meter {
    usage: Arc<Mutex<Usage>>,
}

#[derive(Debug, Clone, Copy)]
enum Read {
    None,
    Get { consistent: bool },
    Page { consistent: bool },
    BatchGet { consistent: bool },
}

/// What the interceptor learnt from a call's input, kept until its output arrives.
#[derive(Debug, Clone)]
struct Pending {
    operation: &'static str,
    write_units: f64,
    keyed: Vec<KeyedWrite>,
    read: Read,
}

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

impl Meter {
    /// A client like `client` whose calls this meter counts.
    pub fn client(&self, client: &Client) -> Client {
        let config = client.config().to_builder().interceptor(self.clone()).build();
        Client::from_conf(config)
    }

    /// What was spent since the last call, and start again from nothing.
    pub fn take(&self) -> Usage {
        std::mem::take(&mut *self.usage.lock().unwrap())
    }

    /// The write units of `usage`: its puts, and its keyed writes priced from the items as
    /// `client` (not metered) reads them now.
    pub async fn settle(client: &Client, usage: &Usage) -> Result<f64, aws_sdk_dynamodb::Error> {
        let mut sizes: HashMap<String, Option<Item>> = HashMap::new();
        let mut units = usage.write_units;
        for write in &usage.keyed_writes {
            let mut key: Vec<_> = write.key.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            key.sort();
            let id = format!("{}/{}", write.table, key.join(","));
            if !sizes.contains_key(&id) {
                let item = client
                    .get_item()
                    .table_name(&write.table)
                    .set_key(Some(write.key.clone()))
                    .consistent_read(true)
                    .send()
                    .await?
                    .item;
                sizes.insert(id.clone(), item);
            }
            let single = match &sizes[&id] {
                Some(item) if write.writes_indexes => put_cost(item),
                Some(item) => write_units(item_size(item)),
                None => 1,
            };
            units += (single * if write.transactional { 2 } else { 1 }) as f64;
        }
        Ok(units)
    }
}

fn keyed(table: &str, key: &Item, transactional: bool, writes_indexes: bool) -> KeyedWrite {
    KeyedWrite {
        table: table.to_string(),
        key: key.clone(),
        transactional,
        writes_indexes,
    }
}

/// What a call's input says of its cost.
fn pending(input: &aws_sdk_dynamodb::config::interceptors::InterceptorContext) -> Option<Pending> {
    let input = input.input()?;
    let mut p = Pending {
        operation: "other",
        write_units: 0.0,
        keyed: Vec::new(),
        read: Read::None,
    };
    if let Some(i) = input.downcast_ref::<PutItemInput>() {
        p.operation = "PutItem";
        p.write_units = i.item.as_ref().map_or(1, put_cost) as f64;
    } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
        p.operation = "UpdateItem";
        p.keyed
            .push(keyed(i.table_name.as_deref()?, i.key.as_ref()?, false, true));
    } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
        p.operation = "DeleteItem";
        p.keyed
            .push(keyed(i.table_name.as_deref()?, i.key.as_ref()?, false, true));
    } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
        p.operation = "TransactWriteItems";
        for item in i.transact_items.iter().flatten() {
            if let Some(put) = &item.put {
                p.write_units += (2 * put_cost(&put.item)) as f64;
            } else if let Some(u) = &item.update {
                p.keyed.push(keyed(&u.table_name, &u.key, true, true));
            } else if let Some(d) = &item.delete {
                p.keyed.push(keyed(&d.table_name, &d.key, true, true));
            } else if let Some(c) = &item.condition_check {
                p.keyed.push(keyed(&c.table_name, &c.key, true, false));
            }
        }
    } else if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
        p.operation = "BatchWriteItem";
        for (table, requests) in i.request_items.iter().flatten() {
            for r in requests {
                if let Some(put) = &r.put_request {
                    p.write_units += put_cost(&put.item) as f64;
                } else if let Some(d) = &r.delete_request {
                    p.keyed.push(keyed(table, &d.key, false, true));
                }
            }
        }
    } else if let Some(i) = input.downcast_ref::<GetItemInput>() {
        p.operation = "GetItem";
        p.read = Read::Get {
            consistent: i.consistent_read == Some(true),
        };
    } else if let Some(i) = input.downcast_ref::<QueryInput>() {
        p.operation = "Query";
        p.read = Read::Page {
            consistent: i.consistent_read == Some(true),
        };
    } else if let Some(i) = input.downcast_ref::<ScanInput>() {
        p.operation = "Scan";
        p.read = Read::Page {
            consistent: i.consistent_read == Some(true),
        };
    } else if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
        p.operation = "BatchGetItem";
        p.read = Read::BatchGet {
            consistent: i
                .request_items
                .iter()
                .flatten()
                .any(|(_, k)| k.consistent_read == Some(true)),
        };
    }
    Some(p)
}

fn factor(consistent: bool) -> f64 {
    if consistent { 1.0 } else { 0.5 }
}

/// The read units of a page of items, of which `scanned` were read to return `returned`.
fn page_units(items: &[Item], returned: i32, scanned: i32, consistent: bool) -> f64 {
    let bytes: usize = items.iter().map(item_size).sum();
    let read = if returned > 0 && scanned > returned {
        bytes * scanned as usize / returned as usize
    } else {
        bytes
    };
    read_units(read) * factor(consistent)
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "outreach request-unit meter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(p) = pending(context.inner()) {
            cfg.interceptor_state().store_put(p);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(p) = cfg.load::<Pending>().cloned() else {
            return Ok(());
        };
        let output = match context.output_or_error() {
            Some(Ok(output)) => Some(output),
            _ => None,
        };
        let read_units = match (p.read, output) {
            (Read::None, _) => 0.0,
            (Read::Get { consistent }, Some(o)) => {
                let size = o
                    .downcast_ref::<GetItemOutput>()
                    .and_then(|o| o.item.as_ref())
                    .map_or(0, item_size);
                read_units(size) * factor(consistent)
            }
            (Read::Page { consistent }, Some(o)) => {
                if let Some(q) = o.downcast_ref::<QueryOutput>() {
                    page_units(q.items(), q.count, q.scanned_count, consistent)
                } else if let Some(s) = o.downcast_ref::<ScanOutput>() {
                    page_units(s.items(), s.count, s.scanned_count, consistent)
                } else {
                    0.0
                }
            }
            (Read::BatchGet { consistent }, Some(o)) => o
                .downcast_ref::<BatchGetItemOutput>()
                .and_then(|o| o.responses.as_ref())
                .map_or(0.0, |tables| {
                    tables
                        .values()
                        .flatten()
                        .map(|item| read_units(item_size(item)) * factor(consistent))
                        .sum()
                }),
            // A read that failed: the minimum.
            (Read::Get { consistent } | Read::Page { consistent } | Read::BatchGet { consistent }, None) => {
                factor(consistent)
            }
        };
        let mut usage = self.usage.lock().unwrap();
        *usage.calls.entry(p.operation).or_default() += 1;
        usage.write_units += p.write_units;
        usage.read_units += read_units;
        usage.keyed_writes.extend(p.keyed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(bytes: usize) -> Item {
        HashMap::from([("PK".to_string(), AttributeValue::S("x".repeat(bytes - 2)))])
    }

    #[test]
    fn a_filtered_page_counts_what_it_read() {
        let items = vec![item(1024), item(1024)];
        // Two items of 1 KB returned: 2 KB, one 4 KB unit, half of it eventually consistent.
        assert_eq!(page_units(&items, 2, 2, false), 0.5);
        // Eight read to return two: 8 KB, two units.
        assert_eq!(page_units(&items, 2, 8, true), 2.0);
        // Nothing found still costs the minimum.
        assert_eq!(page_units(&[], 0, 0, true), 1.0);
    }
}
