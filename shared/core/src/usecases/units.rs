use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use tracing::instrument;

use crate::error::{CoreError, CoreResult};
use crate::org::{
    ImportSummary, ImportValidity, Level, OrgUnit, OrgUnitRecord, outside_parents, validate_units, version_on,
};
use crate::ports::OrgUnitStore;

/// Import administrative units: validate every row against the file and the stored units,
/// then write all of them in one go, or nothing when any row is bad.
#[instrument(skip_all, fields(rows = rows.len()))]
pub async fn import_org_units<S: OrgUnitStore + ?Sized>(
    store: &S,
    rows: Vec<(usize, Result<OrgUnitRecord, String>)>,
    validity: ImportValidity,
) -> CoreResult<ImportSummary> {
    let mut codes: HashSet<String> = outside_parents(&rows);
    codes.extend(rows.iter().filter_map(|(_, r)| r.as_ref().ok()?.code.clone()));
    let mut existing = HashMap::new();
    for code in codes {
        let versions = store.org_unit_versions(&code).await?;
        if !versions.is_empty() {
            existing.insert(code, versions);
        }
    }
    let units = validate_units(rows, validity, &existing)?;
    store.put_org_units(&units).await?;
    let summary = ImportSummary::of(&units);
    tracing::info!(
        provinces = summary.provinces,
        districts = summary.districts,
        communes = summary.communes,
        "units imported"
    );
    Ok(summary)
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
) -> CoreResult<Vec<String>> {
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
                .org_unit_children(&unit.code)
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
