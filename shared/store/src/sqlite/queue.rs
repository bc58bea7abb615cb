//! `SqliteStore` as the local delivery queue: the dispatcher's tasks kept in the database
//! file until the sender has done them, with SQS's receive, visibility timeout and delete,
//! so that a process killed between the two loses nothing.

use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use outreach_core::notify::{DeliveryTask, Queue};

use super::*;

/// Milliseconds since the epoch by the wall clock: visibility is the transport's own time,
/// as on SQS, whatever instant a job runs at (`--now`).
fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[async_trait]
impl Queue for SqliteStore {
    async fn enqueue(&self, tasks: &[DeliveryTask]) -> CoreResult<()> {
        let rows = tasks.iter().map(to_json).collect::<Result<Vec<String>, StoreError>>()?;
        self.call(move |c| {
            let now = wall_ms();
            let mut insert = c.prepare_cached("INSERT INTO delivery_queue (task, visible_at) VALUES (?, ?)")?;
            for row in &rows {
                insert.execute(params![row, now])?;
            }
            Ok(())
        })
        .await
    }
}

impl SqliteStore {
    /// Up to `max` tasks whose visibility has passed, oldest first, each hidden from other
    /// receivers for `visibility`; the receipt is the row's id.
    pub async fn receive_tasks(&self, max: usize, visibility: StdDuration) -> CoreResult<Vec<(String, DeliveryTask)>> {
        let hide = i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX);
        self.call(move |c| {
            let now = wall_ms();
            let rows: Vec<(i64, String)> = c
                .prepare_cached(
                    "SELECT id, task FROM delivery_queue WHERE visible_at <= ? ORDER BY visible_at, id LIMIT ?",
                )?
                .query_map(params![now, max as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut hidden =
                c.prepare_cached("UPDATE delivery_queue SET visible_at = ?, receives = receives + 1 WHERE id = ?")?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, task) in rows {
                hidden.execute(params![now.saturating_add(hide), id])?;
                out.push((id.to_string(), from_json(&task)?));
            }
            Ok(out)
        })
        .await
    }

    /// Delete the tasks received with these receipts: they are done.
    pub async fn delete_tasks(&self, receipts: &[String]) -> CoreResult<()> {
        let ids: Vec<i64> = receipts.iter().filter_map(|r| r.parse().ok()).collect();
        self.call(move |c| {
            let mut delete = c.prepare_cached("DELETE FROM delivery_queue WHERE id = ?")?;
            for id in ids {
                delete.execute([id])?;
            }
            Ok(())
        })
        .await
    }

    /// Tasks in the queue, received or not.
    pub async fn waiting_tasks(&self) -> CoreResult<usize> {
        self.call(|c| Ok(c.query_row("SELECT COUNT(*) FROM delivery_queue", [], |r| r.get::<_, i64>(0))? as usize))
            .await
    }
}
