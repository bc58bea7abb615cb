//! Bearer tokens: HS256 JWTs minted locally by `outreach token`; on AWS the HTTP API's
//! authorizer has verified them already, and the router still checks their claims.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;

/// Issuer of locally minted tokens.
pub const LOCAL_ISSUER: &str = "outreach-local";
/// Audience every token must name.
pub const AUDIENCE: &str = "outreach-api";

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The whole province.
    Admin,
    /// A unit and everything under it.
    Planner,
    /// One commune's contacts, attendance and outcomes.
    CommuneOfficer,
    /// Reads reports of a unit and below.
    Viewer,
}

impl Role {
    /// Parse a role name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "planner" => Some(Self::Planner),
            "commune_officer" => Some(Self::CommuneOfficer),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }
}

/// The claims of an outreach token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// The unit the caller works for.
    pub org: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// How tokens are checked (and, locally, minted).
#[derive(Clone)]
pub struct AuthConfig {
    decoding: DecodingKey,
    encoding: EncodingKey,
    issuer: String,
}

impl AuthConfig {
    /// HS256 with a shared secret (local use). The secret must be at least 32 bytes.
    pub fn hs256(secret: &[u8], issuer: &str) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err("the token secret must be at least 32 bytes".into());
        }
        Ok(Self {
            decoding: DecodingKey::from_secret(secret),
            encoding: EncodingKey::from_secret(secret),
            issuer: issuer.to_string(),
        })
    }

    /// Mint a token for `sub` with `role` over unit `org`, valid for `ttl` from `now`.
    pub fn mint(&self, sub: &str, role: Role, org: &str, now: DateTime<Utc>, ttl: chrono::Duration) -> String {
        let claims = Claims {
            sub: sub.to_string(),
            role,
            org: org.to_string(),
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_string(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + ttl).timestamp(),
        };
        // Encoding claims of plain strings and numbers with HS256 cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// Verify a token's signature, issuer, audience and validity window.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| ApiError::Unauthorized(format!("invalid token: {e}")))
    }
}

/// Audience of unsubscribe tokens (never accepted as an API token).
pub const UNSUBSCRIBE_AUDIENCE: &str = "outreach-unsubscribe";

/// The claims of an unsubscribe link.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UnsubscribeClaims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

impl AuthConfig {
    /// A token that lets its holder stop email to one contact (valid 400 days).
    pub fn mint_unsubscribe(&self, contact_id: &str, now: DateTime<Utc>) -> String {
        let claims = UnsubscribeClaims {
            sub: contact_id.to_string(),
            iss: self.issuer.clone(),
            aud: UNSUBSCRIBE_AUDIENCE.to_string(),
            iat: now.timestamp(),
            exp: (now + chrono::Duration::days(400)).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// The contact an unsubscribe token names, if the token is genuine and unexpired.
    pub fn verify_unsubscribe(&self, token: &str) -> Result<String, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[UNSUBSCRIBE_AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        jsonwebtoken::decode::<UnsubscribeClaims>(token, &self.decoding, &validation)
            .map(|d| d.claims.sub)
            .map_err(|_| ApiError::bad("token", "this unsubscribe link is not valid"))
    }
}

/// Unsubscribe links signed with the API's key: `{base_url}/v1/inbound/unsubscribe?token=…`.
#[derive(Clone)]
pub struct SignedUnsubscribeLinks {
    pub auth: AuthConfig,
    /// The public URL of the API (`https://…`), without a trailing slash.
    pub base_url: String,
}

impl outreach_core::notify::UnsubscribeLinks for SignedUnsubscribeLinks {
    fn link(&self, contact_id: &str) -> Option<String> {
        Some(format!(
            "{}/v1/inbound/unsubscribe?token={}",
            self.base_url.trim_end_matches('/'),
            self.auth.mint_unsubscribe(contact_id, Utc::now())
        ))
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Claims);

impl Caller {
    /// Refuse read-only callers a change.
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.0.role == Role::Viewer {
            return Err(ApiError::Forbidden("a viewer cannot change anything".into()));
        }
        Ok(())
    }

    /// The actor of a change, for the records that keep evidence of it.
    pub fn actor(&self) -> outreach_core::usecases::Actor {
        outreach_core::usecases::Actor {
            subject: Some(self.0.sub.clone()),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("send a bearer token (Authorization: Bearer …)".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("the Authorization header is not a bearer token".into()))?;
        state.auth.verify(token).map(Caller)
    }
}
