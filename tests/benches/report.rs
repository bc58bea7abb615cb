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
use figures::{Better, Figure, Spread, print_figures, ratios, smoke};

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
use outreach_core::report::QuarterlyReport;
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
                    code: district.as_str().into(),
                    name: format!("Huyện {c}"),
                    level: Level::District,
                    parent_code: Some("24".into()),
                    ..units[0].clone()
                });
            }
            units.push(OrgUnit {
                code: format!("07{c:03}").into(),
                name: format!("Xã {c}"),
                level: Level::Commune,
                parent_code: Some(district.into()),
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
        .map(|u| u.code.into_string())
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
            commune_code: commune.into(),
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

/// A store holding `records` attendance records.
struct Seeded {
    dir: tempfile::TempDir,
    records: usize,
    file_bytes: u64,
}

impl Seeded {
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("report-bench.db")
    }

    /// A store opened on the file afresh: its connection's page cache and the store's kept
    /// tallies empty, as after any write (which empties both).
    fn open(&self) -> SqliteStore {
        SqliteStore::open(self.path()).unwrap()
    }
}

async fn seeded(records: usize) -> Seeded {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("report-bench.db")).unwrap();
    let communes = load_units(&store).await;
    let started = Instant::now();
    seed(&store, &communes, records).await;
    // Closing the last connection copies the WAL into the file, as a store that has been
    // idle a while has it.
    drop(store);
    let file_bytes = std::fs::metadata(dir.path().join("report-bench.db")).unwrap().len();
    eprintln!(
        "  seeded {records} attendance records in {SESSIONS} sessions over {} communes in {:.1} s ({:.1} MB file)",
        communes.len(),
        started.elapsed().as_secs_f64(),
        file_bytes as f64 / 1e6
    );
    Seeded {
        dir,
        records,
        file_bytes,
    }
}

const Q4: Quarter = Quarter { year: 2026, quarter: 4 };

/// One build of the province's report, timed.
async fn build(store: &SqliteStore) -> (StdDuration, usize, QuarterlyReport) {
    let now = t("2027-01-01T00:00:00Z");
    let started = Instant::now();
    let report = usecases::quarterly_report(store, "24", Q4, now).await.unwrap();
    (started.elapsed(), report.tallies_read, report)
}

/// What the runs measured: per run, each store's build time from a fresh store (read from
/// the file) and again from the same store (its kept tallies).
struct Runs {
    fresh: [Vec<f64>; 2],
    kept: [Vec<f64>; 2],
    tallies_read: [usize; 2],
    units: usize,
}

/// The report built from each store in turn, run after run, so that whatever else the
/// machine does weighs on both alike. Each run opens each store afresh: the figure is the
/// report read from the file (what the first report after a write costs), not the store's
/// kept tallies, which are measured too, as a second build on the same store.
async fn measure(stores: [&Seeded; 2], runs: usize) -> Runs {
    // One build each first, not counted: the files into the page cache, and the check that
    // every record is counted.
    let mut tallies_read = [0; 2];
    let mut units = 0;
    for (i, s) in stores.iter().enumerate() {
        let (_, read, report) = build(&s.open()).await;
        let province = report.row("24", "attendees").unwrap();
        assert_eq!(province.ytd_value, Some(s.records as f64), "every record is counted");
        tallies_read[i] = read;
        units = report.rows.iter().filter(|r| r.metric == "attendees").count();
    }
    let mut fresh = [Vec::with_capacity(runs), Vec::with_capacity(runs)];
    let mut kept = [Vec::with_capacity(runs), Vec::with_capacity(runs)];
    for run in 0..runs {
        // Which store goes first changes from run to run.
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let store = stores[i].open();
            let (time, read, _) = build(&store).await;
            assert_eq!(read, tallies_read[i]);
            fresh[i].push(time.as_secs_f64() * 1e3);
            let (time, _, _) = build(&store).await;
            kept[i].push(time.as_secs_f64() * 1e3);
        }
    }
    Runs {
        fresh,
        kept,
        tallies_read,
        units,
    }
}

#[tokio::main]
async fn main() {
    let runs = if smoke() { 3 } else { RUNS };
    println!("Province quarterly report (Q4, year to date) over SQLite, {runs} runs, the two stores alternating");
    // At least 10 attendees a session in both, so that each metric has a tally of each kind
    // (citizens, volunteers, walk-ins) and both read the same tallies.
    let (small, large) = if smoke() {
        (10_000, 100_000)
    } else {
        (10_000, 1_000_000)
    };
    let stores = [&seeded(small).await, &seeded(large).await];
    let measured = measure(stores, runs).await;
    println!(
        "{:>12} {:>10} {:>14} {:>8} {:>34} {:>34}",
        "records", "file MB", "tallies read", "units", "from the file, ms (min – max)", "kept tallies, ms (min – max)"
    );
    for (i, s) in stores.iter().enumerate() {
        println!(
            "{:>12} {:>10.1} {:>14} {:>8} {:>34} {:>34}",
            s.records,
            s.file_bytes as f64 / 1e6,
            measured.tallies_read[i],
            measured.units,
            Spread::of(&measured.fresh[i]).show(2, ""),
            Spread::of(&measured.kept[i]).show(3, ""),
        );
    }
    let ratio = Spread::of(&ratios(&measured.fresh[1], &measured.fresh[0]));
    let kept_ratio = Spread::of(&ratios(&measured.kept[1], &measured.kept[0]));
    println!(
        "ratio {} / {} records, run by run: from the file {}, kept {} (target <= {MAX_RATIO}); raw records read: 0",
        stores[1].records,
        stores[0].records,
        ratio.show(2, "x"),
        kept_ratio.show(2, "x")
    );
    let [small_read, large_read] = measured.tallies_read;
    print_figures(&[
        Figure::spread(
            format!(
                "report: time, {} vs {} records (from the file)",
                stores[1].records, stores[0].records
            ),
            format!(
                "{:.2} vs {:.2} ms = {}",
                Spread::of(&measured.fresh[1]).median,
                Spread::of(&measured.fresh[0]).median,
                ratio.show(2, "x")
            ),
            &ratio,
            MAX_RATIO,
            Better::Lower,
            format!("<= {MAX_RATIO}x"),
        ),
        Figure::info(
            "report: time, same two (kept tallies)",
            format!(
                "{:.3} vs {:.3} ms = {}",
                Spread::of(&measured.kept[1]).median,
                Spread::of(&measured.kept[0]).median,
                kept_ratio.show(2, "x")
            ),
        ),
        Figure::counted(
            "report: tallies read, same two",
            format!("{large_read} vs {small_read}"),
            "equal",
            large_read == small_read,
        ),
    ]);
}
