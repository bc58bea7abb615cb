//! Volunteer teams: each commune's đội tình nguyện, who staff its sessions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A commune's volunteer team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VolunteerTeam {
    pub commune_code: String,
    pub name: String,
    /// The team leader (a member), if named.
    pub leader_id: Option<String>,
    /// Volunteer contact ids.
    pub member_ids: Vec<String>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// A team as a planner sets it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    pub name: String,
    #[serde(default)]
    pub leader_id: Option<String>,
    pub member_ids: Vec<String>,
}
