use chrono::{DateTime, Utc};
use tracing::instrument;

use crate::campaign::{Campaign, CampaignAction, CampaignInput, CampaignStatus, TemplateBounds};
use crate::error::{CoreError, CoreResult};
use crate::org::version_on;
use crate::ports::{CampaignStore, OrgUnitStore, PageRequest, SessionFilter, Store};
use crate::session::SessionStatus;
use crate::usecases::{expand_to_communes, new_id, retry_on_conflict};

/// Create a campaign as a draft; its target units expand to the communes valid on the
/// period's first day.
#[instrument(skip_all)]
pub async fn create_campaign<S: CampaignStore + OrgUnitStore + ?Sized>(
    store: &S,
    input: CampaignInput,
    now: DateTime<Utc>,
) -> CoreResult<Campaign> {
    let start = input.period.start;
    let communes = expand_to_communes(store, &input.target_units, start, "target_units").await?;
    let campaign = input.into_campaign(new_id("cmp"), communes, now)?;
    let mut bounds = TemplateBounds::default();
    for code in &campaign.communes {
        if let Some(unit) = version_on(&store.org_unit_versions(code).await?, Some(start))
            && unit.name.chars().count() > bounds.commune.chars().count()
        {
            bounds.commune = unit.name.clone();
        }
    }
    campaign.check_sms_segments(&bounds)?;
    store.insert_campaign(&campaign).await?;
    tracing::info!(campaign_id = %campaign.id, communes = campaign.communes.len(), "campaign created");
    Ok(campaign)
}

/// Fetch a campaign or `NotFound`.
pub async fn get_campaign<S: CampaignStore + ?Sized>(store: &S, id: &str) -> CoreResult<Campaign> {
    store
        .get_campaign(id)
        .await?
        .ok_or_else(|| CoreError::not_found("campaign", id))
}

/// Take a lifecycle action. Cancelling also cancels the campaign's sessions that have
/// not started.
#[instrument(skip_all, fields(campaign_id = id, ?action))]
pub async fn act_on_campaign<S: Store + ?Sized>(
    store: &S,
    id: &str,
    action: CampaignAction,
    now: DateTime<Utc>,
) -> CoreResult<Campaign> {
    let campaign = retry_on_conflict(|| async {
        let mut campaign = get_campaign(store, id).await?;
        let to = action.apply(campaign.status)?;
        if to == CampaignStatus::Active {
            let (_, end) = campaign.period.bounds(campaign.schedule.time_zone);
            if end <= now {
                return Err(CoreError::invalid(
                    "period.end",
                    "the campaign's period is over; it cannot be activated",
                ));
            }
        }
        campaign.status = to;
        campaign.updated_at = now;
        campaign.version += 1;
        store.update_campaign(&campaign).await?;
        Ok(campaign)
    })
    .await?;
    if campaign.status == CampaignStatus::Cancelled {
        cancel_upcoming_sessions(store, &campaign.id, "campaign cancelled", now).await?;
    }
    tracing::info!(status = campaign.status.as_str(), "campaign status changed");
    Ok(campaign)
}

async fn cancel_upcoming_sessions<S: Store + ?Sized>(
    store: &S,
    campaign_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> CoreResult<usize> {
    let filter = SessionFilter {
        campaign: Some(campaign_id.to_string()),
        status: Some(SessionStatus::Scheduled),
        from: Some(now),
        ..SessionFilter::default()
    };
    let mut page = PageRequest::first(500);
    let mut cancelled = 0;
    loop {
        let batch = store.list_sessions(&filter, &page).await?;
        for session in batch.items {
            retry_on_conflict(|| {
                let mut session = session.clone();
                async move {
                    let mut fresh = store.get_session(&session.id).await?.unwrap_or(session.clone());
                    if fresh.status == SessionStatus::Cancelled {
                        return Ok(());
                    }
                    fresh.status = SessionStatus::Cancelled;
                    fresh.cancel_reason = Some(reason.to_string());
                    fresh.updated_at = now;
                    fresh.version += 1;
                    session = fresh;
                    store.update_session(&session).await
                }
            })
            .await?;
            let cancelled_now = store.get_session(&session.id).await?.unwrap_or(session);
            super::sessions::replan_jobs(store, &cancelled_now, now).await?;
            cancelled += 1;
        }
        match batch.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(cancelled),
        }
    }
}
