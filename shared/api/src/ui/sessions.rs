//! *Lịch buổi* and *Buổi*: the caller's sessions, and one session's staff, attendance,
//! outcomes and message timeline. Attendance is entered by ticking registered people of
//! the commune and adding walk-ins by phone and name; an error names its row.

use std::collections::{BTreeMap, HashMap, HashSet};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, NaiveDate};
use outreach_core::CoreError;
use outreach_core::answer::{AnswerCounts, Headcount};
use outreach_core::contact::{Channel, ContactRole};
use outreach_core::ids::{CampaignId, SessionId, UnitCode};
use outreach_core::org::Level;
use outreach_core::outcome::{ATTENDANCE_METRICS, MetricKind, REPORT_METRICS, SessionRecord};
use outreach_core::ports::{ContactFilter, DeliveryFilter, PageRequest, SessionFilter, Store};
use outreach_core::quarter::local_midnight;
use outreach_core::reminder::{DeliveryStatus, JobStatus};
use outreach_core::schedule::DEFAULT_TIME_ZONE;
use outreach_core::session::{Session, SessionStatus};
use outreach_core::usecases::{self, AttendanceInput, AttendeeInput, OutcomesInput};
use serde::Deserialize;

use crate::AppState;
use crate::audit;
use crate::error::ApiError;
use crate::ui::form::FormData;
use crate::ui::overview::suppression_label;
use crate::ui::{Nav, Session as UiSession, UiError, audit_change, format, html, may, require_form, text};

/// One session in a list.
pub struct SessionRow {
    pub id: String,
    pub day: String,
    pub time: String,
    pub commune: String,
    pub campaign: String,
    pub venue: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub staffing: String,
    pub short: bool,
    /// Citizens who said they will come, of the capacity (sessions still to come).
    pub coming: Option<String>,
    /// More said they will come than the venue holds.
    pub over_capacity: bool,
    /// The local day it starts on, for the calendar.
    pub local_day: NaiveDate,
}

/// The next sessions of a list whose answers are read (one read each).
const HEADCOUNT_ROWS: usize = 50;

/// A unit the picker offers.
pub struct UnitOption {
    pub code: String,
    pub name: String,
}

/// A campaign the filter offers.
pub struct CampaignOption {
    pub id: String,
    pub name: String,
}

/// The filters the list and the calendar share, as chosen, and what their pickers offer.
pub struct Filters {
    pub communes: Vec<UnitOption>,
    pub commune: String,
    pub campaigns: Vec<CampaignOption>,
    pub campaign: String,
    pub status: String,
    /// A commune officer's sessions are their commune's: no picker.
    pub fixed_commune: bool,
}

impl Filters {
    /// The filters as query pairs (those set), to carry into another view's link.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        [
            ("commune", &self.commune),
            ("campaign", &self.campaign),
            ("status", &self.status),
        ]
        .into_iter()
        // An officer's commune is no choice of theirs: their links leave it out.
        .filter(|(k, v)| !(v.is_empty() || (self.fixed_commune && *k == "commune")))
        .map(|(k, v)| (k, v.clone()))
        .collect()
    }
}

#[derive(Template)]
#[template(path = "ui/sessions.html")]
struct SessionsPage {
    nav: Nav,
    rows: Vec<SessionRow>,
    filters: Filters,
    from: String,
    to: String,
    /// The calendar of the same filters, from the first day.
    week_link: String,
    month_link: String,
    more: bool,
}

/// The query of the sessions' list and calendar: `commune`, `campaign`, `status`, `from`,
/// `to` (the list's days; the calendar shows the week or month of `from`), `view`.
#[derive(Deserialize, Default)]
pub struct SessionsQuery {
    #[serde(default)]
    pub commune: String,
    #[serde(default)]
    pub campaign: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub view: String,
}

pub fn status_label(status: SessionStatus) -> (&'static str, &'static str) {
    match status {
        SessionStatus::Scheduled => ("Đã lên lịch", "status-scheduled"),
        SessionStatus::Cancelled => ("Đã hủy", "status-cancelled"),
    }
}

/// A local date from the form (`yyyy-mm-dd`, as a date input sends it), or `default`.
pub fn local_day(value: &str, default: NaiveDate) -> NaiveDate {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").unwrap_or(default)
}

/// The current communes of the caller's area, by name, for the picker.
pub async fn area_communes(
    store: &dyn Store,
    session: &UiSession,
    today: NaiveDate,
) -> Result<Vec<UnitOption>, UiError> {
    let org = &session.claims().org;
    let units = usecases::unit_tree(store, org, today).await?;
    let mut communes: Vec<UnitOption> = units
        .into_iter()
        .filter(|u| u.level == Level::Commune)
        .map(|u| UnitOption {
            code: u.code.into_string(),
            name: u.name,
        })
        .collect();
    communes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(communes)
}

/// `GET /ui/buoi?commune&campaign&status&from&to`: the sessions of the caller's area
/// between two local dates (the coming 30 days by default), by start.
pub async fn list(
    State(state): State<AppState>,
    session: UiSession,
    Query(q): Query<SessionsQuery>,
) -> Result<Response, UiError> {
    let today = state.clock.now().with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let from = local_day(&q.from, today);
    let to = local_day(&q.to, from + Duration::days(30));
    let (filters, rows, more) = sessions_between(&state, &session, &q, from, to).await?;
    let calendar = |view: &str| {
        let mut link = form_urlencoded::Serializer::new(String::new());
        link.append_pair("view", view);
        link.append_pair("from", &from.format("%Y-%m-%d").to_string());
        link.extend_pairs(filters.query());
        format!("/ui/buoi/lich?{}", link.finish())
    };
    html(SessionsPage {
        nav: Nav::new(&session, "/ui/buoi"),
        week_link: calendar("tuan"),
        month_link: calendar("thang"),
        rows,
        filters,
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        more,
    })
}

/// The sessions of the caller's area from local day `from` to `to` (both included) that
/// `q`'s filters keep, by start (at most 500; `true` when there were more), with the
/// filters as chosen and what their pickers offer.
pub async fn sessions_between(
    state: &AppState,
    session: &UiSession,
    q: &SessionsQuery,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Filters, Vec<SessionRow>, bool), UiError> {
    if !may(session.role(), Method::GET, "/v1/sessions") {
        return Err(UiError::Forbidden("Vai trò của bạn không xem lịch buổi.".into()));
    }
    let store = state.store.as_ref();
    let now = state.clock.now();
    let today = now.with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let fixed_commune = session.role() == crate::auth::Role::CommuneOfficer;
    let commune = if fixed_commune {
        session.claims().org.clone()
    } else {
        q.commune.trim().to_string()
    };
    if !commune.is_empty() {
        session
            .caller
            .require_area(store, &commune, "commune", &commune)
            .await?;
    }
    let status = match q.status.as_str() {
        "scheduled" => Some(SessionStatus::Scheduled),
        "cancelled" => Some(SessionStatus::Cancelled),
        _ => None,
    };
    let area = session.caller.area(store).await?;
    let communes = area_communes(store, session, today).await?;
    let campaigns = area_campaigns(store, &area).await?;
    // A campaign is a filter only if it reaches the area (another's is no filter at all).
    let campaign = q.campaign.trim();
    let campaign = campaigns
        .iter()
        .find(|c| c.id == campaign)
        .map(|c| c.id.clone())
        .unwrap_or_default();
    let filter = SessionFilter {
        commune: (!commune.is_empty()).then(|| UnitCode::from(commune.as_str())),
        campaign: (!campaign.is_empty()).then(|| CampaignId::from(&campaign)),
        status,
        from: Some(local_midnight(from, DEFAULT_TIME_ZONE)),
        to: Some(local_midnight(to + Duration::days(1), DEFAULT_TIME_ZONE)),
    };
    let names: HashMap<&str, &str> = communes.iter().map(|c| (c.code.as_str(), c.name.as_str())).collect();
    let mut campaign_names: HashMap<CampaignId, String> = campaigns
        .iter()
        .map(|c| (CampaignId::from(&c.id), c.name.clone()))
        .collect();
    let mut rows = Vec::new();
    let mut page = PageRequest::first(500);
    let mut more = false;
    let mut upcoming = 0;
    loop {
        let got = store.list_sessions(&filter, &page).await?;
        for s in got.items.into_iter().filter(|s| area.contains(s.commune_code.as_str())) {
            if rows.len() == 500 {
                more = true;
                break;
            }
            // A session in a unit that took over one of its campaign's communes: the
            // campaign does not list that unit, so its name is read once.
            if !campaign_names.contains_key(&s.campaign_id) {
                let name = store
                    .get_campaign(&s.campaign_id)
                    .await?
                    .map(|c| c.name)
                    .unwrap_or_default();
                campaign_names.insert(s.campaign_id.clone(), name);
            }
            let campaign = campaign_names.get(&s.campaign_id).cloned().unwrap_or_default();
            let mut r = row(&s, names.get(s.commune_code.as_str()).copied(), campaign);
            if s.status == SessionStatus::Scheduled && s.starts_at > now && upcoming < HEADCOUNT_ROWS {
                upcoming += 1;
                let coming = store
                    .session_answers(&s.id)
                    .await?
                    .iter()
                    .filter(|a| !a.volunteer && a.answer == outreach_core::answer::Answer::Coming)
                    .count() as u32;
                r.coming = Some(format!("{coming}/{}", s.capacity));
                r.over_capacity = coming > s.capacity;
            }
            rows.push(r);
        }
        match got.next_cursor {
            Some(c) if !more => page.cursor = Some(c),
            _ => break,
        }
    }
    let filters = Filters {
        communes,
        commune,
        campaigns,
        campaign,
        status: status.map_or("", |_| q.status.as_str()).to_string(),
        fixed_commune,
    };
    Ok((filters, rows, more))
}

/// The campaigns that hold sessions in the caller's area, newest first.
async fn area_campaigns(store: &dyn Store, area: &HashSet<String>) -> Result<Vec<CampaignOption>, UiError> {
    let mut campaigns = Vec::new();
    let mut page = PageRequest::first(500);
    loop {
        let got = store.list_campaigns(None, &page).await?;
        campaigns.extend(
            got.items
                .into_iter()
                .filter(|c| crate::ui::campaigns::reaches(c, area))
                .map(|c| CampaignOption {
                    id: c.id.into_string(),
                    name: c.name,
                }),
        );
        match got.next_cursor {
            Some(c) if campaigns.len() < 1000 => page.cursor = Some(c),
            _ => break,
        }
    }
    campaigns.reverse();
    Ok(campaigns)
}

fn row(s: &Session, commune_name: Option<&str>, campaign: String) -> SessionRow {
    let (status, status_class) = status_label(s.status);
    SessionRow {
        id: s.id.to_string(),
        day: format!("{} {}", format::weekday(s.starts_at), format::date(s.starts_at)),
        time: format!("{}–{}", format::time(s.starts_at), format::time(s.ends_at)),
        commune: commune_name.map_or_else(|| String::from(&s.commune_code), str::to_string),
        campaign,
        venue: s.venue.clone(),
        status,
        status_class,
        staffing: format!("{}/{}", s.staff.len(), s.min_staff),
        short: s.status == SessionStatus::Scheduled && s.is_short_of_staff(),
        coming: None,
        over_capacity: false,
        local_day: s.starts_at.with_timezone(&DEFAULT_TIME_ZONE).date_naive(),
    }
}

/// A person who may be ticked as present.
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: &'static str,
    pub phone: String,
    pub checked: bool,
}

/// A walk-in row of the attendance form, as typed, with its error.
pub struct WalkInRow {
    pub index: usize,
    pub phone: String,
    pub name: String,
    pub error: Option<String>,
}

/// An outcome field.
pub struct OutcomeField {
    pub key: &'static str,
    pub label: &'static str,
    pub value: String,
    pub error: Option<String>,
}

/// A volunteer of the commune's team.
pub struct Volunteer {
    pub id: String,
    pub name: String,
    pub assigned: bool,
}

/// A session's expected headcount, as the page shows it.
pub struct HeadcountView {
    pub citizens: AnswerCounts,
    pub volunteers: AnswerCounts,
    pub capacity: u32,
    pub over_capacity: bool,
    pub short_of_staff: bool,
    /// Assigned volunteers who said they will not come, by name.
    pub declined_staff: Vec<String>,
}

/// A share of a session's citizens, with what it is of (`("Tỷ lệ xác nhận", "84,0 %",
/// "21/25 người được hỏi")`).
pub struct SessionFigure {
    pub label: &'static str,
    pub value: String,
    pub of: String,
}

/// The session's confirmation rate (from its answers now), and once its attendance is
/// recorded its no-show rate (confirmed, not on the list) and walk-in share, from the
/// figures its record was written with: the ones its commune's report adds up.
fn session_figures(counted: &Headcount, record: Option<&SessionRecord>) -> Vec<SessionFigure> {
    let share = |part: u32, whole: u32| format::figure((whole > 0).then(|| f64::from(part) / f64::from(whole)), true);
    let mut figures = Vec::new();
    if counted.citizens.asked > 0 {
        figures.push(SessionFigure {
            label: "Tỷ lệ xác nhận sẽ đến",
            value: share(counted.citizens.coming, counted.citizens.asked),
            of: format!(
                "{}/{} người dân được hỏi",
                counted.citizens.coming, counted.citizens.asked
            ),
        });
    }
    if let Some(r) = record.filter(|r| r.attendance_recorded_at.is_some()) {
        let a = &r.answers;
        if a.confirmed > 0 {
            let absent = a.confirmed.saturating_sub(a.confirmed_present);
            figures.push(SessionFigure {
                label: "Xác nhận nhưng không đến",
                value: share(absent, a.confirmed),
                of: format!("{absent}/{} người đã xác nhận", a.confirmed),
            });
        }
        let citizens = r.attendees.iter().filter(|x| x.role == ContactRole::Citizen).count() as u32;
        let walk_ins = r.attendees.iter().filter(|x| x.walk_in).count() as u32;
        if citizens > 0 {
            figures.push(SessionFigure {
                label: "Đến không đăng ký trước",
                value: share(walk_ins, citizens),
                of: format!("{walk_ins}/{citizens} người dân có mặt"),
            });
        }
    }
    figures
}

/// One delivery of the session's timeline.
pub struct TimelineItem {
    pub at: String,
    pub channel: &'static str,
    pub to: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "ui/session.html")]
struct SessionPage {
    nav: Nav,
    id: String,
    title: String,
    when: String,
    commune: String,
    venue: String,
    status: &'static str,
    status_class: &'static str,
    staffing: String,
    short: bool,
    started: bool,
    can_staff: bool,
    can_cancel: bool,
    can_record: bool,
    /// The door is open (from an hour before the start; late check-ins are kept too) and the
    /// role checks people in.
    can_check_in: bool,
    volunteers: Vec<Volunteer>,
    any_assigned: bool,
    people: Vec<Person>,
    walk_ins: Vec<WalkInRow>,
    outcomes: Vec<OutcomeField>,
    attendance_summary: String,
    figures: Vec<SessionFigure>,
    /// What the reminders that asked whether people will come were answered.
    headcount: Option<HeadcountView>,
    pending_reminders: usize,
    timeline: Vec<TimelineItem>,
    /// Whether the role reads the delivery log (planners).
    show_timeline: bool,
    staff_error: Option<String>,
    moved: MoveForm,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    ok: String,
}

/// What the page says after an action succeeded (`?ok=`).
fn notice_of(ok: &str) -> Option<String> {
    match ok {
        "diem-danh" => Some("Đã lưu danh sách tham dự.".into()),
        "ket-qua" => Some("Đã lưu kết quả buổi.".into()),
        "nhan-su" => Some("Đã cập nhật tình nguyện viên phụ trách.".into()),
        "huy" => Some("Đã hủy buổi; các lời nhắc chưa gửi đã được bỏ.".into()),
        "doi-lich" => Some("Đã dời lịch buổi; các lời nhắc chưa gửi được dời theo.".into()),
        _ => None,
    }
}

/// What a refused form leaves on the page: every value as typed, and each error beside the
/// field or row it names (a message for the rest at the top).
#[derive(Default)]
struct Draft {
    /// The attendance form: the ticked people and the walk-in rows, each with its error.
    ticked: Option<HashSet<String>>,
    walk_ins: Vec<WalkInRow>,
    /// The outcome figures as typed, by metric, and the error of each bad one.
    outcomes: Option<HashMap<String, String>>,
    outcome_errors: HashMap<String, String>,
    /// The staff form: the volunteers as ticked, and its error.
    staffed: Option<HashSet<String>>,
    staff_error: Option<String>,
    /// The move form as typed, and its error.
    moved: Option<MoveForm>,
    error: Option<String>,
}

/// The move form as typed, with its error.
#[derive(Default)]
pub struct MoveForm {
    pub date: String,
    pub time: String,
    pub venue: String,
    pub error: Option<String>,
}

/// The session's page again after a refusal (422), with what was typed.
async fn refused(state: &AppState, session: &UiSession, id: &SessionId, draft: Draft) -> Result<Response, UiError> {
    render_session(state, session, id, None, draft, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// `GET /ui/buoi/{id}`.
pub async fn page(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<SessionId>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    render_session(
        &state,
        &session,
        &id,
        notice_of(&q.ok),
        Draft::default(),
        StatusCode::OK,
    )
    .await
}

async fn session_in_area(state: &AppState, session: &UiSession, id: &SessionId) -> Result<Session, UiError> {
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

async fn render_session(
    state: &AppState,
    session: &UiSession,
    id: &SessionId,
    notice: Option<String>,
    draft: Draft,
    status_code: StatusCode,
) -> Result<Response, UiError> {
    if !may(session.role(), Method::GET, "/v1/sessions/{id}") {
        return Err(UiError::Forbidden("Vai trò của bạn không xem buổi.".into()));
    }
    let store = state.store.as_ref();
    let now = state.clock.now();
    let s = session_in_area(state, session, id).await?;
    let role = session.role();
    let campaign = store.get_campaign(&s.campaign_id).await?;
    let commune_versions = store.org_unit_versions(s.commune_code.as_str()).await?;
    let on = s.starts_at.with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let commune = outreach_core::org::version_on(&commune_versions, Some(on))
        .or(commune_versions.last())
        .map_or_else(|| String::from(&s.commune_code), |u| u.name.clone());
    let record = store.get_session_record(&s.id).await?;
    let team = store.get_team(s.commune_code.as_str()).await?;
    let mut volunteers = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    for member in team.iter().flat_map(|t| t.member_ids.iter()) {
        if let Some(c) = store.get_contact(member).await? {
            names.insert(c.id.to_string(), c.name.clone());
            volunteers.push(Volunteer {
                id: c.id.to_string(),
                name: c.name.clone(),
                assigned: match &draft.staffed {
                    Some(ticked) => ticked.contains(c.id.as_str()),
                    None => s.staff.contains(&c.id),
                },
            });
        }
    }
    // The commune's registered people, to tick; those already on the record first.
    let present: HashSet<String> = match &draft.ticked {
        Some(t) => t.clone(),
        None => record
            .iter()
            .flat_map(|r| r.attendees.iter())
            .map(|a| a.contact_id.to_string())
            .collect(),
    };
    let mut people = Vec::new();
    let started = s.starts_at <= now;
    if started {
        let filter = ContactFilter {
            commune: Some(s.commune_code.clone()),
            role: None,
        };
        let mut page = PageRequest::first(500);
        loop {
            let got = store.list_contacts(&filter, &page).await?;
            for c in got.items.into_iter().filter(|c| c.erased_at.is_none()) {
                people.push(Person {
                    checked: present.contains(c.id.as_str()),
                    role: contact_role_label(c.role),
                    phone: c.masked_phone(),
                    name: c.name,
                    id: c.id.into_string(),
                });
            }
            match got.next_cursor {
                Some(c) if people.len() < 2000 => page.cursor = Some(c),
                _ => break,
            }
        }
        // Those on the record from elsewhere stay on the list: a contact of another commune
        // of the caller's area by name, a walk-in registered outside it as such.
        let listed: HashSet<String> = people.iter().map(|p| p.id.clone()).collect();
        for attendee in record.iter().flat_map(|r| r.attendees.iter()) {
            if listed.contains(attendee.contact_id.as_str()) {
                continue;
            }
            let person = match store.get_contact(&attendee.contact_id).await? {
                Some(c) if session.caller.covers(store, c.commune_code.as_str()).await? => Person {
                    checked: present.contains(c.id.as_str()),
                    role: contact_role_label(c.role),
                    phone: c.masked_phone(),
                    name: c.name,
                    id: c.id.into_string(),
                },
                Some(_) => continue,
                None => Person {
                    checked: present.contains(attendee.contact_id.as_str()),
                    role: contact_role_label(attendee.role),
                    phone: String::new(),
                    name: "Người đến trực tiếp (đăng ký ở địa bàn khác)".into(),
                    id: attendee.contact_id.to_string(),
                },
            };
            people.push(person);
        }
        people.sort_by(|a, b| b.checked.cmp(&a.checked).then_with(|| a.name.cmp(&b.name)));
    }
    let outcomes = REPORT_METRICS
        .iter()
        .filter(|m| m.kind == MetricKind::Count && !ATTENDANCE_METRICS.contains(&m.key))
        .map(|m| OutcomeField {
            key: m.key,
            label: m.label,
            value: match &draft.outcomes {
                Some(typed) => typed.get(m.key).cloned().unwrap_or_default(),
                None => record
                    .as_ref()
                    .and_then(|r| r.outcomes.get(m.key))
                    .map(u64::to_string)
                    .unwrap_or_default(),
            },
            error: draft.outcome_errors.get(m.key).cloned(),
        })
        .collect();
    let attendance_summary = match &record {
        Some(r) if r.attendance_recorded_at.is_some() => {
            let walk_ins = r.attendees.iter().filter(|a| a.walk_in).count();
            format!(
                "{} người tham dự, trong đó {} người đến trực tiếp (chưa đăng ký trước).",
                r.attendees.len(),
                walk_ins
            )
        }
        _ => "Chưa ghi nhận danh sách tham dự.".into(),
    };
    let counted = usecases::session_headcount(store, &s).await?;
    let figures = session_figures(&counted, record.as_ref());
    let headcount = (counted.citizens.asked + counted.volunteers.asked > 0).then(|| HeadcountView {
        declined_staff: counted
            .declined_staff
            .iter()
            .map(|id| {
                volunteers
                    .iter()
                    .find(|v| v.id == *id)
                    .map_or_else(|| id.to_string(), |v| v.name.clone())
            })
            .collect(),
        citizens: counted.citizens,
        volunteers: counted.volunteers,
        capacity: counted.capacity,
        over_capacity: counted.over_capacity,
        short_of_staff: counted.short_of_staff,
    });
    let pending_reminders = store
        .session_jobs(&s.id)
        .await?
        .iter()
        .filter(|j| j.status == JobStatus::Pending)
        .count();
    // The delivery log is the planners' (as `GET /v1/deliveries` is).
    let timeline = if may(role, Method::GET, "/v1/deliveries") {
        timeline(store, &s).await?
    } else {
        Vec::new()
    };
    let mut walk_ins = draft.walk_ins;
    while walk_ins.len() < 3 {
        walk_ins.push(WalkInRow {
            index: walk_ins.len(),
            phone: String::new(),
            name: String::new(),
            error: None,
        });
    }
    let (status, status_class) = status_label(s.status);
    let page = SessionPage {
        nav: Nav::new(session, "/ui/buoi"),
        id: s.id.to_string(),
        title: campaign.map(|c| c.name).unwrap_or_default(),
        when: format!(
            "{} {}, {}–{}",
            format::weekday(s.starts_at),
            format::date(s.starts_at),
            format::time(s.starts_at),
            format::time(s.ends_at)
        ),
        commune,
        venue: s.venue.clone(),
        status,
        status_class,
        staffing: format!("{}/{}", s.staff.len(), s.min_staff),
        short: s.status == SessionStatus::Scheduled
            && (s.is_short_of_staff() || headcount.as_ref().is_some_and(|h| h.short_of_staff)),
        headcount,
        started,
        can_staff: !started
            && s.status == SessionStatus::Scheduled
            && may(role, Method::PUT, "/v1/sessions/{id}/staff"),
        can_cancel: !started
            && s.status == SessionStatus::Scheduled
            && may(role, Method::POST, "/v1/sessions/{id}:{action}"),
        can_record: started
            && s.status == SessionStatus::Scheduled
            && may(role, Method::PUT, "/v1/sessions/{id}/attendance"),
        can_check_in: s.status == SessionStatus::Scheduled
            && s.starts_at - Duration::minutes(usecases::CHECK_IN_OPENS_MINUTES) <= now
            && may(role, Method::POST, "/v1/sessions/{id}/check-ins"),
        any_assigned: volunteers.iter().any(|v| v.assigned),
        volunteers,
        people,
        walk_ins,
        outcomes,
        attendance_summary,
        figures,
        pending_reminders,
        timeline,
        show_timeline: may(role, Method::GET, "/v1/deliveries"),
        staff_error: draft.staff_error,
        moved: draft.moved.unwrap_or_default(),
        notice,
        error: draft.error,
    };
    let mut response = html(page)?;
    *response.status_mut() = status_code;
    Ok(response)
}

pub fn contact_role_label(role: ContactRole) -> &'static str {
    match role {
        ContactRole::Citizen => "Người dân",
        ContactRole::Volunteer => "Tình nguyện viên",
        ContactRole::Planner => "Cán bộ",
    }
}

fn delivery_status_label(status: DeliveryStatus) -> (&'static str, &'static str) {
    match status {
        DeliveryStatus::Sent => ("Đã gửi", "sent"),
        DeliveryStatus::Failed => ("Lỗi", "failed"),
        DeliveryStatus::Suppressed => ("Không gửi", "suppressed"),
        DeliveryStatus::Claimed => ("Đang gửi", "other"),
        DeliveryStatus::Retrying => ("Chờ gửi lại", "other"),
        #[allow(unreachable_patterns)]
        _ => ("Không rõ đã đến chưa", "other"),
    }
}

/// The session's deliveries, newest first (at most 200), each with its channel, status and
/// reason, and the person's masked number or address (never the whole of either).
async fn timeline(store: &dyn Store, s: &Session) -> Result<Vec<TimelineItem>, UiError> {
    let filter = DeliveryFilter {
        session: Some(s.id.clone()),
        ..DeliveryFilter::default()
    };
    let got = store.list_deliveries(&filter, &PageRequest::first(200)).await?;
    let mut items = Vec::new();
    let mut deliveries = got.items;
    deliveries.sort_by_key(|d| std::cmp::Reverse(d.updated_at));
    for d in deliveries {
        let contact = store.get_contact(&d.contact_id).await?;
        let to = match (d.channel, &contact) {
            (Channel::Sms | Channel::Zns, Some(c)) => c.masked_phone(),
            (Channel::Email, Some(c)) => c
                .email
                .as_deref()
                .map(outreach_core::contact::mask_email)
                .unwrap_or_default(),
            (_, None) => String::new(),
        };
        let (status, status_class) = delivery_status_label(d.status);
        items.push(TimelineItem {
            at: format::date_time(d.updated_at),
            channel: match d.channel {
                Channel::Sms => "SMS",
                Channel::Email => "Email",
                Channel::Zns => "Zalo ZNS",
            },
            to,
            status,
            status_class,
            reason: match d.status {
                DeliveryStatus::Suppressed => suppression_label(d.reason.as_deref().unwrap_or_default()).to_string(),
                DeliveryStatus::Failed | DeliveryStatus::Retrying => d.reason.clone().unwrap_or_default(),
                _ => String::new(),
            },
        });
    }
    Ok(items)
}

/// `POST /ui/buoi/{id}/diem-danh`: the ticked people and the walk-ins typed.
pub async fn attendance(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    Path(id): Path<SessionId>,
    form: FormData,
) -> Result<Response, UiError> {
    let csrf = form.get("csrf");
    let api = (Method::PUT, "/v1/sessions/{id}/attendance");
    require_form(&headers, &session, csrf, api, "Vai trò của bạn không ghi nhận tham dự.")?;
    session_in_area(&state, &session, &id).await?;
    let ticked: Vec<String> = form.all("present").map(str::to_string).collect();
    let mut attendees: Vec<AttendeeInput> = ticked
        .iter()
        .map(|id| AttendeeInput {
            contact_id: Some(id.clone()),
            ..AttendeeInput::default()
        })
        .collect();
    // Which walk-in row each attendee after the ticked ones came from.
    let mut walk_ins = Vec::new();
    let mut rows_of = Vec::new();
    for i in 0..20 {
        let (Some(phone), Some(name)) = (
            form.get(&format!("walkin_phone_{i}")),
            form.get(&format!("walkin_name_{i}")),
        ) else {
            continue;
        };
        let (phone, name) = (phone.trim().to_string(), name.trim().to_string());
        walk_ins.push(WalkInRow {
            index: walk_ins.len(),
            phone: phone.clone(),
            name: name.clone(),
            error: None,
        });
        if phone.is_empty() && name.is_empty() {
            continue;
        }
        rows_of.push(walk_ins.len() - 1);
        attendees.push(AttendeeInput {
            phone: Some(phone),
            name: (!name.is_empty()).then_some(name),
            ..AttendeeInput::default()
        });
    }
    let store = state.store.as_ref();
    let before = store.get_session_record(&id).await?;
    let actor = session.caller.actor_in_area(store).await?;
    match usecases::record_attendance(store, &id, AttendanceInput { attendees }, state.clock.now(), &actor).await {
        Ok(record) => {
            let change = audit::change("session record", &id, before.as_ref(), Some(&record)).0;
            audit_change(
                &state,
                &session,
                "/ui/buoi/{id}/diem-danh",
                &format!("/ui/buoi/{id}/diem-danh"),
                Some(&change),
            )
            .await;
            Ok(Redirect::to(&format!("/ui/buoi/{id}?ok=diem-danh#tham-du")).into_response())
        }
        Err(CoreError::Validation { field, message }) => {
            // `attendees[i]…`: a ticked person, or the walk-in row it came from.
            let index = field
                .strip_prefix("attendees[")
                .and_then(|r| r.split(']').next())
                .and_then(|n| n.parse::<usize>().ok());
            let said = text::field_message(&field, &message);
            let mut draft = Draft {
                ticked: Some(ticked.iter().cloned().collect()),
                walk_ins,
                ..Draft::default()
            };
            match index
                .and_then(|i| i.checked_sub(ticked.len()))
                .and_then(|w| rows_of.get(w))
            {
                Some(&row) => draft.walk_ins[row].error = Some(said),
                None => draft.error = Some(said),
            }
            refused(&state, &session, &id, draft).await
        }
        Err(e) => {
            let draft = Draft {
                ticked: Some(ticked.into_iter().collect()),
                walk_ins,
                error: Some(text::error_message(&ApiError::Core(e))),
                ..Draft::default()
            };
            refused(&state, &session, &id, draft).await
        }
    }
}

/// `POST /ui/buoi/{id}/ket-qua`: the outcome counts.
pub async fn outcomes(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    Path(id): Path<SessionId>,
    form: FormData,
) -> Result<Response, UiError> {
    let api = (Method::PUT, "/v1/sessions/{id}/outcomes");
    require_form(
        &headers,
        &session,
        form.get("csrf"),
        api,
        "Vai trò của bạn không ghi nhận kết quả.",
    )?;
    session_in_area(&state, &session, &id).await?;
    // Every figure as typed: a refusal shows them all again, the bad ones with their error.
    let mut typed = HashMap::new();
    let mut errors = HashMap::new();
    let mut metrics = BTreeMap::new();
    for m in REPORT_METRICS
        .iter()
        .filter(|m| m.kind == MetricKind::Count && !ATTENDANCE_METRICS.contains(&m.key))
    {
        let value = form.get(m.key).unwrap_or_default().trim();
        typed.insert(m.key.to_string(), value.to_string());
        if value.is_empty() {
            continue;
        }
        match value.replace('.', "").parse::<u64>() {
            Ok(n) => {
                metrics.insert(m.key.to_string(), n);
            }
            Err(_) => {
                errors.insert(m.key.to_string(), "Hãy nhập một số nguyên không âm.".to_string());
            }
        }
    }
    let refuse = |errors: HashMap<String, String>, error: Option<String>| Draft {
        outcomes: Some(typed.clone()),
        outcome_errors: errors,
        error,
        ..Draft::default()
    };
    if !errors.is_empty() {
        return refused(&state, &session, &id, refuse(errors, None)).await;
    }
    let store = state.store.as_ref();
    let before = store.get_session_record(&id).await?;
    match usecases::record_outcomes(
        store,
        &id,
        OutcomesInput { metrics },
        state.clock.now(),
        &session.caller.actor(),
    )
    .await
    {
        Ok(record) => {
            let change = audit::change("session record", &id, before.as_ref(), Some(&record)).0;
            audit_change(
                &state,
                &session,
                "/ui/buoi/{id}/ket-qua",
                &format!("/ui/buoi/{id}/ket-qua"),
                Some(&change),
            )
            .await;
            Ok(Redirect::to(&format!("/ui/buoi/{id}?ok=ket-qua#ket-qua")).into_response())
        }
        Err(CoreError::Validation { field, message }) => {
            let said = text::field_message(&field, &message);
            let draft = match field.strip_prefix("metrics.").filter(|k| typed.contains_key(*k)) {
                Some(key) => refuse(HashMap::from([(key.to_string(), said)]), None),
                None => refuse(HashMap::new(), Some(said)),
            };
            refused(&state, &session, &id, draft).await
        }
        Err(e) => {
            let draft = refuse(HashMap::new(), Some(text::error_message(&ApiError::Core(e))));
            refused(&state, &session, &id, draft).await
        }
    }
}

/// `POST /ui/buoi/{id}/nhan-su`: the volunteers who staff the session.
pub async fn staff(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    Path(id): Path<SessionId>,
    form: FormData,
) -> Result<Response, UiError> {
    let api = (Method::PUT, "/v1/sessions/{id}/staff");
    require_form(
        &headers,
        &session,
        form.get("csrf"),
        api,
        "Vai trò của bạn không phân công tình nguyện viên.",
    )?;
    let before = session_in_area(&state, &session, &id).await?;
    let ids: Vec<String> = form.all("volunteer").map(str::to_string).collect();
    let after = match usecases::assign_staff(state.store.as_ref(), &id, ids.clone(), state.clock.now()).await {
        Ok(after) => after,
        Err(e @ (CoreError::Validation { .. } | CoreError::Conflict(_))) => {
            // The ticks stay as they were, with the reason beside the form.
            let draft = Draft {
                staffed: Some(ids.into_iter().collect()),
                staff_error: Some(text::error_message(&ApiError::Core(e))),
                ..Draft::default()
            };
            return refused(&state, &session, &id, draft).await;
        }
        Err(e) => return Err(e.into()),
    };
    let change = audit::change("session", &id, Some(&before), Some(&after)).0;
    audit_change(
        &state,
        &session,
        "/ui/buoi/{id}/nhan-su",
        &format!("/ui/buoi/{id}/nhan-su"),
        Some(&change),
    )
    .await;
    Ok(Redirect::to(&format!("/ui/buoi/{id}?ok=nhan-su")).into_response())
}

/// `POST /ui/buoi/{id}/doi-lich` (`date`, `time`, optional `venue`): move a session that has
/// not started; its pending reminders move with it (the page said how many).
pub async fn move_to(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    Path(id): Path<SessionId>,
    form: FormData,
) -> Result<Response, UiError> {
    let api = (Method::POST, "/v1/sessions/{id}:{action}");
    require_form(
        &headers,
        &session,
        form.get("csrf"),
        api,
        "Vai trò của bạn không dời lịch buổi.",
    )?;
    let before = session_in_area(&state, &session, &id).await?;
    let get = |k: &str| form.get(k).unwrap_or_default().trim().to_string();
    let typed = MoveForm {
        date: get("date"),
        time: get("time"),
        venue: get("venue"),
        error: None,
    };
    let refuse = |typed: MoveForm, error: String| Draft {
        moved: Some(MoveForm {
            error: Some(error),
            ..typed
        }),
        ..Draft::default()
    };
    let date = NaiveDate::parse_from_str(&typed.date, "%Y-%m-%d").ok();
    let time = chrono::NaiveTime::parse_from_str(&typed.time, "%H:%M").ok();
    let Some(starts_at) = date
        .zip(time)
        .and_then(|(d, t)| d.and_time(t).and_local_timezone(DEFAULT_TIME_ZONE).earliest())
        .map(|t| t.with_timezone(&chrono::Utc))
    else {
        let draft = refuse(typed, "Hãy chọn ngày và giờ mới (HH:mm).".into());
        return refused(&state, &session, &id, draft).await;
    };
    let venue = (!typed.venue.is_empty()).then(|| typed.venue.clone());
    match usecases::move_session(state.store.as_ref(), &id, starts_at, venue, state.clock.now()).await {
        Ok(after) => {
            let change = audit::change("session", &id, Some(&before), Some(&after)).0;
            audit_change(
                &state,
                &session,
                "/ui/buoi/{id}/doi-lich",
                &format!("/ui/buoi/{id}/doi-lich"),
                Some(&change),
            )
            .await;
            Ok(Redirect::to(&format!("/ui/buoi/{id}?ok=doi-lich")).into_response())
        }
        Err(CoreError::Validation { field, message }) => {
            let draft = refuse(typed, text::field_message(&field, &message));
            refused(&state, &session, &id, draft).await
        }
        Err(e) => {
            let draft = refuse(typed, text::error_message(&ApiError::Core(e)));
            refused(&state, &session, &id, draft).await
        }
    }
}

/// `POST /ui/buoi/{id}/huy`: cancel a session that has not started; its pending reminders
/// are dropped (the page said how many before the button).
pub async fn cancel(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    Path(id): Path<SessionId>,
    form: FormData,
) -> Result<Response, UiError> {
    let api = (Method::POST, "/v1/sessions/{id}:{action}");
    require_form(
        &headers,
        &session,
        form.get("csrf"),
        api,
        "Vai trò của bạn không hủy buổi.",
    )?;
    let before = session_in_area(&state, &session, &id).await?;
    let reason = form
        .get("reason")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let after = usecases::cancel_session(state.store.as_ref(), &id, reason, state.clock.now())
        .await
        .map_err(ApiError::from)?;
    let change = audit::change("session", &id, Some(&before), Some(&after)).0;
    audit_change(
        &state,
        &session,
        "/ui/buoi/{id}/huy",
        &format!("/ui/buoi/{id}/huy"),
        Some(&change),
    )
    .await;
    Ok(Redirect::to(&format!("/ui/buoi/{id}?ok=huy")).into_response())
}
