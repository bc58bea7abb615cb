use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tracing::instrument;

use crate::contact::{Channel, ContactRole, short_text};
use crate::error::{CoreError, CoreResult};
use crate::ids::{ContactId, SessionId};
use crate::ports::{ContactStore, OrgUnitStore, SessionStore, Store, TeamStore};
use crate::reminder::{JobStatus, due_time};
use crate::session::{Session, SessionStatus};
use crate::team::{TeamInput, VolunteerTeam};
use crate::usecases::{Actor, require_commune, retry_on_conflict};

/// Largest team and largest staff of one session.
pub const MAX_TEAM_MEMBERS: usize = 500;

/// Fetch a session or `NotFound`.
pub async fn get_session<S: SessionStore + ?Sized>(store: &S, id: &SessionId) -> CoreResult<Session> {
    store
        .get_session(id)
        .await?
        .ok_or_else(|| CoreError::not_found("session", id))
}

fn require_not_started(session: &Session, now: DateTime<Utc>) -> CoreResult<()> {
    if session.status == SessionStatus::Cancelled {
        return Err(CoreError::Conflict(format!("session {} is cancelled", session.id)));
    }
    if session.starts_at <= now {
        return Err(CoreError::Conflict(format!(
            "session {} has already started",
            session.id
        )));
    }
    Ok(())
}

/// Cancel one session that has not started. Cancelling a cancelled session changes nothing.
#[instrument(skip_all, fields(session_id = %id))]
pub async fn cancel_session<S: Store + ?Sized>(
    store: &S,
    id: &SessionId,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> CoreResult<Session> {
    let reason = reason.map(|r| short_text("reason", &r, 500)).transpose()?;
    let session = retry_on_conflict(|| async {
        let mut session = get_session(store, id).await?;
        if session.status == SessionStatus::Cancelled {
            return Ok(session);
        }
        require_not_started(&session, now)?;
        session.status = SessionStatus::Cancelled;
        session.cancel_reason = reason.clone();
        session.updated_at = now;
        session.version += 1;
        store.update_session(&session).await?;
        Ok(session)
    })
    .await?;
    replan_jobs(store, &session, now).await?;
    Ok(session)
}

/// Move one session that has not started to a new start (and optionally venue); it keeps
/// its id and its length.
#[instrument(skip_all, fields(session_id = %id))]
pub async fn move_session<S: Store + ?Sized>(
    store: &S,
    id: &SessionId,
    starts_at: DateTime<Utc>,
    venue: Option<String>,
    now: DateTime<Utc>,
) -> CoreResult<Session> {
    if starts_at <= now {
        return Err(CoreError::invalid(
            "starts_at",
            "a session can only be moved to a time in the future",
        ));
    }
    let venue = venue.map(|v| short_text("venue", &v, 300)).transpose()?;
    let session = retry_on_conflict(|| async {
        let mut session = get_session(store, id).await?;
        require_not_started(&session, now)?;
        let length = session.ends_at - session.starts_at;
        session.starts_at = starts_at;
        session.ends_at = starts_at + length;
        if let Some(v) = &venue {
            session.venue = v.clone();
        }
        session.updated_at = now;
        session.version += 1;
        store.update_session(&session).await?;
        Ok(session)
    })
    .await?;
    replan_jobs(store, &session, now).await?;
    Ok(session)
}

/// Bring a session's pending reminder jobs in line with it: a cancelled session clears
/// them; a moved one moves their due times (out of quiet hours again); a job whose rule the
/// campaign no longer has is cancelled, one whose rule changed follows it.
pub(crate) async fn replan_jobs<S: Store + ?Sized>(store: &S, session: &Session, now: DateTime<Utc>) -> CoreResult<()> {
    let campaign = store.get_campaign(&session.campaign_id).await?;
    for job in store.session_jobs(&session.id).await? {
        if job.status != JobStatus::Pending {
            continue;
        }
        retry_on_conflict(|| async {
            let Some(mut job) = store.get_job(&job.id).await? else {
                return Ok(());
            };
            if job.status != JobStatus::Pending {
                return Ok(());
            }
            let rule = campaign
                .as_ref()
                .and_then(|c| c.reminder_rules.iter().find(|r| r.id == job.rule_id));
            match (session.status, rule, &campaign) {
                (SessionStatus::Scheduled, Some(rule), Some(campaign)) => {
                    job.session_starts_at = session.starts_at;
                    job.due_at = due_time(rule, session.starts_at, campaign.schedule.time_zone);
                    // An edited rule: its reminders not yet sent take its channels and audience.
                    job.channels = rule.channels.clone();
                    job.audience = rule.audience;
                }
                _ => job.status = JobStatus::Cancelled,
            }
            job.updated_at = now;
            job.version += 1;
            store.update_job(&job).await
        })
        .await?;
    }
    Ok(())
}

/// Set a commune's volunteer team: every member a registered volunteer, the leader a member.
#[instrument(skip_all, fields(commune = commune))]
pub async fn put_team<S: TeamStore + ContactStore + OrgUnitStore + ?Sized>(
    store: &S,
    commune: &str,
    input: TeamInput,
    now: DateTime<Utc>,
    actor: &Actor,
) -> CoreResult<VolunteerTeam> {
    require_commune(store, commune, "commune_code").await?;
    let name = short_text("name", &input.name, 200)?;
    let member_ids = distinct(input.member_ids, "member_ids")?;
    for (i, id) in member_ids.iter().enumerate() {
        // A volunteer outside the actor's area is answered as one that does not exist.
        let found = store
            .get_contact(id)
            .await?
            .filter(|c| actor.area.covers(c.commune_code.as_str()));
        match found {
            None => {
                return Err(CoreError::invalid(
                    format!("member_ids[{i}]"),
                    format!("contact {id} does not exist"),
                ));
            }
            Some(c) if c.role != ContactRole::Volunteer => {
                return Err(CoreError::invalid(
                    format!("member_ids[{i}]"),
                    format!("contact {id} is not a volunteer"),
                ));
            }
            Some(_) => {}
        }
    }
    let leader_id = input.leader_id.map(ContactId::new);
    if let Some(leader) = &leader_id
        && !member_ids.contains(leader)
    {
        return Err(CoreError::invalid("leader_id", "the leader must be one of the members"));
    }
    retry_on_conflict(|| async {
        let version = store.get_team(commune).await?.map_or(1, |t| t.version + 1);
        let team = VolunteerTeam {
            commune_code: commune.into(),
            name: name.clone(),
            leader_id: leader_id.clone(),
            member_ids: member_ids.clone(),
            updated_at: now,
            version,
        };
        store.put_team(&team).await?;
        Ok(team)
    })
    .await
}

/// Fetch a commune's team or `NotFound`.
pub async fn get_team<S: TeamStore + ?Sized>(store: &S, commune: &str) -> CoreResult<VolunteerTeam> {
    store
        .get_team(commune)
        .await?
        .ok_or_else(|| CoreError::not_found("volunteer team", commune))
}

/// Assign the volunteers who staff a session: members of its commune's team.
#[instrument(skip_all, fields(session_id = %id))]
pub async fn assign_staff<S: SessionStore + TeamStore + ?Sized>(
    store: &S,
    id: &SessionId,
    volunteer_ids: Vec<String>,
    now: DateTime<Utc>,
) -> CoreResult<Session> {
    let staff = distinct(volunteer_ids, "volunteer_ids")?;
    retry_on_conflict(|| async {
        let mut session = get_session(store, id).await?;
        require_not_started(&session, now)?;
        let team = store.get_team(session.commune_code.as_str()).await?;
        for (i, v) in staff.iter().enumerate() {
            if !team.as_ref().is_some_and(|t| t.member_ids.contains(v)) {
                return Err(CoreError::invalid(
                    format!("volunteer_ids[{i}]"),
                    format!("{v} is not in the volunteer team of commune {}", session.commune_code),
                ));
            }
        }
        session.staff = staff.clone();
        session.updated_at = now;
        session.version += 1;
        store.update_session(&session).await?;
        Ok(session)
    })
    .await
}

fn distinct(ids: Vec<String>, field: &str) -> CoreResult<Vec<ContactId>> {
    if ids.len() > MAX_TEAM_MEMBERS {
        return Err(CoreError::invalid(field, format!("at most {MAX_TEAM_MEMBERS}")));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, id) in ids.into_iter().enumerate() {
        let id = short_text(&format!("{field}[{i}]"), &id, 100)?;
        if seen.insert(id.clone()) {
            out.push(ContactId::new(id));
        }
    }
    Ok(out)
}

/// The people a session's reminders asked whether they will come (`(contact, volunteer)`,
/// from its delivery log: every SMS and email sent by a rule that asks, and its ZNS when
/// the template has the answer buttons),
/// and their answers. A campaign none of whose rules asks reads no deliveries.
pub async fn asked_and_answers<S: Store + ?Sized>(
    store: &S,
    session: &Session,
) -> CoreResult<(Vec<(ContactId, bool)>, Vec<crate::answer::SessionAnswer>)> {
    use crate::campaign::Audience;
    use crate::ports::{DeliveryFilter, PageRequest};
    use crate::reminder::DeliveryStatus;
    let campaign = store.get_campaign(&session.campaign_id).await?;
    // A rule's ZNS asks only when its template takes the answer links as buttons.
    let asking: Vec<(String, Audience, bool)> = campaign
        .iter()
        .flat_map(|c| c.reminder_rules.iter())
        .filter(|r| r.asks_answer)
        .map(|r| {
            let zns_asks = r.zns_params.values().any(|f| f == "answer_yes" || f == "answer_no");
            (r.id.clone(), r.audience, zns_asks)
        })
        .collect();
    let mut asked = Vec::new();
    if asking.is_empty() {
        return Ok((asked, Vec::new()));
    }
    let filter = DeliveryFilter {
        session: Some(session.id.clone()),
        status: Some(DeliveryStatus::Sent),
        ..DeliveryFilter::default()
    };
    let mut page = PageRequest::first(500);
    loop {
        let got = store.list_deliveries(&filter, &page).await?;
        for d in got.items {
            let Some((_, audience, zns_asks)) = asking.iter().find(|(id, ..)| *id == d.rule_id) else {
                continue;
            };
            if d.channel == Channel::Zns && !zns_asks {
                continue;
            }
            let volunteer = match audience {
                Audience::Volunteers => true,
                Audience::Citizens => false,
                Audience::All => store
                    .get_contact(&d.contact_id)
                    .await?
                    .is_some_and(|c| c.role == ContactRole::Volunteer),
            };
            asked.push((d.contact_id, volunteer));
        }
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let answers = store.session_answers(&session.id).await?;
    Ok((asked, answers))
}

/// A session's expected headcount: the people its reminders asked whether they will come,
/// and their answers.
pub async fn session_headcount<S: Store + ?Sized>(
    store: &S,
    session: &Session,
) -> CoreResult<crate::answer::Headcount> {
    let (asked, answers) = asked_and_answers(store, session).await?;
    Ok(crate::answer::Headcount::count(
        session.capacity,
        session.min_staff,
        &session.staff,
        &asked,
        &answers,
    ))
}
