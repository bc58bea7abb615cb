//! *Người*: the contacts of the caller's area with their consent and opt-out state, a
//! registration form, and the CSV import, which lists each refused row with its line and
//! reason in Vietnamese and offers the refused rows back as a CSV to correct and re-import.

use std::collections::HashSet;

use askama::Template;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use outreach_core::CoreError;
use outreach_core::contact::{Channel, ConsentInput, ContactInput, ContactRole, parse_contacts_csv};
use outreach_core::ids::UnitCode;
use outreach_core::ports::{ContactFilter, PageRequest};
use outreach_core::schedule::DEFAULT_TIME_ZONE;
use outreach_core::usecases;
use serde::Deserialize;

use crate::AppState;
use crate::audit;
use crate::error::ApiError;
use crate::ui::form::FormData;
use crate::ui::sessions::{UnitOption, area_communes, contact_role_label};
use crate::ui::{Nav, Session as UiSession, UiError, audit_change, format, html, may, page_stamp, require_form, text};

/// One contact of the list.
pub struct ContactRow {
    pub name: String,
    pub role: &'static str,
    pub commune: String,
    pub phone: String,
    pub sms: &'static str,
    pub email: &'static str,
    pub registered: String,
}

/// A refused row of an import.
pub struct RefusedRow {
    pub line: usize,
    pub key: String,
    pub reasons: Vec<String>,
}

/// What the registration form holds after a refusal, with the error beside its field.
#[derive(Default)]
pub struct Draft {
    pub name: String,
    pub phone: String,
    pub email: String,
    pub commune: String,
    pub role: String,
    pub consent_sms: bool,
    pub consent_email: bool,
    pub consent_zns: bool,
    pub field: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/contacts.html")]
struct ContactsPage {
    nav: Nav,
    rows: Vec<ContactRow>,
    communes: Vec<UnitOption>,
    commune: String,
    role: String,
    consent: String,
    consents: Vec<FilterOption>,
    search: String,
    /// Whether a filter other than the commune is set (the empty list says so).
    filtered: bool,
    /// A commune officer's page is their commune's: no picker.
    fixed_commune: bool,
    more: bool,
    can_register: bool,
    draft: Draft,
    notice: Option<String>,
    import_error: Option<String>,
    imported: Option<usize>,
    refused: Vec<RefusedRow>,
    /// The refused rows as a CSV (header and rows as written), to download and correct.
    refused_csv: Option<String>,
}

/// The list's filters, as query parameters so a filtered list is a link: `commune`,
/// `role` (`citizen`, `volunteer`, `planner`), `consent` (see [`ConsentFilter`]) and `q`
/// (part of a name, accents optional, or of a phone number).
#[derive(Deserialize, Default, Clone)]
pub struct ContactsQuery {
    #[serde(default)]
    commune: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    consent: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    ok: String,
}

/// Whom the consent filter keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ConsentFilter {
    /// Agreed to SMS and not opted out of it.
    Sms,
    /// Agreed to email and not opted out of it.
    Email,
    /// Opted out of a channel (by reply, link or a planner).
    OptedOut,
    /// Agreed to nothing and refused nothing: no reminder reaches them.
    None,
}

impl ConsentFilter {
    const ALL: [(&'static str, &'static str, ConsentFilter); 4] = [
        ("sms", "Đồng ý nhận SMS", ConsentFilter::Sms),
        ("email", "Đồng ý nhận email", ConsentFilter::Email),
        ("tu-choi", "Đã từ chối nhận tin", ConsentFilter::OptedOut),
        ("chua-dong-y", "Chưa đồng ý kênh nào", ConsentFilter::None),
    ];

    fn parse(value: &str) -> Option<Self> {
        Self::ALL.iter().find(|(v, _, _)| *v == value).map(|(_, _, f)| *f)
    }

    fn keeps(self, c: &outreach_core::contact::Contact) -> bool {
        let channels = [Channel::Sms, Channel::Email];
        match self {
            Self::Sms => c.has_consent(Channel::Sms) && !c.has_opted_out(Channel::Sms),
            Self::Email => c.has_consent(Channel::Email) && !c.has_opted_out(Channel::Email),
            Self::OptedOut => channels.iter().any(|ch| c.has_opted_out(*ch)),
            Self::None => channels.iter().all(|ch| !c.has_consent(*ch) && !c.has_opted_out(*ch)),
        }
    }
}

/// A name or number search: a name matches with or without accents, in any case; a number
/// matches by its digits, written from 0 or from +84.
struct Search {
    name: String,
    digits: String,
}

impl Search {
    fn parse(q: &str) -> Option<Self> {
        let q = q.trim();
        if q.is_empty() {
            return None;
        }
        let digits: String = q.chars().filter(char::is_ascii_digit).collect();
        let looks_like_number = digits.len() >= 3 && q.chars().all(|c| c.is_ascii_digit() || " +-.()".contains(c));
        Some(Self {
            name: fold(q),
            digits: if looks_like_number {
                digits
                    .strip_prefix('0')
                    .map_or(digits.clone(), |rest| format!("84{rest}"))
            } else {
                String::new()
            },
        })
    }

    fn keeps(&self, c: &outreach_core::contact::Contact) -> bool {
        if !self.digits.is_empty() {
            return c
                .phone
                .as_ref()
                .is_some_and(|p| p.e164.trim_start_matches('+').contains(&self.digits));
        }
        fold(&c.name).contains(&self.name)
    }
}

/// A name without accents, in lower case, for matching what a person types.
pub(crate) fn fold(s: &str) -> String {
    outreach_core::sms::unaccent(s).to_lowercase()
}

/// An option of a filter's select.
pub struct FilterOption {
    pub value: &'static str,
    pub label: &'static str,
}

/// The page again after a refusal (422): the form as typed with its error, or the import's.
async fn refused(state: &AppState, session: &UiSession, draft: Draft, imported: Imported) -> Result<Response, UiError> {
    render(
        state,
        session,
        &ContactsQuery::default(),
        draft,
        None,
        imported,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

fn consent_state(c: &outreach_core::contact::Contact, channel: Channel) -> &'static str {
    if c.has_opted_out(channel) {
        "Đã từ chối"
    } else if c.has_consent(channel) {
        "Đồng ý"
    } else {
        "Chưa đồng ý"
    }
}

/// `GET /ui/nguoi?commune&role&consent&q`.
pub async fn list(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<ContactsQuery>,
) -> Result<Response, UiError> {
    let notice = (q.ok == "dang-ky").then(|| "Đã đăng ký người mới.".to_string());
    render(
        &state,
        &session,
        &q,
        Draft::default(),
        notice,
        Imported::default(),
        StatusCode::OK,
    )
    .await
}

/// An import's outcome, for the page.
#[derive(Default)]
struct Imported {
    error: Option<String>,
    imported: Option<usize>,
    refused: Vec<RefusedRow>,
    refused_csv: Option<String>,
}

async fn render(
    state: &AppState,
    session: &UiSession,
    q: &ContactsQuery,
    draft: Draft,
    notice: Option<String>,
    imported: Imported,
    status: StatusCode,
) -> Result<Response, UiError> {
    if !may(session.role(), Method::GET, "/v1/contacts") {
        return Err(UiError::Forbidden("Vai trò của bạn không xem danh sách người.".into()));
    }
    let store = state.store.as_ref();
    let today = state.clock.now().with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let fixed = session.role() == crate::auth::Role::CommuneOfficer;
    let commune = if fixed {
        session.claims().org.clone()
    } else {
        q.commune.trim().to_string()
    };
    let role = match q.role.as_str() {
        "citizen" => Some(ContactRole::Citizen),
        "volunteer" => Some(ContactRole::Volunteer),
        "planner" => Some(ContactRole::Planner),
        _ => None,
    };
    let consent = ConsentFilter::parse(&q.consent);
    let search = Search::parse(&q.q);
    if !commune.is_empty() {
        session
            .caller
            .require_area(store, &commune, "commune", &commune)
            .await?;
    }
    let communes = area_communes(store, session, today).await?;
    let area: HashSet<String> = session.caller.area(store).await?;
    let filter = ContactFilter {
        commune: (!commune.is_empty()).then(|| UnitCode::from(commune.as_str())),
        role,
    };
    let mut rows = Vec::new();
    let mut more = false;
    let mut page = PageRequest::first(500);
    loop {
        let got = store.list_contacts(&filter, &page).await?;
        for c in got
            .items
            .into_iter()
            .filter(|c| area.contains(c.commune_code.as_str()) && c.erased_at.is_none())
            .filter(|c| consent.is_none_or(|f| f.keeps(c)) && search.as_ref().is_none_or(|s| s.keeps(c)))
        {
            if rows.len() == 300 {
                more = true;
                break;
            }
            rows.push(ContactRow {
                role: contact_role_label(c.role),
                commune: communes
                    .iter()
                    .find(|u| u.code == c.commune_code)
                    .map_or_else(|| String::from(&c.commune_code), |u| u.name.clone()),
                phone: c.masked_phone(),
                sms: consent_state(&c, Channel::Sms),
                email: if c.email.is_some() {
                    consent_state(&c, Channel::Email)
                } else {
                    "—"
                },
                registered: format::date(c.created_at),
                name: c.name,
            });
        }
        match got.next_cursor {
            Some(cursor) if !more => page.cursor = Some(cursor),
            _ => break,
        }
    }
    let mut response = html(ContactsPage {
        nav: Nav::new(session, "/ui/nguoi"),
        rows,
        communes,
        commune,
        role: role.map_or("", |_| q.role.as_str()).to_string(),
        consent: consent.map_or("", |_| q.consent.as_str()).to_string(),
        consents: ConsentFilter::ALL
            .iter()
            .map(|(value, label, _)| FilterOption { value, label })
            .collect(),
        search: q.q.trim().to_string(),
        filtered: role.is_some() || consent.is_some() || search.is_some(),
        fixed_commune: fixed,
        more,
        can_register: may(session.role(), Method::POST, "/v1/contacts"),
        draft,
        notice,
        import_error: imported.error,
        imported: imported.imported,
        refused: imported.refused,
        refused_csv: imported.refused_csv,
    })?;
    *response.status_mut() = status;
    Ok(response)
}

/// `POST /ui/nguoi`: register one person, with consent as ticked (recorded as given on a
/// paper form, wording `v1`, now).
pub async fn register(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    form: FormData,
) -> Result<Response, UiError> {
    let api = (Method::POST, "/v1/contacts");
    require_form(
        &headers,
        &session,
        form.get("csrf"),
        api,
        "Vai trò của bạn không đăng ký người.",
    )?;
    let get = |k: &str| form.get(k).unwrap_or_default().trim().to_string();
    let draft = Draft {
        name: get("name"),
        phone: get("phone"),
        email: get("email"),
        commune: if session.role() == crate::auth::Role::CommuneOfficer {
            session.claims().org.clone()
        } else {
            get("commune")
        },
        role: get("role"),
        consent_sms: form.get("consent_sms").is_some(),
        consent_email: form.get("consent_email").is_some(),
        consent_zns: form.get("consent_zns").is_some(),
        ..Draft::default()
    };
    let store = state.store.as_ref();
    let refuse = |mut draft: Draft, field: &str, message: String| {
        draft.field = field.to_string();
        draft.error = Some(message);
        draft
    };
    if draft.commune.is_empty() {
        return refused(
            &state,
            &session,
            refuse(draft, "commune_code", "Hãy chọn xã/phường.".into()),
            Imported::default(),
        )
        .await;
    }
    if !session.caller.covers(store, &draft.commune).await? {
        let d = refuse(draft, "commune_code", "Xã/phường này nằm ngoài địa bàn của bạn.".into());
        return refused(&state, &session, d, Imported::default()).await;
    }
    let role = match draft.role.as_str() {
        "volunteer" => ContactRole::Volunteer,
        _ => ContactRole::Citizen,
    };
    let now = state.clock.now();
    let consent = |channel| ConsentInput {
        channel,
        method: "paper_form".into(),
        wording_version: "v1".into(),
        granted_at: Some(now),
    };
    let mut consents = Vec::new();
    if draft.consent_sms {
        consents.push(consent(Channel::Sms));
    }
    if draft.consent_email {
        consents.push(consent(Channel::Email));
    }
    if draft.consent_zns {
        consents.push(consent(Channel::Zns));
    }
    let input = ContactInput {
        role,
        name: draft.name.clone(),
        commune_code: draft.commune.clone(),
        phone: draft.phone.clone(),
        email: (!draft.email.is_empty()).then(|| draft.email.clone()),
        consents,
    };
    match usecases::register_contact(store, input, now, &session.caller.actor()).await {
        Ok(contact) => {
            let change = audit::change("contact", &contact.id, None, Some(&contact)).0;
            audit_change(&state, &session, "/ui/nguoi", "/ui/nguoi", Some(&change)).await;
            Ok(Redirect::to("/ui/nguoi?ok=dang-ky").into_response())
        }
        Err(e) => {
            let (field, message) = match &e {
                CoreError::Validation { field, message } => (field.clone(), text::field_message(field, message)),
                CoreError::AlreadyExists { .. } => {
                    ("phone".to_string(), "Số điện thoại này đã được đăng ký.".to_string())
                }
                _ => (String::new(), text::error_message(&ApiError::Core(e))),
            };
            let d = refuse(draft, &field, message);
            refused(&state, &session, d, Imported::default()).await
        }
    }
}

/// A row reason in Vietnamese: `field: message` from the core, or a phrase of the reader.
fn row_reason(reason: &str) -> String {
    if reason.contains("already exists") {
        return "Số điện thoại này đã được đăng ký.".into();
    }
    if let Some(role) = reason.strip_prefix("unknown role ") {
        return format!(
            "Vai trò {} không hợp lệ (citizen hoặc volunteer).",
            role.split(' ').next().unwrap_or("")
        );
    }
    if reason == "role is missing" {
        return "Thiếu vai trò (citizen hoặc volunteer).".into();
    }
    if reason.starts_with("consent column holds") {
        return "Cột đồng ý chỉ nhận yes hoặc no.".into();
    }
    if reason.starts_with("a consent needs") {
        return "Đồng ý nhận tin cần consent_method và consent_wording_version.".into();
    }
    if reason.starts_with("unreadable CSV row") {
        return "Không đọc được dòng này (sai số cột?).".into();
    }
    let reason = reason.strip_prefix("row: ").unwrap_or(reason);
    match reason.split_once(": ") {
        Some((field, message)) if !field.contains(' ') => text::field_message(field, message),
        _ => text::field_message("row", reason),
    }
}

/// The lines of `text` at `lines` (1-based, as an editor numbers them) under its header.
fn refused_csv(text: &str, lines: &[usize]) -> String {
    let all: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    let mut out = String::from('\u{feff}');
    if let Some(header) = all.first() {
        out.push_str(header);
        out.push_str("\r\n");
    }
    for &line in lines {
        if let Some(l) = line.checked_sub(1).and_then(|i| all.get(i)) {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out
}

/// `POST /ui/nguoi/nhap` (multipart: `csrf`, `file`): import a contact CSV.
pub async fn import(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<Response, UiError> {
    let mut csrf = None;
    let mut file = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|_| UiError::Api(ApiError::bad("file", "unreadable upload")))?
    {
        match field.name() {
            Some("csrf") => csrf = field.text().await.ok(),
            Some("file") => file = field.bytes().await.ok(),
            _ => {}
        }
    }
    let api = (Method::POST, "/v1/contacts:import");
    require_form(
        &headers,
        &session,
        csrf.as_deref(),
        api,
        "Vai trò của bạn không nhập danh sách.",
    )?;
    let failed = |message: String| Imported {
        error: Some(message),
        ..Imported::default()
    };
    let Some(bytes) = file.filter(|b| !b.is_empty()) else {
        let i = failed("Hãy chọn tệp CSV.".into());
        return refused(&state, &session, Draft::default(), i).await;
    };
    let Ok(text) = String::from_utf8(bytes.to_vec()) else {
        let i = failed("Không đọc được tệp CSV (cần mã hóa UTF-8).".into());
        return refused(&state, &session, Draft::default(), i).await;
    };
    if let Err(e) = crate::extract::check_upload(&text) {
        let i = failed(text::error_message(&e));
        return refused(&state, &session, Draft::default(), i).await;
    }
    let store = state.store.as_ref();
    let rows = match parse_contacts_csv(&text) {
        Ok(rows) => rows,
        Err(e) => {
            let i = failed(text::error_message(&ApiError::Core(e)));
            return refused(&state, &session, Draft::default(), i).await;
        }
    };
    // Rows of a commune outside the caller's area are refused, each naming its line, and
    // nothing else of the file is held back.
    let area = session.caller.area(store).await?;
    let mut foreign = HashSet::new();
    for code in rows
        .iter()
        .filter_map(|r| r.input.as_ref().ok())
        .map(|i| &i.commune_code)
    {
        // A code no unit has is left to the use case, which calls it unknown.
        if !area.contains(code) && !foreign.contains(code) && !store.org_unit_versions(code).await?.is_empty() {
            foreign.insert(code.clone());
        }
    }
    let (mine, outside): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|r| r.input.as_ref().map_or(true, |i| !foreign.contains(&i.commune_code)));
    // Each batch of the import writes its own audit entry as it commits.
    let stamp = page_stamp(&session, "/ui/nguoi/nhap", "/ui/nguoi/nhap");
    let report = usecases::import_contacts(store, mine, state.clock.now(), &session.caller.actor(), Some(&stamp))
        .await
        .map_err(ApiError::from)?;
    let mut refused: Vec<RefusedRow> = report
        .rejected
        .iter()
        .map(|r| RefusedRow {
            line: r.row,
            key: r.key.clone().unwrap_or_default(),
            reasons: r.reasons.iter().map(|m| row_reason(m)).collect(),
        })
        .collect();
    refused.extend(outside.into_iter().map(|r| RefusedRow {
        line: r.row,
        key: String::new(),
        reasons: vec!["Xã/phường nằm ngoài địa bàn của bạn.".into()],
    }));
    refused.sort_by_key(|r| r.line);
    let lines: Vec<usize> = refused.iter().map(|r| r.line).collect();
    let imported = Imported {
        error: None,
        imported: Some(report.imported),
        refused_csv: (!lines.is_empty()).then(|| refused_csv(&text, &lines)),
        refused,
    };
    let status = if imported.refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(
        &state,
        &session,
        &ContactsQuery::default(),
        Draft::default(),
        None,
        imported,
        status,
    )
    .await
}
