//! Attendance, outcomes, targets and quarterly reports over HTTP.

use super::*;

#[tokio::test]
async fn attendance_outcomes_targets_and_quarterly_reports_over_http() {
    use outreach_core::ports::{CampaignStore, SessionStore};
    let api = spawn().await;
    api.seed_units().await;
    let citizen = api.new_contact("0981000101", "07201", "citizen").await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let campaign = api
        .store
        .get_campaign(&campaign["id"].as_str().unwrap().into())
        .await
        .unwrap()
        .unwrap();
    let session = outreach_core::session::Session::materialise(
        &campaign,
        "07201",
        t("2026-10-03T01:00:00Z"),
        t("2026-09-01T03:00:00Z"),
    );
    api.store
        .insert_sessions_if_absent(std::slice::from_ref(&session))
        .await
        .unwrap();
    let attendance = format!("/v1/sessions/{}/attendance", session.id);
    let outcomes = format!("/v1/sessions/{}/outcomes", session.id);
    let body = json!({"attendees": [{"contact_id": citizen}, {"phone": "0977 123 456", "name": "Khách vãng lai", "role": "citizen"}]});

    // Not before the session starts, and only for a session that exists.
    let (status, answer) = api.put(&attendance, body.clone()).await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("session"),
        "once it has started",
    );
    let (status, answer) = api
        .put(
            "/v1/sessions/nope/outcomes",
            json!({"metrics": {"dossiers_supported": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    api.clock.set("2026-10-03T04:00:00Z");
    // A walk-in listed twice, their number written two ways: refused, and nobody registered.
    let (status, answer) = api
        .put(
            &attendance,
            json!({"attendees": [{"phone": "0965000777", "name": "Hai Lần"}, {"phone": "096 500 0777", "name": "Hai Lần"}]}),
        )
        .await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("attendees[1]"),
        "already on the list (attendees[0])",
    );
    let (_, listed) = api.get("/v1/contacts?commune=07201").await;
    assert!(
        !listed.to_string().contains("Hai Lần"),
        "the refused list registered a walk-in: {listed}"
    );
    let (status, record) = api.put(&attendance, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["attendees"].as_array().unwrap().len(), 2);
    assert_eq!(record["attendees"][1]["walk_in"], json!(true));
    // The same list again changes nothing: the walk-in, registered now, stays a walk-in.
    let (status, again) = api.put(&attendance, body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["attendees"], record["attendees"]);
    use outreach_core::ports::OutcomeStore;
    let tallies = api
        .store
        .year_tallies(Quarter { year: 2026, quarter: 4 })
        .await
        .unwrap();
    let tally = |metric: &str| {
        tallies
            .iter()
            .find(|t| t.key.unit_code == "07201" && t.key.quarter.quarter == 4 && t.key.metric == metric)
            .map(|t| t.value)
    };
    assert_eq!(
        (tally("walk_ins"), tally("attendees")),
        (Some(1), Some(2)),
        "{tallies:?}"
    );
    let (status, record) = api
        .put(
            &outcomes,
            json!({"metrics": {"dossiers_supported": 12, "leaflets": 40}}),
        )
        .await;
    assert_eq!(
        (status, record["version"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{record}"
    );
    let (status, record) = api
        .put(
            &outcomes,
            json!({"metrics": {"dossiers_supported": 10, "leaflets": 40}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    let (status, answer) = api.put(&outcomes, json!({"metrics": {"dossiers_total": 5}})).await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("metrics.dossiers_total"),
        "official statistics",
    );
    let (status, got) = api.get(&attendance).await;
    assert_eq!(
        (status, got["outcomes"]["dossiers_supported"].as_u64()),
        (StatusCode::OK, Some(10))
    );

    // Official statistics: a bad row refuses them all.
    let (status, answer) = api
        .put(
            "/v1/statistics",
            json!({"statistics": [
                {"commune_code": "07201", "year": 2026, "quarter": 4, "dossiers_online": 30, "dossiers_total": 100, "services_publicized": 5, "services_total": 10},
                {"commune_code": "07228", "year": 2026, "quarter": 4, "dossiers_online": 300, "dossiers_total": 100, "services_publicized": 5, "services_total": 10}
            ]}),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("import_rejected")),
        "{answer}"
    );
    let csv = "commune_code,year,quarter,dossiers_online,dossiers_total,services_publicized,services_total\n07201,2026,4,30,100,5,10\n07228,2026,4,10,100,5,10\n";
    let (status, answer) = api.post_raw("/v1/statistics:import", "text/csv", csv).await;
    assert_eq!(
        (status, answer["imported"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{answer}"
    );

    // Targets, allocated equally to the districts.
    let (status, answer) = api
        .put(
            "/v1/targets/2026/24",
            json!({"targets": [
                {"metric": "dossiers_supported", "value": 15000, "allocate": {"method": "equal"}},
                {"metric": "online_dossier_ratio", "value": 40, "unit": "percent"}
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let shares: Vec<(String, f64)> = answer["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["metric"] == "dossiers_supported")
        .map(|t| {
            (
                t["org_code"].as_str().unwrap().to_string(),
                t["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shares,
        vec![("24".into(), 15000.0), ("213".into(), 7500.0), ("215".into(), 7500.0)]
    );
    let (status, answer) = api
        .put(
            "/v1/targets/2026/24",
            json!({"targets": [{"metric": "online_dossier_ratio", "value": 40}]}),
        )
        .await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("targets[0].value"),
        "percentage",
    );
    let (status, got) = api.get("/v1/targets/2026/213").await;
    assert_eq!(
        (status, got["items"][0]["value"].as_f64()),
        (StatusCode::OK, Some(7500.0)),
        "{got}"
    );

    // The report, live, in three formats.
    let (status, report) = api.get("/v1/reports/quarterly?year=2026&quarter=4&org=24").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let row = |code: &str, metric: &str| report_row(&report, code, metric);
    assert_eq!(row("07201", "dossiers_supported")["ytd_value"].as_f64(), Some(10.0));
    assert_eq!(row("07201", "leaflets")["ytd_value"].as_f64(), Some(40.0));
    assert_eq!(row("07201", "attendees")["ytd_value"].as_f64(), Some(2.0));
    assert_eq!(row("213", "online_dossier_ratio")["ytd_value"].as_f64(), Some(0.2));
    assert_eq!(row("24", "dossiers_supported")["milestone"].as_f64(), Some(15000.0));
    for (format, content_type, magic) in [
        ("csv", "text/csv; charset=utf-8", &b"\xEF\xBB\xBF"[..]),
        (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &b"PK"[..],
        ),
    ] {
        let res = api
            .http
            .get(format!(
                "{}/v1/reports/quarterly?year=2026&quarter=4&org=24&format={format}",
                api.base
            ))
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["content-type"], content_type);
        assert!(
            res.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(&format!("bao-cao-2026-Q4-24.{format}"))
        );
        let bytes = res.bytes().await.unwrap();
        assert!(bytes.starts_with(magic), "{format}");
    }
    let (status, answer) = api.get("/v1/reports/quarterly?year=2026&quarter=5&org=24").await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("quarter"),
        "1 to 4",
    );
    let (status, answer) = api.get("/v1/reports/quarterly?year=2026&quarter=4&org=99").await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("org"),
        "no unit 99",
    );

    // Snapshots: each run a new revision; the old ones stay readable.
    let (status, first) = api
        .post("/v1/reports/quarterly:snapshot?year=2026&quarter=4&org=24", json!({}))
        .await;
    assert_eq!(
        (status, first["revision"].as_u64()),
        (StatusCode::CREATED, Some(1)),
        "{first}"
    );
    let (status, answer) = api.put(&outcomes, json!({"metrics": {"dossiers_supported": 11}})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, second) = api
        .post("/v1/reports/quarterly:snapshot?year=2026&quarter=4&org=24", json!({}))
        .await;
    assert_eq!(
        (status, second["revision"].as_u64()),
        (StatusCode::CREATED, Some(2)),
        "{second}"
    );
    let (_, list) = api
        .get("/v1/reports/quarterly/snapshots?year=2026&quarter=4&org=24")
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    let (status, old) = api
        .get("/v1/reports/quarterly?year=2026&quarter=4&org=24&revision=1")
        .await;
    assert_eq!(status, StatusCode::OK);
    let old_row = report_row(&old, "07201", "dossiers_supported");
    assert_eq!(old_row["ytd_value"].as_f64(), Some(10.0));
    let (_, latest) = api
        .get("/v1/reports/quarterly?year=2026&quarter=4&org=24&revision=latest")
        .await;
    let new_row = report_row(&latest, "07201", "dossiers_supported");
    assert_eq!(new_row["ytd_value"].as_f64(), Some(11.0));
    let (status, _) = api
        .get("/v1/reports/quarterly?year=2026&quarter=3&org=24&revision=latest")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
