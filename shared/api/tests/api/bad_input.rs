//! Bad and hostile input: always a 4xx naming the problem, never a server error.

use super::*;

#[tokio::test]
async fn bad_inputs_are_4xx_naming_the_problem() {
    let api = spawn().await;
    api.seed_units().await;
    let good = campaign_body("0 8 * * 6", json!(["213"]));
    let with = |path: &str, value: Value| {
        let mut body = good.clone();
        let (head, last) = path.rsplit_once('/').map_or(("", path), |(h, l)| (h, l));
        let mut target = &mut body;
        for key in head.split('/').filter(|k| !k.is_empty()) {
            target = &mut target[key];
        }
        target[last] = value;
        body
    };
    let cases: Vec<(&str, Value, StatusCode, Option<&str>, &str)> = vec![
        (
            "period ends before it starts",
            with("period/end", json!("2026-09-01")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("period.end"),
            "before it starts",
        ),
        (
            "bad cron",
            with("schedule/cron", json!("every saturday")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("schedule.cron"),
            "cron",
        ),
        (
            "cron hour 25",
            with("schedule/cron", json!("0 25 * * 6")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("schedule.cron"),
            "invalid cron",
        ),
        (
            "unknown zone",
            with("schedule/time_zone", json!("Mars/Olympus")),
            StatusCode::BAD_REQUEST,
            Some("schedule.time_zone"),
            "",
        ),
        (
            "capacity as text",
            with("capacity", json!("forty")),
            StatusCode::BAD_REQUEST,
            Some("capacity"),
            "invalid type",
        ),
        (
            "negative capacity",
            with("capacity", json!(-1)),
            StatusCode::BAD_REQUEST,
            Some("capacity"),
            "",
        ),
        (
            "zero capacity",
            with("capacity", json!(0)),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("capacity"),
            "between",
        ),
        (
            "unknown field",
            with("colour", json!("red")),
            StatusCode::BAD_REQUEST,
            None,
            "unknown field `colour`",
        ),
        (
            "unknown unit",
            with("target_units", json!(["00000"])),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("target_units"),
            "00000",
        ),
        (
            "no units",
            with("target_units", json!([])),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("target_units"),
            "at least one",
        ),
        (
            "no channel",
            with(
                "reminder_rules",
                json!([{"offset_minutes": 60, "audience": "all", "channels": []}]),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("reminder_rules[0].channels"),
            "channel",
        ),
        (
            "unknown channel",
            with(
                "reminder_rules",
                json!([{"offset_minutes": 60, "audience": "all", "channels": ["fax"]}]),
            ),
            StatusCode::BAD_REQUEST,
            Some("reminder_rules[0].channels[0]"),
            "fax",
        ),
        (
            "bad placeholder",
            with(
                "reminder_rules",
                json!([{"offset_minutes": 60, "audience": "all", "channels": ["sms"], "sms_template": "Hẹn {gio}"}]),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("reminder_rules[0].sms_template"),
            "{gio}",
        ),
        (
            "no session in period",
            with("schedule/cron", json!("0 0 8 1 1 * 2030")),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("schedule.cron"),
            "no session",
        ),
        (
            "name missing",
            {
                let mut b = good.clone();
                b.as_object_mut().unwrap().remove("name");
                b
            },
            StatusCode::BAD_REQUEST,
            None,
            "missing field `name`",
        ),
    ];
    for (what, body, status, field, says) in cases {
        let (got, answer) = api.post("/v1/campaigns", body).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_error(got, &answer, status, field, says);
    }

    let contact_cases = [
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "01662345678"}),
            Some("phone"),
            "036",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "12"}),
            Some("phone"),
            "not",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "+1 202 555 0143"}),
            Some("phone"),
            "Vietnamese",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "213", "phone": "0912345678"}),
            Some("commune_code"),
            "not a commune",
        ),
        (
            json!({"role": "citizen", "name": " ", "commune_code": "07201", "phone": "0912345678"}),
            Some("name"),
            "empty",
        ),
        (
            json!({"role": "citizen", "name": "A\u{0007}", "commune_code": "07201", "phone": "0912345678"}),
            Some("name"),
            "control",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "0912345678", "email": "a@b"}),
            Some("email"),
            "email",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": "0912345678",
                "consents": [{"channel": "email", "method": "web", "wording_version": "v1"}]}),
            Some("consents"),
            "email address",
        ),
        (
            json!({"role": "citizen", "name": "A", "commune_code": "07201", "phone": 912345678}),
            Some("phone"),
            "invalid type",
        ),
        (
            json!({"role": "king", "name": "A", "commune_code": "07201", "phone": "0912345678"}),
            Some("role"),
            "king",
        ),
    ];
    for (body, field, says) in contact_cases {
        let (status, answer) = api.post("/v1/contacts", body.clone()).await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert_error(status, &answer, status, field, says);
    }

    for (path, says) in [
        ("/v1/contacts?limit=0", "between 1 and 500"),
        ("/v1/contacts?limit=501", "between 1 and 500"),
        ("/v1/contacts?limit=ten", "invalid digit"),
        ("/v1/contacts?cursor=bm90LW91cnM", "cursor"),
        ("/v1/contacts?role=mayor", "mayor"),
        ("/v1/contacts?colour=red", "unknown field"),
        ("/v1/org-units?level=hamlet", "hamlet"),
        ("/v1/org-units/07201?on=yesterday", "input contains invalid characters"),
    ] {
        let (status, answer) = api.get(path).await;
        assert!(status.is_client_error(), "{path}: {status} {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(says),
            "{path}: {answer}"
        );
    }

    for (body, says) in [
        ("{\"name\": ", "malformed JSON"),
        ("[1, 2]", "invalid type"),
        ("", "empty"),
        ("null", "invalid type"),
    ] {
        let (status, answer) = api.post_raw("/v1/campaigns", "application/json", body).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, None, says);
    }
    let (status, answer) = api.post_raw("/v1/campaigns", "text/plain", "{}").await;
    assert_error(
        status,
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        None,
        "application/json",
    );
    let (status, answer) = api
        .post("/v1/schedule:preview", json!({"cron": "0 8 * * *", "count": 0}))
        .await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, Some("count"), "between");
    let (status, answer) = api.get("/v1/nothing-here").await;
    assert_error(status, &answer, StatusCode::NOT_FOUND, None, "no such route");
    let (status, answer) = api.send(Method::DELETE, "/v1/campaigns", None, Some(&api.token)).await;
    assert_error(status, &answer, StatusCode::METHOD_NOT_ALLOWED, None, "method");
    let huge = format!("[{}]", vec!["1"; 6_000_000].join(","));
    let (status, answer) = api.post_raw("/v1/org-units:import", "application/json", &huge).await;
    assert_error(status, &answer, StatusCode::PAYLOAD_TOO_LARGE, None, "larger than");
}

#[tokio::test]
async fn hostile_bodies_never_cause_a_server_error() {
    let api = spawn().await;
    api.seed_units().await;
    let bodies = [
        "{}",
        "[]",
        "\"\"",
        "0",
        "true",
        "{\"a\":",
        "\u{0}",
        "{\"name\": \"\u{202e}\"}",
        "{\"period\": {\"start\": \"9999-99-99\"}}",
        "{\"capacity\": 1e309}",
        "{\"target_units\": [null]}",
        "{\"schedule\": {\"cron\": \"* * * * * * * * *\"}}",
        "{\"role\": \"citizen\", \"name\": \"A\", \"commune_code\": \"07201\", \"phone\": \"+84999999999999999999999\"}",
    ];
    let paths = [
        "/v1/campaigns",
        "/v1/contacts",
        "/v1/schedule:preview",
        "/v1/org-units:import",
        "/v1/contacts:import",
        "/v1/contacts/x/consents",
        "/v1/contacts/x/opt-out",
        "/v1/campaigns/x:activate",
        "/v1/sessions/x:move",
    ];
    for path in paths {
        for body in bodies {
            for content_type in ["application/json", "text/csv"] {
                let (status, answer) = api.post_raw(path, content_type, body).await;
                assert!(status.is_client_error(), "{path} {body:?}: {status} {answer}");
            }
        }
    }
}
