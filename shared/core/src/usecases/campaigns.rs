use chrono::{DateTime, Utc};
use tracing::instrument;

use crate::campaign::{Campaign, CampaignAction, CampaignInput, CampaignStatus, TemplateBounds};
use crate::error::{CoreError, CoreResult};
use crate::org::{CommuneOn, UnitChange};
use crate::ports::{CampaignStore, OrgUnitStore, PageRequest, SessionFilter, Store};
use crate::schedule::Period;
use crate::session::SessionStatus;
use crate::usecases::{commune_history, expand_to_communes, new_id, retry_on_conflict};

/// Create a campaign as a draft; its target units expand to the communes valid on the
/// period's first day. A commune that ends within the period hands its sessions to the
/// units that take it over (see [`unit_changes`]): those may have venues of their own, and
/// their names count in the SMS length check.
#[instrument(skip_all)]
pub async fn create_campaign<S: CampaignStore + OrgUnitStore + ?Sized>(
    store: &S,
    input: CampaignInput,
    now: DateTime<Utc>,
) -> CoreResult<Campaign> {
    let Period { start, end } = input.period;
    let communes = expand_to_communes(store, &input.target_units, start, "target_units").await?;
    let history = commune_history(store).await?;
    let changes = history.changes_within(&communes, start, end);
    let successors: Vec<String> = changes
        .iter()
        .flat_map(|c| c.replaced_by.iter().map(|r| r.code.clone()))
        .collect();
    let campaign = input.into_campaign_over(new_id("cmp"), communes, &successors, now)?;
    let mut bounds = TemplateBounds::default();
    let names = campaign
        .communes
        .iter()
        .filter_map(|code| match history.commune_on(code, start) {
            CommuneOn::Itself(unit) => Some(unit.name.as_str()),
            _ => None,
        })
        .chain(
            changes
                .iter()
                .flat_map(|c| c.replaced_by.iter().map(|r| r.name.as_str())),
        );
    if let Some(longest) = names.max_by_key(|n| n.chars().count()) {
        bounds.commune = longest.to_string();
    }
    campaign.check_sms_segments(&bounds)?;
    store.insert_campaign(&campaign).await?;
    tracing::info!(
        campaign_id = %campaign.id,
        communes = campaign.communes.len(),
        unit_changes = changes.len(),
        "campaign created"
    );
    Ok(campaign)
}

/// The changes of units a campaign in `target_units` over `period` meets: which of its
/// communes (as on the period's first day) end before its last day, when, and which units
/// hold their sessions from the next day (the planner plans them there). `field` names
/// the target units in errors.
#[instrument(skip_all)]
pub async fn unit_changes<S: OrgUnitStore + ?Sized>(
    store: &S,
    target_units: &[String],
    period: Period,
    field: &str,
) -> CoreResult<Vec<UnitChange>> {
    let communes = expand_to_communes(store, target_units, period.start, field).await?;
    Ok(commune_history(store)
        .await?
        .changes_within(&communes, period.start, period.end))
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
