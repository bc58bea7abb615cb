//! Administrative units: import, versions, refused files and their audit.

use super::*;

#[tokio::test]
async fn units_import_list_and_get_by_version() {
    let api = spawn().await;
    api.seed_units().await;
    let (status, page) = api.get("/v1/org-units?level=commune&limit=3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = api
        .get(&format!("/v1/org-units?level=commune&limit=3&cursor={cursor}"))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    let (_, children) = api.get("/v1/org-units?parent=213").await;
    assert_eq!(children["items"].as_array().unwrap().len(), 3);
    let (status, unit) = api.get("/v1/org-units/07201").await;
    assert_eq!(
        (status, unit["code"].as_str(), unit["level"].as_str()),
        (StatusCode::OK, Some("07201"), Some("commune"))
    );
    let (status, body) = api.get("/v1/org-units/99999").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "99999");

    // The post-reform version of a reused code sits beside the old one.
    let csv = "code,name,level,parent_code\n07201,Phường Bắc Giang,commune,24\n";
    let (status, body) = api
        .post_raw("/v1/org-units:import?valid_from=2025-07-01", "text/csv", csv)
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "overlaps the open-ended old version: {body}"
    );
    assert!(
        body["error"]["rows"][0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("overlaps")
    );
}

#[tokio::test]
async fn a_bad_unit_file_is_refused_row_by_row_and_nothing_is_stored() {
    let api = spawn().await;
    let units = json!([
        {"code": "24", "name": "Tỉnh Bắc Giang", "level": "province", "parent_code": null},
        {"code": "213", "name": "TP Bắc Giang", "level": "district", "parent_code": "24"},
        {"code": "07201", "name": "Thọ Xương", "level": "commune", "parent_code": "999"},
        {"code": "213", "name": "Again", "level": "district", "parent_code": "24"},
        {"code": "07204", "name": "Ngô Quyền", "level": "ward", "parent_code": "213"}
    ]);
    let (status, body) = api.post("/v1/org-units:import", units).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, None, "bad rows");
    let rows = body["error"]["rows"].as_array().unwrap();
    let reasons: Vec<(u64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["reasons"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons[0].0 == 3 && reasons[0].1.contains("parent 999 does not exist"));
    assert!(reasons[1].0 == 4 && reasons[1].1.contains("duplicate code 213"));
    assert!(reasons[2].0 == 5 && reasons[2].1.contains("unknown level \"ward\""));
    let (_, page) = api.get("/v1/org-units").await;
    assert_eq!(page["items"], json!([]), "nothing half-imported");

    for (content_type, body, says) in [
        ("application/json", "{not json", "not a JSON array"),
        ("application/json", "{\"code\": \"24\"}", "not a JSON array"),
        ("text/csv", "code,name\n24,x\n", "lacks column"),
        ("text/csv", "", "lacks column"),
    ] {
        let (status, err) = api.post_raw("/v1/org-units:import", content_type, body).await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert!(err["error"]["message"].as_str().unwrap().contains(says), "{err}");
    }
    let (status, body) = api
        .post_raw("/v1/org-units:import", "application/xml", "<units/>")
        .await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, None, "text/csv");
}

#[tokio::test]
async fn a_unit_import_is_audited_with_the_units_it_created_and_the_fields_it_changed() {
    let api = spawn().await;
    api.seed_units().await;
    let entries = api.audit_of("POST /v1/org-units:import").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["entity"], "unit import");
    assert_eq!(
        changed(&entries[0], "created"),
        json!(["24", "213", "215", "07201", "07228", "07441", "07264"])
    );
    // A commune moved to the other district, and a new one: the move field by field.
    let csv = "code,name,level,parent_code\n07441,Xã Tân Dĩnh,commune,215\n07270,Xã Mới,commune,215\n";
    let (status, body) = api.post_raw("/v1/org-units:import", "text/csv", csv).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entries = api.audit_of("POST /v1/org-units:import").await;
    let fields: Vec<&str> = entries[1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["created", "units.07441.parent_code"], "{}", entries[1]);
    assert_eq!(changed(&entries[1], "created"), json!(["07270"]));
    let moved = &entries[1]["changes"][1];
    assert_eq!((&moved["before"], &moved["after"]), (&json!("213"), &json!("215")));
}
