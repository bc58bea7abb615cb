//! Campaigns: schedules, the lifecycle, edits at a version, previews and the cost estimate.

use super::*;

#[tokio::test]
async fn a_weekly_campaign_in_three_communes_yields_39_sessions_at_one_utc_with_5_or_6_fields() {
    let api = spawn().await;
    api.seed_units().await;
    for cron in ["0 8 * * 6", "0 0 8 * * Sat"] {
        // The district 213 expands to its three communes.
        let campaign = api.new_campaign(cron, json!(["213"])).await;
        assert_eq!(campaign["communes"], json!(["07201", "07228", "07441"]));
        assert_eq!(campaign["status"], "draft");
        let id = campaign["id"].as_str().unwrap();
        let (status, active) = api.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
        assert_eq!(
            (status, active["status"].as_str()),
            (StatusCode::OK, Some("active")),
            "{active}"
        );
        // Materialise the whole quarter at once.
        let report = run_planner(api.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(100))
            .await
            .unwrap();
        assert_eq!(report.sessions_created, 39, "{cron}");
        let (status, page) = api.get(&format!("/v1/campaigns/{id}/sessions?limit=500")).await;
        assert_eq!(status, StatusCode::OK);
        let sessions = page["items"].as_array().unwrap();
        assert_eq!(sessions.len(), 39, "{cron}");
        for s in sessions {
            assert!(s["starts_at"].as_str().unwrap().ends_with("T01:00:00Z"), "{s}");
            assert_eq!(s["short_of_staff"], true);
        }
        let again = run_planner(api.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(100))
            .await
            .unwrap();
        assert_eq!(again.sessions_created, 0, "idempotent");
        let (status, done) = api.post(&format!("/v1/campaigns/{id}:cancel"), json!({})).await;
        assert_eq!((status, done["status"].as_str()), (StatusCode::OK, Some("cancelled")));
        let (_, left) = api.get(&format!("/v1/campaigns/{id}/sessions?status=scheduled")).await;
        assert_eq!(
            left["items"],
            json!([]),
            "cancelling the campaign cancels its sessions to come"
        );
    }
    let (_, cancelled) = api.get("/v1/campaigns?status=cancelled").await;
    assert_eq!(cancelled["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn campaign_lifecycle_refuses_invalid_transitions() {
    let api = spawn().await;
    api.seed_units().await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201", "07264"])).await;
    let id = campaign["id"].as_str().unwrap();
    let (status, body) = api.post(&format!("/v1/campaigns/{id}:pause"), json!({})).await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        None,
        "cannot pause a campaign that is draft",
    );
    for (action, want) in [
        ("activate", "active"),
        ("pause", "paused"),
        ("activate", "active"),
        ("complete", "completed"),
    ] {
        let (status, c) = api.post(&format!("/v1/campaigns/{id}:{action}"), json!({})).await;
        assert_eq!(
            (status, c["status"].as_str()),
            (StatusCode::OK, Some(want)),
            "{action}: {c}"
        );
    }
    let (status, body) = api.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, None, "completed");
    let (status, body) = api.post(&format!("/v1/campaigns/{id}:explode"), json!({})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("action"), "explode");
    let (status, body) = api.post("/v1/campaigns/cmp_nope:activate", json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "cmp_nope");
    let (status, body) = api.get("/v1/campaigns/cmp_nope/sessions").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "cmp_nope");
    let (status, got) = api.get(&format!("/v1/campaigns/{id}")).await;
    assert_eq!(
        (status, got["communes"].clone()),
        (StatusCode::OK, json!(["07201", "07264"]))
    );
}

#[tokio::test]
async fn a_draft_campaign_changes_anything_validated_as_a_new_one_at_the_version_read() {
    let api = spawn().await;
    api.seed_units().await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let id = campaign["id"].as_str().unwrap();
    let path = format!("/v1/campaigns/{id}");
    let (status, edited) = api
        .patch(
            &path,
            json!({"version": 1, "name": "Chủ Nhật dịch vụ công", "schedule": {"cron": "0 14 * * 0"},
                "target_units": ["213"], "description": "Hỗ trợ nộp hồ sơ trực tuyến"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(
        (
            edited["version"].as_u64(),
            edited["status"].as_str(),
            edited["name"].as_str()
        ),
        (Some(2), Some("draft"), Some("Chủ Nhật dịch vụ công"))
    );
    assert_eq!(edited["communes"], json!(["07201", "07228", "07441"]));
    assert_eq!(edited["schedule"]["cron"], "0 14 * * 0");
    assert_eq!(edited["capacity"], 40, "a field left out keeps its value");
    assert_eq!(edited["created_at"], campaign["created_at"]);
    // Validated as a new campaign.
    let (status, body) = api.patch(&path, json!({"version": 2, "capacity": 0})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("capacity"),
        "between 1",
    );
    let (status, body) = api.patch(&path, json!({"version": 2, "default_venue": null})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("venues"),
        "no venue",
    );
    // The version read is stale once another edit went through.
    let (status, body) = api.patch(&path, json!({"version": 1, "capacity": 30})).await;
    assert_error(status, &body, StatusCode::CONFLICT, None, "version 2, not 1");
    let (status, body) = api.patch(&path, json!({"capacity": 30})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, None, "missing field `version`");
    let (status, body) = api.patch("/v1/campaigns/cmp_nope", json!({"version": 1})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "cmp_nope");
    // Cancelled: no edit at all.
    api.post(&format!("/v1/campaigns/{id}:cancel"), json!({})).await;
    let (status, body) = api.patch(&path, json!({"version": 3, "name": "Khác"})).await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        None,
        "cannot edit a campaign that is cancelled",
    );
}

#[tokio::test]
async fn an_active_campaign_changes_venue_capacity_and_end_and_refuses_its_schedule_zone_start_and_units() {
    use outreach_core::ports::{ReminderStore, SessionStore};
    use outreach_core::reminder::{JobStatus, ReminderJob};
    let api = spawn().await;
    api.seed_units().await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let id = campaign["id"].as_str().unwrap();
    let path = format!("/v1/campaigns/{id}");
    api.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
    run_planner(api.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(35))
        .await
        .unwrap();
    let (_, page) = api.get(&format!("{path}/sessions")).await;
    let sessions: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sessions.len(), 5, "3 Oct to 31 Oct: {page}");
    // The first is held; the second moved by hand keeps its venue.
    let (status, body) = api
        .post(
            &format!("/v1/sessions/{}:move", sessions[1]),
            json!({"starts_at": "2026-10-11T01:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.clock.set("2026-10-05T03:00:00Z");
    let (_, current) = api.get(&path).await;
    let version = current["version"].as_u64().unwrap();

    for (change, field) in [
        (json!({"schedule": {"cron": "0 9 * * 6"}}), "schedule.cron"),
        (
            json!({"schedule": {"cron": "0 8 * * 6", "time_zone": "Asia/Bangkok"}}),
            "schedule.time_zone",
        ),
        (
            json!({"period": {"start": "2026-10-02", "end": "2026-12-31"}}),
            "period.start",
        ),
        (json!({"target_units": ["213"]}), "target_units"),
    ] {
        let mut body = change.clone();
        body["version"] = version.into();
        let (status, answer) = api.patch(&path, body).await;
        assert_error(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(field),
            "cannot change once the campaign is active; create a new campaign",
        );
    }
    let (status, body) = api
        .patch(
            &path,
            json!({"version": version, "period": {"start": "2026-10-01", "end": "2026-10-02"}}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("period.end"),
        "last session already held (2026-10-03)",
    );

    let (status, edited) = api
        .patch(
            &path,
            json!({"version": version, "name": "Thứ Bảy xanh", "default_venue": "Nhà văn hoá khu 3",
                "capacity": 60, "min_staff": 3, "period": {"start": "2026-10-01", "end": "2026-10-20"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["version"].as_u64(), Some(version + 1));
    assert_eq!(edited["status"], "active");
    let session = |i: usize| {
        let store = api.store.clone();
        let id = SessionId::from(&sessions[i]);
        async move { store.get_session(&id).await.unwrap().unwrap() }
    };
    let held = session(0).await;
    assert_eq!(
        (held.venue.as_str(), held.capacity),
        ("Trụ sở UBND", 40),
        "held: unchanged"
    );
    let moved = session(1).await;
    assert_eq!(
        (moved.venue.as_str(), moved.capacity),
        ("Trụ sở UBND", 60),
        "moved by hand: its venue kept"
    );
    let next = session(2).await;
    assert_eq!(
        (next.venue.as_str(), next.capacity, next.min_staff, next.status.as_str()),
        ("Nhà văn hoá khu 3", 60, 3, "scheduled")
    );
    // 24 and 31 October fall after the new end: cancelled with their reminders.
    for i in [3, 4] {
        let after = session(i).await;
        assert_eq!(after.status.as_str(), "cancelled", "{after:?}");
        let job = api
            .store
            .get_job(&ReminderJob::id_for(&after.id, "r1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.status, JobStatus::Cancelled);
    }
    let job = api
        .store
        .get_job(&ReminderJob::id_for(&next.id, "r1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    // The audit keeps what changed.
    let (_, log) = api.get("/v1/audit?limit=500").await;
    let entry = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "PATCH /v1/campaigns/{id}")
        .unwrap_or_else(|| panic!("no audit entry: {log}"))
        .clone();
    assert_eq!(changed(&entry, "capacity"), 60);
}

#[tokio::test]
async fn reminder_rules_edited_on_an_active_campaign_cancel_replan_and_add_its_reminders() {
    use outreach_core::notify::NoUnsubscribeLinks;
    use outreach_core::ports::ReminderStore;
    use outreach_core::reminder::{JobStatus, ReminderJob};
    let api = spawn().await;
    api.seed_units().await;
    let citizen = api.new_contact("0912345678", "07201", "citizen").await;
    let volunteer = api.new_contact("0912345679", "07201", "volunteer").await;
    let (status, body) = api
        .put("/v1/teams/07201", json!({"name": "Đội TN", "member_ids": [volunteer]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut body = campaign_body("0 8 * * 6", json!(["07201"]));
    body["reminder_rules"] = json!([
        {"id": "r1", "offset_minutes": 1440, "audience": "citizens", "channels": ["sms"]},
        {"id": "r2", "offset_minutes": 60, "audience": "citizens", "channels": ["sms"]}
    ]);
    let (_, campaign) = api.post("/v1/campaigns", body).await;
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let (_, page) = api.get(&format!("/v1/campaigns/{id}/sessions")).await;
    let session = SessionId::from(page["items"][0]["id"].as_str().unwrap());
    api.put(
        &format!("/v1/sessions/{session}/staff"),
        json!({"volunteer_ids": [volunteer]}),
    )
    .await;

    // r1 removed, r2 three hours ahead instead of one, a volunteers' rule added.
    let (_, current) = api.get(&format!("/v1/campaigns/{id}")).await;
    let (status, edited) = api
        .patch(
            &format!("/v1/campaigns/{id}"),
            json!({"version": current["version"], "reminder_rules": [
                {"id": "r2", "offset_minutes": 180, "audience": "citizens", "channels": ["sms"]},
                {"offset_minutes": 120, "audience": "volunteers", "channels": ["sms"]}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let ids: Vec<&str> = edited["reminder_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r2", "r3"], "a new rule never takes a removed one's id");
    let job = |rule: &'static str| {
        let (store, session) = (api.store.clone(), session.clone());
        async move {
            store
                .get_job(&ReminderJob::id_for(&session, rule))
                .await
                .unwrap()
                .unwrap()
        }
    };
    assert_eq!(job("r1").await.status, JobStatus::Cancelled);
    // 08:00 on 3 October less three hours is 05:00, in quiet hours: 07:00 (00:00 UTC).
    let r2 = job("r2").await;
    assert_eq!((r2.status, r2.due_at), (JobStatus::Pending, t("2026-10-03T00:00:00Z")));
    let r3 = job("r3").await;
    assert_eq!(
        (r3.status, r3.audience, r3.due_at),
        (
            JobStatus::Pending,
            outreach_core::campaign::Audience::Volunteers,
            t("2026-10-03T00:00:00Z")
        )
    );

    // Everything due by then goes: nothing of r1.
    let now = t("2026-10-03T00:05:00Z");
    let _outbox = api.send_due(now, &NoUnsubscribeLinks).await;
    let (_, log) = api.get(&format!("/v1/deliveries?campaign={id}")).await;
    let mut sent: Vec<(String, String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["rule_id"].as_str().unwrap().to_string(),
                d["contact_id"].as_str().unwrap().to_string(),
                d["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            ("r2".to_string(), citizen.clone(), "sent".to_string()),
            ("r3".to_string(), volunteer.clone(), "sent".to_string())
        ],
        "{log}"
    );
}

#[tokio::test]
async fn schedule_preview_lists_the_next_sessions_in_local_time() {
    let api = spawn().await;
    let (status, preview) = api
        .post(
            "/v1/schedule:preview",
            json!({"cron": "30 7 * * 1,3", "after": "2026-11-29T00:00:00Z", "count": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["time_zone"], "Asia/Ho_Chi_Minh");
    let local: Vec<&str> = preview["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["local"].as_str().unwrap())
        .collect();
    assert_eq!(
        local,
        [
            "2026-11-30T07:30:00+07:00",
            "2026-12-02T07:30:00+07:00",
            "2026-12-07T07:30:00+07:00"
        ]
    );
    let (status, utc) = api
        .post(
            "/v1/schedule:preview",
            json!({"cron": "0 0 9 * * *", "time_zone": "UTC", "after": "2026-11-29T00:00:00Z", "count": 1}),
        )
        .await;
    assert_eq!(
        (status, utc["sessions"][0]["starts_at"].as_str()),
        (StatusCode::OK, Some("2026-11-29T09:00:00Z"))
    );
}

#[tokio::test]
async fn the_preview_of_a_campaign_across_1_july_2025_names_the_communes_that_end_and_their_successors() {
    let api = spawn().await;
    // Two wards of the city end on 30 June 2025 and make Phường Bắc Giang from 1 July;
    // Cầu Gồ ends with no successor.
    let units = json!([
        {"code": "24", "name": "Tỉnh Bắc Giang", "level": "province", "parent_code": null},
        {"code": "213", "name": "Thành phố Bắc Giang", "level": "district", "parent_code": "24", "valid_until": "2025-06-30"},
        {"code": "07201", "name": "Phường Thọ Xương", "level": "commune", "parent_code": "213", "valid_until": "2025-06-30"},
        {"code": "07207", "name": "Phường Ngô Quyền", "level": "commune", "parent_code": "213", "valid_until": "2025-06-30"},
        {"code": "07264", "name": "Thị trấn Cầu Gồ", "level": "commune", "parent_code": "213", "valid_until": "2025-06-30"},
        {"code": "07210", "name": "Phường Bắc Giang", "level": "commune", "parent_code": "24", "valid_from": "2025-07-01",
         "former_units": [{"code": "07201", "merge": "full"}, {"code": "07207", "merge": "full"}]}
    ]);
    let (status, body) = api.post("/v1/org-units:import", units).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let summer = json!({"cron": "0 8 * * 6", "period": {"start": "2025-06-01", "end": "2025-08-31"},
                        "target_units": ["213"], "count": 100});
    let (status, preview) = api.post("/v1/schedule:preview", summer.clone()).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(
        preview["sessions"].as_array().unwrap().len(),
        13,
        "the period's Saturdays"
    );
    assert_eq!(preview["sessions"][0]["local"], "2025-06-07T08:00:00+07:00");
    assert_eq!(
        preview["unit_changes"],
        json!([
            {"code": "07201", "name": "Phường Thọ Xương", "until": "2025-06-30",
             "replaced_by": [{"code": "07210", "name": "Phường Bắc Giang", "merge": "full"}],
             "message": "Từ ngày 01/07/2025, Phường Thọ Xương không còn là đơn vị hành chính: các buổi từ ngày này được lập tại Phường Bắc Giang."},
            {"code": "07207", "name": "Phường Ngô Quyền", "until": "2025-06-30",
             "replaced_by": [{"code": "07210", "name": "Phường Bắc Giang", "merge": "full"}],
             "message": "Từ ngày 01/07/2025, Phường Ngô Quyền không còn là đơn vị hành chính: các buổi từ ngày này được lập tại Phường Bắc Giang."},
            {"code": "07264", "name": "Thị trấn Cầu Gồ", "until": "2025-06-30", "replaced_by": [],
             "message": "Từ ngày 01/07/2025, Thị trấn Cầu Gồ không còn là đơn vị hành chính và không có đơn vị nào thay thế: các buổi từ ngày này sẽ không được lập."}
        ])
    );

    // A period that ends before the change meets none; without target units there is nothing to say.
    let mut june = summer.clone();
    june["period"]["end"] = json!("2025-06-30");
    let (status, preview) = api.post("/v1/schedule:preview", june).await;
    assert_eq!((status, preview["unit_changes"].clone()), (StatusCode::OK, json!([])));
    let (status, preview) = api
        .post(
            "/v1/schedule:preview",
            json!({"cron": "0 8 * * 6", "after": "2025-06-01T00:00:00Z", "count": 10}),
        )
        .await;
    assert_eq!((status, preview["unit_changes"].clone()), (StatusCode::OK, json!([])));
    // Without a period, the span of the sessions previewed: 7 June to 9 August.
    let (status, preview) = api
        .post(
            "/v1/schedule:preview",
            json!({"cron": "0 8 * * 6", "after": "2025-06-01T00:00:00Z", "count": 10, "target_units": ["07201"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["unit_changes"][0]["replaced_by"][0]["code"], "07210");
    let mut unknown = summer.clone();
    unknown["target_units"] = json!(["99999"]);
    let (status, body) = api.post("/v1/schedule:preview", unknown).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("target_units"),
        "99999",
    );

    // A campaign over the period may give the successor its own venue.
    let mut campaign = campaign_body("0 8 * * 6", json!(["213"]));
    campaign["period"] = json!({"start": "2025-06-01", "end": "2025-08-31"});
    campaign["venues"] = json!({"07210": "Nhà văn hoá phường Bắc Giang"});
    let (status, body) = api.post("/v1/campaigns", campaign).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (_, doc) = api.send(Method::GET, "/openapi.json", None, None).await;
    let preview_schema = &doc["components"]["schemas"]["Preview"]["properties"];
    assert!(preview_schema["unit_changes"].is_object(), "{preview_schema}");
    assert!(doc["components"]["schemas"]["UnitChange"]["properties"]["replaced_by"].is_object());
}

#[tokio::test]
async fn a_campaign_estimate_matches_what_its_deliveries_record_within_rounding() {
    use outreach_core::jobs::{Channels, DispatchSettings, SenderSettings, run_dispatcher, run_sender};
    use outreach_core::notify::{MemoryQueue, NoUnsubscribeLinks};
    use outreach_core::ports::{DeliveryFilter, DeliveryStore, PageRequest};
    let api = spawn().await;
    api.seed_units().await;
    // Viettel, Vinaphone and Vietnamobile numbers (three brandname prices), one with email
    // too, one without any consent, and one in a commune whose name is longer.
    for (phone, commune) in [
        ("0983000001", "07201"),
        ("0913000002", "07201"),
        ("0923000003", "07441"),
    ] {
        api.new_contact(phone, commune, "citizen").await;
    }
    let (status, body) = api
        .post(
            "/v1/contacts",
            json!({"role": "citizen", "name": "Trần Thị Bích Ngọc", "commune_code": "07201", "phone": "0983000004",
                   "email": "ngoc@example.vn",
                   "consents": [{"channel": "sms", "method": "paper_form", "wording_version": "v1"},
                                {"channel": "email", "method": "paper_form", "wording_version": "v1"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api.post(
        "/v1/contacts",
        json!({"role": "citizen", "name": "B", "commune_code": "07201", "phone": "0983000005"}),
    )
    .await;
    let mut body = campaign_body("0 8 * * 6", json!(["07201", "07441"]));
    body["reminder_rules"][0]["channels"] = json!(["sms", "email"]);
    let (status, campaign) = api.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap();

    // A draft is estimated before it is activated.
    let (status, estimate) = api.get(&format!("/v1/campaigns/{id}/estimate")).await;
    assert_eq!(status, StatusCode::OK, "{estimate}");
    // Thirteen Saturdays from October to December, in two communes.
    assert_eq!(estimate["sessions"], 26, "{estimate}");
    let channel = |name: &str| {
        estimate["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["channel"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {estimate}"))
    };
    let (sms, email) = (channel("sms"), channel("email"));
    assert_eq!(
        (sms["recipients"].as_u64(), sms["messages"].as_u64()),
        (Some(4), Some(52))
    );
    assert_eq!(
        (email["recipients"].as_u64(), email["messages"].as_u64()),
        (Some(1), Some(13))
    );
    assert_eq!(email["segments"], 13);
    let max = sms["max_segments_per_message"].as_u64().unwrap();
    assert!((1..=2).contains(&max), "{sms}");
    assert_eq!(
        estimate["total_cost_vnd"].as_u64(),
        Some(sms["cost_vnd"].as_u64().unwrap() + email["cost_vnd"].as_u64().unwrap())
    );
    assert_eq!(estimate["communes"].as_array().unwrap().len(), 2);
    assert_eq!(estimate["communes"][1]["name"], "Xã Tân Dĩnh");

    // Another province's planner is told it does not exist.
    let stranger = api
        .auth
        .mint("planner-9", Role::Planner, "99", Utc::now(), Duration::hours(1));
    let (status, _) = api
        .send(
            Method::GET,
            &format!("/v1/campaigns/{id}/estimate"),
            None,
            Some(&stranger),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.get("/v1/campaigns/cmp_nothing/estimate").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Run it through: every session's reminder dispatched and sent to the outbox.
    api.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
    run_planner(api.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(100))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outbox = outreach_notify::Outbox::new(dir.path()).unwrap();
    let channels = Channels {
        email: &outbox,
        sms: &outbox,
        zns: None,
        links: &NoUnsubscribeLinks,
    };
    // Each Friday at 08:00 local, the day before each Saturday's sessions.
    let mut due = t("2026-10-02T01:00:00Z");
    while due < t("2027-01-01T00:00:00Z") {
        let queue = MemoryQueue::default();
        run_dispatcher(api.store.as_ref(), &queue, due, DispatchSettings::default())
            .await
            .unwrap();
        run_sender(
            api.store.as_ref(),
            channels,
            &queue.drain(1000),
            due,
            SenderSettings::default(),
        )
        .await;
        due += Duration::days(7);
    }
    let mut logged: std::collections::BTreeMap<String, (u64, u64, u64)> = Default::default();
    let filter = DeliveryFilter {
        campaign: Some(id.into()),
        ..DeliveryFilter::default()
    };
    let mut page = PageRequest::first(500);
    loop {
        let got = api.store.list_deliveries(&filter, &page).await.unwrap();
        for d in got.items.iter().filter(|d| d.status.may_have_arrived()) {
            let e = logged.entry(format!("{:?}", d.channel)).or_default();
            *e = (e.0 + 1, e.1 + u64::from(d.segments), e.2 + d.cost_milli_vnd);
        }
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    for (name, key) in [("sms", "Sms"), ("email", "Email")] {
        let estimated = channel(name);
        let (messages, segments, cost) = logged[key];
        assert_eq!(estimated["messages"].as_u64(), Some(messages), "{name}: {logged:?}");
        assert_eq!(estimated["segments"].as_u64(), Some(segments), "{name}: {logged:?}");
        let cost_vnd = cost as f64 / 1000.0;
        let off = (estimated["cost_vnd"].as_f64().unwrap() - cost_vnd).abs();
        assert!(off <= 1.0, "{name}: estimated {estimated}, recorded {cost_vnd} đ");
    }
    // The tallies hold the same, and the estimate of the campaign now reads them.
    let tallies = api
        .store
        .delivery_tallies(
            &["07201".into(), "07441".into()],
            "2026-10-01".parse().unwrap(),
            "2026-12-31".parse().unwrap(),
        )
        .await
        .unwrap();
    let sent_cost: u64 = tallies
        .iter()
        .filter(|t| t.key.status.may_have_arrived())
        .map(|t| t.cost_milli_vnd)
        .sum();
    assert_eq!(sent_cost, logged.values().map(|v| v.2).sum::<u64>());
}
