//! `SqliteStore` as ReminderStore: reminder jobs, read by due time.

use super::*;

#[async_trait]
impl ReminderStore for SqliteStore {
    async fn insert_jobs_if_absent(&self, jobs: &[ReminderJob]) -> CoreResult<usize> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let jobs = jobs.to_vec();
        self.call(move |c| {
            let tx = c.savepoint()?;
            let mut created = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO reminder_jobs (id, session_id, status, due_at, version, data)
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?;
                for j in &jobs {
                    created += stmt.execute(params![
                        j.id.as_str(),
                        j.session_id.as_str(),
                        j.status.as_str(),
                        instant(j.due_at),
                        j.version as i64,
                        to_json(j)?
                    ])?;
                }
            }
            tx.commit()?;
            Ok(created)
        })
        .await
    }

    async fn get_job(&self, id: &JobId) -> CoreResult<Option<ReminderJob>> {
        let id = id.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM reminder_jobs WHERE id = ?", &id))
            .await
    }

    async fn update_job(&self, job: &ReminderJob) -> CoreResult<()> {
        let job = job.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE reminder_jobs SET status = ?, due_at = ?, version = ?, data = ? WHERE id = ? AND version = ?",
                params![
                    job.status.as_str(),
                    instant(job.due_at),
                    job.version as i64,
                    to_json(&job)?,
                    job.id.as_str(),
                    job.version as i64 - 1
                ],
            )?;
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(stale("reminder job", &job.id))
            })
        })
        .await?
    }

    async fn due_jobs(&self, since: DateTime<Utc>, now: DateTime<Utc>, limit: u32) -> CoreResult<Vec<ReminderJob>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT data FROM reminder_jobs WHERE status = ? AND due_at >= ? AND due_at <= ?
                 ORDER BY due_at, id LIMIT ?",
            )?;
            let rows = stmt.query_map(
                params![
                    JobStatus::Pending.as_str(),
                    instant(since),
                    instant(now),
                    i64::from(limit)
                ],
                |r| r.get::<_, String>(0),
            )?;
            rows.map(|r| from_json(&r?)).collect()
        })
        .await
    }

    async fn session_jobs(&self, session_id: &SessionId) -> CoreResult<Vec<ReminderJob>> {
        let id = session_id.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare_cached("SELECT data FROM reminder_jobs WHERE session_id = ? ORDER BY id")?;
            let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
            rows.map(|r| from_json(&r?)).collect()
        })
        .await
    }
}
