//! The quarterly report: year-to-date and quarter figures per unit against the targets,
//! rolled up commune → district → province from the running tallies alone, and the
//! snapshots that freeze it.

use std::collections::{BTreeMap, BTreeSet};

// Keys are unit codes and metric names from the store, not chosen by a caller: SipHash's
// defence against chosen keys buys nothing here, and hashing was a tenth of a report page.
use rustc_hash::FxHashMap as HashMap;

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

crate::named_enum!(Status {
    OnTrack => "on_track",
    AtRisk => "at_risk",
    Behind => "behind",
    NoData => "no_data",
});

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

/// Sums of one unit: per metric (by its index in `Attributed::metrics`), the quarter's and
/// the year-to-date totals.
#[derive(Debug, Default, Clone)]
struct Sums {
    quarter: Vec<i64>,
    ytd: Vec<i64>,
}

impl Sums {
    fn zero(metrics: usize) -> Self {
        Self {
            quarter: vec![0; metrics],
            ytd: vec![0; metrics],
        }
    }

    fn add(&mut self, metric: usize, value: i64, in_quarter: bool) {
        self.ytd[metric] += value;
        if in_quarter {
            self.quarter[metric] += value;
        }
    }

    fn add_all(&mut self, other: &Sums) {
        for (a, b) in self.quarter.iter_mut().zip(&other.quarter) {
            *a += b;
        }
        for (a, b) in self.ytd.iter_mut().zip(&other.ytd) {
            *a += b;
        }
    }
}

/// The units of a report as a tree: by code, and each unit's children ordered by code.
struct Tree<'a> {
    by_code: HashMap<&'a str, &'a OrgUnit>,
    children: HashMap<&'a str, Vec<&'a OrgUnit>>,
}

impl<'a> Tree<'a> {
    fn new(units: &'a [OrgUnit]) -> Self {
        let by_code: HashMap<&str, &OrgUnit> = units.iter().map(|u| (u.code.as_str(), u)).collect();
        let mut children: HashMap<&str, Vec<&OrgUnit>> = HashMap::default();
        for u in &units[1..] {
            if let Some(p) = &u.parent_code {
                children.entry(p.as_str()).or_default().push(u);
            }
        }
        for list in children.values_mut() {
            list.sort_by(|a, b| a.code.cmp(&b.code));
        }
        Self { by_code, children }
    }

    /// The units in the order of the report: each unit, then the units under it.
    fn order(&self, root: &'a OrgUnit) -> Vec<&'a OrgUnit> {
        fn walk<'a>(unit: &'a OrgUnit, children: &HashMap<&str, Vec<&'a OrgUnit>>, order: &mut Vec<&'a OrgUnit>) {
            order.push(unit);
            for child in children.get(unit.code.as_str()).into_iter().flatten() {
                walk(child, children, order);
            }
        }
        let mut order = Vec::new();
        walk(root, &self.children, &mut order);
        order
    }
}

/// The tallies of a report counted into its communes.
struct Attributed<'a> {
    /// The metrics of the tallies counted, in the order first met.
    metrics: Vec<&'a str>,
    index: HashMap<&'a str, usize>,
    commune_sums: HashMap<&'a str, Sums>,
    unattributed: BTreeMap<(String, u8, String), i64>,
    /// Metrics of the tallies that are neither reported nor parts of a reported one.
    custom_metrics: BTreeSet<String>,
}

impl Attributed<'_> {
    /// A metric's total in `sums` (0 for a metric no tally counted).
    fn get(&self, sums: &[i64], metric: &str) -> i64 {
        self.index.get(metric).map_or(0, |&i| sums[i])
    }
}

/// Count the tallies of the year through `input.quarter` that `keep` keeps into the
/// report's communes.
///
/// Figures are counted under the unit that existed in the tally's quarter; a tally of an
/// earlier quarter kept under a unit that no longer exists (the 2025 reform) goes to the
/// units that took it over (`former_units`): whole to a full merge, in equal whole shares
/// to the units of a partial one.
fn attribute<'a>(input: &ReportInput<'a>, tree: &Tree<'a>, keep: impl Fn(&Tally) -> bool) -> Attributed<'a> {
    // Old code → the report's communes that took it over.
    let mut successors: HashMap<&str, Vec<(&str, MergeKind)>> = HashMap::default();
    for u in input.units.iter().filter(|u| u.level == Level::Commune) {
        for f in &u.former_units {
            successors
                .entry(f.code.as_str())
                .or_default()
                .push((u.code.as_str(), f.merge));
        }
    }
    let tallies: Vec<&'a Tally> = input
        .tallies
        .iter()
        .filter(|t| t.key.quarter.year == input.year && t.key.quarter.quarter <= input.quarter && keep(t))
        .collect();
    let mut metrics: Vec<&'a str> = Vec::new();
    let mut index: HashMap<&'a str, usize> = HashMap::default();
    let mut custom_metrics: BTreeSet<String> = BTreeSet::new();
    for t in &tallies {
        let metric = t.key.metric.as_str();
        if index.contains_key(metric) {
            continue;
        }
        index.insert(metric, metrics.len());
        metrics.push(metric);
        if !REPORT_METRICS
            .iter()
            .any(|m| m.key == metric || m.parts.is_some_and(|(n, d)| n == metric || d == metric))
            && !crate::outcome::ATTENDANCE_METRICS.contains(&metric)
            && metric != crate::outcome::SESSIONS_REPORTED
        {
            custom_metrics.insert(metric.to_string());
        }
    }

    let mut commune_sums: HashMap<&'a str, Sums> = HashMap::default();
    let mut unattributed: BTreeMap<(String, u8, String), i64> = BTreeMap::new();
    // The last day of each quarter of the year.
    let last_days: Vec<NaiveDate> = (1..=4)
        .map(|quarter| {
            let q = Quarter {
                year: input.year,
                quarter,
            };
            q.next().first_day().pred_opt().unwrap_or(q.first_day())
        })
        .collect();
    for t in tallies {
        let q = t.key.quarter;
        let in_quarter = q.quarter == input.quarter;
        let quarter_last_day = match q.quarter {
            1..=4 => last_days[usize::from(q.quarter - 1)],
            _ => q.next().first_day().pred_opt().unwrap_or(q.first_day()),
        };
        let metric = index[t.key.metric.as_str()];
        let unit = tree
            .by_code
            .get(t.key.unit_code.as_str())
            .filter(|u| u.level == Level::Commune && u.valid_from.is_none_or(|f| f <= quarter_last_day));
        if let Some(unit) = unit {
            commune_sums
                .entry(unit.code.as_str())
                .or_insert_with(|| Sums::zero(metrics.len()))
                .add(metric, t.value, in_quarter);
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
                        .or_insert_with(|| Sums::zero(metrics.len()))
                        .add(metric, share, in_quarter);
                }
            }
            None => {
                *unattributed
                    .entry((String::from(&t.key.unit_code), q.quarter, t.key.metric.clone()))
                    .or_default() += t.value;
            }
        }
    }
    Attributed {
        metrics,
        index,
        commune_sums,
        unattributed,
        custom_metrics,
    }
}

/// The quarter's own figure (not the year to date) of one metric for `input.units[0]`:
/// the `quarter_value` of its row in `build_quarterly_report(input)`, read from the
/// tallies of that metric (or of its parts) in that quarter alone, without the report.
pub fn quarter_value(input: &ReportInput<'_>, metric: &str) -> Option<f64> {
    let root = &input.units[0];
    let tree = Tree::new(input.units);
    let parts = crate::outcome::report_metric(metric).and_then(|m| m.parts);
    let wanted = |m: &str| match parts {
        None => m == metric,
        Some((n, d)) => m == n || m == d,
    };
    let attributed = attribute(input, &tree, |t| {
        t.key.quarter.quarter == input.quarter && wanted(&t.key.metric)
    });
    let mut total = Sums::zero(attributed.metrics.len());
    for unit in tree.order(root) {
        if let Some(s) = attributed.commune_sums.get(unit.code.as_str()) {
            total.add_all(s);
        }
    }
    match parts {
        None => Some(attributed.get(&total.quarter, metric) as f64),
        Some((n, d)) => {
            let (qn, qd) = (attributed.get(&total.quarter, n), attributed.get(&total.quarter, d));
            (qd > 0).then(|| qn as f64 / qd as f64)
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
    let tree = Tree::new(input.units);
    let children = &tree.children;

    // 1. Tallies into the report's communes, then up the tree.
    let mut attributed = attribute(input, &tree, |_| true);
    let mut unit_sums: HashMap<&str, Sums> = HashMap::default();
    roll_up(
        root,
        children,
        &attributed.commune_sums,
        attributed.metrics.len(),
        &mut unit_sums,
    );

    // 2. The metrics shown, and each unit's targets.
    let own: HashMap<(&str, &str), &TargetPlan> = input
        .targets
        .iter()
        .filter(|t| t.year == input.year)
        .map(|t| ((t.org_code.as_str(), t.metric.as_str()), t))
        .collect();
    let metrics = reported_metrics(input, std::mem::take(&mut attributed.custom_metrics));
    let order = tree.order(root);

    // 3. A row per unit and metric: units first, then metrics, so a unit's figures sit
    //    together.
    let position: HashMap<&str, usize> = order.iter().enumerate().map(|(i, u)| (u.code.as_str(), i)).collect();
    let mut rows: Vec<((usize, usize), ReportRow)> = Vec::with_capacity(order.len() * metrics.len());
    for (metric_position, metric) in metrics.iter().enumerate() {
        let effective = effective_targets(metric, &order, children, &own);
        for unit in &order {
            let sums = &unit_sums[unit.code.as_str()];
            let target = effective.get(unit.code.as_str()).copied();
            let row = report_row(unit, root, metric, sums, &attributed, target, input.quarter);
            rows.push(((position[unit.code.as_str()], metric_position), row));
        }
    }
    rows.sort_by_key(|(place, _)| *place);
    let rows: Vec<ReportRow> = rows.into_iter().map(|(_, row)| row).collect();

    // 4. What the messages cost.
    let spend = spend_rows(root, &order, children, input.delivery_tallies);

    QuarterlyReport {
        org_code: String::from(&root.code),
        org_name: root.name.clone(),
        year: input.year,
        quarter: input.quarter,
        as_of,
        generated_at: input.generated_at,
        tallies_read: input.tallies.len() + input.delivery_tallies.len(),
        rows,
        unattributed: attributed
            .unattributed
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

/// Roll up: a unit's sums are its communes' sums (a commune's are its own), kept in `out`
/// for every unit of the subtree.
fn roll_up<'a>(
    unit: &'a OrgUnit,
    children: &HashMap<&str, Vec<&'a OrgUnit>>,
    commune_sums: &HashMap<&str, Sums>,
    metrics: usize,
    out: &mut HashMap<&'a str, Sums>,
) -> Sums {
    let mut sums = commune_sums
        .get(unit.code.as_str())
        .cloned()
        .unwrap_or_else(|| Sums::zero(metrics));
    for child in children.get(unit.code.as_str()).into_iter().flatten() {
        let s = roll_up(child, children, commune_sums, metrics, out);
        sums.add_all(&s);
    }
    out.insert(unit.code.as_str(), sums.clone());
    sums
}

/// The report's metrics, then the planner's own that a tally or a target of the year names.
fn reported_metrics(input: &ReportInput<'_>, mut custom: BTreeSet<String>) -> Vec<ReportedMetric> {
    for t in input.targets.iter().filter(|t| t.year == input.year) {
        if crate::outcome::report_metric(&t.metric).is_none() {
            custom.insert(t.metric.clone());
        }
    }
    let mut metrics: Vec<ReportedMetric> = REPORT_METRICS
        .iter()
        .map(|m| (m.key.to_string(), m.kind, m.parts))
        .collect();
    metrics.extend(custom.into_iter().map(|m| (m, MetricKind::Count, None)));
    metrics
}

/// Each unit's target of one metric with its milestones: the unit's own; else a count adds
/// up its children's (when each has one, milestones weighted by their targets) and a ratio
/// holds its parent's.
fn effective_targets<'a>(
    (metric, kind, _): &ReportedMetric,
    order: &[&'a OrgUnit],
    children: &HashMap<&str, Vec<&'a OrgUnit>>,
    own: &HashMap<(&str, &str), &TargetPlan>,
) -> HashMap<&'a str, (f64, [f64; 4])> {
    let mut effective: HashMap<&str, (f64, [f64; 4])> = HashMap::default();
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
            for unit in order {
                let t = own
                    .get(&(unit.code.as_str(), metric.as_str()))
                    .map(|t| (t.value, t.milestones))
                    .or_else(|| {
                        unit.parent_code
                            .as_ref()
                            .and_then(|p| effective.get(p.as_str()).copied())
                    });
                if let Some(t) = t {
                    effective.insert(unit.code.as_str(), t);
                }
            }
        }
    }
    effective
}

/// A unit's parent as the report names it: none for the unit the report is of, which heads
/// it whatever its own parent.
fn parent_in_report(unit: &OrgUnit, root: &OrgUnit) -> Option<String> {
    if unit.code == root.code {
        None
    } else {
        unit.parent_code.as_ref().map(String::from)
    }
}

/// One unit's row of one metric: the quarter's and the year's figures (a ratio's parts
/// summed, then divided), the target, the milestone due by the quarter's end and the status.
fn report_row(
    unit: &OrgUnit,
    root: &OrgUnit,
    (metric, kind, parts): &ReportedMetric,
    sums: &Sums,
    attributed: &Attributed<'_>,
    target: Option<(f64, [f64; 4])>,
    quarter: u8,
) -> ReportRow {
    let get = |sums: &[i64], m: &str| attributed.get(sums, m);
    let milestone = target.map(|(v, m)| v * m[usize::from(quarter - 1)]);
    let mut row = ReportRow {
        code: String::from(&unit.code),
        name: unit.name.clone(),
        level: unit.level,
        parent_code: parent_in_report(unit, root),
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
    row
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
    let mut own: HashMap<&str, [Sum; 3]> = HashMap::default();
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
    let mut totals = HashMap::default();
    total(root, children, &own, &mut totals);
    let mut rows = Vec::with_capacity(order.len() * SPEND_CHANNELS.len());
    for unit in order {
        let sums = totals.get(unit.code.as_str()).copied().unwrap_or_default();
        for (channel, [messages, segments, cost, fallbacks]) in SPEND_CHANNELS.into_iter().zip(sums) {
            rows.push(SpendRow {
                code: String::from(&unit.code),
                name: unit.name.clone(),
                level: unit.level,
                parent_code: parent_in_report(unit, root),
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
