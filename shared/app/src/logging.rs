//! Log output with phone numbers and email addresses masked: every binary's subscriber
//! writes through [`Redacted`], which passes each formatted line through
//! [`outreach_core::privacy::redact`] before it reaches stdout or stderr.
//!
//! `redacted_stdout` and `redacted_stderr` are `tracing_subscriber::fmt::MakeWriter`s (a
//! function returning an `io::Write` is one), so a Lambda function keeps the runtime's
//! subscriber and its JSON or plain format:
//! `lambda_runtime::tracing::init_default_subscriber_with_writer(outreach_app::logging::redacted_stdout)`.

use std::io::{self, Write};

use outreach_core::privacy::redact;

/// A writer that holds what it is given until a line is complete, then writes the line
/// with its phone numbers and email addresses masked. What is left when it is dropped (the
/// subscriber makes one writer per event) is written then.
#[derive(Debug)]
pub struct Redacted<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Redacted<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        // Lines are cut at `\n`, so a UTF-8 sequence is never split here.
        let text = String::from_utf8_lossy(bytes);
        self.inner.write_all(redact(&text).as_bytes())
    }
}

impl<W: Write> Write for Redacted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            let rest = self.pending.split_off(last + 1);
            let lines = std::mem::replace(&mut self.pending, rest);
            self.emit(&lines)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Redacted<W> {
    fn drop(&mut self) {
        // Nowhere to report a failed log write.
        let _ = self.flush();
    }
}

/// Standard output, masked: the Lambda functions' log stream.
pub fn redacted_stdout() -> Redacted<io::Stdout> {
    Redacted::new(io::stdout())
}

/// Standard error, masked: the local command's log stream.
pub fn redacted_stderr() -> Redacted<io::Stderr> {
    Redacted::new(io::stderr())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a buffer the test keeps.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn a_line_written_in_pieces_is_masked_whole() {
        let captured = Captured::default();
        {
            let mut w = Redacted::new(captured.clone());
            w.write_all(b"contact registered phone=0912 3").unwrap();
            w.write_all(b"45 678 email=an.ngu").unwrap();
            w.write_all(b"yen@example.vn\nnext line +8491234").unwrap();
            w.write_all(b"5678").unwrap();
        }
        assert_eq!(
            captured.text(),
            "contact registered phone=091*******78 email=a***@***.vn\nnext line +84*******78"
        );
    }

    #[test]
    fn tracing_events_are_masked_through_colours_and_escapes() {
        let captured = Captured::default();
        let writer = {
            let captured = captured.clone();
            move || Redacted::new(captured.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(true)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(phone = "+84 912 345 678", to = "an.nguyen@example.vn", "reminder sent");
            tracing::warn!("provider said: {:?}", "bad number\n0358100001");
            tracing::info!(
                session_id = "ses_abc123",
                unit = "07201",
                at = "2026-10-01T07:00:00+07:00",
                "kept"
            );
        });
        let text = captured.text();
        for raw in ["912 345 678", "an.nguyen", "0358100001"] {
            assert!(!text.contains(raw), "{raw} in {text}");
        }
        assert!(text.contains("+84**********78"), "{text}");
        assert!(text.contains("a***@***.vn"), "{text}");
        assert!(text.contains("ses_abc123") && text.contains("07201") && text.contains("2026-10-01T07:00:00+07:00"));
    }
}
