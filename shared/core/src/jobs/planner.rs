//! The planner job: materialise each active campaign's sessions over a rolling horizon.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use tracing::instrument;

use crate::campaign::{Campaign, CampaignStatus};
use crate::error::{CoreError, CoreResult};
use crate::ids::UnitCode;
use crate::org::{CommuneOn, UnitHistory};
use crate::ports::{PageRequest, SessionFilter, Store};
use crate::reminder::ReminderJob;
use crate::schedule::DEFAULT_TIME_ZONE;
use crate::session::{Session, SessionStatus};
use crate::usecases::commune_history;

/// How far ahead the planner materialises sessions unless told otherwise.
pub const DEFAULT_HORIZON_DAYS: i64 = 35;

/// Plan one reminder job per (session, rule) for the stored sessions starting in
/// `[from, until)`: read back from the store, so moved sessions are planned at their new
/// time and a run interrupted between sessions and jobs is repaired by the next; an edit
/// that adds a rule calls it to plan the new rule's reminders. Returns the jobs written.
pub async fn plan_reminder_jobs<S: Store + ?Sized>(
    store: &S,
    campaign: &Campaign,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> CoreResult<usize> {
    if campaign.reminder_rules.is_empty() {
        return Ok(0);
    }
    let filter = SessionFilter {
        campaign: Some(campaign.id.clone()),
        status: Some(SessionStatus::Scheduled),
        from: Some(from),
        to: Some(until),
        ..SessionFilter::default()
    };
    let mut page = PageRequest::first(500);
    let mut planned = 0;
    loop {
        let sessions = store.list_sessions(&filter, &page).await?;
        let jobs: Vec<ReminderJob> = sessions
            .items
            .iter()
            .flat_map(|s| {
                campaign
                    .reminder_rules
                    .iter()
                    .map(move |r| ReminderJob::plan(campaign, s, r, now))
            })
            .collect();
        planned += store.insert_jobs_if_absent(&jobs).await?;
        match sessions.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(planned),
        }
    }
}

/// What one planner run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlannerReport {
    /// Active campaigns looked at.
    pub campaigns: usize,
    /// Campaigns whose watermark moved.
    pub campaigns_advanced: usize,
    /// Sessions written that were not there before.
    pub sessions_created: usize,
    /// Campaigns that could not be planned (logged with the reason).
    pub campaigns_failed: usize,
    /// Campaigns left wholly or partly for the next run: this run had written
    /// [`MAX_SESSIONS_PER_RUN`] sessions.
    pub campaigns_deferred: usize,
}

/// Most sessions one planner run writes, over all campaigns: its work is bounded whatever
/// campaigns hold (the rest is written by the next runs, from each campaign's watermark).
pub const MAX_SESSIONS_PER_RUN: usize = 50_000;

/// Materialise the sessions of every active campaign from its watermark up to
/// `now + horizon` (never past its period), at most [`MAX_SESSIONS_PER_RUN`] of them.
/// Idempotent: a second run at the same `now` writes nothing, and a run interrupted
/// half-way, or cut at its bound, is completed by the next.
#[instrument(skip_all, fields(%now))]
pub async fn run_planner<S: Store + ?Sized>(
    store: &S,
    now: DateTime<Utc>,
    horizon: Duration,
) -> CoreResult<PlannerReport> {
    let mut report = PlannerReport::default();
    let mut budget = MAX_SESSIONS_PER_RUN;
    // Read once per run, and only by a run that has a session to write.
    let mut units: Option<UnitHistory> = None;
    let mut page = PageRequest::first(100);
    loop {
        let batch = store.list_campaigns(Some(CampaignStatus::Active), &page).await?;
        for campaign in batch.items {
            report.campaigns += 1;
            let campaign_id = campaign.id.clone();
            match materialise_campaign(store, campaign, now, horizon, &mut budget, &mut units).await {
                Ok(Materialised::Unchanged) => {}
                Ok(Materialised::Deferred) => report.campaigns_deferred += 1,
                Ok(Materialised::Advanced { created, complete }) => {
                    report.campaigns_advanced += 1;
                    report.sessions_created += created;
                    if !complete {
                        report.campaigns_deferred += 1;
                    }
                }
                Err(e @ CoreError::Storage(_)) => return Err(e),
                // One campaign that cannot be planned must not stop the others.
                Err(e) => {
                    tracing::error!(%campaign_id, error.message = %e, "campaign could not be planned");
                    report.campaigns_failed += 1;
                }
            }
        }
        match batch.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    tracing::info!(
        campaigns = report.campaigns,
        sessions_created = report.sessions_created,
        campaigns_deferred = report.campaigns_deferred,
        "planner run done"
    );
    Ok(report)
}

/// Sessions written per store call. On SQLite a call is one transaction, and fewer, larger
/// ones write each touched index page fewer times: a year of weekly sessions in 192
/// communes (9,984) takes 81 ms in batches of 5,000 against 174 ms in batches of 500
/// (`cargo bench -p outreach-tests --bench schedule`). DynamoDB writes items one by one.
const SESSION_BATCH: usize = 5_000;

/// What planning one campaign did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Materialised {
    /// Nothing was due: the watermark is at the horizon or the period's end.
    Unchanged,
    /// The run's budget was spent before this campaign.
    Deferred,
    /// The watermark moved: to the horizon (`complete`), or to where the budget ran out.
    Advanced { created: usize, complete: bool },
}

/// The communes that hold a campaign's sessions on a local date, each once, with the
/// campaign's commune each stands for (the first, in the campaign's order, when several
/// old communes merged into one).
///
/// A commune holds its own sessions while a version of it is valid; after it ends, the
/// units that took it over (`former_units`) hold them; when none did, it holds none (and
/// is logged, once a run, in `gone`). A code with no stored version at all is planned as
/// the campaign names it: nothing says it ended.
fn hosts_on<'a>(
    campaign: &'a Campaign,
    units: &'a UnitHistory,
    day: NaiveDate,
    gone: &mut HashSet<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut hosts: Vec<(&str, &str)> = Vec::with_capacity(campaign.communes.len());
    let mut add = |host: &'a str, commune: &'a str| {
        if !hosts.iter().any(|(h, _)| *h == host) {
            hosts.push((host, commune));
        }
    };
    for commune in campaign.communes.iter().map(UnitCode::as_str) {
        match units.commune_on(commune, day) {
            CommuneOn::Itself(unit) => add(unit.code.as_str(), commune),
            CommuneOn::Replaced(successors) => successors.into_iter().for_each(|u| add(u.code.as_str(), commune)),
            CommuneOn::Unknown => add(commune, commune),
            CommuneOn::Gone => {
                if gone.insert(commune) {
                    tracing::warn!(
                        campaign_id = %campaign.id,
                        commune_code = %commune,
                        %day,
                        "commune no longer exists and no unit took it over: its sessions from this date are not planned"
                    );
                }
            }
        }
    }
    hosts
}

/// Materialise one campaign up to `now + horizon`, writing at most `budget` sessions (less
/// what it writes, left in `budget`). The watermark moves only after the sessions are
/// stored, so a crash in between is repaired by the next run (the inserts are idempotent);
/// when the budget runs out it moves to the first date not written, whole dates at a time.
async fn materialise_campaign<S: Store + ?Sized>(
    store: &S,
    mut campaign: Campaign,
    now: DateTime<Utc>,
    horizon: Duration,
    budget: &mut usize,
    units: &mut Option<UnitHistory>,
) -> CoreResult<Materialised> {
    let schedule = campaign.schedule.parse()?;
    let (period_start, period_end) = campaign.period.bounds(schedule.time_zone());
    let from = campaign.materialised_until.unwrap_or(period_start).max(period_start);
    let mut until = (now + horizon).min(period_end);
    if until <= from {
        return Ok(Materialised::Unchanged);
    }
    if *budget < campaign.communes.len() {
        return Ok(Materialised::Deferred);
    }
    let mut occurrences = schedule.occurrences_between(from, until).peekable();
    if units.is_none() && occurrences.peek().is_some() {
        *units = Some(commune_history(store).await?);
    }
    let no_units = UnitHistory::default();
    let units = units.as_ref().unwrap_or(&no_units);
    let mut created = 0;
    let mut complete = true;
    let mut gone = HashSet::new();
    let mut batch = Vec::with_capacity(SESSION_BATCH);
    for occurrence in occurrences {
        // Units change on Vietnam's calendar (the reform took effect on 1 July, local time),
        // whatever zone the schedule is written in.
        let day = occurrence.with_timezone(&DEFAULT_TIME_ZONE).date_naive();
        let hosts = hosts_on(&campaign, units, day, &mut gone);
        if *budget < hosts.len() {
            until = occurrence;
            complete = false;
            break;
        }
        *budget -= hosts.len();
        for (host, commune) in hosts {
            let mut session = Session::materialise(&campaign, host, occurrence, now);
            if host != commune {
                session.venue = campaign
                    .venue_in_place_of(host, commune)
                    .unwrap_or_default()
                    .to_string();
            }
            batch.push(session);
            if batch.len() == SESSION_BATCH {
                created += store.insert_sessions_if_absent(&batch).await?;
                batch.clear();
            }
        }
    }
    created += store.insert_sessions_if_absent(&batch).await?;
    plan_reminder_jobs(store, &campaign, from, until, now).await?;
    campaign.materialised_until = Some(until);
    campaign.updated_at = now;
    campaign.version += 1;
    match store.update_campaign(&campaign).await {
        // A concurrent change won (another planner, or a pause): the sessions written are
        // stored all the same, and the next run recomputes the watermark idempotently.
        Ok(()) | Err(CoreError::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    tracing::debug!(campaign_id = %campaign.id, created, %until, complete, "campaign materialised");
    Ok(Materialised::Advanced { created, complete })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{CampaignInput, ScheduleSpec};
    use crate::org::{FormerUnit, Level, MergeKind, OrgUnit};
    use crate::schedule::Period;

    fn commune(code: &str, from: Option<&str>, until: Option<&str>, former: &[&str]) -> OrgUnit {
        OrgUnit {
            code: code.into(),
            name: format!("Xã {code}"),
            level: Level::Commune,
            parent_code: Some("24".into()),
            kind: None,
            valid_from: from.map(|d| d.parse().unwrap()),
            valid_until: until.map(|d| d.parse().unwrap()),
            former_units: former
                .iter()
                .map(|c| FormerUnit {
                    code: (*c).into(),
                    name: None,
                    merge: MergeKind::Full,
                })
                .collect(),
        }
    }

    #[test]
    fn merged_communes_hold_one_session_a_start_in_their_successor_and_an_ended_one_none() {
        let units = UnitHistory::new([
            commune("07201", None, Some("2025-06-30"), &[]),
            commune("07207", None, Some("2025-06-30"), &[]),
            commune("07264", None, Some("2025-06-30"), &[]),
            commune("07210", Some("2025-07-01"), None, &["07201", "07207"]),
        ]);
        let input = CampaignInput {
            name: "Hè 2025".into(),
            description: None,
            period: Period::new("2025-06-01".parse().unwrap(), "2025-08-31".parse().unwrap()).unwrap(),
            target_units: vec!["213".into()],
            schedule: ScheduleSpec {
                cron: "0 8 * * 6".into(),
                time_zone: DEFAULT_TIME_ZONE,
            },
            session_minutes: 120,
            venues: [("07207".to_string(), "Nhà văn hoá Ngô Quyền".to_string())].into(),
            default_venue: Some("UBND".into()),
            capacity: 30,
            min_staff: 1,
            reminder_rules: vec![],
            sms_unicode: false,
            max_sms_segments: 2,
        };
        // 99999 has no stored version: planned as the campaign names it.
        let communes = ["07207", "07201", "07264", "99999"].map(UnitCode::from).to_vec();
        let campaign = input.into_campaign("cmp_1".into(), communes, Utc::now()).unwrap();
        let mut gone = HashSet::new();
        let june = hosts_on(&campaign, &units, "2025-06-28".parse().unwrap(), &mut gone);
        assert_eq!(
            june,
            [
                ("07207", "07207"),
                ("07201", "07201"),
                ("07264", "07264"),
                ("99999", "99999")
            ]
        );
        assert!(gone.is_empty());
        let july = hosts_on(&campaign, &units, "2025-07-05".parse().unwrap(), &mut gone);
        assert_eq!(july, [("07210", "07207"), ("99999", "99999")]);
        assert_eq!(gone, HashSet::from(["07264"]));
        // The successor takes the venue of the campaign's commune it stands for.
        assert_eq!(
            campaign.venue_in_place_of("07210", "07207"),
            Some("Nhà văn hoá Ngô Quyền")
        );
    }
}
