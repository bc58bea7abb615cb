//! Contacts: registration, consent, opt-out, the CSV import and its audit.

use super::*;

#[tokio::test]
async fn contacts_register_page_consent_and_opt_out() {
    let api = spawn().await;
    api.seed_units().await;
    let (status, c) = api
        .post(
            "/v1/contacts",
            json!({"role": "citizen", "name": "Trần Thị Bình", "commune_code": "07201", "phone": "0912 345 678",
                   "email": "binh@example.vn"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["phone"], json!({"e164": "+84912345678", "kind": "mobile"}));
    let id = c["id"].as_str().unwrap();
    let (status, got) = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!((status, &got), (StatusCode::OK, &c));

    let (status, body) = api
        .post(
            "/v1/contacts",
            json!({"role": "volunteer", "name": "X", "commune_code": "07228", "phone": "+84912345678"}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, None, "already exists");

    let (status, with_consent) = api
        .post(
            &format!("/v1/contacts/{id}/consents"),
            json!({"channel": "email", "method": "web_form", "wording_version": "2026-09"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{with_consent}");
    assert_eq!(with_consent["consents"][0]["recorded_by"], "planner-1");
    let (status, opted) = api
        .post_raw(&format!("/v1/contacts/{id}/opt-out"), "application/json", "")
        .await;
    assert_eq!(status, StatusCode::OK, "{opted}");
    assert_eq!(opted["opt_outs"].as_array().unwrap().len(), 2, "every channel");
    let (status, _) = api
        .post(&format!("/v1/contacts/{id}/opt-out"), json!({"channel": "sms"}))
        .await;
    assert_eq!(status, StatusCode::OK);

    for i in 0..5 {
        api.new_contact(
            &format!("09880000{i:02}"),
            "07228",
            if i % 2 == 0 { "volunteer" } else { "citizen" },
        )
        .await;
    }
    let (_, vols) = api.get("/v1/contacts?commune=07228&role=volunteer").await;
    assert_eq!(vols["items"].as_array().unwrap().len(), 3);
    let (_, first) = api.get("/v1/contacts?limit=4").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = api.get(&format!("/v1/contacts?limit=4&cursor={cursor}")).await;
    assert_eq!(
        first["items"].as_array().unwrap().len() + second["items"].as_array().unwrap().len(),
        6
    );
    assert_eq!(second["next_cursor"], Value::Null);

    let (status, body) = api.get("/v1/contacts/ct_nobody").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "ct_nobody");
    let (status, body) = api.post("/v1/contacts/ct_nobody/opt-out", json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "ct_nobody");
}

#[tokio::test]
async fn import_errors_name_the_line_an_editor_shows_and_the_value_unless_it_could_be_a_number() {
    let api = spawn().await;
    api.seed_units().await;
    // A BOM and CRLF line ends, as Excel saves a CSV; the bad rows are lines 4 and 5.
    let csv = "\u{feff}name,phone,role,commune_code\r\n\
               Nguyễn Văn An,0912345001,citizen,07201\r\n\
               Trần Thị Bình,0912345002,citizen,07201\r\n\
               Lê Minh Chi,12345,citizen,07201\r\n\
               Phạm Thu,0912345003,citizen,99999\r\n";
    let (status, report) = api.post_raw("/v1/contacts:import", "text/csv", csv).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["imported"], 2, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    let lines: Vec<(u64, &str)> = rejected
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["key"].as_str().unwrap()))
        .collect();
    // 12345 cannot be anyone's number: shown so the user finds the row; a number is masked.
    assert_eq!(lines, [(4, "12345"), (5, "091*****03")], "{report}");
}

#[tokio::test]
async fn contact_csv_import_keeps_good_rows_and_reports_bad_ones() {
    let api = spawn().await;
    api.seed_units().await;
    let csv = "name,phone,role,commune_code,email,consent_sms,consent_method,consent_wording_version\n\
               Nguyễn Văn An,0912345678,citizen,07201,,yes,paper_form,v1\n\
               Trần Thị Bình,01662345678,citizen,07201,,yes,paper_form,v1\n\
               Lê Minh Chi,0987654321,volunteer,07228,chi@example.vn,no,,\n\
               Phạm Thu,0987654322,citizen,99999,,no,,\n\
               Hoàng Đức,0987654323,robot,07201,,no,,\n\
               Vũ Ngọc,0912345678,citizen,07201,,no,,\n\
               Đỗ Hùng,0204 3854 123,citizen,07441,,no,,\n";
    let (status, report) = api
        .post_raw("/v1/contacts:import", "text/csv; charset=utf-8", csv)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["imported"], 3, "{report}");
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap(),
                r["reasons"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Lines of the file as an editor or a spreadsheet numbers them: the header is line 1.
    assert_eq!(rejected.iter().map(|r| r.0).collect::<Vec<_>>(), [3, 5, 6, 7]);
    assert!(rejected[0].1.contains("036"), "{rejected:?}");
    assert!(rejected[1].1.contains("99999"));
    assert!(rejected[2].1.contains("robot"));
    assert!(rejected[3].1.contains("already exists"));
    assert!(
        !report.to_string().contains("0912345678"),
        "phone numbers are masked in reports"
    );
    let (_, landline) = api.get("/v1/contacts?commune=07441").await;
    assert_eq!(landline["items"][0]["phone"]["kind"], "landline");
    let (status, body) = api.post_raw("/v1/contacts:import", "application/json", "[]").await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, None, "text/csv");
}

#[tokio::test]
async fn a_contact_import_is_audited_batch_by_batch_and_a_repost_refuses_every_row_without_writing() {
    let api = spawn().await;
    api.seed_units().await;
    let phone = |i: usize| format!("0912{i:06}");
    let mut csv = String::from("name,phone,role,commune_code,consent_sms,consent_method,consent_wording_version\n");
    for i in 0..500 {
        csv.push_str(&format!(
            "Nguyễn Văn Số{i},{},citizen,07201,yes,paper_form,v1\n",
            phone(i)
        ));
    }
    let started = std::time::Instant::now();
    let (status, report) = api.post_raw("/v1/contacts:import", "text/csv", &csv).await;
    let first = started.elapsed();
    assert_eq!(
        (status, report["imported"].as_u64()),
        (StatusCode::OK, Some(500)),
        "{report}"
    );
    let started = std::time::Instant::now();
    let (status, again) = api.post_raw("/v1/contacts:import", "text/csv", &csv).await;
    let repost = started.elapsed();
    println!(
        "500-row CSV on SQLite through the API: imported in {first:.2?}, re-posted (every row refused) in {repost:.2?}"
    );
    assert_eq!(
        (status, again["imported"].as_u64()),
        (StatusCode::OK, Some(0)),
        "{again}"
    );
    let rejected = again["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 500);
    assert!(
        rejected
            .iter()
            .enumerate()
            .all(|(i, r)| r["row"] == i + 2 && r["reasons"][0].as_str().unwrap().contains("already exists")),
        "{again}"
    );

    // One entry per batch of 100 rows, none for the re-post, which created nothing.
    let entries = api.audit_of("POST /v1/contacts:import").await;
    assert_eq!(entries.len(), 5, "{entries:?}");
    let mut created: Vec<String> = Vec::new();
    for (n, entry) in entries.iter().enumerate() {
        assert_eq!(entry["entity"], "contact import", "{entry}");
        assert_eq!(entry["entity_id"], entries[0]["entity_id"], "one import, one id");
        assert_eq!(
            (changed(entry, "rows.first"), changed(entry, "rows.last")),
            (json!(n * 100 + 2), json!(n * 100 + 101))
        );
        let ids = changed(entry, "created");
        assert_eq!(ids.as_array().unwrap().len(), 100, "{entry}");
        created.extend(
            ids.as_array()
                .unwrap()
                .iter()
                .map(|id| id.as_str().unwrap().to_string()),
        );
    }
    let (_, page) = api.get("/v1/contacts?commune=07201&limit=500").await;
    let mut stored: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored.len(), 500, "the re-post wrote no contact");
    stored.sort();
    created.sort();
    assert_eq!(created, stored, "the entries name every contact created");
    let text = serde_json::to_string(&entries).unwrap();
    for i in [0, 99, 250, 499] {
        assert!(!text.contains(&phone(i)[1..]), "a number in the audit log: {text}");
        assert!(!text.contains(&format!("Số{i}")), "a name in the audit log: {text}");
    }
}
