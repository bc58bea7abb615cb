//! Email over SMTP (lettre): plain to a local server, or with STARTTLS to a relay.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use outreach_core::contact::mask_email;
use outreach_core::notify::{ChannelError, EmailChannel, OutboundEmail, Sent};

use crate::error::{NotifyError, Secret};
use crate::mime::build_message;
use crate::redact::redact;

/// A user name and password for SMTP AUTH.
#[derive(Debug, Clone)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: Secret,
}

/// Settings of [`SmtpEmail`].
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// The server's host name (also the name its TLS certificate must carry).
    pub host: String,
    pub port: u16,
    /// Upgrade the connection with STARTTLS (required, never opportunistic); plain SMTP otherwise.
    pub starttls: bool,
    /// SMTP AUTH, if the server wants it.
    pub credentials: Option<SmtpCredentials>,
    /// The sender (`Đoàn Thanh niên <noreply@example.org>`).
    pub from: Mailbox,
    /// Timeout of each SMTP command of a send (default 10 s).
    pub timeout: Duration,
}

impl SmtpConfig {
    /// Plain SMTP to `host:port` without authentication, with the default timeout.
    pub fn new(host: impl Into<String>, port: u16, from: Mailbox) -> Self {
        Self {
            host: host.into(),
            port,
            starttls: false,
            credentials: None,
            from,
            timeout: crate::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends email over SMTP: one connection per message (no pool), the same MIME message as
/// [`SesEmail`](crate::SesEmail). The message id is the `Message-ID` header written
/// (`<uuid@sender-domain>`, angle brackets included).
///
/// A 5xx reply or a message that cannot be built is [`ChannelError::Permanent`]; a 4xx reply,
/// a timeout, a refused connection or a failed TLS handshake is [`ChannelError::Transient`].
#[derive(Clone)]
pub struct SmtpEmail {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpEmail")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl SmtpEmail {
    /// Build the transport once; nothing connects until the first send.
    pub fn new(config: SmtpConfig) -> Result<Self, NotifyError> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
            .port(config.port)
            .timeout(Some(config.timeout));
        if config.starttls {
            let tls = TlsParameters::new(config.host.clone()).map_err(NotifyError::Smtp)?;
            builder = builder.tls(Tls::Required(tls));
        }
        if let Some(c) = &config.credentials {
            builder = builder.credentials(Credentials::new(c.username.clone(), c.password.expose().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            from: config.from,
        })
    }
}

fn classify(e: &lettre::transport::smtp::Error) -> ChannelError {
    let text = format!("SMTP: {}", redact(&e.to_string()));
    if e.is_permanent() || e.is_client() {
        ChannelError::Permanent(text)
    } else {
        ChannelError::Transient(text)
    }
}

#[async_trait]
impl EmailChannel for SmtpEmail {
    async fn send_email(&self, email: &OutboundEmail) -> Result<Sent, ChannelError> {
        let to = mask_email(&email.to);
        let mime = build_message(&self.from, email)?;
        match self.transport.send(mime.message).await {
            Ok(response) => {
                tracing::info!(channel = "email", provider = "smtp", to = %to, message_id = %mime.message_id,
                    smtp.code = %response.code(), "email sent");
                Ok(Sent {
                    message_id: mime.message_id,
                })
            }
            Err(e) => {
                let error = classify(&e);
                tracing::warn!(channel = "email", provider = "smtp", to = %to, error.message = %error, "email not sent");
                Err(error)
            }
        }
    }
}
