//! *Điểm danh tại cửa* (`/ui/buoi/{id}/den`): a phone page for the volunteer or commune
//! officer at the door. Find a citizen by name or the last digits of their phone, check
//! them in with one tap, or add a walk-in; each check-in is the session's attendance as it
//! happens (`POST /v1/sessions/{id}/check-ins`).

use std::collections::HashSet;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use outreach_core::CoreError;
use outreach_core::contact::{Contact, ContactRole};
use outreach_core::ids::{ContactId, SessionId};
use outreach_core::phone::mask_phone_digits;
use outreach_core::ports::{ContactFilter, PageRequest};
use outreach_core::schedule::DEFAULT_TIME_ZONE;
use outreach_core::session::{Session, SessionStatus};
use outreach_core::usecases::{self, CheckIn};
use serde::Deserialize;

use crate::AppState;
use crate::audit;
use crate::error::ApiError;
use crate::ui::contacts::fold;
use crate::ui::form::FormData;
use crate::ui::{Nav, Session as UiSession, UiError, audit_change, format, html, may, require_form, text};

const CHECK_IN_API: (Method, &str) = (Method::POST, "/v1/sessions/{id}/check-ins");

/// At most this many people are listed for a search.
const SHOWN: usize = 30;

#[derive(Debug, Default, Deserialize)]
pub struct CheckInQuery {
    #[serde(default)]
    q: String,
    /// The contact just checked in (the notice names them).
    #[serde(default)]
    ok: String,
}

/// One person the search found.
pub struct Found {
    pub id: String,
    pub name: String,
    /// The number with all but its last digits hidden.
    pub phone: String,
    pub here: bool,
}

#[derive(Template)]
#[template(path = "ui/checkin.html")]
struct CheckInPage {
    nav: Nav,
    id: String,
    title: String,
    when: String,
    commune: String,
    here: usize,
    q: String,
    found: Vec<Found>,
    searched: bool,
    notice: Option<String>,
    error: Option<String>,
    walk_in_phone: String,
    walk_in_name: String,
}

/// The session `id` in the caller's area whose door may be opened by this role.
async fn door(state: &AppState, session: &UiSession, id: &SessionId) -> Result<Session, UiError> {
    if !may(session.role(), CHECK_IN_API.0, CHECK_IN_API.1) {
        return Err(UiError::Forbidden("Vai trò của bạn không điểm danh tại buổi.".into()));
    }
    let s = state.store.get_session(id).await?.ok_or(UiError::NotFound)?;
    if !session
        .caller
        .covers(state.store.as_ref(), s.commune_code.as_str())
        .await?
    {
        return Err(UiError::NotFound);
    }
    Ok(s)
}

/// `GET /ui/buoi/{id}/den?q`.
pub async fn page(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<SessionId>,
    Query(q): Query<CheckInQuery>,
) -> Result<Response, UiError> {
    let s = door(&state, &session, &id).await?;
    let notice = if q.ok.is_empty() {
        None
    } else {
        state
            .store
            .get_contact(&ContactId::from(&q.ok))
            .await?
            .map(|c| format!("Đã điểm danh: {}.", c.name))
    };
    render(
        &state,
        &session,
        &s,
        &q.q,
        notice,
        None,
        (String::new(), String::new()),
        StatusCode::OK,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn render(
    state: &AppState,
    session: &UiSession,
    s: &Session,
    q: &str,
    notice: Option<String>,
    error: Option<String>,
    walk_in: (String, String),
    status: StatusCode,
) -> Result<Response, UiError> {
    let store = state.store.as_ref();
    let here: HashSet<String> = store
        .get_session_record(&s.id)
        .await?
        .map(|r| r.attendees.into_iter().map(|a| a.contact_id.into_string()).collect())
        .unwrap_or_default();
    let wanted = q.trim();
    let digits: String = wanted.chars().filter(char::is_ascii_digit).collect();
    let by_phone = !digits.is_empty() && digits.len() == wanted.chars().filter(|c| !c.is_whitespace()).count();
    let mut found = Vec::new();
    if !wanted.is_empty() && (!by_phone || digits.len() >= 3) {
        let name = fold(wanted);
        // Six digits may also be a citizen's check-in code from their SMS.
        let code = |c: &Contact| digits.len() == 6 && state.auth.check_in_short_code(&s.id, &c.id) == digits;
        let keeps = |c: &Contact| {
            if by_phone {
                c.phone.as_ref().is_some_and(|p| p.e164.ends_with(&digits)) || code(c)
            } else {
                fold(&c.name).contains(&name)
            }
        };
        let filter = ContactFilter {
            commune: Some(s.commune_code.clone()),
            role: Some(ContactRole::Citizen),
        };
        let mut page = PageRequest::first(500);
        loop {
            let got = store.list_contacts(&filter, &page).await?;
            found.extend(
                got.items
                    .into_iter()
                    .filter(|c| c.erased_at.is_none() && keeps(c))
                    .map(|c| Found {
                        here: here.contains(c.id.as_str()),
                        phone: c.phone.as_ref().map(|p| mask_phone_digits(&p.e164)).unwrap_or_default(),
                        id: c.id.into_string(),
                        name: c.name,
                    }),
            );
            match got.next_cursor {
                Some(c) if found.len() < SHOWN => page.cursor = Some(c),
                _ => break,
            }
        }
        found.truncate(SHOWN);
    }
    let campaign = store.get_campaign(&s.campaign_id).await?;
    let versions = store.org_unit_versions(s.commune_code.as_str()).await?;
    let on = s.starts_at.with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let commune = outreach_core::org::version_on(&versions, Some(on))
        .or(versions.last())
        .map_or_else(|| String::from(&s.commune_code), |u| u.name.clone());
    let mut r = html(CheckInPage {
        nav: Nav::new(session, "/ui/buoi"),
        id: s.id.to_string(),
        title: campaign.map(|c| c.name).unwrap_or_default(),
        when: format!("{} {}", format::date(s.starts_at), format::time(s.starts_at)),
        commune,
        here: here.len(),
        q: q.to_string(),
        searched: !wanted.is_empty(),
        found,
        notice,
        error,
        walk_in_phone: walk_in.0,
        walk_in_name: walk_in.1,
    })?;
    *r.status_mut() = status;
    Ok(r)
}

/// A check-in post's form check: from this site, with the session's form token, by a role
/// that checks people in.
fn require_check_in_form(headers: &HeaderMap, session: &UiSession, form: &FormData) -> Result<(), UiError> {
    require_form(
        headers,
        session,
        form.get("csrf"),
        CHECK_IN_API,
        "Vai trò của bạn không điểm danh tại buổi.",
    )
}

/// `POST /ui/buoi/{id}/den`: `contact_id`, or a walk-in's `phone` and `name`.
pub async fn check_in(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    Path(id): Path<SessionId>,
    form: FormData,
) -> Result<Response, UiError> {
    require_check_in_form(&headers, &session, &form)?;
    let s = door(&state, &session, &id).await?;
    let q = form.get("q").unwrap_or_default().to_string();
    let phone = form.get("phone").unwrap_or_default().trim().to_string();
    let name = form.get("name").unwrap_or_default().trim().to_string();
    let who = match form.get("contact_id") {
        Some(contact_id) => CheckIn::Contact {
            contact_id: contact_id.to_string(),
        },
        None => CheckIn::WalkIn {
            phone: phone.clone(),
            name: name.clone(),
        },
    };
    let store = state.store.as_ref();
    let before = store.get_session_record(&id).await?;
    let actor = session.caller.actor_in_area(store).await?;
    match usecases::check_in(store, &id, who, state.clock.now(), &actor).await {
        Ok(outcome) => {
            if outcome.added {
                let after = store.get_session_record(&id).await?;
                let change = audit::change("session record", &id, before.as_ref(), after.as_ref()).0;
                audit_change(
                    &state,
                    &session,
                    "/ui/buoi/{id}/den",
                    &format!("/ui/buoi/{id}/den"),
                    Some(&change),
                )
                .await;
            }
            let back = format!("/ui/buoi/{id}/den?ok={}", outcome.contact_id);
            Ok(Redirect::to(&back).into_response())
        }
        Err(CoreError::Validation { field, message }) => {
            let said = if s.status == SessionStatus::Cancelled {
                "Buổi này đã bị hủy.".to_string()
            } else {
                text::field_message(&field, &message)
            };
            render(
                &state,
                &session,
                &s,
                &q,
                None,
                Some(said),
                (phone, name),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(UiError::from(ApiError::from(e))),
    }
}

/// The personal check-in code a citizen's reminder links to, as the citizen's phone shows
/// it at the door: a QR code (SVG drawn here) of the URL that checks them in.
#[derive(Template)]
#[template(path = "ui/checkin_code.html")]
struct CodePage<'a> {
    css: &'a str,
    name: String,
    when: String,
    venue: String,
    qr: String,
}

#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    #[serde(default)]
    token: String,
}

/// The QR code of `text`, as an SVG element sized by its `viewBox`.
fn qr_svg(text: &str) -> Result<String, UiError> {
    let code = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| UiError::from(ApiError::bad("token", format!("cannot draw the code: {e}"))))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .dark_color(qrcode::render::svg::Color("#1d2433"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build()
        .split_once("<svg")
        .map(|(_, rest)| format!("<svg role=\"img\" aria-label=\"Mã QR điểm danh\"{rest}"))
        .unwrap_or_default())
}

/// The site's URL as this request reached it.
fn site(headers: &HeaderMap) -> String {
    let scheme = if crate::ui::session::over_https(headers) {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// `GET /ui/den/ma?token`: the citizen's code, without signing in (the token is theirs).
pub async fn code(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
) -> Result<Response, UiError> {
    let code = state.auth.verify_check_in(&q.token).map_err(ApiError::from)?;
    let store = state.store.as_ref();
    let (Some(s), Some(contact)) = (
        store.get_session(&code.session_id).await?,
        store.get_contact(&code.contact_id).await?,
    ) else {
        return Err(UiError::NotFound);
    };
    let url = format!("{}/ui/den?token={}", site(&headers), q.token);
    html(CodePage {
        css: crate::ui::assets::css_url(),
        name: contact.name,
        when: format!("{} {}", format::date(s.starts_at), format::time(s.starts_at)),
        venue: s.venue,
        qr: qr_svg(&url)?,
    })
}

/// What scanning a citizen's code shows a signed-in officer: who, which session, and the
/// button that checks them in.
#[derive(Template)]
#[template(path = "ui/checkin_scan.html")]
struct ScanPage {
    nav: Nav,
    token: String,
    name: String,
    when: String,
    commune: String,
    here: bool,
}

/// The session and contact a code names, for an officer who may check people in there;
/// anyone else gets what an unknown session gets.
async fn scanned(state: &AppState, session: &UiSession, token: &str) -> Result<(Session, Contact), UiError> {
    let code = state.auth.verify_check_in(token).map_err(ApiError::from)?;
    let s = door(state, session, &code.session_id).await?;
    let contact = state
        .store
        .get_contact(&code.contact_id)
        .await?
        .filter(|c| c.erased_at.is_none())
        .ok_or(UiError::NotFound)?;
    Ok((s, contact))
}

/// `GET /ui/den?token`: the officer's phone camera opened a citizen's code.
pub async fn scan(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<CodeQuery>,
) -> Result<Response, UiError> {
    let (s, contact) = scanned(&state, &session, &q.token).await?;
    let here = state
        .store
        .get_session_record(&s.id)
        .await?
        .is_some_and(|r| r.attendees.iter().any(|a| a.contact_id == contact.id));
    let versions = state.store.org_unit_versions(s.commune_code.as_str()).await?;
    let commune = versions
        .last()
        .map_or_else(|| String::from(&s.commune_code), |u| u.name.clone());
    html(ScanPage {
        nav: Nav::new(&session, "/ui/buoi"),
        token: q.token,
        name: contact.name,
        when: format!("{} {}", format::date(s.starts_at), format::time(s.starts_at)),
        commune,
        here,
    })
}

/// `POST /ui/den?token`: check the code's citizen in.
pub async fn scan_check_in(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    Query(q): Query<CodeQuery>,
    form: FormData,
) -> Result<Response, UiError> {
    require_check_in_form(&headers, &session, &form)?;
    let (s, contact) = scanned(&state, &session, &q.token).await?;
    let store = state.store.as_ref();
    let before = store.get_session_record(&s.id).await?;
    let actor = session.caller.actor_in_area(store).await?;
    let who = CheckIn::Contact {
        contact_id: contact.id.to_string(),
    };
    match usecases::check_in(store, &s.id, who, state.clock.now(), &actor).await {
        Ok(outcome) => {
            if outcome.added {
                let after = store.get_session_record(&s.id).await?;
                let change = audit::change("session record", &s.id, before.as_ref(), after.as_ref()).0;
                let target = format!("/ui/buoi/{}/den", s.id);
                audit_change(&state, &session, "/ui/den", &target, Some(&change)).await;
            }
            Ok(Redirect::to(&format!("/ui/buoi/{}/den?ok={}", s.id, contact.id)).into_response())
        }
        Err(CoreError::Validation { field, message }) => Err(UiError::from(ApiError::Core(CoreError::Validation {
            message: text::field_message(&field, &message),
            field,
        }))),
        Err(e) => Err(UiError::from(ApiError::from(e))),
    }
}
