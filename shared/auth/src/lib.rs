//! Tokens of outreach, without the web stack: API bearer tokens (JWTs signed by an
//! identity provider, RS256 with public keys from a JWKS document, or, locally, HS256 ones
//! minted by `outreach token`) and the signed links that unsubscribe a contact from email.
//! The API checks the first; the job functions sign the second, and link no HTTP server.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use outreach_core::ids::{CampaignId, ContactId, SessionId};
use serde::{Deserialize, Serialize};

/// Why a token was refused, in words a caller may read (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// An API token that is not valid: its signature, issuer, audience, window or claims.
    #[error("{0}")]
    Invalid(&'static str),
    /// A genuine token whose claims do not say who the caller is here: no valid `role` and
    /// `org` (an identity-provider account nobody has given a role and unit yet).
    #[error("the token's claims are not valid (sub, role and org are required)")]
    Claims,
    /// An unsubscribe link that is forged, altered or expired.
    #[error("this unsubscribe link is not valid")]
    Unsubscribe,
    /// An answer link that is forged, altered or expired.
    #[error("this answer link is not valid")]
    Answer,
    /// A check-in code that is forged, altered or expired.
    #[error("this check-in code is not valid")]
    CheckIn,
}

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
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.verified(token)
    }

    /// Verify an ID token the identity provider returned to the dashboard's sign-in exactly
    /// as an API token ([`AuthConfig::verify`]), and that it carries the `nonce` the
    /// sign-in sent (a token replayed from another sign-in does not).
    pub fn verify_id_token(&self, token: &str, nonce: &str) -> Result<Claims, TokenError> {
        let id: IdTokenClaims = self.verified(token)?;
        if id.nonce.as_deref() != Some(nonce) {
            return Err(unauthorized("the ID token's nonce is not this sign-in's"));
        }
        Ok(id.claims)
    }

    /// The claims `T` of an API token, after every check [`AuthConfig::verify`] names.
    fn verified<T: serde::de::DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
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
        jsonwebtoken::decode::<T>(token, key, &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::Json(_) => TokenError::Claims,
                kind => unauthorized(token_error(kind)),
            })
    }
}

/// An ID token's claims: those of an API token, and the sign-in's `nonce`.
#[derive(Deserialize)]
struct IdTokenClaims {
    #[serde(flatten)]
    claims: Claims,
    nonce: Option<String>,
}

fn unauthorized(message: &'static str) -> TokenError {
    TokenError::Invalid(message)
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
    pub fn mint_unsubscribe(&self, contact_id: &ContactId, now: DateTime<Utc>) -> String {
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
    pub fn verify_unsubscribe(&self, token: &str) -> Result<ContactId, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[UNSUBSCRIBE_AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        jsonwebtoken::decode::<UnsubscribeClaims>(token, &self.decoding, &validation)
            .map(|d| ContactId::new(d.claims.sub))
            .map_err(|_| TokenError::Unsubscribe)
    }
}

/// Audience of the links a reminder carries to answer whether one will come.
pub const ANSWER_AUDIENCE: &str = "outreach-answer";

/// How long an answer link works (a reminder goes at most weeks ahead of its session).
pub const ANSWER_LINK_DAYS: i64 = 60;

/// The claims of an answer link: the delivery that asked, and the answer it gives.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AnswerClaims {
    /// The delivery's id.
    sub: String,
    /// Its campaign (part of the delivery's key).
    cmp: String,
    ans: outreach_core::answer::Answer,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// A verified answer link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerLink {
    pub campaign_id: CampaignId,
    pub delivery_id: String,
    pub answer: outreach_core::answer::Answer,
}

impl AuthConfig {
    /// A link token answering `answer` to delivery `delivery_id`, valid for
    /// [`ANSWER_LINK_DAYS`] (no answer counts after the session starts in any case).
    pub fn mint_answer(
        &self,
        campaign_id: &CampaignId,
        delivery_id: &str,
        answer: outreach_core::answer::Answer,
        now: DateTime<Utc>,
    ) -> String {
        let claims = AnswerClaims {
            sub: delivery_id.to_string(),
            cmp: campaign_id.to_string(),
            ans: answer,
            iss: self.issuer.clone(),
            aud: ANSWER_AUDIENCE.to_string(),
            iat: now.timestamp(),
            exp: (now + chrono::Duration::days(ANSWER_LINK_DAYS)).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// What an answer link says, if it is genuine and unexpired.
    pub fn verify_answer(&self, token: &str) -> Result<AnswerLink, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[ANSWER_AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        validation.leeway = 0;
        jsonwebtoken::decode::<AnswerClaims>(token, &self.decoding, &validation)
            .map(|d| AnswerLink {
                campaign_id: d.claims.cmp.into(),
                delivery_id: d.claims.sub,
                answer: d.claims.ans,
            })
            .map_err(|_| TokenError::Answer)
    }
}

/// Audience of the personal check-in code a citizen's reminder carries.
pub const CHECK_IN_AUDIENCE: &str = "outreach-check-in";

/// The claims of a check-in code: who, at which session.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckInClaims {
    /// The contact's id.
    sub: String,
    /// The session's id.
    ses: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// A verified check-in code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInCode {
    pub session_id: SessionId,
    pub contact_id: ContactId,
}

impl AuthConfig {
    /// The check-in code of `contact_id` for `session_id`, valid for [`ANSWER_LINK_DAYS`].
    pub fn mint_check_in(&self, session_id: &SessionId, contact_id: &ContactId, now: DateTime<Utc>) -> String {
        let claims = CheckInClaims {
            sub: contact_id.to_string(),
            ses: session_id.to_string(),
            iss: self.issuer.clone(),
            aud: CHECK_IN_AUDIENCE.to_string(),
            iat: now.timestamp(),
            exp: (now + chrono::Duration::days(ANSWER_LINK_DAYS)).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// A citizen's six-digit check-in code for one session, for an SMS too short for a
    /// link: 30 bits of an HS256 signature over who and where, keyed by the shared secret,
    /// so only the server can tell which citizen of the session it names. It does not
    /// expire; it checks in only at that session, for a signed-in officer of its commune.
    pub fn check_in_short_code(&self, session_id: &SessionId, contact_id: &ContactId) -> String {
        let claims = CheckInClaims {
            sub: contact_id.to_string(),
            ses: session_id.to_string(),
            iss: self.issuer.clone(),
            aud: CHECK_IN_CODE_AUDIENCE.to_string(),
            iat: 0,
            exp: 0,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default();
        let signature = token.rsplit('.').next().unwrap_or_default();
        let bits = signature.bytes().take(5).fold(0u32, |acc, b| {
            let value = match b {
                b'A'..=b'Z' => b - b'A',
                b'a'..=b'z' => b - b'a' + 26,
                b'0'..=b'9' => b - b'0' + 52,
                b'-' => 62,
                _ => 63,
            };
            (acc << 6) | u32::from(value)
        });
        format!("{:06}", bits % 1_000_000)
    }

    /// Who a check-in code checks in, and where, if it is genuine and unexpired.
    pub fn verify_check_in(&self, token: &str) -> Result<CheckInCode, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[CHECK_IN_AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        validation.leeway = 0;
        jsonwebtoken::decode::<CheckInClaims>(token, &self.decoding, &validation)
            .map(|d| CheckInCode {
                session_id: d.claims.ses.into(),
                contact_id: d.claims.sub.into(),
            })
            .map_err(|_| TokenError::CheckIn)
    }
}

/// What the short check-in codes are signed for (their signature only is used, never a token).
const CHECK_IN_CODE_AUDIENCE: &str = "outreach-check-in-code";

/// Audience of one-time dashboard sign-in links (never accepted as an API token).
pub const SIGN_IN_AUDIENCE: &str = "outreach-sign-in";

/// How long a sign-in link may be used.
pub const SIGN_IN_LINK_MINUTES: i64 = 10;

/// The claims of a sign-in link.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignInClaims {
    sub: String,
    role: Role,
    org: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    /// What makes the link usable once.
    jti: String,
}

/// A verified sign-in link: who it signs in, and its one-time id.
#[derive(Debug, Clone)]
pub struct SignInLink {
    pub claims: Claims,
    pub jti: String,
}

impl AuthConfig {
    /// A link token that signs `sub` in to the dashboard once, within ten minutes.
    pub fn mint_sign_in(&self, sub: &str, role: Role, org: &str, jti: &str, now: DateTime<Utc>) -> String {
        let claims = SignInClaims {
            sub: sub.to_string(),
            role,
            org: org.to_string(),
            iss: self.issuer.clone(),
            aud: SIGN_IN_AUDIENCE.to_string(),
            iat: now.timestamp(),
            exp: (now + chrono::Duration::minutes(SIGN_IN_LINK_MINUTES)).timestamp(),
            jti: jti.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// The sign-in a link token carries, if it is genuine and unexpired (whether it was used
    /// already is the server's to remember).
    pub fn verify_sign_in(&self, token: &str) -> Result<SignInLink, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[SIGN_IN_AUDIENCE]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        let claims = jsonwebtoken::decode::<SignInClaims>(token, &self.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| unauthorized(token_error(e.kind())))?;
        Ok(SignInLink {
            claims: Claims {
                sub: claims.sub,
                role: claims.role,
                org: claims.org,
                exp: claims.exp,
            },
            jti: claims.jti,
        })
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
    fn link(&self, contact_id: &ContactId) -> Option<String> {
        Some(format!(
            "{}/v1/inbound/unsubscribe?token={}",
            self.base_url.trim_end_matches('/'),
            self.auth.mint_unsubscribe(contact_id, Utc::now())
        ))
    }

    fn answer_link(
        &self,
        campaign_id: &CampaignId,
        delivery_id: &str,
        answer: outreach_core::answer::Answer,
    ) -> Option<String> {
        Some(format!(
            "{}/v1/inbound/answer?token={}",
            self.base_url.trim_end_matches('/'),
            self.auth.mint_answer(campaign_id, delivery_id, answer, Utc::now())
        ))
    }

    fn check_in_link(&self, session_id: &SessionId, contact_id: &ContactId) -> Option<String> {
        Some(format!(
            "{}/ui/den/ma?token={}",
            self.base_url.trim_end_matches('/'),
            self.auth.mint_check_in(session_id, contact_id, Utc::now())
        ))
    }

    fn check_in_code(&self, session_id: &SessionId, contact_id: &ContactId) -> Option<String> {
        Some(self.auth.check_in_short_code(session_id, contact_id))
    }
}

/// The dashboard's sign-in through the identity provider that issues the API's tokens
/// (OpenID Connect authorization code flow with PKCE, e.g. Cognito's hosted sign-in page).
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer (its discovery document is `{issuer}/.well-known/openid-configuration`):
    /// the issuer API tokens are checked against.
    pub issuer: String,
    /// The app client the dashboard signs in as: the audience of the ID tokens it gets, so
    /// the API's audience.
    pub client_id: String,
    /// The client's secret, for a confidential client (a Cognito app client with a secret).
    pub client_secret: Option<String>,
    /// The scopes asked for, space-separated (`openid` at least).
    pub scopes: String,
    /// The site's public URL (`https://…`), where the provider sends the browser back; without
    /// it, the URL the request reached.
    pub public_url: Option<String>,
    /// The provider's name on the sign-in button ("Đăng nhập qua …").
    pub name: String,
}

/// Audience of the cookie that carries a sign-in through the identity provider (never
/// accepted as an API token).
pub const OIDC_FLOW_AUDIENCE: &str = "outreach-oidc-flow";

/// Minutes a sign-in through the identity provider may take.
pub const OIDC_FLOW_MINUTES: i64 = 10;

/// What the dashboard keeps of a sign-in under way at the identity provider, until the
/// browser comes back with the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcFlow {
    /// Sent to the provider and expected back: the code was asked for by this browser.
    pub state: String,
    /// Sent to the provider and expected in the ID token.
    pub nonce: String,
    /// The PKCE code verifier whose S256 challenge the provider was sent.
    pub verifier: String,
    /// Where the provider was told to send the browser back (the token request repeats it).
    pub redirect_uri: String,
}

#[derive(Serialize, Deserialize)]
struct OidcFlowClaims {
    #[serde(flatten)]
    flow: OidcFlow,
    iss: String,
    aud: String,
    exp: i64,
}

impl AuthConfig {
    /// The flow signed with the shared secret, valid ten minutes: Lambda keeps nothing
    /// between requests, so the browser holds it (an HttpOnly cookie) and cannot alter it.
    pub fn mint_oidc_flow(&self, flow: &OidcFlow, now: DateTime<Utc>) -> String {
        let claims = OidcFlowClaims {
            flow: flow.clone(),
            iss: LOCAL_ISSUER.to_string(),
            aud: OIDC_FLOW_AUDIENCE.to_string(),
            exp: (now + chrono::Duration::minutes(OIDC_FLOW_MINUTES)).timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// The flow a cookie carries, if this server signed it and it has not expired.
    pub fn verify_oidc_flow(&self, token: &str) -> Result<OidcFlow, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[OIDC_FLOW_AUDIENCE]);
        validation.set_issuer(&[LOCAL_ISSUER]);
        validation.leeway = 0;
        jsonwebtoken::decode::<OidcFlowClaims>(token, &self.decoding, &validation)
            .map(|d| d.claims.flow)
            .map_err(|e| unauthorized(token_error(e.kind())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_check_in_code_is_six_digits_fixed_per_person_and_session_and_keyed() {
        let auth = AuthConfig::hs256(&[7u8; 32], LOCAL_ISSUER).unwrap();
        let code = auth.check_in_short_code(&"ss_1".into(), &"ct_1".into());
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
        assert_eq!(
            auth.check_in_short_code(&"ss_1".into(), &"ct_1".into()),
            code,
            "the same each time"
        );
        // Another person, another session, another key: another code (almost always; 200
        // people of one session share at most a few).
        let codes: std::collections::HashSet<String> = (0..200)
            .map(|i| auth.check_in_short_code(&"ss_1".into(), &format!("ct_{i}").into()))
            .collect();
        assert!(codes.len() >= 195, "{} distinct of 200", codes.len());
        assert_ne!(auth.check_in_short_code(&"ss_2".into(), &"ct_1".into()), code);
        let other = AuthConfig::hs256(&[8u8; 32], LOCAL_ISSUER).unwrap();
        assert_ne!(other.check_in_short_code(&"ss_1".into(), &"ct_1".into()), code);
    }
}
