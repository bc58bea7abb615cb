use chrono::{DateTime, NaiveDate, Utc};
use tracing::instrument;

use crate::campaign::{Campaign, CampaignAction, CampaignInput, CampaignPatch, CampaignStatus, TemplateBounds};
use crate::error::{CoreError, CoreResult};
use crate::ids::{CampaignId, UnitCode};
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
    let (campaign, unit_changes) = validate_campaign(store, input, CampaignId::new(new_id("cmp")), now).await?;
    store.insert_campaign(&campaign).await?;
    tracing::info!(
        campaign_id = %campaign.id,
        communes = campaign.communes.len(),
        unit_changes,
        "campaign created"
    );
    Ok(campaign)
}

/// Everything [`create_campaign`] checks, as a draft campaign `id`, with the number of
/// changes of units its period meets.
async fn validate_campaign<S: OrgUnitStore + ?Sized>(
    store: &S,
    input: CampaignInput,
    id: CampaignId,
    now: DateTime<Utc>,
) -> CoreResult<(Campaign, usize)> {
    let Period { start, end } = input.period;
    let communes = expand_to_communes(store, &input.target_units, start, "target_units").await?;
    let history = commune_history(store).await?;
    let changes = history.changes_within(&communes, start, end);
    let successors: Vec<UnitCode> = changes
        .iter()
        .flat_map(|c| c.replaced_by.iter().map(|r| r.code.clone()))
        .collect();
    let campaign = input.into_campaign_over(id, communes, &successors, now)?;
    let mut bounds = TemplateBounds::default();
    let names = campaign
        .communes
        .iter()
        .filter_map(|code| match history.commune_on(code.as_str(), start) {
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
    Ok((campaign, changes.len()))
}

/// Edit a campaign, at the `version` the planner read (else `Conflict`).
///
/// - A **draft** may change everything its create input has, validated as a new campaign.
/// - An **active or paused** campaign may change its name, description, venues (default
///   and per commune), capacity, min_staff, SMS encoding and segment limit, its reminder
///   rules, and its end date: later (the planner continues to it) or earlier, but not
///   before the last session already held. Its schedule, time zone, session length, start
///   date and target units are fixed (`Validation` naming the field, [`FIXED_ONCE_ACTIVE`]).
///   Sessions not yet started take the new venue (unless given another one by hand, or
///   moved), capacity and min_staff; those after a new end are cancelled with their
///   reminders. A removed rule's reminders not yet sent are cancelled; a changed rule's
///   are planned again (offset, channels, audience; texts are read when sent); an added
///   rule's are planned for the sessions already materialised.
/// - A completed or cancelled campaign cannot be edited (`InvalidTransition`).
///
/// [`FIXED_ONCE_ACTIVE`]: crate::campaign::FIXED_ONCE_ACTIVE
#[instrument(skip_all, fields(campaign_id = %id))]
pub async fn update_campaign<S: Store + ?Sized>(
    store: &S,
    id: &CampaignId,
    patch: CampaignPatch,
    now: DateTime<Utc>,
) -> CoreResult<Campaign> {
    let current = get_campaign(store, id).await?;
    if matches!(current.status, CampaignStatus::Completed | CampaignStatus::Cancelled) {
        return Err(CoreError::InvalidTransition {
            action: "edit",
            from: current.status.as_str().to_string(),
        });
    }
    if patch.version != current.version {
        return Err(CoreError::Conflict(format!(
            "campaign {id} is at version {}, not {}: read it again and redo the change",
            current.version, patch.version
        )));
    }
    let input = patch.merged_into(&current);
    let running = current.status != CampaignStatus::Draft;
    if running {
        let last_held = if input.period.end < current.period.end {
            last_session_held(store, &current, now).await?
        } else {
            None
        };
        current.check_running_edit(&input, last_held)?;
    }
    let (mut campaign, _) = validate_campaign(store, input, current.id.clone(), now).await?;
    if running {
        // Its sessions were materialised over these communes; keep them whatever the unit
        // tree says today.
        campaign.communes = current.communes.clone();
    }
    campaign.status = current.status;
    campaign.materialised_until = current.materialised_until;
    campaign.created_at = current.created_at;
    campaign.version = current.version + 1;
    store.update_campaign(&campaign).await?;
    if running {
        follow_running_edit(store, &current, &campaign, now).await?;
    }
    tracing::info!(status = campaign.status.as_str(), "campaign edited");
    Ok(campaign)
}

/// The local date of the last session of `campaign` that has started (cancelled ones aside).
async fn last_session_held<S: Store + ?Sized>(
    store: &S,
    campaign: &Campaign,
    now: DateTime<Utc>,
) -> CoreResult<Option<NaiveDate>> {
    let filter = SessionFilter {
        campaign: Some(campaign.id.clone()),
        status: Some(SessionStatus::Scheduled),
        to: Some(now),
        ..SessionFilter::default()
    };
    let mut page = PageRequest::first(500);
    let mut last: Option<DateTime<Utc>> = None;
    loop {
        let batch = store.list_sessions(&filter, &page).await?;
        last = batch.items.iter().map(|s| s.starts_at).chain(last).max();
        match batch.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    Ok(last.map(|t| t.with_timezone(&campaign.schedule.time_zone).date_naive()))
}

/// Bring a running campaign's sessions not yet started, and their reminders, in line with
/// its edit from `before` to `after`.
async fn follow_running_edit<S: Store + ?Sized>(
    store: &S,
    before: &Campaign,
    after: &Campaign,
    now: DateTime<Utc>,
) -> CoreResult<()> {
    let sessions_change = before.venues != after.venues
        || before.default_venue != after.default_venue
        || before.capacity != after.capacity
        || before.min_staff != after.min_staff
        || before.period.end > after.period.end;
    let rules_change = before.reminder_rules != after.reminder_rules;
    if sessions_change || rules_change {
        let (_, ends) = after.period.bounds(after.schedule.time_zone);
        let filter = SessionFilter {
            campaign: Some(after.id.clone()),
            status: Some(SessionStatus::Scheduled),
            from: Some(now),
            ..SessionFilter::default()
        };
        let mut page = PageRequest::first(500);
        loop {
            let batch = store.list_sessions(&filter, &page).await?;
            for session in batch.items {
                let session = retry_on_conflict(|| async {
                    let mut s = super::sessions::get_session(store, &session.id).await?;
                    if s.status != SessionStatus::Scheduled || s.starts_at <= now {
                        return Ok(s);
                    }
                    let mut changed = false;
                    if s.starts_at >= ends {
                        s.status = SessionStatus::Cancelled;
                        s.cancel_reason = Some("campaign period shortened".into());
                        changed = true;
                    } else {
                        // A venue given by hand, or a session moved by hand, keeps its venue.
                        let by_hand =
                            s.is_moved() || before.venue_for(s.commune_code.as_str()).unwrap_or_default() != s.venue;
                        let venue = after.venue_for(s.commune_code.as_str()).unwrap_or_default();
                        if !by_hand && s.venue != venue {
                            s.venue = venue.to_string();
                            changed = true;
                        }
                        if s.capacity != after.capacity || s.min_staff != after.min_staff {
                            s.capacity = after.capacity;
                            s.min_staff = after.min_staff;
                            changed = true;
                        }
                    }
                    if changed {
                        s.updated_at = now;
                        s.version += 1;
                        store.update_session(&s).await?;
                    }
                    Ok(s)
                })
                .await?;
                if rules_change || session.status == SessionStatus::Cancelled {
                    super::sessions::replan_jobs(store, &session, now).await?;
                }
            }
            match batch.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
    }
    let added = after
        .reminder_rules
        .iter()
        .any(|r| !before.reminder_rules.iter().any(|b| b.id == r.id));
    if let (true, Some(until)) = (added, after.materialised_until) {
        let planned = crate::jobs::plan_reminder_jobs(store, after, now, until, now).await?;
        tracing::info!(planned, "reminders of added rules planned");
    }
    Ok(())
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
pub async fn get_campaign<S: CampaignStore + ?Sized>(store: &S, id: &CampaignId) -> CoreResult<Campaign> {
    store
        .get_campaign(id)
        .await?
        .ok_or_else(|| CoreError::not_found("campaign", id))
}

/// Take a lifecycle action. Cancelling also cancels the campaign's sessions that have
/// not started.
#[instrument(skip_all, fields(campaign_id = %id, ?action))]
pub async fn act_on_campaign<S: Store + ?Sized>(
    store: &S,
    id: &CampaignId,
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
    campaign_id: &CampaignId,
    reason: &str,
    now: DateTime<Utc>,
) -> CoreResult<usize> {
    let filter = SessionFilter {
        campaign: Some(campaign_id.clone()),
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
