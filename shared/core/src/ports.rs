//! Ports: what the use cases need from storage. Adapters live in `outreach-store`.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::answer::SessionAnswer;
use crate::audit::AuditEntry;
use crate::campaign::{Campaign, CampaignStatus};
use crate::contact::Channel;
use crate::contact::{Contact, ContactRole};
use crate::cost::DeliveryTally;
use crate::error::CoreResult;
use crate::ids::{CampaignId, ContactId, JobId, SessionId, UnitCode};
use crate::org::{Level, OrgUnit};
use crate::outcome::{SessionRecord, Tally, TallyDelta, YearTallies};
use crate::quarter::Quarter;
use crate::reminder::{Delivery, DeliveryStatus, ReminderJob};
use crate::report::ReportSnapshot;
use crate::session::{Session, SessionStatus};
use crate::target::TargetPlan;
use crate::team::VolunteerTeam;
use crate::zns::ZnsTokenStore;

/// Default page size of a list.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size of a list.
pub const MAX_PAGE_SIZE: u32 = 500;

/// Which page of a list to read. The cursor is opaque and comes from the previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: u32) -> Self {
        Self { limit, cursor: None }
    }
}

/// One page of a list and the cursor of the next, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Filter of the unit list.
#[derive(Debug, Clone, Default)]
pub struct OrgUnitFilter {
    pub level: Option<Level>,
    pub parent_code: Option<UnitCode>,
}

/// Filter of the contact list.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub commune: Option<UnitCode>,
    pub role: Option<ContactRole>,
}

/// Filter of the session list. `from`/`to` bound the start: `from <= starts_at < to`.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub campaign: Option<CampaignId>,
    pub commune: Option<UnitCode>,
    pub status: Option<SessionStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Administrative units, versioned by `(code, valid_from)`.
#[async_trait]
pub trait OrgUnitStore: Send + Sync {
    /// Write a whole import at once: every unit or none. A unit with the same code and
    /// `valid_from` as a stored one replaces it.
    async fn put_org_units(&self, units: &[OrgUnit]) -> CoreResult<()>;
    /// Every stored version of a code, oldest first.
    async fn org_unit_versions(&self, code: &str) -> CoreResult<Vec<OrgUnit>>;
    /// Every version of every unit whose parent is `code`, ordered by code.
    async fn org_unit_children(&self, code: &str) -> CoreResult<Vec<OrgUnit>>;
    /// Every version of every unit under `code`, at any depth and under any parent a unit
    /// had, ordered by code then validity; in one or two reads, not one a unit.
    async fn org_unit_descendants(&self, code: &str) -> CoreResult<Vec<OrgUnit>>;
    /// A page of units (all versions), ordered by code then validity.
    async fn list_org_units(&self, filter: &OrgUnitFilter, page: &PageRequest) -> CoreResult<Page<OrgUnit>>;
}

/// Citizens and volunteers. A phone number belongs to one contact.
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// Add a new contact; `AlreadyExists` when its id or phone number is taken.
    async fn insert_contact(&self, contact: &Contact) -> CoreResult<()>;
    async fn get_contact(&self, id: &ContactId) -> CoreResult<Option<Contact>>;
    async fn find_contact_by_phone(&self, e164: &str) -> CoreResult<Option<Contact>>;
    /// The contacts holding any of these numbers (E.164), each once and in no set order;
    /// numbers nobody holds are left out. A few calls to the database however many numbers
    /// are asked for (an import reads each batch's numbers before it writes).
    async fn find_contacts_by_phones(&self, e164s: &[String]) -> CoreResult<Vec<Contact>>;
    /// Every contact with this email address (compared without case); several people may
    /// share one.
    async fn find_contacts_by_email(&self, email: &str) -> CoreResult<Vec<Contact>>;
    /// Replace a contact whose stored version is `contact.version - 1`; `Conflict` otherwise.
    async fn update_contact(&self, contact: &Contact) -> CoreResult<()>;
    /// A page of contacts ordered by id.
    async fn list_contacts(&self, filter: &ContactFilter, page: &PageRequest) -> CoreResult<Page<Contact>>;
}

/// Campaigns.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Add a new campaign; `AlreadyExists` when its id is taken.
    async fn insert_campaign(&self, campaign: &Campaign) -> CoreResult<()>;
    async fn get_campaign(&self, id: &CampaignId) -> CoreResult<Option<Campaign>>;
    /// Replace a campaign whose stored version is `campaign.version - 1`; `Conflict` otherwise.
    async fn update_campaign(&self, campaign: &Campaign) -> CoreResult<()>;
    /// A page of campaigns, optionally of one status, ordered by id.
    async fn list_campaigns(&self, status: Option<CampaignStatus>, page: &PageRequest) -> CoreResult<Page<Campaign>>;
}

/// Sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Add the sessions not stored yet (by id) and leave the others untouched; returns
    /// how many were new. Running it twice with the same sessions adds nothing.
    async fn insert_sessions_if_absent(&self, sessions: &[Session]) -> CoreResult<usize>;
    async fn get_session(&self, id: &SessionId) -> CoreResult<Option<Session>>;
    /// Replace a session whose stored version is `session.version - 1`; `Conflict` otherwise.
    async fn update_session(&self, session: &Session) -> CoreResult<()>;
    /// A page of sessions ordered by start, then id.
    async fn list_sessions(&self, filter: &SessionFilter, page: &PageRequest) -> CoreResult<Page<Session>>;
}

/// Volunteer teams, one per commune.
#[async_trait]
pub trait TeamStore: Send + Sync {
    /// Create or replace a commune's team. A new team has version 1; a replacement must
    /// carry the stored version + 1, or it is a `Conflict`.
    async fn put_team(&self, team: &VolunteerTeam) -> CoreResult<()>;
    async fn get_team(&self, commune_code: &str) -> CoreResult<Option<VolunteerTeam>>;
}

/// Reminder jobs: one per (session, reminder rule).
#[async_trait]
pub trait ReminderStore: Send + Sync {
    /// Add the jobs not stored yet (by id) and leave the others untouched; returns how
    /// many were new.
    async fn insert_jobs_if_absent(&self, jobs: &[ReminderJob]) -> CoreResult<usize>;
    async fn get_job(&self, id: &JobId) -> CoreResult<Option<ReminderJob>>;
    /// Replace a job whose stored version is `job.version - 1`; `Conflict` otherwise.
    async fn update_job(&self, job: &ReminderJob) -> CoreResult<()>;
    /// Pending jobs with `since <= due_at <= now`, earliest first, at most `limit`.
    async fn due_jobs(&self, since: DateTime<Utc>, now: DateTime<Utc>, limit: u32) -> CoreResult<Vec<ReminderJob>>;
    /// Every job of a session.
    async fn session_jobs(&self, session_id: &SessionId) -> CoreResult<Vec<ReminderJob>>;
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This sender holds the delivery now (the stored record, attempts counted).
    Claimed(Delivery),
    /// Someone else holds it (an unexpired lease) or it is over (a final status).
    Taken(Delivery),
}

/// Filter of the delivery log.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub campaign: Option<CampaignId>,
    pub session: Option<SessionId>,
    pub contact: Option<ContactId>,
    pub status: Option<DeliveryStatus>,
}

/// Deliveries: exactly one record per (session, rule, contact, channel).
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Claim a delivery for sending, atomically: create it from `claim` if it does not
    /// exist, or take it over when it is `retrying` or its lease ended before `now`
    /// (then with `attempts` and `version` one more than stored). Otherwise `Taken`.
    async fn claim_delivery(&self, claim: &Delivery, now: DateTime<Utc>) -> CoreResult<Claim>;
    /// Record the outcome of a claimed delivery: replaces the record whose stored version
    /// is `delivery.version - 1`; `Conflict` otherwise.
    async fn record_delivery(&self, delivery: &Delivery) -> CoreResult<()>;
    /// Record a delivery's final outcome (as `record_delivery`) and add `tally` to the
    /// running delivery tallies, atomically: a delivery settled once is tallied once, and a
    /// repeat of the same settle (stale version) is a `Conflict` that adds nothing.
    async fn settle_delivery(&self, delivery: &Delivery, tally: &DeliveryTally) -> CoreResult<()>;
    /// The delivery tallies of these communes on local days `from..=to`, in a number of
    /// reads that depends on the days, never on the deliveries.
    async fn delivery_tallies(
        &self,
        communes: &[UnitCode],
        from: NaiveDate,
        to: NaiveDate,
    ) -> CoreResult<Vec<DeliveryTally>>;
    /// A delivery by its campaign and id (the campaign is part of its key on DynamoDB).
    async fn get_delivery(&self, campaign_id: &CampaignId, id: &str) -> CoreResult<Option<Delivery>>;
    /// A page of the delivery log, in an order stable for paging (by id on SQLite; by the
    /// index's sort key on DynamoDB).
    async fn list_deliveries(&self, filter: &DeliveryFilter, page: &PageRequest) -> CoreResult<Page<Delivery>>;
    /// Messages sent to a contact on a channel with `updated_at >= since`.
    async fn count_sent_since(
        &self,
        contact_id: &ContactId,
        channel: Channel,
        since: DateTime<Utc>,
    ) -> CoreResult<usize>;
}

/// What happened at sessions, and the running tallies reports read.
#[async_trait]
pub trait OutcomeStore: Send + Sync {
    async fn get_session_record(&self, session_id: &SessionId) -> CoreResult<Option<SessionRecord>>;
    /// Write a session's record and apply `deltas` to the tallies, atomically: all or
    /// nothing. A record with version 1 must be new; any other must replace the stored
    /// version `record.version - 1`. `Conflict` otherwise, with nothing written.
    async fn save_session_record(&self, record: &SessionRecord, deltas: &[TallyDelta]) -> CoreResult<()>;
    /// Set tallies to these values (official statistics), all or nothing.
    async fn set_tallies(&self, tallies: &[Tally]) -> CoreResult<()>;
    /// Every tally of `through`'s year in its quarters 1 to `through`.
    async fn year_tallies(&self, through: Quarter) -> CoreResult<YearTallies>;
}

/// Yearly targets.
#[async_trait]
pub trait TargetStore: Send + Sync {
    /// Create or replace targets (by year, unit and metric), all or nothing.
    async fn put_targets(&self, targets: &[TargetPlan]) -> CoreResult<()>;
    /// Every target of a year.
    async fn year_targets(&self, year: i32) -> CoreResult<Vec<TargetPlan>>;
}

/// Frozen quarterly reports, kept by revision.
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    /// Add a snapshot; `AlreadyExists` when its revision is taken.
    async fn insert_snapshot(&self, snapshot: &ReportSnapshot) -> CoreResult<()>;
    /// A revision of a unit's quarter, or its latest when `revision` is None.
    async fn get_snapshot(
        &self,
        org_code: &str,
        quarter: Quarter,
        revision: Option<u32>,
    ) -> CoreResult<Option<ReportSnapshot>>;
    /// The revisions kept for a unit's quarter, oldest first, with when they were made.
    async fn snapshot_revisions(&self, org_code: &str, quarter: Quarter) -> CoreResult<Vec<(u32, DateTime<Utc>)>>;
}

/// The audit log, one partition per year.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Add an entry; entries are never changed.
    async fn append_audit(&self, entry: &AuditEntry) -> CoreResult<()>;
    /// A page of a year's entries, oldest first.
    async fn list_audit(&self, year: i32, page: &PageRequest) -> CoreResult<Page<AuditEntry>>;
}

/// People's answers to reminders that asked whether they will come.
#[async_trait]
pub trait AnswerStore: Send + Sync {
    /// Keep `answer` as the person's answer for the session unless a later one (by
    /// `answered_at`) is stored: true when it was kept. Two answers at once keep the later.
    async fn put_answer(&self, answer: &SessionAnswer) -> CoreResult<bool>;
    /// Every answer for a session.
    async fn session_answers(&self, session_id: &SessionId) -> CoreResult<Vec<SessionAnswer>>;
    /// Every answer a contact gave (their export).
    async fn contact_answers(&self, contact_id: &ContactId) -> CoreResult<Vec<SessionAnswer>>;
    /// Remove every answer of a contact (their erasure); how many there were.
    async fn delete_contact_answers(&self, contact_id: &ContactId) -> CoreResult<usize>;
}

/// Everything the use cases need from storage.
pub trait Store:
    OrgUnitStore
    + ContactStore
    + CampaignStore
    + SessionStore
    + TeamStore
    + ReminderStore
    + DeliveryStore
    + OutcomeStore
    + TargetStore
    + SnapshotStore
    + AuditStore
    + ZnsTokenStore
    + AnswerStore
{
}

impl<T> Store for T where
    T: OrgUnitStore
        + ContactStore
        + CampaignStore
        + SessionStore
        + TeamStore
        + ReminderStore
        + DeliveryStore
        + OutcomeStore
        + TargetStore
        + SnapshotStore
        + AuditStore
        + ZnsTokenStore
        + AnswerStore
{
}

/// Where the current time comes from: the system clock in production, a fixed or
/// stepped clock in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
