use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tracing::instrument;

use crate::audit::{AuditEntry, AuditStamp, changed_fields};
use crate::contact::{Channel, ConsentInput, Contact, ContactInput, ContactRole, ContactRow, OptOut};
use crate::error::{CoreError, CoreResult, RowError};
use crate::ids::{ContactId, SessionId, UnitCode};
use crate::org::{Level, OrgUnit, version_on};
use crate::phone::mask_phone_input;
use crate::ports::{
    AnswerStore, AuditStore, ContactStore, DeliveryFilter, MAX_PAGE_SIZE, OrgUnitStore, PageRequest, SessionFilter,
    Store,
};
use crate::reminder::Delivery;
use crate::usecases::{Actor, new_id, retry_on_conflict};

/// Largest contact list one import may carry.
pub const MAX_CONTACTS_PER_IMPORT: usize = 50_000;

/// Check that `code` is a commune (in any of its versions).
pub async fn require_commune<S: OrgUnitStore + ?Sized>(store: &S, code: &str, field: &str) -> CoreResult<()> {
    let versions = store.org_unit_versions(code).await?;
    match version_on(&versions, None) {
        None => Err(CoreError::invalid(field, format!("commune {code:?} does not exist"))),
        Some(u) if u.level != Level::Commune => Err(CoreError::invalid(
            field,
            format!("{code} is a {}, not a commune", u.level.as_str()),
        )),
        Some(_) => Ok(()),
    }
}

/// Register one contact.
#[instrument(skip_all)]
pub async fn register_contact<S: ContactStore + OrgUnitStore + ?Sized>(
    store: &S,
    input: ContactInput,
    now: DateTime<Utc>,
    actor: &Actor,
) -> CoreResult<Contact> {
    let contact = input.into_contact(ContactId::new(new_id("ct")), now, actor.subject.clone())?;
    check_unit(&contact, &store.org_unit_versions(contact.commune_code.as_str()).await?)?;
    insert_new_contact(store, &contact).await?;
    tracing::info!(contact_id = %contact.id, phone = %contact.masked_phone(), "contact registered");
    Ok(contact)
}

/// Check the unit a contact is registered in (`versions`, as stored): a planner works for a
/// unit of any level, everyone else lives in a commune.
fn check_unit(contact: &Contact, versions: &[OrgUnit]) -> CoreResult<()> {
    let code = &contact.commune_code;
    match version_on(versions, None) {
        None if contact.role == ContactRole::Planner => Err(CoreError::invalid(
            "commune_code",
            format!("unit {code:?} does not exist"),
        )),
        None => Err(CoreError::invalid(
            "commune_code",
            format!("commune {code:?} does not exist"),
        )),
        Some(u) if contact.role != ContactRole::Planner && u.level != Level::Commune => Err(CoreError::invalid(
            "commune_code",
            format!("{code} is a {}, not a commune", u.level.as_str()),
        )),
        Some(_) => Ok(()),
    }
}

/// Add a contact; a number that is taken is refused naming the number, masked.
async fn insert_new_contact<S: ContactStore + ?Sized>(store: &S, contact: &Contact) -> CoreResult<()> {
    store.insert_contact(contact).await.map_err(|e| match e {
        CoreError::AlreadyExists { .. } => phone_taken(contact),
        other => other,
    })
}

/// The refusal of a contact whose number another contact holds.
fn phone_taken(contact: &Contact) -> CoreError {
    CoreError::AlreadyExists {
        entity: "contact with phone",
        id: contact.masked_phone(),
    }
}

/// What a contact import did: how many rows were kept, and why the others were not.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactImportReport {
    pub imported: usize,
    pub rejected: Vec<RowError>,
}

/// Rows of a contact import handled as one batch: their numbers looked up in one read, the
/// new contacts registered, then one audit entry. 100 is what one DynamoDB BatchGetItem call
/// reads; it also bounds the contacts a killed import can keep without an entry.
pub const CONTACT_IMPORT_BATCH: usize = 100;

/// Import a contact list: each good row is registered, each bad row reported. Rows go in
/// batches of [`CONTACT_IMPORT_BATCH`]: the numbers of a batch are read first, so a number
/// already held (by a stored contact or an earlier row) is refused without a write. With
/// `audit`, each batch that created contacts is recorded as it commits (entity `contact
/// import`, its rows, the ids created: nothing personal), so an import cut short leaves the
/// entries of what it kept.
#[instrument(skip_all, fields(rows = rows.len()))]
pub async fn import_contacts<S: ContactStore + OrgUnitStore + AuditStore + ?Sized>(
    store: &S,
    rows: Vec<ContactRow>,
    now: DateTime<Utc>,
    actor: &Actor,
    audit: Option<&AuditStamp>,
) -> CoreResult<ContactImportReport> {
    if rows.len() > MAX_CONTACTS_PER_IMPORT {
        return Err(CoreError::invalid(
            "file",
            format!("at most {MAX_CONTACTS_PER_IMPORT} contacts per import"),
        ));
    }
    let mut import = ContactImport {
        id: new_id("imp"),
        units: HashMap::new(),
        numbers: HashSet::new(),
        imported: 0,
        rejected: Vec::new(),
    };
    let mut rows = rows.into_iter();
    loop {
        let batch: Vec<ContactRow> = rows.by_ref().take(CONTACT_IMPORT_BATCH).collect();
        let (Some(first), Some(last)) = (batch.first().map(|r| r.row), batch.last().map(|r| r.row)) else {
            break;
        };
        let mut created = Vec::new();
        let written = import.batch(store, batch, now, actor, &mut created).await;
        if let Some(stamp) = audit
            && !created.is_empty()
        {
            // Also when the batch stopped half-way: what it created is kept.
            let rejected = import
                .rejected
                .iter()
                .filter(|r| (first..=last).contains(&r.row))
                .count();
            let after = json!({"rows": {"first": first, "last": last}, "created": created, "rejected": rejected});
            let entry = AuditEntry {
                entity: Some("contact import".into()),
                entity_id: Some(import.id.clone()),
                changes: changed_fields(None, Some(&after)),
                ..stamp.entry(now, 200)
            };
            store.append_audit(&entry).await?;
        }
        written?;
    }
    let ContactImport {
        imported, mut rejected, ..
    } = import;
    rejected.sort_by_key(|r| r.row);
    tracing::info!(imported, rejected = rejected.len(), "contacts imported");
    Ok(ContactImportReport { imported, rejected })
}

/// A contact import under way.
struct ContactImport {
    /// Ties the audit entries of its batches together.
    id: String,
    /// The stored versions of each unit read so far: a file names a few communes many times.
    units: HashMap<UnitCode, Vec<OrgUnit>>,
    /// The numbers of the rows registered so far: a later row with one is refused.
    numbers: HashSet<String>,
    imported: usize,
    rejected: Vec<RowError>,
}

impl ContactImport {
    /// Check a batch of rows, read which of their numbers are held, and register the
    /// others, pushing the id of each contact created to `created`. Fails only when the
    /// store does, with what was created so far in `created`.
    async fn batch<S: ContactStore + OrgUnitStore + ?Sized>(
        &mut self,
        store: &S,
        batch: Vec<ContactRow>,
        now: DateTime<Utc>,
        actor: &Actor,
        created: &mut Vec<ContactId>,
    ) -> CoreResult<()> {
        let mut checked = Vec::with_capacity(batch.len());
        for ContactRow { row, input } in batch {
            let key = input.as_ref().ok().map(|i| mask_phone_input(&i.phone));
            let contact = match input {
                Ok(input) => match input.into_contact(ContactId::new(new_id("ct")), now, actor.subject.clone()) {
                    Ok(contact) => self.check_unit(store, &contact).await.map(|()| contact),
                    Err(e) => Err(e),
                },
                Err(reason) => Err(CoreError::invalid("row", reason)),
            };
            match contact {
                Ok(contact) => checked.push((row, key, contact)),
                Err(e) => self.reject(row, key, e)?,
            }
        }
        let numbers: Vec<String> = checked
            .iter()
            .filter_map(|(_, _, c)| Some(c.phone.as_ref()?.e164.clone()))
            .collect();
        let held: HashSet<String> = store
            .find_contacts_by_phones(&numbers)
            .await?
            .into_iter()
            .filter_map(|c| Some(c.phone?.e164))
            .collect();
        for (row, key, contact) in checked {
            let number = contact.phone.as_ref().map(|p| p.e164.clone()).unwrap_or_default();
            let result = if held.contains(&number) || !self.numbers.insert(number) {
                Err(phone_taken(&contact))
            } else {
                insert_new_contact(store, &contact).await
            };
            match result {
                Ok(()) => {
                    self.imported += 1;
                    created.push(contact.id);
                }
                Err(e) => self.reject(row, key, e)?,
            }
        }
        Ok(())
    }

    /// `check_unit`, reading each unit once per import.
    async fn check_unit<S: OrgUnitStore + ?Sized>(&mut self, store: &S, contact: &Contact) -> CoreResult<()> {
        let code = &contact.commune_code;
        if !self.units.contains_key(code) {
            let versions = store.org_unit_versions(code.as_str()).await?;
            self.units.insert(code.clone(), versions);
        }
        check_unit(contact, self.units.get(code).map(Vec::as_slice).unwrap_or_default())
    }

    /// Report a row refused; a failure of the store is no row's fault and stops the import.
    fn reject(&mut self, row: usize, key: Option<String>, e: CoreError) -> CoreResult<()> {
        match e {
            CoreError::Storage(e) => Err(CoreError::Storage(e)),
            e => {
                self.rejected.push(RowError {
                    row,
                    key,
                    reasons: vec![e.to_string()],
                });
                Ok(())
            }
        }
    }
}

/// Fetch a contact or `NotFound`.
pub async fn get_contact<S: ContactStore + ?Sized>(store: &S, id: &ContactId) -> CoreResult<Contact> {
    store
        .get_contact(id)
        .await?
        .ok_or_else(|| CoreError::not_found("contact", id))
}

/// Record a consent on a channel; earlier refusals stay on record as evidence.
pub async fn record_consent<S: ContactStore + ?Sized>(
    store: &S,
    id: &ContactId,
    input: ConsentInput,
    now: DateTime<Utc>,
    actor: &Actor,
) -> CoreResult<Contact> {
    let consent = input.into_consent(now, actor.subject.clone())?;
    retry_on_conflict(|| async {
        let mut contact = get_contact(store, id).await?;
        if contact.erased_at.is_some() {
            return Err(CoreError::invalid("id", "the contact was erased: register them again"));
        }
        if consent.channel == Channel::Email && contact.email.is_none() {
            return Err(CoreError::invalid("channel", "the contact has no email address"));
        }
        contact.consents.push(consent.clone());
        contact.updated_at = now;
        contact.version += 1;
        store.update_contact(&contact).await?;
        Ok(contact)
    })
    .await
}

/// Record an opt-out on one channel or, when `channel` is None, on every channel.
/// Opting out again is harmless: it adds one more dated record.
pub async fn opt_out<S: ContactStore + ?Sized>(
    store: &S,
    id: &ContactId,
    channel: Option<Channel>,
    source: &str,
    now: DateTime<Utc>,
) -> CoreResult<Contact> {
    let channels = channel
        .map(|c| vec![c])
        .unwrap_or_else(|| vec![Channel::Sms, Channel::Email]);
    retry_on_conflict(|| async {
        let mut contact = get_contact(store, id).await?;
        // An opt-out already in force adds nothing (a replayed link, a second STOP).
        let new: Vec<Channel> = channels
            .iter()
            .copied()
            .filter(|&c| !contact.has_opted_out(c))
            .collect();
        if new.is_empty() {
            return Ok(contact);
        }
        for channel in new {
            contact.opt_outs.push(OptOut {
                channel,
                at: now,
                source: source.to_string(),
            });
        }
        contact.updated_at = now;
        contact.version += 1;
        store.update_contact(&contact).await?;
        tracing::info!(contact_id = %contact.id, ?channels, "contact opted out");
        Ok(contact)
    })
    .await
}

/// Erase a contact's personal data at their request: name, phone number and email address
/// are removed everywhere they are stored (the phone and email lookups go with them). The
/// id stays behind the anonymous counts (attendance, deliveries, tallies) and the evidence of
/// consents and refusals, which must be kept. Erasing twice changes nothing more.
pub async fn erase_contact<S: ContactStore + AnswerStore + ?Sized>(
    store: &S,
    id: &ContactId,
    now: DateTime<Utc>,
) -> CoreResult<Contact> {
    retry_on_conflict(|| async {
        let contact = get_contact(store, id).await?;
        if contact.erased_at.is_some() {
            return Ok(contact);
        }
        // Their answers go first: an erasure cut short here is finished by the next try,
        // which finds the contact not yet erased.
        store.delete_contact_answers(id).await?;
        let erased = contact.erased(now);
        store.update_contact(&erased).await?;
        tracing::info!(contact_id = %id, "contact erased");
        Ok(erased)
    })
    .await
}

/// Everything held about one contact, for their right of access.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactExport {
    pub contact: Contact,
    /// Every reminder sent, suppressed or failed for them.
    pub deliveries: Vec<Delivery>,
    /// The sessions they attended, with the role they came in.
    pub attendance: Vec<AttendanceOf>,
    /// The sessions they were assigned to staff (volunteers).
    #[schema(value_type = Vec<String>)]
    pub staffed_sessions: Vec<SessionId>,
    /// Their commune's volunteer team, if they are a member.
    pub team: Option<String>,
    /// Their answers to reminders that asked whether they would come.
    pub answers: Vec<crate::answer::SessionAnswer>,
    pub exported_at: DateTime<Utc>,
}

/// One session a contact attended.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttendanceOf {
    #[schema(value_type = String)]
    pub session_id: SessionId,
    pub starts_at: DateTime<Utc>,
    pub role: ContactRole,
    pub walk_in: bool,
}

/// Gather everything held about a contact: the record itself, their deliveries, and the
/// sessions and team of their commune they appear in.
pub async fn export_contact<S: Store + ?Sized>(
    store: &S,
    id: &ContactId,
    now: DateTime<Utc>,
) -> CoreResult<ContactExport> {
    let contact = get_contact(store, id).await?;
    let mut deliveries = Vec::new();
    let filter = DeliveryFilter {
        contact: Some(id.clone()),
        ..DeliveryFilter::default()
    };
    let mut page = PageRequest::first(MAX_PAGE_SIZE);
    loop {
        let got = store.list_deliveries(&filter, &page).await?;
        deliveries.extend(got.items);
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let mut attendance = Vec::new();
    let mut staffed_sessions = Vec::new();
    let sessions = SessionFilter {
        commune: Some(contact.commune_code.clone()),
        ..SessionFilter::default()
    };
    let mut page = PageRequest::first(MAX_PAGE_SIZE);
    loop {
        let got = store.list_sessions(&sessions, &page).await?;
        for session in &got.items {
            if session.staff.iter().any(|s| s == id) {
                staffed_sessions.push(session.id.clone());
            }
            let Some(record) = store.get_session_record(&session.id).await? else {
                continue;
            };
            if let Some(a) = record.attendees.iter().find(|a| &a.contact_id == id) {
                attendance.push(AttendanceOf {
                    session_id: session.id.clone(),
                    starts_at: session.starts_at,
                    role: a.role,
                    walk_in: a.walk_in,
                });
            }
        }
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    let team = store
        .get_team(contact.commune_code.as_str())
        .await?
        .filter(|t| t.member_ids.iter().any(|m| m == id))
        .map(|t| t.name);
    Ok(ContactExport {
        contact,
        deliveries,
        attendance,
        staffed_sessions,
        team,
        answers: store.contact_answers(id).await?,
        exported_at: now,
    })
}
