//! What the benches share: the campaign they schedule.

use outreach_core::campaign::{Campaign, CampaignInput, ScheduleSpec};
use outreach_core::schedule::{DEFAULT_TIME_ZONE, Period};

pub use outreach_testkit::t;

/// "Every Saturday 08:00" over 2026 in `communes`, as a draft created on 1 December 2025.
pub fn saturdays_of_2026(id: &str, communes: Vec<String>, capacity: u32) -> Campaign {
    CampaignInput {
        name: "Thứ Bảy dịch vụ công".into(),
        description: None,
        period: Period::new("2026-01-01".parse().unwrap(), "2026-12-31".parse().unwrap()).unwrap(),
        target_units: vec![],
        schedule: ScheduleSpec {
            cron: "0 8 * * 6".into(),
            time_zone: DEFAULT_TIME_ZONE,
        },
        session_minutes: 120,
        venues: Default::default(),
        default_venue: Some("Nhà văn hoá".into()),
        capacity,
        min_staff: 0,
        reminder_rules: vec![],
        sms_unicode: false,
        max_sms_segments: 2,
    }
    .into_campaign(id.into(), communes, t("2025-12-01T00:00:00Z"))
    .unwrap()
}
