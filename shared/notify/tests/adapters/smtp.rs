//! `SmtpEmail` against an aiosmtpd server writing what it receives to a Maildir.

use std::path::PathBuf;
use std::time::Duration;

use outreach_core::notify::{ChannelError, EmailChannel};
use outreach_notify::{SmtpConfig, SmtpEmail};

use crate::support::{assert_is_reminder, closed_port, mailbox, reminder, require_env, unique};

fn smtp(addr: &str) -> SmtpEmail {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let config = SmtpConfig::new(
        host,
        port.parse().expect("a port"),
        mailbox("Đoàn Thanh niên <noreply@doanthanhnien.example.org>"),
    );
    SmtpEmail::new(config).expect("the transport builds")
}

/// The raw message in the Maildir whose `Message-ID` is `message_id`. aiosmtpd writes
/// before it answers 250, so the message is there when the send returns.
fn delivered(message_id: &str) -> Vec<u8> {
    let new = PathBuf::from(require_env("OUTREACH_TEST_MAILDIR")).join("new");
    let needle = format!("Message-ID: {message_id}");
    std::fs::read_dir(&new)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", new.display()))
        .map(|entry| std::fs::read(entry.expect("a Maildir entry").path()).expect("a readable message"))
        .find(|raw| String::from_utf8_lossy(raw).lines().any(|l| l.trim_end() == needle))
        .unwrap_or_else(|| panic!("no message {message_id} in {}", new.display()))
}

#[tokio::test]
async fn smtp_delivers_vietnamese_text_unsubscribe_headers_and_attachment() {
    let smtp = smtp(&require_env("OUTREACH_TEST_SMTP"));
    let email = reminder(&format!("an.nguyen+{}@example.vn", unique()));

    let sent = smtp
        .send_email(&email)
        .await
        .expect("the SMTP server accepts the message");

    assert!(sent.message_id.starts_with('<') && sent.message_id.ends_with("@doanthanhnien.example.org>"));
    let raw = delivered(&sent.message_id);
    assert_is_reminder(&raw, &email);
    let message = mail_parser::MessageParser::default().parse(&raw[..]).expect("MIME");
    let from = message.from().and_then(|a| a.first()).expect("a From header");
    assert_eq!(
        (from.name(), from.address()),
        (Some("Đoàn Thanh niên"), Some("noreply@doanthanhnien.example.org"))
    );
}

#[tokio::test]
async fn smtp_without_a_link_sends_no_unsubscribe_headers() {
    let smtp = smtp(&require_env("OUTREACH_TEST_SMTP"));
    let mut email = reminder(&format!("binh+{}@example.vn", unique()));
    email.unsubscribe_url = None;
    email.attachments.clear();

    let sent = smtp
        .send_email(&email)
        .await
        .expect("the SMTP server accepts the message");

    let raw = String::from_utf8(delivered(&sent.message_id)).expect("7-bit MIME");
    assert!(!raw.contains("List-Unsubscribe"), "{raw}");
    assert!(!raw.contains("multipart"), "{raw}");
}

#[tokio::test]
async fn smtp_unreachable_is_transient() {
    let mut config = SmtpConfig::new("127.0.0.1", 25, mailbox("noreply@example.org"));
    config.port = closed_port().rsplit_once(':').unwrap().1.parse().unwrap();
    config.timeout = Duration::from_secs(2);
    let smtp = SmtpEmail::new(config).unwrap();

    let err = smtp
        .send_email(&reminder("an@example.vn"))
        .await
        .expect_err("nothing listens");

    assert!(matches!(err, ChannelError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn smtp_invalid_recipient_is_permanent() {
    let smtp = smtp(&closed_port());

    let err = smtp
        .send_email(&reminder("not an address"))
        .await
        .expect_err("no valid recipient");

    assert!(matches!(err, ChannelError::Permanent(_)), "{err:?}");
}

#[tokio::test]
async fn smtp_requiring_starttls_of_a_server_without_it_fails_without_sending() {
    let addr = require_env("OUTREACH_TEST_SMTP");
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let mut config = SmtpConfig::new(host, port.parse().expect("a port"), mailbox("noreply@example.org"));
    config.starttls = true;
    let smtp = SmtpEmail::new(config).expect("the TLS settings build");

    let err = smtp
        .send_email(&reminder("an@example.vn"))
        .await
        .expect_err("the test server offers no STARTTLS");

    // Refused by our side before any mail command: the message never left in clear.
    assert!(
        matches!(&err, ChannelError::Permanent(m) if m.contains("STARTTLS")),
        "{err:?}"
    );
}
