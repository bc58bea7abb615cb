//! Zalo ZNS against the local ZNS server (`scripts/zns_server.py`, started by the test command
//! with its URL in `OUTREACH_TEST_ZNS`; these tests fail without it): the adapter's reading
//! of Zalo's answers, the token's refresh under a race, and exactly one message per person
//! and rule across ZNS and its SMS fallback under faults, counted from what the ZNS server
//! and the SMS outbox received.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use outreach_core::CoreResult;
use outreach_core::campaign::{Audience, CampaignAction, CampaignInput, ReminderRuleInput};
use outreach_core::contact::{Channel, ConsentInput, ContactInput, ContactRole};
use outreach_core::ids::ContactId;
use outreach_core::jobs::{Channels, DispatchSettings, SenderSettings, run_dispatcher, run_planner, run_sender};
use outreach_core::notify::{
    ChannelError, DeliveryTask, MemoryQueue, NoUnsubscribeLinks, OutboundZns, Queue, ZnsChannel, ZnsNext,
};
use outreach_core::org::{ImportScope, ImportValidity, parse_units_json};
use outreach_core::ports::{Claim, DeliveryFilter, PageRequest, SessionFilter, Store};
use outreach_core::quarter::Quarter;
use outreach_core::reminder::{Delivery, DeliveryStatus};
use outreach_core::usecases;
use outreach_core::zns::{RefreshOutcome, ZnsTokenStore, refresh_zns_token, seed_zns_token};
use outreach_notify::{Outbox, ZaloOAuth, ZaloZns, ZnsConfig};
use outreach_store::SqliteStore;
use outreach_testkit::examples;
use serde_json::{Value, json};

/// The tests share one local server, whose state each resets: one at a time.
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn server_url() -> String {
    std::env::var("OUTREACH_TEST_ZNS").expect(
        "OUTREACH_TEST_ZNS must name the local ZNS server (http://127.0.0.1:PORT): ./scripts/test starts scripts/zns_server.py",
    )
}

async fn admin(path: &str, body: Value) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", server_url());
    let response = if body.is_null() {
        client.get(url).send().await
    } else {
        client.post(url).json(&body).send().await
    };
    response
        .expect("the local ZNS server answers")
        .json()
        .await
        .expect("JSON from the local ZNS server")
}

fn config(timeout_ms: u64) -> ZnsConfig {
    let base = reqwest::Url::parse(&server_url()).unwrap();
    ZnsConfig {
        api_url: base.clone(),
        oauth_url: base,
        app_id: "local-app".into(),
        secret_key: outreach_notify::Secret::new("local-secret"),
        first_refresh_token: None,
        timeout: StdDuration::from_millis(timeout_ms),
    }
}

/// A store holding a fresh access token from the server (the first refresh token seeded).
async fn store_with_token(dir: &tempfile::TempDir, now: DateTime<Utc>) -> Arc<SqliteStore> {
    let store = Arc::new(SqliteStore::open(dir.path().join("zns.db")).unwrap());
    assert!(
        seed_zns_token(store.as_ref(), "first-refresh-token", now)
            .await
            .unwrap()
    );
    let oauth = ZaloOAuth::new(&config(5000)).unwrap();
    assert_eq!(
        refresh_zns_token(store.as_ref(), &oauth, now).await.unwrap(),
        RefreshOutcome::Refreshed
    );
    store
}

fn message(phone: &str, tracking_id: &str) -> OutboundZns {
    OutboundZns {
        phone: phone.into(),
        template_id: "246810".into(),
        template_data: BTreeMap::from([("ten".to_string(), "Nguyễn Văn An".to_string())]),
        tracking_id: tracking_id.into(),
    }
}

#[tokio::test]
async fn the_adapter_reads_each_answer_of_the_zns_server() {
    let _one = SERVER.lock().await;
    admin(
        "/admin/reset",
        json!({"no_zalo": ["84359000002"], "invalid": ["84359000003"], "refused": ["84359000004"],
               "old_version": ["84359000005"], "templates": ["246810"], "quota": 2}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let store = store_with_token(&dir, now).await;
    let zns = ZaloZns::new(&config(400), store.clone()).unwrap();

    let sent = zns.send_zns(&message("84359000001", "d-1")).await.expect("sent");
    assert!(!sent.message_id.is_empty());
    let next = |r: Result<_, outreach_core::notify::ZnsError>| r.expect_err("refused").next;
    assert_eq!(
        next(zns.send_zns(&message("84359000002", "d-2")).await),
        ZnsNext::FallBackToSms
    );
    assert_eq!(next(zns.send_zns(&message("84359000003", "d-3")).await), ZnsNext::Fail);
    assert_eq!(
        next(zns.send_zns(&message("84359000004", "d-4")).await),
        ZnsNext::FallBackToSms
    );
    assert_eq!(
        next(zns.send_zns(&message("84359000005", "d-5")).await),
        ZnsNext::FallBackToSms
    );
    let wrong_template = OutboundZns {
        template_id: "999".into(),
        ..message("84359000001", "d-6")
    };
    assert_eq!(next(zns.send_zns(&wrong_template).await), ZnsNext::FailAndAlarm);
    let empty = OutboundZns {
        template_data: BTreeMap::new(),
        ..message("84359000001", "d-7")
    };
    assert_eq!(next(zns.send_zns(&empty).await), ZnsNext::FailAndAlarm);

    // Faults: a 5xx and -100 are temporary; a timeout is unclear (it may have been sent).
    admin(
        "/admin/faults",
        json!({"faults": [{"kind": "http_500", "times": 1}, {"kind": "unknown", "times": 1},
                          {"kind": "timeout_before", "times": 1, "seconds": 1.5}]}),
    )
    .await;
    for expected in ["temporary", "temporary", "unclear"] {
        let e = zns.send_zns(&message("84359000001", "d-8")).await.expect_err("a fault");
        assert!(e.error.to_string().starts_with(expected), "{e:?}");
        assert_eq!(e.next, ZnsNext::FallBackToSms);
    }
    // The quota (2 a day here): the second accepted message used the last one.
    zns.send_zns(&message("84359000001", "d-9")).await.expect("sent");
    let over = zns
        .send_zns(&message("84359000001", "d-10"))
        .await
        .expect_err("over quota");
    assert!(over.error.to_string().contains("-144"), "{over:?}");
    assert_eq!(over.next, ZnsNext::FallBackToSms);

    // An expired access token is refused (-124): temporary, the refresher's to fix.
    admin("/admin/expire", json!({})).await;
    let e = zns
        .send_zns(&message("84359000001", "d-11"))
        .await
        .expect_err("expired");
    assert!(
        matches!(e.error, ChannelError::Transient(_)) && e.error.to_string().contains("-124"),
        "{e:?}"
    );

    let messages = admin("/admin/messages", Value::Null).await["messages"]
        .as_array()
        .unwrap()
        .clone();
    let tracked: Vec<&str> = messages.iter().map(|m| m["tracking_id"].as_str().unwrap()).collect();
    assert_eq!(tracked, ["d-1", "d-9"], "only what was accepted was recorded");
    assert_eq!(messages[0]["phone"], "84359000001");
    assert_eq!(messages[0]["template_data"]["ten"], "Nguyễn Văn An");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_refreshers_racing_on_an_expired_token_make_exactly_one_refresh_call() {
    let _one = SERVER.lock().await;
    // A slow OAuth server: both refreshers are in flight at once if both get through.
    admin("/admin/reset", json!({"refresh_delay": 0.3, "access_ttl": 90000})).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    // Two processes: two store handles on one database file.
    let (a, b) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
    let now = Utc::now();
    assert!(seed_zns_token(&a, "first-refresh-token", now).await.unwrap());
    assert!(
        !seed_zns_token(&b, "first-refresh-token", now).await.unwrap(),
        "seeded once"
    );
    let oauth = ZaloOAuth::new(&config(5000)).unwrap();
    for round in 0..3 {
        // Each round starts on an expired token: the first never had one; later, 25 hours on.
        let at = now + Duration::hours(25 * round);
        let (ra, rb, rc) = tokio::join!(
            refresh_zns_token(&a, &oauth, at),
            refresh_zns_token(&b, &oauth, at),
            refresh_zns_token(&a, &oauth, at)
        );
        let outcomes = [ra.unwrap(), rb.unwrap(), rc.unwrap()];
        assert_eq!(
            outcomes.iter().filter(|o| **o == RefreshOutcome::Refreshed).count(),
            1,
            "round {round}: {outcomes:?}"
        );
        assert!(outcomes.iter().all(|o| matches!(
            o,
            RefreshOutcome::Refreshed | RefreshOutcome::Busy | RefreshOutcome::Fresh
        )));
        let state = admin("/admin/state", Value::Null).await;
        assert_eq!(state["refreshes"], round + 1, "round {round}: {state}");
        assert_eq!(state["refused_refreshes"], 0, "no spent token was presented: {state}");
        assert_eq!(state["locked"], false);
        // Fresh now: nobody refreshes until it nears its expiry.
        assert_eq!(refresh_zns_token(&b, &oauth, at).await.unwrap(), RefreshOutcome::Fresh);
    }
    let token = a.get_zns_token().await.unwrap().unwrap();
    assert!(token.access_token.starts_with("at-") && token.refreshing_until.is_none());
}

// ---- exactly once across ZNS and SMS ----

const SETUP: &str = "2026-09-01T02:00:00Z";
const DUE: &str = "2026-10-02T01:00:00Z";

fn at(instant: &str) -> DateTime<Utc> {
    instant.parse().unwrap()
}

/// What person `i` is, for the ZNS server and for what they must receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// With Zalo: one ZNS message.
    Zalo,
    /// No Zalo account (−118), refusing ZNS (−114), an old Zalo (−110), or no consent to
    /// ZNS: one SMS.
    NoZalo,
    Refused,
    OldZalo,
    NoZnsConsent,
    /// ZNS answers −100 on every attempt: retried, then one SMS.
    AlwaysUnknown,
    /// The number is invalid to ZNS (−108): nothing, the delivery failed.
    Invalid,
    /// A ZNS timeout before it sent: recorded uncertain, nothing sent (at most once).
    TimeoutBefore,
    /// A ZNS timeout after it sent: recorded uncertain, the one ZNS message stands.
    TimeoutAfter,
    /// A 5xx once, then ZNS takes it: one ZNS message.
    FiveHundredOnce,
}

fn kind(i: usize) -> Kind {
    match (i % 200, i % 50, i % 20) {
        (3, _, _) => Kind::TimeoutBefore,
        (4, _, _) => Kind::TimeoutAfter,
        (_, 1, _) => Kind::FiveHundredOnce,
        (_, 2, _) => Kind::AlwaysUnknown,
        (_, _, 13 | 14) => Kind::NoZalo,
        (_, _, 15) => Kind::OldZalo,
        (_, _, 16) => Kind::Invalid,
        (_, _, 17) => Kind::Refused,
        (_, _, 18 | 19) => Kind::NoZnsConsent,
        _ => Kind::Zalo,
    }
}

struct Twice<'a>(&'a dyn Queue);

#[async_trait]
impl Queue for Twice<'_> {
    async fn enqueue(&self, tasks: &[DeliveryTask]) -> CoreResult<()> {
        self.0.enqueue(tasks).await?;
        self.0.enqueue(tasks).await
    }
}

fn phone(i: usize) -> String {
    format!("+84359{:06}", 100_000 + i)
}

fn zns_campaign() -> CampaignInput {
    CampaignInput {
        capacity: 5000,
        reminder_rules: vec![ReminderRuleInput {
            zns_template_id: Some("246810".into()),
            zns_params: BTreeMap::from([
                ("ten".to_string(), "name".to_string()),
                ("ngay".to_string(), "date".to_string()),
                ("gio".to_string(), "time".to_string()),
                ("dia_diem".to_string(), "venue".to_string()),
            ]),
            ..examples::rule("day-before", 24, Audience::Citizens, &[Channel::Zns, Channel::Sms])
        }],
        ..examples::saturdays("2026-10-01", "2026-10-07", &["07441"])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_deliveries_go_exactly_once_by_zns_or_its_sms_fallback_under_faults() {
    let _one = SERVER.lock().await;
    const PEOPLE: usize = 2000;
    let digits = |i: usize| phone(i).trim_start_matches('+').to_string();
    let of = |k: Kind| -> Vec<String> { (0..PEOPLE).filter(|i| kind(*i) == k).map(digits).collect() };
    admin(
        "/admin/reset",
        json!({"no_zalo": of(Kind::NoZalo), "invalid": of(Kind::Invalid), "refused": of(Kind::Refused),
               "old_version": of(Kind::OldZalo), "templates": ["246810"], "quota": 5000}),
    )
    .await;
    let mut faults = Vec::new();
    for i in 0..PEOPLE {
        let (kind, times) = match kind(i) {
            Kind::TimeoutBefore => ("timeout_before", 1),
            Kind::TimeoutAfter => ("timeout_after", 1),
            Kind::FiveHundredOnce => ("http_500", 1),
            Kind::AlwaysUnknown => ("unknown", 100),
            _ => continue,
        };
        faults.push(json!({"kind": kind, "phone": digits(i), "times": times, "seconds": 1.0}));
    }
    admin("/admin/faults", json!({ "faults": faults })).await;

    let dir = tempfile::tempdir().unwrap();
    let now0 = at(DUE);
    let store = store_with_token(&dir, now0).await;
    let zns = ZaloZns::new(&config(300), store.clone()).unwrap();
    let outbox_dir = dir.path().join("outbox");
    let sms = Outbox::new(&outbox_dir).unwrap();
    let s: &dyn Store = store.as_ref();

    let units = r#"[{"code":"24","name":"Tỉnh Bắc Giang","level":"province"},
        {"code":"07441","name":"Xã Tân Dĩnh","level":"commune","parent_code":"24"}]"#;
    usecases::import_org_units(
        s,
        parse_units_json(units).unwrap(),
        ImportValidity::default(),
        ImportScope::Anywhere,
    )
    .await
    .unwrap();
    let consent = |channel| ConsentInput {
        channel,
        method: "paper_form".into(),
        wording_version: "v1".into(),
        granted_at: Some(at(SETUP)),
    };
    let mut ids = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        let consents = if kind(i) == Kind::NoZnsConsent {
            vec![consent(Channel::Sms)]
        } else {
            vec![consent(Channel::Sms), consent(Channel::Zns)]
        };
        let input = ContactInput {
            role: ContactRole::Citizen,
            name: format!("Công dân {i}"),
            commune_code: "07441".into(),
            phone: phone(i),
            email: None,
            consents,
        };
        let c = usecases::register_contact(s, input, at(SETUP), &usecases::Actor::default())
            .await
            .unwrap();
        ids.push(c.id);
    }
    let campaign = usecases::create_campaign(s, zns_campaign(), at(SETUP)).await.unwrap();
    usecases::act_on_campaign(s, &campaign.id, CampaignAction::Activate, at(SETUP))
        .await
        .unwrap();
    assert_eq!(
        run_planner(s, at(SETUP), Duration::days(60))
            .await
            .unwrap()
            .sessions_created,
        1
    );
    let session = s
        .list_sessions(
            &SessionFilter {
                campaign: Some(campaign.id.clone()),
                ..Default::default()
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap()
        .items
        .remove(0);

    // Two dispatchers at once, every task enqueued twice: one ZNS task per person (never
    // one for SMS as well).
    let queue = MemoryQueue::default();
    let twice = Twice(&queue);
    let settings = DispatchSettings {
        page_size: 250,
        ..DispatchSettings::default()
    };
    let (a, b) = tokio::join!(
        run_dispatcher(s, &twice, now0, settings),
        run_dispatcher(s, &twice, now0, settings)
    );
    let enqueued = a.unwrap().enqueued + b.unwrap().enqueued;
    assert!(enqueued as usize >= PEOPLE, "{enqueued}");
    let pending = queue.drain(usize::MAX);
    assert!(
        pending.iter().all(|t| t.channel == Channel::Zns),
        "one ZNS task per person"
    );
    queue.enqueue(&pending).await.unwrap();
    // Queue messages of the rule's SMS side (written before the rule named ZNS, say) are
    // the same delivery: they must add nothing.
    let job_id = outreach_core::reminder::ReminderJob::id_for(&session.id, "day-before");
    let task = |i: usize, channel| DeliveryTask {
        job_id: job_id.clone(),
        campaign_id: campaign.id.clone(),
        session_id: session.id.clone(),
        rule_id: "day-before".into(),
        contact_id: ids[i].clone(),
        channel,
    };
    let strays: Vec<DeliveryTask> = (0..PEOPLE).step_by(13).map(|i| task(i, Channel::Sms)).collect();
    queue.enqueue(&strays).await.unwrap();

    // Every 37th delivery was claimed by a sender killed between its claim and the send.
    for id in ids.iter().step_by(37) {
        let d = examples::claimed_delivery(&campaign.id, &session.id, "day-before", id, Channel::Zns, now0);
        assert!(matches!(s.claim_delivery(&d, now0).await.unwrap(), Claim::Claimed(_)));
    }

    // Senders drain the queue at once; what must be retried goes back; when only held
    // claims are left, time moves past their lease.
    let started = std::time::Instant::now();
    let channels = Channels {
        email: &sms,
        sms: &sms,
        zns: Some(&zns),
        links: &NoUnsubscribeLinks,
    };
    let mut now = now0 + Duration::minutes(1);
    let mut rounds = 0;
    while !queue.is_empty() {
        rounds += 1;
        assert!(rounds < 100, "the queue never drained");
        // Four senders at once, each on its share of the queue.
        let share = queue.len() / 4 + 1;
        let batches: Vec<Vec<DeliveryTask>> = (0..4).map(|_| queue.drain(share)).collect();
        let send = |batch| run_sender(s, channels, batch, now, SenderSettings::default());
        let (r0, r1, r2, r3) = tokio::join!(
            send(&batches[0]),
            send(&batches[1]),
            send(&batches[2]),
            send(&batches[3])
        );
        let results = [r0, r1, r2, r3];
        let total: usize = batches.iter().map(Vec::len).sum();
        let again: Vec<DeliveryTask> = batches
            .iter()
            .flatten()
            .zip(results.into_iter().flatten())
            .filter(|(_, r)| !matches!(r, Ok(o) if !o.needs_redelivery()))
            .map(|(t, _)| t.clone())
            .collect();
        let all_again = again.len() == total;
        queue.enqueue(&again).await.unwrap();
        if all_again {
            now += Duration::minutes(6);
        }
    }

    // Count what the two providers received, per person.
    let messages = admin("/admin/messages", Value::Null).await["messages"]
        .as_array()
        .unwrap()
        .clone();
    let mut zns_per: HashMap<String, usize> = HashMap::new();
    for m in &messages {
        *zns_per.entry(format!("+{}", m["phone"].as_str().unwrap())).or_default() += 1;
        let tracking = m["tracking_id"].as_str().unwrap();
        assert!(
            tracking.ends_with("|zns"),
            "the tracking id is the delivery's: {tracking}"
        );
        assert_eq!(m["template_data"]["dia_diem"], "Nhà văn hoá");
    }
    let mut sms_per: HashMap<String, usize> = HashMap::new();
    for m in Outbox::read_sms(&outbox_dir).unwrap() {
        *sms_per.entry(m.to).or_default() += 1;
    }
    let mut log: HashMap<ContactId, Delivery> = HashMap::new();
    let filter = DeliveryFilter {
        campaign: Some(campaign.id.clone()),
        ..Default::default()
    };
    let mut page = PageRequest::first(500);
    loop {
        let got = s.list_deliveries(&filter, &page).await.unwrap();
        log.extend(got.items.into_iter().map(|d| (d.contact_id.clone(), d)));
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(log.len(), PEOPLE, "one delivery per person and rule");
    let mut tally: HashMap<&str, usize> = HashMap::new();
    for i in 0..PEOPLE {
        let p = phone(i);
        let (z, m) = (
            zns_per.get(&p).copied().unwrap_or(0),
            sms_per.get(&p).copied().unwrap_or(0),
        );
        let d = &log[&ids[i]];
        let k = kind(i);
        match k {
            Kind::Zalo | Kind::FiveHundredOnce => {
                assert_eq!((z, m), (1, 0), "{i} {k:?}: {d:?}");
                assert_eq!((d.status, d.channel), (DeliveryStatus::Sent, Channel::Zns), "{i} {k:?}");
                *tally.entry("zns").or_default() += 1;
            }
            Kind::NoZalo | Kind::Refused | Kind::OldZalo | Kind::NoZnsConsent | Kind::AlwaysUnknown => {
                assert_eq!((z, m), (0, 1), "{i} {k:?}: {d:?}");
                assert_eq!((d.status, d.channel), (DeliveryStatus::Sent, Channel::Sms), "{i} {k:?}");
                let why = d.reason.as_deref().unwrap_or_default();
                assert!(why.starts_with("zns: "), "{i} {k:?}: why ZNS did not carry it: {why}");
                *tally.entry("sms fallback").or_default() += 1;
            }
            Kind::Invalid => {
                assert_eq!((z, m), (0, 0), "{i} {k:?}: {d:?}");
                assert_eq!(d.status, DeliveryStatus::Failed, "{i} {k:?}");
                assert!(d.reason.as_deref().unwrap_or_default().contains("-108"), "{d:?}");
                *tally.entry("failed").or_default() += 1;
            }
            Kind::TimeoutBefore | Kind::TimeoutAfter => {
                // The answer was lost: never SMS on top of a ZNS message that may have arrived.
                let expected_zns = usize::from(k == Kind::TimeoutAfter);
                assert_eq!((z, m), (expected_zns, 0), "{i} {k:?}: {d:?}");
                assert_eq!(d.status, DeliveryStatus::Uncertain, "{i} {k:?}");
                *tally.entry("uncertain").or_default() += 1;
            }
        }
    }
    assert_eq!(zns_per.values().sum::<usize>(), messages.len());
    assert!(sms_per.keys().all(|p| p.starts_with("+84359")), "no SMS to anyone else");
    // The quarter's spend: what the log recorded, the fallbacks as SMS.
    let report = usecases::quarterly_report(s, "24", Quarter { year: 2026, quarter: 4 }, now)
        .await
        .unwrap();
    let spend = |c: Channel| report.spend_of("24").find(|r| r.channel == c).unwrap().clone();
    let (by_sms, by_zns) = (spend(Channel::Sms), spend(Channel::Zns));
    assert_eq!(by_sms.zns_fallbacks, tally["sms fallback"] as u64);
    assert_eq!(by_sms.messages, tally["sms fallback"] as u64);
    assert_eq!(
        by_sms.cost_milli_vnd + by_zns.cost_milli_vnd,
        log.values().map(|d| d.cost_milli_vnd).sum::<u64>()
    );
    assert_eq!(
        by_zns.messages,
        log.values()
            .filter(
                |d| d.channel == Channel::Zns && matches!(d.status, DeliveryStatus::Sent | DeliveryStatus::Uncertain)
            )
            .count() as u64
    );
    println!(
        "exactly once across ZNS and SMS: {PEOPLE} deliveries ({enqueued} tasks enqueued twice + {} strays), {rounds} rounds in {:.1} s: {tally:?}",
        strays.len(),
        started.elapsed().as_secs_f64()
    );
}

/// The router on a socket over `store`, verifying Zalo's events with the ZNS server's keys.
async fn serve_router(store: Arc<SqliteStore>) -> String {
    let state = outreach_api::AppState {
        store,
        auth: outreach_api::AuthConfig::hs256(b"a-local-secret-of-32-bytes-or-more!", "outreach-local").unwrap(),
        clock: Arc::new(outreach_core::ports::SystemClock),
        webhook_secret: None,
        zalo_webhook: Some(outreach_core::zns::ZaloWebhookKeys {
            app_id: "local-app".into(),
            oa_secret_key: "local-oa-secret".into(),
        }),
        prices: Default::default(),
        oidc: None,
        answer_window: outreach_core::usecases::DEFAULT_ANSWER_WINDOW,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, outreach_api::router(state)).await.unwrap() });
    format!("http://{addr}/v1/inbound/zns-events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zalo_delivery_and_seen_callbacks_reach_the_delivery_log_through_the_router() {
    let _one = SERVER.lock().await;
    admin(
        "/admin/reset",
        json!({"no_zalo": ["84359100002"], "templates": ["246810"], "quota": 100}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let now = at(DUE);
    let store = store_with_token(&dir, now).await;
    let zns = ZaloZns::new(&config(3000), store.clone()).unwrap();
    let sms = Outbox::new(dir.path().join("outbox")).unwrap();
    let s: &dyn Store = store.as_ref();
    let units = r#"[{"code":"24","name":"Tỉnh Bắc Giang","level":"province"},
        {"code":"07441","name":"Xã Tân Dĩnh","level":"commune","parent_code":"24"}]"#;
    usecases::import_org_units(
        s,
        parse_units_json(units).unwrap(),
        ImportValidity::default(),
        ImportScope::Anywhere,
    )
    .await
    .unwrap();
    let consent = |channel| ConsentInput {
        channel,
        method: "paper_form".into(),
        wording_version: "v1".into(),
        granted_at: Some(at(SETUP)),
    };
    let mut ids = Vec::new();
    for i in 0..3 {
        let input = ContactInput {
            role: ContactRole::Citizen,
            name: format!("Công dân {i}"),
            commune_code: "07441".into(),
            phone: phone(i),
            email: None,
            consents: vec![consent(Channel::Sms), consent(Channel::Zns)],
        };
        let c = usecases::register_contact(s, input, at(SETUP), &usecases::Actor::default())
            .await
            .unwrap();
        ids.push(c.id);
    }
    let campaign = usecases::create_campaign(s, zns_campaign(), at(SETUP)).await.unwrap();
    usecases::act_on_campaign(s, &campaign.id, CampaignAction::Activate, at(SETUP))
        .await
        .unwrap();
    run_planner(s, at(SETUP), Duration::days(60)).await.unwrap();
    let queue = MemoryQueue::default();
    run_dispatcher(s, &queue, now, DispatchSettings::default())
        .await
        .unwrap();
    let channels = Channels {
        email: &sms,
        sms: &sms,
        zns: Some(&zns),
        links: &NoUnsubscribeLinks,
    };
    let tasks = queue.drain(usize::MAX);
    run_sender(s, channels, &tasks, now, SenderSettings::default()).await;
    let delivery = |i: usize| {
        let task = tasks.iter().find(|t| t.contact_id == ids[i]).unwrap().clone();
        let id = Delivery::id_for(&task.session_id, &task.rule_id, &task.contact_id, Channel::Zns);
        let campaign = campaign.id.clone();
        async move { s.get_delivery(&campaign, &id).await.unwrap().unwrap() }
    };
    let by_zns = delivery(0).await;
    assert_eq!((by_zns.channel, by_zns.status), (Channel::Zns, DeliveryStatus::Sent));
    assert_eq!(delivery(2).await.channel, Channel::Sms, "no Zalo: SMS carried it");

    let url = serve_router(store.clone()).await;
    let callback = |event: &str, i: usize, extra: Value| {
        let mut body = json!({"url": url, "event": event, "tracking_id": Delivery::id_for(
            &by_zns.session_id, &by_zns.rule_id, &ids[i], Channel::Zns)});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        async move { admin("/admin/callback", body).await }
    };
    let answer = callback("user_received_message", 0, Value::Null).await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["body"]["outcome"], "recorded", "{answer}");
    let d = delivery(0).await;
    assert!(d.delivered_at.is_some() && d.seen_at.is_none(), "{d:?}");
    assert_eq!(
        (d.status, d.cost_milli_vnd, d.updated_at),
        (by_zns.status, by_zns.cost_milli_vnd, by_zns.updated_at)
    );
    // Zalo retries: the first report stands.
    let again = callback("user_received_message", 0, Value::Null).await;
    assert_eq!(again["body"]["outcome"], "already_recorded", "{again}");
    assert_eq!(delivery(0).await.delivered_at, d.delivered_at);
    let seen = callback("user_seen_message", 0, Value::Null).await;
    assert_eq!(seen["body"]["outcome"], "recorded", "{seen}");
    assert!(delivery(0).await.seen_at.is_some());

    // Refused: a wrong signature, another OA secret key, an old timestamp (a replay).
    let old = (Utc::now() - Duration::hours(1)).timestamp_millis();
    for extra in [
        json!({"signature": "mac=00"}),
        json!({"oa_secret_key": "another-secret"}),
        json!({"timestamp": old.to_string()}),
    ] {
        let refused = callback("user_received_message", 1, extra.clone()).await;
        assert_eq!(refused["status"], 401, "{extra}: {refused}");
    }
    assert_eq!(
        delivery(1).await.delivered_at,
        None,
        "nothing recorded by a refused event"
    );

    // A message SMS carried, and an id of nobody's: 200, nothing changed.
    let fallback = callback("user_received_message", 2, Value::Null).await;
    assert_eq!(
        (fallback["status"].clone(), fallback["body"]["outcome"].clone()),
        (json!(200), json!("unknown"))
    );
    assert_eq!(delivery(2).await.delivered_at, None);
    let nobody = callback("user_received_message", 0, json!({"tracking_id": "s|r|c|zns"})).await;
    assert_eq!(nobody["body"]["outcome"], "unknown", "{nobody}");
    // The delivery log's wire format: the new fields only where set.
    let log = serde_json::to_value(delivery(1).await).unwrap();
    assert!(
        log.get("delivered_at").is_none() && log.get("seen_at").is_none(),
        "{log}"
    );
}
