//! What the reminder pipeline delivers per second on a laptop's parts (a SQLite file, the
//! in-process queue, the outbox in a temporary directory) for one commune of 100,000
//! consenting citizens, and the process's peak memory. What the same deliveries cost in
//! DynamoDB is the `dynamodb_cost` bench.
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
use figures::{Figure, megabytes, own_peak_kib, print_figures};

const RECIPIENTS: usize = 100_000;
/// Tasks one sender pass takes from the queue (an SQS-fed Lambda takes 10; locally more).
const SENDER_BATCH: usize = 500;
/// Sender passes running at once: each waits on the store most of the time, and the calls
/// they have waiting together are committed together.
const SENDER_CONCURRENCY: usize = 64;
const TARGET_PER_SECOND: f64 = 5_000.0;

fn per_second(n: usize, d: std::time::Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bench.db")).unwrap();
    let outbox_dir = dir.path().join("outbox");
    let outbox = Arc::new(Outbox::new(&outbox_dir).unwrap());
    let recipients: usize = std::env::var("PIPELINE_BENCH_RECIPIENTS")
        .ok()
        .map(|v| v.parse().expect("PIPELINE_BENCH_RECIPIENTS: a number"))
        .unwrap_or(RECIPIENTS);

    // Setup (not part of the figure): units, the citizens, a campaign, the planner.
    let setup_started = Instant::now();
    pipeline::seed(&store, recipients).await;
    pipeline::plan(&store).await;
    let setup_time = setup_started.elapsed();

    let run = pipeline::dispatch_and_send(&store, outbox, SENDER_BATCH, SENDER_CONCURRENCY).await;
    assert_eq!(run.dispatched.enqueued, recipients as u64);

    // Count what the outbox got, line by line.
    let file = std::fs::File::open(outbox_dir.join("sms.jsonl")).unwrap();
    let lines = BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(lines, recipients, "one SMS per citizen in the outbox");

    let total = run.dispatch_time + run.send_time;
    let rate = per_second(recipients, total);
    let peak = megabytes(own_peak_kib());
    println!("Reminder pipeline on SQLite + in-process queue + outbox (release build)");
    println!();
    println!("setup (not timed below): {:.1} s", setup_time.as_secs_f64());
    println!("recipients:          {recipients}");
    println!("SMS in the outbox:   {lines}");
    println!(
        "dispatch:            {:>7.2} s  ({:.0} tasks/s)",
        run.dispatch_time.as_secs_f64(),
        per_second(recipients, run.dispatch_time),
    );
    println!(
        "send:                {:>7.2} s  ({:.0} deliveries/s, {SENDER_CONCURRENCY} passes of {SENDER_BATCH} at once)",
        run.send_time.as_secs_f64(),
        per_second(recipients, run.send_time)
    );
    println!(
        "total:               {:>7.2} s  = {rate:.0} deliveries/s (target >= {TARGET_PER_SECOND})",
        total.as_secs_f64(),
    );
    println!("peak memory:         {peak:.1} MB (the whole process, setup included)");
    print_figures(&[
        Figure::new(
            format!("reminder pipeline, {recipients} recipients"),
            format!("{rate:.0} deliveries/s"),
            format!(">= {TARGET_PER_SECOND}/s"),
            rate >= TARGET_PER_SECOND,
        ),
        Figure::info("reminder pipeline peak memory", format!("{peak:.1} MB")),
    ]);
}
