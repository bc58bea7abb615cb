//! Use cases: plain async functions over the ports, called by the API and the jobs.

mod campaigns;
mod contacts;
mod inbound;
mod outcomes;
mod reports;
mod sessions;
mod units;

pub use campaigns::*;
pub use contacts::*;
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

/// Who is making a change, for the records that keep evidence of it.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// The token's subject.
    pub subject: Option<String>,
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
