//! What happened at a session (who attended, what was achieved) and the running tallies
//! per (commune, quarter, metric) that reports read instead of the raw records.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::contact::ContactRole;
use crate::error::{CoreError, CoreResult};
use crate::ids::{CampaignId, ContactId, SessionId, UnitCode};
use crate::quarter::Quarter;

/// Outcome counts the programme tracks; planners may record further metrics of their own.
pub const OUTCOME_METRICS: [&str; 4] = [
    "dossiers_supported",
    "accounts_created",
    "youth_trained",
    "cadres_trained",
];
/// Official statistics per commune and quarter, which do not come from sessions.
pub const OFFICIAL_STATISTICS: [&str; 4] = [
    "dossiers_online",
    "dossiers_total",
    "services_publicized",
    "services_total",
];
/// Tallies computed from attendance lists, and from the answers of the citizens a session's
/// reminders asked whether they would come, taken with the attendance.
pub const ATTENDANCE_METRICS: [&str; 7] = [
    "attendees",
    "citizens_attended",
    "volunteers_attended",
    "walk_ins",
    "citizens_asked",
    "citizens_confirmed",
    "confirmed_absent",
];
/// Most outcome metrics one session may carry (each is one tally write).
pub const MAX_OUTCOME_METRICS: usize = 40;
/// Most attendees one session may list.
pub const MAX_ATTENDEES: usize = 5_000;
/// Largest count one metric of one session may carry.
pub const MAX_OUTCOME_VALUE: u64 = 1_000_000;

/// How a metric adds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Adds up across communes and quarters.
    Count,
    /// A numerator over a denominator, each added up, divided once.
    Ratio,
}

/// A metric a report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub key: &'static str,
    /// The Vietnamese label of report headers.
    pub label: &'static str,
    pub kind: MetricKind,
    /// For a ratio: the count metrics divided.
    pub parts: Option<(&'static str, &'static str)>,
    /// Whether a year's target may be set for it: not for the figures that describe how
    /// sessions went (a no-show rate is better lower; the status reads higher as better).
    pub takes_target: bool,
}

/// The metrics every report shows, in order: the programme's, then accounts and attendance.
pub const REPORT_METRICS: [Metric; 10] = [
    Metric {
        key: "dossiers_supported",
        label: "Hồ sơ trực tuyến được hỗ trợ",
        kind: MetricKind::Count,
        parts: None,
        takes_target: true,
    },
    Metric {
        key: "youth_trained",
        label: "Lượt đoàn viên thanh niên được tập huấn",
        kind: MetricKind::Count,
        parts: None,
        takes_target: true,
    },
    Metric {
        key: "cadres_trained",
        label: "Cán bộ, đoàn viên nòng cốt được tập huấn",
        kind: MetricKind::Count,
        parts: None,
        takes_target: true,
    },
    Metric {
        key: "accounts_created",
        label: "Tài khoản được tạo",
        kind: MetricKind::Count,
        parts: None,
        takes_target: true,
    },
    Metric {
        key: "attendees",
        label: "Lượt người tham dự",
        kind: MetricKind::Count,
        parts: None,
        takes_target: true,
    },
    Metric {
        key: "online_dossier_ratio",
        label: "Tỷ lệ hồ sơ trực tuyến mức độ 3, 4",
        kind: MetricKind::Ratio,
        parts: Some(("dossiers_online", "dossiers_total")),
        takes_target: true,
    },
    Metric {
        key: "services_publicized_ratio",
        label: "Tỷ lệ dịch vụ công mức độ 3, 4 được tuyên truyền",
        kind: MetricKind::Ratio,
        parts: Some(("services_publicized", "services_total")),
        takes_target: true,
    },
    Metric {
        key: "confirmation_rate",
        label: "Tỷ lệ người được hỏi xác nhận sẽ đến",
        kind: MetricKind::Ratio,
        parts: Some(("citizens_confirmed", "citizens_asked")),
        takes_target: false,
    },
    Metric {
        key: "no_show_rate",
        label: "Tỷ lệ xác nhận nhưng không đến",
        kind: MetricKind::Ratio,
        parts: Some(("confirmed_absent", "citizens_confirmed")),
        takes_target: false,
    },
    Metric {
        key: "walk_in_share",
        label: "Tỷ lệ người dân đến không đăng ký trước",
        kind: MetricKind::Ratio,
        parts: Some(("walk_ins", "citizens_attended")),
        takes_target: false,
    },
];

/// The metric with this key among the report's metrics.
pub fn report_metric(key: &str) -> Option<&'static Metric> {
    REPORT_METRICS.iter().find(|m| m.key == key)
}

/// Check a planner-defined metric key: lower-case letters, digits and `_`, not a name the
/// system computes or takes from official statistics.
pub fn check_outcome_metric(key: &str, field: &str) -> CoreResult<()> {
    let well_formed = !key.is_empty()
        && key.len() <= 40
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        return Err(CoreError::invalid(
            field,
            format!("metric {key:?} must be 1–40 characters of a–z, 0–9 and _, starting with a letter"),
        ));
    }
    if ATTENDANCE_METRICS.contains(&key)
        || key == SESSIONS_REPORTED
        || OFFICIAL_STATISTICS.contains(&key)
        || report_metric(key).is_some_and(|m| m.kind == MetricKind::Ratio)
    {
        return Err(CoreError::invalid(
            field,
            format!("{key} is computed from attendance or official statistics, not recorded as a session outcome"),
        ));
    }
    Ok(())
}

/// One person on a session's attendance list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attendee {
    #[schema(value_type = String)]
    pub contact_id: ContactId,
    pub role: ContactRole,
    /// Came without registering: registered as a contact (without consent) when recorded.
    #[serde(default)]
    pub walk_in: bool,
}

/// What was recorded for one session: its attendance list and outcome counts, and the
/// tally key they were counted under (so a correction takes back exactly what was added).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionRecord {
    #[schema(value_type = String)]
    pub session_id: SessionId,
    #[schema(value_type = String)]
    pub campaign_id: CampaignId,
    #[schema(value_type = String)]
    pub commune_code: UnitCode,
    /// The local quarter of the session's start.
    pub quarter: Quarter,
    pub attendees: Vec<Attendee>,
    pub outcomes: BTreeMap<String, u64>,
    /// What the citizens asked whether they would come had answered when the record was
    /// last written (answers close at the start, so a record written after it has the
    /// final figures).
    #[serde(default)]
    pub answers: AnswerFigures,
    pub attendance_recorded_at: Option<DateTime<Utc>>,
    pub outcomes_recorded_at: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// The citizens a session's reminders asked whether they would come and what they said,
/// beside its attendance: counts only, no one's answer (those stay in the answer store and
/// go with the person's erasure).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnswerFigures {
    /// Citizens a reminder that asks was sent to.
    pub asked: u32,
    /// Of those, the ones whose latest answer was that they will come.
    pub confirmed: u32,
    /// Of the confirmed, the ones on the attendance list.
    pub confirmed_present: u32,
}

impl AnswerFigures {
    /// The figures of `asked` citizens, `confirmed` of whom said they will come, against
    /// the attendance list.
    pub fn of(asked: u32, confirmed: &HashSet<ContactId>, attendees: &[Attendee]) -> Self {
        Self {
            asked,
            confirmed: confirmed.len() as u32,
            confirmed_present: attendees.iter().filter(|a| confirmed.contains(&a.contact_id)).count() as u32,
        }
    }
}

/// The tally of sessions that recorded attendance or outcomes, per commune and quarter.
pub const SESSIONS_REPORTED: &str = "sessions_reported";

impl SessionRecord {
    /// The values this record adds to its commune's tallies.
    pub fn tally_values(&self) -> BTreeMap<String, i64> {
        let mut values = BTreeMap::new();
        if self.attendance_recorded_at.is_some() || self.outcomes_recorded_at.is_some() {
            // Sessions that reported anything: what a per-session average divides by.
            values.insert(SESSIONS_REPORTED.to_string(), 1);
        }
        if self.attendance_recorded_at.is_some() {
            let count = |f: &dyn Fn(&Attendee) -> bool| self.attendees.iter().filter(|a| f(a)).count() as i64;
            values.insert("attendees".to_string(), self.attendees.len() as i64);
            values.insert(
                "citizens_attended".to_string(),
                count(&|a| a.role == ContactRole::Citizen),
            );
            values.insert(
                "volunteers_attended".to_string(),
                count(&|a| a.role == ContactRole::Volunteer),
            );
            values.insert("walk_ins".to_string(), count(&|a| a.walk_in));
            if self.answers.asked > 0 {
                let a = &self.answers;
                values.insert("citizens_asked".to_string(), a.asked.into());
                values.insert("citizens_confirmed".to_string(), a.confirmed.into());
                values.insert(
                    "confirmed_absent".to_string(),
                    i64::from(a.confirmed.saturating_sub(a.confirmed_present)),
                );
            }
        }
        for (metric, value) in &self.outcomes {
            values.insert(metric.clone(), *value as i64);
        }
        values
    }

    /// Check the attendance list: each contact at most once, within the limit.
    pub fn check_attendees(attendees: &[Attendee]) -> CoreResult<()> {
        if attendees.len() > MAX_ATTENDEES {
            return Err(CoreError::invalid(
                "attendees",
                format!("at most {MAX_ATTENDEES} attendees a session, got {}", attendees.len()),
            ));
        }
        let mut seen = HashSet::new();
        for (i, a) in attendees.iter().enumerate() {
            if !seen.insert(a.contact_id.as_str()) {
                return Err(CoreError::invalid(
                    format!("attendees[{i}]"),
                    "this contact is already on the list",
                ));
            }
        }
        Ok(())
    }

    /// Check outcome counts: known or well-formed metric keys, bounded values.
    pub fn check_outcomes(outcomes: &BTreeMap<String, u64>) -> CoreResult<()> {
        if outcomes.len() > MAX_OUTCOME_METRICS {
            return Err(CoreError::invalid(
                "metrics",
                format!("at most {MAX_OUTCOME_METRICS} metrics a session"),
            ));
        }
        for (metric, value) in outcomes {
            let field = format!("metrics.{metric}");
            check_outcome_metric(metric, &field)?;
            if *value > MAX_OUTCOME_VALUE {
                return Err(CoreError::invalid(
                    field,
                    format!("{value} is more than one session can achieve (at most {MAX_OUTCOME_VALUE})"),
                ));
            }
        }
        Ok(())
    }
}

/// A running total: one metric of one commune in one quarter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TallyKey {
    pub unit_code: UnitCode,
    pub quarter: Quarter,
    pub metric: String,
}

/// A tally's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub key: TallyKey,
    pub value: i64,
}

/// A year's tallies from its first quarter through one, as the store read them: shared with
/// the store's cache, not copied (a province's year is some ten thousand tallies, read on
/// every report and overview page).
#[derive(Debug, Clone, Default)]
pub struct YearTallies {
    all: std::sync::Arc<Vec<Tally>>,
    len: usize,
}

impl YearTallies {
    /// The first `len` tallies of `all` (all of them when `len` is larger).
    pub fn shared(all: std::sync::Arc<Vec<Tally>>, len: usize) -> Self {
        let len = len.min(all.len());
        Self { all, len }
    }
}

impl From<Vec<Tally>> for YearTallies {
    fn from(all: Vec<Tally>) -> Self {
        let len = all.len();
        Self::shared(std::sync::Arc::new(all), len)
    }
}

impl std::ops::Deref for YearTallies {
    type Target = [Tally];

    fn deref(&self) -> &[Tally] {
        &self.all[..self.len]
    }
}

impl<const N: usize> PartialEq<[Tally; N]> for YearTallies {
    fn eq(&self, other: &[Tally; N]) -> bool {
        **self == other[..]
    }
}

/// A change to apply to a tally, in the same transaction as the record that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyDelta {
    pub key: TallyKey,
    pub delta: i64,
}

/// What replacing `old` by `new` changes in the tallies: the new values added under the
/// new record's key, the old ones taken back under the old key, zero changes left out.
pub fn tally_deltas(old: Option<&SessionRecord>, new: &SessionRecord) -> Vec<TallyDelta> {
    let mut deltas: BTreeMap<TallyKey, i64> = BTreeMap::new();
    if let Some(old) = old {
        for (metric, value) in old.tally_values() {
            let key = TallyKey {
                unit_code: old.commune_code.clone(),
                quarter: old.quarter,
                metric,
            };
            *deltas.entry(key).or_default() -= value;
        }
    }
    for (metric, value) in new.tally_values() {
        let key = TallyKey {
            unit_code: new.commune_code.clone(),
            quarter: new.quarter,
            metric,
        };
        *deltas.entry(key).or_default() += value;
    }
    deltas
        .into_iter()
        .filter(|(_, d)| *d != 0)
        .map(|(key, delta)| TallyDelta { key, delta })
        .collect()
}

/// Official statistics of one commune for one quarter (entered or imported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OfficialStatistics {
    #[schema(value_type = String)]
    pub commune_code: UnitCode,
    pub year: i32,
    pub quarter: u8,
    pub dossiers_online: u64,
    pub dossiers_total: u64,
    pub services_publicized: u64,
    pub services_total: u64,
}

impl OfficialStatistics {
    /// Check that each part is within its whole and the quarter exists.
    pub fn check(&self, field: &str) -> CoreResult<()> {
        if !(1..=4).contains(&self.quarter) {
            return Err(CoreError::invalid(format!("{field}.quarter"), "a quarter is 1 to 4"));
        }
        if !(2000..=2100).contains(&self.year) {
            return Err(CoreError::invalid(
                format!("{field}.year"),
                "a year between 2000 and 2100",
            ));
        }
        if self.dossiers_online > self.dossiers_total {
            return Err(CoreError::invalid(
                format!("{field}.dossiers_online"),
                format!(
                    "{} online dossiers is more than the {} received",
                    self.dossiers_online, self.dossiers_total
                ),
            ));
        }
        if self.services_publicized > self.services_total {
            return Err(CoreError::invalid(
                format!("{field}.services_publicized"),
                format!(
                    "{} services publicised is more than the {} there are",
                    self.services_publicized, self.services_total
                ),
            ));
        }
        Ok(())
    }

    /// The tallies these statistics set (replacing what was there).
    pub fn tallies(&self) -> Vec<Tally> {
        let quarter = Quarter {
            year: self.year,
            quarter: self.quarter,
        };
        [
            ("dossiers_online", self.dossiers_online),
            ("dossiers_total", self.dossiers_total),
            ("services_publicized", self.services_publicized),
            ("services_total", self.services_total),
        ]
        .into_iter()
        .map(|(metric, value)| Tally {
            key: TallyKey {
                unit_code: self.commune_code.clone(),
                quarter,
                metric: metric.to_string(),
            },
            value: value as i64,
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(commune: &str, q: u8, attendees: usize, supported: u64) -> SessionRecord {
        SessionRecord {
            session_id: "s".into(),
            campaign_id: "c".into(),
            commune_code: commune.into(),
            quarter: Quarter { year: 2026, quarter: q },
            attendees: (0..attendees)
                .map(|i| Attendee {
                    contact_id: format!("ct{i}").into(),
                    role: ContactRole::Citizen,
                    walk_in: i % 2 == 0,
                })
                .collect(),
            outcomes: BTreeMap::from([("dossiers_supported".to_string(), supported)]),
            answers: AnswerFigures::default(),
            attendance_recorded_at: Some(Utc::now()),
            outcomes_recorded_at: Some(Utc::now()),
            updated_by: None,
            updated_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn a_correction_moves_tallies_by_the_difference() {
        let first = record("07441", 3, 10, 7);
        let second = record("07441", 3, 12, 5);
        let deltas = tally_deltas(Some(&first), &second);
        let by_metric: BTreeMap<&str, i64> = deltas.iter().map(|d| (d.key.metric.as_str(), d.delta)).collect();
        assert_eq!(
            by_metric,
            BTreeMap::from([
                ("attendees", 2),
                ("citizens_attended", 2),
                ("dossiers_supported", -2),
                ("walk_ins", 1)
            ])
        );
    }

    #[test]
    fn a_session_moved_to_another_quarter_takes_its_counts_along() {
        let first = record("07441", 3, 4, 3);
        let moved = record("07441", 4, 4, 3);
        let deltas = tally_deltas(Some(&first), &moved);
        assert!(deltas.iter().all(|d| (d.key.quarter.quarter == 3) == (d.delta < 0)));
        assert_eq!(deltas.iter().map(|d| d.delta).sum::<i64>(), 0);
    }

    #[test]
    fn computed_metrics_cannot_be_recorded_as_outcomes() {
        assert!(check_outcome_metric("dossiers_total", "m").is_err());
        assert!(check_outcome_metric("attendees", "m").is_err());
        assert!(check_outcome_metric("online_dossier_ratio", "m").is_err());
        assert!(check_outcome_metric("Bad-Key", "m").is_err());
        assert!(check_outcome_metric("booklets_handed_out", "m").is_ok());
    }
}
