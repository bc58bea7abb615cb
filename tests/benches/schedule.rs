//! Schedule expansion: a year of weekly sessions for 192 communes (about 10,000 sessions).
//! Prints the spread (median, min, max) of 20 runs of
//! - the expansion itself: the cron schedule's occurrences over the year × the communes,
//!   each made a `Session` (what the planner computes before it writes);
//! - the planner's whole run over a fresh SQLite file: the same plus the inserts and the
//!   campaign's watermark;
//! - its reference, in the same run: the rows the planner wrote, written again into a fresh
//!   file of the same schema by SQLite alone, 5,000 a transaction as the planner writes them.
//!
//! The planner's run is judged as a ratio to its reference (target <= 2.7×: the 100 ms the
//! planner was given on the machine of PERFORMANCE.md, over the 37 ms the reference took
//! there),
//! so that a slower disk or CPU moves both.
//!
//! `cargo bench -p outreach-tests --bench schedule`.

mod common;
#[path = "common/figures.rs"]
mod figures;
#[path = "common/raw.rs"]
mod raw;
use figures::{Better, Figure, Spread, print_figures, ratios};

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use common::t;
use outreach_core::campaign::{Campaign, CampaignStatus};
use outreach_core::jobs::run_planner;
use outreach_core::ports::CampaignStore;
use outreach_core::session::Session;
use outreach_store::SqliteStore;

const COMMUNES: usize = 192;
const RUNS: usize = 20;
/// The planner's run over the same rows written by SQLite alone.
const MAX_RATIO: f64 = 2.7;
/// The rows a transaction of the planner holds (`SESSION_BATCH`).
const BATCH: usize = 5_000;

/// "Every Saturday 08:00" over 2026 in 192 communes, active.
fn campaign() -> Campaign {
    let communes = (0..COMMUNES).map(|c| format!("07{c:03}")).collect();
    let mut campaign = common::saturdays_of_2026("cp_schedule_bench", communes, 40);
    campaign.status = CampaignStatus::Active;
    campaign
}

fn ms(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn expand(campaign: &Campaign, now: DateTime<Utc>) -> Vec<Session> {
    let schedule = campaign.schedule.parse().unwrap();
    let (start, end) = campaign.period.bounds(schedule.time_zone());
    schedule
        .occurrences_between(start, end)
        .flat_map(|at| campaign.communes.iter().map(move |c| (at, c)))
        .map(|(at, commune)| Session::materialise(campaign, commune.as_str(), at, now))
        .collect()
}

#[tokio::main]
async fn main() {
    let campaign = campaign();
    let now = t("2025-12-31T00:00:00Z");
    let mut sessions = 0;
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        sessions = std::hint::black_box(expand(&campaign, now)).len();
        times.push(ms(started.elapsed()));
    }
    let expansion = Spread::of(&times);

    let (mut planner, mut reference) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("schedule.db");
        let store = SqliteStore::open(&db).unwrap();
        store.insert_campaign(&campaign).await.unwrap();
        let started = Instant::now();
        let report = run_planner(&store, now, Duration::days(366)).await.unwrap();
        planner.push(ms(started.elapsed()));
        assert_eq!(
            report.sessions_created, sessions,
            "the planner stores every session the expansion makes"
        );
        drop(store);
        let (time, rows) = raw::write_rows(&db, &dir.path().join("raw.db"), "sessions", BATCH, None);
        assert_eq!(rows, sessions);
        reference.push(ms(time));
    }
    let ratio = Spread::of(&ratios(&planner, &reference));
    let (planner, reference) = (Spread::of(&planner), Spread::of(&reference));

    println!("schedule expansion: {COMMUNES} communes × weekly over 2026 = {sessions} sessions ({RUNS} runs)");
    println!("expansion (in memory):        {} ms", expansion.show(2, ""));
    println!("planner run into SQLite:      {} ms", planner.show(2, ""));
    println!("the same rows by SQLite alone: {} ms", reference.show(2, ""));
    println!(
        "planner / SQLite alone:       {} (target <= {MAX_RATIO}x)",
        ratio.show(2, "x")
    );
    print_figures(&[
        Figure::info(
            format!("schedule: {sessions} sessions expanded in memory"),
            format!("{} ms", expansion.show(2, "")),
        ),
        Figure::spread(
            format!("schedule: {sessions} sessions materialised into SQLite (x SQLite alone)"),
            format!(
                "{:.1} ms vs {:.1} ms = {}",
                planner.median,
                reference.median,
                ratio.show(2, "x")
            ),
            &ratio,
            MAX_RATIO,
            Better::Lower,
            format!("<= {MAX_RATIO}x"),
        ),
    ]);
}
