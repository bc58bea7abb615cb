//! `HttpSmsGateway` against a gateway served by axum in the test: it records each request
//! and answers by the last digit of the recipient's number (0 → 200 with an id, 1 → 429,
//! 2 → 500, 3 → 400, 4 → 200 without an id, 5 → never).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use outreach_core::notify::{ChannelError, OutboundSms, SmsChannel};
use outreach_notify::{HttpSmsGateway, HttpSmsGatewayConfig};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<(HeaderMap, Value)>>>);

async fn gateway(State(recorded): State<Recorded>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    recorded.0.lock().unwrap().push((headers, body));
    match to.chars().last() {
        Some('0') => {
            Json(json!({"status": "queued", "message_id": "gw-1", "result": {"sms_id": 4711}})).into_response()
        }
        Some('1') => (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response(),
        Some('2') => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        Some('3') => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("invalid number {to}")})),
        )
            .into_response(),
        Some('4') => Json(json!({"status": "queued"})).into_response(),
        _ => std::future::pending().await,
    }
}

/// A running gateway, the requests it received, and an adapter pointed at it.
async fn start(configure: impl FnOnce(&mut HttpSmsGatewayConfig)) -> (HttpSmsGateway, Recorded) {
    let recorded = Recorded::default();
    let app = axum::Router::new()
        .route("/api/send", axum::routing::post(gateway))
        .with_state(recorded.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("http://{addr}/api/send").parse().unwrap();
    let mut config = HttpSmsGatewayConfig::new(url, "s3cret-key", "DOANTN");
    configure(&mut config);
    (HttpSmsGateway::new(config).expect("the client builds"), recorded)
}

fn sms(to: &str, text: &str) -> OutboundSms {
    OutboundSms {
        idempotency_key: None,
        to: to.into(),
        text: text.into(),
    }
}

#[tokio::test]
async fn gateway_gets_json_with_bearer_key_and_answers_an_id() {
    let (gateway, recorded) = start(|_| {}).await;

    let sent = gateway
        .send_sms(&sms(
            "+84986000010",
            "Nhac lich: ho tro dich vu cong 08:00 T7 tai UBND xa",
        ))
        .await
        .expect("200 is sent");
    let accented = gateway
        .send_sms(&sms("+84986000020", "Nhắc lịch: hỗ trợ dịch vụ công"))
        .await
        .expect("200 is sent");

    assert_eq!(
        (sent.message_id.as_str(), accented.message_id.as_str()),
        ("gw-1", "gw-1")
    );
    let recorded = recorded.0.lock().unwrap();
    let (headers, body) = &recorded[0];
    assert_eq!(headers["authorization"], "Bearer s3cret-key");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        body,
        &json!({"to": "+84986000010", "brandname": "DOANTN",
            "message": "Nhac lich: ho tro dich vu cong 08:00 T7 tai UBND xa", "unicode": false})
    );
    assert_eq!(recorded[1].1["unicode"], true);
    assert_eq!(recorded[1].1["message"], "Nhắc lịch: hỗ trợ dịch vụ công");
}

#[tokio::test]
async fn gateway_key_header_and_id_field_are_configurable() {
    let (gateway, recorded) = start(|c| {
        c.api_key_header = Some("X-Api-Key".into());
        c.id_field = "result.sms_id".into();
    })
    .await;

    let sent = gateway
        .send_sms(&sms("+84986000030", "Nhac lich"))
        .await
        .expect("200 is sent");

    assert_eq!(sent.message_id, "4711");
    let recorded = recorded.0.lock().unwrap();
    assert_eq!(recorded[0].0["x-api-key"], "s3cret-key");
    assert!(!recorded[0].0.contains_key("authorization"));
}

#[tokio::test]
async fn gateway_answer_without_an_id_is_still_sent() {
    let (gateway, _) = start(|_| {}).await;

    let sent = gateway
        .send_sms(&sms("+84986000004", "Nhac lich"))
        .await
        .expect("200 is sent");

    assert!(sent.message_id.starts_with("local-"), "{}", sent.message_id);
}

#[tokio::test]
async fn gateway_429_and_5xx_are_transient_other_4xx_permanent() {
    let (gateway, _) = start(|_| {}).await;

    let throttled = gateway.send_sms(&sms("+84986000001", "x")).await.unwrap_err();
    let broken = gateway.send_sms(&sms("+84986000002", "x")).await.unwrap_err();
    let refused = gateway.send_sms(&sms("+84986000003", "x")).await.unwrap_err();

    assert!(
        matches!(&throttled, ChannelError::Transient(m) if m.contains("429")),
        "{throttled:?}"
    );
    assert!(
        matches!(&broken, ChannelError::Transient(m) if m.contains("500")),
        "{broken:?}"
    );
    let ChannelError::Permanent(message) = &refused else {
        panic!("400 should be permanent: {refused:?}")
    };
    assert!(message.contains("400"), "{message}");
    assert!(
        !message.contains("986000003"),
        "the number leaks into the error: {message}"
    );
}

#[tokio::test]
async fn gateway_timeout_is_transient() {
    let (gateway, recorded) = start(|c| c.timeout = Duration::from_millis(300)).await;

    let err = gateway.send_sms(&sms("+84986000005", "x")).await.unwrap_err();

    assert!(
        matches!(&err, ChannelError::Transient(m) if m.contains("timed out")),
        "{err:?}"
    );
    assert_eq!(recorded.0.lock().unwrap().len(), 1, "the request reached the gateway");
}

#[tokio::test]
async fn gateway_unreachable_is_transient() {
    let url = format!("http://{}/api/send", crate::support::closed_port())
        .parse()
        .unwrap();
    let gateway = HttpSmsGateway::new(HttpSmsGatewayConfig::new(url, "k", "DOANTN")).unwrap();

    let err = gateway.send_sms(&sms("+84986000010", "x")).await.unwrap_err();

    assert!(matches!(err, ChannelError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn gateway_gets_the_same_request_id_on_every_attempt_at_one_delivery() {
    let (gateway, recorded) = start(|c| c.drops_repeats = true).await;
    let keyed = OutboundSms {
        idempotency_key: Some("ses_1|r1|ct_1|sms".into()),
        ..sms("+84986000010", "Nhac lich")
    };

    gateway.send_sms(&keyed).await.expect("200 is sent");
    gateway.send_sms(&keyed).await.expect("200 is sent");

    assert!(gateway.drops_repeats(), "configured so");
    let recorded = recorded.0.lock().unwrap();
    for (headers, body) in recorded.iter() {
        assert_eq!(body["request_id"], "ses_1|r1|ct_1|sms");
        assert_eq!(headers["idempotency-key"], "ses_1|r1|ct_1|sms");
    }
    assert_eq!(recorded.len(), 2);
}
