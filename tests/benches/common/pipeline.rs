//! The reminder pipeline the benches run on any store: one commune of consenting citizens, a
//! campaign of Saturday sessions with a day-before SMS, the planner, then the dispatcher and
//! senders at the reminder's due time, delivering through the outbox.
//!
//! Each bench binary includes this file and uses part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration as Elapsed, Instant};

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Ho_Chi_Minh;
use outreach_core::campaign::{Audience, Campaign, CampaignAction, CampaignInput};
use outreach_core::contact::{Channel, ConsentInput, ContactInput, ContactRole};
use outreach_core::jobs::{
    Channels, DispatchReport, DispatchSettings, SendOutcome, SenderReport, SenderSettings, run_dispatcher, run_planner,
    run_sender,
};
use outreach_core::notify::{MemoryQueue, NoUnsubscribeLinks};
use outreach_core::org::{ImportScope, ImportValidity, parse_units_json};
use outreach_core::ports::Store;
use outreach_core::usecases;
use outreach_notify::Outbox;
use outreach_testkit::examples;

pub const COMMUNE: &str = "07441";

pub fn local(s: &str) -> DateTime<Utc> {
    Ho_Chi_Minh
        .from_local_datetime(&NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Saturday 3 October 08:00 is the first session; its day-before reminder is due now.
pub fn due_time() -> DateTime<Utc> {
    local("2026-10-02 08:00")
}

/// Units, `recipients` citizens with SMS consent and the campaign (active). Returns the
/// campaign and the contacts' ids.
pub async fn seed<S: Store + ?Sized>(store: &S, recipients: usize) -> (Campaign, Vec<String>) {
    let units = r#"[{"code":"24","name":"Tỉnh Bắc Giang","level":"province"},
        {"code":"213","name":"Thành phố Bắc Giang","level":"district","parent_code":"24"},
        {"code":"07441","name":"Xã Tân Dĩnh","level":"commune","parent_code":"213"}]"#;
    usecases::import_org_units(
        store,
        parse_units_json(units).unwrap(),
        ImportValidity::default(),
        ImportScope::Anywhere,
    )
    .await
    .unwrap();
    let setup = local("2026-09-01 09:00");
    let consent = ConsentInput {
        channel: Channel::Sms,
        method: "paper_form".into(),
        wording_version: "2026-09".into(),
        granted_at: Some(setup),
    };
    let mut ids = Vec::with_capacity(recipients);
    for i in 0..recipients {
        let contact = ContactInput {
            role: ContactRole::Citizen,
            name: format!("Nguyễn Thị Công Dân {i}"),
            commune_code: COMMUNE.into(),
            phone: format!("091{i:07}"),
            email: None,
            consents: vec![consent.clone()],
        }
        .into_contact(usecases::new_id("ct").into(), setup, Some("bench".into()))
        .unwrap();
        store.insert_contact(&contact).await.unwrap();
        ids.push(contact.id.into_string());
    }
    let input = CampaignInput {
        default_venue: Some("Nhà văn hoá thôn Đông".into()),
        min_staff: 1,
        reminder_rules: vec![examples::rule("day-before", 24, Audience::Citizens, &[Channel::Sms])],
        ..examples::saturdays("2026-10-01", "2026-10-31", &[COMMUNE])
    };
    let campaign = usecases::create_campaign(store, input, setup).await.unwrap();
    let campaign = usecases::act_on_campaign(store, &campaign.id, CampaignAction::Activate, setup)
        .await
        .unwrap();
    (campaign, ids)
}

/// The planner's sessions and reminder jobs for the campaign of [`seed`]; returns the number
/// of sessions it created.
pub async fn plan<S: Store + ?Sized>(store: &S) -> usize {
    let report = run_planner(store, local("2026-09-01 09:00"), Duration::days(60))
        .await
        .unwrap();
    report.sessions_created
}

pub struct Delivered {
    pub dispatched: DispatchReport,
    pub dispatch_time: Elapsed,
    pub sent: SenderReport,
    pub send_time: Elapsed,
}

/// The dispatcher at the due time, then sender passes of `batch` tasks, `concurrency` at
/// once, until the queue is empty. Every reminder must be sent.
pub async fn dispatch_and_send<S: Store + Clone + 'static>(
    store: &S,
    outbox: Arc<Outbox>,
    batch: usize,
    concurrency: usize,
) -> Delivered {
    let now = due_time();
    let queue = MemoryQueue::default();
    let started = Instant::now();
    let dispatched = run_dispatcher(store, &queue, now, DispatchSettings::default())
        .await
        .unwrap();
    let dispatch_time = started.elapsed();
    assert_eq!(dispatched.completed, 1, "{dispatched:?}");

    let started = Instant::now();
    let mut passes = tokio::task::JoinSet::new();
    let mut outcomes = Vec::new();
    loop {
        while passes.len() < concurrency {
            let tasks = queue.drain(batch);
            if tasks.is_empty() {
                break;
            }
            let (store, outbox) = (store.clone(), Arc::clone(&outbox));
            passes.spawn(async move {
                let channels = Channels {
                    email: outbox.as_ref(),
                    sms: outbox.as_ref(),
                    zns: None,
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
    let send_time = started.elapsed();
    let sent = SenderReport::of(&outcomes);
    assert_eq!(sent.sent as u64, dispatched.enqueued, "{sent:?}");
    assert!(outcomes.iter().all(|o| matches!(o, Ok(SendOutcome::Sent(_)))));
    Delivered {
        dispatched,
        dispatch_time,
        sent,
        send_time,
    }
}
