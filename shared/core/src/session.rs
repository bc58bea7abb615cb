//! Sessions: the occurrences of a campaign in each of its communes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::campaign::Campaign;
use crate::ids::{CampaignId, ContactId, SessionId, UnitCode};

/// Whether a session will take place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Scheduled,
    Cancelled,
}

crate::named_enum!(SessionStatus {
    Scheduled => "scheduled",
    Cancelled => "cancelled",
});

/// One session of a campaign in one commune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Session {
    /// Stable: derived from the campaign, the commune and the scheduled occurrence, so
    /// materialising twice yields the same id and moving a session keeps it.
    #[schema(value_type = String)]
    pub id: SessionId,
    #[schema(value_type = String)]
    pub campaign_id: CampaignId,
    #[schema(value_type = String)]
    pub commune_code: UnitCode,
    /// The start the schedule gave; unchanged when the session is moved.
    pub occurrence: DateTime<Utc>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub venue: String,
    pub capacity: u32,
    pub min_staff: u32,
    pub status: SessionStatus,
    pub cancel_reason: Option<String>,
    /// Volunteers (contact ids) assigned to staff the session.
    #[schema(value_type = Vec<String>)]
    pub staff: Vec<ContactId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl Session {
    /// A freshly materialised session of `campaign` in `commune` at `occurrence`.
    pub fn materialise(campaign: &Campaign, commune: &str, occurrence: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Self {
            id: session_id(&campaign.id, commune, occurrence),
            campaign_id: campaign.id.clone(),
            commune_code: commune.into(),
            occurrence,
            starts_at: occurrence,
            ends_at: occurrence + chrono::Duration::minutes(i64::from(campaign.session_minutes)),
            venue: campaign.venue_for(commune).unwrap_or_default().to_string(),
            capacity: campaign.capacity,
            min_staff: campaign.min_staff,
            status: SessionStatus::Scheduled,
            cancel_reason: None,
            staff: Vec::new(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Whether the session was moved from its scheduled occurrence.
    pub fn is_moved(&self) -> bool {
        self.starts_at != self.occurrence
    }

    /// Whether a scheduled session has fewer volunteers than it needs.
    pub fn is_short_of_staff(&self) -> bool {
        self.status == SessionStatus::Scheduled && (self.staff.len() as u64) < u64::from(self.min_staff)
    }
}

/// The stable id of a campaign's occurrence in a commune.
pub fn session_id(campaign_id: &CampaignId, commune: &str, occurrence: DateTime<Utc>) -> SessionId {
    SessionId::new(format!("{campaign_id}.{commune}.{}", occurrence.format("%Y%m%dT%H%MZ")))
}
