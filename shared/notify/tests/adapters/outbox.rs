//! `Outbox`: JSON lines that tests and local runs read back.

use std::collections::HashSet;
use std::sync::Arc;

use outreach_core::notify::{EmailChannel, OutboundSms, SmsChannel};
use outreach_notify::{Outbox, OutboxAttachment};

use crate::support::{SUBJECT, reminder};

#[tokio::test]
async fn outbox_keeps_every_message_of_concurrent_senders_on_its_own_line() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Outbox::new(dir.path().join("nested/outbox")).unwrap());

    let mut tasks = Vec::new();
    for i in 0..40 {
        let outbox = outbox.clone();
        tasks.push(tokio::spawn(async move {
            let sms = OutboundSms {
                idempotency_key: None,
                to: format!("+849860{i:05}"),
                text: format!("Nhắc lịch {i}: {}", "hỗ trợ dịch vụ công ".repeat(50)),
            };
            let sms_id = outbox.send_sms(&sms).await.unwrap().message_id;
            let email_id = outbox
                .send_email(&reminder(&format!("user{i}@example.vn")))
                .await
                .unwrap()
                .message_id;
            (sms_id, email_id)
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }

    let sms = Outbox::read_sms(outbox.dir()).unwrap();
    let email = Outbox::read_email(outbox.dir()).unwrap();
    assert_eq!((sms.len(), email.len()), (40, 40));
    let sms_ids: HashSet<_> = sms.iter().map(|s| s.message_id.clone()).collect();
    let email_ids: HashSet<_> = email.iter().map(|e| e.message_id.clone()).collect();
    assert_eq!(sms_ids, ids.iter().map(|(s, _)| s.clone()).collect());
    assert_eq!(email_ids, ids.iter().map(|(_, e)| e.clone()).collect());
    assert!(
        sms_ids
            .iter()
            .all(|id| uuid::Uuid::parse_str(id).unwrap().get_version_num() == 7)
    );
    assert!(sms.iter().all(|s| s.unicode && s.text.starts_with("Nhắc lịch")));
    let first = &email[0];
    assert_eq!(first.subject, SUBJECT);
    assert!(
        first
            .unsubscribe_url
            .as_deref()
            .unwrap()
            .starts_with("https://outreach.example.vn/unsubscribe/")
    );
    assert_eq!(
        first.attachments,
        vec![OutboxAttachment {
            filename: "báo-cáo-quý.csv".into(),
            content_type: "text/csv; charset=utf-8".into(),
            size: crate::support::CSV.len(),
        }]
    );
}

#[tokio::test]
async fn outbox_lines_carry_rfc3339_instants_and_plain_fields() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::new(dir.path()).unwrap();
    outbox
        .send_sms(&OutboundSms {
            idempotency_key: None,
            to: "+84986000001".into(),
            text: "Nhac lich".into(),
        })
        .await
        .unwrap();

    let line = std::fs::read_to_string(dir.path().join("sms.jsonl")).unwrap();
    let json: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(json["to"], "+84986000001");
    assert_eq!(json["text"], "Nhac lich");
    assert_eq!(json["unicode"], false);
    chrono::DateTime::parse_from_rfc3339(json["at"].as_str().unwrap()).expect("an RFC 3339 instant");
    assert!(
        Outbox::read_email(dir.path()).unwrap().is_empty(),
        "no email file, no email"
    );
}
