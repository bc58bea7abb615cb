//! Volunteer teams: each commune's đội tình nguyện, who staff its sessions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ContactId, UnitCode};

/// A commune's volunteer team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VolunteerTeam {
    #[schema(value_type = String)]
    pub commune_code: UnitCode,
    pub name: String,
    /// The team leader (a member), if named.
    #[schema(value_type = Option<String>)]
    pub leader_id: Option<ContactId>,
    /// Volunteer contact ids.
    #[schema(value_type = Vec<String>)]
    pub member_ids: Vec<ContactId>,
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
