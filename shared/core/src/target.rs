//! Yearly targets per unit and metric, their quarterly milestones, and how a province or
//! district target is allocated to its children.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};
use crate::outcome::{MetricKind, check_outcome_metric, report_metric};

/// Cumulative share of a count target due by the end of each quarter.
pub const DEFAULT_COUNT_MILESTONES: [f64; 4] = [0.25, 0.5, 0.75, 1.0];
/// A ratio target holds all year unless milestones say otherwise.
pub const DEFAULT_RATIO_MILESTONES: [f64; 4] = [1.0, 1.0, 1.0, 1.0];

/// How a target came to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TargetSource {
    /// Set for this unit by a planner.
    Set,
    /// Allocated from the parent's target.
    Allocated { from: String, method: AllocationMethod },
}

/// How a target is divided among a unit's children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllocationMethod {
    Explicit,
    Equal,
    Weighted,
}

/// A yearly target of one unit for one metric. A count target is a number; a ratio target
/// is a fraction (0.4 for 40 %).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetPlan {
    pub year: i32,
    pub org_code: String,
    pub metric: String,
    pub kind: MetricKind,
    pub value: f64,
    /// Cumulative fraction of `value` due by the end of each quarter.
    pub milestones: [f64; 4],
    pub source: TargetSource,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<String>,
}

impl TargetPlan {
    /// The milestone due by the end of `quarter` (1..=4).
    pub fn milestone(&self, quarter: u8) -> f64 {
        self.value * self.milestones[usize::from(quarter.clamp(1, 4) - 1)]
    }
}

/// How a planner asks for a target to be allocated to the unit's children.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum AllocationInput {
    /// Every child the same share (counts are whole numbers that add up to the target).
    Equal,
    /// Shares in proportion to a weight per child (such as its youth population).
    Weighted { weights: BTreeMap<String, f64> },
    /// The share of each child given explicitly; they must add up to the target.
    Explicit { shares: BTreeMap<String, f64> },
}

/// One target as a planner enters it.
#[derive(Debug, Clone, PartialEq, Deserialize, utoipa::ToSchema)]
pub struct TargetInput {
    pub metric: String,
    /// A count, or a ratio as a fraction (0.4) or a percentage (40 with `"unit": "percent"`).
    pub value: f64,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub milestones: Option<[f64; 4]>,
    #[serde(default)]
    pub allocate: Option<AllocationInput>,
}

impl TargetInput {
    /// The target this input sets for `org_code` in `year`, checked.
    pub fn into_plan(
        &self,
        year: i32,
        org_code: &str,
        field: &str,
        now: DateTime<Utc>,
        by: Option<String>,
    ) -> CoreResult<TargetPlan> {
        let kind = match report_metric(&self.metric) {
            Some(m) if !m.takes_target => {
                return Err(CoreError::invalid(
                    format!("{field}.metric"),
                    format!("{} describes how sessions went and takes no target", self.metric),
                ));
            }
            Some(m) => m.kind,
            None => {
                check_outcome_metric(&self.metric, &format!("{field}.metric"))?;
                MetricKind::Count
            }
        };
        if !self.value.is_finite() || self.value < 0.0 {
            return Err(CoreError::invalid(
                format!("{field}.value"),
                "a target is a number of at least 0",
            ));
        }
        let value = match (kind, self.unit.as_deref()) {
            (MetricKind::Ratio, Some("percent")) => self.value / 100.0,
            (MetricKind::Ratio, None | Some("fraction")) => self.value,
            (MetricKind::Count, None | Some("count")) => self.value,
            (_, Some(other)) => {
                return Err(CoreError::invalid(
                    format!("{field}.unit"),
                    format!("{other:?} does not fit a {} metric", kind_name(kind)),
                ));
            }
        };
        if kind == MetricKind::Ratio && value > 1.0 {
            return Err(CoreError::invalid(
                format!("{field}.value"),
                format!(
                    "{} is a ratio: give a fraction up to 1 (0.4) or a percentage with \"unit\": \"percent\"",
                    self.metric
                ),
            ));
        }
        if kind == MetricKind::Count && value.fract() != 0.0 {
            return Err(CoreError::invalid(
                format!("{field}.value"),
                "a count target is a whole number",
            ));
        }
        let milestones = match self.milestones {
            Some(m) => {
                check_milestones(&m, &format!("{field}.milestones"))?;
                m
            }
            None if kind == MetricKind::Ratio => DEFAULT_RATIO_MILESTONES,
            None => DEFAULT_COUNT_MILESTONES,
        };
        Ok(TargetPlan {
            year,
            org_code: org_code.to_string(),
            metric: self.metric.clone(),
            kind,
            value,
            milestones,
            source: TargetSource::Set,
            updated_at: now,
            updated_by: by,
        })
    }
}

fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Count => "count",
        MetricKind::Ratio => "ratio",
    }
}

/// Milestones are fractions in [0, 1] that never go down and end at 1.
fn check_milestones(m: &[f64; 4], field: &str) -> CoreResult<()> {
    if m.iter().any(|x| !x.is_finite() || *x < 0.0 || *x > 1.0) {
        return Err(CoreError::invalid(field, "milestones are fractions between 0 and 1"));
    }
    if m.windows(2).any(|w| w[1] < w[0]) {
        return Err(CoreError::invalid(
            field,
            "milestones are cumulative: each at least the one before",
        ));
    }
    if (m[3] - 1.0).abs() > 1e-9 {
        return Err(CoreError::invalid(
            field,
            "the fourth-quarter milestone is the whole target (1)",
        ));
    }
    Ok(())
}

/// Divide `parent` among `children` (their codes). Count shares are whole numbers that add
/// up to the parent's value exactly (largest remainder); a ratio target is not divided:
/// every child gets the same ratio.
pub fn allocate(
    parent: &TargetPlan,
    children: &[String],
    how: &AllocationInput,
    field: &str,
) -> CoreResult<Vec<TargetPlan>> {
    if children.is_empty() {
        return Err(CoreError::invalid(
            field,
            format!("{} has no units under it to allocate to", parent.org_code),
        ));
    }
    let unknown = |codes: &mut dyn Iterator<Item = &String>, what: &str| -> CoreResult<()> {
        for code in codes {
            if !children.contains(code) {
                return Err(CoreError::invalid(
                    format!("{field}.{what}.{code}"),
                    format!("{code} is not a unit under {}", parent.org_code),
                ));
            }
        }
        Ok(())
    };
    let method;
    let values: Vec<f64> = match how {
        AllocationInput::Equal => {
            method = AllocationMethod::Equal;
            match parent.kind {
                MetricKind::Ratio => vec![parent.value; children.len()],
                MetricKind::Count => largest_remainder(parent.value, &vec![1.0; children.len()]),
            }
        }
        AllocationInput::Weighted { weights } => {
            method = AllocationMethod::Weighted;
            unknown(&mut weights.keys(), "weights")?;
            let w: Vec<f64> = children
                .iter()
                .map(|c| {
                    weights
                        .get(c)
                        .copied()
                        .ok_or_else(|| CoreError::invalid(format!("{field}.weights"), format!("no weight for {c}")))
                })
                .collect::<CoreResult<_>>()?;
            if w.iter().any(|x| !x.is_finite() || *x < 0.0) || w.iter().sum::<f64>() <= 0.0 {
                return Err(CoreError::invalid(
                    format!("{field}.weights"),
                    "weights are numbers of at least 0, not all 0",
                ));
            }
            match parent.kind {
                MetricKind::Ratio => vec![parent.value; children.len()],
                MetricKind::Count => largest_remainder(parent.value, &w),
            }
        }
        AllocationInput::Explicit { shares } => {
            method = AllocationMethod::Explicit;
            unknown(&mut shares.keys(), "shares")?;
            let v: Vec<f64> = children
                .iter()
                .map(|c| {
                    shares
                        .get(c)
                        .copied()
                        .ok_or_else(|| CoreError::invalid(format!("{field}.shares"), format!("no share for {c}")))
                })
                .collect::<CoreResult<_>>()?;
            if v.iter().any(|x| !x.is_finite() || *x < 0.0) {
                return Err(CoreError::invalid(
                    format!("{field}.shares"),
                    "shares are numbers of at least 0",
                ));
            }
            if parent.kind == MetricKind::Count {
                if v.iter().any(|x| x.fract() != 0.0) {
                    return Err(CoreError::invalid(
                        format!("{field}.shares"),
                        "count shares are whole numbers",
                    ));
                }
                let sum: f64 = v.iter().sum();
                if (sum - parent.value).abs() > 1e-9 {
                    return Err(CoreError::invalid(
                        format!("{field}.shares"),
                        format!("the shares add up to {sum}, not the target {}", parent.value),
                    ));
                }
            } else if v.iter().any(|x| *x > 1.0) {
                return Err(CoreError::invalid(
                    format!("{field}.shares"),
                    "ratio shares are fractions up to 1",
                ));
            }
            v
        }
    };
    Ok(children
        .iter()
        .zip(values)
        .map(|(code, value)| TargetPlan {
            org_code: code.clone(),
            value,
            source: TargetSource::Allocated {
                from: parent.org_code.clone(),
                method,
            },
            ..parent.clone()
        })
        .collect())
}

/// Whole shares of `total` in proportion to `weights`, adding up to `total` exactly: each
/// gets the floor of its exact share, and the units left go to the largest remainders
/// (ties to the earlier child).
pub fn largest_remainder(total: f64, weights: &[f64]) -> Vec<f64> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| total * w / sum).collect();
    let mut shares: Vec<f64> = exact.iter().map(|x| x.floor()).collect();
    let left = (total - shares.iter().sum::<f64>()).round() as usize;
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - shares[a], exact[b] - shares[b]);
        rb.partial_cmp(&ra).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b))
    });
    for &i in order.iter().take(left) {
        shares[i] += 1.0;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_of_how_sessions_went_take_no_target() {
        for metric in ["confirmation_rate", "no_show_rate", "walk_in_share"] {
            let input = TargetInput {
                metric: metric.into(),
                value: 0.5,
                unit: None,
                milestones: None,
                allocate: None,
            };
            let err = input
                .into_plan(2026, "24", "targets[0]", Utc::now(), None)
                .expect_err(metric);
            assert!(err.to_string().contains("takes no target"), "{err}");
        }
    }
    use proptest::prelude::*;

    fn plan(metric: &str, value: f64) -> TargetPlan {
        TargetInput {
            metric: metric.into(),
            value,
            unit: None,
            milestones: None,
            allocate: None,
        }
        .into_plan(2026, "24", "targets[0]", Utc::now(), None)
        .unwrap()
    }

    #[test]
    fn the_province_target_splits_equally_into_whole_numbers() {
        let children: Vec<String> = (1..=7).map(|i| format!("D{i}")).collect();
        let shares = allocate(
            &plan("dossiers_supported", 15_000.0),
            &children,
            &AllocationInput::Equal,
            "a",
        )
        .unwrap();
        let values: Vec<f64> = shares.iter().map(|t| t.value).collect();
        assert_eq!(values, vec![2143.0, 2143.0, 2143.0, 2143.0, 2143.0, 2143.0, 2142.0]);
        assert_eq!(values.iter().sum::<f64>(), 15_000.0);
    }

    #[test]
    fn a_ratio_target_is_not_divided() {
        let children = vec!["A".to_string(), "B".to_string()];
        let shares = allocate(
            &plan("online_dossier_ratio", 0.4),
            &children,
            &AllocationInput::Equal,
            "a",
        )
        .unwrap();
        assert!(shares.iter().all(|t| t.value == 0.4 && t.kind == MetricKind::Ratio));
    }

    #[test]
    fn explicit_shares_must_add_up() {
        let children = vec!["A".to_string(), "B".to_string()];
        let how = AllocationInput::Explicit {
            shares: BTreeMap::from([("A".into(), 600.0), ("B".into(), 300.0)]),
        };
        let e = allocate(&plan("dossiers_supported", 1000.0), &children, &how, "allocate").unwrap_err();
        assert!(e.to_string().contains("add up to 900"), "{e}");
    }

    #[test]
    fn a_ratio_over_one_is_refused_unless_given_in_percent() {
        let input = TargetInput {
            metric: "online_dossier_ratio".into(),
            value: 40.0,
            unit: None,
            milestones: None,
            allocate: None,
        };
        assert!(input.into_plan(2026, "24", "t", Utc::now(), None).is_err());
        let percent = TargetInput {
            unit: Some("percent".into()),
            ..input
        };
        assert_eq!(percent.into_plan(2026, "24", "t", Utc::now(), None).unwrap().value, 0.4);
    }

    proptest! {
        #[test]
        fn weighted_shares_add_up_to_the_target(total in 0u32..1_000_000, weights in prop::collection::vec(0.0f64..1000.0, 1..40)) {
            prop_assume!(weights.iter().sum::<f64>() > 0.0);
            let shares = largest_remainder(f64::from(total), &weights);
            prop_assert_eq!(shares.iter().sum::<f64>(), f64::from(total));
            prop_assert!(shares.iter().all(|s| s.fract() == 0.0 && *s >= 0.0));
            let sum: f64 = weights.iter().sum();
            for (s, w) in shares.iter().zip(&weights) {
                prop_assert!((s - f64::from(total) * w / sum).abs() < 1.0 + 1e-6);
            }
        }
    }
}
