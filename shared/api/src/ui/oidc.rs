//! Signing in to the dashboard through the identity provider that issues the API's tokens
//! (e.g. Cognito's hosted sign-in page): the OpenID Connect authorization code flow with
//! PKCE. `GET /ui/dang-nhap/oidc/bat-dau` sends the browser to the provider with a fresh
//! `state`, `nonce` and S256 code challenge, which it keeps in a short-lived signed cookie
//! (Lambda keeps nothing between requests); the provider sends it back to
//! `GET /ui/dang-nhap/oidc` with a code, exchanged at the token endpoint for an ID token
//! that is checked as an API token is (`AuthConfig::verify_id_token`) and becomes the
//! session cookie.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::{COOKIE, HOST, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use outreach_auth::{OIDC_FLOW_MINUTES, OidcFlow, OidcSettings, TokenError};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::ui::session::{over_https, sign_in_cookie};
use crate::ui::signin::refused;
use crate::ui::text::role_label;
use crate::ui::{assets, html};

/// The flow cookie's name.
const FLOW_COOKIE: &str = "outreach_oidc";
/// Where the provider sends the browser back (the app client's callback URL, under the
/// site's public URL).
pub const CALLBACK_PATH: &str = "/ui/dang-nhap/oidc";
/// Seconds the provider may take to answer: well inside the api function's 29.
const PROVIDER_TIMEOUT_SECONDS: u64 = 10;

/// The dashboard's client of the identity provider: its settings, and the provider's
/// endpoints, read from its discovery document at the first sign-in (not at start: a cold
/// start serving the API should not wait on the provider).
pub struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    endpoints: tokio::sync::OnceCell<Endpoints>,
}

/// What the dashboard uses of the provider's discovery document.
#[derive(Debug, Clone, Deserialize)]
struct Endpoints {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

/// Why a sign-in through the provider failed, logged in English; the user reads
/// [`OidcError::message`].
#[derive(Debug, thiserror::Error)]
enum OidcError {
    #[error("the identity provider cannot be reached or its discovery document is not usable: {0}")]
    Discovery(String),
    #[error("no sign-in is under way in this browser, or it expired")]
    NoFlow,
    #[error("the identity provider answered with error {0}")]
    Provider(String),
    #[error("the state the browser brought back is not this sign-in's")]
    State,
    #[error("the token endpoint refused the code: {0}")]
    Exchange(String),
    #[error("the ID token was refused: {0}")]
    IdToken(TokenError),
}

impl OidcError {
    fn message(&self) -> &'static str {
        match self {
            Self::Discovery(_) => "Không liên lạc được với nhà cung cấp danh tính. Hãy thử lại sau ít phút.",
            Self::NoFlow => "Lượt đăng nhập này đã hết hạn hoặc không bắt đầu từ trình duyệt này. Hãy đăng nhập lại.",
            Self::Provider(e) if e == "access_denied" => "Bạn đã huỷ đăng nhập hoặc không đồng ý cấp quyền.",
            Self::Provider(_) => "Nhà cung cấp danh tính báo lỗi khi đăng nhập. Hãy thử lại.",
            Self::State => {
                "Yêu cầu đăng nhập không khớp với lượt đăng nhập của trình duyệt này nên bị từ chối. Hãy đăng nhập lại."
            }
            Self::Exchange(_) => "Mã xác thực không dùng được (đã dùng hoặc đã hết hạn). Hãy đăng nhập lại.",
            Self::IdToken(TokenError::Claims) => {
                "Tài khoản của bạn chưa được gán vai trò và đơn vị. Hãy liên hệ quản trị viên."
            }
            Self::IdToken(_) => "Mã đăng nhập nhà cung cấp danh tính trả về không hợp lệ.",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Discovery(_) => StatusCode::BAD_GATEWAY,
            Self::IdToken(_) => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl Oidc {
    /// The client, built once at start.
    pub fn new(settings: OidcSettings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(PROVIDER_TIMEOUT_SECONDS))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the identity provider's HTTP client: {e}"))?;
        Ok(Self {
            settings,
            http,
            endpoints: tokio::sync::OnceCell::new(),
        })
    }

    /// The provider's name on the sign-in button.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The provider's endpoints, from `{issuer}/.well-known/openid-configuration`, read
    /// once (a failure is not kept: the next sign-in asks again).
    async fn endpoints(&self) -> Result<&Endpoints, OidcError> {
        self.endpoints
            .get_or_try_init(|| async {
                let issuer = self.settings.issuer.trim_end_matches('/');
                let url = format!("{issuer}/.well-known/openid-configuration");
                let discovered: Endpoints = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| OidcError::Discovery(e.to_string()))?
                    .json()
                    .await
                    .map_err(|e| OidcError::Discovery(e.to_string()))?;
                // OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer
                // it was asked of.
                if discovered.issuer != self.settings.issuer {
                    return Err(OidcError::Discovery(format!(
                        "the document names issuer {}",
                        discovered.issuer
                    )));
                }
                Ok(discovered)
            })
            .await
    }

    /// The ID token the provider gives for `code`.
    async fn exchange(&self, code: &str, flow: &OidcFlow) -> Result<String, OidcError> {
        let endpoints = self.endpoints().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", flow.redirect_uri.as_str()),
            ("code_verifier", flow.verifier.as_str()),
            ("client_id", self.settings.client_id.as_str()),
        ];
        let mut request = self.http.post(&endpoints.token_endpoint).form(&form);
        if let Some(secret) = &self.settings.client_secret {
            // client_secret_basic (RFC 6749, 2.3.1): both halves form-encoded first.
            let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(encode(&self.settings.client_id), Some(encode(secret)));
        }
        let response = request.send().await.map_err(|e| OidcError::Exchange(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            // The body is the provider's error code (invalid_grant, …), not personal data.
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let error = body.get("error").and_then(|e| e.as_str()).unwrap_or("unknown");
            return Err(OidcError::Exchange(format!("{status}, {error}")));
        }
        let tokens: TokenResponse = response
            .json()
            .await
            .map_err(|e| OidcError::Exchange(format!("the answer is not a token response: {e}")))?;
        tokens
            .id_token
            .ok_or_else(|| OidcError::Exchange("the answer has no id_token".into()))
    }

    /// Where the provider sends the browser back: under the public URL if one is set, else
    /// under the URL this request reached.
    fn redirect_uri(&self, headers: &HeaderMap) -> String {
        let base = match &self.settings.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let scheme = if over_https(headers) { "https" } else { "http" };
                let host = headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
                format!("{scheme}://{host}")
            }
        };
        format!("{base}{CALLBACK_PATH}")
    }
}

/// 32 random bytes, base64url: a PKCE verifier (43 characters), a state or a nonce.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 code challenge of a PKCE verifier (RFC 7636, 4.2).
fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()).as_slice())
}

/// The `Set-Cookie` value that holds a flow (or, with `None`, forgets it). SameSite=Lax,
/// not Strict like the session: the provider's page sends the browser back here, a
/// cross-site navigation, on which a browser sends Lax cookies but not Strict ones. The
/// path keeps it to the callback.
fn flow_cookie(headers: &HeaderMap, value: Option<&str>) -> HeaderValue {
    let secure = if over_https(headers) { "; Secure" } else { "" };
    let (value, max_age) = match value {
        Some(v) => (v, OIDC_FLOW_MINUTES * 60),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{FLOW_COOKIE}={value}; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("outreach_oidc=; Path=/ui/dang-nhap/oidc; Max-Age=0"))
}

fn flow_cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FLOW_COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// `GET /ui/dang-nhap/oidc/bat-dau`: off to the provider's sign-in page.
pub async fn start(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(oidc) = state.oidc.as_deref() else {
        return Redirect::to("/ui/dang-nhap").into_response();
    };
    let endpoints = match oidc.endpoints().await {
        Ok(e) => e,
        Err(e) => return failed(&state, e),
    };
    let flow = OidcFlow {
        state: random_token(),
        nonce: random_token(),
        verifier: random_token(),
        redirect_uri: oidc.redirect_uri(&headers),
    };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &oidc.settings.client_id)
        .append_pair("redirect_uri", &flow.redirect_uri)
        .append_pair("scope", &oidc.settings.scopes)
        .append_pair("state", &flow.state)
        .append_pair("nonce", &flow.nonce)
        .append_pair("code_challenge", &challenge(&flow.verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let separator = if endpoints.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut response = Redirect::to(&format!("{}{separator}{query}", endpoints.authorization_endpoint)).into_response();
    let cookie = state.auth.mint_oidc_flow(&flow, Utc::now());
    response
        .headers_mut()
        .insert(SET_COOKIE, flow_cookie(&headers, Some(&cookie)));
    response
}

#[derive(Template)]
#[template(path = "ui/signin_done.html")]
struct SignedIn<'a> {
    css: &'a str,
    who: String,
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /ui/dang-nhap/oidc`: the provider's answer. A code whose `state` is this browser's
/// sign-in's is exchanged for an ID token, checked as an API token with the sign-in's
/// nonce, and becomes the session; anything else is said on the sign-in page.
pub async fn callback(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<Callback>) -> Response {
    let Some(oidc) = state.oidc.as_deref() else {
        return Redirect::to("/ui/dang-nhap").into_response();
    };
    let outcome = async {
        let flow = flow_cookie_value(&headers)
            .and_then(|v| state.auth.verify_oidc_flow(v).ok())
            .ok_or(OidcError::NoFlow)?;
        if q.state.as_deref() != Some(flow.state.as_str()) {
            return Err(OidcError::State);
        }
        if let Some(error) = q.error {
            return Err(OidcError::Provider(error));
        }
        let code = q.code.as_deref().ok_or_else(|| OidcError::Provider("no code".into()))?;
        let id_token = oidc.exchange(code, &flow).await?;
        let claims = state
            .auth
            .verify_id_token(&id_token, &flow.nonce)
            .map_err(OidcError::IdToken)?;
        Ok((id_token, claims))
    }
    .await;
    let mut response = match outcome {
        Ok((id_token, claims)) => {
            tracing::info!(sub = %claims.sub, role = claims.role.as_str(), "signed in to the dashboard through the identity provider");
            // A page of this site that moves on to the overview, not a redirect: the browser
            // arrived from the provider's site, and a redirect would carry that cross-site
            // navigation on, so the new SameSite=Strict session cookie would not be sent
            // with it (and the overview would ask to sign in again).
            let page = SignedIn {
                css: assets::css_url(),
                who: format!("{} · {}", role_label(claims.role), claims.org),
            };
            let mut response = html(page).unwrap_or_else(IntoResponse::into_response);
            response
                .headers_mut()
                .append(SET_COOKIE, sign_in_cookie(&headers, &id_token, &claims));
            response
        }
        Err(e) => failed(&state, e),
    };
    // A flow is used once, whatever its outcome.
    response.headers_mut().append(SET_COOKIE, flow_cookie(&headers, None));
    response
}

/// The sign-in page saying why a sign-in through the provider failed; the log says it in
/// English, without the codes or tokens.
fn failed(state: &AppState, e: OidcError) -> Response {
    tracing::warn!(error.message = %e, "a sign-in through the identity provider failed");
    refused(state, e.status(), e.message())
}
