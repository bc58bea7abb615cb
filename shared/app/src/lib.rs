//! Wiring shared by every outreach binary (the Lambda functions and the local command):
//! a typed [`Config`] read once from the environment, and an [`App`] holding the adapters
//! built once from it, with the job passes the binaries run.

pub mod aws;
pub mod logging;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};
use outreach_auth::{AuthConfig, LOCAL_ISSUER, OidcSettings, SignedUnsubscribeLinks};
use outreach_core::cost::{PriceTable, SmsRoute};
use outreach_core::jobs::{
    Channels, DEFAULT_HORIZON_DAYS, DispatchReport, DispatchSettings, PlannerReport, ReportRenderer, SendOutcome,
    SenderReport, SenderSettings, SummaryReport, SummarySettings, run_dispatcher, run_planner, run_quarterly_summary,
    run_sender,
};
use outreach_core::notify::{
    ChannelError, DeliveryTask, EmailChannel, MemoryQueue, NoUnsubscribeLinks, OutboundEmail, OutboundSms, Queue, Sent,
    SmsChannel, UnsubscribeLinks, ZnsChannel,
};
use outreach_core::ports::Store;
use outreach_core::quarter::Quarter;
use outreach_core::report::QuarterlyReport;
use outreach_core::zns::{RefreshOutcome, ZnsTokenStore, refresh_zns_token, seed_zns_token};
use outreach_notify::{
    ChannelConfig, Outbox, SqsConfig, SqsQueue, ZaloOAuth, ZaloZns, ZnsChannelConfig, build_channels,
};
use outreach_store::StoreUrl;

/// Everything a binary reads from the environment, once, at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `OUTREACH_STORE`: `sqlite:PATH` or `dynamodb:TABLE`.
    pub store: StoreUrl,
    /// `OUTREACH_QUEUE_URL`: the SQS delivery queue; without it, the in-process queue.
    pub queue_url: Option<String>,
    /// `OUTREACH_EMAIL`, `OUTREACH_SMS` and their settings (see `outreach-notify`).
    pub channels: ChannelConfig,
    /// `OUTREACH_JWT_SECRET`: HS256 key of unsubscribe links, and of API tokens unless a
    /// JWKS is configured.
    pub jwt_secret: Option<String>,
    /// `OUTREACH_JWKS` (the document) or `OUTREACH_JWKS_FILE` (its path): the identity
    /// provider's public keys; API tokens are then checked with them (RS256), for
    /// `OUTREACH_JWT_ISSUER` and `OUTREACH_JWT_AUDIENCE`.
    pub jwks: Option<Jwks>,
    /// `OUTREACH_OIDC_CLIENT_ID` (with `OUTREACH_OIDC_CLIENT_SECRET`, `OUTREACH_OIDC_SCOPES`,
    /// `OUTREACH_OIDC_NAME`): the dashboard signs in through the JWKS's issuer with this app
    /// client (authorization code flow with PKCE).
    pub oidc: Option<OidcSettings>,
    /// `OUTREACH_WEBHOOK_SECRET`: the key inbound webhooks must present.
    pub webhook_secret: Option<String>,
    /// `OUTREACH_ZNS_OA_SECRET_KEY` with `OUTREACH_ZNS_APP_ID`: the OA secret key of the
    /// Zalo app's webhook settings, which signs Zalo's ZNS delivery and seen events.
    /// How long after a reminder asked whether a person will come an SMS reply answers it.
    pub answer_window: Duration,
    pub zalo_webhook: Option<outreach_core::zns::ZaloWebhookKeys>,
    /// `OUTREACH_PUBLIC_URL`: the API's public URL, for unsubscribe links in email.
    pub public_url: Option<String>,
    /// `OUTREACH_PLANNER_HORIZON_DAYS` (default 35).
    pub horizon: Duration,
    /// `OUTREACH_DELIVERY_RETENTION_DAYS` (default 365): delivery records expire after it.
    pub sender: SenderSettings,
    pub dispatch: DispatchSettings,
    /// `OUTREACH_REPORT_ORGS`: comma-separated unit codes the quarterly summary reports
    /// on; empty: every province.
    pub report_orgs: Vec<String>,
    /// `OUTREACH_LOCAL_QUEUE_VISIBILITY_SECONDS` (default 60): how long a task the local
    /// sender received stays hidden from other senders; a sender that died with it lets it
    /// come back then.
    pub local_queue_visibility: std::time::Duration,
}

/// An identity provider's token keys and the issuer and audience its tokens must name.
#[derive(Debug, Clone)]
pub struct Jwks {
    pub document: String,
    pub issuer: String,
    pub audience: String,
}

impl Jwks {
    /// `OUTREACH_JWKS` or `OUTREACH_JWKS_FILE`, with the issuer and audience they need.
    fn from_env() -> Result<Option<Self>> {
        let document = match (var("OUTREACH_JWKS"), var("OUTREACH_JWKS_FILE")) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => bail!("set OUTREACH_JWKS or OUTREACH_JWKS_FILE, not both"),
            (Some(document), None) => document,
            (None, Some(path)) => {
                std::fs::read_to_string(&path).with_context(|| format!("OUTREACH_JWKS_FILE={path}: cannot read it"))?
            }
        };
        Ok(Some(Self {
            document,
            issuer: var("OUTREACH_JWT_ISSUER").context("OUTREACH_JWT_ISSUER must be set with a JWKS")?,
            audience: var("OUTREACH_JWT_AUDIENCE").context("OUTREACH_JWT_AUDIENCE must be set with a JWKS")?,
        }))
    }
}

/// The dashboard's sign-in through the identity provider, when `OUTREACH_OIDC_CLIENT_ID` is
/// set: it needs the provider's keys (`jwks`), as its ID tokens are checked as API tokens,
/// and the client must be the tokens' audience.
fn oidc_from_env(jwks: Option<&Jwks>, public_url: Option<String>) -> Result<Option<OidcSettings>> {
    let Some(client_id) = var("OUTREACH_OIDC_CLIENT_ID") else {
        return Ok(None);
    };
    let jwks = jwks.context(
        "OUTREACH_OIDC_CLIENT_ID needs the provider's keys (OUTREACH_JWKS or OUTREACH_JWKS_FILE, OUTREACH_JWT_ISSUER, OUTREACH_JWT_AUDIENCE)",
    )?;
    if client_id != jwks.audience {
        bail!(
            "OUTREACH_OIDC_CLIENT_ID must equal OUTREACH_JWT_AUDIENCE: the ID tokens the dashboard gets name their client as audience"
        );
    }
    let scopes = var("OUTREACH_OIDC_SCOPES").unwrap_or_else(|| "openid".into());
    if !scopes.split_whitespace().any(|s| s == "openid") {
        bail!("OUTREACH_OIDC_SCOPES={scopes:?} must include openid");
    }
    Ok(Some(OidcSettings {
        issuer: jwks.issuer.clone(),
        client_id,
        client_secret: var("OUTREACH_OIDC_CLIENT_SECRET"),
        scopes,
        public_url,
        name: var("OUTREACH_OIDC_NAME").unwrap_or_else(|| "nhà cung cấp danh tính".into()),
    }))
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn number(name: &str, default: i64, range: std::ops::RangeInclusive<i64>) -> Result<i64> {
    match var(name) {
        None => Ok(default),
        Some(v) => {
            let n: i64 = v
                .parse()
                .with_context(|| format!("{name}={v:?} is not a whole number"))?;
            if !range.contains(&n) {
                bail!("{name}={n} is out of range {}..={}", range.start(), range.end());
            }
            Ok(n)
        }
    }
}

/// `OUTREACH_PRICES` (a JSON price table) or `OUTREACH_PRICES_FILE` (its path), each field
/// defaulting to `PriceTable::default()`; without a route, SMS are costed by the route
/// `OUTREACH_SMS` uses. A table that cannot be right stops the start, naming the field.
fn prices_from_env(channels: &ChannelConfig) -> Result<PriceTable> {
    let (name, text) = match (var("OUTREACH_PRICES"), var("OUTREACH_PRICES_FILE")) {
        (None, None) => ("OUTREACH_PRICES", "{}".to_string()),
        (Some(_), Some(_)) => bail!("set OUTREACH_PRICES or OUTREACH_PRICES_FILE, not both"),
        (Some(json), None) => ("OUTREACH_PRICES", json),
        (None, Some(path)) => (
            "OUTREACH_PRICES_FILE",
            std::fs::read_to_string(&path).with_context(|| format!("OUTREACH_PRICES_FILE={path}: cannot read it"))?,
        ),
    };
    let mut prices = PriceTable::parse_json(&text)
        .map_err(anyhow::Error::msg)
        .context(name)?;
    if prices.sms_route.is_none() {
        prices.sms_route = Some(match channels.sms {
            outreach_notify::SmsChannelConfig::Sns(_) => SmsRoute::Sns,
            _ => SmsRoute::Brandname,
        });
    }
    Ok(prices)
}

impl Config {
    /// Read the configuration; `default_store` applies when `OUTREACH_STORE` is unset
    /// (the local command passes its `--db`; Lambda functions pass None and require it).
    pub fn from_env(default_store: Option<StoreUrl>) -> Result<Self> {
        let store = match var("OUTREACH_STORE") {
            Some(s) => s.parse().map_err(anyhow::Error::msg).context("OUTREACH_STORE")?,
            None => default_store.context("OUTREACH_STORE is not set (sqlite:PATH or dynamodb:TABLE)")?,
        };
        let channels = ChannelConfig::from_env()?;
        let prices = prices_from_env(&channels)?;
        let retention = number("OUTREACH_DELIVERY_RETENTION_DAYS", 365, 1..=3650)?;
        let jwks = Jwks::from_env()?;
        let oidc = oidc_from_env(jwks.as_ref(), var("OUTREACH_PUBLIC_URL"))?;
        Ok(Self {
            store,
            queue_url: var("OUTREACH_QUEUE_URL"),
            channels,
            jwt_secret: var("OUTREACH_JWT_SECRET"),
            jwks,
            oidc,
            webhook_secret: var("OUTREACH_WEBHOOK_SECRET"),
            zalo_webhook: match (var("OUTREACH_ZNS_APP_ID"), var("OUTREACH_ZNS_OA_SECRET_KEY")) {
                (Some(app_id), Some(oa_secret_key)) => {
                    Some(outreach_core::zns::ZaloWebhookKeys { app_id, oa_secret_key })
                }
                _ => None,
            },
            public_url: var("OUTREACH_PUBLIC_URL"),
            horizon: Duration::days(number("OUTREACH_PLANNER_HORIZON_DAYS", DEFAULT_HORIZON_DAYS, 1..=366)?),
            sender: SenderSettings {
                retention: Duration::days(retention),
                after_uncertain_send: var("OUTREACH_AFTER_UNCERTAIN_SEND")
                    .map(|v| v.parse())
                    .transpose()
                    .map_err(anyhow::Error::msg)
                    .context("OUTREACH_AFTER_UNCERTAIN_SEND")?
                    .unwrap_or_default(),
                prices,
                ..SenderSettings::default()
            },
            dispatch: DispatchSettings::default(),
            report_orgs: var("OUTREACH_REPORT_ORGS")
                .map(|v| {
                    v.split(',')
                        .map(|c| c.trim().to_string())
                        .filter(|c| !c.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            local_queue_visibility: std::time::Duration::from_secs(
                number("OUTREACH_LOCAL_QUEUE_VISIBILITY_SECONDS", 60, 1..=3600)?.unsigned_abs(),
            ),
            answer_window: Duration::hours(number(
                "OUTREACH_ANSWER_WINDOW_HOURS",
                outreach_core::usecases::DEFAULT_ANSWER_WINDOW.num_hours(),
                1..=24 * 60,
            )?),
        })
    }

    /// The same configuration for a local run on a SQLite file, with the outbox in `outbox`.
    pub fn local(db: PathBuf, outbox: PathBuf) -> Self {
        Self {
            store: StoreUrl::Sqlite(db),
            queue_url: None,
            channels: ChannelConfig::outbox(outbox),
            jwt_secret: None,
            jwks: None,
            oidc: None,
            webhook_secret: None,
            zalo_webhook: None,
            public_url: None,
            horizon: Duration::days(DEFAULT_HORIZON_DAYS),
            sender: SenderSettings::default(),
            dispatch: DispatchSettings::default(),
            report_orgs: Vec::new(),
            local_queue_visibility: std::time::Duration::from_secs(60),
            answer_window: outreach_core::usecases::DEFAULT_ANSWER_WINDOW,
        }
    }

    /// The token checker: the JWKS when one is configured, else HS256 with
    /// `OUTREACH_JWT_SECRET`, or with `fallback` (the local key file) when it is unset.
    pub fn auth(&self, fallback: Option<Vec<u8>>) -> Result<AuthConfig> {
        let secret = match (&self.jwt_secret, fallback) {
            (Some(s), _) => s.clone().into_bytes(),
            (None, Some(key)) => key,
            (None, None) => bail!("OUTREACH_JWT_SECRET is not set"),
        };
        let auth = AuthConfig::hs256(&secret, LOCAL_ISSUER).map_err(anyhow::Error::msg)?;
        match &self.jwks {
            None => Ok(auth),
            Some(jwks) => auth
                .with_jwks(&jwks.document, &jwks.issuer, &jwks.audience)
                .map_err(anyhow::Error::msg)
                .context("OUTREACH_JWKS"),
        }
    }
}

/// Reports as XLSX workbooks (`outreach-report`).
pub struct XlsxRenderer;

impl ReportRenderer for XlsxRenderer {
    fn xlsx(&self, report: &QuarterlyReport) -> std::result::Result<Vec<u8>, String> {
        outreach_report::to_xlsx(report).map_err(|e| e.to_string())
    }
}

/// The delivery queue: SQS in production; locally a table of the SQLite store, so that
/// what is owed survives the process; in-process only for DynamoDB without SQS.
#[derive(Clone)]
pub enum DeliveryQueue {
    Memory(Arc<MemoryQueue>),
    #[cfg(feature = "sqlite")]
    Local(Arc<outreach_store::SqliteStore>),
    Sqs(SqsQueue),
}

impl DeliveryQueue {
    pub fn as_queue(&self) -> &dyn Queue {
        match self {
            Self::Memory(q) => q.as_ref(),
            #[cfg(feature = "sqlite")]
            Self::Local(q) => q.as_ref(),
            Self::Sqs(q) => q,
        }
    }

    /// Whether the queue is the process's own (in memory or in the local database), for
    /// the local sender to drain, rather than SQS's.
    pub fn is_local(&self) -> bool {
        !matches!(self, Self::Sqs(_))
    }
}

/// Tasks the local sender takes from the local queue at a time: each batch's done tasks
/// are deleted before the next is received, so a process killed loses at most a batch in
/// flight, which comes back after its visibility timeout.
#[cfg(feature = "sqlite")]
const LOCAL_BATCH: usize = 50;

/// The adapters, built once.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub email: Arc<dyn EmailChannel>,
    pub sms: Arc<dyn SmsChannel>,
    /// Zalo ZNS when an OA is configured (its token read from the store).
    pub zns: Option<Arc<dyn ZnsChannel>>,
    pub links: Arc<dyn UnsubscribeLinks>,
    pub queue: DeliveryQueue,
    pub config: Config,
}

/// Open the store a URL names.
pub async fn open_store(url: &StoreUrl) -> Result<Arc<dyn Store>> {
    let sdk = match url {
        StoreUrl::DynamoDb(_) => Some(aws::sdk_config().await?),
        _ => None,
    };
    open_store_with(url, sdk.as_ref())
}

/// Open the store a URL names; DynamoDB with the given SDK settings.
fn open_store_with(url: &StoreUrl, sdk: Option<&aws_config::SdkConfig>) -> Result<Arc<dyn Store>> {
    match (url, sdk) {
        #[cfg(feature = "sqlite")]
        (StoreUrl::Sqlite(path), _) => Ok(Arc::new(
            outreach_store::SqliteStore::open(path)
                .with_context(|| format!("opening the SQLite store at {}", path.display()))?,
        )),
        #[cfg(feature = "dynamodb")]
        (StoreUrl::DynamoDb(table), Some(sdk)) => Ok(Arc::new(outreach_store::DynamoStore::with_sdk(sdk, table))),
        #[allow(unreachable_patterns)]
        (other, _) => bail!("this build has no adapter for the store {other:?}"),
    }
}

/// Which adapters beyond the store a process calls: the others are not built (no client,
/// no connection, no settings read from them), so a job function starts with only its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The email and SMS channels (the sender, the quarterly summary's email).
    pub channels: bool,
    /// The SQS delivery queue, when one is configured (the dispatcher; locally, everything).
    pub queue: bool,
}

impl Needs {
    /// The store alone: the planner, and the API (it sends nothing).
    pub const STORE: Needs = Needs {
        channels: false,
        queue: false,
    };
    /// The dispatcher: the store and the queue.
    pub const DISPATCHER: Needs = Needs {
        channels: false,
        queue: true,
    };
    /// The sender and the quarterly summary: the store and the channels.
    pub const CHANNELS: Needs = Needs {
        channels: true,
        queue: false,
    };
    /// Everything (`outreach serve`, `outreach run`, the demo).
    pub const ALL: Needs = Needs {
        channels: true,
        queue: true,
    };
}

/// The channel of a process that sends nothing: any message it is asked for is refused,
/// permanently, naming the mistake (a wiring bug, never a state to retry out of).
struct NotBuilt;

#[async_trait::async_trait]
impl EmailChannel for NotBuilt {
    async fn send_email(&self, _: &OutboundEmail) -> std::result::Result<Sent, ChannelError> {
        Err(ChannelError::Permanent(
            "this process was built without channels".into(),
        ))
    }
}

#[async_trait::async_trait]
impl SmsChannel for NotBuilt {
    async fn send_sms(&self, _: &OutboundSms) -> std::result::Result<Sent, ChannelError> {
        Err(ChannelError::Permanent(
            "this process was built without channels".into(),
        ))
    }
}

impl App {
    /// Build every adapter the configuration names; `auth` signs unsubscribe links.
    pub async fn build(config: Config, auth: Option<&AuthConfig>) -> Result<Self> {
        Self::build_for(Needs::ALL, config, auth).await
    }

    /// Build the store and the adapters `needs` names; `auth` signs unsubscribe links.
    pub async fn build_for(needs: Needs, config: Config, auth: Option<&AuthConfig>) -> Result<Self> {
        // One set of AWS settings for every adapter that needs them, loaded once.
        let needs_aws = matches!(config.store, StoreUrl::DynamoDb(_))
            || (needs.queue && config.queue_url.is_some())
            || (needs.channels && matches!(config.channels.email, outreach_notify::EmailChannelConfig::Ses(_)))
            || (needs.channels && matches!(config.channels.sms, outreach_notify::SmsChannelConfig::Sns(_)));
        let aws = if needs_aws {
            Some(aws::sdk_config().await?)
        } else {
            None
        };
        #[cfg(feature = "sqlite")]
        let local = match &config.store {
            StoreUrl::Sqlite(path) => Some(Arc::new(
                outreach_store::SqliteStore::open(path)
                    .with_context(|| format!("opening the SQLite store at {}", path.display()))?,
            )),
            _ => None,
        };
        #[cfg(feature = "sqlite")]
        let store: Arc<dyn Store> = match &local {
            Some(sqlite) => sqlite.clone(),
            None => open_store_with(&config.store, aws.as_ref())?,
        };
        #[cfg(not(feature = "sqlite"))]
        let store = open_store_with(&config.store, aws.as_ref())?;
        let (email, sms): (Arc<dyn EmailChannel>, Arc<dyn SmsChannel>) = if needs.channels {
            build_channels(&config.channels, aws.as_ref()).await?
        } else {
            (Arc::new(NotBuilt), Arc::new(NotBuilt))
        };
        let zns: Option<Arc<dyn ZnsChannel>> = match &config.channels.zns {
            Some(ZnsChannelConfig::Zalo(zns)) if needs.channels => {
                let tokens: Arc<dyn ZnsTokenStore> = store.clone();
                Some(Arc::new(ZaloZns::new(zns, tokens)?))
            }
            Some(ZnsChannelConfig::Outbox(dir)) if needs.channels => Some(Arc::new(Outbox::new(dir.clone())?)),
            _ => None,
        };
        let queue = match (&config.queue_url, &aws) {
            (Some(url), Some(sdk)) if needs.queue => {
                DeliveryQueue::Sqs(SqsQueue::new(sdk, SqsConfig::new(url.clone())))
            }
            #[cfg(feature = "sqlite")]
            _ if local.is_some() => DeliveryQueue::Local(local.clone().expect("checked")),
            _ => DeliveryQueue::Memory(Arc::new(MemoryQueue::default())),
        };
        let links: Arc<dyn UnsubscribeLinks> = match (&config.public_url, auth) {
            (Some(url), Some(auth)) => Arc::new(SignedUnsubscribeLinks {
                auth: auth.clone(),
                base_url: url.clone(),
            }),
            _ => Arc::new(NoUnsubscribeLinks),
        };
        Ok(Self {
            store,
            email,
            sms,
            zns,
            links,
            queue,
            config,
        })
    }

    /// The channels the sender uses.
    pub fn channels(&self) -> Channels<'_> {
        Channels {
            email: self.email.as_ref(),
            sms: self.sms.as_ref(),
            zns: self.zns.as_deref(),
            links: self.links.as_ref(),
        }
    }

    /// Refresh the Zalo OA's access token when it is near expiry (the one refresher: the
    /// planner's schedule on AWS, a timer of `outreach serve` locally). The first refresh
    /// token comes from the configuration when the store holds none. Nothing without ZNS.
    pub async fn refresh_zns_token(&self, now: DateTime<Utc>) -> Result<RefreshOutcome> {
        let Some(config) = self.config.channels.zns.as_ref().and_then(ZnsChannelConfig::zalo) else {
            return Ok(RefreshOutcome::NotConfigured);
        };
        if let Some(first) = &config.first_refresh_token
            && seed_zns_token(self.store.as_ref(), first.expose(), now).await?
        {
            tracing::info!("ZNS: the first refresh token from the configuration is stored");
        }
        let oauth = ZaloOAuth::new(config)?;
        Ok(refresh_zns_token(self.store.as_ref(), &oauth, now).await?)
    }

    /// One planner run.
    pub async fn plan(&self, now: DateTime<Utc>) -> Result<PlannerReport> {
        Ok(run_planner(self.store.as_ref(), now, self.config.horizon).await?)
    }

    /// One quarterly summary: the quarter that ended before `now` unless one is given.
    pub async fn quarterly_summary(&self, now: DateTime<Utc>, quarter: Option<Quarter>) -> Result<SummaryReport> {
        let settings = SummarySettings {
            orgs: self.config.report_orgs.clone(),
            quarter,
        };
        Ok(run_quarterly_summary(self.store.as_ref(), self.email.as_ref(), &XlsxRenderer, now, &settings).await?)
    }

    /// One dispatcher run.
    pub async fn dispatch(&self, now: DateTime<Utc>) -> Result<DispatchReport> {
        Ok(run_dispatcher(self.store.as_ref(), self.queue.as_queue(), now, self.config.dispatch).await?)
    }

    /// Send a batch of tasks; the outcomes, in order.
    pub async fn send(
        &self,
        tasks: &[DeliveryTask],
        now: DateTime<Utc>,
    ) -> Vec<outreach_core::CoreResult<SendOutcome>> {
        run_sender(self.store.as_ref(), self.channels(), tasks, now, self.config.sender).await
    }

    /// Send what waits in the queue now: the in-process queue is drained (tasks to retry
    /// go back); the local queue and SQS are read until they answer empty (tasks to retry
    /// are left for their visibility timeout), the local one a batch at a time.
    pub async fn send_pending(&self, now: DateTime<Utc>) -> Result<SenderReport> {
        let mut outcomes = Vec::new();
        match &self.queue {
            DeliveryQueue::Memory(q) => {
                let tasks = q.drain(usize::MAX);
                let results = self.send(&tasks, now).await;
                let retry: Vec<DeliveryTask> = tasks
                    .iter()
                    .zip(&results)
                    .filter(|(_, r)| matches!(r, Ok(o) if o.needs_redelivery()) || r.is_err())
                    .map(|(t, _)| t.clone())
                    .collect();
                q.enqueue(&retry).await?;
                outcomes.extend(results);
            }
            #[cfg(feature = "sqlite")]
            DeliveryQueue::Local(q) => {
                // Tasks to retry later (a claim held elsewhere, a provider failing for now) come
                // back after their visibility timeout; a pass ends when it sees only those again.
                let mut retried = std::collections::HashSet::new();
                loop {
                    let received = q.receive_tasks(LOCAL_BATCH, self.config.local_queue_visibility).await?;
                    if received.is_empty() {
                        break;
                    }
                    let tasks: Vec<DeliveryTask> = received.iter().map(|(_, t)| t.clone()).collect();
                    let results = self.send(&tasks, now).await;
                    let mut done = Vec::new();
                    let mut again = 0;
                    for ((receipt, _), result) in received.iter().zip(&results) {
                        if matches!(result, Ok(o) if !o.needs_redelivery()) {
                            done.push(receipt.clone());
                        } else if !retried.insert(receipt.clone()) {
                            again += 1;
                        }
                    }
                    q.delete_tasks(&done).await?;
                    outcomes.extend(results);
                    if again == received.len() {
                        break;
                    }
                }
            }
            DeliveryQueue::Sqs(q) => loop {
                let received = q.receive(0).await?;
                if received.is_empty() {
                    break;
                }
                let tasks: Vec<DeliveryTask> = received.iter().map(|(_, t)| t.clone()).collect();
                let results = self.send(&tasks, now).await;
                let done: Vec<String> = received
                    .iter()
                    .zip(&results)
                    .filter(|(_, r)| matches!(r, Ok(o) if !o.needs_redelivery()))
                    .map(|((receipt, _), _)| receipt.clone())
                    .collect();
                q.delete(&done).await?;
                outcomes.extend(results);
            },
        }
        Ok(SenderReport::of(&outcomes))
    }
}

/// The event handlers of the Lambda functions, as plain functions over real event payloads.
pub mod lambda {
    use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
    use chrono::{DateTime, Utc};
    use outreach_core::notify::DeliveryTask;

    use super::App;

    /// The instant a scheduled invocation stands for: the event's `time` (EventBridge
    /// scheduled events and the Scheduler input carry it), or now when it has none.
    pub fn scheduled_time(event: &serde_json::Value) -> DateTime<Utc> {
        event
            .get("time")
            .and_then(|t| t.as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now)
    }

    /// The quarterly-summary function's event: EventBridge's scheduled event (its `time`),
    /// or one invoked on demand that names a quarter (`{"year": 2026, "quarter": 3}`).
    #[derive(Debug, Default, serde::Deserialize)]
    pub struct SummaryEvent {
        #[serde(default)]
        pub time: Option<DateTime<Utc>>,
        /// Read as any JSON number, so that an out-of-range one is refused by name rather
        /// than cut to fit (`"quarter": 260` is not Q4).
        #[serde(default)]
        pub year: Option<serde_json::Number>,
        #[serde(default)]
        pub quarter: Option<serde_json::Number>,
    }

    impl SummaryEvent {
        /// The quarter the event names, checked; `None` for the quarter before `time`.
        pub fn quarter(&self) -> Result<Option<outreach_core::quarter::Quarter>, String> {
            let whole = |field: &str, n: &serde_json::Number| {
                n.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| format!("{field} must be a whole number, not {n}"))
            };
            match (&self.year, &self.quarter) {
                (None, None) => Ok(None),
                (Some(year), Some(quarter)) => {
                    let year = whole("year", year)?;
                    let quarter = u8::try_from(whole("quarter", quarter)?)
                        .map_err(|_| "quarter: a quarter is 1 to 4".to_string())?;
                    outreach_core::quarter::Quarter::new(year, quarter)
                        .map(Some)
                        .map_err(|e| e.to_string())
                }
                _ => Err("name both year and quarter, or neither".into()),
            }
        }

        /// The instant the invocation stands for: the event's `time`, or now.
        pub fn time(&self) -> DateTime<Utc> {
            self.time.unwrap_or_else(Utc::now)
        }
    }

    /// The sender's handler: each SQS message a delivery task; messages to try again
    /// later (a temporary failure, a claim another sender holds, a storage error) are
    /// reported in `batch_item_failures` so only they come back.
    pub async fn handle_sqs(app: &App, event: SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
        let mut ids = Vec::new();
        let mut tasks = Vec::new();
        for message in event.records {
            let id = message.message_id.clone().unwrap_or_default();
            match message.body.as_deref().map(serde_json::from_str::<DeliveryTask>) {
                Some(Ok(task)) => {
                    ids.push(id);
                    tasks.push(task);
                }
                // A body that is not a task will never be one: drop it rather than loop.
                _ => tracing::error!(message_id = %id, "an SQS message is not a delivery task; dropped"),
            }
        }
        let outcomes = app.send(&tasks, now).await;
        let batch_item_failures = ids
            .into_iter()
            .zip(outcomes)
            .filter(|(_, o)| !matches!(o, Ok(o) if !o.needs_redelivery()))
            .map(|(item_identifier, _)| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = item_identifier;
                failure
            })
            .collect();
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = batch_item_failures;
        response
    }
}

#[cfg(test)]
mod tests {
    use super::lambda::SummaryEvent;

    fn event(json: &str) -> SummaryEvent {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_summary_event_names_a_checked_quarter_or_none() {
        let scheduled = event(
            r#"{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","time":"2026-10-01T00:00:00Z","detail":{}}"#,
        );
        assert_eq!(scheduled.quarter(), Ok(None));
        assert_eq!(scheduled.time().to_rfc3339(), "2026-10-01T00:00:00+00:00");
        let q3 = event(r#"{"year": 2026, "quarter": 3}"#).quarter().unwrap().unwrap();
        assert_eq!((q3.year, q3.quarter), (2026, 3));
    }

    #[test]
    fn a_summary_event_with_a_quarter_out_of_range_is_refused_not_cut_to_fit() {
        // 260 as u8 is 4: it must not run Q4.
        for (json, word) in [
            (r#"{"year": 2026, "quarter": 260}"#, "quarter"),
            (r#"{"year": 2026, "quarter": 0}"#, "quarter"),
            (r#"{"year": 2026, "quarter": -1}"#, "quarter"),
            (r#"{"year": 2026, "quarter": 2.5}"#, "quarter"),
            (r#"{"year": 4294969322, "quarter": 1}"#, "year"),
            (r#"{"year": 1999, "quarter": 1}"#, "year"),
            (r#"{"quarter": 1}"#, "both"),
        ] {
            let refused = event(json).quarter().unwrap_err();
            assert!(refused.contains(word), "{json}: {refused}");
        }
    }
}
