//! Use cases: plain async functions over the ports, called by the API and the jobs.

mod campaigns;
mod contacts;
mod estimate;
mod inbound;
mod outcomes;
mod reports;
mod sessions;
mod units;

pub use campaigns::*;
pub use contacts::*;
pub use estimate::*;
pub use inbound::*;
pub use outcomes::*;
pub use reports::*;
pub use sessions::*;
pub use units::*;

use crate::error::{CoreError, CoreResult};

/// A new opaque id with a readable prefix; time-ordered, so lists come out in creation order.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Who is making a change, for the records that keep evidence of it, and where they may act.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The token's subject.
    pub subject: Option<String>,
    /// The units whose contacts the actor may name: a contact outside them is answered as
    /// one that does not exist (rule 11).
    pub area: Area,
}

impl Actor {
    /// An actor acting everywhere (a job, the local command), known by `subject`.
    pub fn named(subject: &str) -> Self {
        Self {
            subject: Some(subject.to_string()),
            area: Area::Everywhere,
        }
    }
}

/// Where an actor may act.
#[derive(Debug, Clone, Default)]
pub enum Area {
    /// Every unit: the jobs and the local command.
    #[default]
    Everywhere,
    /// These unit codes (a caller's unit and every unit under it).
    Units(std::sync::Arc<std::collections::HashSet<String>>),
}

impl Area {
    /// Whether unit `code` lies in the area.
    pub fn covers(&self, code: &str) -> bool {
        match self {
            Self::Everywhere => true,
            Self::Units(units) => units.contains(code),
        }
    }
}

/// Run a read-modify-write until it does not collide with a concurrent change (a few tries).
pub(crate) async fn retry_on_conflict<T, F, Fut>(mut attempt: F) -> CoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = CoreResult<T>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(CoreError::Conflict(_)) if tries < 4 => tries += 1,
            other => return other,
        }
    }
}
