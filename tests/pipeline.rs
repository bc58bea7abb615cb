//! The reminder pipeline on the laptop's parts (SQLite, the in-process queue, the outbox):
//! planner → dispatcher → sender, and the send policy, counted from what the outbox got.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Asia::Ho_Chi_Minh;
use outreach_core::campaign::{Audience, CampaignAction, CampaignInput, ReminderRuleInput, ScheduleSpec};
use outreach_core::contact::{Channel, ConsentInput, ContactInput, ContactRole};
use outreach_core::ids::{CampaignId, ContactId};
use outreach_core::jobs::{
    Channels, DispatchSettings, SendOutcome, SenderSettings, run_dispatcher, run_planner, run_sender,
};
use outreach_core::notify::{MemoryQueue, NoUnsubscribeLinks};
use outreach_core::org::{ImportScope, ImportValidity, parse_units_json};
use outreach_core::ports::{DeliveryFilter, DeliveryStore, PageRequest, ReminderStore, SessionFilter, SessionStore};
use outreach_core::quarter::Quarter;
use outreach_core::reminder::{DeliveryStatus, JobStatus};
use outreach_core::usecases::{self, Actor};
use outreach_notify::Outbox;
use outreach_store::SqliteStore;

fn local(s: &str) -> DateTime<Utc> {
    Ho_Chi_Minh
        .from_local_datetime(&NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Who a test contact is: key, role, phone, email, consents.
type Person = (
    &'static str,
    ContactRole,
    &'static str,
    Option<&'static str>,
    Vec<ConsentInput>,
);

struct World {
    store: SqliteStore,
    outbox: Outbox,
    queue: MemoryQueue,
    dir: tempfile::TempDir,
    campaign: CampaignId,
    contacts: HashMap<&'static str, ContactId>,
}

fn rule(id: &str, offset_minutes: u32, audience: Audience, channels: Vec<Channel>) -> ReminderRuleInput {
    ReminderRuleInput {
        id: Some(id.into()),
        offset_minutes,
        audience,
        channels,
        sms_template: None,
        email_subject: None,
        email_template: None,
        zns_template_id: None,
        zns_params: Default::default(),
        asks_answer: false,
    }
}

/// One commune, a campaign whose sessions start at `hh:mm` local every Saturday of
/// October 2026, and contacts of every kind the policy tells apart.
async fn world(cron: &str, rules: Vec<ReminderRuleInput>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("pipeline.db")).unwrap();
    let outbox = Outbox::new(dir.path().join("outbox")).unwrap();
    let units = r#"[{"code":"24","name":"Tỉnh Bắc Giang","level":"province"},
        {"code":"213","name":"Thành phố Bắc Giang","level":"district","parent_code":"24"},
        {"code":"07441","name":"Xã Tân Dĩnh","level":"commune","parent_code":"213"}]"#;
    usecases::import_org_units(
        &store,
        parse_units_json(units).unwrap(),
        ImportValidity::default(),
        ImportScope::Anywhere,
    )
    .await
    .unwrap();
    let setup = local("2026-09-01 09:00");
    let actor = Actor::default();
    let sms = |at| ConsentInput {
        channel: Channel::Sms,
        method: "paper_form".into(),
        wording_version: "v1".into(),
        granted_at: Some(at),
    };
    let email = |at| ConsentInput {
        channel: Channel::Email,
        method: "web_form".into(),
        wording_version: "v1".into(),
        granted_at: Some(at),
    };
    let people: Vec<Person> = vec![
        (
            "consenting",
            ContactRole::Citizen,
            "0912000001",
            Some("an@example.vn"),
            vec![sms(setup), email(setup)],
        ),
        (
            "no_consent",
            ContactRole::Citizen,
            "0912000002",
            Some("binh@example.vn"),
            vec![],
        ),
        (
            "opted_out",
            ContactRole::Citizen,
            "0912000003",
            Some("chi@example.vn"),
            vec![sms(setup), email(setup)],
        ),
        (
            "landline",
            ContactRole::Citizen,
            "0204 3854 123",
            None,
            vec![sms(setup)],
        ),
        (
            "volunteer",
            ContactRole::Volunteer,
            "0912000005",
            None,
            vec![sms(setup)],
        ),
    ];
    let mut contacts = HashMap::new();
    for (key, role, phone, mail, consents) in people {
        let input = ContactInput {
            role,
            name: format!("Người {key}"),
            commune_code: "07441".into(),
            phone: phone.into(),
            email: mail.map(Into::into),
            consents,
        };
        let c = usecases::register_contact(&store, input, setup, &actor).await.unwrap();
        contacts.insert(key, c.id);
    }
    usecases::opt_out(
        &store,
        &contacts["opted_out"],
        None,
        "sms_reply",
        setup + Duration::hours(1),
    )
    .await
    .unwrap();
    let input = CampaignInput {
        schedule: ScheduleSpec {
            cron: cron.into(),
            time_zone: Ho_Chi_Minh,
        },
        default_venue: Some("Nhà văn hoá thôn Đông".into()),
        min_staff: 1,
        reminder_rules: rules,
        ..outreach_testkit::examples::saturdays("2026-10-01", "2026-10-31", &["07441"])
    };
    let campaign = usecases::create_campaign(&store, input, setup).await.unwrap();
    usecases::act_on_campaign(&store, &campaign.id, CampaignAction::Activate, setup)
        .await
        .unwrap();
    let team = outreach_core::team::TeamInput {
        name: "Đội TN".into(),
        leader_id: None,
        member_ids: vec![contacts["volunteer"].to_string()],
    };
    usecases::put_team(&store, "07441", team, setup, &usecases::Actor::default())
        .await
        .unwrap();
    run_planner(&store, setup, Duration::days(60)).await.unwrap();
    World {
        store,
        outbox,
        queue: MemoryQueue::default(),
        dir,
        campaign: campaign.id,
        contacts,
    }
}

impl World {
    /// Dispatch at `now`, then send everything queued at `now`; the outcomes.
    async fn tick(&self, now: DateTime<Utc>) -> Vec<SendOutcome> {
        run_dispatcher(&self.store, &self.queue, now, DispatchSettings::default())
            .await
            .unwrap();
        let channels = Channels {
            email: &self.outbox,
            sms: &self.outbox,
            zns: None,
            links: &NoUnsubscribeLinks,
        };
        let tasks = self.queue.drain(usize::MAX);
        run_sender(&self.store, channels, &tasks, now, SenderSettings::default())
            .await
            .into_iter()
            .map(|o| o.unwrap())
            .collect()
    }

    fn sms_to(&self, e164: &str) -> Vec<String> {
        Outbox::read_sms(self.dir.path().join("outbox"))
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.to == e164)
            .map(|m| m.text)
            .collect()
    }

    fn all_sms(&self) -> usize {
        Outbox::read_sms(self.dir.path().join("outbox"))
            .unwrap_or_default()
            .len()
    }

    fn all_email(&self) -> Vec<String> {
        Outbox::read_email(self.dir.path().join("outbox"))
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.to)
            .collect()
    }

    async fn sessions(&self) -> Vec<outreach_core::session::Session> {
        let filter = SessionFilter {
            campaign: Some(self.campaign.clone()),
            ..Default::default()
        };
        self.store
            .list_sessions(&filter, &PageRequest::first(100))
            .await
            .unwrap()
            .items
    }

    async fn reasons(&self, contact: &str) -> Vec<(String, String)> {
        let filter = DeliveryFilter {
            contact: Some(self.contacts[contact].clone()),
            ..Default::default()
        };
        let page = self
            .store
            .list_deliveries(&filter, &PageRequest::first(100))
            .await
            .unwrap();
        page.items
            .into_iter()
            .map(|d| {
                (
                    format!("{:?}", d.channel).to_lowercase(),
                    d.reason.unwrap_or_else(|| d.status.as_str().into()),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn only_consenting_mobile_contacts_get_a_reminder_and_the_text_is_vietnamese_unaccented() {
    let w = world(
        "0 8 * * 6",
        vec![rule(
            "day-before",
            24 * 60,
            Audience::All,
            vec![Channel::Sms, Channel::Email],
        )],
    )
    .await;
    let first = w.sessions().await.remove(0);
    usecases::assign_staff(
        &w.store,
        &first.id,
        vec![w.contacts["volunteer"].to_string()],
        local("2026-09-30 10:00"),
    )
    .await
    .unwrap();
    // Saturday 3 October 08:00; the day-before reminder is due Friday 08:00.
    let early = w.tick(local("2026-10-02 07:59")).await;
    assert!(early.is_empty(), "nothing is due a minute early");
    let outcomes = w.tick(local("2026-10-02 08:00")).await;
    assert_eq!(
        outcomes.len(),
        10,
        "5 contacts × 2 channels were enqueued: {outcomes:?}"
    );
    let texts = w.sms_to("+84912000001");
    assert_eq!(texts.len(), 1);
    assert_eq!(
        texts[0],
        "Doan TN Xa Tan Dinh: huong dan dich vu cong 08:00 03/10/2026 tai Nha van hoa thon Dong. Mang CCCD, dien thoai. dichvucong.bacgiang.gov.vn. Tu choi: TC"
    );
    assert_eq!(
        w.sms_to("+84912000005").len(),
        1,
        "the staffing volunteer is reminded too"
    );
    assert_eq!(w.all_sms(), 2, "nobody else got an SMS");
    assert_eq!(w.all_email(), vec!["an@example.vn".to_string()]);
    assert!(
        w.reasons("no_consent").await.iter().all(|(_, r)| r == "no_consent"),
        "{:?}",
        w.reasons("no_consent").await
    );
    assert!(w.reasons("opted_out").await.iter().all(|(_, r)| r == "opted_out"));
    let landline = w.reasons("landline").await;
    assert!(landline.contains(&("sms".into(), "not_mobile".into())), "{landline:?}");
    // Running again at the same instant sends nothing more.
    assert!(w.tick(local("2026-10-02 08:05")).await.is_empty());
    assert_eq!(w.all_sms(), 2);
}

#[tokio::test]
async fn a_0530_reminder_for_a_0730_session_goes_out_at_0700() {
    let w = world(
        "30 7 * * 6",
        vec![rule("early", 120, Audience::Citizens, vec![Channel::Sms])],
    )
    .await;
    let sessions = w.sessions().await;
    let job = w.store.session_jobs(&sessions[0].id).await.unwrap().remove(0);
    assert_eq!(job.due_at, local("2026-10-03 07:00"));
    assert!(
        w.tick(local("2026-10-03 05:30")).await.is_empty(),
        "not inside quiet hours"
    );
    assert!(w.tick(local("2026-10-03 06:59")).await.is_empty());
    w.tick(local("2026-10-03 07:00")).await;
    assert_eq!(w.sms_to("+84912000001").len(), 1);
}

#[tokio::test]
async fn a_reminder_for_a_0645_session_goes_out_at_2159_the_evening_before() {
    let w = world(
        "45 6 * * 6",
        vec![rule("early", 60, Audience::Citizens, vec![Channel::Sms])],
    )
    .await;
    let sessions = w.sessions().await;
    let job = w.store.session_jobs(&sessions[0].id).await.unwrap().remove(0);
    assert_eq!(job.due_at, local("2026-10-02 21:59"));
    w.tick(local("2026-10-02 21:59")).await;
    assert_eq!(w.sms_to("+84912000001").len(), 1);
    assert_eq!(w.all_sms(), 1);
}

#[tokio::test]
async fn a_fourth_sms_within_24_hours_is_suppressed() {
    let rules = vec![
        rule("r1", 8 * 60, Audience::Citizens, vec![Channel::Sms]),
        rule("r2", 6 * 60, Audience::Citizens, vec![Channel::Sms]),
        rule("r3", 4 * 60, Audience::Citizens, vec![Channel::Sms]),
        rule("r4", 2 * 60, Audience::Citizens, vec![Channel::Sms]),
    ];
    // Sessions at 18:00: reminders at 10:00, 12:00, 14:00 and 16:00 the same day.
    let w = world("0 18 * * 6", rules).await;
    for at in [
        "2026-10-03 10:00",
        "2026-10-03 12:00",
        "2026-10-03 14:00",
        "2026-10-03 16:00",
    ] {
        w.tick(local(at)).await;
    }
    assert_eq!(w.sms_to("+84912000001").len(), 3);
    let reasons = w.reasons("consenting").await;
    assert_eq!(
        reasons.iter().filter(|(_, r)| r == "frequency_cap").count(),
        1,
        "{reasons:?}"
    );
    // A day later the cap has room again.
    for at in ["2026-10-10 10:00", "2026-10-10 12:00"] {
        w.tick(local(at)).await;
    }
    assert_eq!(w.sms_to("+84912000001").len(), 5);
}

#[tokio::test]
async fn a_reminder_for_a_cancelled_session_is_never_sent() {
    let w = world(
        "0 8 * * 6",
        vec![rule("day-before", 24 * 60, Audience::Citizens, vec![Channel::Sms])],
    )
    .await;
    let sessions = w.sessions().await;
    // Cancelled before its reminder is due: the job is cleared.
    usecases::cancel_session(&w.store, &sessions[0].id, None, local("2026-10-01 12:00"))
        .await
        .unwrap();
    let job = w.store.session_jobs(&sessions[0].id).await.unwrap().remove(0);
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(w.tick(local("2026-10-02 08:00")).await.is_empty());
    // Cancelled after dispatch but before the sender ran: the sender drops it.
    run_dispatcher(
        &w.store,
        &w.queue,
        local("2026-10-09 08:00"),
        DispatchSettings::default(),
    )
    .await
    .unwrap();
    usecases::cancel_session(&w.store, &sessions[1].id, None, local("2026-10-09 08:01"))
        .await
        .unwrap();
    let channels = Channels {
        email: &w.outbox,
        sms: &w.outbox,
        zns: None,
        links: &NoUnsubscribeLinks,
    };
    let tasks = w.queue.drain(usize::MAX);
    let outcomes = run_sender(
        &w.store,
        channels,
        &tasks,
        local("2026-10-09 08:02"),
        SenderSettings::default(),
    )
    .await;
    assert!(
        outcomes.iter().all(|o| matches!(o, Ok(SendOutcome::Suppressed(_)))),
        "{outcomes:?}"
    );
    assert_eq!(w.all_sms(), 0);
}

#[tokio::test]
async fn a_moved_session_moves_its_reminder_and_a_stale_one_is_dropped() {
    let rules = vec![
        rule("day-before", 24 * 60, Audience::Citizens, vec![Channel::Sms]),
        rule("hour-before", 60, Audience::Citizens, vec![Channel::Email]),
    ];
    let w = world("0 8 * * 6", rules).await;
    let sessions = w.sessions().await;
    usecases::move_session(
        &w.store,
        &sessions[0].id,
        local("2026-10-04 14:00"),
        None,
        local("2026-10-01 12:00"),
    )
    .await
    .unwrap();
    assert!(
        w.tick(local("2026-10-02 08:00")).await.is_empty(),
        "the old due time passes quietly"
    );
    w.tick(local("2026-10-03 14:00")).await;
    let texts = w.sms_to("+84912000001");
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains("14:00 04/10/2026"), "{}", texts[0]);
    // A dispatcher that was down from 06:30 to 08:30 never sends the 07:00 reminder late.
    assert!(w.tick(local("2026-10-10 08:30")).await.is_empty());
    let jobs = w.store.session_jobs(&sessions[1].id).await.unwrap();
    let hour_before = jobs.iter().find(|j| j.rule_id == "hour-before").unwrap();
    assert_eq!(hour_before.status, JobStatus::Cancelled);
    assert_eq!(w.all_sms(), 1);
    assert!(w.all_email().is_empty());
}

#[tokio::test]
async fn a_paused_campaign_sends_nothing_until_resumed() {
    let w = world(
        "0 8 * * 6",
        vec![rule("day-before", 24 * 60, Audience::Citizens, vec![Channel::Sms])],
    )
    .await;
    usecases::act_on_campaign(&w.store, &w.campaign, CampaignAction::Pause, local("2026-10-01 12:00"))
        .await
        .unwrap();
    assert!(w.tick(local("2026-10-02 08:00")).await.is_empty());
    usecases::act_on_campaign(
        &w.store,
        &w.campaign,
        CampaignAction::Activate,
        local("2026-10-02 09:00"),
    )
    .await
    .unwrap();
    w.tick(local("2026-10-02 09:01")).await;
    assert_eq!(
        w.sms_to("+84912000001").len(),
        1,
        "still before the session: it goes now"
    );
    let sent = w
        .store
        .list_deliveries(
            &DeliveryFilter {
                campaign: Some(w.campaign.clone()),
                status: Some(DeliveryStatus::Sent),
                ..Default::default()
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(sent.items.len(), 1);
    assert!(sent.items[0].message_id.is_some());
}

#[tokio::test]
async fn an_sms_reply_opts_out_before_the_next_send() {
    let w = world(
        "0 8 * * 6",
        vec![rule("day-before", 24 * 60, Audience::Citizens, vec![Channel::Sms])],
    )
    .await;
    w.tick(local("2026-10-02 08:00")).await;
    assert_eq!(w.sms_to("+84912000001").len(), 1);
    let reply = usecases::handle_sms_reply(
        &w.store,
        "0912 000 001",
        "Từ chối",
        usecases::DEFAULT_ANSWER_WINDOW,
        local("2026-10-02 09:00"),
    )
    .await
    .unwrap();
    assert!(reply.opt_out);
    w.tick(local("2026-10-09 08:00")).await;
    assert_eq!(w.sms_to("+84912000001").len(), 1, "no SMS after the reply");
    assert!(
        w.reasons("consenting")
            .await
            .contains(&("sms".into(), "opted_out".into()))
    );
}

#[tokio::test]
async fn a_large_audience_is_dispatched_in_runs_that_resume_where_they_stopped() {
    let w = world(
        "0 8 * * 6",
        vec![rule("day-before", 24 * 60, Audience::Citizens, vec![Channel::Sms])],
    )
    .await;
    let setup = local("2026-09-01 10:00");
    let actor = Actor::default();
    let consent = ConsentInput {
        channel: Channel::Sms,
        method: "paper_form".into(),
        wording_version: "v1".into(),
        granted_at: Some(setup),
    };
    for i in 0..1200 {
        let input = ContactInput {
            role: ContactRole::Citizen,
            name: format!("Công dân {i}"),
            commune_code: "07441".into(),
            phone: format!("097{:07}", i),
            email: None,
            consents: vec![consent.clone()],
        };
        usecases::register_contact(&w.store, input, setup, &actor)
            .await
            .unwrap();
    }
    let settings = DispatchSettings {
        page_size: 100,
        max_per_run: 500,
        ..DispatchSettings::default()
    };
    let now = local("2026-10-02 08:00");
    let mut runs = 0;
    let mut enqueued = 0;
    loop {
        let report = run_dispatcher(&w.store, &w.queue, now + Duration::minutes(runs), settings)
            .await
            .unwrap();
        runs += 1;
        enqueued += report.enqueued;
        if report.completed == 1 {
            break;
        }
        assert_eq!(report.unfinished, 1, "run {runs}: {report:?}");
    }
    assert_eq!(runs, 3, "1204 citizens at 500 a run");
    assert_eq!(enqueued, 1204);
    let channels = Channels {
        email: &w.outbox,
        sms: &w.outbox,
        zns: None,
        links: &NoUnsubscribeLinks,
    };
    let tasks = w.queue.drain(usize::MAX);
    run_sender(
        &w.store,
        channels,
        &tasks,
        now + Duration::minutes(5),
        SenderSettings::default(),
    )
    .await;
    assert_eq!(w.all_sms(), 1201, "1200 new citizens and the consenting one");
}

#[tokio::test]
async fn the_quarterly_report_shows_the_spend_of_the_delivery_log() {
    let w = world(
        "0 8 * * 6",
        vec![rule(
            "day-before",
            24 * 60,
            Audience::All,
            vec![Channel::Sms, Channel::Email],
        )],
    )
    .await;
    // Every Friday of October 2026, the day before its Saturday session.
    for day in [2, 9, 16, 23, 30] {
        w.tick(local(&format!("2026-10-{day:02} 08:00"))).await;
    }
    let filter = DeliveryFilter {
        campaign: Some(w.campaign.clone()),
        ..Default::default()
    };
    let log = w
        .store
        .list_deliveries(&filter, &PageRequest::first(500))
        .await
        .unwrap()
        .items;
    let sent = |c: Channel| {
        log.iter()
            .filter(move |d| d.channel == c && d.status == DeliveryStatus::Sent)
    };
    assert_eq!(
        sent(Channel::Sms).count(),
        5,
        "one SMS a week to the consenting citizen"
    );
    let report = usecases::quarterly_report(
        &w.store,
        "24",
        Quarter { year: 2026, quarter: 4 },
        local("2026-11-01 09:00"),
    )
    .await
    .unwrap();
    for code in ["24", "213", "07441"] {
        let spend: Vec<_> = report.spend_of(code).collect();
        assert_eq!(spend.len(), 3, "{code}: SMS, email, ZNS");
        let total: u64 = spend.iter().map(|s| s.cost_milli_vnd).sum();
        assert_eq!(total, log.iter().map(|d| d.cost_milli_vnd).sum::<u64>(), "{code}");
        assert!(total > 0);
        for s in spend {
            let channel: Vec<_> = sent(s.channel).collect();
            assert_eq!(s.messages, channel.len() as u64, "{code} {:?}", s.channel);
            assert_eq!(
                s.segments,
                channel.iter().map(|d| u64::from(d.segments)).sum::<u64>(),
                "{code} {:?}",
                s.channel
            );
            assert_eq!(
                s.cost_milli_vnd,
                channel.iter().map(|d| d.cost_milli_vnd).sum::<u64>(),
                "{code} {:?}",
                s.channel
            );
            assert_eq!(s.zns_fallbacks, 0);
        }
    }
    // The quarter before has no spend.
    let q3 = usecases::quarterly_report(
        &w.store,
        "24",
        Quarter { year: 2026, quarter: 3 },
        local("2026-11-01 09:00"),
    )
    .await
    .unwrap();
    assert!(q3.spend.iter().all(|s| s.messages == 0 && s.cost_milli_vnd == 0));
}
