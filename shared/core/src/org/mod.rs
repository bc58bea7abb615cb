//! Administrative units (province → district → commune) and their import.
//!
//! Units are versioned: the 2025 reform reused codes for merged communes, so a unit is
//! identified by its code *and* the date its version became valid.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult, RowError};

/// The tier of an administrative unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Province,
    District,
    Commune,
}

impl Level {
    /// Parse the import's `level` column.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "province" => Some(Self::Province),
            "district" => Some(Self::District),
            "commune" => Some(Self::Commune),
            _ => None,
        }
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

    /// The level's name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Province => "province",
            Self::District => "district",
            Self::Commune => "commune",
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
    pub code: String,
    #[serde(default)]
    pub name: Option<String>,
    pub merge: MergeKind,
}

/// One version of an administrative unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrgUnit {
    /// Official statistics-office code; a string so leading zeros stay.
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent_code: Option<String>,
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

/// One record of an import file: `{code, name, level, parent_code}` plus optional extras.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrgUnitRecord {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub level: Option<String>,
    #[serde(default)]
    pub parent_code: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub valid_from: Option<NaiveDate>,
    #[serde(default)]
    pub valid_until: Option<NaiveDate>,
    #[serde(default)]
    pub former_units: Vec<FormerUnit>,
}

/// Validity applied to every record of a file that does not carry its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportValidity {
    pub valid_from: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
}

/// Largest number of units one import may carry (a province has a few hundred).
pub const MAX_UNITS_PER_IMPORT: usize = 20_000;

/// Read import records from a JSON array. A row that is not a well-formed object is
/// reported as that row's error, not as a failure of the whole file.
/// Every version of every unit under `code`, at any depth, among `units` (all versions of a
/// tree): a unit that moved counts under each parent it had. Ordered by code, then validity.
pub fn descendants(units: Vec<OrgUnit>, code: &str) -> Vec<OrgUnit> {
    let mut by_parent: HashMap<String, Vec<OrgUnit>> = HashMap::new();
    for unit in units {
        if let Some(parent) = unit.parent_code.clone() {
            by_parent.entry(parent).or_default().push(unit);
        }
    }
    let mut seen = HashSet::from([code.to_string()]);
    let mut pending = vec![code.to_string()];
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

pub fn parse_units_json(text: &str) -> CoreResult<Vec<(usize, Result<OrgUnitRecord, String>)>> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| CoreError::invalid("file", format!("not a JSON array of units: {e}")))?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            (
                i + 1,
                serde_json::from_value::<OrgUnitRecord>(v).map_err(|e| format!("malformed record: {e}")),
            )
        })
        .collect())
}

/// Read import records from CSV with a header naming at least `code,name,level,parent_code`.
pub fn parse_units_csv(text: &str) -> CoreResult<Vec<(usize, Result<OrgUnitRecord, String>)>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| CoreError::invalid("file", format!("unreadable CSV header: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim_start_matches('\u{feff}') == name);
    let missing: Vec<&str> = ["code", "name", "level", "parent_code"]
        .into_iter()
        .filter(|c| col(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(CoreError::invalid(
            "file",
            format!("CSV header lacks column(s): {}", missing.join(", ")),
        ));
    }
    let (code, name, level, parent) = (col("code"), col("name"), col("level"), col("parent_code"));
    let (kind, from, until) = (col("type"), col("valid_from"), col("valid_until"));
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.push((row, Err(format!("unreadable CSV row: {e}"))));
                continue;
            }
        };
        let get = |c: Option<usize>| {
            c.and_then(|c| record.get(c))
                .map(str::to_string)
                .filter(|s| !s.is_empty())
        };
        let date = |c: Option<usize>, label: &str| -> Result<Option<NaiveDate>, String> {
            get(c)
                .map(|s| {
                    s.parse()
                        .map_err(|_| format!("{label} {s:?} is not a date (YYYY-MM-DD)"))
                })
                .transpose()
        };
        let parsed = (|| {
            Ok(OrgUnitRecord {
                code: get(code),
                name: get(name),
                level: get(level),
                parent_code: get(parent),
                kind: get(kind),
                valid_from: date(from, "valid_from")?,
                valid_until: date(until, "valid_until")?,
                former_units: Vec::new(),
            })
        })();
        out.push((row, parsed));
    }
    Ok(out)
}

/// Validate import records against each other and against the units already stored.
///
/// Every bad row is reported with every reason; the import is all or nothing, so any bad
/// row refuses the whole file. `existing` looks up the stored versions of a code.
pub fn validate_units(
    rows: Vec<(usize, Result<OrgUnitRecord, String>)>,
    validity: ImportValidity,
    existing: &HashMap<String, Vec<OrgUnit>>,
) -> CoreResult<Vec<OrgUnit>> {
    if rows.is_empty() {
        return Err(CoreError::invalid("file", "the file holds no units"));
    }
    if rows.len() > MAX_UNITS_PER_IMPORT {
        return Err(CoreError::invalid(
            "file",
            format!("at most {MAX_UNITS_PER_IMPORT} units per import"),
        ));
    }
    let mut errors: Vec<RowError> = Vec::new();
    let mut units: Vec<(usize, OrgUnit)> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();

    for (row, parsed) in rows {
        let record = match parsed {
            Ok(r) => r,
            Err(reason) => {
                errors.push(RowError {
                    row,
                    key: None,
                    reasons: vec![reason],
                });
                continue;
            }
        };
        let mut reasons = Vec::new();
        let code = record.code.as_deref().map(str::trim).unwrap_or_default().to_string();
        if code.is_empty() {
            reasons.push("code is missing".to_string());
        } else if !code.chars().all(|c| c.is_ascii_digit()) || code.len() > 10 {
            reasons.push(format!(
                "code {code:?} is not an official unit code (digits only, leading zeros kept)"
            ));
        } else if let Some(first) = seen.insert(code.clone(), row) {
            reasons.push(format!("duplicate code {code} (first seen in row {first})"));
        }
        let name = record.name.as_deref().map(str::trim).unwrap_or_default().to_string();
        if name.is_empty() {
            reasons.push("name is missing".to_string());
        } else if name.chars().count() > 200 || name.chars().any(char::is_control) {
            reasons.push("name is longer than 200 characters or holds control characters".to_string());
        }
        let level = match record.level.as_deref().map(str::trim) {
            None | Some("") => {
                reasons.push("level is missing".to_string());
                None
            }
            Some(l) => {
                let level = Level::parse(l);
                if level.is_none() {
                    reasons.push(format!("unknown level {l:?} (expected province, district or commune)"));
                }
                level
            }
        };
        let parent_code = record
            .parent_code
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        let valid_from = record.valid_from.or(validity.valid_from);
        let valid_until = record.valid_until.or(validity.valid_until);
        if let (Some(f), Some(u)) = (valid_from, valid_until)
            && u < f
        {
            reasons.push(format!("valid_until {u} is before valid_from {f}"));
        }
        if reasons.is_empty()
            && let Some(level) = level
        {
            units.push((
                row,
                OrgUnit {
                    code,
                    name,
                    level,
                    parent_code,
                    kind: record.kind.map(|k| k.trim().to_string()).filter(|k| !k.is_empty()),
                    valid_from,
                    valid_until,
                    former_units: record.former_units,
                },
            ));
        } else {
            errors.push(RowError {
                row,
                key: (!code.is_empty()).then_some(code),
                reasons,
            });
        }
    }

    // Parents and levels, now that every good row is known.
    let in_file: HashMap<&str, &OrgUnit> = units.iter().map(|(_, u)| (u.code.as_str(), u)).collect();
    let mut more: BTreeMap<usize, RowError> = BTreeMap::new();
    for (row, unit) in &units {
        let mut reasons = Vec::new();
        match (&unit.parent_code, unit.level) {
            (Some(_), Level::Province) => reasons.push("a province has no parent".to_string()),
            (None, Level::Province) => {}
            (None, level) => reasons.push(format!("a {} needs a parent_code", level.as_str())),
            (Some(parent), level) => {
                let parent_level = in_file.get(parent.as_str()).map(|p| p.level).or_else(|| {
                    existing
                        .get(parent)
                        .and_then(|vs| vs.iter().find(|p| p.overlaps(unit)))
                        .map(|p| p.level)
                });
                match parent_level {
                    None => reasons.push(format!("parent {parent} does not exist (not in this file nor stored)")),
                    Some(pl) if !level.allowed_parents().contains(&pl) => reasons.push(format!(
                        "a {} cannot sit under a {} ({parent})",
                        level.as_str(),
                        pl.as_str()
                    )),
                    Some(_) => {}
                }
            }
        }
        if let Some(stored) = existing.get(&unit.code) {
            for other in stored
                .iter()
                .filter(|o| o.valid_from != unit.valid_from && o.overlaps(unit))
            {
                reasons.push(format!(
                    "code {} is already stored as {}, which overlaps this version ({}); close the older version (re-import it with \
                     valid_until) or give this one a later valid_from",
                    unit.code,
                    describe_validity(other),
                    describe_validity(unit)
                ));
            }
        }
        if !reasons.is_empty() {
            more.insert(
                *row,
                RowError {
                    row: *row,
                    key: Some(unit.code.clone()),
                    reasons,
                },
            );
        }
    }
    errors.extend(more.into_values());
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(CoreError::ImportRejected(errors));
    }
    Ok(units.into_iter().map(|(_, u)| u).collect())
}

/// A unit's validity in words, for messages.
fn describe_validity(unit: &OrgUnit) -> String {
    match (unit.valid_from, unit.valid_until) {
        (None, None) => "valid at all times".to_string(),
        (Some(f), None) => format!("valid from {f}"),
        (None, Some(u)) => format!("valid until {u}"),
        (Some(f), Some(u)) => format!("valid {f} to {u}"),
    }
}

/// Counts of a successful import, by level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub provinces: usize,
    pub districts: usize,
    pub communes: usize,
}

impl ImportSummary {
    /// Count units by level.
    pub fn of(units: &[OrgUnit]) -> Self {
        let mut s = Self::default();
        for u in units {
            match u.level {
                Level::Province => s.provinces += 1,
                Level::District => s.districts += 1,
                Level::Commune => s.communes += 1,
            }
        }
        s
    }
}

/// The parent codes an import refers to that are not in the file itself.
pub fn outside_parents(rows: &[(usize, Result<OrgUnitRecord, String>)]) -> HashSet<String> {
    let codes: HashSet<&str> = rows
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok()?.code.as_deref())
        .collect();
    rows.iter()
        .filter_map(|(_, r)| r.as_ref().ok()?.parent_code.clone())
        .filter(|p| !codes.contains(p.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(json: &str) -> Vec<(usize, Result<OrgUnitRecord, String>)> {
        parse_units_json(json).unwrap()
    }

    #[test]
    fn a_three_tier_file_validates_and_keeps_leading_zeros() {
        let units = validate_units(
            rows(r#"[{"code":"24","name":"Tỉnh Bắc Giang","level":"province","parent_code":null},
                     {"code":"213","name":"Thành phố Bắc Giang","level":"district","parent_code":"24"},
                     {"code":"07201","name":"Phường Thọ Xương","level":"commune","parent_code":"213","type":"Phường"}]"#),
            ImportValidity::default(),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(
            ImportSummary::of(&units),
            ImportSummary {
                provinces: 1,
                districts: 1,
                communes: 1
            }
        );
        assert_eq!(units[2].code, "07201");
        assert_eq!(units[2].kind.as_deref(), Some("Phường"));
    }

    #[test]
    fn every_bad_row_is_reported_with_its_reason() {
        let err = validate_units(
            rows(
                r#"[{"code":"24","name":"Tỉnh","level":"province","parent_code":null},
                     {"code":"213","name":"TP","level":"district","parent_code":"24"},
                     {"code":"07201","name":"A","level":"commune","parent_code":"999"},
                     {"code":"213","name":"Again","level":"district","parent_code":"24"},
                     {"code":"07204","name":"B","level":"hamlet","parent_code":"213"},
                     {"code":"07207","name":"C","level":"commune","parent_code":"07204"},
                     42]"#,
            ),
            ImportValidity::default(),
            &HashMap::new(),
        )
        .unwrap_err();
        let CoreError::ImportRejected(errors) = err else {
            panic!("{err}")
        };
        let by_row: HashMap<usize, String> = errors.iter().map(|e| (e.row, e.reasons.join("; "))).collect();
        assert!(by_row[&3].contains("parent 999 does not exist"), "{by_row:?}");
        assert!(by_row[&4].contains("duplicate code 213"), "{by_row:?}");
        assert!(by_row[&5].contains("unknown level \"hamlet\""), "{by_row:?}");
        assert!(by_row[&6].contains("parent 07204 does not exist"), "{by_row:?}");
        assert!(by_row[&7].contains("malformed record"), "{by_row:?}");
        assert_eq!(errors.len(), 5);
    }

    #[test]
    fn a_commune_may_sit_under_the_province_but_not_under_a_commune() {
        let units = validate_units(
            rows(
                r#"[{"code":"24","name":"Tỉnh Bắc Ninh","level":"province"},
                     {"code":"07210","name":"Phường Bắc Giang","level":"commune","parent_code":"24",
                      "former_units":[{"code":"07201","name":"Phường Thọ Xương","merge":"full"}]}]"#,
            ),
            ImportValidity {
                valid_from: "2025-07-01".parse().ok(),
                valid_until: None,
            },
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(units[1].former_units[0].merge, MergeKind::Full);
        assert_eq!(units[1].valid_from, "2025-07-01".parse().ok());
    }

    #[test]
    fn csv_imports_like_json_and_names_missing_columns() {
        let csv = "code,name,level,parent_code\n24,Tỉnh Bắc Giang,province,\n213,TP Bắc Giang,district,24\n";
        let units = validate_units(
            parse_units_csv(csv).unwrap(),
            ImportValidity::default(),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].parent_code, None);
        let err = parse_units_csv("code,name\n1,a\n").unwrap_err();
        assert!(err.to_string().contains("level, parent_code"), "{err}");
    }

    #[test]
    fn a_new_version_must_not_overlap_the_stored_one() {
        let old = OrgUnit {
            code: "07210".into(),
            name: "Phường Hoàng Văn Thụ".into(),
            level: Level::Commune,
            parent_code: Some("213".into()),
            kind: None,
            valid_from: None,
            valid_until: None,
            former_units: vec![],
        };
        let stored = HashMap::from([
            ("07210".to_string(), vec![old.clone()]),
            (
                "24".to_string(),
                vec![OrgUnit {
                    code: "24".into(),
                    level: Level::Province,
                    parent_code: None,
                    ..old.clone()
                }],
            ),
        ]);
        let new = rows(r#"[{"code":"07210","name":"Phường Bắc Giang","level":"commune","parent_code":"24"}]"#);
        let validity = ImportValidity {
            valid_from: "2025-07-01".parse().ok(),
            valid_until: None,
        };
        assert!(matches!(
            validate_units(new.clone(), validity, &stored),
            Err(CoreError::ImportRejected(_))
        ));
        let closed = HashMap::from([
            (
                "07210".to_string(),
                vec![OrgUnit {
                    valid_until: "2025-06-30".parse().ok(),
                    ..old.clone()
                }],
            ),
            ("24".to_string(), stored["24"].clone()),
        ]);
        assert_eq!(validate_units(new, validity, &closed).unwrap().len(), 1);
    }
}
