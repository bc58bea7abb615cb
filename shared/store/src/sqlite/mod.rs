//! `SqliteStore`: the embedded store, one file in WAL mode.

mod audit;
mod migrations;
mod reports;

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
use outreach_core::org::OrgUnit;
use outreach_core::ports::{
    CampaignStore, Claim, ContactFilter, ContactStore, DeliveryFilter, DeliveryStore, MAX_PAGE_SIZE, OrgUnitFilter,
    OrgUnitStore, Page, PageRequest, ReminderStore, SessionFilter, SessionStore, TeamStore,
};
use outreach_core::reminder::{Delivery, DeliveryStatus, JobStatus, ReminderJob};
use outreach_core::session::Session;
use outreach_core::team::VolunteerTeam;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;
use crate::cursor;

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
}

#[derive(Default)]
struct Subtrees {
    /// The `data_version` the entries were read at; `None` after a write of units.
    data_version: Option<i64>,
    by_code: HashMap<String, Vec<OrgUnit>>,
}

/// A call waiting for the connection: it runs, then says how to answer its caller once
/// the transaction it ran in is over.
type Job = Box<dyn FnOnce(&mut Connection) -> Answer + Send>;
/// Answers a caller: with its result once its writes are committed, or with the error that
/// undid them.
type Answer = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;

/// Calls run together in one transaction at most.
const GROUP_LIMIT: usize = 128;

/// The connection's thread and the queue to it; dropping the last handle closes the
/// connection (checkpointing the WAL) before it returns.
struct Worker {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            // The thread only ends once the queue is closed; a panic there was already
            // answered to its callers.
            let _ = thread.join();
        }
    }
}

impl SqliteStore {
    /// Open (creating if needed) the database file and bring its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Overwrite what a change removes, so an erased contact's data does not linger in
        // free pages of the file.
        conn.pragma_update(None, "secure_delete", "ON")?;
        // Room for the busy pages of a large audience (negative: KiB), and a WAL that is
        // copied back less often: each copy writes a hot page once, however often it changed.
        conn.pragma_update(None, "cache_size", -32 * 1024)?;
        conn.pragma_update(None, "wal_autocheckpoint", 8000)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrations::migrate(&mut conn)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("outreach-sqlite".into())
            .spawn(move || serve(conn, queue))
            .map_err(|e| {
                failure(
                    rusqlite::ffi::SQLITE_CANTOPEN,
                    format!("cannot start the store's thread: {e}"),
                )
            })?;
        Ok(Self {
            worker: Arc::new(Worker {
                jobs: Some(jobs),
                thread: Some(thread),
            }),
            subtrees: Arc::default(),
        })
    }

    /// The schema version this build migrates to.
    pub fn latest_schema_version() -> usize {
        migrations::latest_version()
    }

    /// The journal mode of the open database (`wal` once opened by this store).
    pub async fn journal_mode(&self) -> CoreResult<String> {
        self.call(|c| Ok(c.pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0))?))
            .await
    }

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> CoreResult<usize> {
        self.call(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize))
            .await
    }

    /// Run blocking SQLite work on the connection's thread, off the async runtime.
    async fn call<T, F>(&self, f: F) -> CoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            Box::new(move |undone: Option<&rusqlite::Error>| {
                let result = match (result, undone) {
                    (Ok(_), Some(e)) => Err(StoreError::Sqlite(copy_error(e))),
                    (result, _) => result,
                };
                // A caller that went away no longer wants the answer.
                let _ = reply.send(result);
            })
        });
        let queued = self.worker.jobs.as_ref().map(|jobs| jobs.send(job));
        if !matches!(queued, Some(Ok(()))) {
            return Err(stopped().into());
        }
        answer.await.map_err(|_| stopped())?.map_err(CoreError::from)
    }
}

/// The connection's thread: take the calls waiting, run them, answer them.
fn serve(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_LIMIT {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        run_group(&mut conn, group);
    }
}

/// Run a group of calls in one transaction and answer each once it is committed. A call
/// alone runs by itself, exactly as it would without the group; so do the calls of a group
/// when the write lock cannot be had (another process holds it past the busy timeout).
fn run_group(conn: &mut Connection, group: Vec<Job>) {
    if group.len() == 1 || conn.execute_batch("BEGIN IMMEDIATE").is_err() {
        for job in group {
            if let Some(answer) = run_one(conn, job) {
                answer(None);
            }
        }
        return;
    }
    let mut answers = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    while let Some(job) = jobs.next() {
        answers.push(run_one(conn, job));
        if conn.is_autocommit() {
            // SQLite rolled the transaction back (disk full, I/O error): what the group
            // wrote so far is undone, so are those calls; the rest run in a group of their own.
            let undone = failure(rusqlite::ffi::SQLITE_ABORT, "the transaction was rolled back".into());
            answers.into_iter().flatten().for_each(|answer| answer(Some(&undone)));
            let rest: Vec<Job> = jobs.collect();
            if !rest.is_empty() {
                run_group(conn, rest);
            }
            return;
        }
    }
    let committed = conn.execute_batch("COMMIT");
    if committed.is_err() && !conn.is_autocommit() {
        // Leave the connection usable for the next group; nothing of this one was kept.
        let _ = conn.execute_batch("ROLLBACK");
    }
    let undone = committed.err();
    answers.into_iter().flatten().for_each(|answer| answer(undone.as_ref()));
}

/// Run one call; a panic is caught here (it rolled back any savepoint it held) so the
/// connection's thread keeps serving, and its caller hears the store failed.
fn run_one(conn: &mut Connection, job: Job) -> Option<Answer> {
    catch_unwind(AssertUnwindSafe(|| job(conn))).ok()
}

fn failure(code: std::os::raw::c_int, message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(message))
}

/// The store's thread did not answer a call: the call panicked there, or the thread is gone.
fn stopped() -> StoreError {
    StoreError::Sqlite(failure(
        rusqlite::ffi::SQLITE_ABORT,
        "the store's connection thread stopped serving this call".into(),
    ))
}

/// The same error again, for each caller of a group that one error undid.
fn copy_error(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => rusqlite::Error::SqliteFailure(*code, message.clone()),
        other => failure(rusqlite::ffi::SQLITE_ERROR, other.to_string()),
    }
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    Ok(serde_json::to_string(v)?)
}

fn from_json<T: DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(s)?)
}

fn limit_of(page: &PageRequest) -> i64 {
    i64::from(page.limit.clamp(1, MAX_PAGE_SIZE))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// Run a keyset-paginated query: `sql` holds `{after}` where the cursor condition goes
/// and ends with `ORDER BY … LIMIT ?`; `key` gives the sort key of an item.
fn paged<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    mut args: Vec<Value>,
    key_columns: &[&str],
    page: &PageRequest,
    key: impl Fn(&T) -> Vec<String>,
) -> Result<Page<T>, StoreError> {
    let after = match &page.cursor {
        Some(c) => {
            let parts = cursor::decode(c, key_columns.len())?;
            let cols = key_columns.join(", ");
            let marks = vec!["?"; key_columns.len()].join(", ");
            args.extend(parts.into_iter().map(Value::Text));
            format!("AND ({cols}) > ({marks})")
        }
        None => String::new(),
    };
    let limit = limit_of(page);
    args.push(Value::Integer(limit + 1));
    let sql = sql.replace("{after}", &after);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut items: Vec<T> = stmt
        .query_map(params_from_iter(args), |r| r.get::<_, String>(0))?
        .map(|row| from_json(&row?))
        .collect::<Result<_, _>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|last| {
            let k = key(last);
            cursor::encode(&k.iter().map(String::as_str).collect::<Vec<_>>())
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

fn valid_from_key(u: &OrgUnit) -> String {
    u.valid_from.map(|d| d.to_string()).unwrap_or_default()
}

#[async_trait]
impl OrgUnitStore for SqliteStore {
    async fn put_org_units(&self, units: &[OrgUnit]) -> CoreResult<()> {
        let units = units.to_vec();
        let subtrees = Arc::clone(&self.subtrees);
        let written = self.call(move |c| {
            // Forget what was read before this write, whether it commits or not.
            *subtrees.lock().unwrap_or_else(|p| p.into_inner()) = Subtrees::default();
            let tx = c.savepoint()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR REPLACE INTO org_units (code, valid_from, parent_code, level, data) VALUES (?, ?, ?, ?, ?)",
                )?;
                for u in &units {
                    stmt.execute(params![u.code, valid_from_key(u), u.parent_code, u.level.as_str(), to_json(u)?])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await;
        // And what was read while it was uncommitted: the group it ran in may have been undone.
        *self.subtrees.lock().unwrap_or_else(|p| p.into_inner()) = Subtrees::default();
        written
    }

    async fn org_unit_versions(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        let code = code.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare_cached("SELECT data FROM org_units WHERE code = ? ORDER BY valid_from")?;
            let rows = stmt.query_map([code], |r| r.get::<_, String>(0))?;
            rows.map(|r| from_json(&r?)).collect()
        })
        .await
    }

    async fn org_unit_children(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        let code = code.to_string();
        self.call(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT data FROM org_units WHERE parent_code = ? ORDER BY code, valid_from")?;
            let rows = stmt.query_map([code], |r| r.get::<_, String>(0))?;
            rows.map(|r| from_json(&r?)).collect()
        })
        .await
    }

    async fn org_unit_descendants(&self, code: &str) -> CoreResult<Vec<OrgUnit>> {
        let code = code.to_string();
        let subtrees = Arc::clone(&self.subtrees);
        self.call(move |c| {
            let version: i64 = c.pragma_query_value(None, "data_version", |r| r.get(0))?;
            let mut cache = subtrees.lock().unwrap_or_else(|p| p.into_inner());
            if cache.data_version != Some(version) {
                *cache = Subtrees {
                    data_version: Some(version),
                    by_code: HashMap::new(),
                };
            }
            if let Some(units) = cache.by_code.get(&code) {
                return Ok(units.clone());
            }
            // UNION (not UNION ALL) keeps each code once, so a cycle cannot run forever.
            let mut stmt = c.prepare_cached(
                "WITH RECURSIVE under(code) AS (
                     SELECT ?1
                     UNION
                     SELECT u.code FROM org_units u JOIN under ON u.parent_code = under.code
                 )
                 SELECT data FROM org_units WHERE parent_code IN (SELECT code FROM under)
                 ORDER BY code, valid_from",
            )?;
            let rows = stmt.query_map([&code], |r| r.get::<_, String>(0))?;
            let units: Vec<OrgUnit> = rows.map(|r| from_json(&r?)).collect::<Result<_, _>>()?;
            cache.by_code.insert(code, units.clone());
            Ok(units)
        })
        .await
    }

    async fn list_org_units(&self, filter: &OrgUnitFilter, page: &PageRequest) -> CoreResult<Page<OrgUnit>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.call(move |c| {
            let mut sql = "SELECT data FROM org_units WHERE 1 = 1".to_string();
            let mut args = Vec::new();
            if let Some(level) = filter.level {
                sql.push_str(" AND level = ?");
                args.push(Value::Text(level.as_str().into()));
            }
            if let Some(parent) = filter.parent_code {
                sql.push_str(" AND parent_code = ?");
                args.push(Value::Text(parent));
            }
            sql.push_str(" {after} ORDER BY code, valid_from LIMIT ?");
            paged(c, &sql, args, &["code", "valid_from"], &page, |u: &OrgUnit| {
                vec![u.code.clone(), valid_from_key(u)]
            })
        })
        .await
    }
}

#[async_trait]
impl ContactStore for SqliteStore {
    async fn insert_contact(&self, contact: &Contact) -> CoreResult<()> {
        let contact = contact.clone();
        self.call(move |c| {
            let inserted = c.execute(
                "INSERT INTO contacts (id, phone, commune_code, role, version, data, email) VALUES (?, ?, ?, ?, ?, ?, ?)",
                params![
                    contact.id,
                    phone_key(&contact),
                    contact.commune_code,
                    contact.role.as_str(),
                    contact.version as i64,
                    to_json(&contact)?,
                    contact.email.as_deref().map(str::to_lowercase)
                ],
            );
            match inserted {
                Ok(_) => Ok(Ok(())),
                Err(e) if is_unique_violation(&e) => Ok(Err(CoreError::AlreadyExists {
                    entity: "contact",
                    id: contact.id.clone(),
                })),
                Err(e) => Err(e.into()),
            }
        })
        .await?
    }

    async fn get_contact(&self, id: &str) -> CoreResult<Option<Contact>> {
        let id = id.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM contacts WHERE id = ?", &id))
            .await
    }

    async fn find_contact_by_phone(&self, e164: &str) -> CoreResult<Option<Contact>> {
        let phone = e164.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM contacts WHERE phone = ?", &phone))
            .await
    }

    async fn find_contacts_by_email(&self, email: &str) -> CoreResult<Vec<Contact>> {
        let email = email.trim().to_lowercase();
        self.call(move |c| {
            let mut stmt = c.prepare_cached("SELECT data FROM contacts WHERE email = ? ORDER BY id")?;
            let rows = stmt.query_map([email], |r| r.get::<_, String>(0))?;
            rows.map(|r| from_json(&r?)).collect()
        })
        .await
    }

    async fn update_contact(&self, contact: &Contact) -> CoreResult<()> {
        let contact = contact.clone();
        self.call(move |c| {
            let result = c.execute(
                "UPDATE contacts SET phone = ?, commune_code = ?, role = ?, version = ?, data = ?, email = ?
                 WHERE id = ? AND version = ?",
                params![
                    phone_key(&contact),
                    contact.commune_code,
                    contact.role.as_str(),
                    contact.version as i64,
                    to_json(&contact)?,
                    contact.email.as_deref().map(str::to_lowercase),
                    contact.id,
                    contact.version as i64 - 1
                ],
            );
            match result {
                Ok(1) => Ok(Ok(())),
                Ok(_) => Ok(Err(stale("contact", &contact.id))),
                Err(e) if is_unique_violation(&e) => Ok(Err(CoreError::AlreadyExists {
                    entity: "contact with phone",
                    id: contact.masked_phone(),
                })),
                Err(e) => Err(e.into()),
            }
        })
        .await?
    }

    async fn list_contacts(&self, filter: &ContactFilter, page: &PageRequest) -> CoreResult<Page<Contact>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.call(move |c| {
            let mut sql = "SELECT data FROM contacts WHERE 1 = 1".to_string();
            let mut args = Vec::new();
            if let Some(commune) = filter.commune {
                sql.push_str(" AND commune_code = ?");
                args.push(Value::Text(commune));
            }
            if let Some(role) = filter.role {
                sql.push_str(" AND role = ?");
                args.push(Value::Text(role.as_str().into()));
            }
            sql.push_str(" {after} ORDER BY id LIMIT ?");
            paged(c, &sql, args, &["id"], &page, |x: &Contact| vec![x.id.clone()])
        })
        .await
    }
}

/// The unique `phone` column: the number, or for an erased contact (who has none) a key
/// that cannot be one.
fn phone_key(contact: &Contact) -> String {
    match &contact.phone {
        Some(phone) => phone.e164.clone(),
        None => format!("erased:{}", contact.id),
    }
}

fn get_json<T: DeserializeOwned>(c: &Connection, sql: &str, key: &str) -> Result<Option<T>, StoreError> {
    let data: Option<String> = c.prepare_cached(sql)?.query_row([key], |r| r.get(0)).optional()?;
    data.map(|d| from_json(&d)).transpose()
}

fn stale(entity: &str, id: &str) -> CoreError {
    CoreError::Conflict(format!(
        "{entity} {id} was changed by someone else (or does not exist); reload and retry"
    ))
}

#[async_trait]
impl CampaignStore for SqliteStore {
    async fn insert_campaign(&self, campaign: &Campaign) -> CoreResult<()> {
        let campaign = campaign.clone();
        self.call(move |c| {
            let inserted = c.execute(
                "INSERT INTO campaigns (id, status, version, data) VALUES (?, ?, ?, ?)",
                params![
                    campaign.id,
                    campaign.status.as_str(),
                    campaign.version as i64,
                    to_json(&campaign)?
                ],
            );
            match inserted {
                Ok(_) => Ok(Ok(())),
                Err(e) if is_unique_violation(&e) => Ok(Err(CoreError::AlreadyExists {
                    entity: "campaign",
                    id: campaign.id.clone(),
                })),
                Err(e) => Err(e.into()),
            }
        })
        .await?
    }

    async fn get_campaign(&self, id: &str) -> CoreResult<Option<Campaign>> {
        let id = id.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM campaigns WHERE id = ?", &id))
            .await
    }

    async fn update_campaign(&self, campaign: &Campaign) -> CoreResult<()> {
        let campaign = campaign.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE campaigns SET status = ?, version = ?, data = ? WHERE id = ? AND version = ?",
                params![
                    campaign.status.as_str(),
                    campaign.version as i64,
                    to_json(&campaign)?,
                    campaign.id,
                    campaign.version as i64 - 1
                ],
            )?;
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(stale("campaign", &campaign.id))
            })
        })
        .await?
    }

    async fn list_campaigns(&self, status: Option<CampaignStatus>, page: &PageRequest) -> CoreResult<Page<Campaign>> {
        let page = page.clone();
        self.call(move |c| {
            let (sql, args) = match status {
                Some(s) => (
                    "SELECT data FROM campaigns WHERE status = ? {after} ORDER BY id LIMIT ?",
                    vec![Value::Text(s.as_str().into())],
                ),
                None => (
                    "SELECT data FROM campaigns WHERE 1 = 1 {after} ORDER BY id LIMIT ?",
                    vec![],
                ),
            };
            paged(c, sql, args, &["id"], &page, |x: &Campaign| vec![x.id.clone()])
        })
        .await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_sessions_if_absent(&self, sessions: &[Session]) -> CoreResult<usize> {
        if sessions.is_empty() {
            return Ok(0);
        }
        let sessions = sessions.to_vec();
        self.call(move |c| {
            let tx = c.savepoint()?;
            let mut created = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO sessions (id, campaign_id, commune_code, starts_at, status, version, data)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )?;
                for s in &sessions {
                    created += stmt.execute(params![
                        s.id,
                        s.campaign_id,
                        s.commune_code,
                        instant(s.starts_at),
                        s.status.as_str(),
                        s.version as i64,
                        to_json(s)?
                    ])?;
                }
            }
            tx.commit()?;
            Ok(created)
        })
        .await
    }

    async fn get_session(&self, id: &str) -> CoreResult<Option<Session>> {
        let id = id.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM sessions WHERE id = ?", &id))
            .await
    }

    async fn update_session(&self, session: &Session) -> CoreResult<()> {
        let session = session.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE sessions SET starts_at = ?, status = ?, version = ?, data = ? WHERE id = ? AND version = ?",
                params![
                    instant(session.starts_at),
                    session.status.as_str(),
                    session.version as i64,
                    to_json(&session)?,
                    session.id,
                    session.version as i64 - 1
                ],
            )?;
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(stale("session", &session.id))
            })
        })
        .await?
    }

    async fn list_sessions(&self, filter: &SessionFilter, page: &PageRequest) -> CoreResult<Page<Session>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.call(move |c| {
            let mut sql = "SELECT data FROM sessions WHERE 1 = 1".to_string();
            let mut args = Vec::new();
            if let Some(campaign) = filter.campaign {
                sql.push_str(" AND campaign_id = ?");
                args.push(Value::Text(campaign));
            }
            if let Some(commune) = filter.commune {
                sql.push_str(" AND commune_code = ?");
                args.push(Value::Text(commune));
            }
            if let Some(status) = filter.status {
                sql.push_str(" AND status = ?");
                args.push(Value::Text(status.as_str().into()));
            }
            if let Some(from) = filter.from {
                sql.push_str(" AND starts_at >= ?");
                args.push(Value::Text(instant(from)));
            }
            if let Some(to) = filter.to {
                sql.push_str(" AND starts_at < ?");
                args.push(Value::Text(instant(to)));
            }
            sql.push_str(" {after} ORDER BY starts_at, id LIMIT ?");
            paged(c, &sql, args, &["starts_at", "id"], &page, |s: &Session| {
                vec![instant(s.starts_at), s.id.clone()]
            })
        })
        .await
    }
}

#[async_trait]
impl TeamStore for SqliteStore {
    async fn put_team(&self, team: &VolunteerTeam) -> CoreResult<()> {
        let team = team.clone();
        self.call(move |c| {
            let n = if team.version == 1 {
                c.execute(
                    "INSERT OR IGNORE INTO teams (commune_code, version, data) VALUES (?, 1, ?)",
                    params![team.commune_code, to_json(&team)?],
                )?
            } else {
                c.execute(
                    "UPDATE teams SET version = ?, data = ? WHERE commune_code = ? AND version = ?",
                    params![
                        team.version as i64,
                        to_json(&team)?,
                        team.commune_code,
                        team.version as i64 - 1
                    ],
                )?
            };
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(stale("volunteer team", &team.commune_code))
            })
        })
        .await?
    }

    async fn get_team(&self, commune_code: &str) -> CoreResult<Option<VolunteerTeam>> {
        let code = commune_code.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM teams WHERE commune_code = ?", &code))
            .await
    }
}

fn channel_str(c: Channel) -> &'static str {
    match c {
        Channel::Sms => "sms",
        Channel::Email => "email",
    }
}

#[async_trait]
impl ReminderStore for SqliteStore {
    async fn insert_jobs_if_absent(&self, jobs: &[ReminderJob]) -> CoreResult<usize> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let jobs = jobs.to_vec();
        self.call(move |c| {
            let tx = c.savepoint()?;
            let mut created = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO reminder_jobs (id, session_id, status, due_at, version, data)
                     VALUES (?, ?, ?, ?, ?, ?)",
                )?;
                for j in &jobs {
                    created += stmt.execute(params![
                        j.id,
                        j.session_id,
                        j.status.as_str(),
                        instant(j.due_at),
                        j.version as i64,
                        to_json(j)?
                    ])?;
                }
            }
            tx.commit()?;
            Ok(created)
        })
        .await
    }

    async fn get_job(&self, id: &str) -> CoreResult<Option<ReminderJob>> {
        let id = id.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM reminder_jobs WHERE id = ?", &id))
            .await
    }

    async fn update_job(&self, job: &ReminderJob) -> CoreResult<()> {
        let job = job.clone();
        self.call(move |c| {
            let n = c.execute(
                "UPDATE reminder_jobs SET status = ?, due_at = ?, version = ?, data = ? WHERE id = ? AND version = ?",
                params![
                    job.status.as_str(),
                    instant(job.due_at),
                    job.version as i64,
                    to_json(&job)?,
                    job.id,
                    job.version as i64 - 1
                ],
            )?;
            Ok(if n == 1 {
                Ok(())
            } else {
                Err(stale("reminder job", &job.id))
            })
        })
        .await?
    }

    async fn due_jobs(&self, since: DateTime<Utc>, now: DateTime<Utc>, limit: u32) -> CoreResult<Vec<ReminderJob>> {
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT data FROM reminder_jobs WHERE status = ? AND due_at >= ? AND due_at <= ?
                 ORDER BY due_at, id LIMIT ?",
            )?;
            let rows = stmt.query_map(
                params![
                    JobStatus::Pending.as_str(),
                    instant(since),
                    instant(now),
                    i64::from(limit)
                ],
                |r| r.get::<_, String>(0),
            )?;
            rows.map(|r| from_json(&r?)).collect()
        })
        .await
    }

    async fn session_jobs(&self, session_id: &str) -> CoreResult<Vec<ReminderJob>> {
        let id = session_id.to_string();
        self.call(move |c| {
            let mut stmt = c.prepare_cached("SELECT data FROM reminder_jobs WHERE session_id = ? ORDER BY id")?;
            let rows = stmt.query_map([id], |r| r.get::<_, String>(0))?;
            rows.map(|r| from_json(&r?)).collect()
        })
        .await
    }
}

fn insert_delivery(c: &Connection, d: &Delivery) -> Result<usize, StoreError> {
    // A fresh claim; one that exists already is answered by the caller from the stored record.
    let mut stmt = c.prepare_cached(
        "INSERT INTO deliveries
         (id, campaign_id, session_id, contact_id, channel, status, updated_at, lease_until, version, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )?;
    Ok(stmt.execute(params![
        d.id,
        d.campaign_id,
        d.session_id,
        d.contact_id,
        channel_str(d.channel),
        d.status.as_str(),
        instant(d.updated_at),
        instant(d.lease_until),
        d.version as i64,
        to_json(d)?
    ])?)
}

/// Replace the delivery stored at `d.version - 1`. Only the columns that change over a
/// delivery's life are set: its campaign, session, contact and channel are those its id
/// names, and leaving them (and the key) alone spares the indexes over them a rewrite.
fn update_delivery(c: &Connection, d: &Delivery) -> Result<usize, StoreError> {
    let mut stmt = c.prepare_cached(
        "UPDATE deliveries SET status = ?, updated_at = ?, lease_until = ?, version = ?, data = ?
         WHERE id = ? AND version = ?",
    )?;
    Ok(stmt.execute(params![
        d.status.as_str(),
        instant(d.updated_at),
        instant(d.lease_until),
        d.version as i64,
        to_json(d)?,
        d.id,
        d.version as i64 - 1
    ])?)
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn claim_delivery(&self, claim: &Delivery, now: DateTime<Utc>) -> CoreResult<Claim> {
        let claim = claim.clone();
        self.call(move |c| {
            // Most claims are new: the insert alone settles them, atomically.
            if insert_delivery(c, &claim)? == 1 {
                return Ok(Claim::Claimed(claim));
            }
            // One connection serves every call in turn, so read-then-write inside a
            // transaction (a savepoint inside a group) is atomic against other claims.
            let tx = c.savepoint()?;
            let data: String = tx
                .prepare_cached("SELECT data FROM deliveries WHERE id = ?")?
                .query_row([&claim.id], |r| r.get(0))?;
            let stored: Delivery = from_json(&data)?;
            let free = stored.status == DeliveryStatus::Retrying
                || (stored.status == DeliveryStatus::Claimed && stored.lease_until < now);
            let result = if free {
                let taken = Delivery {
                    status: DeliveryStatus::Claimed,
                    attempts: stored.attempts + 1,
                    lease_until: claim.lease_until,
                    updated_at: claim.updated_at,
                    version: stored.version + 1,
                    ..stored
                };
                update_delivery(&tx, &taken)?;
                Claim::Claimed(taken)
            } else {
                Claim::Taken(stored)
            };
            tx.commit()?;
            Ok(result)
        })
        .await
    }

    async fn record_delivery(&self, delivery: &Delivery) -> CoreResult<()> {
        let d = delivery.clone();
        self.call(move |c| {
            let n = update_delivery(c, &d)?;
            Ok(if n == 1 { Ok(()) } else { Err(stale("delivery", &d.id)) })
        })
        .await?
    }

    async fn get_delivery(&self, _campaign_id: &str, id: &str) -> CoreResult<Option<Delivery>> {
        let id = id.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM deliveries WHERE id = ?", &id))
            .await
    }

    async fn list_deliveries(&self, filter: &DeliveryFilter, page: &PageRequest) -> CoreResult<Page<Delivery>> {
        if filter.campaign.is_none() && filter.session.is_none() && filter.contact.is_none() {
            return Err(CoreError::invalid("filter", "name a campaign, a session or a contact"));
        }
        let (filter, page) = (filter.clone(), page.clone());
        self.call(move |c| {
            let mut sql = "SELECT data FROM deliveries WHERE 1 = 1".to_string();
            let mut args = Vec::new();
            for (column, value) in [
                ("campaign_id", filter.campaign),
                ("session_id", filter.session),
                ("contact_id", filter.contact),
                ("status", filter.status.map(|s| s.as_str().to_string())),
            ] {
                if let Some(v) = value {
                    sql.push_str(&format!(" AND {column} = ?"));
                    args.push(Value::Text(v));
                }
            }
            sql.push_str(" {after} ORDER BY id LIMIT ?");
            paged(c, &sql, args, &["id"], &page, |d: &Delivery| vec![d.id.clone()])
        })
        .await
    }

    async fn count_sent_since(&self, contact_id: &str, channel: Channel, since: DateTime<Utc>) -> CoreResult<usize> {
        let contact = contact_id.to_string();
        self.call(move |c| {
            let n: i64 = c.prepare_cached(
                "SELECT COUNT(*) FROM deliveries WHERE contact_id = ? AND channel = ? AND status = ? AND updated_at >= ?",
            )?
            .query_row(params![contact, channel_str(channel), DeliveryStatus::Sent.as_str(), instant(since)], |r| {
                r.get(0)
            })?;
            Ok(n as usize)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use outreach_core::contact::{Consent, Role};
    use outreach_core::phone::Phone;

    use super::*;

    fn contact(i: usize, phone: &str) -> Contact {
        let at = Utc.with_ymd_and_hms(2026, 9, 1, 2, 0, 0).unwrap();
        Contact {
            id: format!("ct_{i:03}"),
            role: Role::Citizen,
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
        assert!(again.get_contact("ct_058").await.unwrap().is_some());
    }
}
