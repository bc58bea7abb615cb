//! *Chiến dịch*: the campaigns reaching the caller's area; one form, for a new campaign and
//! for an edit, with the schedule preview (the next sessions per commune), its reminder
//! rules (added and removed by plain form posts) and each rule's SMS cost per commune
//! (segments, and a warning when accents make the text Unicode); the lifecycle buttons a
//! campaign's status allows.

use std::collections::{BTreeMap, HashSet};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, NaiveDate};
use outreach_core::CoreError;
use outreach_core::campaign::{
    Audience, Campaign, CampaignAction, CampaignInput, CampaignPatch, CampaignStatus, ReminderRule, ReminderRuleInput,
    SMS_NAME_CHARS, ScheduleSpec,
};
use outreach_core::contact::Channel;
use outreach_core::ids::CampaignId;
use outreach_core::org::{Level, version_on};
use outreach_core::ports::{PageRequest, Store};
use outreach_core::schedule::{CronSchedule, DEFAULT_TIME_ZONE, Period};
use outreach_core::sms::{SmsEncoding, count_segments, prepare_sms_text};
use outreach_core::template::{
    DEFAULT_EMAIL_BODY, DEFAULT_EMAIL_SUBJECT, DEFAULT_SMS_CITIZEN, DEFAULT_SMS_VOLUNTEER, render,
};
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
        .any(|c| area.contains(c.as_str()))
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
            id: c.id.to_string(),
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

/// One reminder rule of the form as typed; `id` is empty for a rule not saved yet.
pub struct RuleForm {
    pub id: String,
    pub audience: String,
    pub offset_hours: String,
    pub sms: bool,
    pub email: bool,
    /// «Zalo ZNS rồi SMS»: one delivery by ZNS, carried by SMS when ZNS cannot.
    pub zns: bool,
    /// The approved ZNS template's id.
    pub zns_template_id: String,
    /// The template's parameters, one `parameter=field` a line.
    pub zns_params: String,
    /// Ask whether the person will come (a reply `1` or `2` to the SMS).
    pub asks_answer: bool,
    pub sms_template: String,
    /// The rule's field at fault (`offset_hours`, `channels`, `sms_template`…) and why.
    pub field: String,
    pub error: Option<String>,
    /// What its SMS costs per commune, once previewed.
    pub segments: Vec<SegmentLine>,
    /// Its text has accents that make it Unicode.
    pub unicode_warning: bool,
}

impl RuleForm {
    fn new(audience: Audience) -> Self {
        Self {
            id: String::new(),
            audience: audience_value(audience).into(),
            offset_hours: "24".into(),
            sms: true,
            email: audience != Audience::Volunteers,
            zns: false,
            zns_template_id: String::new(),
            zns_params: DEFAULT_ZNS_PARAMS.into(),
            asks_answer: false,
            sms_template: match audience {
                Audience::Volunteers => DEFAULT_SMS_VOLUNTEER,
                _ => DEFAULT_SMS_CITIZEN,
            }
            .into(),
            field: String::new(),
            error: None,
            segments: Vec::new(),
            unicode_warning: false,
        }
    }

    fn from_rule(rule: &ReminderRule) -> Self {
        Self {
            id: rule.id.clone(),
            audience: audience_value(rule.audience).into(),
            offset_hours: (rule.offset_minutes / 60).to_string(),
            sms: rule.channels.contains(&Channel::Sms),
            email: rule.channels.contains(&Channel::Email),
            zns: rule.channels.contains(&Channel::Zns),
            zns_template_id: rule.zns_template_id.clone().unwrap_or_default(),
            zns_params: if rule.zns_params.is_empty() {
                DEFAULT_ZNS_PARAMS.into()
            } else {
                rule.zns_params
                    .iter()
                    .map(|(param, field)| format!("{param}={field}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            },
            asks_answer: rule.asks_answer,
            sms_template: rule.sms_template.clone().unwrap_or_default(),
            ..Self::new(rule.audience)
        }
    }

    /// Whether the rule sends SMS: by itself, or when ZNS cannot.
    pub fn sends_sms(&self) -> bool {
        self.sms || self.zns
    }

    fn audience(&self) -> Audience {
        match self.audience.as_str() {
            "volunteers" => Audience::Volunteers,
            "all" => Audience::All,
            _ => Audience::Citizens,
        }
    }

    /// The audiences a rule may reach, this one's selected.
    pub fn audiences(&self) -> Vec<SelectOption> {
        [
            ("citizens", "Người dân trong xã"),
            ("volunteers", "Tình nguyện viên phụ trách buổi"),
            ("all", "Cả người dân và tình nguyện viên"),
        ]
        .into_iter()
        .map(|(value, label)| SelectOption {
            value,
            label,
            selected: value == self.audience,
        })
        .collect()
    }
}

fn audience_value(a: Audience) -> &'static str {
    match a {
        Audience::Citizens => "citizens",
        Audience::Volunteers => "volunteers",
        Audience::All => "all",
    }
}

/// Most rules the form offers (the campaign's limit).
const MAX_RULES: usize = 10;

/// A campaign's form as typed: the new campaign's and the edit's.
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
    pub rules: Vec<RuleForm>,
    pub unicode: bool,
    /// The campaign's version the edit was read at (empty for a new campaign).
    pub version: String,
}

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
            rules: vec![RuleForm::new(Audience::Citizens)],
            unicode: false,
            version: String::new(),
        }
    }

    /// The form of a stored campaign. A schedule that is not weekly (`M H * * D`) shows
    /// its first fields as it can; a running campaign's cannot change anyway.
    fn from_campaign(c: &Campaign) -> Self {
        let parts: Vec<&str> = c.schedule.cron.split_whitespace().collect();
        let (weekday, time) = match parts.as_slice() {
            [m, h, "*", "*", d] => (d.to_string(), format!("{:0>2}:{:0>2}", h, m)),
            _ => ("6".into(), "08:00".into()),
        };
        Self {
            name: c.name.clone(),
            target: c.target_units.first().map(String::from).unwrap_or_default(),
            start: c.period.start.format("%Y-%m-%d").to_string(),
            end: c.period.end.format("%Y-%m-%d").to_string(),
            weekday,
            time,
            minutes: c.session_minutes.to_string(),
            venue: c.default_venue.clone().unwrap_or_default(),
            capacity: c.capacity.to_string(),
            min_staff: c.min_staff.to_string(),
            rules: c.reminder_rules.iter().map(RuleForm::from_rule).collect(),
            unicode: c.sms_unicode,
            version: c.version.to_string(),
        }
    }

    fn from_form(form: &FormData) -> Self {
        let get = |k: &str| form.get(k).unwrap_or_default().trim().to_string();
        let count = get("rules").parse::<usize>().unwrap_or(0).min(MAX_RULES);
        let rules = (0..count)
            .map(|i| RuleForm {
                id: get(&format!("rule_id_{i}")),
                audience: get(&format!("audience_{i}")),
                offset_hours: get(&format!("offset_hours_{i}")),
                sms: form.get(&format!("sms_{i}")).is_some(),
                email: form.get(&format!("email_{i}")).is_some(),
                zns: form.get(&format!("zns_{i}")).is_some(),
                zns_template_id: get(&format!("zns_template_id_{i}")),
                zns_params: get(&format!("zns_params_{i}")).replace("\r\n", "\n"),
                asks_answer: form.get(&format!("answer_{i}")).is_some(),
                sms_template: form
                    .get(&format!("sms_template_{i}"))
                    .unwrap_or_default()
                    .replace("\r\n", "\n"),
                ..RuleForm::new(Audience::Citizens)
            })
            .collect();
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
            rules,
            unicode: form.get("unicode").is_some(),
            version: get("version"),
        }
    }

    /// The campaign input, or the field at fault and why (in Vietnamese). A rule of
    /// `saved` keeps what the form does not show (its email texts, its ZNS template).
    fn input(&self, saved: Option<&Campaign>) -> Result<CampaignInput, (String, String)> {
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
            .filter(|d| *d <= 7)
            .ok_or_else(|| bad("weekday", "Hãy chọn ngày trong tuần."))?;
        let mut reminder_rules = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = |f: &str| format!("reminder_rules[{i}].{f}");
            if !rule.sms && !rule.email && !rule.zns {
                return Err(bad(&at("channels"), "Hãy chọn ít nhất một kênh nhắc lịch."));
            }
            let base = saved
                .and_then(|c| c.reminder_rules.iter().find(|r| r.id == rule.id))
                .map(ReminderRuleInput::from);
            let mut channels = Vec::new();
            if rule.zns {
                // ZNS first, SMS when ZNS cannot carry it: one delivery, never both.
                channels.push(Channel::Zns);
            }
            if rule.sends_sms() {
                channels.push(Channel::Sms);
            }
            if rule.email {
                channels.push(Channel::Email);
            }
            let offset = rule
                .offset_hours
                .parse::<u32>()
                .map_err(|_| bad(&at("offset_hours"), "Hãy nhập một số nguyên dương."))?;
            let base = base.unwrap_or(ReminderRuleInput {
                id: None,
                offset_minutes: 0,
                audience: Audience::Citizens,
                channels: Vec::new(),
                sms_template: None,
                email_subject: None,
                email_template: None,
                zns_template_id: None,
                zns_params: BTreeMap::new(),
                asks_answer: false,
            });
            reminder_rules.push(ReminderRuleInput {
                id: (!rule.id.is_empty()).then(|| rule.id.clone()),
                offset_minutes: offset.saturating_mul(60),
                audience: rule.audience(),
                channels,
                sms_template: rule.sends_sms().then(|| rule.sms_template.clone()),
                email_subject: rule.email.then(|| {
                    base.email_subject
                        .clone()
                        .unwrap_or_else(|| DEFAULT_EMAIL_SUBJECT.into())
                }),
                email_template: rule
                    .email
                    .then(|| base.email_template.clone().unwrap_or_else(|| DEFAULT_EMAIL_BODY.into())),
                asks_answer: rule.asks_answer,
                zns_template_id: rule.zns.then(|| rule.zns_template_id.clone()),
                zns_params: if rule.zns {
                    zns_params(&rule.zns_params).map_err(|m| bad(&at("zns_params"), &m))?
                } else {
                    BTreeMap::new()
                },
            });
        }
        Ok(CampaignInput {
            name: self.name.clone(),
            description: saved.and_then(|c| c.description.clone()),
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
            venues: saved.map(|c| c.venues.clone()).unwrap_or_default(),
            default_venue: (!self.venue.is_empty()).then(|| self.venue.clone()),
            capacity: number(&self.capacity, "capacity")?,
            min_staff: number(&self.min_staff, "min_staff")?,
            reminder_rules,
            sms_unicode: self.unicode,
            max_sms_segments: saved.map_or(2, |c| c.max_sms_segments),
        })
    }
}

/// The ZNS parameters a new rule offers: those of the README's example template.
const DEFAULT_ZNS_PARAMS: &str = "ten_khach_hang=name\nngay=date\ngio=time\ndia_diem=venue";

/// `parameter=field` lines as the rule's map, or why a line is not one (in Vietnamese).
fn zns_params(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, field) = line
            .split_once('=')
            .or_else(|| line.split_once(':'))
            .map(|(n, f)| (n.trim(), f.trim()))
            .filter(|(n, f)| !n.is_empty() && !f.is_empty())
            .ok_or_else(|| format!("Dòng «{line}»: mỗi dòng có dạng tham_số=trường, ví dụ ngay=date."))?;
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
        selected: value == chosen || (chosen == "7" && value == "0"),
    })
    .collect()
}

/// A field of a running campaign that cannot change, as the edit shows it.
pub struct FixedField {
    pub label: &'static str,
    pub value: String,
}

/// The campaign form's page: a new campaign (`campaign` is `None`) or an edit.
#[derive(Template)]
#[template(path = "ui/campaign_form.html")]
struct CampaignFormPage {
    nav: Nav,
    /// `Some((id, name))` when editing.
    campaign: Option<(String, String)>,
    /// The campaign runs: its schedule, start and units are shown, not offered.
    fixed: Vec<FixedField>,
    weekdays: Vec<SelectOption>,
    form: CampaignForm,
    targets: Vec<TargetOption>,
    field: String,
    error: Option<String>,
    preview: Vec<PreviewCommune>,
    sessions_total: usize,
    longest_commune: String,
    max_rules: usize,
    /// What a rule that asks whether people will come adds to its SMS (the live counter adds it).
    answer_prompt: &'static str,
}

impl CampaignFormPage {
    /// The form as typed (or its defaults), before any preview.
    fn new(session: &UiSession, form: CampaignForm, targets: Vec<TargetOption>, editing: Option<&Campaign>) -> Self {
        let fixed = match editing {
            Some(c) if c.status != CampaignStatus::Draft => {
                let target = targets
                    .iter()
                    .filter(|t| c.target_units.iter().any(|u| *u == t.code))
                    .map(|t| t.label.trim_start_matches(['—', ' ']).to_string())
                    .collect::<Vec<_>>();
                vec![
                    FixedField {
                        label: "Địa bàn",
                        value: if target.is_empty() {
                            c.target_units.join(", ")
                        } else {
                            target.join(", ")
                        },
                    },
                    FixedField {
                        label: "Từ ngày",
                        value: c.period.start.format("%d/%m/%Y").to_string(),
                    },
                    FixedField {
                        label: "Lịch buổi",
                        value: format!(
                            "{}, {} phút ({})",
                            describe_schedule(&c.schedule.cron),
                            c.session_minutes,
                            c.schedule.time_zone
                        ),
                    },
                ]
            }
            _ => Vec::new(),
        };
        Self {
            nav: Nav::new(session, "/ui/chien-dich"),
            campaign: editing.map(|c| (c.id.to_string(), c.name.clone())),
            fixed,
            weekdays: weekday_options(&form.weekday),
            form,
            targets,
            field: String::new(),
            error: None,
            preview: Vec::new(),
            sessions_total: 0,
            longest_commune: String::new(),
            max_rules: MAX_RULES,
            answer_prompt: outreach_core::answer::SMS_ANSWER_PROMPT,
        }
    }

    /// Say what is wrong beside the field (or rule) it names, answered 422.
    fn refuse(mut self, field: &str, message: String) -> Result<Response, UiError> {
        if let Some((i, rest)) = field
            .strip_prefix("reminder_rules[")
            .and_then(|r| r.split_once("]."))
            .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)))
            && let Some(rule) = self.form.rules.get_mut(i)
        {
            rule.field = rest.split('.').next().unwrap_or(rest).to_string();
            rule.error = Some(message.clone());
            self.field = "rules".into();
        } else {
            self.field = match field {
                "period.start" => "start",
                "period.end" | "period" => "end",
                "schedule.cron" | "schedule.time_zone" | "schedule" => "time",
                "target_units" => "target",
                "session_minutes" => "minutes",
                "default_venue" | "venues" => "venue",
                f if f.starts_with("venues.") => "venue",
                "reminder_rules" => "rules",
                f => f,
            }
            .to_string();
        }
        self.error = Some(message);
        let mut r = html(self)?;
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        Ok(r)
    }

    /// Fill the preview: sessions per commune over the period, and each rule's SMS per
    /// commune. Refuses a target outside the caller's area or one that names no commune.
    async fn preview(
        mut self,
        store: &dyn Store,
        session: &UiSession,
        input: &CampaignInput,
    ) -> Result<Self, Response> {
        let target = input.target_units.first().cloned().unwrap_or_default();
        if target.is_empty() {
            return Err(self
                .refuse("target", "Hãy chọn địa bàn của chiến dịch.".into())
                .into_response_or_error());
        }
        match session.caller.covers(store, &target).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(self
                    .refuse("target", "Địa bàn này nằm ngoài phạm vi của bạn.".into())
                    .into_response_or_error());
            }
            Err(e) => return Err(UiError::from(e).into_response()),
        }
        let communes =
            match usecases::expand_to_communes(store, &input.target_units, input.period.start, "target_units").await {
                Ok(c) => c,
                Err(CoreError::Validation { field, message }) => {
                    let said = text::field_message(&field, &message);
                    return Err(self.refuse("target", said).into_response_or_error());
                }
                Err(e) => return Err(UiError::from(ApiError::from(e)).into_response()),
            };
        let schedule = match CronSchedule::parse(&input.schedule.cron, DEFAULT_TIME_ZONE) {
            Ok(s) => s,
            Err(e) => return Err(UiError::from(ApiError::from(e)).into_response()),
        };
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
            let versions = match store.org_unit_versions(code.as_str()).await {
                Ok(v) => v,
                Err(e) => return Err(UiError::from(ApiError::from(e)).into_response()),
            };
            names.push(
                version_on(&versions, Some(input.period.start)).map_or_else(|| String::from(code), |u| u.name.clone()),
            );
        }
        self.sessions_total = starts.len() * communes.len();
        let dates = starts
            .iter()
            .take(5)
            .map(|t| format!("{} {}", format::date(*t), format::time(*t)))
            .collect::<Vec<_>>()
            .join(", ");
        self.preview = names
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
        let sample = starts.first().copied().unwrap_or(from);
        for rule in self.form.rules.iter_mut().filter(|r| r.sends_sms()) {
            let template = outreach_core::answer::sms_template_with_prompt(&rule.sms_template, rule.asks_answer);
            (rule.segments, rule.unicode_warning) = sms_cost(&template, &names, input, sample);
        }
        self.longest_commune = names
            .iter()
            .max_by_key(|n| n.chars().count())
            .cloned()
            .unwrap_or_default();
        Ok(self)
    }
}

trait IntoResponseOrError {
    fn into_response_or_error(self) -> Response;
}

impl IntoResponseOrError for Result<Response, UiError> {
    fn into_response_or_error(self) -> Response {
        self.unwrap_or_else(IntoResponse::into_response)
    }
}

/// What one rule's SMS costs in each commune (communes of one cost grouped, dearest
/// first), and whether accents make it Unicode.
fn sms_cost(
    template: &str,
    communes: &[String],
    input: &CampaignInput,
    sample: chrono::DateTime<chrono::Utc>,
) -> (Vec<SegmentLine>, bool) {
    let mut unicode = false;
    let mut by_cost: BTreeMap<(usize, usize), Vec<String>> = BTreeMap::new();
    for name in communes {
        let value = |key: &str| match key {
            "name" => "W".repeat(SMS_NAME_CHARS),
            "campaign" => input.name.clone(),
            "commune" => name.clone(),
            "venue" => input.default_venue.clone().unwrap_or_default(),
            "date" => format::date(sample),
            "time" => format::time(sample),
            _ => String::new(),
        };
        let text = prepare_sms_text(&render(template, value), input.sms_unicode);
        let cost = count_segments(&text);
        unicode |= cost.encoding == SmsEncoding::Ucs2;
        by_cost
            .entry((cost.segments, cost.units))
            .or_default()
            .push(name.clone());
    }
    let lines = by_cost
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
    (lines, unicode)
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
            code: u.code.into_string(),
        })
        .collect())
}

/// `GET /ui/chien-dich/moi`.
pub async fn new_form(State(state): State<AppState>, session: UiSession) -> Result<Response, UiError> {
    require_create(&session)?;
    let today = state.clock.now().with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let targets = target_options(state.store.as_ref(), &session, today).await?;
    html(CampaignFormPage::new(
        &session,
        CampaignForm::defaults(today),
        targets,
        None,
    ))
}

fn require_create(session: &UiSession) -> Result<(), UiError> {
    if may(session.role(), Method::POST, "/v1/campaigns") {
        Ok(())
    } else {
        Err(UiError::Forbidden("Vai trò của bạn không tạo chiến dịch.".into()))
    }
}

/// What a post of the campaign form asks for.
enum Intent {
    Preview,
    Save,
    AddRule(Audience),
    RemoveRule(usize),
}

impl Intent {
    fn of(form: &FormData, save: &str) -> Self {
        match form.get("intent").unwrap_or_default() {
            s if s == save => Self::Save,
            "add_citizens" => Self::AddRule(Audience::Citizens),
            "add_volunteers" => Self::AddRule(Audience::Volunteers),
            s => match s.strip_prefix("remove_").and_then(|i| i.parse().ok()) {
                Some(i) => Self::RemoveRule(i),
                None => Self::Preview,
            },
        }
    }
}

/// Add or remove a rule as asked; `true` when the post asked for that (the page is then
/// shown again as typed, nothing saved).
fn edit_rules(intent: &Intent, form: &mut CampaignForm) -> bool {
    match *intent {
        Intent::AddRule(audience) => {
            if form.rules.len() < MAX_RULES {
                form.rules.push(RuleForm::new(audience));
            }
            true
        }
        Intent::RemoveRule(i) => {
            if i < form.rules.len() {
                form.rules.remove(i);
            }
            true
        }
        _ => false,
    }
}

/// `POST /ui/chien-dich/moi`: `intent=preview` shows the schedule and each rule's SMS
/// cost; `add_citizens`, `add_volunteers`, `remove_N` add or remove a reminder rule;
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
    let mut typed = CampaignForm::from_form(&form);
    let intent = Intent::of(&form, "create");
    let rules_edited = edit_rules(&intent, &mut typed);
    let targets = target_options(store, &session, today).await?;
    let page = CampaignFormPage::new(&session, typed, targets, None);
    if rules_edited {
        return html(page);
    }
    let input = match page.form.input(None) {
        Ok(input) => input,
        Err((field, message)) => return page.refuse(&field, message),
    };
    let page = match page.preview(store, &session, &input).await {
        Ok(page) => page,
        Err(refused) => return Ok(refused),
    };
    if !matches!(intent, Intent::Save) {
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
            page.refuse(&field, said)
        }
        Err(e) => page.refuse("", text::error_message(&ApiError::Core(e))),
    }
}

const EDIT_API: (Method, &str) = (Method::PATCH, "/v1/campaigns/{id}");

/// The campaign `id` the caller may edit: in their area wholly (else 404 when it does
/// not reach it, 403 when it reaches beyond it), and neither completed nor cancelled.
async fn editable(store: &dyn Store, session: &UiSession, id: &CampaignId) -> Result<Campaign, UiError> {
    let campaign = store.get_campaign(id).await?.ok_or(UiError::NotFound)?;
    let area = session.caller.area(store).await?;
    if !reaches(&campaign, &area) {
        return Err(UiError::NotFound);
    }
    if !campaign.target_units.iter().all(|u| area.contains(u.as_str())) {
        return Err(UiError::Forbidden(
            "Chiến dịch này có địa bàn ngoài phạm vi của bạn.".into(),
        ));
    }
    if matches!(campaign.status, CampaignStatus::Completed | CampaignStatus::Cancelled) {
        return Err(UiError::Forbidden(format!(
            "Chiến dịch {} nên không sửa được nữa.",
            status_label(campaign.status).to_lowercase()
        )));
    }
    Ok(campaign)
}

/// `GET /ui/chien-dich/{id}/sua`: the campaign's form as saved.
pub async fn edit_form(
    State(state): State<AppState>,
    session: UiSession,
    Path(id): Path<CampaignId>,
) -> Result<Response, UiError> {
    if !may(session.role(), EDIT_API.0, EDIT_API.1) {
        return Err(UiError::Forbidden("Vai trò của bạn không sửa chiến dịch.".into()));
    }
    let store = state.store.as_ref();
    let campaign = editable(store, &session, &id).await?;
    let today = state.clock.now().with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let targets = target_options(store, &session, today).await?;
    html(CampaignFormPage::new(
        &session,
        CampaignForm::from_campaign(&campaign),
        targets,
        Some(&campaign),
    ))
}

/// `POST /ui/chien-dich/{id}/sua`: as the new campaign's form (`preview`, adding and
/// removing rules); `intent=save` saves the edit at the version the form was read at.
pub async fn edit(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    Path(id): Path<CampaignId>,
    form: FormData,
) -> Result<Response, UiError> {
    require_form(
        &headers,
        &session,
        form.get("csrf"),
        EDIT_API,
        "Vai trò của bạn không sửa chiến dịch.",
    )?;
    let store = state.store.as_ref();
    let now = state.clock.now();
    let today = now.with_timezone(&DEFAULT_TIME_ZONE).date_naive();
    let before = editable(store, &session, &id).await?;
    let mut typed = CampaignForm::from_form(&form);
    let running = before.status != CampaignStatus::Draft;
    if running {
        // What cannot change is shown, not posted: it is the campaign's.
        let saved = CampaignForm::from_campaign(&before);
        (typed.target, typed.start, typed.weekday, typed.time, typed.minutes) =
            (saved.target, saved.start, saved.weekday, saved.time, saved.minutes);
    }
    let intent = Intent::of(&form, "save");
    let rules_edited = edit_rules(&intent, &mut typed);
    let targets = target_options(store, &session, today).await?;
    let page = CampaignFormPage::new(&session, typed, targets, Some(&before));
    if rules_edited {
        return html(page);
    }
    let mut input = match page.form.input(Some(&before)) {
        Ok(input) => input,
        Err((field, message)) => return page.refuse(&field, message),
    };
    if running {
        input.target_units = before.target_units.iter().map(String::from).collect();
        input.schedule = before.schedule.clone();
        input.session_minutes = before.session_minutes;
        input.period.start = before.period.start;
    }
    let page = match page.preview(store, &session, &input).await {
        Ok(page) => page,
        Err(refused) => return Ok(refused),
    };
    if !matches!(intent, Intent::Save) {
        return html(page);
    }
    let Ok(version) = page.form.version.parse::<u64>() else {
        return page.refuse("", "Biểu mẫu thiếu phiên bản của chiến dịch; hãy tải lại trang.".into());
    };
    let patch = CampaignPatch {
        version,
        name: Some(input.name),
        period: Some(input.period),
        // A campaign of several units keeps them unless the form names another.
        target_units: (before.target_units.first().map(|u| u.as_str())
            != input.target_units.first().map(String::as_str))
        .then_some(input.target_units),
        schedule: Some(input.schedule),
        session_minutes: Some(input.session_minutes),
        default_venue: Some(input.default_venue),
        capacity: Some(input.capacity),
        min_staff: Some(input.min_staff),
        reminder_rules: Some(input.reminder_rules),
        sms_unicode: Some(input.sms_unicode),
        ..CampaignPatch::default()
    };
    match usecases::update_campaign(store, &id, patch, now).await {
        Ok(after) => {
            let change = audit::change("campaign", &id, Some(&before), Some(&after)).0;
            let target = format!("/ui/chien-dich/{id}/sua");
            audit_change(&state, &session, "/ui/chien-dich/{id}/sua", &target, Some(&change)).await;
            Ok(Redirect::to(&format!("/ui/chien-dich/{id}?ok=sua")).into_response())
        }
        Err(CoreError::Validation { field, message }) => {
            let said = text::field_message(&field, &message);
            page.refuse(&field, said)
        }
        Err(CoreError::Conflict(_)) => page.refuse(
            "",
            "Chiến dịch vừa được người khác thay đổi. Hãy mở lại trang Sửa và nhập lại thay đổi của bạn.".into(),
        ),
        Err(e) => page.refuse("", text::error_message(&ApiError::Core(e))),
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
    /// The caller may edit it (`PATCH`, the whole campaign in their area, not over).
    can_edit: bool,
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
    Path(id): Path<CampaignId>,
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
        && campaign.target_units.iter().all(|u| area.contains(u.as_str()));
    let can_edit = may(session.role(), EDIT_API.0, EDIT_API.1)
        && campaign.target_units.iter().all(|u| area.contains(u.as_str()))
        && !matches!(campaign.status, CampaignStatus::Completed | CampaignStatus::Cancelled);
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
        let versions = store.org_unit_versions(code.as_str()).await?;
        communes.push(
            version_on(&versions, Some(campaign.period.start)).map_or_else(|| String::from(code), |u| u.name.clone()),
        );
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
        can_edit,
        notice: match q.ok.as_str() {
            "tao" => Some("Đã tạo chiến dịch (bản nháp). Kích hoạt để bắt đầu lên lịch và nhắc.".into()),
            "sua" => Some("Đã lưu thay đổi. Các buổi chưa diễn ra và lời nhắc chưa gửi theo thay đổi mới.".into()),
            "activate" => Some("Đã kích hoạt: các buổi sẽ được lên lịch và nhắc tự động.".into()),
            "pause" => Some("Đã tạm dừng chiến dịch.".into()),
            "cancel" => Some("Đã hủy chiến dịch và các buổi chưa diễn ra.".into()),
            "complete" => Some("Đã kết thúc chiến dịch.".into()),
            _ => None,
        },
        id: id.into_string(),
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
    Path(id): Path<CampaignId>,
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
    let action = action_name
        .parse::<CampaignAction>()
        .map_err(|_| UiError::Api(ApiError::bad("action", "unknown action")))?;
    let store = state.store.as_ref();
    let before = store.get_campaign(&id).await?.ok_or(UiError::NotFound)?;
    let area = session.caller.area(store).await?;
    if !reaches(&before, &area) {
        return Err(UiError::NotFound);
    }
    if !before.target_units.iter().all(|u| area.contains(u.as_str())) {
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
