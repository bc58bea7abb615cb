//! The quarterly report: year-to-date and quarter figures per unit against the targets,
//! rolled up commune → district → province from the running tallies alone, and the
//! snapshots that freeze it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::contact::Channel;
use crate::cost::{DeliveryTally, vnd};
use crate::org::{Level, MergeKind, OrgUnit};
use crate::outcome::{MetricKind, REPORT_METRICS, Tally};
use crate::quarter::Quarter;
use crate::reminder::DeliveryStatus;
use crate::target::{DEFAULT_COUNT_MILESTONES, TargetPlan};

/// Where a unit stands against its milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// At least 100 % of the milestone.
    OnTrack,
    /// At least 75 %.
    AtRisk,
    /// Below 75 %.
    Behind,
    /// A ratio with nothing to divide yet.
    NoData,
}

impl Status {
    /// The status of a figure at `percent` of its milestone.
    pub fn of_percent(percent: f64) -> Self {
        if percent >= 100.0 {
            Self::OnTrack
        } else if percent >= 75.0 {
            Self::AtRisk
        } else {
            Self::Behind
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnTrack => "on_track",
            Self::AtRisk => "at_risk",
            Self::Behind => "behind",
            Self::NoData => "no_data",
        }
    }

    /// The Vietnamese label of exports.
    pub fn label(self) -> &'static str {
        match self {
            Self::OnTrack => "Đạt tiến độ",
            Self::AtRisk => "Có nguy cơ chậm",
            Self::Behind => "Chậm tiến độ",
            Self::NoData => "Chưa có số liệu",
        }
    }
}

/// One metric of one unit in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportRow {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent_code: Option<String>,
    pub metric: String,
    pub kind: MetricKind,
    /// The quarter's figure: a count, or a ratio (None while its denominator is 0).
    pub quarter_value: Option<f64>,
    /// The year to date (quarters 1 to this one).
    pub ytd_value: Option<f64>,
    /// A ratio's parts, summed before dividing.
    pub quarter_numerator: Option<i64>,
    pub quarter_denominator: Option<i64>,
    pub ytd_numerator: Option<i64>,
    pub ytd_denominator: Option<i64>,
    /// The year's target, the milestone due by the end of this quarter, and how far the
    /// year to date has come towards it.
    pub target: Option<f64>,
    pub milestone: Option<f64>,
    pub percent_of_milestone: Option<f64>,
    pub status: Option<Status>,
}

/// Figures of a unit the report's units do not cover (an old unit with no mapping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unattributed {
    pub unit_code: String,
    pub quarter: u8,
    pub metric: String,
    pub value: i64,
}

/// The quarterly report of a unit and everything under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuarterlyReport {
    pub org_code: String,
    pub org_name: String,
    pub year: i32,
    pub quarter: u8,
    /// The units are those valid on this local date (the quarter's last day).
    pub as_of: NaiveDate,
    pub generated_at: DateTime<Utc>,
    /// Tallies read to build the report, metric and delivery tallies (it never reads raw
    /// records).
    pub tallies_read: usize,
    /// Units in the order of the report: each unit, then the units under it.
    pub rows: Vec<ReportRow>,
    /// Figures of former units that no current unit took over.
    pub unattributed: Vec<Unattributed>,
    /// What the quarter's messages cost, per unit (in the order of `rows`) and per channel
    /// that carried them, from the delivery tallies of the quarter's local days. Empty in
    /// snapshots taken before it was reported.
    #[serde(default)]
    pub spend: Vec<SpendRow>,
}

/// The channels of a spend table, in its order.
pub const SPEND_CHANNELS: [Channel; 3] = [Channel::Sms, Channel::Email, Channel::Zns];

/// What one unit's messages on one channel cost in the quarter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpendRow {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent_code: Option<String>,
    /// The channel that carried the messages: a ZNS message that fell back is SMS spend.
    pub channel: Channel,
    /// Messages handed to the provider: sent, or uncertain (it may have arrived, and keeps
    /// its cost).
    pub messages: u64,
    /// Their SMS segments (1 a message for email and ZNS).
    pub segments: u64,
    /// Their cost, in thousandths of a đồng, at the prices of the days they went.
    pub cost_milli_vnd: u64,
    /// The same in whole đồng, rounded.
    pub cost_vnd: u64,
    /// On the SMS row: how many of its messages were ZNS messages carried by SMS instead.
    pub zns_fallbacks: u64,
}

impl QuarterlyReport {
    /// The spend rows of a unit, one per channel.
    pub fn spend_of<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a SpendRow> {
        self.spend.iter().filter(move |r| r.code == code)
    }
}

impl QuarterlyReport {
    /// The row of a unit and metric.
    pub fn row(&self, code: &str, metric: &str) -> Option<&ReportRow> {
        self.rows.iter().find(|r| r.code == code && r.metric == metric)
    }

    /// The rows of one level.
    pub fn level_rows(&self, level: Level) -> impl Iterator<Item = &ReportRow> {
        self.rows.iter().filter(move |r| r.level == level)
    }
}

/// A frozen report: each run of the summary makes a new revision and keeps the old ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportSnapshot {
    pub org_code: String,
    pub year: i32,
    pub quarter: u8,
    pub revision: u32,
    pub created_at: DateTime<Utc>,
    /// What made it: `schedule`, `api` or `command`.
    pub trigger: String,
    pub report: QuarterlyReport,
}

/// Everything a report is built from: the units valid at the quarter's end (the root
/// first), the tallies of the year through the quarter, and the year's targets.
pub struct ReportInput<'a> {
    pub units: &'a [OrgUnit],
    pub year: i32,
    pub quarter: u8,
    pub tallies: &'a [Tally],
    pub targets: &'a [TargetPlan],
    /// The delivery tallies of the quarter's local days (any commune: others are left out).
    pub delivery_tallies: &'a [DeliveryTally],
    pub generated_at: DateTime<Utc>,
}

/// A metric as the report lays it out: key, kind and, for a ratio, its parts.
type ReportedMetric = (String, MetricKind, Option<(&'static str, &'static str)>);

/// Sums of one unit: per metric, the quarter's and the year-to-date totals.
#[derive(Debug, Default, Clone)]
struct Sums {
    quarter: BTreeMap<String, i64>,
    ytd: BTreeMap<String, i64>,
}

impl Sums {
    fn add(&mut self, metric: &str, value: i64, in_quarter: bool) {
        *self.ytd.entry(metric.to_string()).or_default() += value;
        if in_quarter {
            *self.quarter.entry(metric.to_string()).or_default() += value;
        }
    }

    fn add_all(&mut self, other: &Sums) {
        for (m, v) in &other.quarter {
            *self.quarter.entry(m.clone()).or_default() += v;
        }
        for (m, v) in &other.ytd {
            *self.ytd.entry(m.clone()).or_default() += v;
        }
    }
}

/// Build the report of `input.units[0]` for a quarter.
///
/// Figures are counted under the unit that existed in the reported quarter; a tally of an
/// earlier quarter kept under a unit that no longer exists (the 2025 reform) goes to the
/// units that took it over (`former_units`): whole to a full merge, in equal whole shares
/// to the units of a partial one.
pub fn build_quarterly_report(input: &ReportInput<'_>) -> QuarterlyReport {
    let root = &input.units[0];
    let this_quarter = Quarter {
        year: input.year,
        quarter: input.quarter,
    };
    let as_of = this_quarter
        .next()
        .first_day()
        .pred_opt()
        .unwrap_or(this_quarter.first_day());
    let by_code: HashMap<&str, &OrgUnit> = input.units.iter().map(|u| (u.code.as_str(), u)).collect();
    let mut children: HashMap<&str, Vec<&OrgUnit>> = HashMap::new();
    for u in &input.units[1..] {
        if let Some(p) = &u.parent_code {
            children.entry(p.as_str()).or_default().push(u);
        }
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| a.code.cmp(&b.code));
    }
    // Old code → the report's communes that took it over.
    let mut successors: HashMap<&str, Vec<(&str, MergeKind)>> = HashMap::new();
    for u in input.units.iter().filter(|u| u.level == Level::Commune) {
        for f in &u.former_units {
            successors
                .entry(f.code.as_str())
                .or_default()
                .push((u.code.as_str(), f.merge));
        }
    }

    // Tallies into the report's communes.
    let mut commune_sums: HashMap<&str, Sums> = HashMap::new();
    let mut unattributed: BTreeMap<(String, u8, String), i64> = BTreeMap::new();
    let mut custom_metrics: BTreeSet<String> = BTreeSet::new();
    for t in input
        .tallies
        .iter()
        .filter(|t| t.key.quarter.year == input.year && t.key.quarter.quarter <= input.quarter)
    {
        let q = t.key.quarter;
        let in_quarter = q.quarter == input.quarter;
        let quarter_last_day = q.next().first_day().pred_opt().unwrap_or(q.first_day());
        if !REPORT_METRICS
            .iter()
            .any(|m| m.key == t.key.metric || m.parts.is_some_and(|(n, d)| n == t.key.metric || d == t.key.metric))
            && !crate::outcome::ATTENDANCE_METRICS.contains(&t.key.metric.as_str())
            && t.key.metric != crate::outcome::SESSIONS_REPORTED
        {
            custom_metrics.insert(t.key.metric.clone());
        }
        let existed = by_code
            .get(t.key.unit_code.as_str())
            .is_some_and(|u| u.level == Level::Commune && u.valid_from.is_none_or(|f| f <= quarter_last_day));
        if existed {
            commune_sums
                .entry(by_code[t.key.unit_code.as_str()].code.as_str())
                .or_default()
                .add(&t.key.metric, t.value, in_quarter);
            continue;
        }
        match successors.get(t.key.unit_code.as_str()) {
            Some(to) => {
                let n = to.len() as i64;
                let (base, extra) = (t.value.div_euclid(n), t.value.rem_euclid(n));
                for (i, (code, _)) in to.iter().enumerate() {
                    let share = base + i64::from((i as i64) < extra);
                    commune_sums
                        .entry(code)
                        .or_default()
                        .add(&t.key.metric, share, in_quarter);
                }
            }
            None => {
                *unattributed
                    .entry((t.key.unit_code.clone(), q.quarter, t.key.metric.clone()))
                    .or_default() += t.value;
            }
        }
    }

    // Roll up: a unit's sums are its communes' sums (a commune's are its own).
    fn roll_up<'a>(
        unit: &'a OrgUnit,
        children: &HashMap<&str, Vec<&'a OrgUnit>>,
        commune_sums: &HashMap<&str, Sums>,
        out: &mut HashMap<&'a str, Sums>,
    ) -> Sums {
        let mut sums = commune_sums.get(unit.code.as_str()).cloned().unwrap_or_default();
        for child in children.get(unit.code.as_str()).into_iter().flatten() {
            let s = roll_up(child, children, commune_sums, out);
            sums.add_all(&s);
        }
        out.insert(unit.code.as_str(), sums.clone());
        sums
    }
    let mut unit_sums: HashMap<&str, Sums> = HashMap::new();
    roll_up(root, &children, &commune_sums, &mut unit_sums);

    // Targets: a unit's own; else a count adds up its children's (when each has one) and a
    // ratio holds its parent's.
    let own: HashMap<(&str, &str), &TargetPlan> = input
        .targets
        .iter()
        .filter(|t| t.year == input.year)
        .map(|t| ((t.org_code.as_str(), t.metric.as_str()), t))
        .collect();
    for t in input.targets.iter().filter(|t| t.year == input.year) {
        if crate::outcome::report_metric(&t.metric).is_none() {
            custom_metrics.insert(t.metric.clone());
        }
    }
    let mut metrics: Vec<ReportedMetric> = REPORT_METRICS
        .iter()
        .map(|m| (m.key.to_string(), m.kind, m.parts))
        .collect();
    metrics.extend(custom_metrics.into_iter().map(|m| (m, MetricKind::Count, None)));

    let mut order = Vec::new();
    fn walk<'a>(unit: &'a OrgUnit, children: &HashMap<&str, Vec<&'a OrgUnit>>, order: &mut Vec<&'a OrgUnit>) {
        order.push(unit);
        for child in children.get(unit.code.as_str()).into_iter().flatten() {
            walk(child, children, order);
        }
    }
    walk(root, &children, &mut order);

    let mut rows = Vec::new();
    for (metric, kind, parts) in &metrics {
        let mut effective: HashMap<&str, (f64, [f64; 4])> = HashMap::new();
        match kind {
            MetricKind::Count => {
                for unit in order.iter().rev() {
                    let t = own
                        .get(&(unit.code.as_str(), metric.as_str()))
                        .map(|t| (t.value, t.milestones));
                    let t = t.or_else(|| {
                        let kids = children.get(unit.code.as_str())?;
                        let all: Option<Vec<(f64, [f64; 4])>> =
                            kids.iter().map(|k| effective.get(k.code.as_str()).copied()).collect();
                        let all = all?;
                        let total: f64 = all.iter().map(|(v, _)| v).sum();
                        // The children's milestones, weighted by their targets.
                        let mut m = [0.0; 4];
                        for (v, ms) in &all {
                            for q in 0..4 {
                                m[q] += if total > 0.0 {
                                    v * ms[q] / total
                                } else {
                                    DEFAULT_COUNT_MILESTONES[q] / all.len() as f64
                                };
                            }
                        }
                        Some((total, m))
                    });
                    if let Some(t) = t {
                        effective.insert(unit.code.as_str(), t);
                    }
                }
            }
            MetricKind::Ratio => {
                for unit in &order {
                    let t = own
                        .get(&(unit.code.as_str(), metric.as_str()))
                        .map(|t| (t.value, t.milestones))
                        .or_else(|| unit.parent_code.as_deref().and_then(|p| effective.get(p).copied()));
                    if let Some(t) = t {
                        effective.insert(unit.code.as_str(), t);
                    }
                }
            }
        }
        for unit in &order {
            let sums = &unit_sums[unit.code.as_str()];
            let get = |map: &BTreeMap<String, i64>, m: &str| map.get(m).copied().unwrap_or(0);
            let target = effective.get(unit.code.as_str()).copied();
            let milestone = target.map(|(v, m)| v * m[usize::from(input.quarter - 1)]);
            let mut row = ReportRow {
                code: unit.code.clone(),
                name: unit.name.clone(),
                level: unit.level,
                parent_code: if unit.code == root.code {
                    None
                } else {
                    unit.parent_code.clone()
                },
                metric: metric.clone(),
                kind: *kind,
                quarter_value: None,
                ytd_value: None,
                quarter_numerator: None,
                quarter_denominator: None,
                ytd_numerator: None,
                ytd_denominator: None,
                target: target.map(|(v, _)| v),
                milestone,
                percent_of_milestone: None,
                status: None,
            };
            match parts {
                None => {
                    row.quarter_value = Some(get(&sums.quarter, metric) as f64);
                    row.ytd_value = Some(get(&sums.ytd, metric) as f64);
                }
                Some((n, d)) => {
                    let (qn, qd) = (get(&sums.quarter, n), get(&sums.quarter, d));
                    let (yn, yd) = (get(&sums.ytd, n), get(&sums.ytd, d));
                    row.quarter_numerator = Some(qn);
                    row.quarter_denominator = Some(qd);
                    row.ytd_numerator = Some(yn);
                    row.ytd_denominator = Some(yd);
                    row.quarter_value = (qd > 0).then(|| qn as f64 / qd as f64);
                    row.ytd_value = (yd > 0).then(|| yn as f64 / yd as f64);
                }
            }
            if let Some(milestone) = milestone {
                match row.ytd_value {
                    None => row.status = Some(Status::NoData),
                    Some(_) if milestone <= 0.0 => row.status = Some(Status::OnTrack),
                    Some(v) => {
                        let percent = v / milestone * 100.0;
                        row.percent_of_milestone = Some(percent);
                        row.status = Some(Status::of_percent(percent));
                    }
                }
            }
            rows.push(row);
        }
    }
    // Units first, then metrics, so a unit's figures sit together.
    let position: HashMap<&str, usize> = order.iter().enumerate().map(|(i, u)| (u.code.as_str(), i)).collect();
    let metric_position: HashMap<&str, usize> = metrics.iter().enumerate().map(|(i, m)| (m.0.as_str(), i)).collect();
    rows.sort_by_key(|r| (position[r.code.as_str()], metric_position[r.metric.as_str()]));
    let spend = spend_rows(root, &order, &children, input.delivery_tallies);

    QuarterlyReport {
        org_code: root.code.clone(),
        org_name: root.name.clone(),
        year: input.year,
        quarter: input.quarter,
        as_of,
        generated_at: input.generated_at,
        tallies_read: input.tallies.len() + input.delivery_tallies.len(),
        rows,
        unattributed: unattributed
            .into_iter()
            .map(|((unit_code, quarter, metric), value)| Unattributed {
                unit_code,
                quarter,
                metric,
                value,
            })
            .collect(),
        spend,
    }
}

/// Spend per unit of `order` and channel: each commune's own tallies, summed up the tree.
fn spend_rows(
    root: &OrgUnit,
    order: &[&OrgUnit],
    children: &HashMap<&str, Vec<&OrgUnit>>,
    tallies: &[DeliveryTally],
) -> Vec<SpendRow> {
    /// messages, segments, cost, fallbacks.
    type Sum = [u64; 4];
    let index = |c: Channel| SPEND_CHANNELS.iter().position(|&x| x == c).unwrap_or(0);
    let mut own: HashMap<&str, [Sum; 3]> = HashMap::new();
    for t in tallies {
        let sums = own.entry(t.key.commune_code.as_str()).or_default();
        let sum = &mut sums[index(t.key.carried_by)];
        // Failed and suppressed deliveries cost nothing, but their cost is added all the
        // same so the spend is the delivery log's to the thousandth of a đồng.
        sum[2] += t.cost_milli_vnd;
        if matches!(t.key.status, DeliveryStatus::Sent | DeliveryStatus::Uncertain) {
            sum[0] += t.count;
            sum[1] += t.segments;
            if t.key.channel == Channel::Zns && t.key.carried_by == Channel::Sms {
                sum[3] += t.count;
            }
        }
    }
    fn total<'a>(
        unit: &'a OrgUnit,
        children: &HashMap<&str, Vec<&'a OrgUnit>>,
        own: &HashMap<&str, [Sum; 3]>,
        out: &mut HashMap<&'a str, [Sum; 3]>,
    ) -> [Sum; 3] {
        let mut sums = if unit.level == Level::Commune {
            own.get(unit.code.as_str()).copied().unwrap_or_default()
        } else {
            [Sum::default(); 3]
        };
        for child in children.get(unit.code.as_str()).into_iter().flatten() {
            let s = total(child, children, own, out);
            for (a, b) in sums.iter_mut().zip(s) {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
            }
        }
        out.insert(unit.code.as_str(), sums);
        sums
    }
    let mut totals = HashMap::new();
    total(root, children, &own, &mut totals);
    let mut rows = Vec::with_capacity(order.len() * SPEND_CHANNELS.len());
    for unit in order {
        let sums = totals.get(unit.code.as_str()).copied().unwrap_or_default();
        for (channel, [messages, segments, cost, fallbacks]) in SPEND_CHANNELS.into_iter().zip(sums) {
            rows.push(SpendRow {
                code: unit.code.clone(),
                name: unit.name.clone(),
                level: unit.level,
                parent_code: if unit.code == root.code {
                    None
                } else {
                    unit.parent_code.clone()
                },
                channel,
                messages,
                segments,
                cost_milli_vnd: cost,
                cost_vnd: vnd(cost),
                zns_fallbacks: fallbacks,
            });
        }
    }
    rows
}
