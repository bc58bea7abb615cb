//! Exactly once: every queue message arrives twice, two dispatchers run at once, 10 % of
//! provider calls fail once and are retried, and some deliveries were claimed by a sender
//! that died before sending. Every consenting contact must get exactly one SMS and one
//! email, and nobody else anything — counted from what the providers received, not from
//! the code's own counters. Twice: 2,000 deliveries on the laptop's parts (SQLite, the
//! in-process queue, the outbox), and 400 on the production parts (DynamoDB, SQS, SNS and
//! SES served by moto on 127.0.0.1, through the sender Lambda's SQS handler).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Duration, Utc};
use outreach_app::{App, Config, DeliveryQueue};
use outreach_core::CoreResult;
use outreach_core::campaign::{Audience, CampaignAction, CampaignInput, ReminderRuleInput, ScheduleSpec};
use outreach_core::contact::{Channel, ConsentInput, ContactInput, Role};
use outreach_core::jobs::{DispatchSettings, run_dispatcher, run_planner};
use outreach_core::notify::{
    ChannelError, DeliveryTask, EmailChannel, NoUnsubscribeLinks, OutboundEmail, OutboundSms, Queue, Sent, SmsChannel,
};
use outreach_core::org::{ImportValidity, parse_units_json};
use outreach_core::ports::{Claim, DeliveryStore};
use outreach_core::reminder::{Delivery, DeliveryStatus};
use outreach_core::schedule::{DEFAULT_TIME_ZONE, Period};
use outreach_core::usecases;
use outreach_notify::{Mailbox, SesConfig, SesEmail, SnsConfig, SnsSms, SqsConfig, SqsQueue};
use outreach_store::DynamoStore;
use outreach_store::dynamodb::items;

/// On moto: 190 consenting contacts and 10 others, 400 deliveries (moto scans whole tables
/// for index queries, so 2,000 would take a quarter of an hour; the full 2,000 run on the
/// laptop's parts below).
const CONSENTING: usize = 190;
/// 4 without consent, 4 opted out, 2 landlines.
const OTHERS: usize = 10;

fn endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1"),
        "run ./scripts/test, which starts moto; AWS_ENDPOINT_URL={endpoint:?}"
    );
    endpoint
}

/// Every batch enqueued twice: each SQS message is delivered twice.
struct Twice<'a>(&'a dyn Queue);

#[async_trait]
impl Queue for Twice<'_> {
    async fn enqueue(&self, tasks: &[DeliveryTask]) -> CoreResult<()> {
        self.0.enqueue(tasks).await?;
        self.0.enqueue(tasks).await
    }
}

/// A provider that fails the first call for one recipient in ten, then behaves.
struct FailsOnceForSome<C> {
    inner: C,
    failed: Mutex<HashSet<String>>,
}

impl<C> FailsOnceForSome<C> {
    fn new(inner: C) -> Self {
        Self {
            inner,
            failed: Mutex::new(HashSet::new()),
        }
    }

    fn should_fail(&self, to: &str) -> bool {
        let unlucky = to
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 10
            == 0;
        unlucky && self.failed.lock().unwrap().insert(to.to_string())
    }
}

#[async_trait]
impl<C: SmsChannel> SmsChannel for FailsOnceForSome<C> {
    async fn send_sms(&self, sms: &OutboundSms) -> Result<Sent, ChannelError> {
        if self.should_fail(&sms.to) {
            return Err(ChannelError::Transient("throttled (injected)".into()));
        }
        self.inner.send_sms(sms).await
    }
}

#[async_trait]
impl<C: EmailChannel> EmailChannel for FailsOnceForSome<C> {
    async fn send_email(&self, email: &OutboundEmail) -> Result<Sent, ChannelError> {
        if self.should_fail(&email.to) {
            return Err(ChannelError::Transient("throttled (injected)".into()));
        }
        self.inner.send_email(email).await
    }
}

/// Numbers and addresses of this run: moto keeps what it received for as long as it runs,
/// so each run counts only its own.
fn run_offset() -> usize {
    static OFFSET: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        (nanos / 1000 % 4800) as usize * 200
    })
}

fn phone(i: usize) -> String {
    format!("+84359{:06}", run_offset() + i)
}

fn email(i: usize) -> String {
    format!("nguoi{i}.{}@exactly-once.example.vn", run_offset())
}

/// The campaign of both runs: one Saturday session in October, one day-before reminder by
/// SMS and email to the commune's citizens.
fn day_before_campaign() -> CampaignInput {
    let rule = ReminderRuleInput {
        id: Some("day-before".into()),
        offset_minutes: 24 * 60,
        audience: Audience::Citizens,
        channels: vec![Channel::Sms, Channel::Email],
        sms_template: None,
        email_subject: None,
        email_template: None,
    };
    CampaignInput {
        name: "Thứ Bảy dịch vụ công".into(),
        description: None,
        period: Period::new("2026-10-01".parse().unwrap(), "2026-10-07".parse().unwrap()).unwrap(),
        target_units: vec!["07441".into()],
        schedule: ScheduleSpec {
            cron: "0 8 * * 6".into(),
            time_zone: DEFAULT_TIME_ZONE,
        },
        session_minutes: 120,
        venues: Default::default(),
        default_venue: Some("Nhà văn hoá".into()),
        capacity: 2000,
        min_staff: 0,
        reminder_rules: vec![rule],
        sms_unicode: false,
        max_sms_segments: 2,
    }
}

/// Contact `i` of a kind: consenting on both channels, without consent, (to be) opted
/// out, or a landline.
fn contact_input(i: usize, kind: &str, at: DateTime<Utc>) -> ContactInput {
    let consent = |channel| ConsentInput {
        channel,
        method: "paper_form".into(),
        wording_version: "v1".into(),
        granted_at: Some(at),
    };
    ContactInput {
        role: Role::Citizen,
        name: format!("Công dân {i}"),
        commune_code: "07441".into(),
        phone: if kind == "landline" {
            format!("0204 38{i:05}")
        } else {
            phone(i)
        },
        email: (kind != "landline").then(|| email(i)),
        consents: match kind {
            "no_consent" => vec![],
            "landline" => vec![consent(Channel::Sms)],
            _ => vec![consent(Channel::Sms), consent(Channel::Email)],
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_consenting_contact_gets_exactly_one_message_per_channel() {
    let endpoint = endpoint();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );

    // The production parts, on moto.
    let store = DynamoStore::from_env(&format!("outreach-exactly-once-{run}")).await;
    store.create_table().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    // A long visibility timeout, as in production: a batch being handled never reappears.
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("deliveries-{run}"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "120")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = SqsQueue::new(&sdk, SqsConfig::new(queue_url.clone()));
    let ses = aws_sdk_sesv2::Client::new(&sdk);
    ses.create_email_identity()
        .email_identity("nhac-lich@doanthanhnien.example.vn")
        .send()
        .await
        .unwrap();
    let from: Mailbox = "Đoàn Thanh niên <nhac-lich@doanthanhnien.example.vn>".parse().unwrap();
    let email_channel = FailsOnceForSome::new(SesEmail::new(&sdk, SesConfig::new(from)));
    let sms_channel = FailsOnceForSome::new(SnsSms::new(&sdk, SnsConfig::default()));

    // A commune with 950 consenting citizens and 50 who must get nothing. They are seeded
    // with BatchWriteItem (the same items registration writes): moto copies the whole
    // table for every transaction, which would make 1,000 registrations take minutes.
    let setup: DateTime<Utc> = "2026-09-01T02:00:00Z".parse().unwrap();
    let units = r#"[{"code":"24","name":"Tỉnh Bắc Giang","level":"province"},
        {"code":"07441","name":"Xã Tân Dĩnh","level":"commune","parent_code":"24"}]"#;
    usecases::import_org_units(&store, parse_units_json(units).unwrap(), ImportValidity::default())
        .await
        .unwrap();
    let mut ids = Vec::new();
    let mut raws = Vec::new();
    let mut opted_out = Vec::new();
    for i in 0..CONSENTING + OTHERS {
        let kind = match i - CONSENTING.min(i) {
            _ if i < CONSENTING => "consenting",
            j if j < OTHERS * 2 / 5 => "no_consent",
            j if j < OTHERS * 4 / 5 => "opted_out",
            _ => "landline",
        };
        let input = contact_input(i, kind, setup);
        let c = input.into_contact(format!("ct_{run}_{i:04}"), setup, None).unwrap();
        raws.push(items::encode(&items::contact(&c)).unwrap());
        raws.push(items::encode(&items::phone_lock(&c)).unwrap());
        if let Some(address) = &c.email {
            raws.push(items::encode(&items::email_entry(&c, address)).unwrap());
        }
        if kind == "opted_out" {
            opted_out.push(c.id.clone());
        }
        ids.push(c.id);
    }
    store.batch_put(raws).await.unwrap();
    for id in &opted_out {
        usecases::opt_out(&store, id, None, "sms_reply", setup + Duration::hours(1))
            .await
            .unwrap();
    }
    let input = day_before_campaign();
    let campaign = usecases::create_campaign(&store, input, setup).await.unwrap();
    usecases::act_on_campaign(&store, &campaign.id, CampaignAction::Activate, setup)
        .await
        .unwrap();
    assert_eq!(
        run_planner(&store, setup, Duration::days(60))
            .await
            .unwrap()
            .sessions_created,
        1
    );

    // Two dispatchers at once, each message enqueued twice.
    let due: DateTime<Utc> = "2026-10-02T01:00:00Z".parse().unwrap();
    let twice = Twice(&queue);
    let settings = DispatchSettings {
        page_size: 100,
        ..DispatchSettings::default()
    };
    let (a, b) = tokio::join!(
        run_dispatcher(&store, &twice, due, settings),
        run_dispatcher(&store, &twice, due, settings)
    );
    let enqueued = a.unwrap().enqueued + b.unwrap().enqueued;
    assert!(
        enqueued as usize >= 2 * (CONSENTING + OTHERS),
        "every contact × channel at least once: {enqueued}"
    );

    // A sender that claimed some deliveries and died before sending them.
    let first_session = {
        use outreach_core::ports::{PageRequest, SessionFilter, SessionStore};
        let filter = SessionFilter {
            campaign: Some(campaign.id.clone()),
            ..Default::default()
        };
        store
            .list_sessions(&filter, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .remove(0)
    };
    for id in ids.iter().step_by(37) {
        let d = Delivery {
            id: Delivery::id_for(&first_session.id, "day-before", id, Channel::Sms),
            campaign_id: campaign.id.clone(),
            session_id: first_session.id.clone(),
            rule_id: "day-before".into(),
            contact_id: id.clone(),
            channel: Channel::Sms,
            status: DeliveryStatus::Claimed,
            message_id: None,
            reason: None,
            attempts: 1,
            lease_until: due + Duration::minutes(5),
            updated_at: due,
            expires_at: due + Duration::days(365),
            version: 1,
        };
        assert!(matches!(
            store.claim_delivery(&d, due).await.unwrap(),
            Claim::Claimed(_)
        ));
    }

    // The sender Lambda's handler over real SQS batches, two workers at once, until the
    // queue is empty; when only held claims remain, time moves past their lease.
    let mut config = Config::local("unused.db".into(), "unused-outbox".into());
    config.queue_url = Some(queue_url.clone());
    let app = App {
        store: Arc::new(store.clone()),
        email: Arc::new(email_channel),
        sms: Arc::new(sms_channel),
        links: Arc::new(NoUnsubscribeLinks),
        queue: DeliveryQueue::Sqs(queue.clone()),
        config,
    };
    let now = Arc::new(Mutex::new(due + Duration::minutes(1)));
    let mut idle_rounds = 0;
    let mut rounds = 0;
    while idle_rounds < 3 {
        rounds += 1;
        assert!(rounds < 2000, "the queue never drained");
        let worker = || async {
            let received = queue.receive(0).await.unwrap();
            if received.is_empty() {
                return (0, 0);
            }
            let at = *now.lock().unwrap();
            let records: Vec<SqsMessage> = received
                .iter()
                .map(|(receipt, task)| {
                    let mut m = SqsMessage::default();
                    m.message_id = Some(receipt.clone());
                    m.receipt_handle = Some(receipt.clone());
                    m.body = Some(serde_json::to_string(task).unwrap());
                    m
                })
                .collect();
            let mut event = SqsEvent::default();
            event.records = records;
            let response = outreach_app::lambda::handle_sqs(&app, event, at).await;
            let failed: HashSet<String> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.clone())
                .collect();
            let done: Vec<String> = received
                .iter()
                .map(|(r, _)| r.clone())
                .filter(|r| !failed.contains(r))
                .collect();
            if let Err(e) = queue.delete(&done).await {
                // Not deleted: the messages come back and find their deliveries done.
                eprintln!("delete failed: {e}");
            }
            for receipt in &failed {
                // Back on the queue at once (SQS would wait for the visibility timeout).
                // moto sometimes forgets a receipt it just gave; then the message simply
                // comes back after its visibility timeout, as on AWS.
                let _ = sqs
                    .change_message_visibility()
                    .queue_url(&queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
            (received.len(), failed.len())
        };
        let ((n1, f1), (n2, f2)) = tokio::join!(worker(), worker());
        if n1 + n2 == 0 {
            idle_rounds += 1;
        } else {
            idle_rounds = 0;
            if f1 + f2 == n1 + n2 {
                // Only retries and held claims came back: let time pass the leases.
                *now.lock().unwrap() += Duration::minutes(6);
            }
        }
    }

    // Count what the providers received.
    let data: serde_json::Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut sms_per_number: HashMap<String, usize> = HashMap::new();
    for m in data["sns"]["SMS"].as_array().into_iter().flatten() {
        let number = m["phone_number"].as_str().unwrap_or_default();
        if (0..CONSENTING + OTHERS).any(|i| phone(i) == number) {
            *sms_per_number.entry(number.to_string()).or_default() += 1;
        }
    }
    let mut mail_per_address: HashMap<String, usize> = HashMap::new();
    for m in data["ses"]["RawMessage"].as_array().into_iter().flatten() {
        let to: HashSet<&str> = m["destinations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
            .collect();
        for address in to
            .into_iter()
            .filter(|a| a.ends_with(&format!(".{}@exactly-once.example.vn", run_offset())))
        {
            *mail_per_address.entry(address.to_string()).or_default() += 1;
        }
    }
    for i in 0..CONSENTING {
        assert_eq!(sms_per_number.get(&phone(i)), Some(&1), "SMS to consenting contact {i}");
        assert_eq!(
            mail_per_address.get(&email(i)),
            Some(&1),
            "email to consenting contact {i}"
        );
    }
    assert_eq!(sms_per_number.len(), CONSENTING, "nobody else got an SMS");
    assert_eq!(mail_per_address.len(), CONSENTING, "nobody else got an email");
    println!(
        "exactly once: {} SMS and {} emails to {CONSENTING} consenting contacts, {enqueued} tasks enqueued, {rounds} rounds",
        sms_per_number.values().sum::<usize>(),
        mail_per_address.values().sum::<usize>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_deliveries_on_the_local_parts_arrive_exactly_once() {
    use outreach_core::jobs::{Channels, SenderSettings, run_sender};
    use outreach_core::notify::MemoryQueue;
    use outreach_notify::Outbox;
    use outreach_store::SqliteStore;

    const PEOPLE: usize = 1000;
    const GOOD: usize = 950;
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("exactly-once.db")).unwrap();
    let outbox_dir = dir.path().join("outbox");
    let outbox = Outbox::new(&outbox_dir).unwrap();
    let email_channel = FailsOnceForSome::new(Outbox::new(&outbox_dir).unwrap());
    let sms_channel = FailsOnceForSome::new(outbox);
    let setup: DateTime<Utc> = "2026-09-01T02:00:00Z".parse().unwrap();
    let units = r#"[{"code":"24","name":"Tỉnh Bắc Giang","level":"province"},
        {"code":"07441","name":"Xã Tân Dĩnh","level":"commune","parent_code":"24"}]"#;
    usecases::import_org_units(&store, parse_units_json(units).unwrap(), ImportValidity::default())
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..PEOPLE {
        let kind = match i {
            i if i < GOOD => "consenting",
            i if i < GOOD + 20 => "no_consent",
            i if i < GOOD + 40 => "opted_out",
            _ => "landline",
        };
        let input = contact_input(i, kind, setup);
        let c = usecases::register_contact(&store, input, setup, &usecases::Actor::default())
            .await
            .unwrap();
        if kind == "opted_out" {
            usecases::opt_out(&store, &c.id, None, "sms_reply", setup + Duration::hours(1))
                .await
                .unwrap();
        }
        ids.push(c.id);
    }
    let input = day_before_campaign();
    let campaign = usecases::create_campaign(&store, input, setup).await.unwrap();
    usecases::act_on_campaign(&store, &campaign.id, CampaignAction::Activate, setup)
        .await
        .unwrap();
    run_planner(&store, setup, Duration::days(60)).await.unwrap();

    let queue = MemoryQueue::default();
    let twice = Twice(&queue);
    let due: DateTime<Utc> = "2026-10-02T01:00:00Z".parse().unwrap();
    let settings = DispatchSettings {
        page_size: 100,
        ..DispatchSettings::default()
    };
    let (a, b) = tokio::join!(
        run_dispatcher(&store, &twice, due, settings),
        run_dispatcher(&store, &twice, due, settings)
    );
    let enqueued = a.unwrap().enqueued + b.unwrap().enqueued;
    assert!(enqueued >= 2000, "{enqueued}");
    assert_eq!(queue.len() as u64, 2 * enqueued, "every task twice");

    let session = {
        use outreach_core::ports::{PageRequest, SessionFilter, SessionStore};
        let filter = SessionFilter {
            campaign: Some(campaign.id.clone()),
            ..Default::default()
        };
        store
            .list_sessions(&filter, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .remove(0)
    };
    for id in ids.iter().step_by(37) {
        let d = Delivery {
            id: Delivery::id_for(&session.id, "day-before", id, Channel::Email),
            campaign_id: campaign.id.clone(),
            session_id: session.id.clone(),
            rule_id: "day-before".into(),
            contact_id: id.clone(),
            channel: Channel::Email,
            status: DeliveryStatus::Claimed,
            message_id: None,
            reason: None,
            attempts: 1,
            lease_until: due + Duration::minutes(5),
            updated_at: due,
            expires_at: due + Duration::days(365),
            version: 1,
        };
        assert!(matches!(
            store.claim_delivery(&d, due).await.unwrap(),
            Claim::Claimed(_)
        ));
    }

    // Two senders drain the queue at once; what must be retried goes back; when only
    // held claims are left, time moves past their lease.
    let channels = Channels {
        email: &email_channel,
        sms: &sms_channel,
        links: &NoUnsubscribeLinks,
    };
    let mut now = due + Duration::minutes(1);
    let mut rounds = 0;
    while !queue.is_empty() {
        rounds += 1;
        assert!(rounds < 100, "the queue never drained");
        let (first, second) = (queue.drain(queue.len() / 2 + 1), queue.drain(usize::MAX));
        let (r1, r2) = tokio::join!(
            run_sender(&store, channels, &first, now, SenderSettings::default()),
            run_sender(&store, channels, &second, now, SenderSettings::default())
        );
        let again: Vec<DeliveryTask> = first
            .iter()
            .zip(r1)
            .chain(second.iter().zip(r2))
            .filter(|(_, r)| !matches!(r, Ok(o) if !o.needs_redelivery()))
            .map(|(t, _)| t.clone())
            .collect();
        let all_again = again.len() == first.len() + second.len();
        queue.enqueue(&again).await.unwrap();
        if all_again {
            now += Duration::minutes(6);
        }
    }

    let mut sms_per_number: HashMap<String, usize> = HashMap::new();
    for m in Outbox::read_sms(&outbox_dir).unwrap() {
        *sms_per_number.entry(m.to).or_default() += 1;
    }
    let mut mail_per_address: HashMap<String, usize> = HashMap::new();
    for m in Outbox::read_email(&outbox_dir).unwrap() {
        *mail_per_address.entry(m.to).or_default() += 1;
    }
    for i in 0..GOOD {
        assert_eq!(sms_per_number.get(&phone(i)), Some(&1), "SMS to consenting contact {i}");
        assert_eq!(
            mail_per_address.get(&email(i)),
            Some(&1),
            "email to consenting contact {i}"
        );
    }
    assert_eq!(sms_per_number.len(), GOOD, "nobody else got an SMS");
    assert_eq!(mail_per_address.len(), GOOD, "nobody else got an email");
    println!(
        "exactly once (local): {GOOD} SMS and {GOOD} emails from {enqueued} deliveries enqueued twice, {rounds} rounds"
    );
}
