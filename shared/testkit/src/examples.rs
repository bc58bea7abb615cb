//! Example inputs the tests and benches start from, written once: each test changes what it
//! is about with struct update syntax (`CampaignInput { capacity: 2000, ..saturdays(…) }`)
//! and leaves the rest as here.

use chrono::{DateTime, Duration, Utc};
use outreach_core::campaign::{Audience, CampaignInput, ReminderRuleInput, ScheduleSpec};
use outreach_core::contact::Channel;
use outreach_core::ids::{CampaignId, ContactId, SessionId};
use outreach_core::notify::DeliveryTask;
use outreach_core::reminder::{Delivery, ReminderJob};
use outreach_core::schedule::{DEFAULT_TIME_ZONE, Period};

/// "Every Saturday 08:00" (Vietnam's time) from `from` to `to` (`YYYY-MM-DD`) in `units`:
/// two-hour sessions of 40 seats at the commune's cultural house, no staff minimum, no
/// reminder rules, SMS without accents in at most 2 segments.
pub fn saturdays(from: &str, to: &str, units: &[&str]) -> CampaignInput {
    let day = |d: &str| d.parse().unwrap_or_else(|e| panic!("{d:?} is not a date: {e}"));
    CampaignInput {
        name: "Thứ Bảy dịch vụ công".into(),
        description: None,
        period: Period::new(day(from), day(to)).expect("a period that ends after it starts"),
        target_units: units.iter().map(|u| (*u).into()).collect(),
        schedule: ScheduleSpec {
            cron: "0 8 * * 6".into(),
            time_zone: DEFAULT_TIME_ZONE,
        },
        session_minutes: 120,
        venues: Default::default(),
        default_venue: Some("Nhà văn hoá".into()),
        capacity: 40,
        min_staff: 0,
        reminder_rules: vec![],
        sms_unicode: false,
        max_sms_segments: 2,
    }
}

/// A reminder rule `id` for `audience`, `hours` before the session, by `channels`, with the
/// default texts and no question.
pub fn rule(id: &str, hours: u32, audience: Audience, channels: &[Channel]) -> ReminderRuleInput {
    ReminderRuleInput {
        id: Some(id.into()),
        offset_minutes: hours * 60,
        audience,
        channels: channels.to_vec(),
        sms_template: None,
        email_subject: None,
        email_template: None,
        zns_template_id: None,
        zns_params: Default::default(),
        asks_answer: false,
    }
}

/// The first claim of rule `rule`'s delivery to `contact` for `session` by `channel` at
/// `now`, as a sender makes it: held 5 minutes, kept a year.
pub fn claimed_delivery(
    campaign: &CampaignId,
    session: &SessionId,
    rule: &str,
    contact: &ContactId,
    channel: Channel,
    now: DateTime<Utc>,
) -> Delivery {
    let task = DeliveryTask {
        job_id: ReminderJob::id_for(session, rule),
        campaign_id: campaign.clone(),
        session_id: session.clone(),
        rule_id: rule.into(),
        contact_id: contact.clone(),
        channel,
    };
    Delivery::claim(&task, channel, now, Duration::minutes(5), Duration::days(365))
}
