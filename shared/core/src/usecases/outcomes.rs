//! Attendance, outcomes and official statistics: the records and the tallies they move.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tracing::instrument;

use crate::answer::confirmed_citizens;
use crate::contact::{ContactInput, ContactRole};
use crate::error::{CoreError, CoreResult, CsvLines, RowError};
use crate::ids::{ContactId, SessionId};
use crate::outcome::{AnswerFigures, Attendee, OfficialStatistics, SessionRecord, tally_deltas};
use crate::phone::Phone;
use crate::ports::{OrgUnitStore, OutcomeStore, SessionStore, Store};
use crate::quarter::quarter_of;
use crate::schedule::DEFAULT_TIME_ZONE;
use crate::session::{Session, SessionStatus};
use crate::usecases::{Actor, asked_and_answers, register_contact, require_commune};

/// One person on an attendance list as a planner sends it: a registered contact by id or
/// phone, or a walk-in by name and phone.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct AttendeeInput {
    #[serde(default)]
    pub contact_id: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// A walk-in's name (registers them as a contact without consent).
    #[serde(default)]
    pub name: Option<String>,
    /// Their role at the session; a registered contact's own role when left out.
    #[serde(default)]
    pub role: Option<ContactRole>,
}

/// The whole attendance list of a session; sending it again replaces the list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct AttendanceInput {
    pub attendees: Vec<AttendeeInput>,
}

/// The outcome counts of a session; sending them again replaces them.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct OutcomesInput {
    pub metrics: BTreeMap<String, u64>,
}

/// The session a record is for, if it exists and has started.
async fn started_session<S: SessionStore + ?Sized>(
    store: &S,
    id: &SessionId,
    now: DateTime<Utc>,
) -> CoreResult<Session> {
    let session = store
        .get_session(id)
        .await?
        .ok_or_else(|| CoreError::not_found("session", id))?;
    if session.status == SessionStatus::Cancelled {
        return Err(CoreError::invalid("session", format!("session {id} was cancelled")));
    }
    if session.starts_at > now {
        return Err(CoreError::invalid(
            "session",
            format!(
                "session {id} starts at {}; what happened can be recorded once it has started",
                session.starts_at.with_timezone(&DEFAULT_TIME_ZONE).to_rfc3339()
            ),
        ));
    }
    Ok(session)
}

/// Replace one half of a session's record (attendance or outcomes) and move the tallies
/// by the difference, retrying when a concurrent write got there first.
async fn update_record<S, F>(
    store: &S,
    session: &Session,
    now: DateTime<Utc>,
    actor: &Actor,
    change: F,
) -> CoreResult<SessionRecord>
where
    S: Store + ?Sized,
    F: Fn(&mut SessionRecord),
{
    // The answers are read once: they close when the session starts, and a record written
    // before that is written again by the next check-in or the attendance entered after.
    let (asked, answers) = asked_and_answers(store, session).await?;
    let (asked, confirmed) = confirmed_citizens(&asked, &answers);
    retry_with_backoff(|| async {
        let old = store.get_session_record(&session.id).await?;
        let mut record = old.clone().unwrap_or_else(|| SessionRecord {
            session_id: session.id.clone(),
            campaign_id: session.campaign_id.clone(),
            commune_code: session.commune_code.clone(),
            quarter: quarter_of(session.starts_at, DEFAULT_TIME_ZONE),
            attendees: Vec::new(),
            outcomes: BTreeMap::new(),
            answers: AnswerFigures::default(),
            attendance_recorded_at: None,
            outcomes_recorded_at: None,
            updated_by: None,
            updated_at: now,
            version: 0,
        });
        // Counted where the session is now (a moved session takes its counts along).
        record.commune_code = session.commune_code.clone();
        record.quarter = quarter_of(session.starts_at, DEFAULT_TIME_ZONE);
        change(&mut record);
        record.answers = AnswerFigures::of(asked, &confirmed, &record.attendees);
        if let Some(old) = &old
            && same_content(old, &record)
        {
            // The same input again: nothing changes, not even the version.
            return Ok(old.clone());
        }
        record.updated_by = actor.subject.clone();
        record.updated_at = now;
        record.version += 1;
        let deltas = tally_deltas(old.as_ref(), &record);
        store.save_session_record(&record, &deltas).await?;
        Ok(record)
    })
    .await
}

/// Whether two versions of a record say the same: who came, what was achieved, where and
/// when it counts, and which halves were recorded (not when, nor by whom).
fn same_content(a: &SessionRecord, b: &SessionRecord) -> bool {
    a.attendees == b.attendees
        && a.outcomes == b.outcomes
        && a.answers == b.answers
        && a.commune_code == b.commune_code
        && a.quarter == b.quarter
        && a.attendance_recorded_at.is_some() == b.attendance_recorded_at.is_some()
        && a.outcomes_recorded_at.is_some() == b.outcomes_recorded_at.is_some()
}

/// Run a read-modify-write until it does not collide with a concurrent one. Many planners
/// may submit for one session at once, so unlike most updates this waits a random few
/// milliseconds, growing, between tries, and gives up only after 30.
async fn retry_with_backoff<T, F, Fut>(mut attempt: F) -> CoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = CoreResult<T>>,
{
    let mut tries: u32 = 0;
    loop {
        match attempt().await {
            Err(CoreError::Conflict(_)) if tries < 30 => {
                tries += 1;
                let jitter = u64::from(uuid::Uuid::now_v7().as_bytes()[15]) % 8;
                let ms = (2u64 << tries.min(6)) + jitter * u64::from(tries.min(8));
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            other => return other,
        }
    }
}

/// Record (or correct) who attended a session. Walk-ins are registered as contacts of the
/// session's commune without consent; everyone is checked before anything is written.
#[instrument(skip_all, fields(session_id = %session_id, attendees = input.attendees.len()))]
pub async fn record_attendance<S>(
    store: &S,
    session_id: &SessionId,
    input: AttendanceInput,
    now: DateTime<Utc>,
    actor: &Actor,
) -> CoreResult<SessionRecord>
where
    S: Store + ?Sized,
{
    let session = started_session(store, session_id, now).await?;
    if input.attendees.len() > crate::outcome::MAX_ATTENDEES {
        return Err(CoreError::invalid(
            "attendees",
            format!("at most {} attendees a session", crate::outcome::MAX_ATTENDEES),
        ));
    }
    // Who came as a walk-in by the record so far: sending the same list again keeps them
    // walk-ins (they are registered now, and resolve as registered contacts).
    let walked_in: HashMap<ContactId, ContactRole> = store
        .get_session_record(&session.id)
        .await?
        .map(|r| {
            r.attendees
                .into_iter()
                .filter(|a| a.walk_in)
                .map(|a| (a.contact_id, a.role))
                .collect()
        })
        .unwrap_or_default();
    // First pass: resolve and check everyone, writing nothing, so that a refused list leaves
    // nothing behind (no walk-in registered).
    enum Who {
        Known(ContactId, ContactRole),
        WalkIn(ContactInput),
        /// A walk-in whose phone is registered outside the actor's area: counted here under
        /// an id of its own, registered nowhere, the other registration left untouched.
        Unlinked(ContactId, ContactRole),
    }
    let previous_ids: Vec<ContactId> = walked_in.keys().cloned().collect();
    let mut resolved = Vec::with_capacity(input.attendees.len());
    // Each person once: by contact id, and a walk-in by their number however written.
    let mut listed: HashMap<String, usize> = HashMap::new();
    for (i, a) in input.attendees.iter().enumerate() {
        let field = format!("attendees[{i}]");
        let walk_in = |name: &String, phone: &String| ContactInput {
            role: a.role.unwrap_or(ContactRole::Citizen),
            name: name.clone(),
            commune_code: String::from(&session.commune_code),
            phone: phone.clone(),
            email: None,
            consents: Vec::new(),
        };
        let (who, key) = match (&a.contact_id, &a.phone) {
            (Some(id), _) => {
                // A contact outside the actor's area is answered as one that does not exist;
                // a walk-in the record counts under an id of its own keeps it when the list
                // is sent back as it was read.
                let contact_id = ContactId::from(id);
                match store.get_contact(&contact_id).await? {
                    Some(c) if actor.area.covers(c.commune_code.as_str()) => {
                        let key = c.id.to_string();
                        (Who::Known(c.id, a.role.unwrap_or(c.role)), key)
                    }
                    None if walked_in.contains_key(&contact_id) => {
                        let role = a.role.unwrap_or(walked_in[&contact_id]);
                        (Who::Unlinked(contact_id, role), id.clone())
                    }
                    _ => {
                        return Err(CoreError::invalid(
                            format!("{field}.contact_id"),
                            format!("no contact {id:?}"),
                        ));
                    }
                }
            }
            (None, Some(phone)) => {
                let parsed = Phone::parse_field(phone, &format!("{field}.phone"))?;
                match store.find_contact_by_phone(&parsed.e164).await? {
                    Some(c) if actor.area.covers(c.commune_code.as_str()) => {
                        let key = c.id.to_string();
                        (Who::Known(c.id, a.role.unwrap_or(c.role)), key)
                    }
                    // Registered elsewhere: answered as an unregistered walk-in would be,
                    // without touching or naming the other registration.
                    Some(_) => match &a.name {
                        Some(name) => {
                            // Checked as a new walk-in is, so that the answers agree.
                            walk_in(name, phone)
                                .into_contact(ContactId::new(""), now, None)
                                .map_err(|e| prefix(e, &field))?;
                            let id = unlinked_id(&session.id, &parsed.e164, &previous_ids, now);
                            (Who::Unlinked(id, a.role.unwrap_or(ContactRole::Citizen)), parsed.e164)
                        }
                        None => return Err(no_walk_in_name(&field)),
                    },
                    None => match &a.name {
                        Some(name) => (Who::WalkIn(walk_in(name, phone)), parsed.e164),
                        None => return Err(no_walk_in_name(&field)),
                    },
                }
            }
            (None, None) => {
                return Err(CoreError::invalid(
                    field,
                    "name an attendee by contact_id, or by phone (and name, for a walk-in)",
                ));
            }
        };
        if let Some(first) = listed.insert(key, i) {
            return Err(CoreError::invalid(
                field,
                format!("this person is already on the list (attendees[{first}])"),
            ));
        }
        if let Who::WalkIn(input) = &who {
            input
                .clone()
                .into_contact(ContactId::new(""), now, None)
                .map_err(|e| prefix(e, &field))?;
        }
        resolved.push(who);
    }
    let mut attendees = Vec::with_capacity(resolved.len());
    for who in resolved {
        attendees.push(match who {
            Who::Known(contact_id, role) => Attendee {
                walk_in: walked_in.contains_key(&contact_id),
                contact_id,
                role,
            },
            Who::Unlinked(contact_id, role) => Attendee {
                contact_id,
                role,
                walk_in: true,
            },
            Who::WalkIn(input) => {
                let role = input.role;
                let phone = input.phone.clone();
                let contact = match register_contact(store, input, now, actor).await {
                    Ok(c) => c,
                    // Registered by a concurrent submission: the same person.
                    Err(CoreError::AlreadyExists { .. }) => {
                        let e164 = Phone::parse(&phone)?.e164;
                        store
                            .find_contact_by_phone(&e164)
                            .await?
                            .ok_or_else(|| CoreError::Conflict(format!("contact with phone {e164} vanished")))?
                    }
                    Err(e) => return Err(e),
                };
                Attendee {
                    contact_id: contact.id,
                    role,
                    walk_in: true,
                }
            }
        });
    }
    SessionRecord::check_attendees(&attendees)?;
    let record = update_record(store, &session, now, actor, |r| {
        r.attendees = attendees.clone();
        r.attendance_recorded_at = Some(now);
    })
    .await?;
    tracing::info!(session_id = %session.id, attendees = record.attendees.len(), version = record.version, "attendance recorded");
    Ok(record)
}

/// How long before its start a session's door opens for check-in.
pub const CHECK_IN_OPENS_MINUTES: i64 = 60;

/// Who is checked in at the door: a registered contact, or a walk-in by phone and name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CheckIn {
    Contact { contact_id: String },
    WalkIn { phone: String, name: String },
}

/// What a check-in did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CheckInOutcome {
    #[schema(value_type = String)]
    pub contact_id: ContactId,
    /// False when they were checked in already (a second scan counts once).
    pub added: bool,
    pub walk_in: bool,
    /// Everyone checked in so far.
    pub attendees: usize,
}

/// Check one person in at the door: adds them to the session's attendance (the same record
/// and tallies as [`record_attendance`]), once however often they are checked in. A walk-in
/// is found by phone in the actor's area or registered there without consent. Open from
/// [`CHECK_IN_OPENS_MINUTES`] before the start; concurrent check-ins all count.
#[instrument(skip_all, fields(session_id = %session_id))]
pub async fn check_in<S>(
    store: &S,
    session_id: &SessionId,
    who: CheckIn,
    now: DateTime<Utc>,
    actor: &Actor,
) -> CoreResult<CheckInOutcome>
where
    S: Store + ?Sized,
{
    let session = store
        .get_session(session_id)
        .await?
        .ok_or_else(|| CoreError::not_found("session", session_id))?;
    if session.status == SessionStatus::Cancelled {
        return Err(CoreError::invalid(
            "session",
            format!("session {session_id} was cancelled"),
        ));
    }
    if session.starts_at - chrono::Duration::minutes(CHECK_IN_OPENS_MINUTES) > now {
        return Err(CoreError::invalid(
            "session",
            format!("check-in opens {CHECK_IN_OPENS_MINUTES} minutes before the session starts"),
        ));
    }
    let (contact, walk_in) = match who {
        CheckIn::Contact { contact_id } => match store.get_contact(&ContactId::from(&contact_id)).await? {
            // Someone of another commune may come; someone outside the actor's area is
            // answered as one that does not exist.
            Some(c) if actor.area.covers(c.commune_code.as_str()) && c.erased_at.is_none() => (c, false),
            _ => return Err(CoreError::invalid("contact_id", format!("no contact {contact_id:?}"))),
        },
        CheckIn::WalkIn { phone, name } => {
            let parsed = Phone::parse_field(&phone, "phone")?;
            match store.find_contact_by_phone(&parsed.e164).await? {
                Some(c) if actor.area.covers(c.commune_code.as_str()) => (c, false),
                Some(_) => {
                    return Err(CoreError::invalid(
                        "phone",
                        "this number is registered in another area: record them on the attendance list",
                    ));
                }
                None => {
                    let input = ContactInput {
                        role: ContactRole::Citizen,
                        name,
                        commune_code: String::from(&session.commune_code),
                        phone,
                        email: None,
                        consents: Vec::new(),
                    };
                    match register_contact(store, input, now, actor).await {
                        Ok(c) => (c, true),
                        Err(CoreError::AlreadyExists { .. }) => (
                            store
                                .find_contact_by_phone(&parsed.e164)
                                .await?
                                .ok_or_else(|| CoreError::Conflict("a walk-in's contact vanished".into()))?,
                            true,
                        ),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    };
    let added = std::sync::atomic::AtomicBool::new(false);
    let record = update_record(store, &session, now, actor, |r| {
        let here = r.attendees.iter().any(|a| a.contact_id == contact.id);
        added.store(!here, std::sync::atomic::Ordering::Relaxed);
        if !here {
            r.attendees.push(Attendee {
                contact_id: contact.id.clone(),
                role: contact.role,
                walk_in,
            });
            r.attendance_recorded_at.get_or_insert(now);
        }
    })
    .await?;
    let added = added.load(std::sync::atomic::Ordering::Relaxed);
    tracing::info!(session_id = %session.id, added, walk_in, attendees = record.attendees.len(), "checked in");
    Ok(CheckInOutcome {
        contact_id: contact.id,
        added,
        walk_in,
        attendees: record.attendees.len(),
    })
}

fn no_walk_in_name(field: &str) -> CoreError {
    CoreError::invalid(
        format!("{field}.name"),
        "nobody is registered with this phone: give the walk-in's name to register them",
    )
}

/// The attendee id of a walk-in whose phone is registered outside the actor's area: shaped
/// like a new contact's id (a time-ordered UUID), the same each time the list is sent again
/// (its last ten bytes come from the session and the number; the record so far keeps the
/// rest), and no contact's id.
fn unlinked_id(session_id: &SessionId, e164: &str, previous: &[ContactId], now: DateTime<Utc>) -> ContactId {
    let name = format!("{session_id}|{e164}");
    let tag = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes());
    let shaped = |stamp: [u8; 6]| {
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&stamp);
        bytes[6..].copy_from_slice(&tag.as_bytes()[6..]);
        let id = uuid::Builder::from_bytes(bytes)
            .with_version(uuid::Version::SortRand)
            .with_variant(uuid::Variant::RFC4122)
            .into_uuid();
        format!("ct_{}", id.simple())
    };
    let suffix = shaped([0; 6])[3 + 12..].to_string();
    if let Some(same) = previous
        .iter()
        .find(|id| id.as_str().len() == 35 && id.as_str()[3 + 12..] == suffix)
    {
        return same.clone();
    }
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or_default().to_be_bytes();
    let mut stamp = [0u8; 6];
    stamp.copy_from_slice(&millis[2..]);
    ContactId::new(shaped(stamp))
}

fn prefix(e: CoreError, field: &str) -> CoreError {
    match e {
        CoreError::Validation { field: f, message } => CoreError::Validation {
            field: format!("{field}.{f}"),
            message,
        },
        other => other,
    }
}

/// Record (or correct) the outcome counts of a session.
#[instrument(skip_all, fields(session_id = %session_id))]
pub async fn record_outcomes<S>(
    store: &S,
    session_id: &SessionId,
    input: OutcomesInput,
    now: DateTime<Utc>,
    actor: &Actor,
) -> CoreResult<SessionRecord>
where
    S: Store + ?Sized,
{
    SessionRecord::check_outcomes(&input.metrics)?;
    let session = started_session(store, session_id, now).await?;
    let record = update_record(store, &session, now, actor, |r| {
        r.outcomes = input.metrics.clone();
        r.outcomes_recorded_at = Some(now);
    })
    .await?;
    tracing::info!(session_id = %session.id, version = record.version, "outcomes recorded");
    Ok(record)
}

/// What a statistics import did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StatisticsImportReport {
    pub imported: usize,
}

/// Enter official statistics (per commune and quarter): every row is checked first and
/// the whole set is written at once, or nothing.
#[instrument(skip_all, fields(rows = rows.len()))]
pub async fn set_official_statistics<S>(store: &S, rows: Vec<OfficialStatistics>) -> CoreResult<StatisticsImportReport>
where
    S: OrgUnitStore + OutcomeStore + ?Sized,
{
    if rows.is_empty() {
        return Err(CoreError::invalid("statistics", "no rows"));
    }
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let field = format!("statistics[{i}]");
        let check = async {
            row.check(&field)?;
            require_commune(store, row.commune_code.as_str(), &format!("{field}.commune_code")).await?;
            if !seen.insert((row.commune_code.clone(), row.year, row.quarter)) {
                return Err(CoreError::invalid(
                    field.clone(),
                    "this commune and quarter is listed twice",
                ));
            }
            Ok(())
        };
        if let Err(e) = check.await {
            errors.push(RowError {
                row: i + 1,
                key: Some(format!("{} {}-Q{}", row.commune_code, row.year, row.quarter)),
                reasons: vec![e.to_string()],
            });
        }
    }
    if !errors.is_empty() {
        return Err(CoreError::ImportRejected(errors));
    }
    let tallies: Vec<_> = rows.iter().flat_map(OfficialStatistics::tallies).collect();
    store.set_tallies(&tallies).await?;
    Ok(StatisticsImportReport { imported: rows.len() })
}

/// Read official statistics from CSV: header `commune_code,year,quarter,dossiers_online,
/// dossiers_total,services_publicized,services_total` (a UTF-8 BOM is fine).
pub fn parse_statistics_csv(text: &str) -> CoreResult<Vec<OfficialStatistics>> {
    let text = text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| CoreError::invalid("file", format!("unreadable CSV header: {e}")))?
        .clone();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut lines = CsvLines::new(text);
    for (i, record) in reader.records().enumerate() {
        // A deserialising error carries the record's position too.
        let read = record.and_then(|r| r.deserialize::<OfficialStatistics>(Some(&headers)));
        match read {
            Ok(r) => rows.push(r),
            Err(e) => errors.push(RowError {
                row: lines.of(e.position(), i),
                key: None,
                reasons: vec![e.to_string()],
            }),
        }
    }
    if !errors.is_empty() {
        return Err(CoreError::ImportRejected(errors));
    }
    Ok(rows)
}
