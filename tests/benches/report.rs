//! What it costs to build the province's quarterly report from 10,000 and from 1,000,000
//! attendance records over 192 communes: the report reads the running tallies only, so
//! its time and the rows it reads must not grow with the records (target: ratio <= 1.2).
//!
//! `cargo bench -p outreach-tests --bench report`. Units come from
//! `../shared/data/bacgiang_units.json` when it is there (1 province, 10 districts, 192
//! communes), else from a generated province of the same shape.

mod common;
#[path = "common/figures.rs"]
mod figures;
#[path = "common/units.rs"]
mod units;
use figures::{Figure, print_figures, smoke};

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use common::t;
use outreach_core::campaign::Campaign;
use outreach_core::contact::ContactRole;
use outreach_core::org::{ImportScope, ImportValidity, Level, OrgUnit, parse_units_json};
use outreach_core::outcome::{AnswerFigures, Attendee, SessionRecord, tally_deltas};
use outreach_core::ports::{OrgUnitStore, OutcomeStore};
use outreach_core::quarter::Quarter;
use outreach_core::quarter::quarter_of;
use outreach_core::schedule::DEFAULT_TIME_ZONE;
use outreach_core::session::Session;
use outreach_core::usecases;
use outreach_store::SqliteStore;

const SESSIONS: usize = 1_000;
const RUNS: usize = 40;
const MAX_RATIO: f64 = 1.2;

/// The Bắc Giang list if present, else 10 districts of 19 or 20 communes.
async fn load_units(store: &SqliteStore) -> Vec<String> {
    if let Some(real) = units::bacgiang_units() {
        usecases::import_org_units(
            store,
            parse_units_json(&real).unwrap(),
            ImportValidity::default(),
            ImportScope::Anywhere,
        )
        .await
        .unwrap();
    } else {
        let mut units = vec![OrgUnit {
            code: "24".into(),
            name: "Tỉnh Bắc Giang".into(),
            level: Level::Province,
            parent_code: None,
            kind: None,
            valid_from: None,
            valid_until: None,
            former_units: Vec::new(),
        }];
        for c in 0..192 {
            let district = format!("2{:02}", c % 10);
            if c < 10 {
                units.push(OrgUnit {
                    code: district.clone(),
                    name: format!("Huyện {c}"),
                    level: Level::District,
                    parent_code: Some("24".into()),
                    ..units[0].clone()
                });
            }
            units.push(OrgUnit {
                code: format!("07{c:03}"),
                name: format!("Xã {c}"),
                level: Level::Commune,
                parent_code: Some(district),
                ..units[0].clone()
            });
        }
        store.put_org_units(&units).await.unwrap();
    }
    let tree = usecases::unit_tree(store, "24", "2026-12-31".parse().unwrap())
        .await
        .unwrap();
    tree.into_iter()
        .filter(|u| u.level == Level::Commune)
        .map(|u| u.code)
        .collect()
}

fn campaign() -> Campaign {
    common::saturdays_of_2026("cp_bench", vec![], 5000)
}

/// Record `records` attendees over 1,000 sessions spread over every commune and quarter,
/// through the store's one write path (record + tallies in one transaction).
async fn seed(store: &SqliteStore, communes: &[String], records: usize) {
    let c = campaign();
    let year_start = t("2026-01-01T01:00:00Z");
    for i in 0..SESSIONS {
        let commune = &communes[i % communes.len()];
        // Four quarters, round robin over the communes.
        let day = ((i / communes.len()) % 4) as i64 * 91 + (i % 80) as i64;
        let session = Session::materialise(&c, commune, year_start + Duration::days(day), year_start);
        let attendees = records / SESSIONS + usize::from(i < records % SESSIONS);
        let record = SessionRecord {
            session_id: session.id.clone(),
            campaign_id: c.id.clone(),
            commune_code: commune.clone(),
            quarter: quarter_of(session.starts_at, DEFAULT_TIME_ZONE),
            attendees: (0..attendees)
                .map(|a| Attendee {
                    contact_id: format!("ct_{i:04}_{a:05}").into(),
                    role: if a % 10 == 0 {
                        ContactRole::Volunteer
                    } else {
                        ContactRole::Citizen
                    },
                    walk_in: a % 7 == 0,
                })
                .collect(),
            // Every metric at least 1, so that both sizes have a tally of each: what the
            // report reads is then the same, whatever the number of records.
            outcomes: BTreeMap::from([
                ("dossiers_supported".to_string(), (attendees / 3).max(1) as u64),
                ("accounts_created".to_string(), (attendees / 4).max(1) as u64),
                ("youth_trained".to_string(), (attendees / 2).max(1) as u64),
                ("cadres_trained".to_string(), (attendees / 20).max(1) as u64),
            ]),
            // Asked, confirmed and absent at least 1 each, for the same reason.
            answers: AnswerFigures {
                asked: attendees.max(3) as u32,
                confirmed: (attendees / 2).max(2) as u32,
                confirmed_present: (attendees / 3).max(1) as u32,
            },
            attendance_recorded_at: Some(session.ends_at),
            outcomes_recorded_at: Some(session.ends_at),
            updated_by: None,
            updated_at: session.ends_at,
            version: 1,
        };
        store
            .save_session_record(&record, &tally_deltas(None, &record))
            .await
            .unwrap();
    }
}

struct Measure {
    records: usize,
    tallies_read: usize,
    units: usize,
    median: StdDuration,
}

/// A store holding `records` attendance records, kept open for the measured builds.
struct Seeded {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    records: usize,
}

async fn seeded(records: usize) -> Seeded {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("report-bench.db")).unwrap();
    let communes = load_units(&store).await;
    let started = Instant::now();
    seed(&store, &communes, records).await;
    eprintln!(
        "  seeded {records} attendance records in {SESSIONS} sessions over {} communes in {:.1} s",
        communes.len(),
        started.elapsed().as_secs_f64()
    );
    Seeded {
        _dir: dir,
        store,
        records,
    }
}

/// The report built from each store in turn, run after run, so that whatever else the
/// machine does weighs on both alike; one build each first, to warm the page cache.
async fn measure(stores: [&Seeded; 2]) -> [Measure; 2] {
    let now = t("2027-01-01T00:00:00Z");
    let mut warm = Vec::new();
    for s in stores {
        let report = usecases::quarterly_report(&s.store, "24", Quarter { year: 2026, quarter: 4 }, now)
            .await
            .unwrap();
        let province = report.row("24", "attendees").unwrap();
        assert_eq!(province.ytd_value, Some(s.records as f64), "every record is counted");
        warm.push(report);
    }
    let runs = if smoke() { 3 } else { RUNS };
    let mut times = [Vec::with_capacity(runs), Vec::with_capacity(runs)];
    for _ in 0..runs {
        for (i, s) in stores.iter().enumerate() {
            let started = Instant::now();
            let report = usecases::quarterly_report(&s.store, "24", Quarter { year: 2026, quarter: 4 }, now)
                .await
                .unwrap();
            times[i].push(started.elapsed());
            assert_eq!(report.tallies_read, warm[i].tallies_read);
        }
    }
    [0, 1].map(|i| {
        times[i].sort();
        Measure {
            records: stores[i].records,
            tallies_read: warm[i].tallies_read,
            units: warm[i].rows.iter().filter(|r| r.metric == "attendees").count(),
            median: times[i][runs / 2],
        }
    })
}

#[tokio::main]
async fn main() {
    println!("Province quarterly report (Q4, year to date) over SQLite, median of {RUNS} builds each, alternating");
    let (small, large) = if smoke() { (1_000, 10_000) } else { (10_000, 1_000_000) };
    let (small, large) = (seeded(small).await, seeded(large).await);
    let [small, large] = measure([&small, &large]).await;
    println!(
        "{:>12} {:>14} {:>8} {:>14}",
        "records", "tallies read", "units", "build (ms)"
    );
    for m in [&small, &large] {
        println!(
            "{:>12} {:>14} {:>8} {:>14.2}",
            m.records,
            m.tallies_read,
            m.units,
            m.median.as_secs_f64() * 1000.0
        );
    }
    let time_ratio = large.median.as_secs_f64() / small.median.as_secs_f64();
    let read_ratio = large.tallies_read as f64 / small.tallies_read as f64;
    println!(
        "ratio {} / {}: time {time_ratio:.2}, tallies read {read_ratio:.2} (target <= 1.2); raw records read: 0",
        large.records, small.records
    );
    print_figures(&[
        Figure::new(
            format!("report: time, {} vs {} records", large.records, small.records),
            format!(
                "{:.2} vs {:.2} ms = {time_ratio:.2}x",
                large.median.as_secs_f64() * 1e3,
                small.median.as_secs_f64() * 1e3
            ),
            format!("<= {MAX_RATIO}x"),
            time_ratio <= MAX_RATIO,
        ),
        Figure::new(
            "report: tallies read, same two",
            format!("{} vs {}", large.tallies_read, small.tallies_read),
            "equal",
            large.tallies_read == small.tallies_read,
        ),
    ]);
}
