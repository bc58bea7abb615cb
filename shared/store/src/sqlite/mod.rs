//! `SqliteStore`: the embedded store, one file in WAL mode.

mod answers;
mod audit;
mod campaigns;
mod contacts;
mod deliveries;
mod migrations;
mod queue;
mod reminders;
mod reports;
mod sessions;
mod sql;
mod teams;
mod units;
mod worker;
mod zns;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use outreach_core::campaign::{Campaign, CampaignStatus};
use outreach_core::contact::Channel;
use outreach_core::contact::Contact;
use outreach_core::error::{CoreError, CoreResult};
use outreach_core::ids::{CampaignId, ContactId, JobId, SessionId, UnitCode};
use outreach_core::org::OrgUnit;
use outreach_core::ports::{
    CampaignStore, Claim, ContactFilter, ContactStore, DeliveryFilter, DeliveryStore, MAX_PAGE_SIZE, OrgUnitFilter,
    OrgUnitStore, Page, PageRequest, ReminderStore, SessionFilter, SessionStore, TeamStore,
};
use outreach_core::reminder::{Delivery, DeliveryStatus, JobStatus, ReminderJob};
use outreach_core::session::Session;
use outreach_core::team::VolunteerTeam;
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;
use crate::cursor;
use sql::*;
use worker::*;

/// The embedded store: one SQLite file, WAL mode, schema migrated on open.
///
/// One connection serves every call in turn, on a thread of its own: calls queue for it,
/// and the calls found waiting together run in one transaction (group commit), each
/// answered once that transaction is committed. Under load this writes each busy page once
/// per group instead of once per call; alone, a call runs exactly as it would by itself.
#[derive(Clone)]
pub struct SqliteStore {
    worker: Arc<Worker>,
    /// Subtrees of the unit tree already read (every API request reads its caller's area),
    /// valid while no connection has changed the database (`PRAGMA data_version`) and this
    /// store has written no unit.
    subtrees: Arc<std::sync::Mutex<Subtrees>>,
    /// Each year's tallies already read (every report reads its year's), valid while no
    /// connection has changed the database (`PRAGMA data_version`) and this store has
    /// written no tally.
    year_tallies: Arc<std::sync::Mutex<YearTallies>>,
}

#[derive(Default)]
struct Subtrees {
    /// The `data_version` the entries were read at; `None` after a write of units.
    data_version: Option<i64>,
    by_code: HashMap<String, Vec<OrgUnit>>,
}

#[derive(Default)]
struct YearTallies {
    /// The `data_version` the entries were read at.
    data_version: Option<i64>,
    /// Tally writes under way (from before they are queued until they are answered, so
    /// until their transaction has committed or been undone): while any is, what is read
    /// may be uncommitted, and is not kept.
    writing: usize,
    /// A year's tallies, ordered by quarter, unit and metric.
    by_year: HashMap<i32, Arc<Vec<outreach_core::outcome::Tally>>>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use outreach_core::contact::{Consent, ContactRole};
    use outreach_core::phone::Phone;

    use super::*;

    fn contact(i: usize, phone: &str) -> Contact {
        let at = Utc.with_ymd_and_hms(2026, 9, 1, 2, 0, 0).unwrap();
        Contact {
            id: format!("ct_{i:03}").into(),
            role: ContactRole::Citizen,
            name: format!("Công dân {i}"),
            commune_code: "07441".into(),
            phone: Some(Phone::parse(phone).unwrap()),
            email: None,
            consents: vec![Consent {
                channel: Channel::Sms,
                granted_at: at,
                method: "paper_form".into(),
                wording_version: "v1".into(),
                recorded_by: None,
            }],
            opt_outs: vec![],
            created_at: at,
            updated_at: at,
            erased_at: None,
            version: 1,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_committed_together_are_answered_each_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("group.db")).unwrap();
        // 60 inserts at once, one of them reusing a phone number: they queue up and run in
        // groups; the refused one fails alone and everything else is kept.
        let calls = (0..60).map(|i| {
            let store = store.clone();
            let phone = if i == 59 {
                "0912000000".to_string()
            } else {
                format!("0912{i:06}")
            };
            tokio::spawn(async move { store.insert_contact(&contact(i, &phone)).await })
        });
        let mut refused = 0;
        for call in calls.collect::<Vec<_>>() {
            match call.await.unwrap() {
                Ok(()) => {}
                Err(CoreError::AlreadyExists { .. }) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(refused, 1);
        let page = store
            .list_contacts(&ContactFilter::default(), &PageRequest::first(100))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 59);
        drop(store);
        // Dropping the last handle closed the connection: a new one sees everything.
        let again = SqliteStore::open(dir.path().join("group.db")).unwrap();
        assert!(again.get_contact(&"ct_058".into()).await.unwrap().is_some());
    }
}
