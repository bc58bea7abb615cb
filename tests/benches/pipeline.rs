//! What the reminder pipeline delivers per second on a laptop's parts (a SQLite file, the
//! in-process queue, the outbox in a temporary directory) for one commune of 100,000
//! consenting citizens, and the process's peak memory. What the same deliveries cost in
//! DynamoDB is the `dynamodb_cost` bench.
//!
//! Each run is followed by its reference: the deliveries it stored, written again into a
//! fresh file of the same schema by SQLite alone, each a claim (INSERT) then its outcome
//! (UPDATE of the columns the sender changes), 500 to a transaction as one sender pass
//! takes them. The pipeline is judged by its rate over the reference's (target >= 0.06: the
//! 5,000 deliveries/s it was given on the machine of PERFORMANCE.md, over the reference's
//! 84,000/s there), so that a slower disk or CPU moves both. `PIPELINE_BENCH_RUNS` (5) runs.
//!
//! `cargo bench -p outreach-tests --bench pipeline` (`PIPELINE_BENCH_RECIPIENTS` overrides
//! the number of citizens).

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::Instant;

use outreach_notify::Outbox;
use outreach_store::SqliteStore;

#[path = "common/figures.rs"]
mod figures;
#[path = "common/pipeline.rs"]
mod pipeline;
#[path = "common/raw.rs"]
mod raw;
use figures::{Better, Figure, Spread, megabytes, own_peak_kib, print_figures, ratios, reset_own_peak};

const RECIPIENTS: usize = 100_000;
/// Tasks one sender pass takes from the queue (an SQS-fed Lambda takes 10; locally more).
const SENDER_BATCH: usize = 500;
/// Sender passes running at once: each waits on the store most of the time, and the calls
/// they have waiting together are committed together.
const SENDER_CONCURRENCY: usize = 64;
/// The pipeline's rate over SQLite's alone for the same rows.
const MIN_RATIO: f64 = 0.06;
const RUNS: usize = 5;

fn per_second(n: usize, d: std::time::Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: a number")))
        .unwrap_or(default)
}

/// What one run on a fresh file measured.
struct Run {
    per_second: f64,
    reference_per_second: f64,
    /// The process's peak memory over the setup and the pipeline (not the reference).
    peak_kib: u64,
}

/// One run on a fresh file: deliveries per second of the pipeline and of its reference.
async fn run(recipients: usize) -> Run {
    reset_own_peak();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let store = SqliteStore::open(&db).unwrap();
    let outbox_dir = dir.path().join("outbox");
    let outbox = Arc::new(Outbox::new(&outbox_dir).unwrap());

    // Setup (not part of the figure): units, the citizens, a campaign, the planner.
    let setup_started = Instant::now();
    pipeline::seed(&store, recipients).await;
    pipeline::plan(&store).await;
    let setup_time = setup_started.elapsed();

    let run = pipeline::dispatch_and_send(&store, outbox, SENDER_BATCH, SENDER_CONCURRENCY).await;
    assert_eq!(run.dispatched.enqueued, recipients as u64);
    drop(store);
    let peak_kib = own_peak_kib();

    // Count what the outbox got, line by line.
    let file = std::fs::File::open(outbox_dir.join("sms.jsonl")).unwrap();
    let lines = BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(lines, recipients, "one SMS per citizen in the outbox");

    let (raw_time, rows) = raw::write_rows(
        &db,
        &dir.path().join("raw.db"),
        "deliveries",
        SENDER_BATCH,
        Some(raw::Rewrite {
            key: "id",
            columns: &["channel", "status", "updated_at", "lease_until", "version", "data"],
        }),
    );
    assert_eq!(rows, recipients, "one delivery stored per citizen");

    let total = run.dispatch_time + run.send_time;
    let (rate, raw_rate) = (per_second(recipients, total), per_second(rows, raw_time));
    println!(
        "setup {:>5.1} s | dispatch {:>6.2} s ({:>6.0} tasks/s) | send {:>6.2} s ({:>6.0}/s) | total {rate:>6.0} deliveries/s | SQLite alone {raw_rate:>6.0}/s | ratio {:.3}",
        setup_time.as_secs_f64(),
        run.dispatch_time.as_secs_f64(),
        per_second(recipients, run.dispatch_time),
        run.send_time.as_secs_f64(),
        per_second(recipients, run.send_time),
        rate / raw_rate
    );
    Run {
        per_second: rate,
        reference_per_second: raw_rate,
        peak_kib,
    }
}

#[tokio::main]
async fn main() {
    let recipients = env_number("PIPELINE_BENCH_RECIPIENTS", RECIPIENTS);
    let runs = env_number("PIPELINE_BENCH_RUNS", RUNS);
    println!("Reminder pipeline on SQLite + in-process queue + outbox, {recipients} recipients, {runs} runs");
    println!("(send: {SENDER_CONCURRENCY} passes of {SENDER_BATCH} at once; setup not timed)");
    let (mut rates, mut references, mut peak_kib) = (Vec::new(), Vec::new(), None);
    for _ in 0..runs {
        let run = run(recipients).await;
        rates.push(run.per_second);
        references.push(run.reference_per_second);
        // The first run's: later runs start with what the allocator kept of the earlier
        // runs' references (100,000 rows read back), which it does not give back.
        peak_kib.get_or_insert(run.peak_kib);
    }
    let peak_kib = peak_kib.unwrap_or(0);
    let ratio = Spread::of(&ratios(&rates, &references));
    let (rate, reference) = (Spread::of(&rates), Spread::of(&references));
    let peak = megabytes(peak_kib);
    println!("pipeline:        {} deliveries/s", rate.show(0, ""));
    println!(
        "SQLite alone:    {} deliveries/s (the same rows, claim then outcome)",
        reference.show(0, "")
    );
    println!("ratio:           {} (target >= {MIN_RATIO})", ratio.show(3, ""));
    println!("peak memory:     {peak:.1} MB (the whole process over the first run's setup and pipeline)");
    print_figures(&[
        Figure::spread(
            format!("reminder pipeline, {recipients} recipients (x SQLite alone)"),
            format!(
                "{:.0} vs {:.0} deliveries/s = {}",
                rate.median,
                reference.median,
                ratio.show(3, "x")
            ),
            &ratio,
            MIN_RATIO,
            Better::Higher,
            format!(">= {MIN_RATIO}x"),
        ),
        Figure::info("reminder pipeline peak memory", format!("{peak:.1} MB")),
    ]);
}
