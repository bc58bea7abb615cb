//! Scheduled jobs: plain async functions over the ports, taking `now`.

mod planner;

pub use planner::*;
