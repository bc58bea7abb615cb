//! Signing in and out. Locally a planner pastes a token from `outreach token`, or opens a
//! one-time link from `outreach login-link` (a GET shows a button, the POST signs in, so a
//! link preview cannot use it up). On AWS the token comes from the identity provider,
//! through its sign-in page (`oidc`) or pasted.

use std::collections::HashMap;
use std::sync::Mutex;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;

use crate::AppState;
use crate::ui::session::{sign_in_cookie, sign_out_cookie};
use crate::ui::{Session, UiError, assets, html, session};

/// Hours a session from a sign-in link lasts.
const LINK_SESSION_HOURS: i64 = 8;

/// The ids of sign-in links used so far, with their expiry: a link signs in once. Kept in
/// the process, which is all there is of `outreach serve` (links are a laptop's way in).
static USED_LINKS: Mutex<Option<HashMap<String, i64>>> = Mutex::new(None);

/// Mark link `jti` used; false if it was already.
fn use_link(jti: &str, exp: i64) -> bool {
    let mut used = USED_LINKS.lock().unwrap_or_else(|p| p.into_inner());
    let used = used.get_or_insert_with(HashMap::new);
    let now = Utc::now().timestamp();
    used.retain(|_, exp| *exp >= now);
    used.insert(jti.to_string(), exp).is_none()
}

#[derive(Template)]
#[template(path = "ui/signin.html")]
struct SignInPage<'a> {
    css: &'a str,
    error: Option<String>,
    /// The identity provider's name, when the dashboard signs in through it.
    provider: Option<&'a str>,
}

/// `GET /ui/dang-nhap`.
pub async fn page(State(state): State<AppState>) -> Result<Response, UiError> {
    html(SignInPage {
        css: assets::css_url(),
        error: None,
        provider: state.oidc.as_deref().map(|o| o.name()),
    })
}

/// The sign-in page with `message` (Vietnamese) saying why the sign-in failed.
pub(crate) fn refused(state: &AppState, status: StatusCode, message: &str) -> Response {
    let page = SignInPage {
        css: assets::css_url(),
        error: Some(message.to_string()),
        provider: state.oidc.as_deref().map(|o| o.name()),
    };
    match html(page) {
        Ok(mut r) => {
            *r.status_mut() = status;
            r
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
}

/// The sign-in form comes from this site only (a forged one would sign the user in as
/// someone else).
fn same_site(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .and_then(|o| o.split("://").nth(1))
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|authority| !host.is_empty() && authority.eq_ignore_ascii_case(host))
}

fn signed_in(headers: &HeaderMap, token: &str, claims: &crate::auth::Claims) -> Response {
    let mut response = Redirect::to("/ui/tong-quan").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, sign_in_cookie(headers, token, claims));
    response
}

/// `POST /ui/dang-nhap`: a token pasted into the form.
pub async fn submit(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    if !same_site(&headers) {
        return UiError::Forbidden("Yêu cầu không xuất phát từ trang này nên bị từ chối.".into()).into_response();
    }
    let token = form.token.trim();
    let refuse = |message: &str| refused(&state, StatusCode::UNAUTHORIZED, message);
    if token.is_empty() {
        return refuse("Hãy dán mã đăng nhập (token).");
    }
    match state.auth.verify(token) {
        Ok(claims) => {
            tracing::info!(sub = %claims.sub, role = claims.role.as_str(), "signed in to the dashboard");
            signed_in(&headers, token, &claims)
        }
        Err(_) => refuse("Mã đăng nhập không hợp lệ hoặc đã hết hạn."),
    }
}

#[derive(Template)]
#[template(path = "ui/signin_link.html")]
struct LinkPage<'a> {
    css: &'a str,
    token: String,
    who: String,
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// `GET /ui/dang-nhap/lien-ket?token=`: who the link signs in, and a button.
pub async fn link_page(State(state): State<AppState>, Query(q): Query<LinkQuery>) -> Result<Response, UiError> {
    let link = state
        .auth
        .verify_sign_in(&q.token)
        .map_err(|_| UiError::Forbidden("Liên kết đăng nhập không hợp lệ hoặc đã hết hạn.".into()))?;
    html(LinkPage {
        css: assets::css_url(),
        token: q.token,
        who: format!(
            "{} · {}",
            crate::ui::text::role_label(link.claims.role),
            link.claims.org
        ),
    })
}

/// `POST /ui/dang-nhap/lien-ket`: use the link once and start an eight-hour session.
pub async fn link_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<Response, UiError> {
    if !same_site(&headers) {
        return Err(UiError::Forbidden(
            "Yêu cầu không xuất phát từ trang này nên bị từ chối.".into(),
        ));
    }
    let link = state
        .auth
        .verify_sign_in(form.token.trim())
        .map_err(|_| UiError::Forbidden("Liên kết đăng nhập không hợp lệ hoặc đã hết hạn.".into()))?;
    if !use_link(&link.jti, link.claims.exp) {
        return Err(UiError::Forbidden(
            "Liên kết này đã được dùng. Hãy tạo liên kết mới bằng lệnh outreach login-link.".into(),
        ));
    }
    let c = &link.claims;
    let token = state
        .auth
        .mint(&c.sub, c.role, &c.org, Utc::now(), Duration::hours(LINK_SESSION_HOURS));
    let claims = state.auth.verify(&token).map_err(|_| {
        UiError::Forbidden("Máy chủ này không tự cấp phiên đăng nhập (đăng nhập qua nhà cung cấp danh tính).".into())
    })?;
    tracing::info!(sub = %claims.sub, role = claims.role.as_str(), "signed in to the dashboard with a link");
    Ok(signed_in(&headers, &token, &claims))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /ui/dang-xuat`.
pub async fn sign_out(session: Session, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Result<Response, UiError> {
    session::check_form(&headers, &session, Some(&form.csrf))?;
    let mut response = Redirect::to("/ui/dang-nhap").into_response();
    response.headers_mut().insert(header::SET_COOKIE, sign_out_cookie());
    Ok(response)
}
