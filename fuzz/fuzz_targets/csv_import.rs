//! The importers a planner uploads files to: contact lists (CSV), administrative units
//! (CSV or JSON) and official statistics (CSV), read and then validated as the use cases do.
//!
//! Input: one byte choosing the importer (its value modulo 4, so `0`–`3` in a text seed:
//! contacts, units CSV, units JSON, statistics), then the file (invalid UTF-8 is replaced).
#![no_main]

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use outreach_core::contact::parse_contacts_csv;
use outreach_core::org::{
    ImportSummary, ImportValidity, MAX_UNITS_PER_IMPORT, OrgUnitRecord, outside_parents, parse_units_csv,
    parse_units_json, validate_units,
};
use outreach_core::usecases::parse_statistics_csv;
use outreach_core::{CoreError, CoreResult};

fuzz_target!(|data: &[u8]| {
    let Some((&which, file)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(file);
    match which % 4 {
        0 => contacts(&text),
        1 => units(parse_units_csv(&text), Numbered::Lines),
        2 => units(parse_units_json(&text), Numbered::Places),
        _ => statistics(&text),
    }
});

fn contacts(text: &str) {
    let rows = match parse_contacts_csv(text) {
        Ok(rows) => rows,
        Err(e) => return assert_file_error(&e),
    };
    let now: DateTime<Utc> = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
    assert!(Numbered::Lines.holds(rows.iter().map(|r| r.row)), "{:?}", rows.iter().map(|r| r.row).collect::<Vec<_>>());
    for (i, row) in rows.into_iter().enumerate() {
        let Ok(input) = row.input else { continue };
        let consents = input.consents.len();
        if let Ok(contact) = input.into_contact(format!("c{i}").into(), now, Some("fuzz".into())) {
            assert_eq!(contact.consents.len(), consents);
            assert!(!contact.name.is_empty() && contact.name.chars().count() <= 200);
            assert!(matches!(&contact.phone, Some(phone) if phone.e164.starts_with("+84")));
        }
    }
}

/// The records of a units file, numbered, each read or refused on its own.
type UnitRows = Vec<(usize, Result<OrgUnitRecord, String>)>;

/// How a file's rows are numbered.
#[derive(Clone, Copy)]
enum Numbered {
    /// CSV: by the line each starts on, the header being line 1: from 2, rising.
    Lines,
    /// JSON: by place in the array, from 1.
    Places,
}

impl Numbered {
    fn holds(self, rows: impl Iterator<Item = usize>) -> bool {
        let rows: Vec<usize> = rows.collect();
        match self {
            Self::Lines => rows.iter().enumerate().all(|(i, &row)| row >= i + 2) && rows.windows(2).all(|w| w[0] < w[1]),
            Self::Places => rows.iter().enumerate().all(|(i, &row)| row == i + 1),
        }
    }
}

fn units(parsed: CoreResult<UnitRows>, numbered: Numbered) {
    let rows = match parsed {
        Ok(rows) => rows,
        Err(e) => return assert_file_error(&e),
    };
    assert!(numbered.holds(rows.iter().map(|(row, _)| *row)));
    let last_row = rows.last().map_or(0, |(row, _)| *row);
    outside_parents(&rows);
    let n = rows.len();
    match validate_units(rows, ImportValidity::default(), &HashMap::new()) {
        // All or nothing: every row became a unit, each code once.
        Ok(units) => {
            assert_eq!(units.len(), n);
            let summary = ImportSummary::of(&units);
            assert_eq!(summary.provinces + summary.districts + summary.communes, n);
            let mut codes: Vec<&str> = units.iter().map(|u| u.code.as_str()).collect();
            codes.sort_unstable();
            codes.dedup();
            assert_eq!(codes.len(), n);
        }
        Err(CoreError::ImportRejected(errors)) => {
            assert!(!errors.is_empty());
            assert!(errors.windows(2).all(|w| w[0].row < w[1].row), "{errors:?}");
            assert!(errors.iter().all(|e| (1..=last_row).contains(&e.row) && !e.reasons.is_empty()));
        }
        Err(e) => {
            assert_file_error(&e);
            assert!(n == 0 || n > MAX_UNITS_PER_IMPORT);
        }
    }
}

fn statistics(text: &str) {
    match parse_statistics_csv(text) {
        Ok(rows) => {
            for (i, row) in rows.iter().enumerate() {
                if row.check(&format!("statistics[{i}]")).is_ok() {
                    row.tallies();
                }
            }
        }
        Err(CoreError::ImportRejected(errors)) => assert!(!errors.is_empty()),
        Err(e) => panic!("statistics: {e:?}"),
    }
}

/// A file refused as a whole names the file as the field at fault.
fn assert_file_error(e: &CoreError) {
    assert!(
        matches!(e, CoreError::Validation { field, .. } if field == "file"),
        "{e:?}"
    );
}
