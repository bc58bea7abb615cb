//! The table definition, written once: key schema, indexes and TTL attribute. Tests create
//! their tables from it, `outreach store init` creates the real one, and the SAM template
//! is checked against it.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use crate::StoreError;

/// A global secondary index: its name and its key attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: &'static str,
    pub partition_key: &'static str,
    pub sort_key: &'static str,
}

/// The whole table's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    pub partition_key: &'static str,
    pub sort_key: &'static str,
    pub indexes: &'static [IndexDefinition],
    /// Items with this attribute (epoch seconds) expire.
    pub ttl_attribute: &'static str,
}

/// The first index: parent unit, commune, campaign, status and due-time partitions.
pub const GSI1: &str = "GSI1";
/// The second index: level, commune and role, a commune's sessions, a contact's deliveries.
pub const GSI2: &str = "GSI2";
/// The third index: every item of one entity type.
pub const GSI3: &str = "GSI3";

/// The outreach table.
pub const TABLE: TableDefinition = TableDefinition {
    partition_key: "PK",
    sort_key: "SK",
    indexes: &[
        IndexDefinition {
            name: GSI1,
            partition_key: "GSI1PK",
            sort_key: "GSI1SK",
        },
        IndexDefinition {
            name: GSI2,
            partition_key: "GSI2PK",
            sort_key: "GSI2SK",
        },
        IndexDefinition {
            name: GSI3,
            partition_key: "GSI3PK",
            sort_key: "GSI3SK",
        },
    ],
    ttl_attribute: "expires_at",
};

impl TableDefinition {
    /// Every key attribute (all strings).
    pub fn key_attributes(&self) -> Vec<&'static str> {
        let mut out = vec![self.partition_key, self.sort_key];
        for i in self.indexes {
            out.push(i.partition_key);
            out.push(i.sort_key);
        }
        out
    }
}

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Dynamo(e.to_string().into()))
}

/// Create the table (on-demand billing) and turn on TTL. An existing table is left alone.
pub async fn create_table(client: &Client, name: &str) -> Result<bool, StoreError> {
    let key =
        |attr: &str, kind: KeyType| build(KeySchemaElement::builder().attribute_name(attr).key_type(kind).build());
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(TABLE.partition_key, KeyType::Hash)?)
        .key_schema(key(TABLE.sort_key, KeyType::Range)?);
    for attr in TABLE.key_attributes() {
        request = request.attribute_definitions(build(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::S)
                .build(),
        )?);
    }
    for index in TABLE.indexes {
        request = request.global_secondary_indexes(build(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.partition_key, KeyType::Hash)?)
                .key_schema(key(index.sort_key, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build(),
        )?);
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(false),
        Err(e) => return Err(StoreError::Dynamo(Box::new(e.into_service_error()))),
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(build(
            TimeToLiveSpecification::builder()
                .attribute_name(TABLE.ttl_attribute)
                .enabled(true)
                .build(),
        )?)
        .send()
        .await
        .map_err(|e| StoreError::Dynamo(Box::new(e.into_service_error())))?;
    Ok(true)
}
