//! Importing administrative units: reading a file's records (JSON or CSV), checking them
//! against each other and the stored units, and keeping an import inside its caller's
//! province.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{FormerUnit, Level, OrgUnit};
use crate::error::{CoreError, CoreResult, CsvLines, RowError};
use crate::ids::UnitCode;

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
    let mut lines = CsvLines::new(text);
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.push((lines.of(e.position(), i), Err(format!("unreadable CSV row: {e}"))));
                continue;
            }
        };
        let row = lines.of(record.position(), i);
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
    existing: &HashMap<UnitCode, Vec<OrgUnit>>,
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
                let level = Level::from_import(l);
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
                    code: code.into(),
                    name,
                    level,
                    parent_code: parent_code.map(UnitCode::from),
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
                    key: Some(String::from(&unit.code)),
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
        .filter_map(|(_, r)| Some(r.as_ref().ok()?.code.as_deref()?.trim()))
        .collect();
    rows.iter()
        .filter_map(|(_, r)| Some(r.as_ref().ok()?.parent_code.as_deref()?.trim()))
        .filter(|p| !p.is_empty() && !codes.contains(p))
        .map(str::to_string)
        .collect()
}

/// Whose units an import may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportScope<'a> {
    /// Any unit: the operator's own imports (`outreach store import-units`, the demo).
    Anywhere,
    /// The unit with this code (an admin's province) and what lies under it: new units under
    /// it, stored ones only if they lie under it already, none moved out of it.
    Within(&'a str),
}

/// The rows of an import that would write outside `root`: a stored unit that does not lie
/// under it (in any version), a new unit that is not `root` and has no parent, or a parent
/// that lies outside it. `stored` holds every stored code the file names (its units and
/// their parents); `inside` those of them that lie under `root`.
pub fn outside_scope(
    rows: &[(usize, Result<OrgUnitRecord, String>)],
    root: &str,
    stored: &HashSet<String>,
    inside: &HashSet<String>,
) -> Vec<RowError> {
    let trimmed = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let parents: HashMap<String, Option<String>> = rows
        .iter()
        .filter_map(|(_, r)| {
            let r = r.as_ref().ok()?;
            Some((trimmed(&r.code)?, trimmed(&r.parent_code)))
        })
        .collect();
    // Whether `code` lies under root: root itself, a stored unit under it, or a new unit of
    // the file whose parent does (a file cannot nest deeper than its number of rows).
    let lies_inside = |code: &str| {
        let mut code = code.to_string();
        for _ in 0..=parents.len() {
            if code == root || inside.contains(&code) {
                return true;
            }
            if stored.contains(&code) {
                return false;
            }
            match parents.get(&code) {
                Some(Some(parent)) => code = parent.clone(),
                _ => return false,
            }
        }
        false
    };
    let mut errors = Vec::new();
    for (row, record) in rows {
        let Ok(record) = record else { continue };
        let Some(code) = trimmed(&record.code) else { continue };
        if code == root {
            continue;
        }
        let reason = if stored.contains(&code) && !inside.contains(&code) {
            Some(format!(
                "unit {code} lies outside your province {root}: you may import only its units"
            ))
        } else {
            match trimmed(&record.parent_code) {
                None => Some(format!(
                    "unit {code} would lie outside your province {root}: give it a parent_code under {root}"
                )),
                Some(parent)
                    if (stored.contains(&parent) || parents.contains_key(&parent)) && !lies_inside(&parent) =>
                {
                    Some(format!(
                        "parent {parent} lies outside your province {root}: you may import only units under it"
                    ))
                }
                Some(_) => None,
            }
        };
        if let Some(reason) = reason {
            errors.push(RowError {
                row: *row,
                key: Some(code),
                reasons: vec![reason],
            });
        }
    }
    errors
}

/// `more` row errors joined to `errors`: the reasons of a row named in both are kept
/// together, rows in order.
pub fn merge_row_errors(mut errors: Vec<RowError>, more: Vec<RowError>) -> Vec<RowError> {
    for error in more {
        match errors.iter_mut().find(|e| e.row == error.row) {
            Some(e) => e.reasons.extend(error.reasons),
            None => errors.push(error),
        }
    }
    errors.sort_by_key(|e| e.row);
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::MergeKind;

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
            (UnitCode::from("07210"), vec![old.clone()]),
            (
                UnitCode::from("24"),
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
                UnitCode::from("07210"),
                vec![OrgUnit {
                    valid_until: "2025-06-30".parse().ok(),
                    ..old.clone()
                }],
            ),
            (UnitCode::from("24"), stored["24"].clone()),
        ]);
        assert_eq!(validate_units(new, validity, &closed).unwrap().len(), 1);
    }
    #[test]
    fn an_import_within_a_province_refuses_what_lies_outside_it() {
        let file = rows(
            r#"[{"code":"214","name":"Huyện Mới","level":"district","parent_code":"24"},
                 {"code":"07300","name":"Xã Mới","level":"commune","parent_code":"214"},
                 {"code":"07201","name":"Đổi tên","level":"commune","parent_code":"213"},
                 {"code":"09901","name":"Sáp nhập","level":"commune","parent_code":"213"},
                 {"code":"07301","name":"Xã Lạ","level":"commune","parent_code":"990"},
                 {"code":"24","name":"Tỉnh Bắc Giang","level":"province"},
                 {"code":"98","name":"Tỉnh Khác","level":"province"}]"#,
        );
        let stored: HashSet<String> = ["24", "213", "07201", "09901", "990"].map(String::from).into();
        let inside: HashSet<String> = ["213", "07201"].map(String::from).into();
        let errors = outside_scope(&file, "24", &stored, &inside);
        let refused: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.reasons[0].as_str())).collect();
        assert_eq!(
            refused,
            [
                (
                    4,
                    "unit 09901 lies outside your province 24: you may import only its units"
                ),
                (
                    5,
                    "parent 990 lies outside your province 24: you may import only units under it"
                ),
                (
                    7,
                    "unit 98 would lie outside your province 24: give it a parent_code under 24"
                ),
            ]
        );
        assert!(outside_scope(&file[..3], "24", &stored, &inside).is_empty());
    }
}
