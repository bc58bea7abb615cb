//! Scheduled jobs: plain async functions over the ports, taking `now`.

mod dispatcher;
mod planner;
mod quarterly;
mod sender;

pub use dispatcher::*;
pub use planner::*;
pub use quarterly::*;
pub use sender::*;
