//! Administrative units (province → district → commune) and their versions; their import
//! (parsing, checking, the importer's scope) is in `import`, and what stands for a unit
//! across a change of units (the old → new mapping) in `history`.
//!
//! Units are versioned: the 2025 reform reused codes for merged communes, so a unit is
//! identified by its code *and* the date its version became valid.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::UnitCode;

/// The tier of an administrative unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Province,
    District,
    Commune,
}

crate::named_enum!(Level {
    Province => "province",
    District => "district",
    Commune => "commune",
});

impl Level {
    /// The import's `level` column (any case, spaces around allowed).
    pub fn from_import(s: &str) -> Option<Self> {
        s.trim().to_ascii_lowercase().parse().ok()
    }

    /// The levels a parent of this level may have. Communes hang under a district, or
    /// directly under the province since the 2025 reform abolished districts.
    fn allowed_parents(self) -> &'static [Level] {
        match self {
            Self::Province => &[],
            Self::District => &[Self::Province],
            Self::Commune => &[Self::District, Self::Province],
        }
    }
}

/// How a former unit was merged into its successor by the 2025 reform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeKind {
    Full,
    Partial,
}

/// A pre-reform unit that a post-reform unit absorbed, wholly or in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormerUnit {
    #[schema(value_type = String)]
    pub code: UnitCode,
    #[serde(default)]
    pub name: Option<String>,
    pub merge: MergeKind,
}

/// One version of an administrative unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrgUnit {
    /// Official statistics-office code; a string so leading zeros stay.
    #[schema(value_type = String)]
    pub code: UnitCode,
    pub name: String,
    pub level: Level,
    #[schema(value_type = Option<String>)]
    pub parent_code: Option<UnitCode>,
    /// The unit's type as officially named (Xã, Phường, Thị trấn, Huyện…), if known.
    #[serde(default)]
    pub kind: Option<String>,
    /// First day this version is valid (None: since before records began).
    #[serde(default)]
    pub valid_from: Option<NaiveDate>,
    /// Last day this version is valid (None: still valid).
    #[serde(default)]
    pub valid_until: Option<NaiveDate>,
    /// Units this one absorbed in the 2025 reform.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub former_units: Vec<FormerUnit>,
}

impl OrgUnit {
    /// Whether this version is valid on a local date.
    pub fn is_valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from.is_none_or(|f| f <= date) && self.valid_until.is_none_or(|u| date <= u)
    }

    /// Whether this version's validity overlaps another's.
    pub fn overlaps(&self, other: &OrgUnit) -> bool {
        let starts_before_other_ends = match (self.valid_from, other.valid_until) {
            (Some(f), Some(u)) => f <= u,
            _ => true,
        };
        let other_starts_before_self_ends = match (other.valid_from, self.valid_until) {
            (Some(f), Some(u)) => f <= u,
            _ => true,
        };
        starts_before_other_ends && other_starts_before_self_ends
    }
}

/// Pick the version of a unit valid on `on`, or the latest version when no date is given.
pub fn version_on(versions: &[OrgUnit], on: Option<NaiveDate>) -> Option<&OrgUnit> {
    match on {
        Some(date) => versions.iter().find(|u| u.is_valid_on(date)),
        None => versions.iter().max_by_key(|u| u.valid_from),
    }
}

/// Every version of every unit under `code`, at any depth, among `units` (all versions of a
/// tree): a unit that moved counts under each parent it had. Ordered by code, then validity.
pub fn descendants(units: Vec<OrgUnit>, code: &str) -> Vec<OrgUnit> {
    let mut by_parent: HashMap<UnitCode, Vec<OrgUnit>> = HashMap::new();
    for unit in units {
        if let Some(parent) = unit.parent_code.clone() {
            by_parent.entry(parent).or_default().push(unit);
        }
    }
    let mut seen = HashSet::from([UnitCode::from(code)]);
    let mut pending = vec![UnitCode::from(code)];
    let mut out = Vec::new();
    while let Some(parent) = pending.pop() {
        for child in by_parent.remove(&parent).unwrap_or_default() {
            if seen.insert(child.code.clone()) {
                pending.push(child.code.clone());
            }
            out.push(child);
        }
    }
    out.sort_by(|a, b| (&a.code, a.valid_from).cmp(&(&b.code, b.valid_from)));
    out
}

mod history;
mod import;

pub use history::*;
pub use import::*;
