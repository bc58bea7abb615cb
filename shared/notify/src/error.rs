//! Errors of setting adapters up (sending reports `ChannelError`, enqueueing `CoreError`).

use std::fmt;
use std::path::PathBuf;

/// Why an adapter could not be configured or built, or an outbox not read.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A setting is missing or malformed; `var` names the environment variable (or the
    /// config field when the adapter was configured in code).
    #[error("{var}: {message}")]
    Config { var: &'static str, message: String },
    /// The outbox directory or one of its files could not be created, written or read.
    #[error("outbox {}: {source}", path.display())]
    Outbox {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of an outbox file is not the JSON it should be.
    #[error("outbox {} line {line}: {source}", path.display())]
    OutboxLine {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    /// The HTTP client of the SMS gateway could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The SMTP transport could not be built (TLS set-up).
    #[error("cannot set up SMTP: {0}")]
    Smtp(#[source] lettre::transport::smtp::Error),
}

impl NotifyError {
    pub(crate) fn config(var: &'static str, message: impl Into<String>) -> Self {
        Self::Config {
            var,
            message: message.into(),
        }
    }
}

/// A secret setting (a password, an API key): `Debug` shows `***`, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}
