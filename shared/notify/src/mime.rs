//! The MIME message both email adapters send: SES as raw content, SMTP as is.

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use outreach_core::notify::{Attachment as CoreAttachment, ChannelError, OutboundEmail};

const LIST_UNSUBSCRIBE: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe");
const LIST_UNSUBSCRIBE_POST: HeaderName = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");

/// A built message and the Message-ID it carries (`<…@domain>`).
pub(crate) struct Mime {
    pub message: Message,
    pub message_id: String,
}

/// Build the message from `from` to `email.to`: a UTF-8 plain-text body, attachments as
/// `multipart/mixed`, a fresh Message-ID, and the one-click unsubscribe headers of RFC 8058
/// when the email has an unsubscribe link.
pub(crate) fn build_message(from: &Mailbox, email: &OutboundEmail) -> Result<Mime, ChannelError> {
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|_| ChannelError::Permanent("the recipient is not a valid email address".into()))?;
    let message_id = format!("<{}@{}>", uuid::Uuid::now_v7().simple(), from.email.domain());
    // A line break in a header would let the text forge other headers.
    let subject = email.subject.replace(['\r', '\n'], " ");
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(message_id.clone()));
    if let Some(url) = &email.unsubscribe_url {
        if url.is_empty() || !url.chars().all(|c| c.is_ascii_graphic() && c != '<' && c != '>') {
            return Err(ChannelError::Permanent(
                "the unsubscribe link is not a plain ASCII URL".into(),
            ));
        }
        builder = builder
            .raw_header(HeaderValue::new(LIST_UNSUBSCRIBE, format!("<{url}>")))
            .raw_header(HeaderValue::new(
                LIST_UNSUBSCRIBE_POST,
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    let text = SinglePart::plain(email.body_text.clone());
    let built = if email.attachments.is_empty() {
        builder.singlepart(text)
    } else {
        let mut parts = MultiPart::mixed().singlepart(text);
        for a in &email.attachments {
            parts = parts.singlepart(Attachment::new(a.filename.clone()).body(a.bytes.clone(), content_type(a)?));
        }
        builder.multipart(parts)
    };
    let message = built.map_err(|e| ChannelError::Permanent(format!("cannot build the message: {e}")))?;
    Ok(Mime { message, message_id })
}

/// The attachment's content type, or `application/octet-stream` when it is not a MIME type.
fn content_type(a: &CoreAttachment) -> Result<ContentType, ChannelError> {
    if let Ok(content_type) = ContentType::parse(&a.content_type) {
        return Ok(content_type);
    }
    tracing::warn!(filename = %a.filename, content_type = %a.content_type,
        "attachment content type is not a MIME type; sending it as application/octet-stream");
    ContentType::parse("application/octet-stream").map_err(|e| ChannelError::Permanent(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> OutboundEmail {
        OutboundEmail {
            idempotency_key: None,
            to: "an.nguyen@example.vn".into(),
            subject: "Nhắc lịch buổi hỗ trợ".into(),
            body_text: "Xin chào".into(),
            unsubscribe_url: Some("https://outreach.example.vn/u/abc".into()),
            attachments: vec![],
        }
    }

    fn from() -> Mailbox {
        "Đoàn Thanh niên <noreply@example.org>".parse().unwrap()
    }

    #[test]
    fn carries_one_click_unsubscribe_headers() {
        let mime = build_message(&from(), &email()).unwrap();
        let raw = String::from_utf8(mime.message.formatted()).unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <https://outreach.example.vn/u/abc>\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"),
            "{raw}"
        );
        assert!(raw.contains(&format!("Message-ID: {}\r\n", mime.message_id)), "{raw}");
        assert!(mime.message_id.ends_with("@example.org>"));
    }

    #[test]
    fn no_link_no_unsubscribe_headers() {
        let mut e = email();
        e.unsubscribe_url = None;
        let raw = String::from_utf8(build_message(&from(), &e).unwrap().message.formatted()).unwrap();
        assert!(!raw.contains("List-Unsubscribe"));
    }

    #[test]
    fn attachments_make_a_multipart_message() {
        let mut e = email();
        e.attachments.push(CoreAttachment {
            filename: "bao-cao.csv".into(),
            content_type: "text/csv".into(),
            bytes: b"a,b\n1,2\n".to_vec(),
        });
        let raw = String::from_utf8(build_message(&from(), &e).unwrap().message.formatted()).unwrap();
        assert!(raw.contains("multipart/mixed"), "{raw}");
        assert!(raw.contains("bao-cao.csv"), "{raw}");
    }

    #[test]
    fn bad_recipient_or_link_is_permanent() {
        let mut e = email();
        e.to = "not an address".into();
        assert!(matches!(build_message(&from(), &e), Err(ChannelError::Permanent(_))));
        let mut e = email();
        e.unsubscribe_url = Some("https://x/u>\r\nBcc: someone@example.org".into());
        assert!(matches!(build_message(&from(), &e), Err(ChannelError::Permanent(_))));
    }
}
