//! The domain of outreach: administrative units, contacts, campaigns, sessions and
//! volunteer teams; the rules they obey; the ports storage must offer; and the use cases
//! and jobs built over them. Nothing here knows AWS, SQL or HTTP.

pub mod answer;
pub mod audit;
pub mod campaign;
pub mod contact;
pub mod cost;
pub mod error;
pub mod ids;
pub mod jobs;
pub mod names;
pub mod notify;
pub mod org;
pub mod outcome;
pub mod phone;
pub mod ports;
pub mod privacy;
pub mod quarter;
pub mod reminder;
pub mod report;
pub mod schedule;
pub mod session;
pub mod sms;
pub mod target;
pub mod team;
pub mod template;
pub mod testing;
pub mod usecases;
pub mod zns;

pub use error::{CoreError, CoreResult, RowError};
