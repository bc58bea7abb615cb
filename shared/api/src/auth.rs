//! Bearer tokens: JWTs signed by an identity provider (RS256, public keys from a JWKS
//! document) or, locally, HS256 ones minted by `outreach token`. On AWS the HTTP API's
//! authorizer has verified them already; the router still checks signature and claims.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use outreach_core::CoreError;
use outreach_core::ports::Store;

use crate::AppState;
use crate::access::Foreign;
use crate::error::{ApiError, ApiResult};

/// Issuer of locally minted tokens.
pub const LOCAL_ISSUER: &str = "outreach-local";
/// Audience of locally minted tokens (an identity provider's is configured).
pub const AUDIENCE: &str = "outreach-api";
/// Seconds of clock difference tolerated on `exp` and `nbf`.
const LEEWAY_SECONDS: u64 = 30;

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
    /// Every role, for checks that must cover them all.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Planner, Role::CommuneOfficer, Role::Viewer];

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

    /// The role's name in tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Planner => "planner",
            Self::CommuneOfficer => "commune_officer",
            Self::Viewer => "viewer",
        }
    }
}

/// What the API takes from a verified token. An identity provider such as Cognito carries
/// the role and unit as custom attributes (`custom:role`, `custom:org`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(alias = "custom:role")]
    pub role: Role,
    /// The unit the caller works for: their area.
    #[serde(alias = "custom:org")]
    pub org: String,
    pub exp: i64,
}

/// The claims of a locally minted token.
#[derive(Serialize)]
struct MintedClaims<'a> {
    sub: &'a str,
    role: Role,
    org: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// The keys API tokens are checked with.
#[derive(Clone)]
enum TokenKeys {
    /// The shared secret (local use).
    Hs256,
    /// An identity provider's public keys (RS256 and the like), from a JWKS document.
    Jwks(Arc<Vec<JwksKey>>),
}

#[derive(Clone)]
struct JwksKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// How tokens are checked (and, locally, minted). The shared secret also signs unsubscribe
/// links, whatever checks API tokens.
#[derive(Clone)]
pub struct AuthConfig {
    keys: TokenKeys,
    decoding: DecodingKey,
    encoding: EncodingKey,
    issuer: String,
    audience: String,
}

impl AuthConfig {
    /// HS256 with a shared secret (local use). The secret must be at least 32 bytes.
    pub fn hs256(secret: &[u8], issuer: &str) -> Result<Self, String> {
        if secret.len() < 32 {
            return Err("the token secret must be at least 32 bytes".into());
        }
        Ok(Self {
            keys: TokenKeys::Hs256,
            decoding: DecodingKey::from_secret(secret),
            encoding: EncodingKey::from_secret(secret),
            issuer: issuer.to_string(),
            audience: AUDIENCE.to_string(),
        })
    }

    /// Check API tokens with the public keys of a JWKS document (an identity provider's
    /// `jwks.json`), issued by `issuer` for `audience`. Locally minted tokens are then
    /// refused; the shared secret still signs unsubscribe links.
    pub fn with_jwks(self, jwks_json: &str, issuer: &str, audience: &str) -> Result<Self, String> {
        let set: JwkSet =
            serde_json::from_str(jwks_json).map_err(|e| format!("the JWKS document is not valid: {e}"))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let algorithm = match jwk.common.key_algorithm {
                Some(a) => Algorithm::from_str(&a.to_string())
                    .map_err(|_| format!("the JWKS key algorithm {a} cannot sign tokens"))?,
                None => match jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => continue,
                },
            };
            if matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                return Err("the JWKS document holds a shared (HS) key; only public keys belong there".into());
            }
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("a JWKS key is not usable: {e}"))?;
            keys.push(JwksKey {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            });
        }
        if keys.is_empty() {
            return Err("the JWKS document has no usable public key".into());
        }
        if issuer.trim().is_empty() || audience.trim().is_empty() {
            return Err("a JWKS needs the tokens' issuer and audience".into());
        }
        Ok(Self {
            keys: TokenKeys::Jwks(Arc::new(keys)),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ..self
        })
    }

    /// Mint a token for `sub` with `role` over unit `org`, valid for `ttl` from `now`.
    pub fn mint(&self, sub: &str, role: Role, org: &str, now: DateTime<Utc>, ttl: chrono::Duration) -> String {
        let claims = MintedClaims {
            sub,
            role,
            org,
            iss: &self.issuer,
            aud: &self.audience,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: (now + ttl).timestamp(),
        };
        // Encoding claims of plain strings and numbers with HS256 cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// Verify a token's signature, issuer, audience and validity window (`exp`, and `nbf`
    /// when present), and read its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauthorized("the token is not a JWT"))?;
        let (algorithm, key) = match &self.keys {
            TokenKeys::Hs256 => (Algorithm::HS256, &self.decoding),
            TokenKeys::Jwks(keys) => {
                let key = keys
                    .iter()
                    .find(|k| k.algorithm == header.alg && (header.kid.is_none() || k.kid == header.kid))
                    .ok_or_else(|| unauthorized("the token is not signed by a key this API trusts"))?;
                (key.algorithm, &key.key)
            }
        };
        if header.alg != algorithm {
            return Err(unauthorized("the token is not signed by a key this API trusts"));
        }
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|d| d.claims)
            .map_err(|e| unauthorized(token_error(e.kind())))
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized(message.to_string())
}

/// Why a token was refused, in words (never the token itself).
fn token_error(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet",
        ErrorKind::InvalidAudience => "the token is for another audience",
        ErrorKind::InvalidIssuer => "the token is from another issuer",
        ErrorKind::InvalidSignature => "the token's signature is wrong",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (exp, aud, iss, sub)",
        ErrorKind::Json(_) => "the token's claims are not valid (sub, role and org are required)",
        _ => "the token is not valid",
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

/// The authenticated caller of a request, and how their endpoint answers a request about
/// another area.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: Claims,
    pub(crate) foreign: Foreign,
    /// The caller's area, read once a request however many checks need it.
    pub(crate) area: std::sync::Arc<tokio::sync::OnceCell<HashSet<String>>>,
}

impl Caller {
    pub fn role(&self) -> Role {
        self.claims.role
    }

    /// The actor of a change, for the records that keep evidence of it.
    pub fn actor(&self) -> outreach_core::usecases::Actor {
        outreach_core::usecases::Actor {
            subject: Some(self.claims.sub.clone()),
        }
    }

    /// Whether unit `code` is in the caller's area: their own unit, or (except for a commune
    /// officer) any unit under it in any version of the unit tree. A code no unit has is
    /// let through, for the use case to answer that it is unknown.
    pub async fn covers(&self, store: &dyn Store, code: &str) -> ApiResult<bool> {
        let area = self.claims.org.as_str();
        if code == area {
            return Ok(true);
        }
        if self.claims.role == Role::CommuneOfficer {
            return Ok(false);
        }
        let mut seen = HashSet::new();
        let mut pending = vec![code.to_string()];
        while let Some(unit) = pending.pop() {
            if !seen.insert(unit.clone()) {
                continue;
            }
            let versions = store.org_unit_versions(&unit).await?;
            if versions.is_empty() && unit == code {
                // A unit that does not exist holds nothing: the use case says it is unknown.
                return Ok(true);
            }
            for version in versions {
                match version.parent_code {
                    Some(parent) if parent == area => return Ok(true),
                    Some(parent) => pending.push(parent),
                    None => {}
                }
            }
        }
        Ok(false)
    }

    /// Every unit in the caller's area: their unit and everything under it in any version of
    /// the unit tree (a commune officer: their commune).
    pub async fn area(&self, store: &dyn Store) -> ApiResult<HashSet<String>> {
        let area = self
            .area
            .get_or_try_init(|| async {
                let mut area = HashSet::from([self.claims.org.clone()]);
                if self.claims.role != Role::CommuneOfficer {
                    area.extend(
                        store
                            .org_unit_descendants(&self.claims.org)
                            .await?
                            .into_iter()
                            .map(|u| u.code),
                    );
                }
                Ok::<_, ApiError>(area)
            })
            .await?;
        Ok(area.clone())
    }

    /// Refuse a request about `entity` `id`, which lies in unit `code`, unless the unit is
    /// in the caller's area.
    pub async fn require_area(&self, store: &dyn Store, code: &str, entity: &'static str, id: &str) -> ApiResult<()> {
        if self.covers(store, code).await? {
            return Ok(());
        }
        Err(self.outside(entity, id))
    }

    /// The answer to a request about `entity` `id` outside the caller's area: 403, or,
    /// where the endpoint hides what exists, the same 404 as for a missing one.
    pub fn outside(&self, entity: &'static str, id: &str) -> ApiError {
        match self.foreign {
            Foreign::NotFound => ApiError::Core(CoreError::not_found(entity, id)),
            Foreign::Forbidden => ApiError::Forbidden(format!(
                "{entity} {id} is outside your area ({} {})",
                self.claims.role.as_str(),
                self.claims.org
            )),
        }
    }

    /// The first of `codes` (by position) naming a unit outside the caller's area; codes no
    /// unit has are left for the use case to call unknown. Reads the area once.
    pub async fn first_outside(&self, store: &dyn Store, codes: &[&str]) -> ApiResult<Option<usize>> {
        let area = self.area(store).await?;
        for (i, code) in codes.iter().enumerate() {
            if !area.contains(*code) && !store.org_unit_versions(code).await?.is_empty() {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Refuse unless every unit of `codes` is in the caller's area (403, naming the first).
    pub async fn require_all(&self, store: &dyn Store, codes: &[String], field: &str) -> ApiResult<()> {
        for code in codes {
            if !self.covers(store, code).await? {
                return Err(ApiError::Forbidden(format!(
                    "{field}: unit {code} is outside your area ({} {})",
                    self.claims.role.as_str(),
                    self.claims.org
                )));
            }
        }
        Ok(())
    }
}

/// The caller of a request, read from its bearer token.
pub fn authenticate(headers: &HeaderMap, auth: &AuthConfig) -> ApiResult<Claims> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("send a bearer token (Authorization: Bearer …)".into()))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header is not a bearer token".into()))?;
    auth.verify(token)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// The caller the endpoint's guard authenticated (see `access`).
    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("send a bearer token (Authorization: Bearer …)".into()))
    }
}
