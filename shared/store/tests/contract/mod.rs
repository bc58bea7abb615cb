//! The `Store` contract: behaviour every adapter must show, written once and run against
//! each implementation (`contract_tests!(async_constructor)` makes one test per case).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use outreach_core::audit::{AuditEntry, FieldChange};
use outreach_core::campaign::{Audience, ReminderRule};
use outreach_core::campaign::{Campaign, CampaignStatus, ScheduleSpec};
use outreach_core::contact::{Channel, Consent, Contact, ContactRole};
use outreach_core::error::CoreError;
use outreach_core::ids::{CampaignId, ContactId, SessionId, UnitCode};
use outreach_core::org::{Level, OrgUnit};
use outreach_core::outcome::{Attendee, MetricKind, OfficialStatistics, SessionRecord, tally_deltas};
use outreach_core::phone::Phone;
use outreach_core::ports::{Claim, ContactFilter, DeliveryFilter, OrgUnitFilter, PageRequest, SessionFilter, Store};
use outreach_core::quarter::Quarter;
use outreach_core::reminder::{Delivery, DeliveryStatus, JobStatus, ReminderJob};
use outreach_core::report::{QuarterlyReport, ReportSnapshot};
use outreach_core::schedule::{DEFAULT_TIME_ZONE, Period};
use outreach_core::session::{Session, SessionStatus};
use outreach_core::target::{TargetPlan, TargetSource};
use outreach_core::team::VolunteerTeam;

/// One `#[tokio::test]` per contract case, each on a fresh store from `$make`.
#[macro_export]
macro_rules! contract_tests {
    ($make:expr) => {
        $crate::contract_tests!(@cases $make;
            units_are_written_all_at_once_and_versioned,
            unit_lists_page_and_filter,
            contacts_are_unique_by_id_and_phone,
            contacts_are_found_by_email_without_case,
            contacts_are_found_by_many_phones_at_once,
            contact_updates_are_optimistic,
            contact_lists_page_through_every_item_once,
            campaigns_round_trip_and_filter_by_status,
            campaign_updates_are_optimistic,
            session_inserts_are_idempotent,
            sessions_list_by_campaign_commune_status_and_time,
            session_updates_are_optimistic_and_move_the_start,
            teams_are_versioned,
            a_foreign_cursor_is_a_validation_error,
            concurrent_updates_let_exactly_one_win,
            reminder_jobs_are_planned_once_and_found_when_due,
            a_delivery_is_claimed_once_and_taken_over_only_after_its_lease,
            concurrent_claims_let_exactly_one_sender_through,
            an_attempt_handed_to_the_provider_survives_a_take_over_and_an_uncertain_delivery_counts_toward_the_cap,
            deliveries_are_listed_by_campaign_session_contact_and_status,
            a_settled_delivery_is_tallied_once_with_its_segments_and_cost,
            a_session_record_and_its_tallies_are_written_together,
            official_statistics_set_tallies_and_reports_read_quarters_to_date,
            targets_are_replaced_by_unit_and_metric,
            snapshots_keep_every_revision,
            concurrent_attendance_and_outcomes_leave_tallies_equal_to_a_recount,
            the_audit_log_keeps_each_year_in_order_and_never_overwrites,
            an_erased_contact_frees_its_phone_and_email_and_keeps_its_evidence,
            the_zns_token_is_written_conditionally_and_one_racing_writer_wins,
            a_zns_delivery_that_falls_back_counts_as_sms,
            a_zns_receipt_round_trips_and_leaves_the_cap_window,
            the_latest_answer_is_kept_and_answers_are_found_by_session_and_contact,
            twenty_check_ins_at_once_give_the_attendance_and_tallies_of_a_recount,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $make.await;
                contract::$case(&store).await;
            }
        )*
    };
}

pub use outreach_testkit::t;

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub fn unit(code: &str, level: Level, parent: Option<&str>) -> OrgUnit {
    OrgUnit {
        code: code.into(),
        name: format!("Đơn vị {code}"),
        level,
        parent_code: parent.map(Into::into),
        kind: None,
        valid_from: None,
        valid_until: None,
        former_units: vec![],
    }
}

pub fn contact(id: &str, phone: &str, commune: &str, role: ContactRole) -> Contact {
    Contact {
        id: id.into(),
        role,
        name: "Nguyễn Thị Hoà".into(),
        commune_code: commune.into(),
        phone: Some(Phone::parse(phone).unwrap()),
        email: Some(format!("{id}@example.vn")),
        consents: vec![Consent {
            channel: Channel::Sms,
            granted_at: t("2026-01-01T00:00:00Z"),
            method: "paper_form".into(),
            wording_version: "v1".into(),
            recorded_by: Some("planner-1".into()),
        }],
        opt_outs: vec![],
        created_at: t("2026-01-01T00:00:00Z"),
        updated_at: t("2026-01-01T00:00:00Z"),
        erased_at: None,
        version: 1,
    }
}

pub fn campaign(id: &str, status: CampaignStatus) -> Campaign {
    Campaign {
        id: id.into(),
        name: "Chiến dịch dịch vụ công".into(),
        description: Some("Hỗ trợ nộp hồ sơ trực tuyến".into()),
        period: Period::new(day("2026-10-01"), day("2026-12-31")).unwrap(),
        target_units: vec!["213".into()],
        communes: vec!["07201".into(), "07204".into()],
        schedule: ScheduleSpec {
            cron: "0 8 * * 6".into(),
            time_zone: DEFAULT_TIME_ZONE,
        },
        session_minutes: 120,
        venues: BTreeMap::from([("07201".into(), "Nhà văn hoá".into())]),
        default_venue: Some("Trụ sở UBND xã".into()),
        capacity: 40,
        min_staff: 2,
        reminder_rules: vec![],
        sms_unicode: false,
        max_sms_segments: 2,
        status,
        materialised_until: None,
        created_at: t("2026-09-01T00:00:00Z"),
        updated_at: t("2026-09-01T00:00:00Z"),
        version: 1,
    }
}

pub fn session(campaign: &Campaign, commune: &str, start: &str) -> Session {
    Session::materialise(campaign, commune, t(start), t("2026-09-01T00:00:00Z"))
}

async fn collect_contacts(store: &dyn Store, filter: &ContactFilter, limit: u32) -> Vec<ContactId> {
    let mut page = PageRequest::first(limit);
    let mut out = Vec::new();
    loop {
        let p = store.list_contacts(filter, &page).await.unwrap();
        assert!(p.items.len() <= limit as usize);
        out.extend(p.items.into_iter().map(|c| c.id));
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return out,
        }
    }
}

pub async fn units_are_written_all_at_once_and_versioned(store: &dyn Store) {
    let mut old = unit("07210", Level::Commune, Some("213"));
    old.valid_until = Some(day("2025-06-30"));
    let mut new = unit("07210", Level::Commune, Some("24"));
    new.name = "Phường Bắc Giang".into();
    new.valid_from = Some(day("2025-07-01"));
    let units = vec![
        unit("24", Level::Province, None),
        unit("213", Level::District, Some("24")),
        old.clone(),
        new.clone(),
    ];
    store.put_org_units(&units).await.unwrap();
    let versions = store.org_unit_versions("07210").await.unwrap();
    assert_eq!(versions, vec![old.clone(), new.clone()], "oldest version first");
    assert!(store.org_unit_versions("99999").await.unwrap().is_empty());
    let children: Vec<String> = store
        .org_unit_children("24")
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.code.into_string())
        .collect();
    assert_eq!(
        children,
        ["213", "07210"]
            .map(String::from)
            .to_vec()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
    );
    // Under the province: the district, and both versions of the commune (one under the
    // district, one moved under the province); under the district, the old version only.
    let codes = |units: Vec<OrgUnit>| {
        units
            .into_iter()
            .map(|u| (u.code.into_string(), u.valid_from))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        codes(store.org_unit_descendants("24").await.unwrap()),
        vec![
            ("07210".to_string(), None),
            ("07210".to_string(), Some(day("2025-07-01"))),
            ("213".to_string(), None)
        ]
    );
    assert_eq!(
        codes(store.org_unit_descendants("213").await.unwrap()),
        vec![("07210".to_string(), None)]
    );
    assert!(store.org_unit_descendants("07210").await.unwrap().is_empty());
    // Writing the same key again replaces it rather than adding a version.
    let renamed = OrgUnit {
        name: "Phường Bắc Giang (mới)".into(),
        ..new
    };
    store.put_org_units(std::slice::from_ref(&renamed)).await.unwrap();
    assert_eq!(store.org_unit_versions("07210").await.unwrap(), vec![old, renamed]);
}

pub async fn unit_lists_page_and_filter(store: &dyn Store) {
    let mut units = vec![
        unit("24", Level::Province, None),
        unit("213", Level::District, Some("24")),
    ];
    for i in 0..25 {
        units.push(unit(&format!("07{i:03}"), Level::Commune, Some("213")));
    }
    store.put_org_units(&units).await.unwrap();
    let filter = OrgUnitFilter {
        level: Some(Level::Commune),
        parent_code: Some("213".into()),
    };
    let mut page = PageRequest::first(10);
    let mut seen = Vec::new();
    loop {
        let p = store.list_org_units(&filter, &page).await.unwrap();
        seen.extend(p.items.into_iter().map(|u| u.code.into_string()));
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("07{i:03}")).collect();
    assert_eq!(seen, want);
    let provinces = store
        .list_org_units(
            &OrgUnitFilter {
                level: Some(Level::Province),
                ..Default::default()
            },
            &PageRequest::first(50),
        )
        .await
        .unwrap();
    assert_eq!(provinces.items.len(), 1);
    assert_eq!(provinces.next_cursor, None);
}

pub async fn contacts_are_unique_by_id_and_phone(store: &dyn Store) {
    let a = contact("ct_a", "0912345678", "07201", ContactRole::Citizen);
    store.insert_contact(&a).await.unwrap();
    assert_eq!(store.get_contact(&"ct_a".into()).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.find_contact_by_phone("+84912345678").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.get_contact(&"ct_missing".into()).await.unwrap(), None);
    let same_phone = contact("ct_b", "+84 912 345 678", "07204", ContactRole::Volunteer);
    assert!(matches!(
        store.insert_contact(&same_phone).await,
        Err(CoreError::AlreadyExists { .. })
    ));
    let same_id = contact("ct_a", "0987654321", "07204", ContactRole::Volunteer);
    assert!(matches!(
        store.insert_contact(&same_id).await,
        Err(CoreError::AlreadyExists { .. })
    ));
    assert_eq!(
        store.get_contact(&"ct_a".into()).await.unwrap(),
        Some(a.clone()),
        "the refused writes changed nothing"
    );
    assert_eq!(store.get_contact(&"ct_b".into()).await.unwrap(), None);
    // The same write again (a retry of a transaction that had committed) is no conflict;
    // nor is an update written twice.
    store.insert_contact(&a).await.unwrap();
    let renamed = Contact {
        name: "Nguyễn Văn Bình".into(),
        version: a.version + 1,
        ..a.clone()
    };
    store.update_contact(&renamed).await.unwrap();
    store.update_contact(&renamed).await.unwrap();
    assert_eq!(store.get_contact(&"ct_a".into()).await.unwrap(), Some(renamed.clone()));
    let stale = Contact {
        name: "Trần Văn Cũ".into(),
        ..renamed.clone()
    };
    assert!(matches!(
        store.update_contact(&stale).await,
        Err(CoreError::Conflict(_))
    ));
}

pub async fn contact_updates_are_optimistic(store: &dyn Store) {
    let a = contact("ct_a", "0912345678", "07201", ContactRole::Citizen);
    store.insert_contact(&a).await.unwrap();
    let mut changed = a.clone();
    changed.opt_outs.push(outreach_core::contact::OptOut {
        channel: Channel::Sms,
        at: t("2026-02-01T00:00:00Z"),
        source: "sms_reply".into(),
    });
    changed.version = 2;
    store.update_contact(&changed).await.unwrap();
    assert!(
        !store
            .get_contact(&"ct_a".into())
            .await
            .unwrap()
            .unwrap()
            .has_consent(Channel::Sms)
    );
    // A writer that read version 1 loses.
    let mut stale = a.clone();
    stale.name = "Stale".into();
    stale.version = 2;
    assert!(matches!(
        store.update_contact(&stale).await,
        Err(CoreError::Conflict(_))
    ));
    assert_eq!(store.get_contact(&"ct_a".into()).await.unwrap(), Some(changed));
    // Updating a contact that does not exist is not a silent insert.
    let ghost = Contact {
        version: 2,
        ..contact("ct_ghost", "0987654321", "07201", ContactRole::Citizen)
    };
    assert!(store.update_contact(&ghost).await.is_err());
    assert_eq!(store.get_contact(&"ct_ghost".into()).await.unwrap(), None);
}

pub async fn contact_lists_page_through_every_item_once(store: &dyn Store) {
    let mut all = Vec::new();
    for i in 0..23 {
        let commune = if i % 2 == 0 { "07201" } else { "07204" };
        let role = if i % 3 == 0 {
            ContactRole::Volunteer
        } else {
            ContactRole::Citizen
        };
        let c = contact(&format!("ct_{i:02}"), &format!("09123450{i:02}"), commune, role);
        store.insert_contact(&c).await.unwrap();
        all.push(c);
    }
    let everyone = collect_contacts(store, &ContactFilter::default(), 5).await;
    assert_eq!(everyone, all.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
    let filter = ContactFilter {
        commune: Some("07201".into()),
        role: Some(ContactRole::Volunteer),
    };
    let want: Vec<ContactId> = all
        .iter()
        .filter(|c| c.commune_code == "07201" && c.role == ContactRole::Volunteer)
        .map(|c| c.id.clone())
        .collect();
    assert_eq!(collect_contacts(store, &filter, 2).await, want);
    let volunteers = ContactFilter {
        role: Some(ContactRole::Volunteer),
        ..Default::default()
    };
    assert_eq!(collect_contacts(store, &volunteers, 3).await.len(), 8);
}

pub async fn campaigns_round_trip_and_filter_by_status(store: &dyn Store) {
    let draft = campaign("cmp_1", CampaignStatus::Draft);
    let active = campaign("cmp_2", CampaignStatus::Active);
    store.insert_campaign(&draft).await.unwrap();
    store.insert_campaign(&active).await.unwrap();
    assert!(matches!(
        store.insert_campaign(&draft).await,
        Err(CoreError::AlreadyExists { .. })
    ));
    assert_eq!(store.get_campaign(&"cmp_1".into()).await.unwrap(), Some(draft));
    let actives = store
        .list_campaigns(Some(CampaignStatus::Active), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(actives.items, vec![active]);
    let all = store.list_campaigns(None, &PageRequest::first(1)).await.unwrap();
    assert_eq!(all.items.len(), 1);
    let rest = store
        .list_campaigns(
            None,
            &PageRequest {
                limit: 1,
                cursor: all.next_cursor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items[0].id, "cmp_2");
    assert_eq!(rest.next_cursor, None);
}

pub async fn campaign_updates_are_optimistic(store: &dyn Store) {
    let c = campaign("cmp_1", CampaignStatus::Draft);
    store.insert_campaign(&c).await.unwrap();
    let activated = Campaign {
        status: CampaignStatus::Active,
        version: 2,
        ..c.clone()
    };
    store.update_campaign(&activated).await.unwrap();
    let cancelled = Campaign {
        status: CampaignStatus::Cancelled,
        version: 2,
        ..c.clone()
    };
    assert!(matches!(
        store.update_campaign(&cancelled).await,
        Err(CoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_campaign(&"cmp_1".into()).await.unwrap(),
        Some(activated.clone())
    );
    let listed = store
        .list_campaigns(Some(CampaignStatus::Active), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(listed.items, vec![activated]);
    assert!(
        store
            .list_campaigns(Some(CampaignStatus::Draft), &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

pub async fn session_inserts_are_idempotent(store: &dyn Store) {
    let c = campaign("cmp_1", CampaignStatus::Active);
    let sessions = vec![
        session(&c, "07201", "2026-10-03T01:00:00Z"),
        session(&c, "07204", "2026-10-03T01:00:00Z"),
        session(&c, "07201", "2026-10-10T01:00:00Z"),
    ];
    assert_eq!(store.insert_sessions_if_absent(&sessions).await.unwrap(), 3);
    assert_eq!(store.insert_sessions_if_absent(&sessions).await.unwrap(), 0);
    // A session already stored keeps its stored state even if offered again changed.
    let mut cancelled = sessions[0].clone();
    cancelled.status = SessionStatus::Cancelled;
    cancelled.version = 2;
    store.update_session(&cancelled).await.unwrap();
    let more = vec![sessions[0].clone(), session(&c, "07204", "2026-10-10T01:00:00Z")];
    assert_eq!(store.insert_sessions_if_absent(&more).await.unwrap(), 1);
    assert_eq!(store.get_session(&sessions[0].id).await.unwrap(), Some(cancelled));
    assert_eq!(store.insert_sessions_if_absent(&[]).await.unwrap(), 0);
}

pub async fn sessions_list_by_campaign_commune_status_and_time(store: &dyn Store) {
    let c1 = campaign("cmp_1", CampaignStatus::Active);
    let c2 = campaign("cmp_2", CampaignStatus::Active);
    let mut sessions = Vec::new();
    for week in 0..6 {
        let start = t("2026-10-03T01:00:00Z") + Duration::weeks(week);
        for commune in ["07201", "07204"] {
            sessions.push(Session::materialise(&c1, commune, start, start));
        }
        sessions.push(Session::materialise(&c2, "07201", start, start));
    }
    store.insert_sessions_if_absent(&sessions).await.unwrap();
    let mut cancelled = sessions[3].clone();
    cancelled.status = SessionStatus::Cancelled;
    cancelled.version = 2;
    store.update_session(&cancelled).await.unwrap();

    let filter = SessionFilter {
        campaign: Some("cmp_1".into()),
        ..Default::default()
    };
    let mut page = PageRequest::first(5);
    let mut listed = Vec::new();
    loop {
        let p = store.list_sessions(&filter, &page).await.unwrap();
        listed.extend(p.items);
        match p.next_cursor {
            Some(cur) => page.cursor = Some(cur),
            None => break,
        }
    }
    assert_eq!(listed.len(), 12);
    assert!(
        listed
            .windows(2)
            .all(|w| (w[0].starts_at, &w[0].id) < (w[1].starts_at, &w[1].id)),
        "ordered by start"
    );
    assert_eq!(
        listed.iter().map(|s| &s.id).collect::<HashSet<_>>().len(),
        12,
        "no item twice"
    );

    let window = SessionFilter {
        campaign: Some("cmp_1".into()),
        commune: Some("07201".into()),
        status: Some(SessionStatus::Scheduled),
        from: Some(t("2026-10-10T01:00:00Z")),
        to: Some(t("2026-10-31T01:00:00Z")),
    };
    let got = store.list_sessions(&window, &PageRequest::first(50)).await.unwrap();
    let starts: Vec<String> = got.items.iter().map(|s| s.starts_at.to_rfc3339()).collect();
    // 10 Oct is cancelled for 07201 (sessions[3]); 31 Oct is excluded by `to`.
    assert_eq!(starts, ["2026-10-17T01:00:00+00:00", "2026-10-24T01:00:00+00:00"]);
    let cancelled_only = SessionFilter {
        status: Some(SessionStatus::Cancelled),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_sessions(&cancelled_only, &PageRequest::first(50))
            .await
            .unwrap()
            .items,
        vec![cancelled]
    );
}

pub async fn session_updates_are_optimistic_and_move_the_start(store: &dyn Store) {
    let c = campaign("cmp_1", CampaignStatus::Active);
    let s = session(&c, "07201", "2026-10-03T01:00:00Z");
    let later = session(&c, "07201", "2026-10-10T01:00:00Z");
    store
        .insert_sessions_if_absent(&[s.clone(), later.clone()])
        .await
        .unwrap();
    let mut moved = s.clone();
    moved.starts_at = t("2026-10-20T02:00:00Z");
    moved.ends_at = t("2026-10-20T04:00:00Z");
    moved.version = 2;
    store.update_session(&moved).await.unwrap();
    assert!(
        matches!(store.update_session(&moved).await, Err(CoreError::Conflict(_))),
        "same version twice"
    );
    let all = store
        .list_sessions(&SessionFilter::default(), &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        all.items,
        vec![later, moved.clone()],
        "the moved session sorts by its new start"
    );
    assert!(moved.is_moved());
}

pub async fn teams_are_versioned(store: &dyn Store) {
    let team = VolunteerTeam {
        commune_code: "07201".into(),
        name: "Đội tình nguyện tri thức trẻ xã Tân Dĩnh".into(),
        leader_id: Some("ct_1".into()),
        member_ids: vec!["ct_1".into(), "ct_2".into()],
        updated_at: t("2026-09-01T00:00:00Z"),
        version: 1,
    };
    assert_eq!(store.get_team("07201").await.unwrap(), None);
    store.put_team(&team).await.unwrap();
    assert!(
        matches!(store.put_team(&team).await, Err(CoreError::Conflict(_))),
        "a second first version"
    );
    let grown = VolunteerTeam {
        member_ids: vec!["ct_1".into(), "ct_2".into(), "ct_3".into()],
        version: 2,
        ..team
    };
    store.put_team(&grown).await.unwrap();
    assert_eq!(store.get_team("07201").await.unwrap(), Some(grown));
}

pub async fn a_foreign_cursor_is_a_validation_error(store: &dyn Store) {
    for cursor in ["not base64 at all!", "AAAA", ""] {
        let page = PageRequest {
            limit: 10,
            cursor: Some(cursor.into()),
        };
        match store.list_contacts(&ContactFilter::default(), &page).await {
            Err(CoreError::Validation { field, .. }) => assert_eq!(field, "cursor"),
            other => panic!("cursor {cursor:?} gave {other:?}"),
        }
    }
}

pub async fn concurrent_updates_let_exactly_one_win(store: &dyn Store) {
    let c = campaign("cmp_1", CampaignStatus::Draft);
    store.insert_campaign(&c).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut mine = c.clone();
        mine.name = format!("writer {i}");
        mine.version = 2;
        tasks.push(async move { store.update_campaign(&mine).await });
    }
    let results = futures_join_all(tasks).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(CoreError::Conflict(_))))
    );
}

/// Poll futures concurrently without pulling in the `futures` crate.
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("every future finished")).collect()
}

fn rule(id: &str, offset_minutes: u32) -> ReminderRule {
    ReminderRule {
        id: id.into(),
        offset_minutes,
        audience: Audience::Citizens,
        channels: vec![Channel::Sms],
        sms_template: Some("Hẹn {time} ngày {date}".into()),
        email_subject: None,
        email_template: None,
        zns_template_id: None,
        zns_params: Default::default(),
        asks_answer: false,
    }
}

fn delivery(session: &str, contact: &str, channel: Channel, now: DateTime<Utc>) -> Delivery {
    outreach_testkit::examples::claimed_delivery(
        &CampaignId::from("cmp_1"),
        &SessionId::from(session),
        "r1",
        &ContactId::from(contact),
        channel,
        now,
    )
}

pub async fn reminder_jobs_are_planned_once_and_found_when_due(store: &dyn Store) {
    let c = campaign("cmp_1", CampaignStatus::Active);
    let s1 = session(&c, "07201", "2026-10-03T01:00:00Z");
    let s2 = session(&c, "07204", "2026-10-10T01:00:00Z");
    store
        .insert_sessions_if_absent(&[s1.clone(), s2.clone()])
        .await
        .unwrap();
    let now = t("2026-09-01T00:00:00Z");
    let jobs = vec![
        ReminderJob::plan(&c, &s1, &rule("day", 24 * 60), now),
        ReminderJob::plan(&c, &s1, &rule("hour", 60), now),
        ReminderJob::plan(&c, &s2, &rule("day", 24 * 60), now),
    ];
    assert_eq!(store.insert_jobs_if_absent(&jobs).await.unwrap(), 3);
    assert_eq!(store.insert_jobs_if_absent(&jobs).await.unwrap(), 0, "idempotent");
    // s1's day-before reminder is due at 01:00 UTC on 2 Oct (08:00 local).
    let due_ids = |v: Vec<ReminderJob>| v.into_iter().map(|j| j.id).collect::<Vec<_>>();
    let at = t("2026-10-02T01:00:00Z");
    assert_eq!(
        due_ids(store.due_jobs(at - Duration::hours(6), at, 10).await.unwrap()),
        vec![jobs[0].id.clone()]
    );
    let later = t("2026-10-09T02:00:00Z");
    let due = store.due_jobs(t("2026-10-01T00:00:00Z"), later, 10).await.unwrap();
    assert_eq!(
        due_ids(due),
        vec![jobs[0].id.clone(), jobs[1].id.clone(), jobs[2].id.clone()],
        "earliest first"
    );
    assert_eq!(
        store.due_jobs(t("2026-10-01T00:00:00Z"), later, 2).await.unwrap().len(),
        2,
        "limit"
    );
    assert!(
        store
            .due_jobs(t("2026-10-02T02:00:00Z"), t("2026-10-02T23:00:00Z"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    let done = ReminderJob {
        status: JobStatus::Done,
        enqueued: 40,
        version: 2,
        ..jobs[0].clone()
    };
    store.update_job(&done).await.unwrap();
    assert!(matches!(store.update_job(&done).await, Err(CoreError::Conflict(_))));
    let due = store.due_jobs(t("2026-10-01T00:00:00Z"), later, 10).await.unwrap();
    assert_eq!(
        due_ids(due),
        vec![jobs[1].id.clone(), jobs[2].id.clone()],
        "a done job is no longer due"
    );
    assert_eq!(store.get_job(&jobs[0].id).await.unwrap(), Some(done));
    let of_s1 = due_ids(store.session_jobs(&s1.id).await.unwrap());
    assert_eq!(of_s1.len(), 2);
    assert!(of_s1.contains(&jobs[0].id) && of_s1.contains(&jobs[1].id));
}

/// A delivery tally's key as a tuple: commune, day, channel, carried by, status, reason.
type TallyRow = (String, NaiveDate, Channel, Channel, DeliveryStatus, String);

pub async fn a_settled_delivery_is_tallied_once_with_its_segments_and_cost(store: &dyn Store) {
    let now = t("2026-10-02T01:00:00Z");
    let today = day("2026-10-02");
    let settle = |d: &Delivery, status: DeliveryStatus, reason: Option<&str>, segments: u32, cost: u64| Delivery {
        status,
        reason: reason.map(str::to_string),
        segments,
        cost_milli_vnd: cost,
        delivered_at: None,
        seen_at: None,
        version: d.version + 1,
        ..d.clone()
    };
    let mut expected: BTreeMap<TallyRow, (u64, u64, u64)> = BTreeMap::new();
    let cases = [
        (
            "ses_1",
            "ct_1",
            Channel::Sms,
            "07201",
            today,
            DeliveryStatus::Sent,
            None,
            2,
            500_000,
        ),
        (
            "ses_1",
            "ct_2",
            Channel::Sms,
            "07201",
            today,
            DeliveryStatus::Sent,
            None,
            1,
            250_000,
        ),
        (
            "ses_1",
            "ct_3",
            Channel::Sms,
            "07201",
            today,
            DeliveryStatus::Suppressed,
            Some("no_consent"),
            0,
            0,
        ),
        (
            "ses_1",
            "ct_4",
            Channel::Email,
            "07201",
            today,
            DeliveryStatus::Sent,
            None,
            1,
            2_600,
        ),
        (
            "ses_2",
            "ct_5",
            Channel::Sms,
            "07202",
            today,
            DeliveryStatus::Failed,
            Some("refused"),
            1,
            0,
        ),
        // The last day of September, in another month's partition on DynamoDB.
        (
            "ses_3",
            "ct_6",
            Channel::Sms,
            "07201",
            day("2026-09-30"),
            DeliveryStatus::Sent,
            None,
            1,
            250_000,
        ),
        // Another province's commune: never read for this area.
        (
            "ses_4",
            "ct_7",
            Channel::Sms,
            "09901",
            today,
            DeliveryStatus::Sent,
            None,
            1,
            250_000,
        ),
    ];
    for (session, contact, channel, commune, on, status, reason, segments, cost) in cases {
        let d = delivery(session, contact, channel, now);
        store.claim_delivery(&d, now).await.unwrap();
        let settled = settle(&d, status, reason, segments, cost);
        let key = outreach_core::cost::DeliveryTallyKey::of(&settled, &commune.into(), on);
        let tally = outreach_core::cost::DeliveryTally::one(key.clone(), &settled);
        store.settle_delivery(&settled, &tally).await.unwrap();
        // A retry of the same settle (or another sender's) is refused and adds nothing.
        assert!(
            matches!(
                store.settle_delivery(&settled, &tally).await,
                Err(CoreError::Conflict(_))
            ),
            "settled twice"
        );
        assert_eq!(store.get_delivery(&d.campaign_id, &d.id).await.unwrap(), Some(settled));
        if commune != "09901" {
            let e = expected
                .entry((
                    key.commune_code.into_string(),
                    key.day,
                    key.channel,
                    key.carried_by,
                    key.status,
                    key.reason,
                ))
                .or_default();
            *e = (e.0 + 1, e.1 + u64::from(segments), e.2 + cost);
        }
    }
    let area = ["07201", "07202", "213"].map(UnitCode::from);
    let read = |from: &str, to: &str| store.delivery_tallies(&area, day(from), day(to));
    let got: BTreeMap<_, _> = read("2026-09-25", "2026-10-02")
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            let k = t.key;
            (
                (
                    k.commune_code.into_string(),
                    k.day,
                    k.channel,
                    k.carried_by,
                    k.status,
                    k.reason,
                ),
                (t.count, t.segments, t.cost_milli_vnd),
            )
        })
        .collect();
    assert_eq!(got, expected);
    let sms_sent = got
        .iter()
        .filter(|(k, _)| k.0 == "07201" && k.1 == today && k.2 == Channel::Sms && k.4 == DeliveryStatus::Sent)
        .map(|(_, v)| *v)
        .collect::<Vec<_>>();
    assert_eq!(sms_sent, vec![(2, 3, 750_000)]);
    // The reason is kept for suppressions only: a provider's text would make a key a message.
    assert!(
        got.keys()
            .any(|k| k.4 == DeliveryStatus::Suppressed && k.5 == "no_consent")
    );
    assert!(got.keys().any(|k| k.4 == DeliveryStatus::Failed && k.5.is_empty()));
    // A range of days reads only those days.
    assert_eq!(read("2026-10-01", "2026-10-01").await.unwrap(), vec![]);
    assert_eq!(read("2026-09-30", "2026-09-30").await.unwrap().len(), 1);
}

pub async fn a_delivery_is_claimed_once_and_taken_over_only_after_its_lease(store: &dyn Store) {
    let now = t("2026-10-02T01:00:00Z");
    let d = delivery("ses_1", "ct_1", Channel::Sms, now);
    assert_eq!(store.claim_delivery(&d, now).await.unwrap(), Claim::Claimed(d.clone()));
    match store.claim_delivery(&d, now + Duration::minutes(1)).await.unwrap() {
        Claim::Taken(held) => assert_eq!(held.status, DeliveryStatus::Claimed),
        other => panic!("a live claim was taken over: {other:?}"),
    }
    // The first sender died; after its lease another takes over, counting the attempt.
    let later = now + Duration::minutes(6);
    let retry = Delivery {
        lease_until: later + Duration::minutes(5),
        attempt_started_at: None,
        segments: 0,
        cost_milli_vnd: 0,
        delivered_at: None,
        seen_at: None,
        updated_at: later,
        ..d.clone()
    };
    let Claim::Claimed(taken) = store.claim_delivery(&retry, later).await.unwrap() else {
        panic!("not taken over")
    };
    assert_eq!(
        (taken.attempts, taken.version, taken.lease_until),
        (2, 2, later + Duration::minutes(5))
    );
    let sent = Delivery {
        status: DeliveryStatus::Sent,
        message_id: Some("m-1".into()),
        version: 3,
        ..taken.clone()
    };
    store.record_delivery(&sent).await.unwrap();
    assert!(
        matches!(store.record_delivery(&sent).await, Err(CoreError::Conflict(_))),
        "recorded twice"
    );
    assert_eq!(
        store.claim_delivery(&retry, later + Duration::hours(1)).await.unwrap(),
        Claim::Taken(sent.clone())
    );
    assert_eq!(store.get_delivery(&d.campaign_id, &d.id).await.unwrap(), Some(sent));

    // A temporary failure leaves it `retrying`: the next attempt may claim it at once.
    let e = delivery("ses_1", "ct_2", Channel::Email, now);
    store.claim_delivery(&e, now).await.unwrap();
    let retrying = Delivery {
        status: DeliveryStatus::Retrying,
        reason: Some("503".into()),
        version: 2,
        ..e.clone()
    };
    store.record_delivery(&retrying).await.unwrap();
    let Claim::Claimed(again) = store.claim_delivery(&e, now).await.unwrap() else {
        panic!("retrying not claimable")
    };
    assert_eq!((again.attempts, again.status), (2, DeliveryStatus::Claimed));

    assert_eq!(
        store
            .count_sent_since(&"ct_1".into(), Channel::Sms, now - Duration::hours(24))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_sent_since(&"ct_1".into(), Channel::Sms, later + Duration::minutes(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .count_sent_since(&"ct_1".into(), Channel::Email, now - Duration::hours(24))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .count_sent_since(&"ct_2".into(), Channel::Email, now - Duration::hours(24))
            .await
            .unwrap(),
        0
    );
}

pub async fn an_attempt_handed_to_the_provider_survives_a_take_over_and_an_uncertain_delivery_counts_toward_the_cap(
    store: &dyn Store,
) {
    let now = t("2026-10-02T01:00:00Z");
    let d = delivery("ses_1", "ct_9", Channel::Sms, now);
    store.claim_delivery(&d, now).await.unwrap();
    // The sender writes that it is calling the provider, then dies.
    let started = Delivery {
        attempt_started_at: Some(now + Duration::seconds(1)),
        version: 2,
        ..d.clone()
    };
    store.record_delivery(&started).await.unwrap();
    let later = now + Duration::minutes(6);
    let claim = Delivery {
        lease_until: later + Duration::minutes(5),
        updated_at: later,
        ..d.clone()
    };
    let Claim::Claimed(taken) = store.claim_delivery(&claim, later).await.unwrap() else {
        panic!("an expired lease was not taken over")
    };
    assert_eq!(
        (taken.attempts, taken.version, taken.attempt_started_at),
        (2, 3, Some(now + Duration::seconds(1))),
        "the new holder sees that the attempt before it reached the provider"
    );
    let uncertain = Delivery {
        status: DeliveryStatus::Uncertain,
        reason: Some("may have arrived".into()),
        version: 4,
        ..taken
    };
    store.record_delivery(&uncertain).await.unwrap();
    assert_eq!(
        store.get_delivery(&d.campaign_id, &d.id).await.unwrap(),
        Some(uncertain.clone())
    );
    assert_eq!(
        store.claim_delivery(&claim, later + Duration::hours(1)).await.unwrap(),
        Claim::Taken(uncertain),
        "uncertain is final"
    );
    assert_eq!(
        store
            .count_sent_since(&"ct_9".into(), Channel::Sms, now - Duration::hours(24))
            .await
            .unwrap(),
        1,
        "an uncertain message counts toward the frequency cap"
    );
    let listed = store
        .list_deliveries(
            &DeliveryFilter {
                campaign: Some(d.campaign_id.clone()),
                status: Some(DeliveryStatus::Uncertain),
                ..DeliveryFilter::default()
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1, "the delivery log filters by uncertain");
}

pub async fn concurrent_claims_let_exactly_one_sender_through(store: &dyn Store) {
    let now = t("2026-10-02T01:00:00Z");
    let d = delivery("ses_1", "ct_1", Channel::Sms, now);
    let claims: Vec<_> = (0..8).map(|_| store.claim_delivery(&d, now)).collect();
    let results = futures_join_all(claims).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Claim::Claimed(_)))).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()));
}

pub async fn deliveries_are_listed_by_campaign_session_contact_and_status(store: &dyn Store) {
    let c = campaign("cmp_1", CampaignStatus::Active);
    let s1 = session(&c, "07201", "2026-10-03T01:00:00Z");
    let s2 = session(&c, "07201", "2026-10-10T01:00:00Z");
    store
        .insert_sessions_if_absent(&[s1.clone(), s2.clone()])
        .await
        .unwrap();
    let now = t("2026-10-02T01:00:00Z");
    let mut all = Vec::new();
    for (i, s) in [&s1, &s2].iter().enumerate() {
        for contact in ["ct_1", "ct_2", "ct_3"] {
            let mut d = delivery(s.id.as_str(), contact, Channel::Sms, now + Duration::days(7 * i as i64));
            store.claim_delivery(&d, d.updated_at).await.unwrap();
            d.status = if contact == "ct_3" {
                DeliveryStatus::Suppressed
            } else {
                DeliveryStatus::Sent
            };
            d.version = 2;
            store.record_delivery(&d).await.unwrap();
            all.push(d);
        }
    }
    let list = |filter: DeliveryFilter| async move {
        let mut page = PageRequest::first(2);
        let mut ids = Vec::new();
        loop {
            let p = store.list_deliveries(&filter, &page).await.unwrap();
            ids.extend(p.items.into_iter().map(|d| d.id));
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        ids.sort();
        ids
    };
    let want = |pred: &dyn Fn(&Delivery) -> bool| {
        let mut ids: Vec<String> = all.iter().filter(|d| pred(d)).map(|d| d.id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        list(DeliveryFilter {
            campaign: Some("cmp_1".into()),
            ..Default::default()
        })
        .await,
        want(&|_| true)
    );
    assert_eq!(
        list(DeliveryFilter {
            session: Some(s2.id.clone()),
            ..Default::default()
        })
        .await,
        want(&|d| d.session_id == s2.id)
    );
    assert_eq!(
        list(DeliveryFilter {
            contact: Some("ct_2".into()),
            ..Default::default()
        })
        .await,
        want(&|d| d.contact_id == "ct_2")
    );
    assert_eq!(
        list(DeliveryFilter {
            campaign: Some("cmp_1".into()),
            status: Some(DeliveryStatus::Suppressed),
            ..Default::default()
        })
        .await,
        want(&|d| d.status == DeliveryStatus::Suppressed)
    );
    assert_eq!(
        list(DeliveryFilter {
            session: Some(s1.id.clone()),
            contact: Some("ct_1".into()),
            ..Default::default()
        })
        .await,
        want(&|d| d.session_id == s1.id && d.contact_id == "ct_1")
    );
    match store
        .list_deliveries(&DeliveryFilter::default(), &PageRequest::first(10))
        .await
    {
        Err(CoreError::Validation { field, .. }) => assert_eq!(field, "filter"),
        other => panic!("an unscoped delivery list gave {other:?}"),
    }
}

pub async fn contacts_are_found_by_email_without_case(store: &dyn Store) {
    let mut a = contact("ct_a", "0912345678", "07201", ContactRole::Citizen);
    a.email = Some("Lan@doanthanhnien.vn".into());
    let mut b = contact("ct_b", "0912345679", "07201", ContactRole::Citizen);
    b.email = Some("lan@doanthanhnien.vn".into());
    let mut c = contact("ct_c", "0912345670", "07201", ContactRole::Citizen);
    c.email = None;
    for x in [&a, &b, &c] {
        store.insert_contact(x).await.unwrap();
    }
    let ids = |v: Vec<Contact>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.find_contacts_by_email("LAN@doanthanhnien.vn").await.unwrap()),
        ["ct_a", "ct_b"]
    );
    assert!(
        store
            .find_contacts_by_email("nobody@example.vn")
            .await
            .unwrap()
            .is_empty()
    );
    let moved = Contact {
        email: Some("lan.moi@example.vn".into()),
        version: 2,
        ..a.clone()
    };
    store.update_contact(&moved).await.unwrap();
    assert_eq!(
        ids(store.find_contacts_by_email("lan@doanthanhnien.vn").await.unwrap()),
        ["ct_b"]
    );
    assert_eq!(
        ids(store.find_contacts_by_email("lan.moi@example.vn").await.unwrap()),
        ["ct_a"]
    );
}

pub async fn contacts_are_found_by_many_phones_at_once(store: &dyn Store) {
    let e164 = |i: usize| format!("+84912{i:06}");
    // 150 contacts: more numbers than one DynamoDB BatchGetItem call takes (100).
    let mut stored = Vec::new();
    for i in 0..150 {
        let c = contact(&format!("ct_{i:03}"), &e164(i), "07201", ContactRole::Citizen);
        store.insert_contact(&c).await.unwrap();
        stored.push(c);
    }
    // An erased contact holds no number any more.
    store
        .update_contact(&stored[0].erased(t("2026-02-01T00:00:00Z")))
        .await
        .unwrap();
    let sorted = |mut v: Vec<Contact>| {
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    };
    // Every stored number, each asked for twice, among 40 numbers nobody holds.
    let mut asked: Vec<String> = (0..150).chain(0..150).map(e164).collect();
    asked.extend((0..40).map(|i| format!("+84987{i:06}")));
    asked.rotate_left(77);
    let found = sorted(store.find_contacts_by_phones(&asked).await.unwrap());
    assert_eq!(found.len(), 149, "each holder once, the erased one not at all");
    assert_eq!(found[..], stored[1..], "the contacts as stored");
    let some = sorted(
        store
            .find_contacts_by_phones(&[e164(7), "+84987000001".into(), e164(7), e164(120)])
            .await
            .unwrap(),
    );
    assert_eq!(
        some.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["ct_007", "ct_120"]
    );
    assert!(
        store
            .find_contacts_by_phones(&["+84987000002".into(), e164(0)])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.find_contacts_by_phones(&[]).await.unwrap().is_empty());
}

fn record(session: &Session, quarter: u8, attendees: usize, supported: u64, version: u64) -> SessionRecord {
    SessionRecord {
        session_id: session.id.clone(),
        campaign_id: session.campaign_id.clone(),
        commune_code: session.commune_code.clone(),
        quarter: Quarter { year: 2026, quarter },
        attendees: (0..attendees)
            .map(|i| Attendee {
                contact_id: format!("ct_{i}").into(),
                role: ContactRole::Citizen,
                walk_in: false,
            })
            .collect(),
        outcomes: BTreeMap::from([("dossiers_supported".to_string(), supported)]),
        answers: Default::default(),
        attendance_recorded_at: Some(t("2026-10-03T03:00:00Z")),
        outcomes_recorded_at: Some(t("2026-10-03T03:00:00Z")),
        updated_by: None,
        updated_at: t("2026-10-03T03:00:00Z"),
        version,
    }
}

async fn tally_map(store: &dyn Store, year: i32, through: u8) -> BTreeMap<(String, u8, String), i64> {
    store
        .year_tallies(Quarter { year, quarter: through })
        .await
        .unwrap()
        .iter()
        .cloned()
        .map(|t| {
            (
                (t.key.unit_code.into_string(), t.key.quarter.quarter, t.key.metric),
                t.value,
            )
        })
        .collect()
}

pub async fn a_session_record_and_its_tallies_are_written_together(store: &dyn Store) {
    let c = campaign("cp_1", CampaignStatus::Active);
    let s = session(&c, "07441", "2026-10-03T01:00:00Z");
    let first = record(&s, 4, 3, 7, 1);
    store
        .save_session_record(&first, &tally_deltas(None, &first))
        .await
        .unwrap();
    assert_eq!(store.get_session_record(&s.id).await.unwrap(), Some(first.clone()));
    let key = |m: &str| ("07441".to_string(), 4u8, m.to_string());
    let tallies = tally_map(store, 2026, 4).await;
    assert_eq!(tallies[&key("attendees")], 3);
    assert_eq!(tallies[&key("dossiers_supported")], 7);

    // A second "first" record and a stale version are refused, and move nothing.
    let again = record(&s, 4, 10, 10, 1);
    let e = store
        .save_session_record(&again, &tally_deltas(None, &again))
        .await
        .unwrap_err();
    assert!(matches!(e, CoreError::Conflict(_)), "{e:?}");
    let stale = record(&s, 4, 10, 10, 3);
    let e = store
        .save_session_record(&stale, &tally_deltas(Some(&first), &stale))
        .await
        .unwrap_err();
    assert!(matches!(e, CoreError::Conflict(_)), "{e:?}");
    assert_eq!(tally_map(store, 2026, 4).await, tallies);

    // A correction moves the tallies by the difference.
    let corrected = record(&s, 4, 5, 4, 2);
    store
        .save_session_record(&corrected, &tally_deltas(Some(&first), &corrected))
        .await
        .unwrap();
    let tallies = tally_map(store, 2026, 4).await;
    assert_eq!(tallies[&key("attendees")], 5);
    assert_eq!(tallies[&key("dossiers_supported")], 4);
    assert_eq!(store.get_session_record(&s.id).await.unwrap().unwrap().version, 2);
}

pub async fn official_statistics_set_tallies_and_reports_read_quarters_to_date(store: &dyn Store) {
    let stats = |q: u8, online: u64| OfficialStatistics {
        commune_code: "07441".into(),
        year: 2026,
        quarter: q,
        dossiers_online: online,
        dossiers_total: 100,
        services_publicized: 10,
        services_total: 20,
    };
    store.set_tallies(&stats(1, 30).tallies()).await.unwrap();
    store.set_tallies(&stats(2, 35).tallies()).await.unwrap();
    // Entered again: replaced, not added.
    store.set_tallies(&stats(2, 40).tallies()).await.unwrap();
    store.set_tallies(&stats(3, 50).tallies()).await.unwrap();
    let h1 = tally_map(store, 2026, 2).await;
    assert_eq!(h1.len(), 8, "{h1:?}");
    assert_eq!(h1[&("07441".to_string(), 1, "dossiers_online".to_string())], 30);
    assert_eq!(h1[&("07441".to_string(), 2, "dossiers_online".to_string())], 40);
    assert_eq!(tally_map(store, 2026, 4).await.len(), 12);
    assert!(tally_map(store, 2025, 4).await.is_empty());
}

pub async fn targets_are_replaced_by_unit_and_metric(store: &dyn Store) {
    let target = |org: &str, metric: &str, value: f64| TargetPlan {
        year: 2026,
        org_code: org.into(),
        metric: metric.into(),
        kind: MetricKind::Count,
        value,
        milestones: [0.25, 0.5, 0.75, 1.0],
        source: TargetSource::Set,
        updated_at: t("2026-01-05T02:00:00Z"),
        updated_by: Some("planner".into()),
    };
    store
        .put_targets(&[
            target("24", "dossiers_supported", 15000.0),
            target("213", "dossiers_supported", 1500.0),
        ])
        .await
        .unwrap();
    store
        .put_targets(&[target("24", "dossiers_supported", 16000.0)])
        .await
        .unwrap();
    let mut got = store.year_targets(2026).await.unwrap();
    got.sort_by(|a, b| a.org_code.cmp(&b.org_code));
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].value, 16000.0);
    assert!(store.year_targets(2027).await.unwrap().is_empty());
}

pub async fn snapshots_keep_every_revision(store: &dyn Store) {
    let report = QuarterlyReport {
        org_code: "24".into(),
        org_name: "Tỉnh Bắc Giang".into(),
        year: 2026,
        quarter: 3,
        as_of: day("2026-09-30"),
        generated_at: t("2026-10-01T00:00:00Z"),
        tallies_read: 0,
        rows: Vec::new(),
        unattributed: Vec::new(),
        spend: Vec::new(),
    };
    let snap = |revision: u32, at: &str| ReportSnapshot {
        org_code: "24".into(),
        year: 2026,
        quarter: 3,
        revision,
        created_at: t(at),
        trigger: "schedule".into(),
        report: report.clone(),
    };
    assert_eq!(
        store
            .get_snapshot("24", Quarter { year: 2026, quarter: 3 }, None)
            .await
            .unwrap(),
        None
    );
    store.insert_snapshot(&snap(1, "2026-10-01T00:00:00Z")).await.unwrap();
    store.insert_snapshot(&snap(2, "2026-10-02T00:00:00Z")).await.unwrap();
    let e = store
        .insert_snapshot(&snap(2, "2026-10-02T01:00:00Z"))
        .await
        .unwrap_err();
    assert!(matches!(e, CoreError::AlreadyExists { .. }), "{e:?}");
    assert_eq!(
        store
            .get_snapshot("24", Quarter { year: 2026, quarter: 3 }, None)
            .await
            .unwrap(),
        Some(snap(2, "2026-10-02T00:00:00Z"))
    );
    assert_eq!(
        store
            .get_snapshot("24", Quarter { year: 2026, quarter: 3 }, Some(1))
            .await
            .unwrap(),
        Some(snap(1, "2026-10-01T00:00:00Z"))
    );
    assert_eq!(
        store
            .snapshot_revisions("24", Quarter { year: 2026, quarter: 3 })
            .await
            .unwrap(),
        vec![(1, t("2026-10-01T00:00:00Z")), (2, t("2026-10-02T00:00:00Z"))]
    );
    assert!(
        store
            .snapshot_revisions("24", Quarter { year: 2026, quarter: 4 })
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn concurrent_attendance_and_outcomes_leave_tallies_equal_to_a_recount(store: &dyn Store) {
    use outreach_core::usecases::{
        Actor, AttendanceInput, AttendeeInput, OutcomesInput, record_attendance, record_outcomes,
    };
    store
        .put_org_units(&[
            unit("24", Level::Province, None),
            unit("213", Level::District, Some("24")),
            unit("07441", Level::Commune, Some("213")),
            unit("07444", Level::Commune, Some("213")),
        ])
        .await
        .unwrap();
    let c = campaign("cp_1", CampaignStatus::Active);
    let sessions = vec![
        session(&c, "07441", "2026-10-03T01:00:00Z"),
        session(&c, "07444", "2026-10-03T01:00:00Z"),
        // 23:30 on 31 December local time: still the fourth quarter.
        session(&c, "07441", "2026-12-31T16:30:00Z"),
    ];
    store.insert_sessions_if_absent(&sessions).await.unwrap();
    for i in 0..12 {
        let commune = if i % 2 == 0 { "07441" } else { "07444" };
        store
            .insert_contact(&contact(
                &format!("ct_{i:02}"),
                &format!("0912 000 {i:03}"),
                commune,
                ContactRole::Citizen,
            ))
            .await
            .unwrap();
    }
    let now = t("2027-01-02T03:00:00Z");
    let tasks = (0..20).map(|task| {
        let session_id = sessions[task % sessions.len()].id.clone();
        async move {
            let actor = Actor::default();
            if task % 2 == 0 {
                let attendees = (0..(task % 7 + 1))
                    .map(|i| AttendeeInput {
                        contact_id: Some(format!("ct_{:02}", (task + i) % 12)),
                        ..Default::default()
                    })
                    .collect();
                record_attendance(store, &session_id, AttendanceInput { attendees }, now, &actor)
                    .await
                    .unwrap();
            } else {
                let metrics = BTreeMap::from([
                    ("dossiers_supported".to_string(), task as u64 * 3),
                    ("youth_trained".to_string(), task as u64),
                ]);
                record_outcomes(store, &session_id, OutcomesInput { metrics }, now, &actor)
                    .await
                    .unwrap();
            }
        }
    });
    futures::future::join_all(tasks).await;

    let mut recount: BTreeMap<(String, u8, String), i64> = BTreeMap::new();
    for s in &sessions {
        let r = store
            .get_session_record(&s.id)
            .await
            .unwrap()
            .expect("every session has a record");
        for (metric, value) in r.tally_values() {
            *recount
                .entry((r.commune_code.to_string(), r.quarter.quarter, metric))
                .or_default() += value;
        }
    }
    let tallies: BTreeMap<_, _> = tally_map(store, 2026, 4)
        .await
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .collect();
    recount.retain(|_, v| *v != 0);
    assert_eq!(tallies, recount);
    assert!(recount.keys().all(|(_, q, _)| *q == 4));
}

fn audit_entry(id: &str, at: &str) -> AuditEntry {
    AuditEntry {
        id: id.into(),
        at: t(at),
        actor: "planner-1".into(),
        role: Some("planner".into()),
        org: Some("213".into()),
        unit: None,
        action: "PUT /v1/teams/{commune}".into(),
        target: "/v1/teams/07201".into(),
        status: 200,
        entity: Some("team".into()),
        entity_id: Some("07201".into()),
        changes: vec![FieldChange {
            field: "name".into(),
            before: None,
            after: Some(serde_json::json!("Đội TN")),
        }],
    }
}

pub async fn the_audit_log_keeps_each_year_in_order_and_never_overwrites(store: &dyn Store) {
    let entries: Vec<AuditEntry> = (0..7)
        .map(|i| {
            audit_entry(
                &format!("2026-10-0{}T01:00:00Z#{i}", i + 1),
                &format!("2026-10-0{}T01:00:00Z", i + 1),
            )
        })
        .collect();
    // Written out of order; listed by time.
    for e in entries.iter().rev() {
        store.append_audit(e).await.unwrap();
    }
    store
        .append_audit(&audit_entry("2025-12-31T16:59:00Z#x", "2025-12-31T16:59:00Z"))
        .await
        .unwrap();
    let again = store.append_audit(&entries[0]).await;
    assert!(matches!(again, Err(CoreError::AlreadyExists { .. })), "{again:?}");
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let got = store.list_audit(2026, &page).await.unwrap();
        seen.extend(got.items);
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, entries);
    let last_year = store.list_audit(2025, &PageRequest::first(10)).await.unwrap();
    assert_eq!(last_year.items.len(), 1);
}

pub async fn an_erased_contact_frees_its_phone_and_email_and_keeps_its_evidence(store: &dyn Store) {
    let mut lan = contact("ct_lan", "0912345678", "07201", ContactRole::Citizen);
    lan.opt_outs.push(outreach_core::contact::OptOut {
        channel: Channel::Email,
        at: t("2026-02-01T00:00:00Z"),
        source: "sms_reply".into(),
    });
    store.insert_contact(&lan).await.unwrap();
    let erased = lan.erased(t("2026-03-01T00:00:00Z"));
    store.update_contact(&erased).await.unwrap();
    let stored = store.get_contact(&"ct_lan".into()).await.unwrap().unwrap();
    assert_eq!(stored, erased);
    assert_eq!((stored.name.as_str(), &stored.phone, &stored.email), ("", &None, &None));
    assert_eq!(
        (stored.consents.len(), stored.opt_outs.len()),
        (1, 1),
        "the evidence stays"
    );
    assert_eq!(store.find_contact_by_phone("+84912345678").await.unwrap(), None);
    assert!(
        store
            .find_contacts_by_email("ct_lan@example.vn")
            .await
            .unwrap()
            .is_empty()
    );
    // The number is free for someone else; a second erased contact does not collide.
    store
        .insert_contact(&contact("ct_new", "0912345678", "07201", ContactRole::Citizen))
        .await
        .unwrap();
    store
        .insert_contact(&contact("ct_two", "0987000111", "07201", ContactRole::Citizen))
        .await
        .unwrap();
    let two = store.get_contact(&"ct_two".into()).await.unwrap().unwrap();
    store
        .update_contact(&two.erased(t("2026-03-02T00:00:00Z")))
        .await
        .unwrap();
    let listed = store
        .list_contacts(
            &ContactFilter {
                commune: Some("07201".into()),
                role: None,
            },
            &PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 3);
}

pub async fn the_zns_token_is_written_conditionally_and_one_racing_writer_wins(store: &dyn Store) {
    use outreach_core::zns::ZnsToken;
    let now = t("2026-10-01T00:00:00Z");
    assert!(store.get_zns_token().await.unwrap().is_none());
    let first = ZnsToken {
        access_token: String::new(),
        access_expires_at: now,
        refresh_token: "rt-1".into(),
        refreshing_until: None,
        updated_at: now,
        version: 1,
    };
    store.put_zns_token(&first).await.unwrap();
    assert!(matches!(
        store.put_zns_token(&first).await,
        Err(CoreError::AlreadyExists { .. })
    ));
    assert_eq!(store.get_zns_token().await.unwrap(), Some(first.clone()));
    // Two refreshers read version 1 and both try to take the refresh: one write wins.
    let a = ZnsToken {
        refreshing_until: Some(now + Duration::minutes(2)),
        version: 2,
        ..first.clone()
    };
    let b = ZnsToken {
        refresh_token: "rt-1".into(),
        refreshing_until: Some(now + Duration::minutes(3)),
        version: 2,
        ..first.clone()
    };
    let (ra, rb) = futures_join(store.put_zns_token(&a), store.put_zns_token(&b)).await;
    assert_eq!(
        [ra.is_ok(), rb.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{ra:?} {rb:?}"
    );
    let loser = if ra.is_ok() { rb } else { ra };
    assert!(matches!(loser, Err(CoreError::Conflict(_))), "{loser:?}");
    let stored = store.get_zns_token().await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    let next = ZnsToken {
        access_token: "at-2".into(),
        refresh_token: "rt-2".into(),
        refreshing_until: None,
        version: 3,
        ..stored
    };
    store.put_zns_token(&next).await.unwrap();
    assert_eq!(store.get_zns_token().await.unwrap().unwrap().refresh_token, "rt-2");
}

async fn futures_join<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    tokio::join!(a, b)
}

pub async fn a_zns_delivery_that_falls_back_counts_as_sms(store: &dyn Store) {
    let now = t("2026-10-03T01:00:00Z");
    let mut d = delivery("ses_1", "ct_7", Channel::Zns, now);
    assert!(matches!(
        store.claim_delivery(&d, now).await.unwrap(),
        Claim::Claimed(_)
    ));
    // ZNS could not carry it: the same delivery goes by SMS.
    d.channel = Channel::Sms;
    d.reason = Some("zns: ZNS error -118: Zalo account not existed".into());
    d.status = DeliveryStatus::Sent;
    d.message_id = Some("m-1".into());
    d.version += 1;
    store.record_delivery(&d).await.unwrap();
    let stored = store.get_delivery(&d.campaign_id, &d.id).await.unwrap().unwrap();
    assert_eq!(stored.channel, Channel::Sms);
    assert!(stored.fell_back_to_sms());
    let since = now - Duration::hours(24);
    assert_eq!(
        store
            .count_sent_since(&"ct_7".into(), Channel::Sms, since)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_sent_since(&"ct_7".into(), Channel::Zns, since)
            .await
            .unwrap(),
        0
    );
}

pub async fn a_zns_receipt_round_trips_and_leaves_the_cap_window(store: &dyn Store) {
    let now = t("2026-10-03T01:00:00Z");
    let mut d = delivery("ses_1", "ct_8", Channel::Zns, now);
    assert!(matches!(
        store.claim_delivery(&d, now).await.unwrap(),
        Claim::Claimed(_)
    ));
    d.status = DeliveryStatus::Sent;
    d.message_id = Some("m-2".into());
    d.version += 1;
    store.record_delivery(&d).await.unwrap();
    let before = store.get_delivery(&d.campaign_id, &d.id).await.unwrap().unwrap();
    assert_eq!((before.delivered_at, before.seen_at), (None, None));
    // Zalo's receipts a day later: recorded without moving updated_at.
    d.delivered_at = Some(now + Duration::hours(24));
    d.seen_at = Some(now + Duration::hours(25));
    d.version += 1;
    store.record_delivery(&d).await.unwrap();
    let stored = store.get_delivery(&d.campaign_id, &d.id).await.unwrap().unwrap();
    assert_eq!(stored, d);
    let since = now - Duration::hours(1);
    assert_eq!(
        store
            .count_sent_since(&"ct_8".into(), Channel::Zns, since)
            .await
            .unwrap(),
        1
    );
}

pub async fn the_latest_answer_is_kept_and_answers_are_found_by_session_and_contact(store: &dyn Store) {
    use outreach_core::answer::{Answer, SessionAnswer};
    let answer = |session: &str, contact: &str, answer: Answer, at: &str| SessionAnswer {
        session_id: session.into(),
        contact_id: contact.into(),
        volunteer: contact.starts_with('v'),
        answer,
        channel: Channel::Sms,
        delivery_id: format!("{session}|r1|{contact}|sms"),
        answered_at: t(at),
    };
    assert!(store.session_answers(&"ss_1".into()).await.unwrap().is_empty());
    let first = answer("ss_1", "ct_1", Answer::Coming, "2026-10-02T02:00:00.000001Z");
    assert!(store.put_answer(&first).await.unwrap());
    // Changed their mind: the later answer replaces it.
    let changed = answer("ss_1", "ct_1", Answer::NotComing, "2026-10-02T09:30:00Z");
    assert!(store.put_answer(&changed).await.unwrap());
    // An earlier answer arriving late (a retried webhook) does not undo the later one.
    assert!(!store.put_answer(&first).await.unwrap());
    assert!(
        store
            .put_answer(&answer("ss_1", "v_1", Answer::Coming, "2026-10-02T03:00:00Z"))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_answer(&answer("ss_2", "ct_1", Answer::Coming, "2026-10-09T03:00:00Z"))
            .await
            .unwrap()
    );
    let mut of_session = store.session_answers(&"ss_1".into()).await.unwrap();
    of_session.sort_by(|a, b| a.contact_id.cmp(&b.contact_id));
    assert_eq!(of_session.len(), 2);
    assert_eq!(of_session[0], changed);
    assert!(of_session[1].volunteer);
    let mut of_contact = store.contact_answers(&"ct_1".into()).await.unwrap();
    of_contact.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    assert_eq!(
        of_contact
            .iter()
            .map(|a| (a.session_id.as_str(), a.answer))
            .collect::<Vec<_>>(),
        [("ss_1", Answer::NotComing), ("ss_2", Answer::Coming)]
    );
    // Two answers at once: the later one is what stays.
    let (a, b) = (
        answer("ss_3", "ct_9", Answer::Coming, "2026-10-03T01:00:00Z"),
        answer("ss_3", "ct_9", Answer::NotComing, "2026-10-03T01:00:05Z"),
    );
    let (_, _) = tokio::join!(store.put_answer(&a), store.put_answer(&b));
    assert_eq!(store.session_answers(&"ss_3".into()).await.unwrap(), [b]);
    // Erasure takes every answer of the contact and no one else's.
    assert_eq!(store.delete_contact_answers(&"ct_1".into()).await.unwrap(), 2);
    assert!(store.contact_answers(&"ct_1".into()).await.unwrap().is_empty());
    assert_eq!(store.session_answers(&"ss_1".into()).await.unwrap().len(), 1);
    assert_eq!(store.delete_contact_answers(&"ct_1".into()).await.unwrap(), 0);
}

pub async fn twenty_check_ins_at_once_give_the_attendance_and_tallies_of_a_recount(store: &dyn Store) {
    use outreach_core::usecases::{Actor, CheckIn, check_in};
    store
        .put_org_units(&[
            unit("24", Level::Province, None),
            unit("213", Level::District, Some("24")),
            unit("07441", Level::Commune, Some("213")),
        ])
        .await
        .unwrap();
    let c = campaign("cp_1", CampaignStatus::Active);
    let s = session(&c, "07441", "2026-10-03T01:00:00Z");
    store.insert_sessions_if_absent(std::slice::from_ref(&s)).await.unwrap();
    for i in 0..16 {
        store
            .insert_contact(&contact(
                &format!("ct_{i:02}"),
                &format!("0912 000 {i:03}"),
                "07441",
                ContactRole::Citizen,
            ))
            .await
            .unwrap();
    }
    // At the door, 40 minutes before the start: 16 registered citizens (four of them
    // scanned twice) and 4 walk-ins, all at once.
    let now = t("2026-10-03T00:20:00Z");
    let tasks = (0..24).map(|i| {
        let who = match i {
            0..16 => CheckIn::Contact {
                contact_id: format!("ct_{i:02}"),
            },
            16..20 => CheckIn::Contact {
                contact_id: format!("ct_{:02}", i - 16),
            },
            _ => CheckIn::WalkIn {
                phone: format!("0987 000 {i:03}"),
                name: format!("Người đến {i}"),
            },
        };
        let id = s.id.clone();
        async move { check_in(store, &id, who, now, &Actor::default()).await.unwrap() }
    });
    let outcomes = futures::future::join_all(tasks).await;
    assert_eq!(
        outcomes.iter().filter(|o| o.added).count(),
        20,
        "a second scan counts once"
    );
    assert_eq!(outcomes.iter().filter(|o| o.walk_in).count(), 4);
    let record = store.get_session_record(&s.id).await.unwrap().unwrap();
    assert_eq!(record.attendees.len(), 20);
    assert_eq!(record.attendees.iter().filter(|a| a.walk_in).count(), 4);
    let tallies = tally_map(store, 2026, 4).await;
    let recount: BTreeMap<_, _> = record
        .tally_values()
        .into_iter()
        .map(|(metric, v)| (("07441".to_string(), 4u8, metric), v))
        .collect();
    let tallies: BTreeMap<_, _> = tallies.into_iter().filter(|(_, v)| *v != 0).collect();
    assert_eq!(
        tallies,
        recount.into_iter().filter(|(_, v)| *v != 0).collect::<BTreeMap<_, _>>()
    );
    assert!(tallies.values().any(|v| *v == 20), "{tallies:?}");
}
