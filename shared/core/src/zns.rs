//! Zalo ZNS: the OA's token pair and its refresh. The access token lives about 25 hours;
//! each refresh token works once (about 3 months), so two processes refreshing at once
//! would spend it twice and lock the OA out. One refresher (a timer) refreshes, under a
//! conditional write that lets exactly one caller per expiry call Zalo; senders only read.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};
use crate::notify::ZNS_ALARM_MARKER;

/// The OA's tokens as the store keeps them (one record).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZnsToken {
    /// Empty until the first refresh.
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    /// Works once: the next refresh spends it.
    pub refresh_token: String,
    /// While set and in the future, one refresher holds the refresh: others leave it alone.
    pub refreshing_until: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version: 1 when new, one more on every write.
    pub version: u64,
}

impl std::fmt::Debug for ZnsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZnsToken")
            .field("access_expires_at", &self.access_expires_at)
            .field("refreshing_until", &self.refreshing_until)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The one record of the OA's tokens.
#[async_trait]
pub trait ZnsTokenStore: Send + Sync {
    async fn get_zns_token(&self) -> CoreResult<Option<ZnsToken>>;
    /// Write the token: version 1 must be new (`AlreadyExists` otherwise); any other must
    /// replace the stored version `token.version - 1` (`Conflict` otherwise).
    async fn put_zns_token(&self, token: &ZnsToken) -> CoreResult<()>;
}

/// A fresh pair from Zalo's OAuth endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct ZnsTokenPair {
    pub access_token: String,
    /// Seconds the access token lives (`expires_in`).
    pub expires_in: i64,
    pub refresh_token: String,
}

/// Why a refresh failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// Worth trying again on the next tick with the same refresh token (a timeout before
    /// Zalo answered, a 5xx): Zalo did not spend it.
    #[error("temporary: {0}")]
    Transient(String),
    /// Zalo refused the refresh token (spent, expired) or the app: a person must issue a new
    /// one in the Zalo developer console.
    #[error("refused: {0}")]
    Refused(String),
}

/// Zalo's OAuth endpoint (`POST /v4/oa/access_token`).
#[async_trait]
pub trait ZnsOAuth: Send + Sync {
    async fn refresh(&self, refresh_token: &str) -> Result<ZnsTokenPair, RefreshError>;
}

/// Refresh when the access token has less than this left (the timer runs every 15 minutes).
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::hours(1);
/// How long one refresher holds the refresh before another may take it over.
pub const REFRESH_LEASE: Duration = Duration::minutes(2);

/// What one refresher run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshOutcome {
    /// No token pair is configured.
    NotConfigured,
    /// The access token has long enough to live.
    Fresh,
    /// Another refresher holds the refresh (or won the race to it).
    Busy,
    /// This run refreshed it.
    Refreshed,
    /// Zalo refused or failed the refresh (logged with the alarm marker).
    Failed,
}

/// Put the first refresh token (from configuration) in the store when none is kept; a kept
/// one wins, since the configured one was spent by the first refresh.
pub async fn seed_zns_token<S: ZnsTokenStore + ?Sized>(
    store: &S,
    refresh_token: &str,
    now: DateTime<Utc>,
) -> CoreResult<bool> {
    if store.get_zns_token().await?.is_some() {
        return Ok(false);
    }
    let token = ZnsToken {
        access_token: String::new(),
        access_expires_at: now,
        refresh_token: refresh_token.to_string(),
        refreshing_until: None,
        updated_at: now,
        version: 1,
    };
    match store.put_zns_token(&token).await {
        Ok(()) => Ok(true),
        Err(CoreError::AlreadyExists { .. } | CoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Refresh the OA's access token when it is about to expire. Exactly one of any number of
/// concurrent callers calls Zalo: each first writes a lease on the version it read, and only
/// the one whose write succeeds refreshes. A refresher that dies before calling Zalo leaves
/// a lease another takes over after [`REFRESH_LEASE`]; one that dies after Zalo answered has
/// spent the refresh token, which only a person can replace (the alarm says so).
pub async fn refresh_zns_token<S: ZnsTokenStore + ?Sized>(
    store: &S,
    oauth: &dyn ZnsOAuth,
    now: DateTime<Utc>,
) -> CoreResult<RefreshOutcome> {
    let Some(stored) = store.get_zns_token().await? else {
        return Ok(RefreshOutcome::NotConfigured);
    };
    if !stored.access_token.is_empty() && stored.access_expires_at - REFRESH_BEFORE_EXPIRY > now {
        return Ok(RefreshOutcome::Fresh);
    }
    if stored.refreshing_until.is_some_and(|until| until > now) {
        return Ok(RefreshOutcome::Busy);
    }
    let mut held = ZnsToken {
        refreshing_until: Some(now + REFRESH_LEASE),
        updated_at: now,
        version: stored.version + 1,
        ..stored
    };
    match store.put_zns_token(&held).await {
        Ok(()) => {}
        Err(CoreError::Conflict(_)) => return Ok(RefreshOutcome::Busy),
        Err(e) => return Err(e),
    }
    match oauth.refresh(&held.refresh_token).await {
        Ok(pair) => {
            held = ZnsToken {
                access_token: pair.access_token,
                access_expires_at: now + Duration::seconds(pair.expires_in),
                refresh_token: pair.refresh_token,
                refreshing_until: None,
                updated_at: now,
                version: held.version + 1,
            };
            if let Err(e) = store.put_zns_token(&held).await {
                tracing::error!(
                    alarm = ZNS_ALARM_MARKER,
                    error.message = %e,
                    "{ZNS_ALARM_MARKER}: the refreshed ZNS token pair could not be stored; the refresh token is spent: issue a new one"
                );
                return Err(e);
            }
            tracing::info!(expires_at = %held.access_expires_at, "ZNS access token refreshed");
            Ok(RefreshOutcome::Refreshed)
        }
        Err(e) => {
            tracing::error!(
                alarm = ZNS_ALARM_MARKER,
                error.message = %e,
                "{ZNS_ALARM_MARKER}: the ZNS access token could not be refreshed"
            );
            // Let the next tick try again at once with the same (unspent or refused) token.
            let released = ZnsToken {
                refreshing_until: None,
                updated_at: now,
                version: held.version + 1,
                ..held
            };
            store.put_zns_token(&released).await?;
            Ok(RefreshOutcome::Failed)
        }
    }
}

/// What verifies Zalo's OA webhook: the app's id and the OA secret key of its webhook
/// settings (`OUTREACH_ZNS_APP_ID`, `OUTREACH_ZNS_OA_SECRET_KEY`).
#[derive(Clone)]
pub struct ZaloWebhookKeys {
    pub app_id: String,
    pub oa_secret_key: String,
}

impl std::fmt::Debug for ZaloWebhookKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZaloWebhookKeys")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}
