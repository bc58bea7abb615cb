//! Email, SMS and Zalo ZNS messages written as JSON lines to a directory instead of being
//! sent: the local command's default, and what tests count deliveries from.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use outreach_core::contact::mask_email;
use outreach_core::notify::{
    ChannelError, EmailChannel, OutboundEmail, OutboundSms, OutboundZns, Sent, SmsChannel, ZnsChannel, ZnsError,
    ZnsNext,
};
use outreach_core::phone::mask_phone_digits;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::NotifyError;

const EMAIL_FILE: &str = "email.jsonl";
const SMS_FILE: &str = "sms.jsonl";
const ZNS_FILE: &str = "zns.jsonl";

/// One line of `email.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEmail {
    pub message_id: String,
    /// The sender's idempotency key (the delivery's id): a second message with it is not
    /// written, and answered with this one's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub at: DateTime<Utc>,
    pub to: String,
    pub subject: String,
    pub body_text: String,
    pub unsubscribe_url: Option<String>,
    pub attachments: Vec<OutboxAttachment>,
}

/// An attachment of an [`OutboxEmail`]: its name, type and size, not its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: usize,
}

/// One line of `sms.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxSms {
    pub message_id: String,
    /// As [`OutboxEmail::key`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub at: DateTime<Utc>,
    pub to: String,
    pub text: String,
    /// Whether the text needs UCS-2 (does not fit the GSM 7-bit alphabet).
    pub unicode: bool,
}

/// One line of `zns.jsonl`: the template message as Zalo would get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxZns {
    pub message_id: String,
    /// The delivery's id (ZNS's `tracking_id`), as [`OutboxEmail::key`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub at: DateTime<Utc>,
    /// The number as ZNS takes it: `84…`.
    pub to: String,
    pub template_id: String,
    pub template_data: std::collections::BTreeMap<String, String>,
}

/// Appends each email to `<dir>/email.jsonl` and each SMS to `<dir>/sms.jsonl`, one JSON
/// object a line, and answers with a fresh id (uuid v7). Never fails a message except when
/// the file cannot be written (then [`ChannelError::Transient`]).
///
/// Like a provider that takes an idempotency key, it drops a repeat: a message whose key is
/// in the file already (written by this process, or by any before it opened the file) is
/// not written again and is answered with the first one's id. A sender that died after the
/// outbox took a message and before recording it sends it again; the file keeps one.
///
/// Sends from many tasks at once are safe: writes of one outbox are serialised, and each
/// line is one append (`O_APPEND`), so lines of other writers to the same files do not
/// interleave either. The files hold addresses and numbers in clear: keep them out of git.
///
/// Each file is opened once and kept open; a file removed or replaced meanwhile (someone
/// cleared the outbox) is noticed before the next line and opened afresh.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    /// The open files; the lock also serialises the writes.
    files: Mutex<Vec<OpenFile>>,
}

/// A file of the outbox, open for appending, and which file it is (device and inode).
#[derive(Debug)]
struct OpenFile {
    name: &'static str,
    file: File,
    id: Option<(u64, u64)>,
    /// The idempotency keys in the file, with their message ids.
    keys: HashMap<String, String>,
}

/// What a line of either file says about its key.
#[derive(Deserialize)]
struct Keyed {
    message_id: String,
    #[serde(default)]
    key: Option<String>,
}

impl Outbox {
    /// An outbox writing into `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, NotifyError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| NotifyError::Outbox {
            path: dir.clone(),
            source,
        })?;
        Ok(Self {
            dir,
            files: Mutex::new(Vec::new()),
        })
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every email written to the outbox in `dir`, oldest first (none if there is no file).
    pub fn read_email(dir: impl AsRef<Path>) -> Result<Vec<OutboxEmail>, NotifyError> {
        read_lines(&dir.as_ref().join(EMAIL_FILE))
    }

    /// Every SMS written to the outbox in `dir`, oldest first (none if there is no file).
    pub fn read_sms(dir: impl AsRef<Path>) -> Result<Vec<OutboxSms>, NotifyError> {
        read_lines(&dir.as_ref().join(SMS_FILE))
    }

    /// Every ZNS message written to the outbox in `dir`, oldest first (none if there is no file).
    pub fn read_zns(dir: impl AsRef<Path>) -> Result<Vec<OutboxZns>, NotifyError> {
        read_lines(&dir.as_ref().join(ZNS_FILE))
    }

    /// Append one line unless `key` is in the file already; the message id of the line
    /// (this one's, or the earlier one's with the same key). The write is a single small
    /// append to a file already open (the page cache takes it in microseconds), so it runs
    /// in place rather than being handed to a blocking thread, which would cost more than
    /// the write itself.
    fn append<T: Serialize>(
        &self,
        name: &'static str,
        key: Option<&str>,
        message_id: &str,
        record: &T,
    ) -> Result<String, ChannelError> {
        let mut line = serde_json::to_vec(record).map_err(|e| ChannelError::Permanent(format!("outbox: {e}")))?;
        line.push(b'\n');
        let path = self.dir.join(name);
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        let written = (|| -> io::Result<String> {
            let open = files.iter().position(|f| f.name == name);
            let i = match open {
                Some(i) if files[i].id.is_some() && files[i].id == id_at(&path) => i,
                _ => {
                    if let Some(i) = open {
                        files.swap_remove(i);
                    }
                    // Recreated if someone cleared the outbox while we run.
                    fs::create_dir_all(&self.dir)?;
                    let file = OpenOptions::new().create(true).append(true).open(&path)?;
                    let id = file_id(&file.metadata()?);
                    let keys = keys_in(&path)?;
                    files.push(OpenFile { name, file, id, keys });
                    files.len() - 1
                }
            };
            if let Some(first) = key.and_then(|k| files[i].keys.get(k)) {
                return Ok(first.clone());
            }
            files[i].file.write_all(&line)?;
            if let Some(key) = key {
                files[i].keys.insert(key.to_string(), message_id.to_string());
            }
            Ok(message_id.to_string())
        })();
        if written.is_err() {
            // Open it afresh next time rather than trust a handle that failed.
            files.retain(|f| f.name != name);
        }
        written.map_err(|e| ChannelError::Transient(format!("outbox {}: {e}", self.dir.display())))
    }
}

/// The idempotency keys of the lines of `path`, with their message ids (a line cut short by
/// a crash, the last, is skipped).
fn keys_in(path: &Path) -> io::Result<HashMap<String, String>> {
    let text = fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<Keyed>(line).ok())
        .filter_map(|l| Some((l.key?, l.message_id)))
        .collect())
}

/// Which file is at `path` now, if any.
fn id_at(path: &Path) -> Option<(u64, u64)> {
    fs::metadata(path).ok().and_then(|m| file_id(&m))
}

/// Which file this is, to notice one removed or replaced since it was opened.
#[cfg(unix)]
fn file_id(meta: &fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// Elsewhere there is no cheap identity to compare: the file is opened for every line.
#[cfg(not(unix))]
fn file_id(_meta: &fs::Metadata) -> Option<(u64, u64)> {
    None
}

fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, NotifyError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(NotifyError::Outbox {
                path: path.to_owned(),
                source,
            });
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|source| NotifyError::OutboxLine {
                path: path.to_owned(),
                line: i + 1,
                source,
            })
        })
        .collect()
}

#[async_trait]
impl EmailChannel for Outbox {
    async fn send_email(&self, email: &OutboundEmail) -> Result<Sent, ChannelError> {
        let record = OutboxEmail {
            message_id: uuid::Uuid::now_v7().to_string(),
            key: email.idempotency_key.clone(),
            at: Utc::now(),
            to: email.to.clone(),
            subject: email.subject.clone(),
            body_text: email.body_text.clone(),
            unsubscribe_url: email.unsubscribe_url.clone(),
            attachments: email
                .attachments
                .iter()
                .map(|a| OutboxAttachment {
                    filename: a.filename.clone(),
                    content_type: a.content_type.clone(),
                    size: a.bytes.len(),
                })
                .collect(),
        };
        let message_id = self.append(EMAIL_FILE, record.key.as_deref(), &record.message_id, &record)?;
        if message_id == record.message_id {
            tracing::info!(channel = "email", provider = "outbox", to = %mask_email(&email.to),
                %message_id, "email written to the outbox");
        } else {
            tracing::info!(channel = "email", provider = "outbox", %message_id, "a repeat of an email in the outbox, not written");
        }
        Ok(Sent { message_id })
    }

    fn drops_repeats(&self) -> bool {
        true
    }
}

#[async_trait]
impl SmsChannel for Outbox {
    async fn send_sms(&self, sms: &OutboundSms) -> Result<Sent, ChannelError> {
        let record = OutboxSms {
            message_id: uuid::Uuid::now_v7().to_string(),
            key: sms.idempotency_key.clone(),
            at: Utc::now(),
            to: sms.to.clone(),
            text: sms.text.clone(),
            unicode: crate::needs_unicode(&sms.text),
        };
        let message_id = self.append(SMS_FILE, record.key.as_deref(), &record.message_id, &record)?;
        if message_id == record.message_id {
            tracing::info!(channel = "sms", provider = "outbox", to = %mask_phone_digits(&sms.to),
                %message_id, "sms written to the outbox");
        } else {
            tracing::info!(channel = "sms", provider = "outbox", %message_id, "a repeat of an sms in the outbox, not written");
        }
        Ok(Sent { message_id })
    }

    fn drops_repeats(&self) -> bool {
        true
    }
}

/// ZNS into `<dir>/zns.jsonl`, for a laptop without a Zalo OA. It takes every message, as
/// the outbox takes every SMS: what Zalo would refuse (a number without Zalo) is Zalo's to
/// say, and the adapter against a server speaking Zalo's protocol is tested for that.
#[async_trait]
impl ZnsChannel for Outbox {
    async fn send_zns(&self, zns: &OutboundZns) -> Result<Sent, ZnsError> {
        let record = OutboxZns {
            message_id: uuid::Uuid::now_v7().to_string(),
            key: Some(zns.tracking_id.clone()),
            at: Utc::now(),
            to: zns.phone.clone(),
            template_id: zns.template_id.clone(),
            template_data: zns.template_data.clone(),
        };
        // A file that cannot be written is a temporary failure; retries spent, SMS carries it.
        let message_id = self
            .append(ZNS_FILE, record.key.as_deref(), &record.message_id, &record)
            .map_err(|error| ZnsError {
                error,
                next: ZnsNext::FallBackToSms,
            })?;
        if message_id == record.message_id {
            tracing::info!(channel = "zns", provider = "outbox", to = %mask_phone_digits(&zns.phone),
                %message_id, "zns written to the outbox");
        } else {
            tracing::info!(channel = "zns", provider = "outbox", %message_id, "a repeat of a zns message in the outbox, not written");
        }
        Ok(Sent { message_id })
    }

    fn drops_repeats(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(i: usize) -> OutboundSms {
        OutboundSms {
            to: format!("+8491200000{i}"),
            text: format!("Nhac lich {i}"),
            idempotency_key: None,
        }
    }

    #[tokio::test]
    async fn a_zns_message_is_written_once_per_tracking_id() {
        let dir = tempfile::tempdir().unwrap();
        let zns = |phone: &str, tracking: &str| OutboundZns {
            phone: phone.into(),
            template_id: "246810".into(),
            template_data: [("ngay".to_string(), "05/12/2026".to_string())].into(),
            tracking_id: tracking.into(),
        };
        let outbox = Outbox::new(dir.path()).unwrap();
        let a = outbox.send_zns(&zns("84912000001", "dl_a|zns")).await.unwrap();
        // A sender that died after the send asks again: the same message, one line.
        let again = Outbox::new(dir.path()).unwrap();
        assert_eq!(again.send_zns(&zns("84912000001", "dl_a|zns")).await.unwrap(), a);
        let b = again.send_zns(&zns("84912000002", "dl_b|zns")).await.unwrap();
        assert_ne!(a, b);
        let lines = Outbox::read_zns(dir.path()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].message_id, a.message_id);
        assert_eq!(
            (lines[1].to.as_str(), lines[1].template_data["ngay"].as_str()),
            ("84912000002", "05/12/2026")
        );
        assert!(
            Outbox::read_sms(dir.path()).unwrap().is_empty(),
            "ZNS lines are not SMS"
        );
    }

    #[tokio::test]
    async fn a_message_with_a_key_already_written_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let keyed = |i: usize, key: &str| OutboundSms {
            idempotency_key: Some(key.to_string()),
            ..sms(i)
        };
        let first = Outbox::new(dir.path()).unwrap();
        let a = first.send_sms(&keyed(1, "dl_a")).await.unwrap();
        assert_eq!(first.send_sms(&keyed(1, "dl_a")).await.unwrap(), a);
        let b = first.send_sms(&keyed(2, "dl_b")).await.unwrap();
        assert_ne!(a, b);
        first.send_sms(&sms(3)).await.unwrap();
        first.send_sms(&sms(3)).await.unwrap();
        // Another process, after this one died: it reads the keys in the file.
        let later = Outbox::new(dir.path()).unwrap();
        assert_eq!(later.send_sms(&keyed(1, "dl_a")).await.unwrap(), a);
        let lines = Outbox::read_sms(dir.path()).unwrap();
        let keys: Vec<Option<&str>> = lines.iter().map(|l| l.key.as_deref()).collect();
        assert_eq!(
            keys,
            [Some("dl_a"), Some("dl_b"), None, None],
            "unkeyed messages are all written"
        );
    }

    #[tokio::test]
    async fn a_cleared_or_replaced_outbox_gets_the_next_line() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("outbox")).unwrap();
        outbox.send_sms(&sms(1)).await.unwrap();
        fs::remove_dir_all(outbox.dir()).unwrap();
        outbox.send_sms(&sms(2)).await.unwrap();
        let texts: Vec<String> = Outbox::read_sms(outbox.dir())
            .unwrap()
            .into_iter()
            .map(|s| s.text)
            .collect();
        assert_eq!(texts, vec!["Nhac lich 2"]);
        // Someone moves the file aside and starts a new one: lines go to the new one.
        fs::rename(outbox.dir().join(SMS_FILE), outbox.dir().join("old.jsonl")).unwrap();
        fs::write(outbox.dir().join(SMS_FILE), "").unwrap();
        outbox.send_sms(&sms(3)).await.unwrap();
        let texts: Vec<String> = Outbox::read_sms(outbox.dir())
            .unwrap()
            .into_iter()
            .map(|s| s.text)
            .collect();
        assert_eq!(texts, vec!["Nhac lich 3"]);
    }
}
