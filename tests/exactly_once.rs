//! Exactly once: every queue message arrives twice, two dispatchers run at once, 10 % of
//! provider calls fail once and are retried, some deliveries were claimed by a sender that
//! died before sending, and some by one that died after the provider accepted the message
//! (SES and SNS take no idempotency key: those are recorded `uncertain` and not sent again;
//! the outbox drops a repeat of the key, so there they are asked again and end `sent`). Every consenting contact must get exactly one SMS and one
//! email, and nobody else anything — counted from what the providers received, not from
//! the code's own counters. Three runs of 2,000 deliveries (950 consenting contacts × SMS
//! and email, and 50 who must get nothing):
//! - on the production parts: DynamoDB, SQS, SNS and SES served by moto on 127.0.0.1,
//!   through the sender Lambda's SQS handler;
//! - the same with the SQLite store;
//! - on the laptop's parts (SQLite, the in-process queue, the outbox).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Duration, Utc};
use outreach_app::{App, Config, DeliveryQueue};
use outreach_core::CoreResult;
use outreach_core::campaign::{Audience, CampaignAction, CampaignInput};
use outreach_core::contact::{Channel, ConsentInput, ContactInput, ContactRole};
use outreach_core::ids::ContactId;
use outreach_core::jobs::{Channels, DispatchSettings, SenderSettings, run_dispatcher, run_planner, run_sender};
use outreach_core::notify::{
    ChannelError, DeliveryTask, EmailChannel, MemoryQueue, NoUnsubscribeLinks, OutboundEmail, OutboundSms, Queue, Sent,
    SmsChannel,
};
use outreach_core::org::{ImportScope, ImportValidity, parse_units_json};
use outreach_core::ports::{Claim, PageRequest, SessionFilter, Store};
use outreach_core::reminder::{Delivery, DeliveryStatus};
use outreach_core::usecases;
use outreach_notify::{Mailbox, Outbox, SesConfig, SesEmail, SnsConfig, SnsSms, SqsConfig, SqsQueue};
use outreach_store::dynamodb::items;
use outreach_store::{DynamoStore, SqliteStore};
use outreach_testkit::examples;

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

    fn drops_repeats(&self) -> bool {
        self.inner.drops_repeats()
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

    fn drops_repeats(&self) -> bool {
        self.inner.drops_repeats()
    }
}

/// The people of one run: `consenting` who must get one SMS and one email each, then 2 %
/// without consent, 2 % opted out and 1 % landlines, who must get nothing on those channels.
/// Numbers and addresses are the run's own: moto keeps what it received for as long as it
/// runs, so each run counts only its own.
struct People {
    consenting: usize,
    others: usize,
    base: usize,
    tag: String,
}

impl People {
    fn new(consenting: usize, others: usize) -> Self {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as usize;
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Up to 1,000 numbers each, in blocks that concurrent runs of one process never share.
        let base = ((nanos / 1000 + run * 331) % 997) * 1000;
        Self {
            consenting,
            others,
            base,
            tag: format!("{:x}{run}", nanos),
        }
    }

    fn len(&self) -> usize {
        self.consenting + self.others
    }

    fn phone(&self, i: usize) -> String {
        format!("+84359{:06}", self.base + i)
    }

    fn email(&self, i: usize) -> String {
        format!("nguoi{i}.{}@exactly-once.example.vn", self.tag)
    }

    fn kind(&self, i: usize) -> &'static str {
        match i.checked_sub(self.consenting) {
            None => "consenting",
            Some(j) if j < self.others * 2 / 5 => "no_consent",
            Some(j) if j < self.others * 4 / 5 => "opted_out",
            Some(_) => "landline",
        }
    }

    /// Contact `i`: consenting on both channels, without consent, (to be) opted out, or a
    /// landline.
    fn input(&self, i: usize, at: DateTime<Utc>) -> ContactInput {
        let kind = self.kind(i);
        let consent = |channel| ConsentInput {
            channel,
            method: "paper_form".into(),
            wording_version: "v1".into(),
            granted_at: Some(at),
        };
        ContactInput {
            role: ContactRole::Citizen,
            name: format!("Công dân {i}"),
            commune_code: "07441".into(),
            phone: if kind == "landline" {
                format!("0204 38{i:05}")
            } else {
                self.phone(i)
            },
            email: (kind != "landline").then(|| self.email(i)),
            consents: match kind {
                "no_consent" => vec![],
                "landline" => vec![consent(Channel::Sms)],
                _ => vec![consent(Channel::Sms), consent(Channel::Email)],
            },
        }
    }

    /// Check what each person received, counted per number and per address.
    fn assert_exactly_once(&self, sms_to: &[String], email_to: &[String]) {
        let mut sms_per_number: HashMap<&str, usize> = HashMap::new();
        for to in sms_to {
            *sms_per_number.entry(to).or_default() += 1;
        }
        let mut mail_per_address: HashMap<&str, usize> = HashMap::new();
        for to in email_to {
            *mail_per_address.entry(to).or_default() += 1;
        }
        for i in 0..self.consenting {
            assert_eq!(
                sms_per_number.get(self.phone(i).as_str()),
                Some(&1),
                "SMS to consenting contact {i}"
            );
            assert_eq!(
                mail_per_address.get(self.email(i).as_str()),
                Some(&1),
                "email to consenting contact {i}"
            );
        }
        assert_eq!(sms_per_number.len(), self.consenting, "nobody else got an SMS");
        assert_eq!(mail_per_address.len(), self.consenting, "nobody else got an email");
    }
}

/// The people of a run through moto: `OUTREACH_EXACTLY_ONCE_PEOPLE` contacts (default 100:
/// 95 consenting, 5 not; 190 deliveries, still many SQS batches and DynamoDB pages), each
/// with an SMS and an email owed. moto answers one request at a time (the three tests took
/// 23 minutes of CI at 1,000), so the test command keeps this small; `scripts/soak` runs
/// 1,000 (2,000 deliveries), as the local-parts test always does.
fn people_through_moto() -> People {
    let n: usize = std::env::var("OUTREACH_EXACTLY_ONCE_PEOPLE")
        .ok()
        .map(|v| v.parse().expect("OUTREACH_EXACTLY_ONCE_PEOPLE is a number of contacts"))
        .unwrap_or(100);
    assert!(
        (20..=1000).contains(&n),
        "OUTREACH_EXACTLY_ONCE_PEOPLE is 20 to 1,000 (the numbers of one run)"
    );
    People::new(n - n / 20, n / 20)
}

const SETUP: &str = "2026-09-01T02:00:00Z";
const DUE: &str = "2026-10-02T01:00:00Z";

fn at(instant: &str) -> DateTime<Utc> {
    instant.parse().unwrap()
}

/// The campaign of every run: one Saturday session in October, one day-before reminder by
/// SMS and email to the commune's citizens.
fn day_before_campaign() -> CampaignInput {
    CampaignInput {
        capacity: 2000,
        reminder_rules: vec![examples::rule(
            "day-before",
            24,
            Audience::Citizens,
            &[Channel::Sms, Channel::Email],
        )],
        ..examples::saturdays("2026-10-01", "2026-10-07", &["07441"])
    }
}

async fn import_commune(store: &dyn Store) {
    let units = r#"[{"code":"24","name":"Tỉnh Bắc Giang","level":"province"},
        {"code":"07441","name":"Xã Tân Dĩnh","level":"commune","parent_code":"24"}]"#;
    usecases::import_org_units(
        store,
        parse_units_json(units).unwrap(),
        ImportValidity::default(),
        ImportScope::Anywhere,
    )
    .await
    .unwrap();
}

/// Register everyone through the use case, and opt out those who opt out.
async fn register_people(store: &dyn Store, people: &People) -> Vec<ContactId> {
    let mut ids = Vec::new();
    for i in 0..people.len() {
        let c = usecases::register_contact(
            store,
            people.input(i, at(SETUP)),
            at(SETUP),
            &usecases::Actor::default(),
        )
        .await
        .unwrap();
        if people.kind(i) == "opted_out" {
            usecases::opt_out(store, &c.id, None, "sms_reply", at(SETUP) + Duration::hours(1))
                .await
                .unwrap();
        }
        ids.push(c.id);
    }
    ids
}

/// Create and activate the campaign, plan its one session and dispatch its reminder with
/// two dispatchers at once, every task enqueued twice; then claim every 37th delivery on
/// `dead_channel` as a sender that dies before sending. Returns the tasks enqueued and the
/// session.
async fn plan_and_dispatch_twice(
    store: &dyn Store,
    queue: &dyn Queue,
    ids: &[ContactId],
    dead_channel: Channel,
) -> (u64, outreach_core::session::Session) {
    let campaign = usecases::create_campaign(store, day_before_campaign(), at(SETUP))
        .await
        .unwrap();
    usecases::act_on_campaign(store, &campaign.id, CampaignAction::Activate, at(SETUP))
        .await
        .unwrap();
    let planned = run_planner(store, at(SETUP), Duration::days(60)).await.unwrap();
    assert_eq!(planned.sessions_created, 1);

    let twice = Twice(queue);
    let settings = DispatchSettings {
        page_size: 100,
        ..DispatchSettings::default()
    };
    let (a, b) = tokio::join!(
        run_dispatcher(store, &twice, at(DUE), settings),
        run_dispatcher(store, &twice, at(DUE), settings)
    );
    let enqueued = a.unwrap().enqueued + b.unwrap().enqueued;
    assert!(
        enqueued as usize >= 2 * ids.len(),
        "every contact × channel at least once: {enqueued}"
    );

    let filter = SessionFilter {
        campaign: Some(campaign.id.clone()),
        ..Default::default()
    };
    let session = store
        .list_sessions(&filter, &PageRequest::first(10))
        .await
        .unwrap()
        .items
        .remove(0);
    for id in ids.iter().step_by(37) {
        let d = examples::claimed_delivery(&campaign.id, &session.id, "day-before", id, dead_channel, at(DUE));
        assert!(matches!(
            store.claim_delivery(&d, at(DUE)).await.unwrap(),
            Claim::Claimed(_)
        ));
    }
    (enqueued, session)
}

/// A provider in front of the real one whose sender dies once the message is accepted:
/// the call never returns, and the test drops the sender there, as a killed process stops.
struct DiesAfterAccepting<'a> {
    email: &'a dyn EmailChannel,
    sms: &'a dyn SmsChannel,
    accepted: tokio::sync::Notify,
}

#[async_trait]
impl EmailChannel for DiesAfterAccepting<'_> {
    async fn send_email(&self, email: &OutboundEmail) -> Result<Sent, ChannelError> {
        let sent = self.email.send_email(email).await;
        assert!(sent.is_ok(), "the provider refused: {sent:?}");
        self.accepted.notify_one();
        std::future::pending().await
    }
}

#[async_trait]
impl SmsChannel for DiesAfterAccepting<'_> {
    async fn send_sms(&self, sms: &OutboundSms) -> Result<Sent, ChannelError> {
        let sent = self.sms.send_sms(sms).await;
        assert!(sent.is_ok(), "the provider refused: {sent:?}");
        self.accepted.notify_one();
        std::future::pending().await
    }
}

/// For every 41st consenting contact (from the 6th), a sender hands `channel`'s message to
/// the real provider and dies before recording the answer. Returns those deliveries' ids.
async fn send_then_die(
    store: &dyn Store,
    session: &outreach_core::session::Session,
    people: &People,
    ids: &[ContactId],
    (email, sms): (&dyn EmailChannel, &dyn SmsChannel),
    channel: Channel,
) -> Vec<String> {
    let dying = DiesAfterAccepting {
        email,
        sms,
        accepted: tokio::sync::Notify::new(),
    };
    let channels = Channels {
        email: &dying,
        sms: &dying,
        zns: None,
        links: &NoUnsubscribeLinks,
    };
    let mut died = Vec::new();
    for i in (5..people.consenting).step_by(41) {
        let task = DeliveryTask {
            job_id: outreach_core::reminder::ReminderJob::id_for(&session.id, "day-before"),
            campaign_id: session.campaign_id.clone(),
            session_id: session.id.clone(),
            rule_id: "day-before".into(),
            contact_id: ids[i].clone(),
            channel,
        };
        let tasks = [task];
        tokio::select! {
            outcome = run_sender(store, channels, &tasks, at(DUE), SenderSettings::default()) => {
                panic!("the sender was to die after the provider accepted, and answered {outcome:?}")
            }
            () = dying.accepted.notified() => {}
        }
        let id = Delivery::id_for(&session.id, "day-before", &ids[i], channel);
        let stored = store.get_delivery(&session.campaign_id, &id).await.unwrap().unwrap();
        assert_eq!(stored.status, DeliveryStatus::Claimed);
        assert!(
            stored.attempt_started_at.is_some(),
            "the attempt was marked before the call"
        );
        died.push(id);
    }
    assert!(!died.is_empty());
    died
}

/// What became of the deliveries whose sender died after the provider accepted them, as
/// the delivery log shows them.
async fn assert_after_death(
    store: &dyn Store,
    campaign_id: &outreach_core::ids::CampaignId,
    died: &[String],
    expected: DeliveryStatus,
) {
    for id in died {
        let d = store.get_delivery(campaign_id, id).await.unwrap().unwrap();
        assert_eq!(d.status, expected, "{id}: {d:?}");
        assert!(d.attempts >= 2, "{id}: taken over: {d:?}");
    }
    let filter = outreach_core::ports::DeliveryFilter {
        campaign: Some(campaign_id.clone()),
        status: Some(DeliveryStatus::Uncertain),
        ..Default::default()
    };
    let mut logged = Vec::new();
    let mut page = PageRequest::first(500);
    loop {
        let got = store.list_deliveries(&filter, &page).await.unwrap();
        logged.extend(got.items.into_iter().map(|d| d.id));
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    logged.sort();
    let mut want: Vec<String> = if expected == DeliveryStatus::Uncertain {
        died.to_vec()
    } else {
        Vec::new()
    };
    want.sort();
    assert_eq!(logged, want, "the delivery log's uncertain deliveries");
}

/// The AWS side of a run on moto: a queue, SES with a verified sender, SNS, and providers
/// that fail once for one recipient in ten.
struct Moto {
    endpoint: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue: SqsQueue,
    email: FailsOnceForSome<SesEmail>,
    sms: FailsOnceForSome<SnsSms>,
}

impl Moto {
    async fn start(people: &People) -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
        assert!(
            endpoint.starts_with("http://127.0.0.1"),
            "run ./scripts/test, which starts moto; AWS_ENDPOINT_URL={endpoint:?}"
        );
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        // A long visibility timeout, as in production: a batch being handled never reappears.
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("deliveries-{}", people.tag))
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "120")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let queue = SqsQueue::new(&sdk, SqsConfig::new(queue_url.clone()));
        aws_sdk_sesv2::Client::new(&sdk)
            .create_email_identity()
            .email_identity("nhac-lich@doanthanhnien.example.vn")
            .send()
            .await
            .unwrap();
        let from: Mailbox = "Đoàn Thanh niên <nhac-lich@doanthanhnien.example.vn>".parse().unwrap();
        Self {
            endpoint,
            sqs,
            queue_url,
            queue,
            email: FailsOnceForSome::new(SesEmail::new(&sdk, SesConfig::new(from))),
            sms: FailsOnceForSome::new(SnsSms::new(&sdk, SnsConfig::default())),
        }
    }

    /// The sender Lambda's handler over real SQS batches, two workers at once, until the
    /// queue is empty; when only held claims and retries come back, time moves past their
    /// lease. Returns the rounds it took.
    ///
    /// The dispatchers' tasks (each twice) wait in `staged` and go onto SQS as the workers
    /// take them, a few dozen at a time: moto's ReceiveMessage recounts the whole queue for
    /// every message it looks at, so a queue thousands deep would take it most of an hour.
    async fn drain_through_sender_lambda(self: &Arc<Self>, store: Arc<dyn Store>, staged: &MemoryQueue) -> usize {
        let mut config = Config::local("unused.db".into(), "unused-outbox".into());
        config.queue_url = Some(self.queue_url.clone());
        let app = App {
            store,
            email: self.clone(),
            sms: self.clone(),
            zns: None,
            links: Arc::new(NoUnsubscribeLinks),
            queue: DeliveryQueue::Sqs(self.queue.clone()),
            config,
        };
        let now = Mutex::new(at(DUE) + Duration::minutes(1));
        let (mut idle_rounds, mut rounds, mut outstanding) = (0, 0, 0usize);
        while idle_rounds < 3 || !staged.is_empty() {
            rounds += 1;
            assert!(rounds < 5000, "the queue never drained");
            // Top the queue up to a few dozen messages not yet handled.
            let room = 40usize.saturating_sub(outstanding);
            let feed = staged.drain(room);
            // As with a receive below: moto may time out under load. A send that timed out may
            // have been taken too; a second copy of a task is what this test is about.
            let mut tries = 0;
            while let Err(e) = self.queue.enqueue(&feed).await {
                tries += 1;
                assert!(tries <= 5, "enqueue failed {tries} times: {e}");
                eprintln!("enqueue failed, sending again: {e}");
            }
            outstanding += feed.len();
            let worker = || async {
                // moto answers one request at a time; under the other tests' load a receive can
                // time out. Nothing is lost then (the messages stay on the queue): ask again.
                let mut tries = 0;
                let received = loop {
                    match self.queue.receive(0).await {
                        Ok(received) => break received,
                        Err(e) if tries < 5 => {
                            tries += 1;
                            eprintln!("receive failed, asking again: {e}");
                        }
                        Err(e) => panic!("receive failed {tries} times: {e}"),
                    }
                };
                if received.is_empty() {
                    return (0, 0);
                }
                let instant = *now.lock().unwrap();
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
                let response = outreach_app::lambda::handle_sqs(&app, event, instant).await;
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
                if let Err(e) = self.queue.delete(&done).await {
                    // Not deleted: the messages come back and find their deliveries done.
                    eprintln!("delete failed: {e}");
                }
                for receipt in &failed {
                    // Back on the queue at once (SQS would wait for the visibility timeout).
                    // moto sometimes forgets a receipt it just gave; then the message simply
                    // comes back after its visibility timeout, as on AWS.
                    let _ = self
                        .sqs
                        .change_message_visibility()
                        .queue_url(&self.queue_url)
                        .receipt_handle(receipt)
                        .visibility_timeout(0)
                        .send()
                        .await;
                }
                (received.len(), failed.len())
            };
            let ((n1, f1), (n2, f2)) = tokio::join!(worker(), worker());
            outstanding = outstanding.saturating_sub(n1 + n2 - f1 - f2);
            if n1 + n2 == 0 {
                idle_rounds += 1;
            } else {
                idle_rounds = 0;
                if f1 + f2 == n1 + n2 {
                    *now.lock().unwrap() += Duration::minutes(6);
                }
            }
        }
        rounds
    }

    /// The numbers SNS sent SMS to and the addresses SES sent mail to, for this run's
    /// people only, one entry per message.
    async fn received(&self, people: &People) -> (Vec<String>, Vec<String>) {
        let data: serde_json::Value = reqwest::get(format!("{}/moto-api/data.json", self.endpoint))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let numbers: HashSet<String> = (0..people.len()).map(|i| people.phone(i)).collect();
        let sms_to = data["sns"]["SMS"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["phone_number"].as_str())
            .filter(|n| numbers.contains(*n))
            .map(str::to_string)
            .collect();
        let suffix = format!(".{}@exactly-once.example.vn", people.tag);
        let mut email_to = Vec::new();
        for m in data["ses"]["RawMessage"].as_array().into_iter().flatten() {
            let to: HashSet<&str> = m["destinations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str())
                .collect();
            email_to.extend(to.into_iter().filter(|a| a.ends_with(&suffix)).map(str::to_string));
        }
        (sms_to, email_to)
    }
}

#[async_trait]
impl SmsChannel for Moto {
    async fn send_sms(&self, sms: &OutboundSms) -> Result<Sent, ChannelError> {
        self.sms.send_sms(sms).await
    }

    fn drops_repeats(&self) -> bool {
        self.sms.drops_repeats()
    }
}

#[async_trait]
impl EmailChannel for Moto {
    async fn send_email(&self, email: &OutboundEmail) -> Result<Sent, ChannelError> {
        self.email.send_email(email).await
    }

    fn drops_repeats(&self) -> bool {
        self.email.drops_repeats()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_through_sqs_sns_and_ses_arrive_exactly_once() {
    let people = people_through_moto();
    let moto = Arc::new(Moto::start(&people).await);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("exactly-once.db")).unwrap());
    import_commune(store.as_ref()).await;
    let ids = register_people(store.as_ref(), &people).await;
    let staged = MemoryQueue::default();
    let (enqueued, session) = plan_and_dispatch_twice(store.as_ref(), &staged, &ids, Channel::Sms).await;
    let providers = (
        &moto.email.inner as &dyn EmailChannel,
        &moto.sms.inner as &dyn SmsChannel,
    );
    let died = send_then_die(store.as_ref(), &session, &people, &ids, providers, Channel::Email).await;
    let rounds = moto.drain_through_sender_lambda(store.clone(), &staged).await;
    let (sms_to, email_to) = moto.received(&people).await;
    people.assert_exactly_once(&sms_to, &email_to);
    assert_after_death(store.as_ref(), &session.campaign_id, &died, DeliveryStatus::Uncertain).await;
    println!(
        "exactly once (SQS, SNS, SES on moto; SQLite): {} SMS and {} emails to {} consenting contacts, {enqueued} deliveries enqueued twice, {rounds} rounds",
        sms_to.len(),
        email_to.len(),
        people.consenting
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_consenting_contact_gets_exactly_one_message_on_the_production_parts() {
    let people = people_through_moto();
    let moto = Arc::new(Moto::start(&people).await);
    let store = DynamoStore::from_env(&format!("outreach-exactly-once-{}", people.tag)).await;
    store.create_table().await.unwrap();
    import_commune(&store).await;
    // Seeded with BatchWriteItem (the same items registration writes): moto copies the
    // whole table for every transaction, which would make registrations take minutes.
    let mut ids = Vec::new();
    let mut raws = Vec::new();
    let mut opted_out = Vec::new();
    for i in 0..people.len() {
        let c = people
            .input(i, at(SETUP))
            .into_contact(format!("ct_{}_{i:04}", people.tag).into(), at(SETUP), None)
            .unwrap();
        raws.push(items::encode(&items::contact(&c)).unwrap());
        raws.push(items::encode(&items::phone_lock(&c).unwrap()).unwrap());
        if let Some(address) = &c.email {
            raws.push(items::encode(&items::email_entry(&c, address)).unwrap());
        }
        if people.kind(i) == "opted_out" {
            opted_out.push(c.id.clone());
        }
        ids.push(c.id);
    }
    store.batch_put(raws).await.unwrap();
    for id in &opted_out {
        usecases::opt_out(&store, id, None, "sms_reply", at(SETUP) + Duration::hours(1))
            .await
            .unwrap();
    }
    let staged = MemoryQueue::default();
    let (enqueued, session) = plan_and_dispatch_twice(&store, &staged, &ids, Channel::Sms).await;
    let providers = (
        &moto.email.inner as &dyn EmailChannel,
        &moto.sms.inner as &dyn SmsChannel,
    );
    let died = send_then_die(&store, &session, &people, &ids, providers, Channel::Email).await;
    let store = Arc::new(store);
    let rounds = moto.drain_through_sender_lambda(store.clone(), &staged).await;
    let (sms_to, email_to) = moto.received(&people).await;
    people.assert_exactly_once(&sms_to, &email_to);
    assert_after_death(store.as_ref(), &session.campaign_id, &died, DeliveryStatus::Uncertain).await;
    println!(
        "exactly once (DynamoDB, SQS, SNS, SES on moto): {} SMS and {} emails to {} consenting contacts, {enqueued} deliveries enqueued twice, {rounds} rounds",
        sms_to.len(),
        email_to.len(),
        people.consenting
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_deliveries_on_the_local_parts_arrive_exactly_once() {
    let people = People::new(950, 50);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("exactly-once.db")).unwrap();
    let outbox_dir = dir.path().join("outbox");
    let email_channel = FailsOnceForSome::new(Outbox::new(&outbox_dir).unwrap());
    let sms_channel = FailsOnceForSome::new(Outbox::new(&outbox_dir).unwrap());
    import_commune(&store).await;
    let ids = register_people(&store, &people).await;
    let queue = MemoryQueue::default();
    let (enqueued, session) = plan_and_dispatch_twice(&store, &queue, &ids, Channel::Email).await;
    assert_eq!(queue.len() as u64, 2 * enqueued, "every task twice");
    let died = send_then_die(
        &store,
        &session,
        &people,
        &ids,
        (&email_channel.inner, &sms_channel.inner),
        Channel::Sms,
    )
    .await;

    // Two senders drain the queue at once; what must be retried goes back; when only
    // held claims are left, time moves past their lease.
    let channels = Channels {
        email: &email_channel,
        sms: &sms_channel,
        zns: None,
        links: &NoUnsubscribeLinks,
    };
    let mut now = at(DUE) + Duration::minutes(1);
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

    let sms_to: Vec<String> = Outbox::read_sms(&outbox_dir)
        .unwrap()
        .into_iter()
        .map(|m| m.to)
        .collect();
    let email_to: Vec<String> = Outbox::read_email(&outbox_dir)
        .unwrap()
        .into_iter()
        .map(|m| m.to)
        .collect();
    people.assert_exactly_once(&sms_to, &email_to);
    // The outbox drops a repeat of the key: those deliveries were asked again and are sent.
    assert_after_death(&store, &session.campaign_id, &died, DeliveryStatus::Sent).await;
    println!(
        "exactly once (local): {} SMS and {} emails from {enqueued} deliveries enqueued twice, {rounds} rounds",
        sms_to.len(),
        email_to.len()
    );
}
