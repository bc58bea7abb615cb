//! What the reminder pipeline delivers per second on a laptop's parts (a SQLite file, the
//! in-process queue, the outbox in a temporary directory) for one commune of 100,000
//! consenting citizens, and what the same deliveries would cost in DynamoDB write units,
//! computed from the sizes of the records the run wrote.
//!
//! `cargo bench -p outreach-tests --bench pipeline`

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Ho_Chi_Minh;
use outreach_core::campaign::{Audience, CampaignAction, CampaignInput, ReminderRuleInput, ScheduleSpec};
use outreach_core::contact::{Channel, ConsentInput, ContactInput, Role};
use outreach_core::jobs::{
    Channels, DispatchSettings, SendOutcome, SenderReport, SenderSettings, run_dispatcher, run_planner, run_sender,
};
use outreach_core::notify::{MemoryQueue, NoUnsubscribeLinks};
use outreach_core::org::{ImportValidity, parse_units_json};
use outreach_core::ports::{
    ContactFilter, ContactStore, DeliveryFilter, DeliveryStore, PageRequest, ReminderStore, SessionFilter, SessionStore,
};
use outreach_core::reminder::{Delivery, DeliveryStatus, JobStatus};
use outreach_core::schedule::Period;
use outreach_core::usecases;
use outreach_notify::Outbox;
use outreach_store::SqliteStore;
use outreach_store::dynamodb::items;
use outreach_store::dynamodb::size::{item_size, put_cost};

/// Citizens of the commune, each with SMS consent (`PIPELINE_BENCH_RECIPIENTS` overrides it
/// for a quick look).
const RECIPIENTS: usize = 100_000;
/// Tasks one sender pass takes from the queue (an SQS-fed Lambda takes 10; locally more).
const SENDER_BATCH: usize = 500;
/// Sender passes running at once: each waits on the store most of the time, and the calls
/// they have waiting together are committed together.
const SENDER_CONCURRENCY: usize = 64;
const COMMUNE: &str = "07441";

fn local(s: &str) -> DateTime<Utc> {
    Ho_Chi_Minh
        .from_local_datetime(&NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

fn per_second(n: usize, d: std::time::Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bench.db")).unwrap();
    let outbox_dir = dir.path().join("outbox");
    let outbox = Arc::new(Outbox::new(&outbox_dir).unwrap());
    let queue = MemoryQueue::default();
    let recipients: usize = std::env::var("PIPELINE_BENCH_RECIPIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RECIPIENTS);

    // Setup (not part of the figure): units, 100,000 citizens, a campaign, the planner.
    let setup_started = Instant::now();
    let units = r#"[{"code":"24","name":"Tỉnh Bắc Giang","level":"province"},
        {"code":"213","name":"Thành phố Bắc Giang","level":"district","parent_code":"24"},
        {"code":"07441","name":"Xã Tân Dĩnh","level":"commune","parent_code":"213"}]"#;
    usecases::import_org_units(&store, parse_units_json(units).unwrap(), ImportValidity::default())
        .await
        .unwrap();
    let setup = local("2026-09-01 09:00");
    let consent = ConsentInput {
        channel: Channel::Sms,
        method: "paper_form".into(),
        wording_version: "2026-09".into(),
        granted_at: Some(setup),
    };
    for i in 0..recipients {
        let contact = ContactInput {
            role: Role::Citizen,
            name: format!("Nguyễn Thị Công Dân {i}"),
            commune_code: COMMUNE.into(),
            phone: format!("091{i:07}"),
            email: None,
            consents: vec![consent.clone()],
        }
        .into_contact(usecases::new_id("ct"), setup, Some("bench".into()))
        .unwrap();
        store.insert_contact(&contact).await.unwrap();
    }
    let contacts_done = setup_started.elapsed();
    let input = CampaignInput {
        name: "Thứ Bảy dịch vụ công".into(),
        description: None,
        period: Period::new("2026-10-01".parse().unwrap(), "2026-10-31".parse().unwrap()).unwrap(),
        target_units: vec![COMMUNE.into()],
        schedule: ScheduleSpec {
            cron: "0 8 * * 6".into(),
            time_zone: Ho_Chi_Minh,
        },
        session_minutes: 120,
        venues: Default::default(),
        default_venue: Some("Nhà văn hoá thôn Đông".into()),
        capacity: 40,
        min_staff: 1,
        reminder_rules: vec![ReminderRuleInput {
            id: Some("day-before".into()),
            offset_minutes: 24 * 60,
            audience: Audience::Citizens,
            channels: vec![Channel::Sms],
            sms_template: None,
            email_subject: None,
            email_template: None,
        }],
        sms_unicode: false,
        max_sms_segments: 2,
    };
    let campaign = usecases::create_campaign(&store, input, setup).await.unwrap();
    usecases::act_on_campaign(&store, &campaign.id, CampaignAction::Activate, setup)
        .await
        .unwrap();
    run_planner(&store, setup, Duration::days(60)).await.unwrap();
    let setup_time = setup_started.elapsed();

    // Saturday 3 October 08:00; its day-before reminder is due Friday 08:00.
    let now = local("2026-10-02 08:00");
    let dispatch_started = Instant::now();
    let dispatched = run_dispatcher(&store, &queue, now, DispatchSettings::default())
        .await
        .unwrap();
    let dispatch_time = dispatch_started.elapsed();
    assert_eq!(dispatched.completed, 1, "{dispatched:?}");
    assert_eq!(dispatched.enqueued, recipients as u64);

    let send_started = Instant::now();
    let mut passes = tokio::task::JoinSet::new();
    let mut outcomes = Vec::with_capacity(recipients);
    loop {
        while passes.len() < SENDER_CONCURRENCY {
            let tasks = queue.drain(SENDER_BATCH);
            if tasks.is_empty() {
                break;
            }
            let (store, outbox) = (store.clone(), Arc::clone(&outbox));
            passes.spawn(async move {
                let channels = Channels {
                    email: outbox.as_ref(),
                    sms: outbox.as_ref(),
                    links: &NoUnsubscribeLinks,
                };
                run_sender(&store, channels, &tasks, now, SenderSettings::default()).await
            });
        }
        match passes.join_next().await {
            Some(done) => outcomes.extend(done.unwrap()),
            None => break,
        }
    }
    let send_time = send_started.elapsed();
    let report = SenderReport::of(&outcomes);
    assert_eq!(report.sent, recipients, "{report:?}");
    assert!(outcomes.iter().all(|o| matches!(o, Ok(SendOutcome::Sent(_)))));

    // Count what the outbox got, line by line.
    let file = std::fs::File::open(outbox_dir.join("sms.jsonl")).unwrap();
    let lines = BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(lines, recipients, "one SMS per citizen in the outbox");

    let total = dispatch_time + send_time;
    println!("Reminder pipeline on SQLite + in-process queue + outbox (release build)");
    println!();
    println!(
        "setup (not timed below): {:.1} s ({} contacts inserted in {:.1} s, {:.0}/s)",
        setup_time.as_secs_f64(),
        recipients,
        contacts_done.as_secs_f64(),
        per_second(recipients, contacts_done)
    );
    println!("recipients:          {recipients}");
    println!("SMS in the outbox:   {lines}");
    println!(
        "dispatch:            {:>7.2} s  ({:.0} tasks/s, page size {})",
        dispatch_time.as_secs_f64(),
        per_second(recipients, dispatch_time),
        DispatchSettings::default().page_size
    );
    println!(
        "send:                {:>7.2} s  ({:.0} deliveries/s, {SENDER_CONCURRENCY} passes of {SENDER_BATCH} at once)",
        send_time.as_secs_f64(),
        per_second(recipients, send_time)
    );
    println!(
        "total:               {:>7.2} s  = {:.0} deliveries/s (target >= 5000)",
        total.as_secs_f64(),
        per_second(recipients, total)
    );

    dynamodb_write_units(&store, &campaign.id, now, recipients).await;
}

/// Write units per delivered reminder on DynamoDB, from the records this run wrote: the
/// claim (no index) and the recorded outcome (the contact index) of every delivery, plus the
/// job's cursor update once per page of the audience.
async fn dynamodb_write_units(store: &SqliteStore, campaign: &str, now: DateTime<Utc>, recipients: usize) {
    let filter = DeliveryFilter {
        campaign: Some(campaign.to_string()),
        status: Some(DeliveryStatus::Sent),
        ..Default::default()
    };
    let (mut deliveries, mut claim_wu, mut record_wu) = (0u64, 0u64, 0u64);
    let (mut claim_bytes, mut record_bytes) = (0usize, 0usize);
    let mut page = PageRequest::first(500);
    loop {
        let p = store.list_deliveries(&filter, &page).await.unwrap();
        for recorded in &p.items {
            // The claim the sender wrote first: same delivery, claimed, no outcome yet.
            let claimed = Delivery {
                status: DeliveryStatus::Claimed,
                message_id: None,
                reason: None,
                version: recorded.version - 1,
                ..recorded.clone()
            };
            let claim =
                items::with_delivery_attributes(items::encode(&items::claimed_delivery(&claimed)).unwrap(), &claimed);
            let record =
                items::with_delivery_attributes(items::encode(&items::recorded_delivery(recorded)).unwrap(), recorded);
            claim_bytes += item_size(&claim);
            record_bytes += item_size(&record);
            claim_wu += put_cost(&claim);
            record_wu += put_cost(&record);
            deliveries += 1;
        }
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(deliveries, recipients as u64);

    // The job as the dispatcher wrote it after each page: pending with a cursor (in the
    // due-time index), then done (out of it).
    let sessions = store
        .list_sessions(
            &SessionFilter {
                campaign: Some(campaign.to_string()),
                ..Default::default()
            },
            &PageRequest::first(1),
        )
        .await
        .unwrap();
    let job = store.session_jobs(&sessions.items[0].id).await.unwrap().remove(0);
    assert_eq!(job.status, JobStatus::Done);
    let page_size = DispatchSettings::default().page_size;
    let cursor = store
        .list_contacts(
            &ContactFilter {
                commune: Some(COMMUNE.into()),
                role: Some(Role::Citizen),
            },
            &PageRequest::first(page_size),
        )
        .await
        .unwrap()
        .next_cursor;
    let pages = recipients.div_ceil(page_size as usize) as u64;
    let mut job_wu = 0;
    for p in 1..=pages {
        let mut state = job.clone();
        state.enqueued = p * u64::from(page_size);
        state.updated_at = now;
        if p < pages {
            state.status = JobStatus::Pending;
            state.cursor = cursor.as_ref().map(|c| format!("c:{c}"));
        }
        job_wu += put_cost(&items::encode(&items::job(&state)).unwrap());
    }

    let n = deliveries as f64;
    let per_delivery = (claim_wu + record_wu + job_wu) as f64 / n;
    println!();
    println!("DynamoDB write units per delivered reminder (from item sizes, on-demand billing)");
    println!(
        "claim (conditional put, no index):      {:>6.3} WU  ({} bytes a record)",
        claim_wu as f64 / n,
        claim_bytes / deliveries as usize
    );
    println!(
        "record outcome (table + GSI2):          {:>6.3} WU  ({} bytes a record)",
        record_wu as f64 / n,
        record_bytes / deliveries as usize
    );
    println!(
        "job cursor, one write per page of {page_size}: {:>6.3} WU  ({pages} writes, {job_wu} WU)",
        job_wu as f64 / n
    );
    println!("total:                                  {per_delivery:>6.3} WU per delivered reminder (target <= 4)");
}
