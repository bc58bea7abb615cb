//! `DynamoStore` as ContactStore: contacts, the phone numbers they reserve, consents and erasure.

use super::*;

#[async_trait]
impl ContactStore for DynamoStore {
    async fn insert_contact(&self, contact: &Contact) -> CoreResult<()> {
        let record = items::encode(&items::contact(contact))?;
        let Some(lock) = items::phone_lock(contact) else {
            return Err(CoreError::invalid("phone", "a new contact needs a phone number"));
        };
        let lock = items::encode(&lock)?;
        let mut request = self
            .client
            .transact_write_items()
            .client_request_token(request_token())
            .transact_items(transact_put(&self.table, record, "attribute_not_exists(PK)", None)?)
            .transact_items(transact_put(&self.table, lock, "attribute_not_exists(PK)", None)?);
        if let Some(email) = &contact.email {
            let entry = items::encode(&items::email_entry(contact, email))?;
            request = request.transact_items(TransactWriteItem::builder().put(plain_put(&self.table, entry)?).build());
        }
        let result = request.send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons = e.as_service_error().map(cancelled_by_condition).unwrap_or_default();
                if reasons.iter().any(|&failed| failed) && self.holds(contact).await? {
                    // A retry of our own transaction, which had committed (a server without
                    // request tokens, or one past their 10 minutes).
                    return Ok(());
                }
                match reasons.as_slice() {
                    [true, ..] => Err(CoreError::AlreadyExists {
                        entity: "contact",
                        id: contact.id.to_string(),
                    }),
                    [_, true, ..] => Err(CoreError::AlreadyExists {
                        entity: "contact with phone",
                        id: contact.masked_phone(),
                    }),
                    _ => Err(sdk(e).into()),
                }
            }
        }
    }

    async fn get_contact(&self, id: &ContactId) -> CoreResult<Option<Contact>> {
        self.get(keys::contact_pk(id), keys::CONTACT_SK).await
    }

    async fn find_contact_by_phone(&self, e164: &str) -> CoreResult<Option<Contact>> {
        let Some(lock) = self.get::<PhoneLock>(keys::phone_pk(e164), keys::PHONE_SK).await? else {
            return Ok(None);
        };
        self.get_contact(&lock.contact_id).await
    }

    /// Two batched reads: the numbers' reservations, then the contacts they name.
    async fn find_contacts_by_phones(&self, e164s: &[String]) -> CoreResult<Vec<Contact>> {
        let mut phones = e164s.to_vec();
        phones.sort_unstable();
        phones.dedup();
        let locks = self
            .batch_get(
                phones
                    .iter()
                    .map(|p| (keys::phone_pk(p), keys::PHONE_SK.to_string()))
                    .collect(),
            )
            .await?;
        let mut ids = locks
            .into_iter()
            .map(|raw| decode::<PhoneLock>(raw).map(|lock| lock.contact_id))
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort_unstable();
        ids.dedup();
        let contacts = self
            .batch_get(
                ids.iter()
                    .map(|id| (keys::contact_pk(id), keys::CONTACT_SK.to_string()))
                    .collect(),
            )
            .await?;
        Ok(contacts.into_iter().map(decode).collect::<Result<_, _>>()?)
    }

    async fn find_contacts_by_email(&self, email: &str) -> CoreResult<Vec<Contact>> {
        let entries: Vec<PhoneLock> = self
            .query_all(Query::on(None, keys::email_pk(email)).begins_with("CONTACT#"))
            .await?;
        let mut out = Vec::new();
        for entry in entries {
            if let Some(c) = self.get_contact(&entry.contact_id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn update_contact(&self, contact: &Contact) -> CoreResult<()> {
        let Some(stored) = self.get_contact(&contact.id).await? else {
            return Err(stale("contact", &contact.id));
        };
        let record = items::encode(&items::contact(contact))?;
        let prev = HashMap::from([(":prev".to_string(), n(contact.version.saturating_sub(1)))]);
        let mut request = self
            .client
            .transact_write_items()
            .client_request_token(request_token())
            .transact_items(transact_put(&self.table, record, "version = :prev", Some(prev))?);
        if stored.phone != contact.phone {
            // The number moves (or is erased): take the new one and free the old one in the
            // same transaction.
            if let Some(lock) = items::phone_lock(contact) {
                let lock = items::encode(&lock)?;
                request = request.transact_items(transact_put(&self.table, lock, "attribute_not_exists(PK)", None)?);
            }
            if let Some(old) = &stored.phone {
                let delete = aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .key("PK", s(keys::phone_pk(&old.e164)))
                    .key("SK", s(keys::PHONE_SK))
                    .build()
                    .map_err(|e| StoreError::Encode(e.to_string()))?;
                request = request.transact_items(TransactWriteItem::builder().delete(delete).build());
            }
        }
        let old_email = stored.email.as_deref().map(str::to_lowercase);
        let new_email = contact.email.as_deref().map(str::to_lowercase);
        if old_email != new_email {
            if let Some(old) = &old_email {
                let delete = aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .key("PK", s(keys::email_pk(old)))
                    .key("SK", s(keys::email_sk(&contact.id)))
                    .build()
                    .map_err(|e| StoreError::Encode(e.to_string()))?;
                request = request.transact_items(TransactWriteItem::builder().delete(delete).build());
            }
            if let Some(new) = &new_email {
                let entry = items::encode(&items::email_entry(contact, new))?;
                request =
                    request.transact_items(TransactWriteItem::builder().put(plain_put(&self.table, entry)?).build());
            }
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let reasons = e.as_service_error().map(cancelled_by_condition).unwrap_or_default();
                if reasons.iter().any(|&failed| failed) && self.holds(contact).await? {
                    return Ok(());
                }
                match reasons.as_slice() {
                    [true, ..] => Err(stale("contact", &contact.id)),
                    [_, true, ..] => Err(CoreError::AlreadyExists {
                        entity: "contact with phone",
                        id: contact.masked_phone(),
                    }),
                    _ => Err(sdk(e).into()),
                }
            }
        }
    }

    async fn list_contacts(&self, filter: &ContactFilter, page: &PageRequest) -> CoreResult<Page<Contact>> {
        let q = match (&filter.commune, filter.role) {
            (Some(commune), Some(role)) => {
                Query::on(Some(table::GSI2), keys::commune_role_contacts(commune, role.as_str()))
            }
            (Some(commune), None) => Query::on(Some(table::GSI1), keys::commune_contacts(commune)),
            (None, Some(role)) => {
                Query::on(Some(table::GSI3), keys::entity_index("contact")).filter_eq("role", role.as_str())
            }
            (None, None) => Query::on(Some(table::GSI3), keys::entity_index("contact")),
        };
        self.query_page(q, page).await
    }
}

impl DynamoStore {
    /// Whether the table holds exactly this contact (every field): a transaction whose
    /// condition failed was then a retry of our own, which had committed.
    async fn holds(&self, contact: &Contact) -> CoreResult<bool> {
        Ok(self.get_contact(&contact.id).await?.as_ref() == Some(contact))
    }
}
