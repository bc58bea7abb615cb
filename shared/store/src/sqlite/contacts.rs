//! `SqliteStore` as ContactStore: contacts, the unique phone column, consents and erasure.

use super::*;

#[async_trait]
impl ContactStore for SqliteStore {
    async fn insert_contact(&self, contact: &Contact) -> CoreResult<()> {
        let contact = contact.clone();
        self.call(move |c| {
            let inserted = c.execute(
                "INSERT INTO contacts (id, phone, commune_code, role, version, data, email) VALUES (?, ?, ?, ?, ?, ?, ?)",
                params![
                    contact.id.as_str(),
                    phone_key(&contact),
                    contact.commune_code.as_str(),
                    contact.role.as_str(),
                    contact.version as i64,
                    to_json(&contact)?,
                    contact.email.as_deref().map(str::to_lowercase)
                ],
            );
            match inserted {
                Ok(_) => Ok(Ok(())),
                // The same write again is no conflict (as on DynamoDB, where it is a retry).
                Err(e) if is_unique_violation(&e) && holds(c, &contact)? => Ok(Ok(())),
                Err(e) if is_unique_violation(&e) => Ok(Err(CoreError::AlreadyExists {
                    entity: "contact",
                    id: contact.id.to_string(),
                })),
                Err(e) => Err(e.into()),
            }
        })
        .await?
    }

    async fn get_contact(&self, id: &ContactId) -> CoreResult<Option<Contact>> {
        let id = id.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM contacts WHERE id = ?", &id))
            .await
    }

    async fn find_contact_by_phone(&self, e164: &str) -> CoreResult<Option<Contact>> {
        let phone = e164.to_string();
        self.call(move |c| get_json(c, "SELECT data FROM contacts WHERE phone = ?", &phone))
            .await
    }

    async fn find_contacts_by_phones(&self, e164s: &[String]) -> CoreResult<Vec<Contact>> {
        let mut phones = e164s.to_vec();
        phones.sort_unstable();
        phones.dedup();
        self.call(move |c| {
            let mut found = Vec::new();
            for chunk in phones.chunks(PHONES_PER_QUERY) {
                let marks = vec!["?"; chunk.len()].join(", ");
                // Not cached: each chunk size is a statement of its own.
                let mut stmt = c.prepare(&format!("SELECT data FROM contacts WHERE phone IN ({marks})"))?;
                let rows = stmt.query_map(params_from_iter(chunk), |r| r.get::<_, String>(0))?;
                for row in rows {
                    found.push(from_json(&row?)?);
                }
            }
            Ok(found)
        })
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

    /// An erasure (the contact's `erased_at` set) is checkpointed at once: see
    /// `checkpoint_truncate`.
    async fn update_contact(&self, contact: &Contact) -> CoreResult<()> {
        let contact = contact.clone();
        let erased = contact.erased_at.is_some();
        self.call(move |c| {
            let result = c.execute(
                "UPDATE contacts SET phone = ?, commune_code = ?, role = ?, version = ?, data = ?, email = ?
                 WHERE id = ? AND version = ?",
                params![
                    phone_key(&contact),
                    contact.commune_code.as_str(),
                    contact.role.as_str(),
                    contact.version as i64,
                    to_json(&contact)?,
                    contact.email.as_deref().map(str::to_lowercase),
                    contact.id.as_str(),
                    contact.version as i64 - 1
                ],
            );
            match result {
                Ok(1) => Ok(Ok(())),
                Ok(_) if holds(c, &contact)? => Ok(Ok(())),
                Ok(_) => Ok(Err(stale("contact", &contact.id))),
                Err(e) if is_unique_violation(&e) => Ok(Err(CoreError::AlreadyExists {
                    entity: "contact with phone",
                    id: contact.masked_phone(),
                })),
                Err(e) => Err(e.into()),
            }
        })
        .await??;
        if erased {
            self.checkpoint_truncate().await?;
        }
        Ok(())
    }

    async fn list_contacts(&self, filter: &ContactFilter, page: &PageRequest) -> CoreResult<Page<Contact>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.call(move |c| {
            let mut sql = "SELECT data FROM contacts WHERE 1 = 1".to_string();
            let mut args = Vec::new();
            if let Some(commune) = filter.commune {
                sql.push_str(" AND commune_code = ?");
                args.push(Value::Text(commune.into_string()));
            }
            if let Some(role) = filter.role {
                sql.push_str(" AND role = ?");
                args.push(Value::Text(role.as_str().into()));
            }
            sql.push_str(" {after} ORDER BY id LIMIT ?");
            paged(c, &sql, args, &["id"], &page, |x: &Contact| vec![x.id.to_string()])
        })
        .await
    }
}

/// Numbers looked up by one query (SQLite takes up to 32,766 parameters; an import asks
/// for 100 at a time).
const PHONES_PER_QUERY: usize = 500;

/// The unique `phone` column: the number, or for an erased contact (who has none) a key
/// that cannot be one.
pub(super) fn phone_key(contact: &Contact) -> String {
    match &contact.phone {
        Some(phone) => phone.e164.clone(),
        None => format!("erased:{}", contact.id),
    }
}

/// Whether the database holds exactly `contact` (every field: the write was ours).
fn holds(c: &Connection, contact: &Contact) -> Result<bool, StoreError> {
    let stored: Option<Contact> = get_json(c, "SELECT data FROM contacts WHERE id = ?", contact.id.as_str())?;
    Ok(stored.as_ref() == Some(contact))
}
