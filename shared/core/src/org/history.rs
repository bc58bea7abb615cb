//! Units across a change of units (the 1 July 2025 reform): which unit holds a commune's
//! sessions on a date, and which of a campaign's communes end, and are replaced by what,
//! within its period.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::{MergeKind, OrgUnit, version_on};
use crate::ids::UnitCode;

/// Every known version of a set of units, with the old → new mapping (`former_units`)
/// turned around: for each old code, the units that took it over.
#[derive(Debug, Clone, Default)]
pub struct UnitHistory {
    versions: HashMap<UnitCode, Vec<OrgUnit>>,
    successors: HashMap<UnitCode, Vec<(UnitCode, MergeKind)>>,
}

/// What stands for a commune on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommuneOn<'a> {
    /// The commune itself: its version valid that day.
    Itself(&'a OrgUnit),
    /// It does not exist that day: the units valid then that took it over, by code.
    Replaced(Vec<&'a OrgUnit>),
    /// It does not exist that day and no unit valid then took it over.
    Gone,
    /// No version of the code is known.
    Unknown,
}

impl UnitHistory {
    /// Index every version of `units`.
    pub fn new(units: impl IntoIterator<Item = OrgUnit>) -> Self {
        let mut history = Self::default();
        for unit in units {
            for former in &unit.former_units {
                let to = history.successors.entry(former.code.clone()).or_default();
                if !to.iter().any(|(code, _)| *code == unit.code) {
                    to.push((unit.code.clone(), former.merge));
                }
            }
            history.versions.entry(unit.code.clone()).or_default().push(unit);
        }
        for versions in history.versions.values_mut() {
            versions.sort_by_key(|u| u.valid_from);
        }
        for to in history.successors.values_mut() {
            to.sort_by(|a, b| a.0.cmp(&b.0));
        }
        history
    }

    /// The unit that holds `code`'s sessions on `on`: its own version valid then; else the
    /// units that took it over (through later changes too: old → new → newer); else none.
    pub fn commune_on(&self, code: &str, on: NaiveDate) -> CommuneOn<'_> {
        let Some(versions) = self.versions.get(code) else {
            return CommuneOn::Unknown;
        };
        if let Some(unit) = version_on(versions, Some(on)) {
            return CommuneOn::Itself(unit);
        }
        let mut found: Vec<&OrgUnit> = Vec::new();
        // A reused code may list itself among its former units: `seen` ends such loops.
        let mut seen = HashSet::from([code]);
        let mut pending = vec![code];
        while let Some(old) = pending.pop() {
            for (new, _) in self.successors.get(old).into_iter().flatten() {
                if !seen.insert(new.as_str()) {
                    continue;
                }
                match self.versions.get(new).and_then(|vs| version_on(vs, Some(on))) {
                    Some(unit) => found.push(unit),
                    None => pending.push(new.as_str()),
                }
            }
        }
        if found.is_empty() {
            return CommuneOn::Gone;
        }
        found.sort_by(|a, b| a.code.cmp(&b.code));
        CommuneOn::Replaced(found)
    }

    /// How `new` took `old` over, if the mapping says.
    fn merge_of(&self, old: &str, new: &str) -> Option<MergeKind> {
        self.successors
            .get(old)?
            .iter()
            .find(|(code, _)| code == new)
            .map(|(_, merge)| *merge)
    }

    /// The changes of units a campaign in `communes` (as they are on `start`) meets from
    /// `start` to `end`, both inclusive: every version that ends before `end`, with the units
    /// that hold its sessions from the next day, following those through their own changes.
    /// Ordered by date, then code.
    pub fn changes_within(&self, communes: &[UnitCode], start: NaiveDate, end: NaiveDate) -> Vec<UnitChange> {
        let mut changes = Vec::new();
        let mut seen: HashSet<(&str, Option<NaiveDate>)> = HashSet::new();
        let mut pending: Vec<(&str, NaiveDate)> = communes.iter().map(|c| (c.as_str(), start)).collect();
        while let Some((code, on)) = pending.pop() {
            let Some(unit) = self.versions.get(code).and_then(|vs| version_on(vs, Some(on))) else {
                continue;
            };
            if !seen.insert((unit.code.as_str(), unit.valid_from)) {
                continue;
            }
            let Some((until, next_day)) = unit
                .valid_until
                .filter(|until| *until < end)
                .and_then(|until| Some((until, until.succ_opt()?)))
            else {
                continue;
            };
            let replaced_by = match self.commune_on(code, next_day) {
                CommuneOn::Itself(u) => vec![u],
                CommuneOn::Replaced(us) => us,
                CommuneOn::Gone | CommuneOn::Unknown => Vec::new(),
            };
            pending.extend(replaced_by.iter().map(|u| (u.code.as_str(), next_day)));
            let replaced_by: Vec<Replacement> = replaced_by
                .into_iter()
                .map(|u| Replacement {
                    code: u.code.clone(),
                    name: u.name.clone(),
                    merge: self.merge_of(code, u.code.as_str()),
                })
                .collect();
            changes.push(UnitChange {
                code: unit.code.clone(),
                name: unit.name.clone(),
                until,
                message: change_message(unit, next_day, &replaced_by),
                replaced_by,
            });
        }
        changes.sort_by(|a, b| (a.until, &a.code).cmp(&(b.until, &b.code)));
        changes
    }
}

/// A commune that ends within a campaign's period, and what holds its sessions after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnitChange {
    /// The commune's code.
    #[schema(value_type = String, example = "07201")]
    pub code: UnitCode,
    /// Its name in the version that ends.
    #[schema(example = "Phường Thọ Xương")]
    pub name: String,
    /// The last day it is valid (local date); from the next day its sessions are held in
    /// `replaced_by`.
    #[schema(example = "2025-06-30")]
    pub until: NaiveDate,
    /// The units that hold its sessions from the next day, by code: one session in each per
    /// start, however many old communes each took over. Empty: its sessions stop.
    pub replaced_by: Vec<Replacement>,
    /// The change in Vietnamese, for the planner.
    #[schema(
        example = "Từ ngày 01/07/2025, Phường Thọ Xương không còn là đơn vị hành chính: các buổi từ ngày này được lập tại Phường Bắc Giang."
    )]
    pub message: String,
}

/// A unit that takes over a commune's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Replacement {
    #[schema(value_type = String, example = "07210")]
    pub code: UnitCode,
    #[schema(example = "Phường Bắc Giang")]
    pub name: String,
    /// Whether it took the whole old commune or part of it, as the old → new mapping says;
    /// absent when the mapping does not (a unit renamed under its code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeKind>,
}

/// "A, B và C".
fn join_names(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} và {last}", init.join(", ")),
    }
}

/// What a change means for a campaign's sessions, in Vietnamese.
fn change_message(unit: &OrgUnit, from: NaiveDate, replaced_by: &[Replacement]) -> String {
    let from = from.format("%d/%m/%Y");
    let name = &unit.name;
    match replaced_by {
        [] => format!(
            "Từ ngày {from}, {name} không còn là đơn vị hành chính và không có đơn vị nào thay thế: \
             các buổi từ ngày này sẽ không được lập."
        ),
        [same] if same.code == unit.code && same.merge.is_none() => format!(
            "Từ ngày {from}, {name} đổi thành {}: các buổi từ ngày này được lập tại {}.",
            same.name, same.name
        ),
        _ => {
            let names: Vec<&str> = replaced_by.iter().map(|r| r.name.as_str()).collect();
            format!(
                "Từ ngày {from}, {name} không còn là đơn vị hành chính: các buổi từ ngày này được lập tại {}.",
                join_names(&names)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org::{FormerUnit, Level};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn commune(
        code: &str,
        name: &str,
        from: Option<&str>,
        until: Option<&str>,
        former: &[(&str, MergeKind)],
    ) -> OrgUnit {
        OrgUnit {
            code: code.into(),
            name: name.into(),
            level: Level::Commune,
            parent_code: Some("24".into()),
            kind: None,
            valid_from: from.map(d),
            valid_until: until.map(d),
            former_units: former
                .iter()
                .map(|(code, merge)| FormerUnit {
                    code: (*code).into(),
                    name: None,
                    merge: *merge,
                })
                .collect(),
        }
    }

    /// Before 1 July 2025: A (07201), B (07207), C (07441, split in two), D (07264, ends
    /// with no successor), E (07210, its code reused by the unit that absorbs A, B and E).
    fn reform() -> UnitHistory {
        let old = |code, name| commune(code, name, None, Some("2025-06-30"), &[]);
        UnitHistory::new([
            old("07201", "Phường Thọ Xương"),
            old("07207", "Phường Ngô Quyền"),
            old("07441", "Xã Dĩnh Trì"),
            old("07264", "Thị trấn Cầu Gồ"),
            old("07210", "Phường Hoàng Văn Thụ"),
            commune(
                "07210",
                "Phường Bắc Giang",
                Some("2025-07-01"),
                None,
                &[
                    ("07201", MergeKind::Full),
                    ("07207", MergeKind::Full),
                    ("07210", MergeKind::Full),
                    ("07441", MergeKind::Partial),
                ],
            ),
            commune(
                "07228",
                "Phường Đa Mai",
                Some("2025-07-01"),
                None,
                &[("07441", MergeKind::Partial)],
            ),
        ])
    }

    fn codes(on: CommuneOn<'_>) -> Vec<&str> {
        match on {
            CommuneOn::Itself(u) => vec![u.code.as_str()],
            CommuneOn::Replaced(us) => us.into_iter().map(|u| u.code.as_str()).collect(),
            CommuneOn::Gone => vec!["gone"],
            CommuneOn::Unknown => vec!["unknown"],
        }
    }

    #[test]
    fn a_commune_is_itself_until_it_ends_then_the_units_that_took_it_over() {
        let h = reform();
        assert_eq!(codes(h.commune_on("07201", d("2025-06-30"))), ["07201"]);
        assert_eq!(codes(h.commune_on("07201", d("2025-07-01"))), ["07210"]);
        assert_eq!(codes(h.commune_on("07441", d("2025-07-01"))), ["07210", "07228"]);
        assert_eq!(codes(h.commune_on("07264", d("2025-07-01"))), ["gone"]);
        assert_eq!(codes(h.commune_on("99999", d("2025-07-01"))), ["unknown"]);
        // The reused code is the new unit from 1 July, the old one before.
        let CommuneOn::Itself(before) = h.commune_on("07210", d("2025-06-30")) else {
            panic!()
        };
        let CommuneOn::Itself(after) = h.commune_on("07210", d("2025-07-01")) else {
            panic!()
        };
        assert_eq!(
            (before.name.as_str(), after.name.as_str()),
            ("Phường Hoàng Văn Thụ", "Phường Bắc Giang")
        );
    }

    #[test]
    fn successors_are_followed_through_a_later_change() {
        let h = UnitHistory::new([
            commune("1", "Xã Một", None, Some("2025-06-30"), &[]),
            commune(
                "2",
                "Xã Hai",
                Some("2025-07-01"),
                Some("2026-12-31"),
                &[("1", MergeKind::Full)],
            ),
            commune("3", "Xã Ba", Some("2027-01-01"), None, &[("2", MergeKind::Full)]),
        ]);
        assert_eq!(codes(h.commune_on("1", d("2026-06-01"))), ["2"]);
        assert_eq!(codes(h.commune_on("1", d("2027-06-01"))), ["3"]);
        let changes = h.changes_within(&["1".into()], d("2025-01-01"), d("2027-12-31"));
        let steps: Vec<(&str, NaiveDate, Vec<&str>)> = changes
            .iter()
            .map(|c| {
                (
                    c.code.as_str(),
                    c.until,
                    c.replaced_by.iter().map(|r| r.code.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            [("1", d("2025-06-30"), vec!["2"]), ("2", d("2026-12-31"), vec!["3"])]
        );
    }

    #[test]
    fn a_period_across_1_july_2025_names_each_commune_that_ends_and_what_replaces_it() {
        let h = reform();
        let communes: Vec<UnitCode> = ["07201", "07207", "07441", "07264", "07210"].map(UnitCode::from).into();
        let changes = h.changes_within(&communes, d("2025-06-01"), d("2025-08-31"));
        type Change<'a> = (&'a str, NaiveDate, Vec<(&'a str, Option<MergeKind>)>);
        let summary: Vec<Change<'_>> = changes
            .iter()
            .map(|c| {
                (
                    c.code.as_str(),
                    c.until,
                    c.replaced_by.iter().map(|r| (r.code.as_str(), r.merge)).collect(),
                )
            })
            .collect();
        let full = Some(MergeKind::Full);
        let partial = Some(MergeKind::Partial);
        assert_eq!(
            summary,
            [
                ("07201", d("2025-06-30"), vec![("07210", full)]),
                ("07207", d("2025-06-30"), vec![("07210", full)]),
                ("07210", d("2025-06-30"), vec![("07210", full)]),
                ("07264", d("2025-06-30"), vec![]),
                ("07441", d("2025-06-30"), vec![("07210", partial), ("07228", partial)]),
            ]
        );
        assert_eq!(
            changes[0].message,
            "Từ ngày 01/07/2025, Phường Thọ Xương không còn là đơn vị hành chính: \
             các buổi từ ngày này được lập tại Phường Bắc Giang."
        );
        assert_eq!(
            changes[3].message,
            "Từ ngày 01/07/2025, Thị trấn Cầu Gồ không còn là đơn vị hành chính và không có đơn vị nào \
             thay thế: các buổi từ ngày này sẽ không được lập."
        );
        assert!(
            changes[4].message.ends_with("tại Phường Bắc Giang và Phường Đa Mai."),
            "{}",
            changes[4].message
        );
        // A period that ends on the last day of the old units meets no change.
        assert!(h.changes_within(&communes, d("2025-06-01"), d("2025-06-30")).is_empty());
    }

    #[test]
    fn a_unit_renamed_under_its_code_is_said_to_change_its_name() {
        let h = UnitHistory::new([
            commune("07264", "Thị trấn Cầu Gồ", None, Some("2025-06-30"), &[]),
            commune("07264", "Xã Yên Thế", Some("2025-07-01"), None, &[]),
        ]);
        let changes = h.changes_within(&["07264".into()], d("2025-06-01"), d("2025-08-31"));
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].message,
            "Từ ngày 01/07/2025, Thị trấn Cầu Gồ đổi thành Xã Yên Thế: các buổi từ ngày này được lập tại Xã Yên Thế."
        );
    }
}
