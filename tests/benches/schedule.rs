//! Schedule expansion: a year of weekly sessions for 192 communes (about 10,000 sessions),
//! target <= 100 ms. Prints the median of 20 runs of
//! - the expansion itself: the cron schedule's occurrences over the year × the communes,
//!   each made a `Session` (what the planner computes before it writes);
//! - the planner's whole run over a fresh SQLite file: the same plus the inserts and the
//!   campaign's watermark.
//!
//! `cargo bench -p outreach-tests --bench schedule`.

mod common;
#[path = "common/figures.rs"]
mod figures;
use figures::{Figure, print_figures};

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
const TARGET_MS: f64 = 100.0;

/// "Every Saturday 08:00" over 2026 in 192 communes, active.
fn campaign() -> Campaign {
    let communes = (0..COMMUNES).map(|c| format!("07{c:03}")).collect();
    let mut campaign = common::saturdays_of_2026("cp_schedule_bench", communes, 40);
    campaign.status = CampaignStatus::Active;
    campaign
}

fn median(mut times: Vec<StdDuration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

fn expand(campaign: &Campaign, now: DateTime<Utc>) -> Vec<Session> {
    let schedule = campaign.schedule.parse().unwrap();
    let (start, end) = campaign.period.bounds(schedule.time_zone());
    schedule
        .occurrences_between(start, end)
        .flat_map(|at| campaign.communes.iter().map(move |c| (at, c)))
        .map(|(at, commune)| Session::materialise(campaign, commune, at, now))
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
        times.push(started.elapsed());
    }
    let expansion = median(times);

    let mut times = Vec::new();
    let mut stored = 0;
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("schedule.db")).unwrap();
        store.insert_campaign(&campaign).await.unwrap();
        let started = Instant::now();
        let report = run_planner(&store, now, Duration::days(366)).await.unwrap();
        times.push(started.elapsed());
        stored = report.sessions_created;
    }
    let planner = median(times);
    assert_eq!(stored, sessions, "the planner stores every session the expansion makes");

    println!("schedule expansion: {COMMUNES} communes × weekly over 2026 = {sessions} sessions (median of {RUNS})");
    println!("expansion (in memory):   {expansion:>8.2} ms");
    println!("planner run into SQLite: {planner:>8.2} ms (target <= {TARGET_MS} ms)");
    print_figures(&[
        Figure::info(
            format!("schedule: {sessions} sessions expanded in memory"),
            format!("{expansion:.2} ms"),
        ),
        Figure::new(
            format!("schedule: {sessions} sessions materialised into SQLite"),
            format!("{planner:.2} ms"),
            format!("<= {TARGET_MS} ms"),
            planner <= TARGET_MS,
        ),
    ]);
}
