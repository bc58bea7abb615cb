//! DynamoDB request units per delivered reminder and per attendance record, counted on the
//! calls the store really makes: the DynamoDB store runs against the DynamoDB-compatible
//! server at `AWS_ENDPOINT_URL` (moto; `scripts/bench` starts it) through a client whose SDK
//! interceptor ([`outreach_store::dynamodb::meter`]) prices each call from its items' sizes
//! the way DynamoDB bills on demand. Target: <= 10 write units per delivered reminder, judged
//! in the smoke run too (a count, not a speed: the same on any machine).
//!
//! A reminder's writes: its claim (a conditional put, 1 unit), the mark that its attempt is
//! handed to the provider (a versioned put: the item and the contact-delivery index, 2), and
//! its settle, one transaction of the delivery (2) and its commune's spend tally (1), which a
//! transaction bills twice (6): 9 units. It was 3 before the crash-safe attempt mark and the
//! spend tallies; the target was 4 then. At 325,000 reminders a year (README, costs) 9 units
//! are 2.9 million write units, about US$4 a year on demand in ap-southeast-1.
//!
//! `DYNAMODB_COST_RECIPIENTS` (default 300) citizens of one commune get a day-before SMS;
//! then each of the campaign's sessions records attendance of `ATTENDEES` of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use outreach_core::ports::{PageRequest, SessionFilter, SessionStore};
use outreach_core::usecases::{Actor, AttendanceInput, AttendeeInput, record_attendance};
use outreach_notify::Outbox;
use outreach_store::DynamoStore;
use outreach_store::dynamodb::meter::{Meter, Usage};

#[path = "common/figures.rs"]
mod figures;
#[path = "common/pipeline.rs"]
mod pipeline;
use figures::{Figure, print_figures};

const RECIPIENTS: usize = 300;
const ATTENDEES: usize = 20;
const MAX_WU_PER_REMINDER: f64 = 10.0;

struct Cost {
    write_units: f64,
    read_units: f64,
    calls: u64,
}

async fn cost(plain: &DynamoStore, usage: &Usage) -> Cost {
    Cost {
        write_units: Meter::settle(plain.client(), usage).await.unwrap(),
        read_units: usage.read_units,
        calls: usage.total_calls(),
    }
}

fn describe(usage: &Usage) -> String {
    let calls: BTreeMap<_, _> = usage.calls.iter().collect();
    calls
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL: the DynamoDB-compatible server (scripts/bench starts moto)");
    let recipients: usize = std::env::var("DYNAMODB_COST_RECIPIENTS")
        .ok()
        .map(|v| v.parse().expect("DYNAMODB_COST_RECIPIENTS: a number"))
        .unwrap_or(RECIPIENTS);
    let attendees = ATTENDEES.min(recipients);
    let table = format!("outreach-cost-{}", uuid::Uuid::now_v7().simple());
    let plain = DynamoStore::from_env(&table).await;
    plain
        .create_table()
        .await
        .expect("the DynamoDB-compatible server answers");
    let meter = Meter::default();
    let store = DynamoStore::new(meter.client(plain.client()), &table);

    let (campaign, contacts) = pipeline::seed(&store, recipients).await;
    meter.take();

    let sessions = pipeline::plan(&store).await;
    let planned = meter.take();
    let planner = cost(&plain, &planned).await;

    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Outbox::new(dir.path()).unwrap());
    let run = pipeline::dispatch_and_send(&store, outbox, 10, 8).await;
    let delivered = run.sent.sent as f64;
    assert_eq!(run.sent.sent, recipients);
    let pipeline_usage = meter.take();
    let reminders = cost(&plain, &pipeline_usage).await;

    // Attendance of every session of the campaign, once all of them are over.
    let listed = store
        .list_sessions(
            &SessionFilter {
                campaign: Some(campaign.id.clone()),
                ..Default::default()
            },
            &PageRequest::first(100),
        )
        .await
        .unwrap();
    let after = pipeline::local("2026-10-31 12:00");
    let actor = Actor::named("bench");
    let input = AttendanceInput {
        attendees: contacts[..attendees]
            .iter()
            .map(|id| AttendeeInput {
                contact_id: Some(id.clone()),
                phone: None,
                name: None,
                role: None,
            })
            .collect(),
    };
    meter.take();
    for session in &listed.items {
        record_attendance(&store, &session.id, input.clone(), after, &actor)
            .await
            .unwrap();
    }
    let records = listed.items.len() as f64;
    let attendance_usage = meter.take();
    let attendance = cost(&plain, &attendance_usage).await;

    let wu_per_reminder = reminders.write_units / delivered;
    println!("DynamoDB request units, counted by an SDK interceptor on the calls made to {table} (moto)");
    println!();
    println!(
        "planner, {sessions} sessions:        {:>8.2} WU {:>8.2} RU in {} calls ({})",
        planner.write_units,
        planner.read_units,
        planner.calls,
        describe(&planned)
    );
    println!(
        "dispatch + send, {recipients} SMS:   {:>8.2} WU {:>8.2} RU in {} calls ({})",
        reminders.write_units,
        reminders.read_units,
        reminders.calls,
        describe(&pipeline_usage)
    );
    println!(
        "  per delivered reminder:       {:>8.3} WU {:>8.3} RU (target <= {MAX_WU_PER_REMINDER} WU)",
        wu_per_reminder,
        reminders.read_units / delivered
    );
    println!(
        "attendance, {records} records of {attendees}: {:>8.2} WU {:>8.2} RU in {} calls ({})",
        attendance.write_units,
        attendance.read_units,
        attendance.calls,
        describe(&attendance_usage)
    );
    println!(
        "  per attendance record:        {:>8.3} WU {:>8.3} RU ({:.3} WU per attendee)",
        attendance.write_units / records,
        attendance.read_units / records,
        attendance.write_units / records / attendees as f64
    );
    print_figures(&[
        Figure::counted(
            "DynamoDB write units per delivered reminder",
            format!("{wu_per_reminder:.3} WU"),
            format!("<= {MAX_WU_PER_REMINDER} WU"),
            wu_per_reminder <= MAX_WU_PER_REMINDER,
        ),
        Figure::info(
            "DynamoDB read units per delivered reminder",
            format!("{:.3} RU", reminders.read_units / delivered),
        ),
        Figure::info(
            format!("DynamoDB units per attendance record ({attendees} attendees)"),
            format!(
                "{:.2} WU, {:.2} RU",
                attendance.write_units / records,
                attendance.read_units / records
            ),
        ),
        Figure::info(
            "DynamoDB units per planned session",
            format!(
                "{:.2} WU, {:.2} RU",
                planner.write_units / sessions as f64,
                planner.read_units / sessions as f64
            ),
        ),
    ]);
}
