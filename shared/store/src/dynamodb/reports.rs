//! Session records, tallies, targets and report snapshots on DynamoDB.

use std::collections::HashMap;
use std::io::{Read, Write};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use outreach_core::audit::AuditEntry;
use outreach_core::error::{CoreError, CoreResult};
use outreach_core::ids::SessionId;
use outreach_core::outcome::{SessionRecord, Tally, TallyDelta, TallyKey, YearTallies};
use outreach_core::ports::{AuditStore, OutcomeStore, Page, PageRequest, SnapshotStore, TargetStore};
use outreach_core::quarter::Quarter;
use outreach_core::report::ReportSnapshot;
use outreach_core::target::TargetPlan;

use super::size::{MAX_ITEM_BYTES, item_size};
use super::{DynamoStore, Item, Query, RawItem, keys, n, request_token, s, sdk, stale, transact_put};
use crate::StoreError;

/// Most writes one TransactWriteItems may carry.
const TRANSACTION_LIMIT: usize = 100;

/// How a write moves a tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TallyWrite {
    /// By a record's difference.
    Add,
    /// To a value (official statistics, a rebuild).
    Set,
}

fn tally_update(table: &str, key: &TallyKey, value: i64, write: TallyWrite) -> Result<TransactWriteItem, StoreError> {
    let expression = match write {
        TallyWrite::Add => "SET entity_type = :e ADD #v :v",
        TallyWrite::Set => "SET entity_type = :e, #v = :v",
    };
    let update = Update::builder()
        .table_name(table)
        .key("PK", s(keys::tallies_pk(key.quarter.year)))
        .key(
            "SK",
            s(keys::tally_sk(key.quarter.quarter, &key.unit_code, &key.metric)),
        )
        .update_expression(expression)
        .expression_attribute_names("#v", "value")
        .expression_attribute_values(":e", s("tally"))
        .expression_attribute_values(":v", AttributeValue::N(value.to_string()))
        .build()
        .map_err(|e| StoreError::Encode(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

fn tally_of(year: i32, raw: &RawItem) -> Result<Tally, StoreError> {
    let bad = || StoreError::Decode("a tally item without its sort key or value".into());
    let sk = match raw.get("SK") {
        Some(AttributeValue::S(sk)) => sk,
        _ => return Err(bad()),
    };
    let mut parts = sk.splitn(3, '#');
    let (Some(q), Some(unit), Some(metric)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let value = match raw.get("value") {
        Some(AttributeValue::N(v)) => v.parse::<i64>().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    Ok(Tally {
        key: TallyKey {
            unit_code: unit.into(),
            quarter: Quarter {
                year,
                quarter: q.parse().map_err(|_| bad())?,
            },
            metric: metric.to_string(),
        },
        value,
    })
}

impl DynamoStore {
    /// Run transactions of at most 100 writes each; `Conflict` when a condition failed or
    /// a concurrent transaction touched the same items.
    pub(super) async fn transact(
        &self,
        writes: Vec<TransactWriteItem>,
        entity: &str,
        id: impl AsRef<str>,
    ) -> CoreResult<()> {
        for chunk in writes.chunks(TRANSACTION_LIMIT) {
            let result = self
                .client
                .transact_write_items()
                .client_request_token(request_token())
                .set_transact_items(Some(chunk.to_vec()))
                .send()
                .await;
            if let Err(e) = result {
                let conflict = match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => c
                        .cancellation_reasons()
                        .iter()
                        .any(|r| matches!(r.code(), Some("ConditionalCheckFailed" | "TransactionConflict"))),
                    Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionInProgressException(_)) => true,
                    _ => false,
                };
                return Err(if conflict {
                    stale(entity, id.as_ref())
                } else {
                    sdk(e).into()
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl OutcomeStore for DynamoStore {
    async fn get_session_record(&self, session_id: &SessionId) -> CoreResult<Option<SessionRecord>> {
        self.get(keys::session_pk(session_id), keys::SESSION_RECORD_SK).await
    }

    async fn save_session_record(&self, record: &SessionRecord, deltas: &[TallyDelta]) -> CoreResult<()> {
        if deltas.len() + 1 > TRANSACTION_LIMIT {
            return Err(CoreError::invalid(
                "metrics",
                format!(
                    "a correction may move at most {} tallies at once",
                    TRANSACTION_LIMIT - 1
                ),
            ));
        }
        let item = Item::new(
            keys::session_pk(&record.session_id),
            keys::SESSION_RECORD_SK,
            "session_record",
            record.version,
            record,
        );
        let raw = super::items::encode(&item)?;
        let put = if record.version == 1 {
            transact_put(&self.table, raw, "attribute_not_exists(PK)", None)?
        } else {
            let prev = HashMap::from([(":prev".to_string(), n(record.version - 1))]);
            transact_put(&self.table, raw, "version = :prev", Some(prev))?
        };
        let mut writes = vec![put];
        for d in deltas {
            writes.push(tally_update(&self.table, &d.key, d.delta, TallyWrite::Add)?);
        }
        self.transact(writes, "session record", &record.session_id).await
    }

    async fn set_tallies(&self, tallies: &[Tally]) -> CoreResult<()> {
        let writes = tallies
            .iter()
            .map(|t| tally_update(&self.table, &t.key, t.value, TallyWrite::Set))
            .collect::<Result<Vec<_>, _>>()?;
        self.transact(writes, "tallies", "official statistics").await
    }

    async fn year_tallies(&self, through: Quarter) -> CoreResult<YearTallies> {
        let Quarter {
            year,
            quarter: through_quarter,
        } = through;
        let q = Query::on(None, keys::tallies_pk(year)).sort_range(None, Some(keys::tallies_after(through_quarter)));
        self.query_raw(q)
            .await?
            .iter()
            .map(|raw| tally_of(year, raw).map_err(CoreError::from))
            .collect::<CoreResult<Vec<_>>>()
            .map(YearTallies::from)
    }
}

#[async_trait]
impl TargetStore for DynamoStore {
    async fn put_targets(&self, targets: &[TargetPlan]) -> CoreResult<()> {
        let writes = targets
            .iter()
            .map(|t| {
                let item = Item::new(
                    keys::targets_pk(t.year),
                    keys::target_sk(&t.org_code, &t.metric),
                    "target",
                    1,
                    t,
                );
                Ok(TransactWriteItem::builder()
                    .put(super::plain_put(&self.table, super::items::encode(&item)?)?)
                    .build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.transact(writes, "targets", "").await
    }

    async fn year_targets(&self, year: i32) -> CoreResult<Vec<TargetPlan>> {
        self.query_all(Query::on(None, keys::targets_pk(year))).await
    }
}

/// A snapshot as stored: its report compressed (a province report is a few hundred KB of
/// JSON, over DynamoDB's item limit, and a few tens of KB gzipped).
fn encode_snapshot(snapshot: &ReportSnapshot) -> Result<RawItem, StoreError> {
    let json = serde_json::to_vec(&snapshot.report)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).map_err(|e| StoreError::Encode(e.to_string()))?;
    let compressed = gz.finish().map_err(|e| StoreError::Encode(e.to_string()))?;
    let raw: RawItem = HashMap::from([
        (
            "PK".into(),
            s(keys::snapshots_pk(&snapshot.org_code, snapshot.year, snapshot.quarter)),
        ),
        ("SK".into(), s(keys::snapshot_sk(snapshot.revision))),
        ("entity_type".into(), s("report_snapshot")),
        ("version".into(), n(1)),
        ("org_code".into(), s(snapshot.org_code.clone())),
        ("year".into(), AttributeValue::N(snapshot.year.to_string())),
        ("quarter".into(), n(u64::from(snapshot.quarter))),
        ("revision".into(), n(u64::from(snapshot.revision))),
        ("created_at".into(), s(keys::instant(snapshot.created_at))),
        ("trigger".into(), s(snapshot.trigger.clone())),
        ("report_gz".into(), AttributeValue::B(compressed.into())),
    ]);
    let bytes = item_size(&raw);
    if bytes > MAX_ITEM_BYTES {
        return Err(StoreError::ItemTooLarge {
            entity: "report_snapshot".into(),
            bytes,
        });
    }
    Ok(raw)
}

fn decode_snapshot(raw: &RawItem) -> Result<ReportSnapshot, StoreError> {
    let bad = |what: &str| StoreError::Decode(format!("report snapshot without {what}"));
    let text = |k: &str| match raw.get(k) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(bad(k)),
    };
    let number = |k: &str| match raw.get(k) {
        Some(AttributeValue::N(v)) => v.parse::<i64>().map_err(|_| bad(k)),
        _ => Err(bad(k)),
    };
    let compressed = match raw.get("report_gz") {
        Some(AttributeValue::B(b)) => b.as_ref().to_vec(),
        _ => return Err(bad("report_gz")),
    };
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_end(&mut json)
        .map_err(|e| StoreError::Decode(e.to_string()))?;
    Ok(ReportSnapshot {
        org_code: text("org_code")?,
        year: number("year")? as i32,
        quarter: number("quarter")? as u8,
        revision: number("revision")? as u32,
        created_at: parse_instant(&text("created_at")?)?,
        trigger: text("trigger")?,
        report: serde_json::from_slice(&json)?,
    })
}

fn parse_instant(v: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Decode(e.to_string()))
}

#[async_trait]
impl SnapshotStore for DynamoStore {
    async fn insert_snapshot(&self, snapshot: &ReportSnapshot) -> CoreResult<()> {
        if self.put_new(encode_snapshot(snapshot)?).await? {
            Ok(())
        } else {
            Err(CoreError::AlreadyExists {
                entity: "report snapshot",
                id: format!(
                    "{} {}-Q{} revision {}",
                    snapshot.org_code, snapshot.year, snapshot.quarter, snapshot.revision
                ),
            })
        }
    }

    async fn get_snapshot(
        &self,
        org_code: &str,
        Quarter { year, quarter }: Quarter,
        revision: Option<u32>,
    ) -> CoreResult<Option<ReportSnapshot>> {
        let pk = keys::snapshots_pk(org_code, year, quarter);
        let raw = match revision {
            Some(r) => self.get_raw(pk, &keys::snapshot_sk(r)).await?,
            None => {
                let resp = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("PK = :pk")
                    .expression_attribute_values(":pk", s(pk))
                    .scan_index_forward(false)
                    .limit(1)
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(sdk)?;
                resp.items.unwrap_or_default().into_iter().next()
            }
        };
        Ok(raw.as_ref().map(decode_snapshot).transpose()?)
    }

    async fn snapshot_revisions(
        &self,
        org_code: &str,
        Quarter { year, quarter }: Quarter,
    ) -> CoreResult<Vec<(u32, DateTime<Utc>)>> {
        let mut out = Vec::new();
        let mut start: Option<RawItem> = None;
        loop {
            // Only the revision and its time: never the reports themselves.
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(keys::snapshots_pk(org_code, year, quarter)))
                .projection_expression("revision, created_at")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for raw in resp.items.unwrap_or_default() {
                let revision = match raw.get("revision") {
                    Some(AttributeValue::N(v)) => v.parse::<u32>().map_err(|e| StoreError::Decode(e.to_string()))?,
                    _ => return Err(StoreError::Decode("report snapshot without revision".into()).into()),
                };
                let at = match raw.get("created_at") {
                    Some(AttributeValue::S(v)) => parse_instant(v)?,
                    _ => return Err(StoreError::Decode("report snapshot without created_at".into()).into()),
                };
                out.push((revision, at));
            }
            match resp.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl AuditStore for DynamoStore {
    async fn append_audit(&self, entry: &AuditEntry) -> CoreResult<()> {
        let item = Item::new(keys::audit_pk(entry.year()), entry.id.clone(), "audit", 1, entry);
        if self.put_new(super::items::encode(&item)?).await? {
            Ok(())
        } else {
            Err(CoreError::AlreadyExists {
                entity: "audit entry",
                id: entry.id.clone(),
            })
        }
    }

    async fn list_audit(&self, year: i32, page: &PageRequest) -> CoreResult<Page<AuditEntry>> {
        self.query_page(Query::on(None, keys::audit_pk(year)), page).await
    }
}
