//! Inbound webhooks: SMS replies, SES bounces through SNS, one-click unsubscribe.

use super::*;

#[tokio::test]
async fn an_sms_reply_with_an_opt_out_keyword_stops_sms_and_needs_the_webhook_key() {
    let api = spawn().await;
    api.seed_units().await;
    let id = api.new_contact("0912345678", "07201", "citizen").await;
    let reply = json!({"from": "+84912345678", "text": "Từ chối"}).to_string();
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/inbound/sms",
            Some(("application/json", reply.clone())),
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, None, "webhook key");
    let (status, body) = api
        .send(
            Method::POST,
            "/v1/inbound/sms?key=wrong-key-of-same-len",
            Some(("application/json", reply.clone())),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let path = format!("/v1/inbound/sms?key={WEBHOOK_KEY}");
    let (status, out) = api
        .send(Method::POST, &path, Some(("application/json", reply)), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out, json!({"opt_out": true, "contact_id": id}));
    let (_, contact) = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(contact["opt_outs"][0]["channel"], "sms");
    assert_eq!(contact["opt_outs"][0]["source"], "sms_reply");
    let chatter = json!({"from": "0912345678", "text": "Cảm ơn, tôi sẽ đến"}).to_string();
    let (_, out) = api
        .send(Method::POST, &path, Some(("application/json", chatter)), None)
        .await;
    assert_eq!(out["opt_out"], false);
    let unknown = json!({"from": "0987000000", "text": "STOP"}).to_string();
    let (_, out) = api
        .send(Method::POST, &path, Some(("application/json", unknown)), None)
        .await;
    assert_eq!(out, json!({"opt_out": true, "contact_id": null}));
    let bad = json!({"from": "01662345678", "text": "STOP"}).to_string();
    let (status, body) = api
        .send(Method::POST, &path, Some(("application/json", bad)), None)
        .await;
    assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, Some("from"), "036");
}

fn sns(message: Value) -> String {
    json!({"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:ap-southeast-1:000000000000:ses-events",
           "Message": message.to_string(), "Timestamp": "2026-10-02T01:00:00.000Z"})
    .to_string()
}

#[tokio::test]
async fn ses_bounces_and_complaints_through_sns_stop_email_to_the_address() {
    let api = spawn().await;
    api.seed_units().await;
    let (_, a) = api
        .post("/v1/contacts", json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "0912345678", "email": "lan@example.vn"}))
        .await;
    let (_, b) = api
        .post("/v1/contacts", json!({"role": "citizen", "name": "B", "commune_code": "07201", "phone": "0912345679", "email": "Hoa@Example.VN"}))
        .await;
    let path = format!("/v1/inbound/email-events?key={WEBHOOK_KEY}");
    let bounce = sns(
        json!({"notificationType": "Bounce", "bounce": {"bounceType": "Permanent",
        "bouncedRecipients": [{"emailAddress": "lan@example.vn"}]}}),
    );
    // SNS posts JSON as text/plain.
    let (status, out) = api
        .send(Method::POST, &path, Some(("text/plain; charset=UTF-8", bounce)), None)
        .await;
    assert_eq!(
        (status, out.clone()),
        (StatusCode::OK, json!({"kind": "bounce", "suppressed_contacts": 1})),
        "{out}"
    );
    let (_, got) = api.get(&format!("/v1/contacts/{}", a["id"].as_str().unwrap())).await;
    assert_eq!(got["opt_outs"][0]["channel"], "email");
    assert_eq!(got["opt_outs"][0]["source"], "bounce");
    let transient = sns(
        json!({"notificationType": "Bounce", "bounce": {"bounceType": "Transient",
        "bouncedRecipients": [{"emailAddress": "hoa@example.vn"}]}}),
    );
    let (_, out) = api
        .send(Method::POST, &path, Some(("text/plain", transient)), None)
        .await;
    assert_eq!(out["kind"], "ignored", "a transient bounce stops nothing");
    let complaint = sns(
        json!({"eventType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "HOA@example.vn"}]}}),
    );
    let (_, out) = api
        .send(Method::POST, &path, Some(("text/plain", complaint)), None)
        .await;
    assert_eq!(out, json!({"kind": "complaint", "suppressed_contacts": 1}));
    let (_, got) = api.get(&format!("/v1/contacts/{}", b["id"].as_str().unwrap())).await;
    assert_eq!(got["opt_outs"][0]["source"], "complaint");
    let confirm =
        json!({"Type": "SubscriptionConfirmation", "SubscribeURL": "https://sns.example/confirm"}).to_string();
    let (_, out) = api.send(Method::POST, &path, Some(("text/plain", confirm)), None).await;
    assert_eq!(out["kind"], "subscription_confirmation");
    let (status, body) = api
        .send(Method::POST, &path, Some(("text/plain", "{not json".into())), None)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, None, "malformed JSON");
    let (status, body) = api
        .send(
            Method::POST,
            &path,
            Some(("text/plain", sns(json!("not an event")))),
            None,
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        Some("Message"),
        "not an SES notification",
    );
}

#[tokio::test]
async fn the_one_click_unsubscribe_link_stops_email_and_refuses_forged_tokens() {
    let api = spawn().await;
    api.seed_units().await;
    let (_, c) = api
        .post("/v1/contacts", json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "0912345678", "email": "lan@example.vn",
            "consents": [{"channel": "email", "method": "web_form", "wording_version": "v1"}]}))
        .await;
    let id = c["id"].as_str().unwrap();
    let token = api.auth.mint_unsubscribe(&id.into(), Utc::now());
    // Opening the link (a prefetcher, a mail scanner, a person) only asks: its button posts.
    let page = reqwest::get(format!("{}/v1/inbound/unsubscribe?token={token}", api.base))
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<form method=\"post\"") && html.contains("Ngừng nhận email"),
        "{html}"
    );
    let (_, got) = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(got["opt_outs"], json!([]), "a GET opted the contact out");
    let res = reqwest::Client::new()
        .post(format!("{}/v1/inbound/unsubscribe?token={token}", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_, got) = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(got["opt_outs"][0]["source"], "unsubscribe_link");
    // The button of the page: a browser gets a page back. Replayed, the link adds nothing.
    for _ in 0..30 {
        let res = reqwest::Client::new()
            .post(format!("{}/v1/inbound/unsubscribe?token={token}", api.base))
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("Bạn đã ngừng nhận email"));
    }
    let (_, got) = api.get(&format!("/v1/contacts/{id}")).await;
    assert_eq!(got["opt_outs"].as_array().unwrap().len(), 1, "{got}");
    // One audit entry, of the one change, with what changed.
    let admin = api
        .auth
        .mint("admin-1", Role::Admin, "24", Utc::now(), Duration::hours(1));
    let (_, log) = api.send(Method::GET, "/v1/audit?limit=500", None, Some(&admin)).await;
    let entries: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "POST /v1/inbound/unsubscribe")
        .collect();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(
        (entries[0]["entity"].as_str(), entries[0]["entity_id"].as_str()),
        (Some("contact"), Some(id))
    );
    // An API token is not an unsubscribe token, and a forged one is refused.
    let (status, body) = api
        .send(
            Method::POST,
            &format!("/v1/inbound/unsubscribe?token={}", api.token),
            None,
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("token"), "not valid");
    let other = AuthConfig::hs256(b"another-secret-that-is-32-bytes-long!!", LOCAL_ISSUER).unwrap();
    let forged = other.mint_unsubscribe(&id.into(), Utc::now());
    let (status, _) = api
        .send(
            Method::POST,
            &format!("/v1/inbound/unsubscribe?token={forged}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
