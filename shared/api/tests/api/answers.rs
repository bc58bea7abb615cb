//! Answers to reminders: by SMS reply and by signed link; the headcount and the figures they make.

use super::*;

#[tokio::test]
async fn sms_replies_answer_the_reminder_that_asked_and_make_the_session_headcount() {
    use outreach_core::notify::NoUnsubscribeLinks;
    let api = spawn().await;
    api.seed_units().await;
    let people: Vec<String> = (1..=4).map(|i| format!("091234567{i}")).collect::<Vec<_>>();
    let mut ids = Vec::new();
    for phone in &people {
        ids.push(api.new_contact(phone, "07201", "citizen").await);
    }
    // Registered without consent: never sent the question.
    let (_, unasked) = api
        .post(
            "/v1/contacts",
            json!({"role": "citizen", "name": "E", "commune_code": "07201", "phone": "0912345679"}),
        )
        .await;
    let mut body = campaign_body("0 8 * * 6", json!(["07201"]));
    body["reminder_rules"][0]["asks_answer"] = json!(true);
    let (status, campaign) = api.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    assert_eq!(campaign["reminder_rules"][0]["asks_answer"], true);
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let due = t("2026-10-02T01:00:00Z");
    let dir = api.send_due(due, &NoUnsubscribeLinks).await;
    let sms = outreach_notify::Outbox::read_sms(dir.path()).unwrap();
    assert_eq!(sms.len(), 4);
    assert!(
        sms.iter()
            .all(|m| m.text.ends_with(outreach_core::answer::SMS_ANSWER_PROMPT)),
        "{sms:?}"
    );
    let (_, sent) = api.get(&format!("/v1/deliveries?campaign={id}&status=sent")).await;
    let session = sent["items"][0]["session_id"].as_str().unwrap().to_string();

    let path = format!("/v1/inbound/sms?key={WEBHOOK_KEY}");
    let reply = |from: &str, text: &str| {
        let body = json!({"from": from, "text": text}).to_string();
        let path = path.clone();
        let api = &api;
        async move {
            let (status, out) = api
                .send(Method::POST, &path, Some(("application/json", body)), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{out}");
            out
        }
    };
    api.clock.set("2026-10-02T05:00:00Z");
    // A number no one registered, and a contact no reminder asked: nothing is recorded.
    let out = reply("0987000001", "1").await;
    assert_eq!(out, json!({"opt_out": false, "contact_id": null}));
    let out = reply("0912345679", "1").await;
    assert_eq!(out["answer"], json!({"answer": "coming", "result": "no_question"}));
    assert_eq!(out["contact_id"], unasked["id"]);
    // Answers in the spellings people use.
    let out = reply(&people[0], "Có, tôi sẽ đến").await;
    assert_eq!(
        out["answer"],
        json!({"answer": "coming", "result": "recorded", "session_id": session})
    );
    assert_eq!(reply("+84912345672", " 2 ").await["answer"]["answer"], "not_coming");
    assert_eq!(reply(&people[2], "ko.").await["answer"]["result"], "recorded");
    // Changed their mind: the latest answer counts.
    api.clock.set("2026-10-02T09:00:00Z");
    assert_eq!(reply(&people[2], "ĐẾN").await["answer"]["answer"], "coming");
    // An opt-out keyword as a reply opts out and answers nothing.
    let out = reply(&people[3], "TC").await;
    assert_eq!(out["opt_out"], true);
    assert!(out.get("answer").is_none(), "{out}");

    let (status, headcount) = api.get(&format!("/v1/sessions/{session}/headcount")).await;
    assert_eq!(status, StatusCode::OK, "{headcount}");
    assert_eq!(
        headcount["citizens"],
        json!({"asked": 4, "coming": 2, "not_coming": 1, "no_answer": 1})
    );
    assert_eq!(headcount["capacity"], 40);
    assert_eq!(headcount["over_capacity"], false);

    // Once the session has started, a reply changes nothing.
    api.clock.set("2026-10-03T01:30:00Z");
    let out = reply(&people[0], "2").await;
    assert_eq!(out["answer"]["result"], "session_started");
    let (_, after) = api.get(&format!("/v1/sessions/{session}/headcount")).await;
    assert_eq!(after["citizens"], headcount["citizens"]);

    // Answers are the contact's data: in their export, gone with their erasure.
    let (_, export) = api.get(&format!("/v1/contacts/{}/export", ids[0])).await;
    assert_eq!(export["answers"][0]["answer"], "coming");
    assert_eq!(export["answers"][0]["session_id"], session.as_str());
    let (status, _) = api
        .send(
            Method::DELETE,
            &format!("/v1/contacts/{}", ids[0]),
            None,
            Some(&api.token),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (_, erased) = api.get(&format!("/v1/sessions/{session}/headcount")).await;
    assert_eq!(
        erased["citizens"],
        json!({"asked": 4, "coming": 1, "not_coming": 1, "no_answer": 2})
    );
}

#[tokio::test]
async fn answers_and_check_ins_make_the_confirmation_no_show_and_walk_in_figures_of_the_report() {
    use outreach_core::notify::NoUnsubscribeLinks;
    let api = spawn().await;
    api.seed_units().await;
    let people: Vec<String> = (1..=4).map(|i| format!("091234567{i}")).collect();
    let mut ids = Vec::new();
    for phone in &people {
        ids.push(api.new_contact(phone, "07201", "citizen").await);
    }
    let mut body = campaign_body("0 8 * * 6", json!(["07201"]));
    body["reminder_rules"][0]["asks_answer"] = json!(true);
    let (status, campaign) = api.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    api.send_due(t("2026-10-02T01:00:00Z"), &NoUnsubscribeLinks).await;
    let (_, sent) = api.get(&format!("/v1/deliveries?campaign={id}&status=sent")).await;
    let session = sent["items"][0]["session_id"].as_str().unwrap().to_string();
    // Three of the four asked say they will come, one that they will not.
    api.clock.set("2026-10-02T05:00:00Z");
    for (phone, text) in people.iter().zip(["1", "có", "Đến", "2"]) {
        let body = json!({"from": phone, "text": text}).to_string();
        let (status, out) = api
            .send(
                Method::POST,
                &format!("/v1/inbound/sms?key={WEBHOOK_KEY}"),
                Some(("application/json", body)),
                None,
            )
            .await;
        assert_eq!(
            (status, out["answer"]["result"].clone()),
            (StatusCode::OK, json!("recorded"))
        );
    }
    // At the door: two of the confirmed, the one who said no, and a walk-in.
    api.clock.set("2026-10-03T00:45:00Z");
    let path = format!("/v1/sessions/{session}/check-ins");
    for who in [
        json!({"contact_id": ids[0]}),
        json!({"contact_id": ids[1]}),
        json!({"contact_id": ids[3]}),
    ] {
        let (status, out) = api.post(&path, who).await;
        assert_eq!(status, StatusCode::OK, "{out}");
    }
    let (status, out) = api
        .post(&path, json!({"phone": "0987654321", "name": "Lê Thị Mới"}))
        .await;
    assert_eq!((status, out["walk_in"].clone()), (StatusCode::OK, json!(true)), "{out}");
    let (_, record) = api.get(&format!("/v1/sessions/{session}/attendance")).await;
    assert_eq!(
        record["answers"],
        json!({"asked": 4, "confirmed": 3, "confirmed_present": 2}),
        "{record}"
    );

    let figures = |report: &Value, code: &str| {
        ["confirmation_rate", "no_show_rate", "walk_in_share"].map(|metric| {
            let row = report_row(report, code, metric);
            (row["quarter_numerator"].as_i64(), row["quarter_denominator"].as_i64())
        })
    };
    let (status, report) = api.get("/v1/reports/quarterly?year=2026&quarter=4&org=24").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    // 3 of 4 asked confirmed; 1 of the 3 confirmed did not come; 1 walk-in of 4 citizens.
    let expected = [(Some(3), Some(4)), (Some(1), Some(3)), (Some(1), Some(4))];
    assert_eq!(figures(&report, "07201"), expected);
    // The province adds up its communes, and the ratio is 0.75.
    assert_eq!(figures(&report, "24"), expected);
    assert_eq!(
        report_row(&report, "07201", "confirmation_rate")["ytd_value"].as_f64(),
        Some(0.75)
    );

    // The attendance typed in after, without one of the confirmed: the figures follow.
    api.clock.set("2026-10-03T05:00:00Z");
    let list: Vec<Value> = [&ids[0], &ids[3], out["contact_id"].as_str().unwrap()]
        .iter()
        .map(|id| json!({"contact_id": id}))
        .collect();
    let (status, record) = api
        .put(
            &format!("/v1/sessions/{session}/attendance"),
            json!({"attendees": list}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["answers"]["confirmed_present"], 1);
    let (_, report) = api.get("/v1/reports/quarterly?year=2026&quarter=4&org=24").await;
    assert_eq!(
        figures(&report, "07201"),
        [(Some(3), Some(4)), (Some(2), Some(3)), (Some(1), Some(3))]
    );
}

#[tokio::test]
async fn the_links_of_an_email_that_asks_record_an_answer_only_when_posted_and_genuine() {
    use outreach_api::auth::SignedUnsubscribeLinks;
    let api = spawn().await;
    api.seed_units().await;
    let (status, contact) = api
        .post(
            "/v1/contacts",
            json!({"role": "citizen", "name": "Lê Thu", "commune_code": "07201", "phone": "0912345678",
                   "email": "thu@example.vn",
                   "consents": [{"channel": "email", "method": "web_form", "wording_version": "v1"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    let mut body = campaign_body("0 8 * * 6", json!(["07201"]));
    body["reminder_rules"][0]["channels"] = json!(["email"]);
    body["reminder_rules"][0]["asks_answer"] = json!(true);
    let (status, campaign) = api.post("/v1/campaigns", body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap();
    api.activate_and_plan(id).await;
    let due = t("2026-10-02T01:00:00Z");
    let links = SignedUnsubscribeLinks {
        auth: api.auth.clone(),
        base_url: api.base.clone(),
    };
    let dir = api.send_due(due, &links).await;
    let email = outreach_notify::Outbox::read_email(dir.path()).unwrap().remove(0);
    let link_after = |label: &str| -> String {
        let at = email
            .body_text
            .find(label)
            .unwrap_or_else(|| panic!("{label}: {}", email.body_text));
        let rest = &email.body_text[at + label.len()..];
        rest.split_whitespace()
            .next()
            .unwrap()
            .trim_start_matches(&api.base)
            .to_string()
    };
    let (coming, not_coming) = (link_after("Sẽ đến: "), link_after("Không đến: "));
    // A citizen's email also carries their check-in code.
    assert!(email.body_text.contains("/ui/den/ma?token="), "{}", email.body_text);
    assert!(coming.starts_with("/v1/inbound/answer?token="), "{coming}");
    let (_, sent) = api.get(&format!("/v1/deliveries?campaign={id}&status=sent")).await;
    let session = sent["items"][0]["session_id"].as_str().unwrap().to_string();
    let headcount = || async {
        let (_, h) = api.get(&format!("/v1/sessions/{session}/headcount")).await;
        h["citizens"].clone()
    };
    let html = |method: Method, path: String| {
        let api = &api;
        async move {
            let response = api
                .http
                .request(method, format!("{}{path}", api.base))
                .header("accept", "text/html")
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };

    api.clock.set("2026-10-02T06:00:00Z");
    // Opening the link (a mail scanner does) shows the session and a button; nothing is recorded.
    let (status, page) = html(Method::GET, coming.clone()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Tôi sẽ đến") && page.contains("08:00 ngày 03/10/2026"),
        "{page}"
    );
    assert_eq!(headcount().await["coming"], 0);
    // The button posts it.
    let (status, page) = html(Method::POST, coming.clone()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Đã ghi nhận"), "{page}");
    assert_eq!(
        headcount().await,
        json!({"asked": 1, "coming": 1, "not_coming": 0, "no_answer": 0})
    );
    // Changed their mind by the other link.
    api.clock.set("2026-10-02T07:00:00Z");
    let (status, out) = api.send(Method::POST, &not_coming, None, None).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["result"], "recorded");
    assert_eq!(headcount().await["not_coming"], 1);
    // A link altered in one character, or signed by another key, is refused and records nothing.
    let mut forged = coming.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (status, body) = api.send(Method::POST, &forged, None, None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, Some("token"), "not valid");
    let other = AuthConfig::hs256(b"another-secret-of-at-least-32-bytes!!", LOCAL_ISSUER).unwrap();
    let foreign = format!(
        "/v1/inbound/answer?token={}",
        other.mint_answer(
            &CampaignId::from(id),
            sent["items"][0]["id"].as_str().unwrap(),
            outreach_core::answer::Answer::Coming,
            Utc::now(),
        )
    );
    let (status, _) = html(Method::GET, foreign.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.send(Method::POST, &foreign, None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headcount().await["not_coming"], 1, "the forged link changed nothing");
    // Replayed after the session started: refused, the answer stays.
    api.clock.set("2026-10-03T01:30:00Z");
    let (status, page) = html(Method::POST, coming.clone()).await;
    assert!(
        status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
    assert!(!page.contains("Đã ghi nhận"), "{page}");
    assert_eq!(headcount().await["not_coming"], 1);
}
