use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::{Map, Value, json};
use tracing::instrument;

use crate::audit::{FieldChange, changed_fields};
use crate::error::{CoreError, CoreResult};
use crate::ids::UnitCode;
use crate::org::{
    ImportScope, ImportSummary, ImportValidity, Level, OrgUnit, OrgUnitRecord, UnitHistory, merge_row_errors,
    outside_parents, outside_scope, validate_units, version_on,
};
use crate::ports::{MAX_PAGE_SIZE, OrgUnitFilter, OrgUnitStore, PageRequest};

/// What a unit import did: the counts it answers with, and its changes for the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitImport {
    pub summary: ImportSummary,
    /// `created`: the new units; `new_versions`: new versions of stored units; and
    /// `units.{code}.{field}` for each field of a stored version the import replaced. A
    /// version is named `code@valid_from` when it has a first day.
    pub changes: Vec<FieldChange>,
}

/// Import administrative units: validate every row against the file and the stored units,
/// and against `scope` (an admin imports only their own province's units), then write all
/// of them in one go, or nothing when any row is bad.
#[instrument(skip_all, fields(rows = rows.len()))]
pub async fn import_org_units<S: OrgUnitStore + ?Sized>(
    store: &S,
    rows: Vec<(usize, Result<OrgUnitRecord, String>)>,
    validity: ImportValidity,
    scope: ImportScope<'_>,
) -> CoreResult<UnitImport> {
    let mut codes: HashSet<String> = outside_parents(&rows);
    codes.extend(
        rows.iter()
            .filter_map(|(_, r)| Some(r.as_ref().ok()?.code.as_deref()?.trim().to_string())),
    );
    let mut existing = HashMap::new();
    for code in codes {
        let versions = store.org_unit_versions(&code).await?;
        if !versions.is_empty() {
            existing.insert(UnitCode::from(code), versions);
        }
    }
    let refused = match scope {
        ImportScope::Anywhere => Vec::new(),
        ImportScope::Within(root) => {
            let stored: HashSet<String> = existing.keys().map(String::from).collect();
            let mut inside = HashSet::new();
            for (code, versions) in &existing {
                if lies_within(store, versions, root).await? {
                    inside.insert(String::from(code));
                }
            }
            outside_scope(&rows, root, &stored, &inside)
        }
    };
    let units = match validate_units(rows, validity, &existing) {
        Ok(_) if !refused.is_empty() => return Err(CoreError::ImportRejected(refused)),
        Ok(units) => units,
        Err(CoreError::ImportRejected(errors)) => {
            return Err(CoreError::ImportRejected(merge_row_errors(errors, refused)));
        }
        Err(e) => return Err(e),
    };
    let changes = unit_changes(&units, &existing);
    store.put_org_units(&units).await?;
    let summary = ImportSummary::of(&units);
    tracing::info!(
        provinces = summary.provinces,
        districts = summary.districts,
        communes = summary.communes,
        "units imported"
    );
    Ok(UnitImport { summary, changes })
}

/// The changes of writing `units` over the `existing` versions of their codes.
fn unit_changes(units: &[OrgUnit], existing: &HashMap<UnitCode, Vec<OrgUnit>>) -> Vec<FieldChange> {
    let version = |u: &OrgUnit| match u.valid_from {
        Some(from) => format!("{}@{from}", u.code),
        None => String::from(&u.code),
    };
    let (mut created, mut new_versions) = (Vec::new(), Vec::new());
    let (mut before, mut after) = (Map::new(), Map::new());
    for unit in units {
        let Some(stored) = existing.get(&unit.code) else {
            created.push(version(unit));
            continue;
        };
        match stored.iter().find(|s| s.valid_from == unit.valid_from) {
            None => new_versions.push(version(unit)),
            Some(old) if old != unit => {
                let as_json = |u: &OrgUnit| serde_json::to_value(u).unwrap_or(Value::Null);
                before.insert(version(unit), as_json(old));
                after.insert(version(unit), as_json(unit));
            }
            Some(_) => {}
        }
    }
    let mut new = Map::new();
    for (field, list) in [("created", created), ("new_versions", new_versions)] {
        if !list.is_empty() {
            new.insert(field.into(), list.into());
        }
    }
    new.insert("units".into(), after.into());
    changed_fields(Some(&json!({ "units": before })), Some(&Value::Object(new)))
}

/// Whether a stored unit (its `versions`) lies under `root` in any of its versions: some
/// chain of parents, each in any of its versions, reaches `root`.
async fn lies_within<S: OrgUnitStore + ?Sized>(store: &S, versions: &[OrgUnit], root: &str) -> CoreResult<bool> {
    let mut seen = HashSet::new();
    let mut pending: Vec<UnitCode> = versions.iter().filter_map(|v| v.parent_code.clone()).collect();
    while let Some(code) = pending.pop() {
        if code == root {
            return Ok(true);
        }
        if seen.insert(code.clone()) {
            pending.extend(
                store
                    .org_unit_versions(code.as_str())
                    .await?
                    .into_iter()
                    .filter_map(|v| v.parent_code),
            );
        }
    }
    Ok(false)
}

/// The version of a unit valid on `on` (or its latest version), or `NotFound`.
pub async fn get_org_unit<S: OrgUnitStore + ?Sized>(
    store: &S,
    code: &str,
    on: Option<NaiveDate>,
) -> CoreResult<OrgUnit> {
    let versions = store.org_unit_versions(code).await?;
    version_on(&versions, on)
        .cloned()
        .ok_or_else(|| CoreError::not_found("org unit", code))
}

/// Largest number of communes one campaign may cover.
pub const MAX_CAMPAIGN_COMMUNES: usize = 2_000;

/// Expand units (communes, districts or a province) into the communes valid on `on`,
/// in the order given, without repeats. `field` names the input in errors.
pub async fn expand_to_communes<S: OrgUnitStore + ?Sized>(
    store: &S,
    codes: &[String],
    on: NaiveDate,
    field: &str,
) -> CoreResult<Vec<UnitCode>> {
    if codes.is_empty() {
        return Err(CoreError::invalid(
            field,
            "name at least one commune, district or province",
        ));
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for code in codes {
        let versions = store.org_unit_versions(code).await?;
        let unit = version_on(&versions, Some(on))
            .ok_or_else(|| CoreError::invalid(field, format!("unit {code:?} does not exist on {on}")))?;
        let mut stack = vec![unit.clone()];
        while let Some(unit) = stack.pop() {
            if unit.level == Level::Commune {
                if seen.insert(unit.code.clone()) {
                    out.push(unit.code);
                }
                continue;
            }
            let mut children: Vec<OrgUnit> = store
                .org_unit_children(unit.code.as_str())
                .await?
                .into_iter()
                .filter(|c| c.is_valid_on(on))
                .collect();
            children.reverse();
            stack.extend(children);
        }
        if out.len() > MAX_CAMPAIGN_COMMUNES {
            return Err(CoreError::invalid(
                field,
                format!("a campaign covers at most {MAX_CAMPAIGN_COMMUNES} communes"),
            ));
        }
    }
    if out.is_empty() {
        return Err(CoreError::invalid(field, "these units hold no communes"));
    }
    Ok(out)
}

/// Every version of every commune, with the old → new mapping: what it takes to follow a
/// campaign's communes across a change of units. A read or two of the level's index (a
/// province holds a few hundred communes), not one read a commune.
pub async fn commune_history<S: OrgUnitStore + ?Sized>(store: &S) -> CoreResult<UnitHistory> {
    let filter = OrgUnitFilter {
        level: Some(Level::Commune),
        parent_code: None,
    };
    let mut page = PageRequest::first(MAX_PAGE_SIZE);
    let mut units = Vec::new();
    loop {
        let batch = store.list_org_units(&filter, &page).await?;
        units.extend(batch.items);
        match batch.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(UnitHistory::new(units)),
        }
    }
}
