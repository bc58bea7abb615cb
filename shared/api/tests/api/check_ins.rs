//! Check-in at the door and the check-in code an SMS carries.

use super::*;

#[tokio::test]
async fn a_citizens_sms_carries_their_check_in_code_only_when_it_costs_no_segment() {
    use outreach_api::auth::SignedUnsubscribeLinks;
    use outreach_core::sms::count_segments;
    let api = spawn().await;
    api.seed_units().await;
    let contact = api.new_contact("0912345671", "07201", "citizen").await;
    // Two reminders: a short one, and a long one that a code would make a segment longer.
    let mut body = campaign_body("0 8 * * 6", json!(["07201"]));
    body["reminder_rules"] = json!([
        {"offset_minutes": 1440, "audience": "citizens", "channels": ["sms"],
         "sms_template": "Moi {name} den buoi ho tro dich vu cong {date} luc {time}."},
        {"offset_minutes": 1200, "audience": "citizens", "channels": ["sms"],
         "sms_template": format!("Nhac lai: {}", "x".repeat(130))}
    ]);
    let (status, campaign) = api.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let links = SignedUnsubscribeLinks {
        auth: api.auth.clone(),
        base_url: api.base.clone(),
    };
    let day_before = api.send_due(t("2026-10-02T01:00:00Z"), &links).await;
    let noon = api.send_due(t("2026-10-02T05:00:00Z"), &links).await;
    let (_, sent) = api.get(&format!("/v1/deliveries?campaign={id}&status=sent")).await;
    let session = sent["items"][0]["session_id"].as_str().unwrap();
    let code = api.auth.check_in_short_code(&session.into(), &contact.as_str().into());
    let first = outreach_notify::Outbox::read_sms(day_before.path()).unwrap().remove(0);
    assert!(
        first.text.ends_with(&format!(" Ma diem danh: {code}.")),
        "{}",
        first.text
    );
    assert_eq!(count_segments(&first.text).segments, 1, "{}", first.text);
    let second = outreach_notify::Outbox::read_sms(noon.path()).unwrap().remove(0);
    assert!(!second.text.contains("Ma diem danh"), "{}", second.text);
    let with_code = format!("{} Ma diem danh: {code}.", second.text);
    assert!(
        count_segments(&with_code).segments > count_segments(&second.text).segments,
        "{}",
        second.text
    );
}

#[tokio::test]
async fn check_ins_at_the_door_count_each_person_once_and_a_later_upload_agrees() {
    use outreach_core::ports::OutcomeStore;
    let api = spawn().await;
    api.seed_units().await;
    let a = api.new_contact("0912345671", "07201", "citizen").await;
    let b = api.new_contact("0912345672", "07201", "citizen").await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let (_, sessions) = api.get(&format!("/v1/campaigns/{id}/sessions")).await;
    let session = sessions["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/sessions/{session}/check-ins");
    // The door opens an hour before 08:00 local (01:00 UTC).
    api.clock.set("2026-10-02T23:30:00Z");
    let (status, body) = api.post(&path, json!({"contact_id": a})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("session"),
        "check-in opens 60 minutes",
    );
    api.clock.set("2026-10-03T00:30:00Z");
    let (status, out) = api.post(&path, json!({"contact_id": a})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(
        out,
        json!({"contact_id": a, "added": true, "walk_in": false, "attendees": 1})
    );
    // Scanned again: counted once.
    let (_, again) = api.post(&path, json!({"contact_id": a})).await;
    assert_eq!(again["added"], false);
    assert_eq!(again["attendees"], 1);
    // A walk-in is registered in the commune, without consent; a registered number given as
    // a walk-in's is that contact.
    let (status, walk) = api
        .post(&path, json!({"phone": "0987 654 321", "name": "Đinh Văn Tới"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{walk}");
    assert_eq!(
        (walk["walk_in"].clone(), walk["attendees"].clone()),
        (json!(true), json!(2))
    );
    let (_, walker) = api
        .get(&format!("/v1/contacts/{}", walk["contact_id"].as_str().unwrap()))
        .await;
    assert_eq!(walker["commune_code"], "07201");
    assert!(walker["consents"].as_array().unwrap().is_empty(), "{walker}");
    let (_, by_phone) = api.post(&path, json!({"phone": "+84912345672", "name": "B"})).await;
    assert_eq!(
        (by_phone["contact_id"].as_str(), by_phone["walk_in"].clone()),
        (Some(b.as_str()), json!(false))
    );
    // Nobody unknown, and a walk-in needs a valid number.
    let (status, body) = api.post(&path, json!({"contact_id": "ct_nobody"})).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("contact_id"),
        "no contact",
    );
    let (status, body) = api.post(&path, json!({"phone": "01662345678", "name": "C"})).await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, Some("phone"), "036");

    // The attendance is what was checked in, and sending it back as read changes nothing.
    let (_, record) = api.get(&format!("/v1/sessions/{session}/attendance")).await;
    assert_eq!(record["attendees"].as_array().unwrap().len(), 3, "{record}");
    let list: Vec<Value> = record["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| json!({"contact_id": x["contact_id"]}))
        .collect();
    api.clock.set("2026-10-03T05:00:00Z");
    let (status, uploaded) = api
        .put(
            &format!("/v1/sessions/{session}/attendance"),
            json!({"attendees": list}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{uploaded}");
    assert_eq!(
        uploaded["attendees"], record["attendees"],
        "the walk-in stays a walk-in"
    );
    assert_eq!(uploaded["version"], record["version"], "nothing changed");
    let tallies = api
        .store
        .year_tallies(Quarter { year: 2026, quarter: 4 })
        .await
        .unwrap();
    let of = |metric: &str| {
        tallies
            .iter()
            .filter(|x| x.key.unit_code == "07201" && x.key.metric == metric)
            .map(|x| x.value)
            .sum::<i64>()
    };
    assert_eq!((of("attendees"), of("walk_ins")), (3, 1));
}
