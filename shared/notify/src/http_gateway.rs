//! SMS through an HTTP gateway speaking JSON, as Vietnamese brandname SMS aggregators do.

use std::time::Duration;

use async_trait::async_trait;
use outreach_core::notify::{ChannelError, OutboundSms, Sent, SmsChannel};
use outreach_core::phone::mask_phone_digits;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Serialize;

use crate::error::{NotifyError, Secret};
use crate::redact::redact;

/// Settings of [`HttpSmsGateway`].
#[derive(Debug, Clone)]
pub struct HttpSmsGatewayConfig {
    /// Where to POST (`https://sms.example.vn/api/send`).
    pub url: Url,
    /// The API key.
    pub api_key: Secret,
    /// The header carrying the key: `None` sends `Authorization: Bearer <key>`,
    /// `Some(name)` sends `<name>: <key>`.
    pub api_key_header: Option<String>,
    /// The registered brandname the SMS is sent under.
    pub brandname: String,
    /// The field of the answer's JSON holding the message id (default `message_id`); dots
    /// reach into objects (`data.id`).
    pub id_field: String,
    /// Whether the gateway drops a second request with the same `request_id` (so a sender
    /// may ask again after a crash without sending twice). Default false: say so only when
    /// the gateway's contract promises it.
    pub drops_repeats: bool,
    /// Timeout of one request, connection included (default 10 s).
    pub timeout: Duration,
}

impl HttpSmsGatewayConfig {
    /// Settings with the default key header, id field and timeout.
    pub fn new(url: Url, api_key: impl Into<Secret>, brandname: impl Into<String>) -> Self {
        Self {
            url,
            api_key: api_key.into(),
            api_key_header: None,
            brandname: brandname.into(),
            id_field: "message_id".into(),
            drops_repeats: false,
            timeout: crate::DEFAULT_TIMEOUT,
        }
    }
}

/// Sends SMS by POSTing JSON to an HTTP gateway:
///
/// ```text
/// POST <url>
/// Authorization: Bearer <api key>          (or <api_key_header>: <api key>)
/// Idempotency-Key: <delivery id>                (when the message has one)
/// {"to": "+84912345678", "brandname": "DOANTN", "message": "...", "unicode": false,
///  "request_id": "<delivery id>"}
/// ```
///
/// `request_id` (and the `Idempotency-Key` header) is the same on every attempt at one
/// delivery, so a gateway that rejects or drops a repeated request id never sends twice;
/// set [`HttpSmsGatewayConfig::drops_repeats`] when it does.
///
/// `unicode` is true when the text does not fit the GSM 7-bit alphabet (accented
/// Vietnamese). The answer maps to the result as follows:
///
/// | answer | result |
/// |---|---|
/// | 2xx | `Sent`, with the id read from the JSON field `id_field` (`message_id` by default); without one, a local id `local-<uuid>` |
/// | 429, 408, 5xx | `ChannelError::Transient` |
/// | any other 4xx (and anything else) | `ChannelError::Permanent` |
/// | timeout (default 10 s), refused connection, broken transfer | `ChannelError::Transient` |
#[derive(Debug, Clone)]
pub struct HttpSmsGateway {
    client: reqwest::Client,
    url: Url,
    auth: (HeaderName, HeaderValue),
    brandname: String,
    id_field: String,
    drops_repeats: bool,
}

#[derive(Serialize)]
struct GatewayRequest<'a> {
    to: &'a str,
    brandname: &'a str,
    message: &'a str,
    unicode: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

impl HttpSmsGateway {
    /// Build the HTTP client once.
    pub fn new(config: HttpSmsGatewayConfig) -> Result<Self, NotifyError> {
        let (name, value) = match &config.api_key_header {
            None => (AUTHORIZATION, format!("Bearer {}", config.api_key.expose())),
            Some(name) => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| NotifyError::config("api_key_header", "not a valid HTTP header name"))?;
                (name, config.api_key.expose().to_owned())
            }
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| NotifyError::config("api_key", "not a valid HTTP header value"))?;
        value.set_sensitive(true);
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(NotifyError::HttpClient)?;
        Ok(Self {
            client,
            url: config.url,
            auth: (name, value),
            brandname: config.brandname,
            id_field: config.id_field,
            drops_repeats: config.drops_repeats,
        })
    }

    fn message_id(&self, body: &[u8]) -> String {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = json
            .as_ref()
            .and_then(|json| self.id_field.split('.').try_fold(json, |value, key| value.get(key)));
        match field {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => crate::unknown_message_id("the SMS gateway answered without a message id"),
        }
    }
}

fn transport_error(e: &reqwest::Error) -> ChannelError {
    if e.is_timeout() {
        ChannelError::Transient("SMS gateway: timed out".into())
    } else if e.is_builder() {
        ChannelError::Permanent("SMS gateway: the request could not be built".into())
    } else if e.is_connect() {
        ChannelError::Transient("SMS gateway: could not connect".into())
    } else {
        ChannelError::Transient("SMS gateway: the request failed in transit".into())
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> ChannelError {
    let text = format!(
        "SMS gateway HTTP {}: {}",
        status.as_u16(),
        redact(&String::from_utf8_lossy(body))
    );
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
        ChannelError::Transient(text)
    } else {
        ChannelError::Permanent(text)
    }
}

#[async_trait]
impl SmsChannel for HttpSmsGateway {
    async fn send_sms(&self, sms: &OutboundSms) -> Result<Sent, ChannelError> {
        let to = mask_phone_digits(&sms.to);
        let request = GatewayRequest {
            to: &sms.to,
            brandname: &self.brandname,
            message: &sms.text,
            unicode: crate::needs_unicode(&sms.text),
            request_id: sms.idempotency_key.as_deref(),
        };
        let answer = async {
            let mut post = self
                .client
                .post(self.url.clone())
                .header(self.auth.0.clone(), self.auth.1.clone());
            if let Some(key) = &sms.idempotency_key {
                post = post.header("Idempotency-Key", key);
            }
            let response = post.json(&request).send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let result = match answer {
            Err(e) => Err(transport_error(&e)),
            Ok((status, body)) if status.is_success() => Ok(Sent {
                message_id: self.message_id(&body),
            }),
            Ok((status, body)) => Err(status_error(status, &body)),
        };
        match &result {
            Ok(sent) => {
                tracing::info!(channel = "sms", provider = "http_gateway", to = %to, message_id = %sent.message_id,
                    unicode = request.unicode, "sms sent");
            }
            Err(error) => {
                tracing::warn!(channel = "sms", provider = "http_gateway", to = %to, error.message = %error,
                    "sms not sent");
            }
        }
        result
    }

    fn drops_repeats(&self) -> bool {
        self.drops_repeats
    }
}
