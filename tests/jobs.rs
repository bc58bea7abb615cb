//! The planner job over the real SQLite store: rolling horizon, idempotence, recovery
//! from an interrupted run, concurrent runs, and sessions that were moved or cancelled.

use chrono::Duration;
use outreach_core::campaign::{CampaignAction, CampaignInput, ScheduleSpec};
use outreach_core::ids::CampaignId;
use outreach_core::jobs::run_planner;
use outreach_core::org::{ImportScope, ImportValidity, parse_units_json, version_on};
use outreach_core::ports::{CampaignStore, PageRequest, SessionFilter, SessionStore, Store};
use outreach_core::schedule::DEFAULT_TIME_ZONE;
use outreach_core::session::{Session, SessionStatus};
use outreach_core::usecases;
use outreach_store::DynamoStore;
use outreach_testkit::examples;

use outreach_testkit::t;

/// Each job test runs on SQLite and on DynamoDB (the test script's moto server).
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let dir = tempfile::tempdir().unwrap();
                let store = outreach_store::SqliteStore::open(dir.path().join("jobs.db")).unwrap();
                super::$case(&store).await;
            })*
        }
        mod dynamodb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case(&super::dynamo().await).await;
            })*
        }
    };
}

on_both_stores!(
    the_planner_rolls_its_horizon_forward_and_writes_only_what_is_new,
    five_and_six_field_schedules_give_the_same_39_sessions,
    a_run_interrupted_after_writing_sessions_is_completed_by_the_next,
    concurrent_planners_create_each_session_once,
    moved_and_cancelled_sessions_are_not_recreated_and_paused_campaigns_wait,
    a_campaign_across_1_july_2025_holds_each_session_in_the_unit_valid_on_its_date,
);

async fn dynamo() -> DynamoStore {
    outreach_testkit::local_aws_endpoint();
    let store = DynamoStore::from_env(&outreach_testkit::unique_name("outreach-jobs")).await;
    store.create_table().await.unwrap();
    store
}

async fn with_campaign(store: &dyn Store, cron: &str) -> CampaignId {
    let units = r#"[{"code":"24","name":"Tỉnh","level":"province"},
        {"code":"213","name":"TP","level":"district","parent_code":"24"},
        {"code":"07201","name":"A","level":"commune","parent_code":"213"},
        {"code":"07228","name":"B","level":"commune","parent_code":"213"},
        {"code":"07441","name":"C","level":"commune","parent_code":"213"}]"#;
    usecases::import_org_units(
        store,
        parse_units_json(units).unwrap(),
        ImportValidity::default(),
        ImportScope::Anywhere,
    )
    .await
    .unwrap();
    let input = CampaignInput {
        name: "Q4".into(),
        schedule: ScheduleSpec {
            cron: cron.into(),
            time_zone: DEFAULT_TIME_ZONE,
        },
        default_venue: Some("UBND".into()),
        capacity: 30,
        min_staff: 1,
        ..examples::saturdays("2026-10-01", "2026-12-31", &["24"])
    };
    let setup = t("2026-09-01T00:00:00Z");
    let campaign = usecases::create_campaign(store, input, setup).await.unwrap();
    usecases::act_on_campaign(store, &campaign.id, CampaignAction::Activate, setup)
        .await
        .unwrap();
    campaign.id
}

async fn sessions(store: &dyn Store, campaign: &CampaignId) -> Vec<Session> {
    let filter = SessionFilter {
        campaign: Some(campaign.clone()),
        ..Default::default()
    };
    store
        .list_sessions(&filter, &PageRequest::first(500))
        .await
        .unwrap()
        .items
}

async fn the_planner_rolls_its_horizon_forward_and_writes_only_what_is_new(store: &dyn Store) {
    let id = with_campaign(store, "0 8 * * 6").await;
    let horizon = Duration::days(14);
    // 30 Sep + 14 days covers Saturdays 3 and 10 October.
    let first = run_planner(store, t("2026-09-30T00:00:00Z"), horizon).await.unwrap();
    assert_eq!((first.campaigns, first.sessions_created), (1, 6));
    let same = run_planner(store, t("2026-09-30T00:00:00Z"), horizon).await.unwrap();
    assert_eq!(same.sessions_created, 0);
    assert_eq!(same.campaigns_advanced, 0, "nothing to do costs nothing");
    let week_later = run_planner(store, t("2026-10-07T00:00:00Z"), horizon).await.unwrap();
    assert_eq!(
        week_later.sessions_created, 3,
        "one more Saturday came into the horizon"
    );
    let mut total = 9;
    let mut now = t("2026-10-07T00:00:00Z");
    while now < t("2027-01-15T00:00:00Z") {
        now += Duration::days(1);
        total += run_planner(store, now, horizon).await.unwrap().sessions_created;
    }
    assert_eq!(total, 39, "never past the period's end");
    let all = sessions(store, &id).await;
    assert_eq!(all.len(), 39);
    assert!(all.iter().all(|s| s.starts_at.format("%H:%M").to_string() == "01:00"));
}

async fn five_and_six_field_schedules_give_the_same_39_sessions(store: &dyn Store) {
    let mut starts = Vec::new();
    for cron in ["0 8 * * 6", "0 0 8 * * Sat", "0 0 8 * * 7"] {
        let id = with_campaign(store, cron).await;
        let report = run_planner(store, t("2026-09-30T00:00:00Z"), Duration::days(120))
            .await
            .unwrap();
        assert_eq!(report.sessions_created, 39, "{cron}");
        starts.push(
            sessions(store, &id)
                .await
                .into_iter()
                .map(|s| (s.commune_code, s.starts_at))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(starts[0], starts[1]);
    assert_eq!(starts[0], starts[2]);
}

async fn a_run_interrupted_after_writing_sessions_is_completed_by_the_next(store: &dyn Store) {
    let id = with_campaign(store, "0 8 * * 6").await;
    let campaign = usecases::get_campaign(store, &id).await.unwrap();
    // The sessions of the first Saturday were written, then the process died before
    // the watermark moved.
    let first_saturday = t("2026-10-03T01:00:00Z");
    let written: Vec<Session> = campaign
        .communes
        .iter()
        .map(|c| Session::materialise(&campaign, c.as_str(), first_saturday, t("2026-09-30T00:00:00Z")))
        .collect();
    store.insert_sessions_if_absent(&written).await.unwrap();
    let report = run_planner(store, t("2026-09-30T00:00:00Z"), Duration::days(14))
        .await
        .unwrap();
    assert_eq!(report.sessions_created, 3, "only the second Saturday was missing");
    assert_eq!(sessions(store, &id).await.len(), 6);
}

/// A campaign stored before schedules had a floor, every minute in three communes: each
/// planner run writes at most its bound, whole minutes at a time, and the next goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planner_run_writes_at_most_its_bound_and_the_next_run_goes_on() {
    use outreach_core::jobs::MAX_SESSIONS_PER_RUN;
    let dir = tempfile::tempdir().unwrap();
    let store = outreach_store::SqliteStore::open(dir.path().join("jobs.db")).unwrap();
    let id = with_campaign(&store, "0 8 * * 6").await;
    let mut campaign = usecases::get_campaign(&store, &id).await.unwrap();
    campaign.schedule.cron = "* * * * *".into();
    campaign.version += 1;
    store.update_campaign(&campaign).await.unwrap();
    let now = t("2026-09-30T17:00:00Z");
    let horizon = Duration::days(35);
    let first = run_planner(&store, now, horizon).await.unwrap();
    // Whole minutes of three sessions each, as many as the bound holds.
    let per_run = MAX_SESSIONS_PER_RUN / 3 * 3;
    assert_eq!(
        (first.sessions_created, first.campaigns_deferred),
        (per_run, 1),
        "{first:?}"
    );
    let watermark = usecases::get_campaign(&store, &id)
        .await
        .unwrap()
        .materialised_until
        .unwrap();
    assert_eq!(
        watermark,
        t("2026-09-30T17:00:00Z") + Duration::minutes((per_run / 3) as i64)
    );
    let second = run_planner(&store, now, horizon).await.unwrap();
    assert_eq!(second.sessions_created, per_run, "{second:?}");
    let filter = SessionFilter {
        campaign: Some(id.clone()),
        ..Default::default()
    };
    let mut page = PageRequest::first(1000);
    let mut stored = 0;
    loop {
        let found = store.list_sessions(&filter, &page).await.unwrap();
        stored += found.items.len();
        match found.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(stored, 2 * per_run, "each session written once");
}

async fn concurrent_planners_create_each_session_once(store: &dyn Store) {
    let id = with_campaign(store, "0 8 * * 6").await;
    let now = t("2026-09-30T00:00:00Z");
    let (a, b) = tokio::join!(
        run_planner(store, now, Duration::days(120)),
        run_planner(store, now, Duration::days(120))
    );
    let created = a.unwrap().sessions_created + b.unwrap().sessions_created;
    assert_eq!(created, 39);
    assert_eq!(sessions(store, &id).await.len(), 39);
}

async fn moved_and_cancelled_sessions_are_not_recreated_and_paused_campaigns_wait(store: &dyn Store) {
    let id = with_campaign(store, "0 8 * * 6").await;
    let office = t("2026-09-30T00:00:00Z");
    run_planner(store, office, Duration::days(14)).await.unwrap();
    let before = sessions(store, &id).await;
    usecases::move_session(store, &before[0].id, t("2026-10-04T02:00:00Z"), None, office)
        .await
        .unwrap();
    usecases::cancel_session(store, &before[1].id, None, office)
        .await
        .unwrap();

    usecases::act_on_campaign(store, &id, CampaignAction::Pause, office)
        .await
        .unwrap();
    let paused = run_planner(store, t("2026-10-20T00:00:00Z"), Duration::days(14))
        .await
        .unwrap();
    assert_eq!(
        (paused.campaigns, paused.sessions_created),
        (0, 0),
        "a paused campaign is not planned"
    );
    usecases::act_on_campaign(store, &id, CampaignAction::Activate, office)
        .await
        .unwrap();
    let resumed = run_planner(store, t("2026-10-20T00:00:00Z"), Duration::days(14))
        .await
        .unwrap();
    assert_eq!(resumed.sessions_created, 9, "17, 24 and 31 October");

    let after = sessions(store, &id).await;
    assert_eq!(
        after.len(),
        15,
        "the moved and cancelled sessions were not materialised again"
    );
    let moved = after.iter().find(|s| s.id == before[0].id).unwrap();
    assert_eq!(moved.starts_at, t("2026-10-04T02:00:00Z"));
    assert_eq!(
        after.iter().find(|s| s.id == before[1].id).unwrap().status,
        SessionStatus::Cancelled
    );
}

/// Units before and after 1 July 2025, in two imports as an administrator would load them
/// (the second reuses a code): the city's four wards end on 30 June; from 1 July three of
/// them and a ward that reuses 07210 make Phường Bắc Giang, and Cầu Gồ goes to no one.
async fn with_reform(store: &dyn Store) {
    let before = r#"[{"code":"24","name":"Tỉnh Bắc Giang","level":"province"},
        {"code":"213","name":"Thành phố Bắc Giang","level":"district","parent_code":"24","valid_until":"2025-06-30"},
        {"code":"07201","name":"Phường Thọ Xương","level":"commune","parent_code":"213","valid_until":"2025-06-30"},
        {"code":"07207","name":"Phường Ngô Quyền","level":"commune","parent_code":"213","valid_until":"2025-06-30"},
        {"code":"07210","name":"Phường Hoàng Văn Thụ","level":"commune","parent_code":"213","valid_until":"2025-06-30"},
        {"code":"07264","name":"Thị trấn Cầu Gồ","level":"commune","parent_code":"213","valid_until":"2025-06-30"}]"#;
    let after = r#"[{"code":"07210","name":"Phường Bắc Giang","level":"commune","parent_code":"24",
        "valid_from":"2025-07-01","former_units":[{"code":"07201","merge":"full"},
        {"code":"07207","merge":"full"},{"code":"07210","merge":"full"}]}]"#;
    for file in [before, after] {
        usecases::import_org_units(
            store,
            parse_units_json(file).unwrap(),
            ImportValidity::default(),
            ImportScope::Anywhere,
        )
        .await
        .unwrap();
    }
}

async fn a_campaign_across_1_july_2025_holds_each_session_in_the_unit_valid_on_its_date(store: &dyn Store) {
    with_reform(store).await;
    let setup = t("2025-05-20T00:00:00Z");
    let input = CampaignInput {
        name: "Hè 2025".into(),
        default_venue: Some("UBND".into()),
        capacity: 30,
        min_staff: 1,
        ..examples::saturdays("2025-06-01", "2025-08-31", &["213"])
    };
    let campaign = usecases::create_campaign(store, input, setup).await.unwrap();
    assert_eq!(campaign.communes, ["07201", "07207", "07210", "07264"], "as on 1 June");
    usecases::act_on_campaign(store, &campaign.id, CampaignAction::Activate, setup)
        .await
        .unwrap();

    // A rolling two-week horizon, day by day, across the change.
    let mut created = 0;
    let mut now = t("2025-05-25T00:00:00Z");
    while now < t("2025-09-05T00:00:00Z") {
        created += run_planner(store, now, Duration::days(14))
            .await
            .unwrap()
            .sessions_created;
        now += Duration::days(1);
    }
    // Saturdays: 4 in June in the four old wards; 9 in July and August in the one new ward.
    assert_eq!(created, 4 * 4 + 9);
    let all = sessions(store, &campaign.id).await;
    assert_eq!(all.len(), 25);
    let day = |s: &Session| s.starts_at.with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let july = "2025-07-01".parse().unwrap();
    let mut june: Vec<&str> = all
        .iter()
        .filter(|s| day(s) < july)
        .map(|s| s.commune_code.as_str())
        .collect();
    june.sort();
    june.dedup();
    assert_eq!(june, ["07201", "07207", "07210", "07264"]);
    let later: Vec<&Session> = all.iter().filter(|s| day(s) >= july).collect();
    assert_eq!(later.len(), 9, "one session a Saturday, not one per merged ward");
    assert!(later.iter().all(|s| s.commune_code == "07210"), "{later:?}");
    for s in &all {
        let versions = store.org_unit_versions(s.commune_code.as_str()).await.unwrap();
        let unit = version_on(&versions, Some(day(s)));
        assert!(unit.is_some(), "{} is in a unit that did not exist on {}", s.id, day(s));
        assert_eq!(
            s.id,
            format!(
                "{}.{}.{}",
                campaign.id,
                s.commune_code,
                s.occurrence.format("%Y%m%dT%H%MZ")
            )
        );
    }
    let names: Vec<String> = {
        let versions = store.org_unit_versions("07210").await.unwrap();
        [all[0].starts_at, later[0].starts_at]
            .map(|at| {
                version_on(&versions, Some(at.with_timezone(&DEFAULT_TIME_ZONE).date_naive()))
                    .unwrap()
                    .name
                    .clone()
            })
            .into()
    };
    assert_eq!(
        names,
        ["Phường Hoàng Văn Thụ", "Phường Bắc Giang"],
        "the reused code, before and after"
    );

    // Planned again from the start, the same sessions: nothing new.
    let mut replanned = usecases::get_campaign(store, &campaign.id).await.unwrap();
    replanned.materialised_until = None;
    replanned.version += 1;
    store.update_campaign(&replanned).await.unwrap();
    let again = run_planner(store, t("2025-05-25T00:00:00Z"), Duration::days(120))
        .await
        .unwrap();
    assert_eq!(again.sessions_created, 0, "{again:?}");
    assert_eq!(sessions(store, &campaign.id).await.len(), 25);
}
