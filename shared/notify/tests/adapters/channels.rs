//! `build_channels`: the adapters the configuration names, working.

use std::sync::Arc;

use outreach_core::notify::OutboundSms;
use outreach_notify::{
    ChannelConfig, EmailChannelConfig, Outbox, SesConfig, SmsChannelConfig, SnsConfig, build_channels,
};

use crate::support::{aws, mailbox, moto_data, reminder, unique};

#[tokio::test]
async fn outbox_config_builds_one_shared_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let config = ChannelConfig::outbox(dir.path());

    let (email, sms) = build_channels(&config, None).await.expect("the outbox builds");
    email.send_email(&reminder("an@example.vn")).await.unwrap();
    sms.send_sms(&OutboundSms {
        idempotency_key: None,
        to: "+84986000001".into(),
        text: "Nhac lich".into(),
    })
    .await
    .unwrap();

    assert_eq!(Outbox::read_email(dir.path()).unwrap().len(), 1);
    assert_eq!(Outbox::read_sms(dir.path()).unwrap().len(), 1);
    // One outbox serves both channels: the same allocation behind both trait objects.
    assert_eq!(Arc::as_ptr(&email) as *const u8, Arc::as_ptr(&sms) as *const u8);
}

#[tokio::test]
async fn aws_config_is_loaded_when_ses_and_sns_are_chosen() {
    let sdk = aws().await;
    let from = format!("noreply-{}@doanthanhnien.example.org", unique());
    aws_sdk_sesv2::Client::new(&sdk)
        .create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .expect("moto creates the identity");
    let config = ChannelConfig {
        email: EmailChannelConfig::Ses(SesConfig::new(mailbox(&from))),
        sms: SmsChannelConfig::Sns(SnsConfig::default()),
        zns: None,
    };

    // No SDK settings given: they are loaded from the environment.
    let (email, sms) = build_channels(&config, None).await.expect("the AWS adapters build");
    let mail = email.send_email(&reminder("an@example.vn")).await.expect("SES accepts");
    let text = sms
        .send_sms(&OutboundSms {
            idempotency_key: None,
            to: "+84986000002".into(),
            text: "Nhac lich".into(),
        })
        .await
        .expect("SNS accepts");

    let data = moto_data().await;
    assert!(
        data["ses"]["RawMessage"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == mail.message_id.as_str())
    );
    assert!(
        data["sns"]["SMS"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["message_id"] == text.message_id.as_str())
    );
}
