use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::instrument;

use crate::contact::{Channel, ConsentInput, Contact, ContactInput, ContactRow, OptOut, Role};
use crate::error::{CoreError, CoreResult, RowError};
use crate::org::{Level, version_on};
use crate::phone::mask_phone_digits;
use crate::ports::{ContactStore, OrgUnitStore};
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
    let contact = input.into_contact(new_id("ct"), now, actor.subject.clone())?;
    if contact.role == Role::Planner {
        // A planner works for a unit of any level.
        if version_on(&store.org_unit_versions(&contact.commune_code).await?, None).is_none() {
            return Err(CoreError::invalid(
                "commune_code",
                format!("unit {:?} does not exist", contact.commune_code),
            ));
        }
    } else {
        require_commune(store, &contact.commune_code, "commune_code").await?;
    }
    store.insert_contact(&contact).await.map_err(|e| match e {
        CoreError::AlreadyExists { .. } => CoreError::AlreadyExists {
            entity: "contact with phone",
            id: contact.phone.masked(),
        },
        other => other,
    })?;
    tracing::info!(contact_id = %contact.id, phone = %contact.phone.masked(), "contact registered");
    Ok(contact)
}

/// What a contact import did: how many rows were kept, and why the others were not.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactImportReport {
    pub imported: usize,
    pub rejected: Vec<RowError>,
}

/// Import a contact list: each good row is registered, each bad row reported.
#[instrument(skip_all, fields(rows = rows.len()))]
pub async fn import_contacts<S: ContactStore + OrgUnitStore + ?Sized>(
    store: &S,
    rows: Vec<ContactRow>,
    now: DateTime<Utc>,
    actor: &Actor,
) -> CoreResult<ContactImportReport> {
    if rows.len() > MAX_CONTACTS_PER_IMPORT {
        return Err(CoreError::invalid(
            "file",
            format!("at most {MAX_CONTACTS_PER_IMPORT} contacts per import"),
        ));
    }
    let mut imported = 0;
    let mut rejected = Vec::new();
    for ContactRow { row, input } in rows {
        let key = input.as_ref().ok().map(|i| mask_phone_digits(i.phone.trim()));
        let result = match input {
            Ok(input) => register_contact(store, input, now, actor).await.map(|_| ()),
            Err(reason) => Err(CoreError::invalid("row", reason)),
        };
        match result {
            Ok(()) => imported += 1,
            Err(CoreError::Storage(e)) => return Err(CoreError::Storage(e)),
            Err(e) => rejected.push(RowError {
                row,
                key,
                reasons: vec![e.to_string()],
            }),
        }
    }
    tracing::info!(imported, rejected = rejected.len(), "contacts imported");
    Ok(ContactImportReport { imported, rejected })
}

/// Fetch a contact or `NotFound`.
pub async fn get_contact<S: ContactStore + ?Sized>(store: &S, id: &str) -> CoreResult<Contact> {
    store
        .get_contact(id)
        .await?
        .ok_or_else(|| CoreError::not_found("contact", id))
}

/// Record a consent on a channel; earlier refusals stay on record as evidence.
pub async fn record_consent<S: ContactStore + ?Sized>(
    store: &S,
    id: &str,
    input: ConsentInput,
    now: DateTime<Utc>,
    actor: &Actor,
) -> CoreResult<Contact> {
    let consent = input.into_consent(now, actor.subject.clone())?;
    retry_on_conflict(|| async {
        let mut contact = get_contact(store, id).await?;
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
    id: &str,
    channel: Option<Channel>,
    source: &str,
    now: DateTime<Utc>,
) -> CoreResult<Contact> {
    let channels = channel
        .map(|c| vec![c])
        .unwrap_or_else(|| vec![Channel::Sms, Channel::Email]);
    retry_on_conflict(|| async {
        let mut contact = get_contact(store, id).await?;
        for &channel in &channels {
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
