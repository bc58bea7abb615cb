//! `SnsSms` against moto's SNS. Moto keeps SMS under `sns.SMS` in its data.json:
//! `{message_id, phone_number, message}` (it drops the message attributes).

use outreach_core::notify::{OutboundSms, SmsChannel};
use outreach_notify::{SnsConfig, SnsSms};

use crate::support::{aws, moto_data};

fn phone() -> String {
    // A fresh 9-digit Viettel-like subscriber number, so runs never collide.
    let n = uuid::Uuid::now_v7().as_u128() % 1_000_000;
    format!("+84986{n:06}")
}

#[tokio::test]
async fn sns_publishes_to_the_phone_number() {
    let sdk = aws().await;
    let sns = SnsSms::new(
        &sdk,
        SnsConfig {
            sender_id: Some("DOANTN".into()),
            ..SnsConfig::default()
        },
    );
    let sms = OutboundSms {
        idempotency_key: None,
        to: phone(),
        text: "Nhắc lịch: hỗ trợ dịch vụ công 08:00 T7 tại UBND xã. Mang CCCD.".into(),
    };

    let sent = sns.send_sms(&sms).await.expect("SNS accepts the SMS");

    let data = moto_data().await;
    let published = data["sns"]["SMS"]
        .as_array()
        .expect("sns.SMS in moto's data.json")
        .iter()
        .find(|m| m["message_id"] == sent.message_id.as_str())
        .unwrap_or_else(|| panic!("moto holds no SMS {}", sent.message_id));
    assert_eq!(published["phone_number"], sms.to.as_str());
    assert_eq!(published["message"], sms.text.as_str());
}

#[tokio::test]
async fn sns_without_sender_id_publishes_too() {
    let sdk = aws().await;
    let sns = SnsSms::new(&sdk, SnsConfig::default());
    let sms = OutboundSms {
        idempotency_key: None,
        to: phone(),
        text: "Nhac lich: ho tro dich vu cong 08:00 T7".into(),
    };

    let sent = sns.send_sms(&sms).await.expect("SNS accepts the SMS");

    let data = moto_data().await;
    let found = data["sns"]["SMS"]
        .as_array()
        .expect("sns.SMS")
        .iter()
        .any(|m| m["message_id"] == sent.message_id.as_str() && m["phone_number"] == sms.to.as_str());
    assert!(found, "moto holds no SMS {}", sent.message_id);
}

#[tokio::test]
async fn sns_refuses_a_number_not_in_e164_permanently() {
    let sdk = aws().await;
    let sns = SnsSms::new(&sdk, SnsConfig::default());
    let sms = OutboundSms {
        idempotency_key: None,
        to: "0912 345 678".into(),
        text: "Nhac lich".into(),
    };

    let err = sns.send_sms(&sms).await.expect_err("moto wants E.164");

    let outreach_core::notify::ChannelError::Permanent(message) = err else {
        panic!("expected a permanent failure, got {err:?}")
    };
    assert!(message.contains("InvalidParameter"), "{message}");
}

/// Moto drops message attributes, so this test reads them off the wire: an HTTP server of
/// its own stands in for the SNS endpoint, records the Publish request and answers as SNS.
#[tokio::test]
async fn sns_marks_sms_transactional_with_the_sender_id() {
    use std::sync::{Arc, Mutex};

    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = bodies.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| async move {
            recorded.lock().unwrap().push(body);
            (
                [("content-type", "text/xml")],
                "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><PublishResult>\
                 <MessageId>wire-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId>\
                 </ResponseMetadata></PublishResponse>",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("ap-southeast-1"))
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(format!("http://{addr}"))
        .load()
        .await;
    let sns = SnsSms::new(
        &sdk,
        SnsConfig {
            sender_id: Some("DOANTN".into()),
            ..SnsConfig::default()
        },
    );

    let sent = sns
        .send_sms(&OutboundSms {
            idempotency_key: None,
            to: "+84986000001".into(),
            text: "Nhac lich".into(),
        })
        .await
        .expect("the stand-in answers as SNS");

    assert_eq!(sent.message_id, "wire-1");
    let bodies = bodies.lock().unwrap();
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(bodies[0].as_bytes()).into_owned().collect();
    let attribute = |name: &str| {
        let n = (1..=form.len())
            .find(|n| {
                form.get(&format!("MessageAttributes.entry.{n}.Name"))
                    .map(String::as_str)
                    == Some(name)
            })
            .unwrap_or_else(|| panic!("no attribute {name} in {form:?}"));
        let get = |k: &str| form[&format!("MessageAttributes.entry.{n}.Value.{k}")].clone();
        (get("DataType"), get("StringValue"))
    };
    assert_eq!(form["Action"], "Publish");
    assert_eq!(form["PhoneNumber"], "+84986000001");
    assert_eq!(
        attribute("AWS.SNS.SMS.SMSType"),
        ("String".into(), "Transactional".into())
    );
    assert_eq!(attribute("AWS.SNS.SMS.SenderID"), ("String".into(), "DOANTN".into()));
}
