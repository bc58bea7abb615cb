//! Sessions: cancel, move, staff; the delivery log.

use super::*;

#[tokio::test]
async fn sessions_are_cancelled_moved_and_staffed_from_the_commune_team() {
    let api = spawn().await;
    api.seed_units().await;
    let vols: Vec<String> = vec![
        api.new_contact("0981000001", "07201", "volunteer").await,
        api.new_contact("0981000002", "07201", "volunteer").await,
    ];
    let citizen = api.new_contact("0981000003", "07201", "citizen").await;
    let outsider = api.new_contact("0981000004", "07228", "volunteer").await;

    let (status, body) = api
        .put(
            "/v1/teams/07201",
            json!({"name": "Đội TN", "member_ids": [vols[0], citizen]}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("member_ids[1]"),
        "not a volunteer",
    );
    let (status, body) = api
        .put(
            "/v1/teams/07201",
            json!({"name": "Đội TN", "member_ids": [vols[0]], "leader_id": vols[1]}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("leader_id"),
        "members",
    );
    let (status, team) = api
        .put(
            "/v1/teams/07201",
            json!({"name": "Đội TN tri thức trẻ", "member_ids": vols, "leader_id": vols[0]}),
        )
        .await;
    assert_eq!((status, team["version"].as_u64()), (StatusCode::OK, Some(1)), "{team}");
    let (status, team) = api.get("/v1/teams/07201").await;
    assert_eq!(
        (status, team["member_ids"].as_array().unwrap().len()),
        (StatusCode::OK, 2)
    );
    let (status, body) = api.get("/v1/teams/07228").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "07228");

    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let id = campaign["id"].as_str().unwrap();
    api.post(&format!("/v1/campaigns/{id}:activate"), json!({})).await;
    run_planner(api.store.as_ref(), t("2026-09-30T00:00:00Z"), Duration::days(14))
        .await
        .unwrap();
    let (_, page) = api.get(&format!("/v1/campaigns/{id}/sessions")).await;
    let sessions = page["items"].as_array().unwrap();
    assert_eq!(
        sessions.len(),
        2,
        "a 14-day horizon from 30 Sep holds two Saturdays: {page}"
    );
    let (first, second) = (sessions[0]["id"].as_str().unwrap(), sessions[1]["id"].as_str().unwrap());

    let (status, body) = api
        .put(
            &format!("/v1/sessions/{first}/staff"),
            json!({"volunteer_ids": [vols[0], outsider]}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("volunteer_ids[1]"),
        "not in the volunteer team",
    );
    let (status, staffed) = api
        .put(&format!("/v1/sessions/{first}/staff"), json!({"volunteer_ids": vols}))
        .await;
    assert_eq!(
        (status, staffed["short_of_staff"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{staffed}"
    );
    let (_, short) = api
        .get(&format!("/v1/campaigns/{id}/sessions?short_of_staff=true"))
        .await;
    assert_eq!(short["items"].as_array().unwrap().len(), 1);

    let (status, moved) = api
        .post(
            &format!("/v1/sessions/{first}:move"),
            json!({"starts_at": "2026-10-04T02:00:00Z", "venue": "Nhà văn hoá"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(
        (moved["id"].as_str(), moved["moved"].as_bool()),
        (Some(first), Some(true))
    );
    assert_eq!(moved["ends_at"], "2026-10-04T04:00:00Z", "the session keeps its length");
    let (status, body) = api.post(&format!("/v1/sessions/{first}:move"), json!({})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("starts_at"), "new start");
    let (status, cancelled) = api
        .post(&format!("/v1/sessions/{second}:cancel"), json!({"reason": "Mưa bão"}))
        .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (status, again) = api
        .post_raw(&format!("/v1/sessions/{second}:cancel"), "application/json", "")
        .await;
    assert_eq!(
        (status, again["cancel_reason"].as_str()),
        (StatusCode::OK, Some("Mưa bão")),
        "idempotent"
    );
    let (status, body) = api
        .post(
            &format!("/v1/sessions/{second}:move"),
            json!({"starts_at": "2026-10-20T01:00:00Z"}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, None, "cancelled");

    // Once a session has started it can no longer be changed.
    api.clock.set("2026-10-04T02:30:00Z");
    let (status, body) = api.post(&format!("/v1/sessions/{first}:cancel"), json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, None, "already started");
    let (status, body) = api.get("/v1/sessions/ses_nope").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, None, "ses_nope");
}

#[tokio::test]
async fn the_delivery_log_lists_by_campaign_session_contact_and_status() {
    use outreach_core::notify::NoUnsubscribeLinks;
    let api = spawn().await;
    api.seed_units().await;
    let consenting = api.new_contact("0912345678", "07201", "citizen").await;
    let (_, silent) = api
        .post(
            "/v1/contacts",
            json!({"role": "citizen", "name": "B", "commune_code": "07201", "phone": "0912345679"}),
        )
        .await;
    let campaign = api.new_campaign("0 8 * * 6", json!(["07201"])).await;
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let due = t("2026-10-02T01:00:00Z");
    let _outbox = api.send_due(due, &NoUnsubscribeLinks).await;

    let (status, all) = api.get(&format!("/v1/deliveries?campaign={id}")).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let (_, sent) = api.get(&format!("/v1/deliveries?campaign={id}&status=sent")).await;
    assert_eq!(sent["items"][0]["contact_id"], consenting.as_str());
    assert!(sent["items"][0]["message_id"].is_string());
    let (_, suppressed) = api
        .get(&format!("/v1/deliveries?contact={}", silent["id"].as_str().unwrap()))
        .await;
    assert_eq!(suppressed["items"][0]["status"], "suppressed");
    assert_eq!(suppressed["items"][0]["reason"], "no_consent");
    let session = sent["items"][0]["session_id"].as_str().unwrap();
    let (_, by_session) = api
        .get(&format!("/v1/deliveries?session={session}&status=suppressed"))
        .await;
    assert_eq!(by_session["items"].as_array().unwrap().len(), 1);
    let (status, body) = api.get("/v1/deliveries").await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("filter"),
        "name a campaign",
    );
    let (status, body) = api.get("/v1/deliveries?campaign=x&status=lost").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("status"), "lost");
}
