//! Which adapters carry email and SMS, read once from the environment, and building them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use lettre::message::Mailbox;
use outreach_core::notify::{EmailChannel, SmsChannel};
use reqwest::Url;
use tokio::sync::OnceCell;

use crate::error::{NotifyError, Secret};
use crate::{
    HttpSmsGateway, HttpSmsGatewayConfig, Outbox, SesConfig, SesEmail, SmtpConfig, SmtpCredentials, SmtpEmail,
    SnsConfig, SnsSms, ZnsConfig,
};

/// The email adapter to use.
#[derive(Debug, Clone)]
pub enum EmailChannelConfig {
    /// JSON lines in `<dir>/email.jsonl`.
    Outbox(PathBuf),
    Smtp(SmtpConfig),
    Ses(SesConfig),
}

/// The SMS adapter to use.
#[derive(Debug, Clone)]
pub enum SmsChannelConfig {
    /// JSON lines in `<dir>/sms.jsonl`.
    Outbox(PathBuf),
    Sns(SnsConfig),
    Http(HttpSmsGatewayConfig),
}

/// The Zalo ZNS adapter to use.
#[derive(Debug, Clone)]
pub enum ZnsChannelConfig {
    /// JSON lines in `<dir>/zns.jsonl`.
    Outbox(PathBuf),
    /// Zalo's API for an OA; built with the store, which keeps its token ([`crate::ZaloZns`]).
    Zalo(Box<ZnsConfig>),
}

impl ZnsChannelConfig {
    /// The adapter's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Outbox(_) => "outbox",
            Self::Zalo(_) => "zalo",
        }
    }

    /// Zalo's settings, when ZNS goes to Zalo.
    pub fn zalo(&self) -> Option<&ZnsConfig> {
        match self {
            Self::Zalo(c) => Some(c),
            Self::Outbox(_) => None,
        }
    }
}

/// The email, SMS and ZNS adapters to use, with their settings.
#[derive(Debug, Clone)]
pub struct ChannelConfig {
    pub email: EmailChannelConfig,
    pub sms: SmsChannelConfig,
    /// Zalo ZNS, or none: a rule naming ZNS then goes by SMS.
    pub zns: Option<ZnsChannelConfig>,
}

impl ChannelConfig {
    /// Every channel into the outbox in `dir`.
    pub fn outbox(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            email: EmailChannelConfig::Outbox(dir.clone()),
            sms: SmsChannelConfig::Outbox(dir.clone()),
            zns: Some(ZnsChannelConfig::Outbox(dir)),
        }
    }

    /// Read the settings from the environment:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `OUTREACH_EMAIL` | `outbox` (default), `smtp` or `ses` |
    /// | `OUTREACH_SMS` | `outbox` (default), `sns` or `http` |
    /// | `OUTREACH_OUTBOX_DIR` | the outbox directory (default `./outbox`) |
    /// | `OUTREACH_EMAIL_FROM` | the sender, `Name <address>` or `address` (smtp, ses) |
    /// | `OUTREACH_SMTP_HOST`, `OUTREACH_SMTP_PORT` | the SMTP server (port default 25, or 587 with STARTTLS) |
    /// | `OUTREACH_SMTP_STARTTLS` | `true` to require STARTTLS (default `false`) |
    /// | `OUTREACH_SMTP_USERNAME`, `OUTREACH_SMTP_PASSWORD` | SMTP AUTH, both or neither |
    /// | `OUTREACH_SES_CONFIGURATION_SET` | SES configuration set (optional) |
    /// | `OUTREACH_SMS_SENDER_ID` | SNS sender id, up to 11 letters and digits (optional) |
    /// | `OUTREACH_SMS_GATEWAY_URL`, `OUTREACH_SMS_GATEWAY_KEY`, `OUTREACH_SMS_GATEWAY_BRANDNAME` | the HTTP gateway (required for `http`) |
    /// | `OUTREACH_SMS_GATEWAY_KEY_HEADER` | header carrying the key (default `Authorization: Bearer <key>`) |
    /// | `OUTREACH_SMS_GATEWAY_ID_FIELD` | JSON field of the message id in the answer (default `message_id`) |
    /// | `OUTREACH_SMS_GATEWAY_DROPS_REPEATS` | `true` when the gateway drops a second request with the same `request_id` (default `false`) |
    /// | `OUTREACH_ZNS` | `zalo` (the default when `OUTREACH_ZNS_APP_ID` is set), `outbox` (the default when SMS goes to the outbox) or `off` (the default otherwise: a rule naming ZNS goes by SMS) |
    /// | `OUTREACH_ZNS_APP_ID` | the Zalo app of the OA (required for `zalo`) |
    /// | `OUTREACH_ZNS_SECRET_KEY` | the app's secret key (the refresher only: `outreach serve`, the planner) |
    /// | `OUTREACH_ZNS_REFRESH_TOKEN` | the first OA refresh token, stored when the store holds none |
    /// | `OUTREACH_ZNS_API_URL`, `OUTREACH_ZNS_OAUTH_URL` | Zalo's endpoints (defaults `https://business.openapi.zalo.me`, `https://oauth.zaloapp.com`) |
    /// | `OUTREACH_CHANNEL_TIMEOUT_SECS` | timeout of every send (default 10) |
    ///
    /// AWS adapters take region, credentials and endpoint from the AWS SDK's own variables.
    /// An empty variable counts as unset. The error names the variable at fault.
    pub fn from_env() -> Result<Self, NotifyError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] over any source of variables (a map in tests).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, NotifyError> {
        let vars = Vars(&get);
        let timeout = match vars.get("OUTREACH_CHANNEL_TIMEOUT_SECS") {
            None => crate::DEFAULT_TIMEOUT,
            Some(s) => match s.parse::<u64>() {
                Ok(secs) if secs > 0 => Duration::from_secs(secs),
                _ => {
                    return Err(invalid(
                        "OUTREACH_CHANNEL_TIMEOUT_SECS",
                        "a whole number of seconds above 0",
                        &s,
                    ));
                }
            },
        };
        let outbox_dir = || PathBuf::from(vars.get("OUTREACH_OUTBOX_DIR").unwrap_or_else(|| "./outbox".into()));
        let email = match vars.get("OUTREACH_EMAIL").as_deref() {
            None | Some("outbox") => EmailChannelConfig::Outbox(outbox_dir()),
            Some("smtp") => EmailChannelConfig::Smtp(smtp_config(&vars, timeout)?),
            Some("ses") => EmailChannelConfig::Ses(SesConfig {
                from: email_from(&vars)?,
                configuration_set: vars.get("OUTREACH_SES_CONFIGURATION_SET"),
                timeout,
            }),
            Some(other) => return Err(invalid("OUTREACH_EMAIL", "outbox, smtp or ses", other)),
        };
        let sms = match vars.get("OUTREACH_SMS").as_deref() {
            None | Some("outbox") => SmsChannelConfig::Outbox(outbox_dir()),
            Some("sns") => SmsChannelConfig::Sns(SnsConfig {
                sender_id: sender_id(&vars)?,
                timeout,
            }),
            Some("http") => SmsChannelConfig::Http(gateway_config(&vars, timeout)?),
            Some(other) => return Err(invalid("OUTREACH_SMS", "outbox, sns or http", other)),
        };
        let zns = match vars.get("OUTREACH_ZNS").as_deref() {
            None if vars.get("OUTREACH_ZNS_APP_ID").is_some() => {
                Some(ZnsChannelConfig::Zalo(Box::new(zns_config(&vars, timeout)?)))
            }
            None => match &sms {
                SmsChannelConfig::Outbox(dir) => Some(ZnsChannelConfig::Outbox(dir.clone())),
                _ => None,
            },
            Some("zalo") => Some(ZnsChannelConfig::Zalo(Box::new(zns_config(&vars, timeout)?))),
            Some("outbox") => Some(ZnsChannelConfig::Outbox(outbox_dir())),
            Some("off") => None,
            Some(other) => return Err(invalid("OUTREACH_ZNS", "zalo, outbox or off", other)),
        };
        Ok(Self { email, sms, zns })
    }
}

fn zns_config(vars: &Vars<'_>, timeout: Duration) -> Result<ZnsConfig, NotifyError> {
    let app_id = vars.require("OUTREACH_ZNS_APP_ID", "for OUTREACH_ZNS=zalo")?;
    // Only the refresher needs the secret: senders read the token from the store.
    let secret_key = Secret::new(vars.get("OUTREACH_ZNS_SECRET_KEY").unwrap_or_default());
    let url = |name: &'static str, default: &str| -> Result<Url, NotifyError> {
        let v = vars.get(name).unwrap_or_else(|| default.to_string());
        match Url::parse(&v) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
            _ => Err(invalid(name, "an http(s) URL", &v)),
        }
    };
    Ok(ZnsConfig {
        api_url: url("OUTREACH_ZNS_API_URL", crate::ZNS_API_URL)?,
        oauth_url: url("OUTREACH_ZNS_OAUTH_URL", crate::ZALO_OAUTH_URL)?,
        app_id,
        secret_key,
        first_refresh_token: vars.get("OUTREACH_ZNS_REFRESH_TOKEN").map(Secret::new),
        timeout,
    })
}

struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn require(&self, name: &'static str, why: &str) -> Result<String, NotifyError> {
        self.get(name)
            .ok_or_else(|| NotifyError::config(name, format!("must be set {why}")))
    }
}

fn invalid(var: &'static str, expected: &str, got: &str) -> NotifyError {
    NotifyError::config(var, format!("expected {expected}, got {got:?}"))
}

fn email_from(vars: &Vars<'_>) -> Result<Mailbox, NotifyError> {
    let from = vars.require("OUTREACH_EMAIL_FROM", "to send email by SMTP or SES")?;
    from.parse().map_err(|_| {
        invalid(
            "OUTREACH_EMAIL_FROM",
            "an address such as `Name <noreply@example.org>`",
            &from,
        )
    })
}

fn smtp_config(vars: &Vars<'_>, timeout: Duration) -> Result<SmtpConfig, NotifyError> {
    let host = vars.require("OUTREACH_SMTP_HOST", "when OUTREACH_EMAIL=smtp")?;
    let starttls = flag(vars, "OUTREACH_SMTP_STARTTLS")?;
    let port = match vars.get("OUTREACH_SMTP_PORT") {
        None if starttls => 587,
        None => 25,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return Err(invalid("OUTREACH_SMTP_PORT", "a port number", &p)),
        },
    };
    let credentials = match (vars.get("OUTREACH_SMTP_USERNAME"), vars.get("OUTREACH_SMTP_PASSWORD")) {
        (None, None) => None,
        (Some(username), Some(password)) => Some(SmtpCredentials {
            username,
            password: Secret::new(password),
        }),
        (Some(_), None) => {
            return Err(NotifyError::config(
                "OUTREACH_SMTP_PASSWORD",
                "must be set with OUTREACH_SMTP_USERNAME",
            ));
        }
        (None, Some(_)) => {
            return Err(NotifyError::config(
                "OUTREACH_SMTP_USERNAME",
                "must be set with OUTREACH_SMTP_PASSWORD",
            ));
        }
    };
    Ok(SmtpConfig {
        host,
        port,
        starttls,
        credentials,
        from: email_from(vars)?,
        timeout,
    })
}

fn sender_id(vars: &Vars<'_>) -> Result<Option<String>, NotifyError> {
    let Some(id) = vars.get("OUTREACH_SMS_SENDER_ID") else {
        return Ok(None);
    };
    let valid =
        id.len() <= 11 && id.chars().all(|c| c.is_ascii_alphanumeric()) && id.chars().any(|c| c.is_ascii_alphabetic());
    if !valid {
        return Err(invalid(
            "OUTREACH_SMS_SENDER_ID",
            "1 to 11 ASCII letters and digits, one letter at least",
            &id,
        ));
    }
    Ok(Some(id))
}

/// A yes/no variable; unset is no.
fn flag(vars: &Vars<'_>, name: &'static str) -> Result<bool, NotifyError> {
    match vars.get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => Err(invalid(name, "true or false", other)),
    }
}

fn gateway_config(vars: &Vars<'_>, timeout: Duration) -> Result<HttpSmsGatewayConfig, NotifyError> {
    const WHY: &str = "when OUTREACH_SMS=http";
    let url = vars.require("OUTREACH_SMS_GATEWAY_URL", WHY)?;
    let url = match Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        _ => return Err(invalid("OUTREACH_SMS_GATEWAY_URL", "an http(s) URL", &url)),
    };
    let api_key = Secret::new(vars.require("OUTREACH_SMS_GATEWAY_KEY", WHY)?);
    let brandname = vars.require("OUTREACH_SMS_GATEWAY_BRANDNAME", WHY)?;
    let api_key_header = vars.get("OUTREACH_SMS_GATEWAY_KEY_HEADER");
    if let Some(h) = &api_key_header
        && reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
    {
        return Err(invalid("OUTREACH_SMS_GATEWAY_KEY_HEADER", "an HTTP header name", h));
    }
    Ok(HttpSmsGatewayConfig {
        url,
        api_key,
        api_key_header,
        brandname,
        id_field: vars
            .get("OUTREACH_SMS_GATEWAY_ID_FIELD")
            .unwrap_or_else(|| "message_id".into()),
        drops_repeats: flag(vars, "OUTREACH_SMS_GATEWAY_DROPS_REPEATS")?,
        timeout,
    })
}

/// Build the adapters `config` names, each client once. The AWS settings are `aws` when
/// given, otherwise loaded from the environment, and only if an AWS adapter is used. When
/// both channels use the same outbox directory they share one [`Outbox`].
pub async fn build_channels(
    config: &ChannelConfig,
    aws: Option<&SdkConfig>,
) -> Result<(Arc<dyn EmailChannel>, Arc<dyn SmsChannel>), NotifyError> {
    let sdk = OnceCell::new_with(aws.cloned());
    let load_sdk = || async { aws_config::load_defaults(BehaviorVersion::latest()).await };
    let mut email_outbox: Option<Arc<Outbox>> = None;
    let email: Arc<dyn EmailChannel> = match &config.email {
        EmailChannelConfig::Outbox(dir) => {
            let outbox = Arc::new(Outbox::new(dir.clone())?);
            email_outbox = Some(outbox.clone());
            outbox
        }
        EmailChannelConfig::Smtp(c) => Arc::new(SmtpEmail::new(c.clone())?),
        EmailChannelConfig::Ses(c) => Arc::new(SesEmail::new(sdk.get_or_init(load_sdk).await, c.clone())),
    };
    let sms: Arc<dyn SmsChannel> = match &config.sms {
        SmsChannelConfig::Outbox(dir) => match email_outbox {
            Some(outbox) if outbox.dir() == dir.as_path() => outbox,
            _ => Arc::new(Outbox::new(dir.clone())?),
        },
        SmsChannelConfig::Sns(c) => Arc::new(SnsSms::new(sdk.get_or_init(load_sdk).await, c.clone())),
        SmsChannelConfig::Http(c) => Arc::new(HttpSmsGateway::new(c.clone())?),
    };
    tracing::info!(email = config.email.name(), sms = config.sms.name(), "channels ready");
    Ok((email, sms))
}

impl EmailChannelConfig {
    /// The adapter's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Outbox(_) => "outbox",
            Self::Smtp(_) => "smtp",
            Self::Ses(_) => "ses",
        }
    }
}

impl SmsChannelConfig {
    /// The adapter's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Outbox(_) => "outbox",
            Self::Sns(_) => "sns",
            Self::Http(_) => "http",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<ChannelConfig, NotifyError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ChannelConfig::from_vars(|name| map.get(name).cloned())
    }

    fn var_of(err: NotifyError) -> &'static str {
        match err {
            NotifyError::Config { var, .. } => var,
            other => panic!("not a config error: {other}"),
        }
    }

    #[test]
    fn defaults_to_the_outbox() {
        let c = config(&[]).unwrap();
        assert!(matches!(&c.email, EmailChannelConfig::Outbox(d) if d == &PathBuf::from("./outbox")));
        assert!(matches!(&c.sms, SmsChannelConfig::Outbox(d) if d == &PathBuf::from("./outbox")));
        let c = config(&[("OUTREACH_OUTBOX_DIR", "/tmp/o"), ("OUTREACH_EMAIL", "")]).unwrap();
        assert!(matches!(&c.email, EmailChannelConfig::Outbox(d) if d == &PathBuf::from("/tmp/o")));
    }

    #[test]
    fn zns_goes_to_zalo_with_an_app_to_the_outbox_beside_sms_and_else_nowhere() {
        let zns = |pairs: &[(&str, &str)]| config(pairs).unwrap().zns.map(|z| z.name());
        assert_eq!(zns(&[]), Some("outbox"), "a laptop writes ZNS beside SMS");
        assert_eq!(zns(&[("OUTREACH_SMS", "sns")]), None, "no ZNS unless asked");
        assert_eq!(zns(&[("OUTREACH_SMS", "sns"), ("OUTREACH_ZNS_APP_ID", "")]), None);
        assert_eq!(zns(&[("OUTREACH_ZNS", "off")]), None);
        let c = config(&[("OUTREACH_SMS", "sns"), ("OUTREACH_ZNS_APP_ID", "1234")]).unwrap();
        let zalo = c.zns.as_ref().and_then(ZnsChannelConfig::zalo).expect("zalo");
        assert_eq!(zalo.app_id, "1234");
        assert_eq!(zalo.api_url.as_str(), "https://business.openapi.zalo.me/");
        let c = config(&[("OUTREACH_ZNS", "outbox"), ("OUTREACH_OUTBOX_DIR", "/tmp/z")]).unwrap();
        assert!(matches!(&c.zns, Some(ZnsChannelConfig::Outbox(d)) if d == &PathBuf::from("/tmp/z")));
        assert_eq!(
            var_of(config(&[("OUTREACH_ZNS", "zalo")]).unwrap_err()),
            "OUTREACH_ZNS_APP_ID"
        );
        assert_eq!(
            var_of(config(&[("OUTREACH_ZNS", "viber")]).unwrap_err()),
            "OUTREACH_ZNS"
        );
        assert_eq!(
            var_of(config(&[("OUTREACH_ZNS_APP_ID", "1"), ("OUTREACH_ZNS_API_URL", "ftp://x")]).unwrap_err()),
            "OUTREACH_ZNS_API_URL"
        );
    }

    #[test]
    fn smtp_settings_are_typed() {
        let c = config(&[
            ("OUTREACH_EMAIL", "smtp"),
            ("OUTREACH_SMTP_HOST", "smtp.example.vn"),
            ("OUTREACH_SMTP_STARTTLS", "true"),
            ("OUTREACH_SMTP_USERNAME", "u"),
            ("OUTREACH_SMTP_PASSWORD", "p4ss"),
            ("OUTREACH_EMAIL_FROM", "Đoàn Thanh niên <noreply@example.org>"),
            ("OUTREACH_CHANNEL_TIMEOUT_SECS", "3"),
        ])
        .unwrap();
        let EmailChannelConfig::Smtp(smtp) = &c.email else {
            panic!("not smtp: {c:?}")
        };
        assert_eq!(
            (smtp.host.as_str(), smtp.port, smtp.starttls),
            ("smtp.example.vn", 587, true)
        );
        assert_eq!(smtp.from.email.to_string(), "noreply@example.org");
        assert_eq!(smtp.timeout, Duration::from_secs(3));
        assert!(!format!("{c:?}").contains("p4ss"), "the password shows in Debug");
    }

    #[test]
    fn bad_or_missing_settings_name_the_variable() {
        assert_eq!(
            var_of(config(&[("OUTREACH_EMAIL", "pigeon")]).unwrap_err()),
            "OUTREACH_EMAIL"
        );
        assert_eq!(var_of(config(&[("OUTREACH_SMS", "fax")]).unwrap_err()), "OUTREACH_SMS");
        assert_eq!(
            var_of(config(&[("OUTREACH_EMAIL", "ses")]).unwrap_err()),
            "OUTREACH_EMAIL_FROM"
        );
        let smtp = [("OUTREACH_EMAIL", "smtp"), ("OUTREACH_EMAIL_FROM", "a@example.org")];
        assert_eq!(var_of(config(&smtp).unwrap_err()), "OUTREACH_SMTP_HOST");
        let with = |extra: (&'static str, &'static str)| {
            let mut v = smtp.to_vec();
            v.push(("OUTREACH_SMTP_HOST", "localhost"));
            v.push(extra);
            var_of(config(&v).unwrap_err())
        };
        assert_eq!(with(("OUTREACH_SMTP_PORT", "70000")), "OUTREACH_SMTP_PORT");
        assert_eq!(with(("OUTREACH_SMTP_STARTTLS", "maybe")), "OUTREACH_SMTP_STARTTLS");
        assert_eq!(with(("OUTREACH_SMTP_USERNAME", "u")), "OUTREACH_SMTP_PASSWORD");
        assert_eq!(
            var_of(config(&[("OUTREACH_EMAIL", "ses"), ("OUTREACH_EMAIL_FROM", "not an address")]).unwrap_err()),
            "OUTREACH_EMAIL_FROM"
        );
        assert_eq!(
            var_of(config(&[("OUTREACH_SMS", "sns"), ("OUTREACH_SMS_SENDER_ID", "TOO-LONG-SENDER")]).unwrap_err()),
            "OUTREACH_SMS_SENDER_ID"
        );
        assert_eq!(
            var_of(config(&[("OUTREACH_EMAIL", "outbox"), ("OUTREACH_CHANNEL_TIMEOUT_SECS", "0")]).unwrap_err()),
            "OUTREACH_CHANNEL_TIMEOUT_SECS"
        );
    }

    #[test]
    fn http_gateway_needs_url_key_and_brandname() {
        let base = [("OUTREACH_SMS", "http")];
        assert_eq!(var_of(config(&base).unwrap_err()), "OUTREACH_SMS_GATEWAY_URL");
        let mut v = base.to_vec();
        v.push(("OUTREACH_SMS_GATEWAY_URL", "ftp://x"));
        assert_eq!(var_of(config(&v).unwrap_err()), "OUTREACH_SMS_GATEWAY_URL");
        v.pop();
        v.push(("OUTREACH_SMS_GATEWAY_URL", "https://sms.example.vn/send"));
        assert_eq!(var_of(config(&v).unwrap_err()), "OUTREACH_SMS_GATEWAY_KEY");
        v.push(("OUTREACH_SMS_GATEWAY_KEY", "k3y"));
        assert_eq!(var_of(config(&v).unwrap_err()), "OUTREACH_SMS_GATEWAY_BRANDNAME");
        v.push(("OUTREACH_SMS_GATEWAY_BRANDNAME", "DOANTN"));
        let c = config(&v).unwrap();
        let SmsChannelConfig::Http(g) = &c.sms else {
            panic!("not http: {c:?}")
        };
        assert_eq!((g.id_field.as_str(), g.api_key_header.as_deref()), ("message_id", None));
        assert_eq!(g.timeout, crate::DEFAULT_TIMEOUT);
        assert!(!format!("{c:?}").contains("k3y"), "the key shows in Debug");
    }
}
