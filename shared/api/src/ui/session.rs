//! Signing in to the dashboard: the session is the caller's API token in an HttpOnly,
//! SameSite=Strict cookie scoped to `/ui` that expires with the token (Secure behind
//! HTTPS), checked on every request as the API checks a bearer token. Every form that
//! changes something carries a token derived from the session (`csrf`), and its request
//! must come from this site (`Origin`, or `Referer` where a browser sends no Origin).

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HOST, ORIGIN, REFERER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::access::Foreign;
use crate::auth::{Caller, Claims, Role};
use crate::ui::UiError;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "outreach_phien";

/// A signed-in user of the dashboard.
#[derive(Debug, Clone)]
pub struct Session {
    /// The caller as the API sees them (area, role); pages that name contacts answer a
    /// foreign one as an unknown one.
    pub caller: Caller,
    /// The token of every form of this session.
    pub csrf: String,
}

impl Session {
    pub fn claims(&self) -> &Claims {
        &self.caller.claims
    }

    pub fn role(&self) -> Role {
        self.caller.claims.role
    }
}

/// The session cookie's token, if the request carries one.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// The form token of a session token: a digest of the token, which only its holder knows.
pub fn csrf_of(token: &str) -> String {
    let digest = Sha256::digest(format!("outreach-csrf|{token}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

impl FromRequestParts<AppState> for Session {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = cookie_token(&parts.headers).ok_or(UiError::SignIn)?;
        let claims = state.auth.verify(&token).map_err(|_| UiError::SignIn)?;
        if claims.role == Role::CommuneOfficer {
            let versions = state.store.org_unit_versions(&claims.org).await?;
            if !versions.iter().any(|u| u.level == outreach_core::org::Level::Commune) {
                return Err(UiError::Forbidden(format!(
                    "Tài khoản cán bộ xã phải gắn với một xã; {} không phải là xã.",
                    claims.org
                )));
            }
        }
        Ok(Session {
            caller: Caller::new(claims, Foreign::NotFound),
            csrf: csrf_of(&token),
        })
    }
}

/// Refuse a state-changing form unless it comes from this site and carries the session's
/// token: a page of another site cannot post it on the user's behalf.
pub fn check_form(headers: &HeaderMap, session: &Session, csrf: Option<&str>) -> Result<(), UiError> {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let from = headers
        .get(ORIGIN)
        .or_else(|| headers.get(REFERER))
        .and_then(|v| v.to_str().ok());
    let same_site = from.is_some_and(|from| {
        let rest = from
            .strip_prefix("https://")
            .or_else(|| from.strip_prefix("http://"))
            .unwrap_or_default();
        let authority = rest.split('/').next().unwrap_or_default();
        !host.is_empty() && authority.eq_ignore_ascii_case(host)
    });
    if !same_site {
        return Err(UiError::Forbidden(
            "Yêu cầu không xuất phát từ trang này nên bị từ chối.".into(),
        ));
    }
    if csrf != Some(session.csrf.as_str()) {
        return Err(UiError::Forbidden(
            "Biểu mẫu đã hết hạn hoặc không hợp lệ. Hãy tải lại trang và thử lại.".into(),
        ));
    }
    Ok(())
}

/// Whether the request reached the site over HTTPS (directly or through the API gateway).
pub(crate) fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that signs in with `token` until it expires.
pub fn sign_in_cookie(headers: &HeaderMap, token: &str, claims: &Claims) -> HeaderValue {
    let max_age = (claims.exp - Utc::now().timestamp()).max(0);
    let secure = if over_https(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("outreach_phien=; Path=/ui; Max-Age=0"))
}

/// The `Set-Cookie` value that signs out.
pub fn sign_out_cookie() -> HeaderValue {
    HeaderValue::from_static("outreach_phien=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0")
}
