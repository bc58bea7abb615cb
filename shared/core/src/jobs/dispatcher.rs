//! The dispatcher job: take the reminder jobs due now, resolve each one's audience at this
//! moment (late registrations are included; opt-outs are left to the send policy), and
//! enqueue one delivery per person and channel. A large audience is dispatched a page at
//! a time with a cursor kept on the job, so a run that stops is continued by the next.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tracing::instrument;

use crate::campaign::{Audience, Campaign, CampaignStatus};
use crate::contact::ContactRole;
use crate::error::{CoreError, CoreResult};
use crate::ids::{CampaignId, ContactId};
use crate::notify::{DeliveryTask, Queue};
use crate::ports::{ContactFilter, PageRequest, Store};
use crate::reminder::{JobStatus, ReminderJob, delivery_channels};
use crate::session::SessionStatus;

/// Limits of one dispatcher run.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    /// Contacts read per page of an audience.
    pub page_size: u32,
    /// Deliveries one run enqueues at most; the rest waits for the next run.
    pub max_per_run: u64,
    /// How far back due jobs are still picked up (a dispatcher that was down catches up).
    pub lookback: Duration,
    /// Jobs one run looks at.
    pub max_jobs: u32,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            page_size: 500,
            max_per_run: 200_000,
            lookback: Duration::hours(6),
            max_jobs: 1000,
        }
    }
}

/// What one dispatcher run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    pub jobs: usize,
    pub completed: usize,
    pub cancelled: usize,
    /// Jobs left part-way (budget reached, or another dispatcher holds them).
    pub unfinished: usize,
    pub enqueued: u64,
}

/// Dispatch the jobs due at `now`.
#[instrument(skip_all, fields(%now))]
pub async fn run_dispatcher<S: Store + ?Sized>(
    store: &S,
    queue: &dyn Queue,
    now: DateTime<Utc>,
    settings: DispatchSettings,
) -> CoreResult<DispatchReport> {
    let mut report = DispatchReport::default();
    let mut campaigns: HashMap<CampaignId, Option<Campaign>> = HashMap::new();
    let jobs = store.due_jobs(now - settings.lookback, now, settings.max_jobs).await?;
    for job in jobs {
        report.jobs += 1;
        let campaign = match campaigns.get(&job.campaign_id) {
            Some(c) => c.clone(),
            None => {
                let c = store.get_campaign(&job.campaign_id).await?;
                campaigns.insert(job.campaign_id.clone(), c.clone());
                c
            }
        };
        let budget = settings.max_per_run.saturating_sub(report.enqueued);
        match dispatch_job(store, queue, job, campaign.as_ref(), now, settings.page_size, budget).await? {
            JobEnd::Done(n) => {
                report.completed += 1;
                report.enqueued += n;
            }
            JobEnd::Unfinished(n) => {
                report.unfinished += 1;
                report.enqueued += n;
            }
            JobEnd::Cancelled => report.cancelled += 1,
            JobEnd::Waiting => {}
        }
    }
    tracing::info!(
        jobs = report.jobs,
        enqueued = report.enqueued,
        completed = report.completed,
        unfinished = report.unfinished,
        "dispatcher run done"
    );
    Ok(report)
}

enum JobEnd {
    Done(u64),
    Unfinished(u64),
    Cancelled,
    /// Paused campaign or a session being re-planned: the job stays as it is.
    Waiting,
}

/// Where in its audience a job's dispatch stands: `None` = not started; `c:<cursor>` =
/// citizens from that page on.
fn citizens_cursor(cursor: &Option<String>) -> Option<String> {
    cursor.as_deref().and_then(|c| c.strip_prefix("c:")).map(str::to_string)
}

async fn dispatch_job<S: Store + ?Sized>(
    store: &S,
    queue: &dyn Queue,
    mut job: ReminderJob,
    campaign: Option<&Campaign>,
    now: DateTime<Utc>,
    page_size: u32,
    budget: u64,
) -> CoreResult<JobEnd> {
    let session = store.get_session(&job.session_id).await?;
    let over = match (&session, campaign) {
        (Some(s), Some(c)) => {
            s.status == SessionStatus::Cancelled
                || now >= s.starts_at
                || matches!(c.status, CampaignStatus::Cancelled | CampaignStatus::Completed)
        }
        _ => true,
    };
    if over {
        // Never sent late: a reminder whose session is gone, cancelled or started is dropped.
        job.status = JobStatus::Cancelled;
        job.updated_at = now;
        job.version += 1;
        return match store.update_job(&job).await {
            Ok(()) | Err(CoreError::Conflict(_)) => Ok(JobEnd::Cancelled),
            Err(e) => Err(e),
        };
    }
    let (Some(session), Some(campaign)) = (session, campaign) else {
        return Ok(JobEnd::Waiting);
    };
    if session.starts_at != job.session_starts_at || campaign.status != CampaignStatus::Active {
        return Ok(JobEnd::Waiting);
    }

    let mut enqueued = 0u64;
    loop {
        if enqueued >= budget {
            return Ok(JobEnd::Unfinished(enqueued));
        }
        let mut contact_ids: Vec<ContactId> = Vec::new();
        let starting = job.cursor.is_none();
        if starting && matches!(job.audience, Audience::Volunteers | Audience::All) {
            contact_ids.extend(session.staff.iter().cloned());
        }
        let next = if matches!(job.audience, Audience::Citizens | Audience::All) {
            let filter = ContactFilter {
                commune: Some(job.commune_code.clone()),
                role: Some(ContactRole::Citizen),
            };
            let page = store
                .list_contacts(
                    &filter,
                    &PageRequest {
                        limit: page_size,
                        cursor: citizens_cursor(&job.cursor),
                    },
                )
                .await?;
            contact_ids.extend(page.items.into_iter().map(|c| c.id));
            page.next_cursor
        } else {
            None
        };
        let channels = delivery_channels(&job.channels);
        let tasks: Vec<DeliveryTask> = contact_ids
            .iter()
            .flat_map(|contact_id| {
                channels.iter().map(|channel| DeliveryTask {
                    job_id: job.id.clone(),
                    campaign_id: job.campaign_id.clone(),
                    session_id: job.session_id.clone(),
                    rule_id: job.rule_id.clone(),
                    contact_id: contact_id.clone(),
                    channel: *channel,
                })
            })
            .collect();
        // Enqueue before moving the cursor: a crash in between re-enqueues this page, and
        // the sender's claim turns the duplicates into nothing.
        for chunk in tasks.chunks(1000) {
            queue.enqueue(chunk).await?;
        }
        crate::testing::pause_at(crate::testing::Pause::Dispatched);
        enqueued += tasks.len() as u64;
        job.enqueued += tasks.len() as u64;
        job.cursor = next.as_ref().map(|c| format!("c:{c}"));
        if next.is_none() {
            job.status = JobStatus::Done;
        }
        job.updated_at = now;
        job.version += 1;
        match store.update_job(&job).await {
            Ok(()) => {}
            // Another dispatcher moved this job on; it carries on from its own cursor.
            Err(CoreError::Conflict(_)) => return Ok(JobEnd::Unfinished(enqueued)),
            Err(e) => return Err(e),
        }
        if job.status == JobStatus::Done {
            tracing::debug!(job_id = %job.id, enqueued = job.enqueued, "job dispatched");
            return Ok(JobEnd::Done(enqueued));
        }
    }
}
