//! Targets, quarterly reports and their snapshots.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use tracing::instrument;

use crate::cost::DeliveryTally;
use crate::error::{CoreError, CoreResult};
use crate::ids::UnitCode;
use crate::org::Level;
use crate::org::{OrgUnit, version_on};
use crate::outcome::YearTallies;
use crate::ports::{DeliveryStore, OrgUnitStore, OutcomeStore, SnapshotStore, TargetStore};
use crate::quarter::{Quarter, quarter_of};
use crate::report::{QuarterlyReport, ReportInput, ReportSnapshot, build_quarterly_report, quarter_value};
use crate::schedule::DEFAULT_TIME_ZONE;
use crate::target::{TargetInput, TargetPlan, allocate};
use crate::usecases::Actor;

/// The quarter that ended last before `now` (local time): the one a summary reports.
pub fn previous_quarter(now: DateTime<Utc>) -> Quarter {
    quarter_of(now, DEFAULT_TIME_ZONE).previous()
}

/// The last local day of a quarter.
pub fn last_day(q: Quarter) -> NaiveDate {
    q.next().first_day().pred_opt().unwrap_or(q.first_day())
}

/// A unit and every unit under it, as they were on `on`: the unit first, then its
/// descendants level by level. Two reads (the unit's versions and its subtree), whatever
/// the number of units.
pub async fn unit_tree<S: OrgUnitStore + ?Sized>(store: &S, code: &str, on: NaiveDate) -> CoreResult<Vec<OrgUnit>> {
    let versions = store.org_unit_versions(code).await?;
    let descendants = store.org_unit_descendants(code).await?;
    tree_on(code, &versions, &descendants, on)
}

/// A unit's tree on `on` (as `unit_tree`) from its versions and its subtree as read.
fn tree_on(code: &str, versions: &[OrgUnit], descendants: &[OrgUnit], on: NaiveDate) -> CoreResult<Vec<OrgUnit>> {
    let root = version_on(versions, Some(on))
        .cloned()
        .ok_or_else(|| CoreError::invalid("org", format!("no unit {code} existed on {on}")))?;
    // The subtree holds every version under every parent a unit had: keep those in force
    // on `on`, by parent, each code once, ordered by code.
    let mut by_parent: BTreeMap<&str, Vec<&OrgUnit>> = BTreeMap::new();
    for unit in descendants {
        if let Some(parent) = unit
            .parent_code
            .as_ref()
            .map(UnitCode::as_str)
            .filter(|p| unit.is_valid_on(on) && *p != unit.code)
        {
            by_parent.entry(parent).or_default().push(unit);
        }
    }
    for children in by_parent.values_mut() {
        children.sort_by(|a, b| a.code.cmp(&b.code));
        children.dedup_by(|a, b| a.code == b.code);
    }
    let mut units = vec![root];
    let mut seen = HashSet::from([UnitCode::from(code)]);
    let mut next = 0;
    while next < units.len() {
        let parent = units[next].code.clone();
        next += 1;
        for child in by_parent.remove(parent.as_str()).unwrap_or_default() {
            if seen.insert(child.code.clone()) {
                units.push(child.clone());
            }
        }
    }
    Ok(units)
}

/// Set a unit's targets for a year; each may be allocated to the units under it (as they
/// are at the start of the year, or on the day the unit came to be). All are checked
/// before any is written, and they are written at once.
#[instrument(skip_all, fields(year, org = org_code, targets = inputs.len()))]
pub async fn set_targets<S>(
    store: &S,
    year: i32,
    org_code: &str,
    inputs: Vec<TargetInput>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> CoreResult<Vec<TargetPlan>>
where
    S: OrgUnitStore + TargetStore + ?Sized,
{
    Quarter::new(year, 1)?;
    if inputs.is_empty() {
        return Err(CoreError::invalid("targets", "no targets"));
    }
    if inputs.len() > 50 {
        return Err(CoreError::invalid("targets", "at most 50 targets at once"));
    }
    let versions = store.org_unit_versions(org_code).await?;
    let year_start = Quarter { year, quarter: 1 }.first_day();
    let year_end = last_day(Quarter { year, quarter: 4 });
    // The version that existed during the year (the latest one, if several did).
    let unit = versions
        .iter()
        .filter(|u| u.valid_from.is_none_or(|f| f <= year_end) && u.valid_until.is_none_or(|t| t >= year_start))
        .max_by_key(|u| u.valid_from)
        .ok_or_else(|| CoreError::not_found("unit", format!("{org_code} in {year}")))?;
    let on = unit.valid_from.map_or(year_start, |f| f.max(year_start));
    let mut plans = Vec::new();
    let mut metrics = std::collections::HashSet::new();
    // The units under this one, read once when a target is allocated.
    let mut children: Option<Vec<String>> = None;
    for (i, input) in inputs.iter().enumerate() {
        let field = format!("targets[{i}]");
        if !metrics.insert(input.metric.clone()) {
            return Err(CoreError::invalid(
                format!("{field}.metric"),
                format!("{} is set twice", input.metric),
            ));
        }
        let plan = input.into_plan(year, org_code, &field, now, actor.subject.clone())?;
        if let Some(how) = &input.allocate {
            if children.is_none() {
                let mut codes: Vec<String> = store
                    .org_unit_children(org_code)
                    .await?
                    .into_iter()
                    .filter(|u| u.is_valid_on(on) && u.code != org_code)
                    .map(|u| u.code.into_string())
                    .collect();
                codes.sort();
                codes.dedup();
                children = Some(codes);
            }
            let children = children.as_deref().unwrap_or_default();
            plans.extend(allocate(&plan, children, how, &format!("{field}.allocate"))?);
        }
        plans.push(plan);
    }
    store.put_targets(&plans).await?;
    tracing::info!(year, org = org_code, written = plans.len(), "targets set");
    Ok(plans)
}

/// A unit's targets for a year, and those allocated to the units directly under it.
pub async fn targets_of<S: TargetStore + ?Sized>(store: &S, year: i32, org_code: &str) -> CoreResult<Vec<TargetPlan>> {
    let mut targets: Vec<TargetPlan> = store
        .year_targets(year)
        .await?
        .into_iter()
        .filter(|t| {
            t.org_code == org_code
                || matches!(&t.source, crate::target::TargetSource::Allocated { from, .. } if from == org_code)
        })
        .collect();
    targets.sort_by(|a, b| {
        (a.org_code != org_code, &a.org_code, &a.metric).cmp(&(b.org_code != org_code, &b.org_code, &b.metric))
    });
    Ok(targets)
}

/// Build the quarterly report of a unit from the tallies and targets.
#[instrument(skip_all, fields(org = org_code, year = at.year, quarter = at.quarter))]
pub async fn quarterly_report<S>(
    store: &S,
    org_code: &str,
    at: Quarter,
    now: DateTime<Utc>,
) -> CoreResult<QuarterlyReport>
where
    S: OrgUnitStore + OutcomeStore + TargetStore + DeliveryStore + ?Sized,
{
    Ok(quarterly_report_and_tallies(store, org_code, at, now).await?.0)
}

/// A unit's quarterly report, and the tallies of the year through that quarter it was
/// built from (every unit's), for figures the report does not carry.
pub async fn quarterly_report_and_tallies<S>(
    store: &S,
    org_code: &str,
    at: Quarter,
    now: DateTime<Utc>,
) -> CoreResult<(QuarterlyReport, YearTallies)>
where
    S: OrgUnitStore + OutcomeStore + TargetStore + DeliveryStore + ?Sized,
{
    let q = Quarter::new(at.year, at.quarter)?;
    let Quarter { year, quarter } = q;
    let units = unit_tree(store, org_code, last_day(q)).await?;
    let tallies = store.year_tallies(q).await?;
    let targets = store.year_targets(year).await?;
    let deliveries = quarter_delivery_tallies(store, &units, q).await?;
    let report = build_quarterly_report(&ReportInput {
        units: &units,
        year,
        quarter,
        tallies: &tallies,
        targets: &targets,
        delivery_tallies: &deliveries,
        generated_at: now,
    });
    Ok((report, tallies))
}

/// The delivery tallies of a report's communes on the quarter's local days: one read per
/// month on DynamoDB, whatever the number of deliveries.
async fn quarter_delivery_tallies<S: DeliveryStore + ?Sized>(
    store: &S,
    units: &[OrgUnit],
    q: Quarter,
) -> CoreResult<Vec<DeliveryTally>> {
    let communes: Vec<UnitCode> = units
        .iter()
        .filter(|u| u.level == Level::Commune)
        .map(|u| u.code.clone())
        .collect();
    if communes.is_empty() {
        return Ok(Vec::new());
    }
    store.delivery_tallies(&communes, q.first_day(), last_day(q)).await
}

/// A unit's quarterly report, and one metric's figure for the unit in each quarter of the
/// year from the first to `quarter` (each quarter's own, as that quarter's report has it
/// as `quarter_value`), from one read of the tallies and the targets: the earlier
/// quarters' figures are counted from that metric's tallies alone, not from whole reports.
pub async fn quarterly_report_and_quarter_values<S>(
    store: &S,
    org_code: &str,
    at: Quarter,
    metric: &str,
    now: DateTime<Utc>,
) -> CoreResult<(QuarterlyReport, Vec<Option<f64>>)>
where
    S: OrgUnitStore + OutcomeStore + TargetStore + DeliveryStore + ?Sized,
{
    let through = Quarter::new(at.year, at.quarter)?;
    let Quarter { year, quarter } = through;
    let tallies = store.year_tallies(through).await?;
    let targets = store.year_targets(year).await?;
    // The unit's versions and subtree read once, its tree taken on each quarter's last day.
    let versions = store.org_unit_versions(org_code).await?;
    let descendants = store.org_unit_descendants(org_code).await?;
    let mut values = Vec::new();
    for earlier in 1..quarter {
        let units = tree_on(
            org_code,
            &versions,
            &descendants,
            last_day(Quarter { year, quarter: earlier }),
        )?;
        values.push(quarter_value(
            &ReportInput {
                units: &units,
                year,
                quarter: earlier,
                tallies: &tallies,
                targets: &targets,
                delivery_tallies: &[],
                generated_at: now,
            },
            metric,
        ));
    }
    let q = Quarter { year, quarter };
    let units = tree_on(org_code, &versions, &descendants, last_day(q))?;
    let deliveries = quarter_delivery_tallies(store, &units, q).await?;
    let report = build_quarterly_report(&ReportInput {
        units: &units,
        year,
        quarter,
        tallies: &tallies,
        targets: &targets,
        delivery_tallies: &deliveries,
        generated_at: now,
    });
    values.push(report.row(org_code, metric).and_then(|r| r.quarter_value));
    Ok((report, values))
}

/// Freeze a unit's report for a quarter as its next revision; earlier revisions stay.
#[instrument(skip_all, fields(org = org_code, year = at.year, quarter = at.quarter, trigger))]
pub async fn take_snapshot<S>(
    store: &S,
    org_code: &str,
    at: Quarter,
    trigger: &str,
    now: DateTime<Utc>,
) -> CoreResult<ReportSnapshot>
where
    S: OrgUnitStore + OutcomeStore + TargetStore + DeliveryStore + SnapshotStore + ?Sized,
{
    let report = quarterly_report(store, org_code, at, now).await?;
    let Quarter { year, quarter } = at;
    let mut tries = 0;
    loop {
        let latest = store.snapshot_revisions(org_code, at).await?;
        let snapshot = ReportSnapshot {
            org_code: org_code.to_string(),
            year,
            quarter,
            revision: latest.last().map_or(1, |(r, _)| r + 1),
            created_at: now,
            trigger: trigger.to_string(),
            report: report.clone(),
        };
        match store.insert_snapshot(&snapshot).await {
            Ok(()) => {
                tracing::info!(
                    org = org_code,
                    year,
                    quarter,
                    revision = snapshot.revision,
                    "report snapshot taken"
                );
                return Ok(snapshot);
            }
            // Another run took this revision: take the next.
            Err(CoreError::AlreadyExists { .. }) if tries < 5 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}
