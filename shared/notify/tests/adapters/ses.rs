//! `SesEmail` against moto's SES v2. Moto keeps raw sends under `ses.RawMessage` in its
//! data.json: `{id, source, destinations, raw_data}`.

use outreach_core::notify::{ChannelError, EmailChannel, OutboundEmail};
use outreach_notify::{SesConfig, SesEmail};

use crate::support::{assert_is_reminder, aws, mailbox, moto_data, reminder, unique};

/// A sender identity moto will send from.
async fn verified_sender(sdk: &aws_config::SdkConfig) -> String {
    let from = format!("noreply-{}@doanthanhnien.example.org", unique());
    aws_sdk_sesv2::Client::new(sdk)
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .expect("moto creates the identity");
    from
}

#[tokio::test]
async fn ses_sends_raw_mime_with_one_click_unsubscribe_and_attachment() {
    let sdk = aws().await;
    let from = verified_sender(&sdk).await;
    let mut config = SesConfig::new(mailbox(&format!("Đoàn Thanh niên <{from}>")));
    config.configuration_set = Some("outreach-events".into());
    let ses = SesEmail::new(&sdk, config);
    let email = reminder(&format!("an.nguyen+{}@example.vn", unique()));

    let sent = ses.send_email(&email).await.expect("SES accepts the message");

    let data = moto_data().await;
    let raw = data["ses"]["RawMessage"]
        .as_array()
        .expect("ses.RawMessage in moto's data.json")
        .iter()
        .find(|m| m["id"] == sent.message_id.as_str())
        .unwrap_or_else(|| panic!("moto holds no raw message {}", sent.message_id));
    assert_eq!(raw["source"], from.as_str());
    let destinations = raw["destinations"].as_array().expect("destinations");
    assert!(destinations.iter().all(|d| d == email.to.as_str()), "{destinations:?}");
    let mime = raw["raw_data"].as_str().expect("raw_data");
    assert_is_reminder(mime.as_bytes(), &email);
    let parsed = mail_parser::MessageParser::default().parse(mime).expect("MIME");
    let sender = parsed.from().and_then(|a| a.first()).expect("a From header");
    assert_eq!(
        (sender.name(), sender.address()),
        (Some("Đoàn Thanh niên"), Some(from.as_str()))
    );
}

#[tokio::test]
async fn ses_without_a_link_sends_no_unsubscribe_headers() {
    let sdk = aws().await;
    let from = verified_sender(&sdk).await;
    let ses = SesEmail::new(&sdk, SesConfig::new(mailbox(&from)));
    let email = OutboundEmail {
        idempotency_key: None,
        to: format!("binh+{}@example.vn", unique()),
        subject: "Báo cáo quý".into(),
        body_text: "Kính gửi".into(),
        unsubscribe_url: None,
        attachments: vec![],
    };

    let sent = ses.send_email(&email).await.expect("SES accepts the message");

    let data = moto_data().await;
    let raw = data["ses"]["RawMessage"]
        .as_array()
        .expect("ses.RawMessage")
        .iter()
        .find(|m| m["id"] == sent.message_id.as_str())
        .expect("moto holds the message");
    let mime = raw["raw_data"].as_str().expect("raw_data");
    assert!(!mime.contains("List-Unsubscribe"), "{mime}");
    assert!(!mime.contains("multipart"), "{mime}");
}

#[tokio::test]
async fn ses_rejecting_an_unverified_sender_is_permanent() {
    let sdk = aws().await;
    let ses = SesEmail::new(
        &sdk,
        SesConfig::new(mailbox(&format!("nobody-{}@unverified.example.net", unique()))),
    );
    let to = format!("an.nguyen+{}@example.vn", unique());

    let err = ses
        .send_email(&reminder(&to))
        .await
        .expect_err("moto refuses the sender");

    let ChannelError::Permanent(message) = err else {
        panic!("expected a permanent failure, got {err:?}")
    };
    assert!(message.contains("MessageRejected"), "{message}");
    assert!(
        !message.contains("nobody-"),
        "the address leaks into the error: {message}"
    );
}

#[tokio::test]
async fn ses_unreachable_is_transient() {
    let sdk = aws().await;
    let dead = aws_sdk_sesv2::config::Builder::from(&sdk)
        .endpoint_url(format!("http://{}", crate::support::closed_port()))
        .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())
        .build();
    let ses = SesEmail::with_client(
        aws_sdk_sesv2::Client::from_conf(dead),
        SesConfig::new(mailbox("a@example.org")),
    );

    let err = ses
        .send_email(&reminder("an@example.vn"))
        .await
        .expect_err("nothing listens");

    assert!(matches!(err, ChannelError::Transient(_)), "{err:?}");
}
