//! Session records, tallies, targets and report snapshots on SQLite.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_core::error::CoreResult;
use outreach_core::ids::SessionId;
use outreach_core::outcome::{SessionRecord, Tally, TallyDelta, TallyKey, YearTallies};
use outreach_core::ports::{OutcomeStore, SnapshotStore, TargetStore};
use outreach_core::quarter::Quarter;
use outreach_core::report::ReportSnapshot;
use outreach_core::target::TargetPlan;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, from_json, get_json, instant, is_unique_violation, stale, to_json};
use crate::StoreError;

/// Whether a tally write moves the stored value or replaces it.
#[derive(Clone, Copy)]
enum Write {
    Add,
    Set,
}

/// Upsert tallies inside the caller's transaction.
fn write_tallies<'a>(
    tx: &rusqlite::Connection,
    rows: impl Iterator<Item = (&'a TallyKey, i64)>,
    how: Write,
) -> Result<(), StoreError> {
    let sql = match how {
        Write::Add => {
            "INSERT INTO tallies (year, quarter, unit_code, metric, value) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (year, quarter, unit_code, metric) DO UPDATE SET value = value + excluded.value"
        }
        Write::Set => {
            "INSERT INTO tallies (year, quarter, unit_code, metric, value) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (year, quarter, unit_code, metric) DO UPDATE SET value = excluded.value"
        }
    };
    let mut stmt = tx.prepare_cached(sql)?;
    for (key, value) in rows {
        stmt.execute(params![
            key.quarter.year,
            key.quarter.quarter,
            key.unit_code.as_str(),
            key.metric,
            value
        ])?;
    }
    Ok(())
}

#[async_trait]
impl OutcomeStore for SqliteStore {
    async fn get_session_record(&self, session_id: &SessionId) -> CoreResult<Option<SessionRecord>> {
        let id = session_id.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM session_records WHERE session_id = ?", &id))
            .await
    }

    async fn save_session_record(&self, record: &SessionRecord, deltas: &[TallyDelta]) -> CoreResult<()> {
        let writing = TallyWrite::start(self);
        let record = record.clone();
        let deltas = deltas.to_vec();
        // The write's mark goes back with its answer: it ends once the group has committed
        // or been undone (or with the closure, when this call's savepoint was undone).
        let (written, _writing) = self
            .call(move |c| {
                // A savepoint: the record and its tallies land together or not at all.
                let tx = c.savepoint()?;
                let n = if record.version == 1 {
                    tx.execute(
                        "INSERT OR IGNORE INTO session_records (session_id, version, data) VALUES (?, 1, ?)",
                        params![record.session_id.as_str(), to_json(&record)?],
                    )?
                } else {
                    tx.execute(
                        "UPDATE session_records SET version = ?, data = ? WHERE session_id = ? AND version = ?",
                        params![
                            record.version as i64,
                            to_json(&record)?,
                            record.session_id.as_str(),
                            record.version as i64 - 1
                        ],
                    )?
                };
                if n != 1 {
                    return Ok((Err(stale("session record", &record.session_id)), writing));
                }
                write_tallies(&tx, deltas.iter().map(|d| (&d.key, d.delta)), Write::Add)?;
                tx.commit()?;
                Ok((Ok(()), writing))
            })
            .await?;
        written
    }

    async fn set_tallies(&self, tallies: &[Tally]) -> CoreResult<()> {
        let writing = TallyWrite::start(self);
        let tallies = tallies.to_vec();
        // As in `save_session_record`, the mark ends with the answer.
        self.call(move |c| {
            let tx = c.savepoint()?;
            write_tallies(&tx, tallies.iter().map(|t| (&t.key, t.value)), Write::Set)?;
            tx.commit()?;
            Ok(writing)
        })
        .await
        .map(drop)
    }

    async fn year_tallies(&self, through: Quarter) -> CoreResult<YearTallies> {
        let Quarter {
            year,
            quarter: through_quarter,
        } = through;
        let cache = Arc::clone(&self.year_tallies);
        let all = self
            .call(move |c| {
                let version: i64 = c.pragma_query_value(None, "data_version", |r| r.get(0))?;
                {
                    let mut kept = cache.lock().unwrap_or_else(|p| p.into_inner());
                    if kept.data_version != Some(version) {
                        kept.data_version = Some(version);
                        kept.by_year.clear();
                    }
                    if kept.writing == 0
                        && let Some(all) = kept.by_year.get(&year)
                    {
                        return Ok(Arc::clone(all));
                    }
                }
                let mut stmt = c.prepare_cached(
                    "SELECT quarter, unit_code, metric, value FROM tallies WHERE year = ?
                     ORDER BY quarter, unit_code, metric",
                )?;
                let rows = stmt.query_map(params![year], |r| {
                    Ok(Tally {
                        key: TallyKey {
                            quarter: Quarter {
                                year,
                                quarter: r.get(0)?,
                            },
                            unit_code: r.get::<_, String>(1)?.into(),
                            metric: r.get(2)?,
                        },
                        value: r.get(3)?,
                    })
                })?;
                let all = Arc::new(rows.collect::<Result<Vec<_>, _>>()?);
                let mut kept = cache.lock().unwrap_or_else(|p| p.into_inner());
                if kept.writing == 0 && kept.data_version == Some(version) {
                    kept.by_year.insert(year, Arc::clone(&all));
                }
                Ok(all)
            })
            .await?;
        // Ordered by quarter: those through the quarter come first.
        let through = all.partition_point(|t| t.key.quarter.quarter <= through_quarter);
        Ok(YearTallies::shared(all, through))
    }
}

/// A tally write under way, from before it is queued until it is answered (committed or
/// undone): the tallies read meanwhile are not kept, and those kept before are dropped.
struct TallyWrite(Arc<std::sync::Mutex<super::YearTallies>>);

impl TallyWrite {
    fn start(store: &SqliteStore) -> Self {
        let cache = Arc::clone(&store.year_tallies);
        {
            let mut kept = cache.lock().unwrap_or_else(|p| p.into_inner());
            kept.writing += 1;
            kept.by_year.clear();
        }
        Self(cache)
    }
}

impl Drop for TallyWrite {
    fn drop(&mut self) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.writing -= 1;
        kept.by_year.clear();
    }
}

#[async_trait]
impl TargetStore for SqliteStore {
    async fn put_targets(&self, targets: &[TargetPlan]) -> CoreResult<()> {
        let targets = targets.to_vec();
        self.call(move |c| {
            let tx = c.savepoint()?;
            {
                let mut put = tx.prepare_cached(
                    "INSERT INTO targets (year, org_code, metric, data) VALUES (?, ?, ?, ?)
                     ON CONFLICT (year, org_code, metric) DO UPDATE SET data = excluded.data",
                )?;
                for t in &targets {
                    put.execute(params![t.year, t.org_code, t.metric, to_json(t)?])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn year_targets(&self, year: i32) -> CoreResult<Vec<TargetPlan>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached("SELECT data FROM targets WHERE year = ? ORDER BY org_code, metric")?;
            let rows = stmt.query_map([year], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for data in rows {
                out.push(from_json(&data?)?);
            }
            Ok(out)
        })
        .await
    }
}

#[async_trait]
impl SnapshotStore for SqliteStore {
    async fn insert_snapshot(&self, snapshot: &ReportSnapshot) -> CoreResult<()> {
        let s = snapshot.clone();
        self.call(move |c| {
            let inserted = c.execute(
                "INSERT INTO report_snapshots (org_code, year, quarter, revision, created_at, data)
                 VALUES (?, ?, ?, ?, ?, ?)",
                params![
                    s.org_code,
                    s.year,
                    s.quarter,
                    s.revision,
                    instant(s.created_at),
                    to_json(&s)?
                ],
            );
            match inserted {
                Ok(_) => Ok(Ok(())),
                Err(e) if is_unique_violation(&e) => Ok(Err(outreach_core::CoreError::AlreadyExists {
                    entity: "report snapshot",
                    id: format!("{} {}-Q{} revision {}", s.org_code, s.year, s.quarter, s.revision),
                })),
                Err(e) => Err(StoreError::from(e)),
            }
        })
        .await?
    }

    async fn get_snapshot(
        &self,
        org_code: &str,
        Quarter { year, quarter }: Quarter,
        revision: Option<u32>,
    ) -> CoreResult<Option<ReportSnapshot>> {
        let org = org_code.to_string();
        self.call(move |c| {
            let data: Option<String> = c
                .query_row(
                    "SELECT data FROM report_snapshots WHERE org_code = ? AND year = ? AND quarter = ?
                     AND (?4 IS NULL OR revision = ?4) ORDER BY revision DESC LIMIT 1",
                    params![org, year, quarter, revision],
                    |r| r.get(0),
                )
                .optional()?;
            data.map(|d| from_json(&d)).transpose()
        })
        .await
    }

    async fn snapshot_revisions(
        &self,
        org_code: &str,
        Quarter { year, quarter }: Quarter,
    ) -> CoreResult<Vec<(u32, DateTime<Utc>)>> {
        let org = org_code.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT revision, created_at FROM report_snapshots WHERE org_code = ? AND year = ? AND quarter = ?
                 ORDER BY revision",
            )?;
            let rows = stmt.query_map(params![org, year, quarter], |r| {
                Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (rev, at) = row?;
                let at = DateTime::parse_from_rfc3339(&at)
                    .map_err(|e| StoreError::Decode(e.to_string()))?
                    .with_timezone(&Utc);
                out.push((rev, at));
            }
            Ok(out)
        })
        .await
    }
}
