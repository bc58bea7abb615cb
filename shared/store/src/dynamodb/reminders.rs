//! `DynamoStore` as ReminderStore: reminder jobs and the due-time index the dispatcher reads.

use super::*;

#[async_trait]
impl ReminderStore for DynamoStore {
    async fn insert_jobs_if_absent(&self, jobs: &[ReminderJob]) -> CoreResult<usize> {
        let raws = jobs
            .iter()
            .map(|j| items::encode(&items::job(j)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.put_all_new(raws).await?)
    }

    async fn get_job(&self, id: &JobId) -> CoreResult<Option<ReminderJob>> {
        self.get(keys::job_pk(id), keys::JOB_SK).await
    }

    async fn update_job(&self, job: &ReminderJob) -> CoreResult<()> {
        let raw = items::encode(&items::job(job))?;
        self.update_versioned(raw, job.version, "reminder job", &job.id).await
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
                let q = Query::on(Some(table::GSI1), bucket)
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

    async fn session_jobs(&self, session_id: &SessionId) -> CoreResult<Vec<ReminderJob>> {
        self.query_all(Query::on(Some(table::GSI2), keys::session_jobs(session_id)))
            .await
    }
}
