//! What the benches share: the campaign they schedule.

use outreach_core::campaign::{Campaign, CampaignInput};

pub use outreach_testkit::t;

/// "Every Saturday 08:00" over 2026 in `communes`, as a draft created on 1 December 2025.
pub fn saturdays_of_2026(id: &str, communes: Vec<String>, capacity: u32) -> Campaign {
    CampaignInput {
        capacity,
        ..outreach_testkit::examples::saturdays("2026-01-01", "2026-12-31", &[])
    }
    .into_campaign(
        id.into(),
        communes.into_iter().map(Into::into).collect(),
        t("2025-12-01T00:00:00Z"),
    )
    .unwrap()
}
