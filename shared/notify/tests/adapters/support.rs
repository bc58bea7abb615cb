//! What the tests share: the servers `./scripts/test` starts, and sample messages.

use aws_config::{BehaviorVersion, SdkConfig};
use outreach_core::notify::{Attachment, OutboundEmail};
use outreach_notify::Mailbox;

/// The value of `name`, or a failure that says how to get it.
pub fn require_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!("{name} is not set: run ./scripts/test, which starts the test servers and exports it"),
    }
}

/// AWS settings pointing at the local moto server, never at AWS.
pub async fn aws() -> SdkConfig {
    let endpoint = moto_url();
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "AWS_ENDPOINT_URL must point at a local moto server (run ./scripts/test, which starts moto); got {endpoint:?}"
    );
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// The moto server's base URL.
pub fn moto_url() -> String {
    require_env("AWS_ENDPOINT_URL").trim_end_matches('/').to_owned()
}

/// Everything moto holds, as `GET /moto-api/data.json` shows it.
pub async fn moto_data() -> serde_json::Value {
    let url = format!("{}/moto-api/data.json", moto_url());
    reqwest::get(&url)
        .await
        .expect("moto answers")
        .error_for_status()
        .expect("moto's data.json")
        .json()
        .await
        .expect("moto's data.json is JSON")
}

/// A fresh name for queues, identities and recipients, so tests never see each other's data.
pub fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

pub fn mailbox(s: &str) -> Mailbox {
    s.parse().expect("a valid mailbox")
}

pub const SUBJECT: &str = "Nhắc lịch: buổi hỗ trợ dịch vụ công trực tuyến";
pub const BODY: &str = "Xin chào Nguyễn Văn An,\n\nĐội tình nguyện xã Tân Mỹ hỗ trợ nộp hồ sơ trên \
dichvucong.bacgiang.gov.vn lúc 08:00 thứ Bảy. Mang theo căn cước công dân và điện thoại.\n";
pub const CSV: &[u8] = "xã,hồ sơ\nTân Mỹ,12\n".as_bytes();

/// A reminder with an unsubscribe link and a CSV attachment, to `to`.
pub fn reminder(to: &str) -> OutboundEmail {
    OutboundEmail {
        idempotency_key: None,
        to: to.to_owned(),
        subject: SUBJECT.to_owned(),
        body_text: BODY.to_owned(),
        unsubscribe_url: Some(format!("https://outreach.example.vn/unsubscribe/{}", unique())),
        attachments: vec![Attachment {
            filename: "báo-cáo-quý.csv".to_owned(),
            content_type: "text/csv; charset=utf-8".to_owned(),
            bytes: CSV.to_vec(),
        }],
    }
}

/// Check a delivered MIME message against [`reminder`]: headers, body and attachment intact.
pub fn assert_is_reminder(raw: &[u8], email: &OutboundEmail) {
    use mail_parser::{MessageParser, MimeHeaders};

    let text = String::from_utf8_lossy(raw);
    let message = MessageParser::default().parse(raw).expect("a MIME message");
    assert_eq!(message.subject(), Some(SUBJECT), "{text}");
    let to = message.to().and_then(|a| a.first()).and_then(|a| a.address());
    assert_eq!(to, Some(email.to.as_str()), "{text}");
    assert_eq!(
        message
            .body_text(0)
            .as_deref()
            .map(|b| b.replace("\r\n", "\n"))
            .as_deref(),
        Some(BODY),
        "{text}"
    );
    let url = email.unsubscribe_url.as_deref().expect("the reminder has a link");
    assert_eq!(
        message.header_raw("List-Unsubscribe").map(str::trim),
        Some(format!("<{url}>").as_str()),
        "{text}"
    );
    assert_eq!(
        message.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click"),
        "{text}"
    );
    let attachments: Vec<_> = message.attachments().collect();
    assert_eq!(attachments.len(), 1, "{text}");
    assert_eq!(attachments[0].attachment_name(), Some("báo-cáo-quý.csv"), "{text}");
    assert_eq!(attachments[0].contents(), CSV, "{text}");
}

/// `127.0.0.1:<port>` where nothing listens (a port just freed).
pub fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("its address");
    drop(listener);
    addr.to_string()
}
