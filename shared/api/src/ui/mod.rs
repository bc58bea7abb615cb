//! The planners' dashboard (bảng điều khiển): Vietnamese pages rendered on the server by
//! the same router as the API, under `/ui/`, so the laptop and the api Lambda serve them
//! alike. Every page and action is a plain link or form (no script is needed; the one
//! small script only counts SMS segments as a template is typed). Templates are compiled
//! into the binary (askama, `shared/api/templates/ui/`), as are the stylesheet and script,
//! served under fingerprinted names with a year's caching.
//!
//! Pages decide what a role sees with the API's own endpoint table ([`may`]): an action a
//! role may not take is not offered, and its form post is refused as the API refuses it.

mod assets;
mod calendar;
mod campaigns;
mod charts;
mod checkin;
mod contacts;
mod form;
mod format;
mod oidc;
mod overview;
mod reports;
mod session;
mod sessions;
mod signin;
mod text;

use askama::Template;
use axum::Router;
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use outreach_core::CoreError;

pub use oidc::Oidc;
pub use session::{COOKIE_NAME, Session, csrf_of};

use crate::AppState;
use crate::auth::Role;
use crate::error::ApiError;

/// The dashboard's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(home))
        .route("/ui/", get(home))
        .route("/ui/dang-nhap", get(signin::page).post(signin::submit))
        .route(
            "/ui/dang-nhap/lien-ket",
            get(signin::link_page).post(signin::link_submit),
        )
        .route(oidc::CALLBACK_PATH, get(oidc::callback))
        .route("/ui/dang-nhap/oidc/bat-dau", get(oidc::start))
        .route("/ui/dang-xuat", post(signin::sign_out))
        .route("/ui/tong-quan", get(overview::page))
        .route("/ui/buoi", get(sessions::list))
        .route("/ui/buoi/lich", get(calendar::page))
        .route("/ui/buoi/{id}", get(sessions::page))
        .route("/ui/buoi/{id}/diem-danh", post(sessions::attendance))
        .route("/ui/buoi/{id}/den", get(checkin::page).post(checkin::check_in))
        .route("/ui/den", get(checkin::scan).post(checkin::scan_check_in))
        .route("/ui/den/ma", get(checkin::code))
        .route("/ui/buoi/{id}/ket-qua", post(sessions::outcomes))
        .route("/ui/buoi/{id}/nhan-su", post(sessions::staff))
        .route("/ui/buoi/{id}/huy", post(sessions::cancel))
        .route("/ui/buoi/{id}/doi-lich", post(sessions::move_to))
        .route("/ui/nguoi", get(contacts::list).post(contacts::register))
        .route("/ui/nguoi/nhap", post(contacts::import))
        .route("/ui/chien-dich", get(campaigns::list))
        .route("/ui/chien-dich/moi", get(campaigns::new_form).post(campaigns::create))
        .route("/ui/chien-dich/{id}", get(campaigns::page))
        .route("/ui/chien-dich/{id}/trang-thai", post(campaigns::act))
        .route(
            "/ui/chien-dich/{id}/sua",
            get(campaigns::edit_form).post(campaigns::edit),
        )
        .route("/ui/bao-cao", get(reports::page))
        .route("/ui/bao-cao/chi-tieu", post(reports::set_targets))
        .route("/ui/tai-nguyen/{file}", get(assets::serve))
}

async fn home(session: Result<Session, UiError>) -> Redirect {
    match session {
        Ok(_) => Redirect::to("/ui/tong-quan"),
        Err(_) => Redirect::to("/ui/dang-nhap"),
    }
}

/// Refuse a form post unless it comes from this site with the session's token and the role
/// may call `method api_path`, the API endpoint that does the same thing (as the API would
/// refuse it); `refusal` says why in Vietnamese.
pub(crate) fn require_form(
    headers: &axum::http::HeaderMap,
    session: &Session,
    csrf: Option<&str>,
    (method, api_path): (Method, &str),
    refusal: &str,
) -> Result<(), UiError> {
    session::check_form(headers, session, csrf)?;
    if may(session.role(), method, api_path) {
        Ok(())
    } else {
        Err(UiError::Forbidden(refusal.to_string()))
    }
}

/// Who changes what through page `path` (its pattern; `target` the path itself), for the
/// audit log, as the API's guard stamps an endpoint's request.
pub(crate) fn page_stamp(session: &Session, path: &'static str, target: &str) -> outreach_core::audit::AuditStamp {
    let endpoint = crate::access::Endpoint {
        method: Method::POST,
        path,
        access: crate::access::Access::Public,
    };
    crate::audit::stamp(&endpoint, target, Some(session.claims()))
}

/// Write the audit entry of a change made through page `path`, as the API's guard does for
/// an endpoint.
pub(crate) async fn audit_change(
    state: &AppState,
    session: &Session,
    path: &'static str,
    target: &str,
    change: Option<&crate::audit::AuditChange>,
) {
    let changes: Vec<crate::audit::AuditChange> = change.into_iter().cloned().collect();
    crate::audit::record(state, &page_stamp(session, path, target), 303, &changes).await;
}

/// Whether `role` may call the API endpoint `method path` (as the router's table says):
/// a page offers an action only to those who may take it.
pub fn may(role: Role, method: Method, path: &str) -> bool {
    // The table, read once: building it makes every endpoint's handler, and a page asks
    // several times.
    static ENDPOINTS: std::sync::LazyLock<Vec<crate::Endpoint>> = std::sync::LazyLock::new(crate::endpoints);
    ENDPOINTS
        .iter()
        .any(|e| e.method == method && e.path == path && e.access.admits(role))
}

/// What a page could not do.
#[derive(Debug)]
pub enum UiError {
    /// No session, or an expired one: sign in.
    SignIn,
    /// The role or area does not allow it (the message says why, in Vietnamese).
    Forbidden(String),
    /// Nothing of that name in the caller's area.
    NotFound,
    /// Anything else the API would answer with an error.
    Api(ApiError),
    /// A template failed to render: a bug (500).
    Render,
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Core(CoreError::NotFound { .. }) | ApiError::NoRoute => Self::NotFound,
            ApiError::Forbidden(_) => Self::Forbidden("Việc này nằm ngoài quyền hoặc địa bàn của bạn.".into()),
            ApiError::Unauthorized(_) => Self::SignIn,
            other => Self::Api(other),
        }
    }
}

impl From<CoreError> for UiError {
    fn from(e: CoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> Self {
        tracing::error!(error.message = %e, "a page failed to render");
        Self::Render
    }
}

/// The page of an error: plain, in Vietnamese, with a way back.
#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
    css: &'a str,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            UiError::SignIn => return Redirect::to("/ui/dang-nhap").into_response(),
            UiError::Forbidden(message) => (StatusCode::FORBIDDEN, "Không được phép", message),
            UiError::NotFound => (
                StatusCode::NOT_FOUND,
                "Không tìm thấy",
                "Không có mục này, hoặc nó nằm ngoài địa bàn của bạn.".to_string(),
            ),
            UiError::Render => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Đã có lỗi",
                "Trang không hiển thị được do lỗi của hệ thống. Hãy thử lại sau.".to_string(),
            ),
            UiError::Api(e) => {
                let message = text::error_message(&e);
                let status = e.into_response().status();
                (status, "Không thực hiện được", message)
            }
        };
        let page = ErrorPage {
            title,
            message,
            css: assets::css_url(),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| "<!doctype html><title>Lỗi</title><p>Đã có lỗi.</p>".into());
        (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
    }
}

/// A rendered page, never cached (it shows personal data).
pub fn html(page: impl Template) -> Result<Response, UiError> {
    let body = page.render()?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response())
}

/// One entry of the menu.
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The frame every page shares: the menu the role may use, who is signed in, and the
/// session's form token.
pub struct Nav {
    pub items: Vec<NavItem>,
    pub who: String,
    pub csrf: String,
    pub css: &'static str,
    pub js: &'static str,
}

impl Nav {
    /// The frame of page `current` (its href) for `session`.
    pub fn new(session: &Session, current: &str) -> Self {
        let role = session.role();
        let mut items = vec![("/ui/tong-quan", "Tổng quan", true)];
        items.push(("/ui/buoi", "Lịch buổi", may(role, Method::GET, "/v1/sessions")));
        items.push(("/ui/chien-dich", "Chiến dịch", may(role, Method::GET, "/v1/campaigns")));
        items.push(("/ui/nguoi", "Người", may(role, Method::GET, "/v1/contacts")));
        items.push((
            "/ui/bao-cao",
            "Chỉ tiêu và báo cáo",
            may(role, Method::GET, "/v1/reports/quarterly"),
        ));
        Self {
            items: items
                .into_iter()
                .filter(|(_, _, allowed)| *allowed)
                .map(|(href, label, _)| NavItem {
                    href,
                    label,
                    current: href == current,
                })
                .collect(),
            who: format!("{} · {}", text::role_label(role), session.claims().org),
            csrf: session.csrf.clone(),
            css: assets::css_url(),
            js: assets::js_url(),
        }
    }
}
