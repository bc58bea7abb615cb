//! Campaigns: a recurring schedule of sessions in chosen communes, with reminder rules.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::contact::{Channel, short_text};
use crate::error::{CoreError, CoreResult};
use crate::ids::{CampaignId, UnitCode};
use crate::schedule::{CronSchedule, DEFAULT_TIME_ZONE, Period};
use crate::template::{self, validate_template};

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Active,
    Paused,
    Cancelled,
    Completed,
}

crate::named_enum!(CampaignStatus {
    Draft => "draft",
    Active => "active",
    Paused => "paused",
    Cancelled => "cancelled",
    Completed => "completed",
});

/// A lifecycle action a planner can take on a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignAction {
    Activate,
    Pause,
    Cancel,
    Complete,
}

crate::named_enum!(CampaignAction {
    Activate => "activate",
    Pause => "pause",
    Cancel => "cancel",
    Complete => "complete",
});

impl CampaignAction {
    /// The status an action leads to from `from`, or why it may not be taken.
    /// draft → active → paused ⇄ active; draft/active/paused → cancelled; active/paused → completed.
    pub fn apply(self, from: CampaignStatus) -> CoreResult<CampaignStatus> {
        use CampaignStatus::*;
        let to = match (self, from) {
            (Self::Activate, Draft | Paused) => Active,
            (Self::Pause, Active) => Paused,
            (Self::Cancel, Draft | Active | Paused) => Cancelled,
            (Self::Complete, Active | Paused) => Completed,
            _ => {
                return Err(CoreError::InvalidTransition {
                    action: self.as_str(),
                    from: from.as_str().to_string(),
                });
            }
        };
        Ok(to)
    }
}

/// Who a reminder rule reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Citizens registered in the session's commune.
    Citizens,
    /// Volunteers assigned to staff the session.
    Volunteers,
    /// Both.
    All,
}

/// A validated reminder rule of a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReminderRule {
    /// Stable within the campaign (`r1`, `day-before`…).
    pub id: String,
    /// How long before the session start the reminder is due.
    pub offset_minutes: u32,
    pub audience: Audience,
    pub channels: Vec<Channel>,
    /// SMS text (Vietnamese; sent unaccented unless the campaign allows Unicode).
    pub sms_template: Option<String>,
    pub email_subject: Option<String>,
    pub email_template: Option<String>,
    /// The Zalo ZNS template (approved in the Zalo OA's ZNS account) sent when the rule's
    /// channels name `zns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zns_template_id: Option<String>,
    /// The ZNS template's parameters: parameter name → session field (one of
    /// [`ZNS_FIELDS`]), filled per person when it is sent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zns_params: BTreeMap<String, String>,
    /// The reminder asks whether the person will come: its SMS ends with
    /// [`crate::answer::SMS_ANSWER_PROMPT`] and a reply `1` or `2` is recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub asks_answer: bool,
}

/// The session fields a ZNS template parameter can take (as the text templates' placeholders).
/// `answer_yes` and `answer_no` are the signed links of a rule that asks whether the person
/// will come (for a template's two buttons); `check_in` a citizen's check-in code.
pub const ZNS_FIELDS: [&str; 9] = [
    "name",
    "campaign",
    "commune",
    "venue",
    "date",
    "time",
    "answer_yes",
    "answer_no",
    "check_in",
];

/// A reminder rule as a planner writes it; templates default to the Vietnamese texts.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderRuleInput {
    #[serde(default)]
    pub id: Option<String>,
    pub offset_minutes: u32,
    pub audience: Audience,
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub sms_template: Option<String>,
    #[serde(default)]
    pub email_subject: Option<String>,
    #[serde(default)]
    pub email_template: Option<String>,
    /// Required when `channels` names `zns`: the approved ZNS template's id.
    #[serde(default)]
    pub zns_template_id: Option<String>,
    /// ZNS template parameter → session field (`name`, `campaign`, `commune`, `venue`,
    /// `date`, `time`), e.g. `{"ten_khach_hang": "name", "ngay": "date"}`.
    #[serde(default)]
    pub zns_params: BTreeMap<String, String>,
    /// Ask whether the person will come: by replying `1` or `2` to the SMS, by one of the
    /// two signed links of the email, or by a ZNS template's buttons (`answer_yes`, `answer_no`).
    #[serde(default)]
    pub asks_answer: bool,
}

/// Check a rule's ZNS template id and parameter map: every parameter names a known session
/// field, and the error (in Vietnamese, for the planner) names the one that does not.
fn validate_zns(
    index: usize,
    template_id: Option<String>,
    params: BTreeMap<String, String>,
) -> CoreResult<(Option<String>, BTreeMap<String, String>)> {
    let at = |f: &str| format!("reminder_rules[{index}].{f}");
    let id = template_id.as_deref().map(str::trim).unwrap_or_default();
    if id.is_empty() {
        return Err(CoreError::invalid(
            at("zns_template_id"),
            "kênh zns cần mã mẫu ZNS đã được Zalo duyệt (zns_template_id)",
        ));
    }
    if id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(CoreError::invalid(
            at("zns_template_id"),
            "mã mẫu ZNS chỉ gồm chữ và số, tối đa 32 ký tự",
        ));
    }
    if params.is_empty() {
        return Err(CoreError::invalid(
            at("zns_params"),
            "mẫu ZNS cần ít nhất một tham số (zns_params: tên tham số → trường của buổi)",
        ));
    }
    if params.len() > 20 {
        return Err(CoreError::invalid(at("zns_params"), "tối đa 20 tham số"));
    }
    let mut out = BTreeMap::new();
    for (param, field) in params {
        let name = param.trim();
        if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(CoreError::invalid(
                at("zns_params"),
                format!("tên tham số \"{param}\" không hợp lệ: chỉ gồm chữ không dấu, số và _"),
            ));
        }
        let field = field.trim();
        if !ZNS_FIELDS.contains(&field) {
            return Err(CoreError::invalid(
                at(&format!("zns_params.{name}")),
                format!(
                    "trường \"{field}\" không tồn tại; tham số \"{name}\" phải lấy một trong các trường: {}",
                    ZNS_FIELDS.join(", ")
                ),
            ));
        }
        out.insert(name.to_string(), field.to_string());
    }
    Ok((Some(id.to_string()), out))
}

/// Longest reminder lead time: 30 days.
pub const MAX_REMINDER_OFFSET_MINUTES: u32 = 30 * 24 * 60;

impl ReminderRuleInput {
    fn validate(self, index: usize) -> CoreResult<ReminderRule> {
        let at = |f: &str| format!("reminder_rules[{index}].{f}");
        let id = match self.id {
            Some(id) => {
                let id = short_text(&at("id"), &id, 40)?;
                if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    return Err(CoreError::invalid(at("id"), "letters, digits, - and _ only"));
                }
                id
            }
            None => format!("r{}", index + 1),
        };
        if self.offset_minutes == 0 || self.offset_minutes > MAX_REMINDER_OFFSET_MINUTES {
            return Err(CoreError::invalid(
                at("offset_minutes"),
                format!("between 1 and {MAX_REMINDER_OFFSET_MINUTES}"),
            ));
        }
        if self.channels.is_empty() {
            return Err(CoreError::invalid(
                at("channels"),
                "name at least one channel (sms, email, zns)",
            ));
        }
        let mut channels = self.channels;
        channels.sort();
        channels.dedup();
        let wants = |c| channels.contains(&c);
        let sms_template = wants(Channel::Sms).then(|| {
            self.sms_template.unwrap_or_else(|| {
                match self.audience {
                    Audience::Volunteers => template::DEFAULT_SMS_VOLUNTEER,
                    _ => template::DEFAULT_SMS_CITIZEN,
                }
                .to_string()
            })
        });
        let email_subject = wants(Channel::Email).then(|| {
            self.email_subject
                .unwrap_or_else(|| template::DEFAULT_EMAIL_SUBJECT.into())
        });
        let email_template = wants(Channel::Email).then(|| {
            self.email_template
                .unwrap_or_else(|| template::DEFAULT_EMAIL_BODY.into())
        });
        if let Some(t) = &sms_template {
            validate_template(&at("sms_template"), t, 1000)?;
        }
        if let Some(t) = &email_subject {
            validate_template(&at("email_subject"), t, 200)?;
        }
        if let Some(t) = &email_template {
            validate_template(&at("email_template"), t, 20_000)?;
        }
        let (zns_template_id, zns_params) = if wants(Channel::Zns) {
            validate_zns(index, self.zns_template_id, self.zns_params)?
        } else {
            (None, BTreeMap::new())
        };
        let answer_fields = zns_params.values().filter(|f| f.starts_with("answer_")).count();
        if answer_fields > 0 && !self.asks_answer {
            return Err(CoreError::invalid(
                at("zns_params"),
                "answer_yes và answer_no chỉ dùng được khi quy tắc hỏi người nhận có đến không (asks_answer)",
            ));
        }
        Ok(ReminderRule {
            id,
            offset_minutes: self.offset_minutes,
            audience: self.audience,
            channels,
            sms_template,
            email_subject,
            email_template,
            zns_template_id,
            zns_params,
            asks_answer: self.asks_answer,
        })
    }
}

/// A campaign's recurring schedule as stored: the expression as given and its zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleSpec {
    /// 5-field (`0 8 * * 6`) or 6/7-field with seconds (`0 0 8 * * Sat`).
    pub cron: String,
    /// IANA time zone; defaults to Asia/Ho_Chi_Minh.
    #[serde(default = "default_tz")]
    #[schema(value_type = String, example = "Asia/Ho_Chi_Minh")]
    pub time_zone: Tz,
}

fn default_tz() -> Tz {
    DEFAULT_TIME_ZONE
}

impl ScheduleSpec {
    /// Parse the expression in its zone.
    pub fn parse(&self) -> CoreResult<CronSchedule> {
        CronSchedule::parse(&self.cron, self.time_zone)
    }
}

/// A campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Campaign {
    #[schema(value_type = String)]
    pub id: CampaignId,
    pub name: String,
    pub description: Option<String>,
    pub period: Period,
    /// The units the planner chose (communes, districts or the province).
    #[schema(value_type = Vec<String>)]
    pub target_units: Vec<UnitCode>,
    /// The communes those units expand to; sessions are held in each.
    #[schema(value_type = Vec<String>)]
    pub communes: Vec<UnitCode>,
    pub schedule: ScheduleSpec,
    pub session_minutes: u32,
    /// Venue per commune; communes not listed use `default_venue`.
    pub venues: BTreeMap<String, String>,
    pub default_venue: Option<String>,
    pub capacity: u32,
    /// Volunteers each session needs; sessions with fewer assigned are flagged.
    pub min_staff: u32,
    pub reminder_rules: Vec<ReminderRule>,
    /// Send SMS with Vietnamese accents (UCS-2, 70 characters a segment) instead of
    /// unaccented GSM-7 text.
    #[serde(default)]
    pub sms_unicode: bool,
    /// Most SMS segments one reminder may cost; templates that can exceed it are refused.
    #[serde(default = "default_max_sms_segments")]
    pub max_sms_segments: u8,
    pub status: CampaignStatus,
    /// Sessions are materialised up to (not including) this instant.
    pub materialised_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// The longest value each placeholder can take in a campaign's SMS, for the segment check.
#[derive(Debug, Clone, Default)]
pub struct TemplateBounds {
    /// The longest name among the campaign's communes.
    pub commune: String,
}

/// `{name}` in an SMS is cut to this many characters.
pub const SMS_NAME_CHARS: usize = 20;

impl Campaign {
    /// Refuse SMS templates whose longest rendering costs more segments than allowed.
    pub fn check_sms_segments(&self, bounds: &TemplateBounds) -> CoreResult<()> {
        let venue = self
            .venues
            .values()
            .chain(self.default_venue.iter())
            .max_by_key(|v| v.chars().count());
        let worst = |key: &str| -> String {
            match key {
                "name" => "W".repeat(SMS_NAME_CHARS),
                "campaign" => self.name.clone(),
                "commune" => bounds.commune.clone(),
                "venue" => venue.cloned().unwrap_or_default(),
                "date" => "00/00/0000".into(),
                "time" => "00:00".into(),
                _ => String::new(),
            }
        };
        for (i, rule) in self.reminder_rules.iter().enumerate() {
            let Some(template) = &rule.sms_template else { continue };
            let template = crate::answer::sms_template_with_prompt(template, rule.asks_answer);
            let text = crate::sms::prepare_sms_text(&template::render(&template, worst), self.sms_unicode);
            let cost = crate::sms::count_segments(&text);
            if cost.segments > usize::from(self.max_sms_segments) {
                return Err(CoreError::invalid(
                    format!("reminder_rules[{i}].sms_template"),
                    format!(
                        "the SMS can take {} segments ({} {} characters at its longest); the campaign allows {} \
                         (max_sms_segments). Shorten the template{}",
                        cost.segments,
                        cost.units,
                        match cost.encoding {
                            crate::sms::SmsEncoding::Gsm7 => "GSM-7",
                            crate::sms::SmsEncoding::Ucs2 => "UCS-2",
                        },
                        self.max_sms_segments,
                        if self.sms_unicode {
                            " or send it unaccented (sms_unicode: false)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The venue of a commune's sessions.
    pub fn venue_for(&self, commune: &str) -> Option<&str> {
        self.venues
            .get(commune)
            .or(self.default_venue.as_ref())
            .map(String::as_str)
    }

    /// The venue of sessions held in `commune` in place of `former`, one of the campaign's
    /// communes that no longer exists: the one given for `commune`, else `former`'s, else
    /// the default.
    pub fn venue_in_place_of(&self, commune: &str, former: &str) -> Option<&str> {
        self.venues
            .get(commune)
            .or(self.venues.get(former))
            .or(self.default_venue.as_ref())
            .map(String::as_str)
    }
}

/// A campaign as a planner creates it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub period: Period,
    pub target_units: Vec<String>,
    pub schedule: ScheduleSpec,
    #[serde(default = "default_session_minutes")]
    pub session_minutes: u32,
    #[serde(default)]
    pub venues: BTreeMap<String, String>,
    #[serde(default)]
    pub default_venue: Option<String>,
    pub capacity: u32,
    #[serde(default = "default_min_staff")]
    pub min_staff: u32,
    #[serde(default)]
    pub reminder_rules: Vec<ReminderRuleInput>,
    #[serde(default)]
    pub sms_unicode: bool,
    #[serde(default = "default_max_sms_segments")]
    pub max_sms_segments: u8,
}

fn default_max_sms_segments() -> u8 {
    2
}

fn default_session_minutes() -> u32 {
    120
}

fn default_min_staff() -> u32 {
    2
}

/// Fewest minutes between two sessions of a campaign (and never less than a session lasts).
pub const MIN_SESSION_INTERVAL_MINUTES: i64 = 60;
/// Most sessions one campaign may hold: dates times communes (a province's 200 communes
/// every week for three years is about 31,000).
pub const MAX_SESSIONS_PER_CAMPAIGN: usize = 100_000;

/// Refuse a schedule with no session in the period, two sessions closer than
/// [`MIN_SESSION_INTERVAL_MINUTES`] (or than a session lasts), or more sessions over
/// `communes` than [`MAX_SESSIONS_PER_CAMPAIGN`]. Stops at the first fault, so an
/// every-minute schedule is refused after two dates.
fn check_spacing(schedule: &CronSchedule, period: &Period, session_minutes: u32, communes: usize) -> CoreResult<()> {
    let floor = MIN_SESSION_INTERVAL_MINUTES.max(i64::from(session_minutes));
    let most_dates = MAX_SESSIONS_PER_CAMPAIGN / communes.max(1);
    let mut dates = 0;
    let mut previous: Option<DateTime<Utc>> = None;
    for at in schedule.occurrences_in(period) {
        if let Some(before) = previous {
            let gap = (at - before).num_minutes();
            if gap < floor {
                let local = |t: DateTime<Utc>| t.with_timezone(&schedule.time_zone()).format("%Y-%m-%d %H:%M");
                return Err(CoreError::invalid(
                    "schedule.cron",
                    format!(
                        "sessions must be at least {floor} minutes apart (and no shorter than session_minutes); \
                         this schedule has two {gap} minutes apart ({} and {}, {})",
                        local(before),
                        local(at),
                        schedule.time_zone()
                    ),
                ));
            }
        }
        previous = Some(at);
        dates += 1;
        if dates > most_dates {
            return Err(CoreError::invalid(
                "schedule.cron",
                format!(
                    "the campaign would hold more than {MAX_SESSIONS_PER_CAMPAIGN} sessions ({communes} communes, \
                     more than {most_dates} dates each); choose fewer dates, fewer communes or a shorter period"
                ),
            ));
        }
    }
    if dates == 0 {
        return Err(CoreError::invalid(
            "schedule.cron",
            "the schedule has no session within the period",
        ));
    }
    Ok(())
}

impl CampaignInput {
    /// Validate everything that needs no store; `communes` is the expansion of
    /// `target_units` the use case worked out.
    pub fn into_campaign(self, id: CampaignId, communes: Vec<UnitCode>, now: DateTime<Utc>) -> CoreResult<Campaign> {
        self.into_campaign_over(id, communes, &[], now)
    }

    /// [`Self::into_campaign`], where `successors` are the units that take over some of
    /// `communes` within the period (a change of units): venues may be given for them too.
    pub fn into_campaign_over(
        self,
        id: CampaignId,
        communes: Vec<UnitCode>,
        successors: &[UnitCode],
        now: DateTime<Utc>,
    ) -> CoreResult<Campaign> {
        let name = short_text("name", &self.name, 200)?;
        let description = match self.description.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) if d.chars().count() > 5000 => {
                return Err(CoreError::invalid("description", "at most 5000 characters"));
            }
            Some(d) if d.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') => {
                return Err(CoreError::invalid("description", "must not contain control characters"));
            }
            d => d.map(str::to_string),
        };
        let period = Period::new(self.period.start, self.period.end)?;
        if (period.end - period.start).num_days() > 3 * 366 {
            return Err(CoreError::invalid("period.end", "a campaign runs at most three years"));
        }
        let schedule = self.schedule.parse()?;
        if !(15..=12 * 60).contains(&self.session_minutes) {
            return Err(CoreError::invalid("session_minutes", "between 15 and 720"));
        }
        check_spacing(&schedule, &period, self.session_minutes, communes.len())?;
        if !(1..=10_000).contains(&self.capacity) {
            return Err(CoreError::invalid("capacity", "between 1 and 10000"));
        }
        if self.min_staff > 100 {
            return Err(CoreError::invalid("min_staff", "at most 100"));
        }
        let default_venue = self
            .default_venue
            .map(|v| short_text("default_venue", &v, 300))
            .transpose()?;
        let mut venues = BTreeMap::new();
        for (commune, venue) in self.venues {
            if !communes.iter().chain(successors).any(|c| *c == commune) {
                return Err(CoreError::invalid(
                    format!("venues.{commune}"),
                    "not one of the campaign's communes, nor a unit that takes one over within its period",
                ));
            }
            venues.insert(commune.clone(), short_text(&format!("venues.{commune}"), &venue, 300)?);
        }
        if default_venue.is_none()
            && let Some(missing) = communes.iter().find(|c| !venues.contains_key(c.as_str()))
        {
            return Err(CoreError::invalid(
                "venues",
                format!("commune {missing} has no venue; give one or a default_venue"),
            ));
        }
        if self.reminder_rules.len() > 10 {
            return Err(CoreError::invalid("reminder_rules", "at most 10 reminder rules"));
        }
        let reminder_rules = self
            .reminder_rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.validate(i))
            .collect::<CoreResult<Vec<_>>>()?;
        if !(1..=6).contains(&self.max_sms_segments) {
            return Err(CoreError::invalid("max_sms_segments", "between 1 and 6"));
        }
        let mut ids = HashSet::new();
        if let Some(dup) = reminder_rules.iter().find(|r| !ids.insert(r.id.as_str())) {
            return Err(CoreError::invalid(
                "reminder_rules",
                format!("rule id {} is used twice", dup.id),
            ));
        }
        Ok(Campaign {
            id,
            name,
            description,
            period,
            target_units: self.target_units.into_iter().map(UnitCode::from).collect(),
            communes,
            schedule: ScheduleSpec {
                cron: schedule.expression().to_string(),
                time_zone: schedule.time_zone(),
            },
            session_minutes: self.session_minutes,
            venues,
            default_venue,
            capacity: self.capacity,
            min_staff: self.min_staff,
            reminder_rules,
            sms_unicode: self.sms_unicode,
            max_sms_segments: self.max_sms_segments,
            status: CampaignStatus::Draft,
            materialised_until: None,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }
}

/// What a planner may change in a campaign: any field of [`CampaignInput`] (a JSON merge:
/// a field left out keeps its value, `null` clears an optional one; `reminder_rules`, when
/// given, is the whole new list), with the `version` it was read at.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignPatch {
    /// The campaign's `version` as read; a campaign changed since is a conflict (409).
    pub version: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub period: Option<Period>,
    #[serde(default)]
    pub target_units: Option<Vec<String>>,
    #[serde(default)]
    pub schedule: Option<ScheduleSpec>,
    #[serde(default)]
    pub session_minutes: Option<u32>,
    #[serde(default)]
    pub venues: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub default_venue: Option<Option<String>>,
    #[serde(default)]
    pub capacity: Option<u32>,
    #[serde(default)]
    pub min_staff: Option<u32>,
    /// The rules after the change. A rule keeps its `id` to be the same rule (its reminders
    /// not yet sent follow the change); a rule without one is new.
    #[serde(default)]
    pub reminder_rules: Option<Vec<ReminderRuleInput>>,
    #[serde(default)]
    pub sms_unicode: Option<bool>,
    #[serde(default)]
    pub max_sms_segments: Option<u8>,
}

/// A field that is present, `null` included (`Some(None)`), as against one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl From<&ReminderRule> for ReminderRuleInput {
    fn from(r: &ReminderRule) -> Self {
        Self {
            id: Some(r.id.clone()),
            offset_minutes: r.offset_minutes,
            audience: r.audience,
            channels: r.channels.clone(),
            sms_template: r.sms_template.clone(),
            email_subject: r.email_subject.clone(),
            email_template: r.email_template.clone(),
            zns_template_id: r.zns_template_id.clone(),
            zns_params: r.zns_params.clone(),
            asks_answer: r.asks_answer,
        }
    }
}

impl From<&Campaign> for CampaignInput {
    fn from(c: &Campaign) -> Self {
        Self {
            name: c.name.clone(),
            description: c.description.clone(),
            period: c.period,
            target_units: c.target_units.iter().map(String::from).collect(),
            schedule: c.schedule.clone(),
            session_minutes: c.session_minutes,
            venues: c.venues.clone(),
            default_venue: c.default_venue.clone(),
            capacity: c.capacity,
            min_staff: c.min_staff,
            reminder_rules: c.reminder_rules.iter().map(ReminderRuleInput::from).collect(),
            sms_unicode: c.sms_unicode,
            max_sms_segments: c.max_sms_segments,
        }
    }
}

/// Why a field cannot change on a campaign that is running (translated by the dashboard).
pub const FIXED_ONCE_ACTIVE: &str = "cannot change once the campaign is active; create a new campaign";

impl CampaignPatch {
    /// `current` as a create input with this patch applied. A rule without an id gets the
    /// first `rN` that neither `current` nor another rule uses, so a new rule never takes
    /// the id (and the reminders) of a removed one.
    pub fn merged_into(self, current: &Campaign) -> CampaignInput {
        let mut input = CampaignInput::from(current);
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = self.$f { input.$f = v; })* };
        }
        set!(
            name,
            description,
            period,
            target_units,
            schedule,
            session_minutes,
            venues,
            default_venue,
            capacity,
            min_staff,
            reminder_rules,
            sms_unicode,
            max_sms_segments
        );
        let mut taken: HashSet<String> = current
            .reminder_rules
            .iter()
            .map(|r| r.id.clone())
            .chain(input.reminder_rules.iter().filter_map(|r| r.id.clone()))
            .collect();
        let mut n = 1;
        for rule in input.reminder_rules.iter_mut().filter(|r| r.id.is_none()) {
            while taken.contains(&format!("r{n}")) {
                n += 1;
            }
            let id = format!("r{n}");
            taken.insert(id.clone());
            rule.id = Some(id);
        }
        input
    }
}

impl Campaign {
    /// Refuse, on a running (active or paused) campaign, a change to what its sessions were
    /// materialised from: schedule, time zone, session length, start date, target units; and
    /// an end before `last_held` (the local date of the last session already held).
    pub fn check_running_edit(&self, input: &CampaignInput, last_held: Option<NaiveDate>) -> CoreResult<()> {
        let fixed = |field: &str| Err(CoreError::invalid(field, FIXED_ONCE_ACTIVE));
        if input
            .schedule
            .cron
            .split_whitespace()
            .ne(self.schedule.cron.split_whitespace())
        {
            return fixed("schedule.cron");
        }
        if input.schedule.time_zone != self.schedule.time_zone {
            return fixed("schedule.time_zone");
        }
        if input.session_minutes != self.session_minutes {
            return fixed("session_minutes");
        }
        if input.period.start != self.period.start {
            return fixed("period.start");
        }
        if input.target_units != self.target_units {
            return fixed("target_units");
        }
        if let Some(held) = last_held
            && input.period.end < held
        {
            return Err(CoreError::invalid(
                "period.end",
                format!(
                    "cannot end before the last session already held ({})",
                    held.format("%Y-%m-%d")
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CampaignStatus::*;

    fn spacing(cron: &str, months: u32, session_minutes: u32, communes: usize) -> CoreResult<()> {
        let start: chrono::NaiveDate = "2026-10-01".parse().unwrap();
        let end = start.checked_add_months(chrono::Months::new(months)).unwrap();
        let period = Period::new(start, end).unwrap();
        check_spacing(
            &CronSchedule::parse(cron, DEFAULT_TIME_ZONE).unwrap(),
            &period,
            session_minutes,
            communes,
        )
    }

    #[test]
    fn sessions_closer_than_an_hour_or_than_they_last_are_refused_naming_the_two() {
        let Err(CoreError::Validation { field, message }) = spacing("* * * * *", 1, 60, 31) else {
            panic!("every minute accepted")
        };
        assert_eq!(field, "schedule.cron");
        assert!(
            message.contains("at least 60 minutes apart")
                && message.contains("1 minutes apart (2026-10-01 00:00 and 2026-10-01 00:01"),
            "{message}"
        );
        assert!(spacing("* * * * * *", 1, 60, 1).is_err(), "every second");
        // Two a morning, an hour apart: enough for one-hour sessions, not for two-hour ones.
        assert!(spacing("0 8,9 * * 6", 3, 60, 31).is_ok());
        let Err(CoreError::Validation { message, .. }) = spacing("0 8,9 * * 6", 3, 120, 31) else {
            panic!("overlapping sessions accepted")
        };
        assert!(message.contains("at least 120 minutes apart"), "{message}");
    }

    fn zns_rule(params: &[(&str, &str)], template: Option<&str>) -> ReminderRuleInput {
        ReminderRuleInput {
            id: None,
            offset_minutes: 1440,
            audience: Audience::Citizens,
            channels: vec![Channel::Zns, Channel::Sms],
            sms_template: None,
            email_subject: None,
            email_template: None,
            zns_template_id: template.map(str::to_string),
            zns_params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            asks_answer: false,
        }
    }

    #[test]
    fn a_zns_rule_names_its_template_and_maps_each_parameter_to_a_known_field() {
        let rule = zns_rule(&[("ten", "name"), ("ngay", "date")], Some("246810"))
            .validate(0)
            .unwrap();
        assert_eq!(rule.channels, [Channel::Sms, Channel::Zns]);
        assert_eq!(rule.zns_template_id.as_deref(), Some("246810"));
        assert_eq!(rule.zns_params["ngay"], "date");
        let Err(CoreError::Validation { field, message }) =
            zns_rule(&[("ten", "name"), ("ngay", "ngay_hen")], Some("246810")).validate(2)
        else {
            panic!("an unknown field accepted")
        };
        assert_eq!(field, "reminder_rules[2].zns_params.ngay");
        assert!(message.contains("trường \"ngay_hen\" không tồn tại"), "{message}");
        let Err(CoreError::Validation { field, .. }) = zns_rule(&[("ten", "name")], None).validate(0) else {
            panic!("no template id accepted")
        };
        assert_eq!(field, "reminder_rules[0].zns_template_id");
        assert!(zns_rule(&[], Some("1")).validate(0).is_err(), "no parameter");
    }

    #[test]
    fn a_campaign_holds_at_most_100000_sessions() {
        // Every day for three years in 2,000 communes: 2.2 million sessions.
        let Err(CoreError::Validation { field, message }) = spacing("0 8 * * *", 36, 120, 2_000) else {
            panic!("2.2 million sessions accepted")
        };
        assert_eq!(field, "schedule.cron");
        assert!(
            message.contains("more than 100000 sessions (2000 communes, more than 50 dates each)"),
            "{message}"
        );
        // Every Saturday for three years in 200 communes: 31,400.
        assert!(spacing("0 8 * * 6", 36, 120, 200).is_ok());
        assert!(matches!(
            spacing("0 8 * * 6", 36, 120, 1_000),
            Err(CoreError::Validation { .. })
        ));
    }

    #[test]
    fn lifecycle_allows_only_the_documented_transitions() {
        let all = [Draft, Active, Paused, Cancelled, Completed];
        let actions = [
            CampaignAction::Activate,
            CampaignAction::Pause,
            CampaignAction::Cancel,
            CampaignAction::Complete,
        ];
        let mut allowed = Vec::new();
        for from in all {
            for action in actions {
                if let Ok(to) = action.apply(from) {
                    allowed.push((from, action, to));
                }
            }
        }
        assert_eq!(
            allowed,
            vec![
                (Draft, CampaignAction::Activate, Active),
                (Draft, CampaignAction::Cancel, Cancelled),
                (Active, CampaignAction::Pause, Paused),
                (Active, CampaignAction::Cancel, Cancelled),
                (Active, CampaignAction::Complete, Completed),
                (Paused, CampaignAction::Activate, Active),
                (Paused, CampaignAction::Cancel, Cancelled),
                (Paused, CampaignAction::Complete, Completed),
            ]
        );
        let err = CampaignAction::Activate.apply(Cancelled).unwrap_err();
        assert_eq!(err.to_string(), "cannot activate a campaign that is cancelled");
    }

    fn running() -> Campaign {
        let input: CampaignInput = serde_json::from_value(serde_json::json!({
            "name": "Thứ Bảy dịch vụ công",
            "period": {"start": "2026-09-01", "end": "2026-12-31"},
            "target_units": ["07201"],
            "schedule": {"cron": "0 8 * * 6"},
            "default_venue": "Trụ sở UBND",
            "capacity": 40,
            "reminder_rules": [
                {"offset_minutes": 1440, "audience": "citizens", "channels": ["sms"]},
                {"offset_minutes": 120, "audience": "citizens", "channels": ["email"]}
            ]
        }))
        .unwrap();
        let mut c = input
            .into_campaign("cmp_1".into(), vec!["07201".into()], Utc::now())
            .unwrap();
        c.status = Active;
        c
    }

    fn patch(value: serde_json::Value) -> CampaignPatch {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_patch_keeps_what_it_leaves_out_clears_what_it_nulls_and_gives_new_rules_unused_ids() {
        let current = running();
        // r1 removed, r2 kept, one rule added: it must not take r1's id (r1's reminders stay cancelled).
        let input = patch(serde_json::json!({
            "version": 1,
            "name": "Thứ Bảy xanh",
            "default_venue": null,
            "venues": {"07201": "Nhà văn hoá thôn Đông"},
            "reminder_rules": [
                {"id": "r2", "offset_minutes": 60, "audience": "citizens", "channels": ["email"]},
                {"offset_minutes": 2880, "audience": "volunteers", "channels": ["sms"]}
            ]
        }))
        .merged_into(&current);
        assert_eq!(input.name, "Thứ Bảy xanh");
        assert_eq!(input.default_venue, None);
        assert_eq!(input.capacity, 40);
        assert_eq!(input.schedule, current.schedule);
        let ids: Vec<_> = input.reminder_rules.iter().map(|r| r.id.clone().unwrap()).collect();
        assert_eq!(ids, ["r2", "r3"]);
        assert!(current.check_running_edit(&input, None).is_ok());
    }

    #[test]
    fn a_running_campaign_refuses_a_new_schedule_zone_start_or_units_naming_the_field() {
        let current = running();
        for (change, field) in [
            (serde_json::json!({"schedule": {"cron": "0 9 * * 6"}}), "schedule.cron"),
            (
                serde_json::json!({"schedule": {"cron": "0 8 * * 6", "time_zone": "Asia/Bangkok"}}),
                "schedule.time_zone",
            ),
            (serde_json::json!({"session_minutes": 90}), "session_minutes"),
            (
                serde_json::json!({"period": {"start": "2026-09-02", "end": "2026-12-31"}}),
                "period.start",
            ),
            (serde_json::json!({"target_units": ["07201", "07204"]}), "target_units"),
        ] {
            let mut value = change.clone();
            value["version"] = 1.into();
            let input = patch(value).merged_into(&current);
            let Err(CoreError::Validation { field: got, message }) = current.check_running_edit(&input, None) else {
                panic!("{change} accepted")
            };
            assert_eq!(got, field, "{change}");
            assert_eq!(message, FIXED_ONCE_ACTIVE);
        }
        // The same schedule written again is no change.
        let same = patch(serde_json::json!({"version": 1, "schedule": {"cron": "0  8 * * 6"}})).merged_into(&current);
        assert!(current.check_running_edit(&same, None).is_ok());
    }

    #[test]
    fn a_running_campaign_may_end_earlier_but_not_before_its_last_session_held() {
        let current = running();
        let held: NaiveDate = "2026-10-03".parse().unwrap();
        let end = |d: &str| {
            patch(serde_json::json!({"version": 1, "period": {"start": "2026-09-01", "end": d}})).merged_into(&current)
        };
        assert!(current.check_running_edit(&end("2026-10-03"), Some(held)).is_ok());
        assert!(current.check_running_edit(&end("2027-03-31"), Some(held)).is_ok());
        let Err(CoreError::Validation { field, message }) = current.check_running_edit(&end("2026-10-02"), Some(held))
        else {
            panic!("an end before a held session accepted")
        };
        assert_eq!(field, "period.end");
        assert!(message.contains("2026-10-03"), "{message}");
    }
}
