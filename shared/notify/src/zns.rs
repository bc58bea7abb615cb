//! Zalo ZNS (Zalo Notification Service): approved template messages to the Zalo account of
//! a phone number, and the OA access token's refresh. The same code talks to Zalo and to
//! the local server of the tests (`scripts/zns_server.py`); only the base URLs differ.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use outreach_core::notify::{ChannelError, OutboundZns, Sent, ZNS_ALARM_MARKER, ZnsChannel, ZnsError, ZnsNext};
use outreach_core::phone::mask_phone_digits;
use outreach_core::zns::{RefreshError, ZnsOAuth, ZnsTokenPair, ZnsTokenStore};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::error::{NotifyError, Secret};
use crate::redact::redact;

/// Zalo's ZNS API (`POST {base}/message/template`).
pub const ZNS_API_URL: &str = "https://business.openapi.zalo.me";
/// Zalo's OAuth server (`POST {base}/v4/oa/access_token`).
pub const ZALO_OAUTH_URL: &str = "https://oauth.zaloapp.com";

/// Settings of [`ZaloZns`] and [`ZaloOAuth`].
#[derive(Debug, Clone)]
pub struct ZnsConfig {
    /// The ZNS API's base URL ([`ZNS_API_URL`]; the local server's in tests).
    pub api_url: Url,
    /// The OAuth server's base URL ([`ZALO_OAUTH_URL`]).
    pub oauth_url: Url,
    /// The Zalo app's id.
    pub app_id: String,
    /// The Zalo app's secret key (refresh only).
    pub secret_key: Secret,
    /// The first refresh token, put in the store when it holds none (`seed_zns_token`).
    pub first_refresh_token: Option<Secret>,
    /// Timeout of one request, connection included.
    pub timeout: Duration,
}

impl ZnsConfig {
    /// Settings for Zalo's own endpoints.
    pub fn new(app_id: impl Into<String>, secret_key: impl Into<Secret>) -> Self {
        Self {
            api_url: Url::parse(ZNS_API_URL).expect("a valid URL"),
            oauth_url: Url::parse(ZALO_OAUTH_URL).expect("a valid URL"),
            app_id: app_id.into(),
            secret_key: secret_key.into(),
            first_refresh_token: None,
            timeout: crate::DEFAULT_TIMEOUT,
        }
    }
}

fn client(timeout: Duration) -> Result<reqwest::Client, NotifyError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(NotifyError::HttpClient)
}

fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{}", url.path().trim_end_matches('/'), path.trim_start_matches('/'));
    url.set_path(&joined);
    url
}

/// Sends ZNS template messages with the OA's access token, read from the store (where the
/// one refresher keeps it fresh) at each send:
///
/// ```text
/// POST {api_url}/message/template
/// access_token: <OA access token>
/// {"phone": "84912345678", "template_id": "...", "template_data": {...}, "tracking_id": "<delivery id>"}
/// ```
///
/// | answer | result | then |
/// |---|---|---|
/// | `error: 0` | `Sent` with `data.msg_id` | |
/// | −100 unknown, HTTP 429/5xx, refused connection | `Transient` | retried, then SMS |
/// | −124 access token invalid, no token yet | `Transient` (logged with the alarm marker) | retried, then SMS |
/// | −108 phone invalid | `Permanent` | failed, no SMS |
/// | −110 Zalo version unsupported, −114 user inactive or refusing ZNS, −115 out of quota, −118 no Zalo account, −119 account cannot receive ZNS, −139 user refused, −144 daily quota exceeded, any other code | `Permanent` | SMS at once |
/// | −101…−107 app, secret, OA link, method; −109, −111, −112, −113, −117 template id, data or permission; other HTTP 4xx | `Permanent` | failed, no SMS, alarm |
/// | timeout, unreadable answer | `Unclear` (it may have been sent) | per `AfterUncertainSend` |
///
/// Codes −100 to −112 and −118 are those Zalo's error table documents under these numbers;
/// −113 to −144 are read from the same table as third parties reproduce it and should be
/// checked against Zalo's current list.
pub struct ZaloZns {
    client: reqwest::Client,
    url: Url,
    tokens: Arc<dyn ZnsTokenStore>,
}

impl ZaloZns {
    /// Build the HTTP client once; tokens are read from `tokens` at each send.
    pub fn new(config: &ZnsConfig, tokens: Arc<dyn ZnsTokenStore>) -> Result<Self, NotifyError> {
        Ok(Self {
            client: client(config.timeout)?,
            url: join(&config.api_url, "message/template"),
            tokens,
        })
    }
}

#[derive(Serialize)]
struct TemplateRequest<'a> {
    phone: &'a str,
    template_id: &'a str,
    template_data: &'a std::collections::BTreeMap<String, String>,
    tracking_id: &'a str,
}

#[derive(Deserialize)]
struct ZaloAnswer {
    error: i64,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

/// What a ZNS error code means for the delivery.
pub fn classify_zns_error(code: i64, message: &str) -> ZnsError {
    let text = format!("ZNS error {code}: {}", redact(message));
    let (error, next) = match code {
        -100 | -124 => (ChannelError::Transient(text), ZnsNext::FallBackToSms),
        -108 => (ChannelError::Permanent(text), ZnsNext::Fail),
        -107..=-101 | -109 | -111 | -112 | -113 | -117 => (ChannelError::Permanent(text), ZnsNext::FailAndAlarm),
        _ => (ChannelError::Permanent(text), ZnsNext::FallBackToSms),
    };
    ZnsError { error, next }
}

fn http_error(status: StatusCode, body: &[u8]) -> ZnsError {
    let text = format!(
        "ZNS HTTP {}: {}",
        status.as_u16(),
        redact(&String::from_utf8_lossy(body))
    );
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        ZnsError {
            error: ChannelError::Transient(text),
            next: ZnsNext::FallBackToSms,
        }
    } else {
        ZnsError {
            error: ChannelError::Permanent(text),
            next: ZnsNext::FailAndAlarm,
        }
    }
}

fn transport_error(e: &reqwest::Error) -> ZnsError {
    let error = if e.is_connect() {
        ChannelError::Transient("ZNS: could not connect".into())
    } else if e.is_timeout() {
        ChannelError::Unclear("ZNS: timed out; the message may have been sent".into())
    } else {
        ChannelError::Unclear("ZNS: the request failed in transit; the message may have been sent".into())
    };
    ZnsError {
        error,
        next: ZnsNext::FallBackToSms,
    }
}

#[async_trait]
impl ZnsChannel for ZaloZns {
    async fn send_zns(&self, zns: &OutboundZns) -> Result<Sent, ZnsError> {
        let to = mask_phone_digits(&zns.phone);
        let token = match self.tokens.get_zns_token().await {
            Ok(Some(t)) if !t.access_token.is_empty() => t.access_token,
            Ok(_) => {
                tracing::error!(
                    alarm = ZNS_ALARM_MARKER,
                    "{ZNS_ALARM_MARKER}: no ZNS access token in the store yet"
                );
                return Err(ZnsError {
                    error: ChannelError::Transient("ZNS: no access token yet".into()),
                    next: ZnsNext::FallBackToSms,
                });
            }
            Err(e) => {
                return Err(ZnsError {
                    error: ChannelError::Transient(format!("ZNS: the access token could not be read: {e}")),
                    next: ZnsNext::FallBackToSms,
                });
            }
        };
        let request = TemplateRequest {
            phone: &zns.phone,
            template_id: &zns.template_id,
            template_data: &zns.template_data,
            tracking_id: &zns.tracking_id,
        };
        let answer = async {
            let response = self
                .client
                .post(self.url.clone())
                .header("access_token", token)
                .json(&request)
                .send()
                .await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let mut token_refused = false;
        let result = match answer {
            Err(e) => Err(transport_error(&e)),
            Ok((status, body)) if !status.is_success() => Err(http_error(status, &body)),
            Ok((_, body)) => match serde_json::from_slice::<ZaloAnswer>(&body) {
                Err(_) => Err(ZnsError {
                    error: ChannelError::Unclear("ZNS: an unreadable answer".into()),
                    next: ZnsNext::FallBackToSms,
                }),
                Ok(a) if a.error == 0 => {
                    let data = a.data.unwrap_or_default();
                    let msg_id = match data.get("msg_id") {
                        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
                        _ => crate::unknown_message_id("ZNS answered without a msg_id"),
                    };
                    let remaining = data.pointer("/quota/remainingQuota").and_then(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .or_else(|| v.as_i64().map(|n| n.to_string()))
                    });
                    tracing::info!(channel = "zns", to = %to, message_id = %msg_id, remaining_quota = remaining.as_deref().unwrap_or("?"), "zns sent");
                    return Ok(Sent { message_id: msg_id });
                }
                Ok(a) => {
                    token_refused = a.error == -124;
                    Err(classify_zns_error(a.error, a.message.as_deref().unwrap_or_default()))
                }
            },
        };
        if let Err(e) = &result {
            if e.next == ZnsNext::FailAndAlarm || token_refused {
                tracing::error!(alarm = ZNS_ALARM_MARKER, channel = "zns", to = %to, error.message = %e,
                    "{ZNS_ALARM_MARKER}: ZNS refused the OA's configuration");
            } else {
                tracing::warn!(channel = "zns", to = %to, error.message = %e, next = ?e.next, "zns not sent");
            }
        }
        result
    }
}

/// Refreshes the OA access token at Zalo's OAuth server:
///
/// ```text
/// POST {oauth_url}/v4/oa/access_token
/// secret_key: <app secret>
/// app_id=<id>&grant_type=refresh_token&refresh_token=<token>
/// → {"access_token": "...", "refresh_token": "...", "expires_in": "90000"}
/// ```
///
/// An answer with `error` (a spent or expired refresh token, a wrong app) is `Refused`; a
/// 5xx or a refused connection is `Transient`; a timeout is `Refused` too, since Zalo may
/// have spent the token, and a person must look.
pub struct ZaloOAuth {
    client: reqwest::Client,
    url: Url,
    app_id: String,
    secret_key: Secret,
}

impl ZaloOAuth {
    pub fn new(config: &ZnsConfig) -> Result<Self, NotifyError> {
        if config.secret_key.expose().is_empty() {
            return Err(NotifyError::config(
                "OUTREACH_ZNS_SECRET_KEY",
                "must be set where the ZNS token is refreshed",
            ));
        }
        Ok(Self {
            client: client(config.timeout)?,
            url: join(&config.oauth_url, "v4/oa/access_token"),
            app_id: config.app_id.clone(),
            secret_key: config.secret_key.clone(),
        })
    }
}

#[derive(Deserialize)]
struct OAuthAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<i64>,
    #[serde(default)]
    error_name: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[async_trait]
impl ZnsOAuth for ZaloOAuth {
    async fn refresh(&self, refresh_token: &str) -> Result<ZnsTokenPair, RefreshError> {
        let answer = self
            .client
            .post(self.url.clone())
            .header("secret_key", self.secret_key.expose())
            .form(&[
                ("app_id", self.app_id.as_str()),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await;
        let response = match answer {
            Err(e) if e.is_connect() => return Err(RefreshError::Transient("could not connect".into())),
            Err(_) => {
                return Err(RefreshError::Refused(
                    "no answer; the refresh token may be spent".into(),
                ));
            }
            Ok(r) => r,
        };
        let status = response.status();
        if status.is_server_error() {
            return Err(RefreshError::Transient(format!("HTTP {}", status.as_u16())));
        }
        let body = response
            .bytes()
            .await
            .map_err(|_| RefreshError::Refused("the answer was cut off; the refresh token may be spent".into()))?;
        let a: OAuthAnswer = serde_json::from_slice(&body)
            .map_err(|_| RefreshError::Refused(format!("HTTP {}: an unreadable answer", status.as_u16())))?;
        let expires_in = a
            .expires_in
            .as_ref()
            .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
        match (a.access_token, a.refresh_token, expires_in) {
            (Some(access_token), Some(refresh_token), Some(expires_in)) if a.error.unwrap_or(0) == 0 => {
                Ok(ZnsTokenPair {
                    access_token,
                    expires_in,
                    refresh_token,
                })
            }
            _ => Err(RefreshError::Refused(format!(
                "error {}: {} {}",
                a.error.unwrap_or_default(),
                a.error_name.unwrap_or_default(),
                redact(&a.error_description.unwrap_or_default())
            ))),
        }
    }
}
