//! Reminder templates as a planner writes them: checked when saved, filled when sent, and
//! turned into the SMS and the email a contact receives.
//!
//! Input: one flag byte (bit 0: the campaign sends Unicode SMS; bits 1–2: the length limit
//! checked), then the template, and optionally after NUL bytes a contact's name, a venue
//! and a commune name (invalid UTF-8 is replaced). A text seed thus starts with a digit.
#![no_main]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use outreach_core::campaign::{Audience, Campaign, CampaignStatus, ReminderRule, ScheduleSpec, TemplateBounds};
use outreach_core::contact::{Channel, Contact, ContactInput, ContactRole};
use outreach_core::jobs::{render_email, render_sms};
use outreach_core::schedule::{DEFAULT_TIME_ZONE, Period};
use outreach_core::session::Session;
use outreach_core::sms::{SmsEncoding, count_segments};
use outreach_core::template::{PLACEHOLDERS, render, validate_template};

/// The limits the campaign rules check templates against (SMS, email subject, email body),
/// and a small one.
const LIMITS: [usize; 4] = [1000, 200, 20_000, 10];

/// The contact a reminder goes to, registered once as the API does; each input renames it.
static CONTACT: LazyLock<Contact> = LazyLock::new(|| {
    ContactInput {
        role: ContactRole::Citizen,
        name: "Nguyễn Thị Ánh".into(),
        commune_code: "07201".into(),
        phone: "0912 345 678".into(),
        email: Some("lan@doanthanhnien.vn".into()),
        consents: Vec::new(),
    }
    .into_contact("c1".into(), now(), None)
    .expect("a valid contact")
});

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let sms_unicode = flags & 1 == 1;
    let max_chars = LIMITS[usize::from(flags >> 1) % LIMITS.len()];
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\0');
    let template = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or("Nguyễn Thị Ánh");
    let venue = parts.next().unwrap_or("Nhà văn hoá thôn Đông");
    let commune = parts.next().unwrap_or("xã Tân Dĩnh");

    let valid = validate_template("sms_template", template, max_chars).is_ok();
    if valid {
        assert!(!template.trim().is_empty() && template.chars().count() <= max_chars);
    }

    let unknown_asked = Cell::new(false);
    let rendered = render(template, |key| {
        if !PLACEHOLDERS.contains(&key) {
            unknown_asked.set(true);
        }
        fixed_value(key).to_string()
    });
    if !template.contains('{') {
        assert_eq!(rendered, template);
    }
    if valid {
        // A template that passed the check only asks for known values, and leaves no brace.
        assert!(!unknown_asked.get(), "{template:?}");
        assert!(!rendered.contains(['{', '}']), "{template:?} → {rendered:?}");
    }

    let (campaign, session, contact) = fixture(template, name, venue, sms_unicode);
    let rule = &campaign.reminder_rules[0];
    // Whether the segment check passes is not asserted: it estimates a name at 20 × `W`.
    let _ = campaign.check_sms_segments(&TemplateBounds {
        commune: commune.to_string(),
    });
    let sms = render_sms(rule, &campaign, &session, &contact, commune);
    if !sms_unicode {
        assert_eq!(count_segments(&sms).encoding, SmsEncoding::Gsm7, "{sms:?}");
    }
    let url = "https://outreach.example.vn/u/c1?t=abc".to_string();
    let email = render_email(rule, &campaign, &session, &contact, commune, Some(url.clone()), &Default::default());
    assert!(email.body_text.ends_with(&url));
    assert_eq!(email.unsubscribe_url.as_ref(), Some(&url));
    assert_eq!(Some(&email.to), contact.email.as_ref());
});

/// The instant the fixtures are made at (21 September 2026, 14:13 UTC).
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default()
}

/// What `render` fills a placeholder with in this target.
fn fixed_value(key: &str) -> &'static str {
    match key {
        "name" => "Nguyễn Thị Ánh",
        "campaign" => "Ngày hội dịch vụ công trực tuyến",
        "commune" => "xã Tân Dĩnh",
        "venue" => "Nhà văn hoá thôn Đông",
        "date" => "03/10/2026",
        "time" => "08:00",
        _ => "",
    }
}

/// A campaign whose one rule uses `template` for every text, its session at `venue`, and a
/// contact named `name`.
fn fixture(template: &str, name: &str, venue: &str, sms_unicode: bool) -> (Campaign, Session, Contact) {
    let now = now();
    let start = now.date_naive();
    let campaign = Campaign {
        id: "cmp1".into(),
        name: "Ngày hội dịch vụ công trực tuyến".into(),
        description: None,
        period: Period::new(start, start).expect("a one-day period"),
        target_units: vec!["07201".into()],
        communes: vec!["07201".into()],
        schedule: ScheduleSpec {
            cron: "0 8 * * 6".into(),
            time_zone: DEFAULT_TIME_ZONE,
        },
        session_minutes: 120,
        venues: BTreeMap::from([("07201".to_string(), venue.to_string())]),
        default_venue: None,
        capacity: 50,
        min_staff: 2,
        reminder_rules: vec![ReminderRule {
            id: "r1".into(),
            offset_minutes: 24 * 60,
            audience: Audience::All,
            channels: vec![Channel::Sms, Channel::Email],
            sms_template: Some(template.to_string()),
            email_subject: Some(template.to_string()),
            email_template: Some(template.to_string()),
            zns_template_id: None,
            zns_params: BTreeMap::new(),
            asks_answer: false,
        }],
        sms_unicode,
        max_sms_segments: 3,
        status: CampaignStatus::Active,
        materialised_until: None,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let session = Session::materialise(&campaign, "07201", now, now);
    let mut contact = CONTACT.clone();
    contact.name = name.to_string();
    (campaign, session, contact)
}
