//! *Chiến dịch*: the campaigns reaching the caller's area; a new campaign's form with the
//! schedule preview (the next sessions per commune) and the SMS cost of each reminder per
//! commune (segments, and a warning when accents make the text Unicode); the lifecycle
//! buttons a campaign's status allows.

use std::collections::{BTreeMap, HashSet};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, NaiveDate};
use outreach_core::CoreError;
use outreach_core::campaign::{
    Audience, Campaign, CampaignAction, CampaignInput, CampaignStatus, ReminderRuleInput, SMS_NAME_CHARS, ScheduleSpec,
};
use outreach_core::contact::Channel;
use outreach_core::org::{Level, version_on};
use outreach_core::ports::{PageRequest, Store};
use outreach_core::schedule::{CronSchedule, DEFAULT_TIME_ZONE, Period};
use outreach_core::sms::{SmsEncoding, count_segments, prepare_sms_text};
use outreach_core::template::{DEFAULT_EMAIL_BODY, DEFAULT_EMAIL_SUBJECT, DEFAULT_SMS_CITIZEN, render};
use outreach_core::usecases;
use serde::Deserialize;

use crate::AppState;
use crate::audit;
use crate::error::ApiError;
use crate::ui::form::FormData;
use crate::ui::{Nav, Session as UiSession, UiError, audit_change, format, html, may, require_form, text};

/// A campaign in the list.
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub period: String,
    pub communes: usize,
}

pub fn status_label(status: CampaignStatus) -> &'static str {
    match status {
        CampaignStatus::Draft => "Bản nháp",
        CampaignStatus::Active => "Đang chạy",
        CampaignStatus::Paused => "Tạm dừng",
        CampaignStatus::Cancelled => "Đã hủy",
        CampaignStatus::Completed => "Đã kết thúc",
    }
}

fn period_label(p: &Period) -> String {
    format!("{} – {}", p.start.format("%d/%m/%Y"), p.end.format("%d/%m/%Y"))
}

#[derive(Template)]
#[template(path = "ui/campaigns.html")]
struct CampaignsPage {
    nav: Nav,
    rows: Vec<CampaignRow>,
    can_create: bool,
}

/// Whether a campaign holds sessions in one of `area`'s units.
pub(crate) fn reaches(campaign: &Campaign, area: &HashSet<String>) -> bool {
    campaign
        .communes
        .iter()
        .chain(&campaign.target_units)
        .any(|c| area.contains(c))
}

fn require_planner(session: &UiSession) -> Result<(), UiError> {
    if may(session.role(), Method::GET, "/v1/campaigns") {
        Ok(())
    } else {
        Err(UiError::Forbidden("Vai trò của bạn không quản lý chiến dịch.".into()))
    }
}

/// `GET /ui/chien-dich`.
pub async fn list(State(state): State<AppState>, session: UiSession) -> Result<Response, UiError> {
    require_planner(&session)?;
    let store = state.store.as_ref();
    let area = session.caller.area(store).await?;
    let mut rows = Vec::new();
    let mut page = PageRequest::first(500);
    loop {
        let got = store.list_campaigns(None, &page).await?;
        rows.extend(got.items.iter().filter(|c| reaches(c, &area)).map(|c| CampaignRow {
            id: c.id.clone(),
            name: c.name.clone(),
            status: status_label(c.status),
            period: period_label(&c.period),
            communes: c.communes.len(),
        }));
        match got.next_cursor {
            Some(c) if rows.len() < 1000 => page.cursor = Some(c),
            _ => break,
        }
    }
    rows.reverse();
    html(CampaignsPage {
        nav: Nav::new(&session, "/ui/chien-dich"),
        rows,
        can_create: may(session.role(), Method::POST, "/v1/campaigns"),
    })
}

/// The new-campaign form as typed.
pub struct CampaignForm {
    pub name: String,
    pub target: String,
    pub start: String,
    pub end: String,
    pub weekday: String,
    pub time: String,
    pub minutes: String,
    pub venue: String,
    pub capacity: String,
    pub min_staff: String,
    pub offset_hours: String,
    pub sms: bool,
    pub email: bool,
    /// «Zalo ZNS rồi SMS»: one delivery by ZNS, carried by SMS when ZNS cannot.
    pub zns: bool,
    /// The approved ZNS template's id.
    pub zns_template_id: String,
    /// The template's parameters, one `parameter=field` a line.
    pub zns_params: String,
    pub sms_template: String,
    pub unicode: bool,
}

/// The ZNS parameters a new form offers: those of the README's example template.
const DEFAULT_ZNS_PARAMS: &str = "ten_khach_hang=name\nngay=date\ngio=time\ndia_diem=venue";

impl CampaignForm {
    fn defaults(today: NaiveDate) -> Self {
        Self {
            name: String::new(),
            target: String::new(),
            start: (today + Duration::days(7)).format("%Y-%m-%d").to_string(),
            end: (today + Duration::days(97)).format("%Y-%m-%d").to_string(),
            weekday: "6".into(),
            time: "08:00".into(),
            minutes: "180".into(),
            venue: "Nhà văn hóa".into(),
            capacity: "50".into(),
            min_staff: "2".into(),
            offset_hours: "24".into(),
            sms: true,
            email: true,
            zns: false,
            zns_template_id: String::new(),
            zns_params: DEFAULT_ZNS_PARAMS.into(),
            sms_template: DEFAULT_SMS_CITIZEN.into(),
            unicode: false,
        }
    }

    fn from_form(form: &FormData) -> Self {
        let get = |k: &str| form.get(k).unwrap_or_default().trim().to_string();
        Self {
            name: get("name"),
            target: get("target"),
            start: get("start"),
            end: get("end"),
            weekday: get("weekday"),
            time: get("time"),
            minutes: get("minutes"),
            venue: get("venue"),
            capacity: get("capacity"),
            min_staff: get("min_staff"),
            offset_hours: get("offset_hours"),
            sms: form.get("sms").is_some(),
            email: form.get("email").is_some(),
            zns: form.get("zns").is_some(),
            zns_template_id: get("zns_template_id"),
            zns_params: get("zns_params").replace("\r\n", "\n"),
            sms_template: form.get("sms_template").unwrap_or_default().replace("\r\n", "\n"),
            unicode: form.get("unicode").is_some(),
        }
    }

    /// The campaign input, or the field at fault and why (in Vietnamese).
    fn input(&self) -> Result<CampaignInput, (String, String)> {
        let bad = |field: &str, m: &str| (field.to_string(), m.to_string());
        let date = |s: &str, field: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad(field, "Hãy chọn một ngày hợp lệ."))
        };
        let number = |s: &str, field: &str| {
            s.parse::<u32>()
                .map_err(|_| bad(field, "Hãy nhập một số nguyên dương."))
        };
        let (h, m) = self
            .time
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
            .filter(|(h, m)| *h < 24 && *m < 60)
            .ok_or_else(|| bad("time", "Giờ bắt đầu có dạng HH:mm, ví dụ 08:00."))?;
        let weekday = self
            .weekday
            .parse::<u8>()
            .ok()
            .filter(|d| *d <= 6)
            .ok_or_else(|| bad("weekday", "Hãy chọn ngày trong tuần."))?;
        if !self.sms && !self.email && !self.zns {
            return Err(bad("channels", "Hãy chọn ít nhất một kênh nhắc lịch."));
        }
        let mut channels = Vec::new();
        if self.zns {
            // ZNS first, SMS when ZNS cannot carry it: one delivery, never both.
            channels.push(Channel::Zns);
        }
        if self.sms || self.zns {
            channels.push(Channel::Sms);
        }
        if self.email {
            channels.push(Channel::Email);
        }
        Ok(CampaignInput {
            name: self.name.clone(),
            description: None,
            period: Period {
                start: date(&self.start, "start")?,
                end: date(&self.end, "end")?,
            },
            target_units: if self.target.is_empty() {
                Vec::new()
            } else {
                vec![self.target.clone()]
            },
            schedule: ScheduleSpec {
                cron: format!("{m} {h} * * {weekday}"),
                time_zone: DEFAULT_TIME_ZONE,
            },
            session_minutes: number(&self.minutes, "minutes")?,
            venues: BTreeMap::new(),
            default_venue: (!self.venue.is_empty()).then(|| self.venue.clone()),
            capacity: number(&self.capacity, "capacity")?,
            min_staff: number(&self.min_staff, "min_staff")?,
            reminder_rules: vec![ReminderRuleInput {
                id: Some("nhac-truoc".into()),
                offset_minutes: number(&self.offset_hours, "offset_hours")?.saturating_mul(60),
                audience: Audience::Citizens,
                channels,
                sms_template: self.sends_sms().then(|| self.sms_template.clone()),
                email_subject: self.email.then(|| DEFAULT_EMAIL_SUBJECT.to_string()),
                email_template: self.email.then(|| DEFAULT_EMAIL_BODY.to_string()),
                zns_template_id: self.zns.then(|| self.zns_template_id.clone()),
                zns_params: if self.zns {
                    zns_params(&self.zns_params)?
                } else {
                    BTreeMap::new()
                },
            }],
            sms_unicode: self.unicode,
            max_sms_segments: 2,
        })
    }
}

impl CampaignForm {
    /// Whether the reminder may go by SMS: chosen, or as ZNS's fallback.
    fn sends_sms(&self) -> bool {
        self.sms || self.zns
    }
}

/// The ZNS template's parameters as typed, one `parameter=field` a line (`:` also
/// separates); the fields themselves are checked when the campaign is saved.
fn zns_params(text: &str) -> Result<BTreeMap<String, String>, (String, String)> {
    let mut params = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, field) = line
            .split_once('=')
            .or_else(|| line.split_once(':'))
            .map(|(n, f)| (n.trim(), f.trim()))
            .filter(|(n, f)| !n.is_empty() && !f.is_empty())
            .ok_or_else(|| {
                (
                    "zns_params".to_string(),
                    format!("Dòng «{line}»: mỗi dòng có dạng tham_số=trường, ví dụ ngay=date."),
                )
            })?;
        params.insert(name.to_string(), field.to_string());
    }
    Ok(params)
}

/// The next sessions of one commune in the preview.
pub struct PreviewCommune {
    pub name: String,
    pub dates: String,
}

/// What one commune's SMS costs.
pub struct SegmentLine {
    pub communes: String,
    pub characters: usize,
    pub segments: usize,
}

/// A unit the target picker offers.
pub struct TargetOption {
    pub code: String,
    pub label: String,
}

/// An option of a select.
pub struct SelectOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

fn weekday_options(chosen: &str) -> Vec<SelectOption> {
    [
        ("1", "Thứ Hai"),
        ("2", "Thứ Ba"),
        ("3", "Thứ Tư"),
        ("4", "Thứ Năm"),
        ("5", "Thứ Sáu"),
        ("6", "Thứ Bảy"),
        ("0", "Chủ Nhật"),
    ]
    .into_iter()
    .map(|(value, label)| SelectOption {
        value,
        label,
        selected: value == chosen,
    })
    .collect()
}

#[derive(Template)]
#[template(path = "ui/campaign_new.html")]
struct NewCampaignPage {
    nav: Nav,
    weekdays: Vec<SelectOption>,
    form: CampaignForm,
    targets: Vec<TargetOption>,
    field: String,
    error: Option<String>,
    preview: Vec<PreviewCommune>,
    sessions_total: usize,
    segments: Vec<SegmentLine>,
    unicode_warning: bool,
    longest_commune: String,
}

impl NewCampaignPage {
    /// The form as typed (or its defaults), before any preview.
    fn new(session: &UiSession, form: CampaignForm, targets: Vec<TargetOption>) -> Self {
        Self {
            nav: Nav::new(session, "/ui/chien-dich"),
            weekdays: weekday_options(&form.weekday),
            form,
            targets,
            field: String::new(),
            error: None,
            preview: Vec::new(),
            sessions_total: 0,
            segments: Vec::new(),
            unicode_warning: false,
            longest_commune: String::new(),
        }
    }
}

/// The units a campaign may target: the caller's own and every current unit under it.
async fn target_options(
    store: &dyn Store,
    session: &UiSession,
    today: NaiveDate,
) -> Result<Vec<TargetOption>, UiError> {
    let units = usecases::unit_tree(store, &session.claims().org, today).await?;
    Ok(units
        .into_iter()
        .map(|u| TargetOption {
            label: format!(
                "{}{} ({})",
                match u.level {
                    Level::Province => "",
                    Level::District => "— ",
                    Level::Commune => "—— ",
                },
                u.name,
                u.code
            ),
            code: u.code,
        })
        .collect())
}

/// `GET /ui/chien-dich/moi`.
pub async fn new_form(State(state): State<AppState>, session: UiSession) -> Result<Response, UiError> {
    require_create(&session)?;
    let today = state.clock.now().with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let targets = target_options(state.store.as_ref(), &session, today).await?;
    html(NewCampaignPage::new(&session, CampaignForm::defaults(today), targets))
}

fn require_create(session: &UiSession) -> Result<(), UiError> {
    if may(session.role(), Method::POST, "/v1/campaigns") {
        Ok(())
    } else {
        Err(UiError::Forbidden("Vai trò của bạn không tạo chiến dịch.".into()))
    }
}

/// `POST /ui/chien-dich/moi`: `intent=preview` shows the schedule and the SMS cost;
/// `intent=create` saves the campaign as a draft.
pub async fn create(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    form: FormData,
) -> Result<Response, UiError> {
    let api = (Method::POST, "/v1/campaigns");
    require_form(
        &headers,
        &session,
        form.get("csrf"),
        api,
        "Vai trò của bạn không tạo chiến dịch.",
    )?;
    let store = state.store.as_ref();
    let now = state.clock.now();
    let today = now.with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let typed = CampaignForm::from_form(&form);
    let targets = target_options(store, &session, today).await?;
    let mut page = NewCampaignPage::new(&session, typed, targets);
    let refuse = |mut page: NewCampaignPage, field: String, message: String| {
        page.field = field;
        page.error = Some(message);
        let mut r = html(page)?;
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        Ok::<_, UiError>(r)
    };
    if page.form.target.is_empty() {
        return refuse(page, "target".into(), "Hãy chọn địa bàn của chiến dịch.".into());
    }
    if !session.caller.covers(store, &page.form.target).await? {
        return refuse(page, "target".into(), "Địa bàn này nằm ngoài phạm vi của bạn.".into());
    }
    let input = match page.form.input() {
        Ok(input) => input,
        Err((field, message)) => return refuse(page, field, message),
    };
    // The preview: sessions per commune over the period, and the SMS each commune gets.
    let communes =
        match usecases::expand_to_communes(store, &input.target_units, input.period.start, "target_units").await {
            Ok(c) => c,
            Err(CoreError::Validation { field, message }) => {
                let said = text::field_message(&field, &message);
                return refuse(page, "target".into(), said);
            }
            Err(e) => return Err(e.into()),
        };
    let schedule = CronSchedule::parse(&input.schedule.cron, DEFAULT_TIME_ZONE)?;
    let (from, until) = (
        outreach_core::quarter::local_midnight(input.period.start, DEFAULT_TIME_ZONE),
        outreach_core::quarter::local_midnight(input.period.end + Duration::days(1), DEFAULT_TIME_ZONE),
    );
    let starts: Vec<_> = schedule
        .next_sessions(from - Duration::seconds(1), 400)
        .into_iter()
        .filter(|t| *t < until)
        .collect();
    let mut names = Vec::new();
    for code in &communes {
        let name = version_on(&store.org_unit_versions(code).await?, Some(input.period.start))
            .map_or_else(|| code.clone(), |u| u.name.clone());
        names.push(name);
    }
    page.sessions_total = starts.len() * communes.len();
    let dates = starts
        .iter()
        .take(5)
        .map(|t| format!("{} {}", format::date(*t), format::time(*t)))
        .collect::<Vec<_>>()
        .join(", ");
    page.preview = names
        .iter()
        .take(12)
        .map(|n| PreviewCommune {
            name: n.clone(),
            dates: if starts.len() > 5 {
                format!("{dates}, …")
            } else {
                dates.clone()
            },
        })
        .collect();
    if page.form.sends_sms() {
        let mut by_cost: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
        for name in &names {
            let sample = starts.first().copied().unwrap_or(from);
            let value = |key: &str| match key {
                "name" => "W".repeat(SMS_NAME_CHARS),
                "campaign" => input.name.clone(),
                "commune" => name.clone(),
                "venue" => input.default_venue.clone().unwrap_or_default(),
                "date" => format::date(sample),
                "time" => format::time(sample),
                _ => String::new(),
            };
            let text = prepare_sms_text(&render(&page.form.sms_template, value), input.sms_unicode);
            let cost = count_segments(&text);
            page.unicode_warning |= cost.encoding == SmsEncoding::Ucs2;
            by_cost
                .entry((cost.segments, cost.units))
                .or_default()
                .push(name.clone());
        }
        page.segments = by_cost
            .into_iter()
            .rev()
            .map(|((segments, characters), communes)| SegmentLine {
                communes: if communes.len() > 4 {
                    format!("{} và {} xã khác", communes[..3].join(", "), communes.len() - 3)
                } else {
                    communes.join(", ")
                },
                characters,
                segments,
            })
            .collect();
        page.longest_commune = names
            .iter()
            .max_by_key(|n| n.chars().count())
            .cloned()
            .unwrap_or_default();
    }
    if form.get("intent") != Some("create") {
        return html(page);
    }
    match usecases::create_campaign(store, input, now).await {
        Ok(campaign) => {
            let change = audit::change("campaign", &campaign.id, None, Some(&campaign)).0;
            audit_change(
                &state,
                &session,
                "/ui/chien-dich/moi",
                "/ui/chien-dich/moi",
                Some(&change),
            )
            .await;
            Ok(Redirect::to(&format!("/ui/chien-dich/{}?ok=tao", campaign.id)).into_response())
        }
        Err(CoreError::Validation { field, message }) => {
            let said = text::field_message(&field, &message);
            let field = if field.contains("sms_template") {
                "sms_template".to_string()
            } else if field.contains("zns_params") {
                "zns_params".to_string()
            } else {
                field.rsplit('.').next().unwrap_or(&field).to_string()
            };
            refuse(page, field, said)
        }
        Err(e) => refuse(page, String::new(), text::error_message(&ApiError::Core(e))),
    }
}

/// A lifecycle button.
pub struct ActionButton {
    pub action: &'static str,
    pub label: &'static str,
    pub danger: bool,
}

#[derive(Template)]
#[template(path = "ui/campaign.html")]
struct CampaignPage {
    nav: Nav,
    id: String,
    name: String,
    status: &'static str,
    period: String,
    schedule: String,
    communes: Vec<String>,
    rules: Vec<String>,
    actions: Vec<ActionButton>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    ok: String,
}

/// `GET /ui/chien-dich/{id}`.
pub async fn page(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    require_planner(&session)?;
    let store = state.store.as_ref();
    let campaign = store.get_campaign(&id).await?.ok_or(UiError::NotFound)?;
    let area = session.caller.area(store).await?;
    if !reaches(&campaign, &area) {
        return Err(UiError::NotFound);
    }
    let may_act = may(session.role(), Method::POST, "/v1/campaigns/{id}:{action}")
        && campaign.target_units.iter().all(|u| area.contains(u));
    let actions = if may_act {
        match campaign.status {
            CampaignStatus::Draft => vec![
                ActionButton {
                    action: "activate",
                    label: "Kích hoạt",
                    danger: false,
                },
                ActionButton {
                    action: "cancel",
                    label: "Hủy chiến dịch",
                    danger: true,
                },
            ],
            CampaignStatus::Active => vec![
                ActionButton {
                    action: "pause",
                    label: "Tạm dừng",
                    danger: false,
                },
                ActionButton {
                    action: "complete",
                    label: "Kết thúc",
                    danger: false,
                },
                ActionButton {
                    action: "cancel",
                    label: "Hủy chiến dịch",
                    danger: true,
                },
            ],
            CampaignStatus::Paused => vec![
                ActionButton {
                    action: "activate",
                    label: "Chạy tiếp",
                    danger: false,
                },
                ActionButton {
                    action: "complete",
                    label: "Kết thúc",
                    danger: false,
                },
                ActionButton {
                    action: "cancel",
                    label: "Hủy chiến dịch",
                    danger: true,
                },
            ],
            CampaignStatus::Cancelled | CampaignStatus::Completed => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let mut communes = Vec::new();
    for code in &campaign.communes {
        let versions = store.org_unit_versions(code).await?;
        communes
            .push(version_on(&versions, Some(campaign.period.start)).map_or_else(|| code.clone(), |u| u.name.clone()));
    }
    let rules = campaign
        .reminder_rules
        .iter()
        .map(|r| {
            let channels: Vec<&str> = r
                .channels
                .iter()
                .map(|c| match c {
                    Channel::Sms => "SMS",
                    Channel::Email => "email",
                    Channel::Zns => "Zalo ZNS",
                })
                .collect();
            format!(
                "Nhắc {} giờ trước buổi, qua {}, cho {}",
                r.offset_minutes / 60,
                channels.join(" và "),
                match r.audience {
                    Audience::Citizens => "người dân",
                    Audience::Volunteers => "tình nguyện viên phụ trách",
                    Audience::All => "người dân và tình nguyện viên",
                }
            )
        })
        .collect();
    html(CampaignPage {
        nav: Nav::new(&session, "/ui/chien-dich"),
        name: campaign.name.clone(),
        status: status_label(campaign.status),
        period: period_label(&campaign.period),
        schedule: describe_schedule(&campaign.schedule.cron),
        communes,
        rules,
        actions,
        notice: match q.ok.as_str() {
            "tao" => Some("Đã tạo chiến dịch (bản nháp). Kích hoạt để bắt đầu lên lịch và nhắc.".into()),
            "activate" => Some("Đã kích hoạt: các buổi sẽ được lên lịch và nhắc tự động.".into()),
            "pause" => Some("Đã tạm dừng chiến dịch.".into()),
            "cancel" => Some("Đã hủy chiến dịch và các buổi chưa diễn ra.".into()),
            "complete" => Some("Đã kết thúc chiến dịch.".into()),
            _ => None,
        },
        id,
    })
}

/// A weekly cron (`M H * * D`) in words; anything else as written.
fn describe_schedule(cron: &str) -> String {
    let parts: Vec<&str> = cron.split_whitespace().collect();
    if let [m, h, "*", "*", d] = parts.as_slice()
        && let (Ok(m), Ok(h), Ok(d)) = (m.parse::<u32>(), h.parse::<u32>(), d.parse::<u32>())
    {
        let day = [
            "Chủ Nhật",
            "Thứ Hai",
            "Thứ Ba",
            "Thứ Tư",
            "Thứ Năm",
            "Thứ Sáu",
            "Thứ Bảy",
            "Chủ Nhật",
        ]
        .get(d as usize)
        .copied()
        .unwrap_or("?");
        return format!("{day} hằng tuần, {h:02}:{m:02}");
    }
    format!("Lịch lặp: {cron}")
}

/// `POST /ui/chien-dich/{id}/trang-thai` (`action`).
pub async fn act(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormData,
) -> Result<Response, UiError> {
    let api = (Method::POST, "/v1/campaigns/{id}:{action}");
    require_form(
        &headers,
        &session,
        form.get("csrf"),
        api,
        "Vai trò của bạn không thay đổi chiến dịch.",
    )?;
    let action_name = form.get("action").unwrap_or_default();
    let action = CampaignAction::parse(action_name).ok_or(UiError::Api(ApiError::bad("action", "unknown action")))?;
    let store = state.store.as_ref();
    let before = store.get_campaign(&id).await?.ok_or(UiError::NotFound)?;
    let area = session.caller.area(store).await?;
    if !reaches(&before, &area) {
        return Err(UiError::NotFound);
    }
    if !before.target_units.iter().all(|u| area.contains(u)) {
        return Err(UiError::Forbidden(
            "Chiến dịch này có địa bàn ngoài phạm vi của bạn.".into(),
        ));
    }
    let after = usecases::act_on_campaign(store, &id, action, state.clock.now())
        .await
        .map_err(ApiError::from)?;
    let change = audit::change("campaign", &id, Some(&before), Some(&after)).0;
    let target = format!("/ui/chien-dich/{id}/trang-thai");
    audit_change(
        &state,
        &session,
        "/ui/chien-dich/{id}/trang-thai",
        &target,
        Some(&change),
    )
    .await;
    Ok(Redirect::to(&format!("/ui/chien-dich/{id}?ok={action_name}")).into_response())
}
