//! `DynamoStore` as DeliveryStore: one delivery per (session, rule, person, channel), claimed and settled.

use super::*;

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn claim_delivery(&self, claim: &Delivery, now: chrono::DateTime<chrono::Utc>) -> CoreResult<Claim> {
        let raw = items::with_delivery_attributes(items::encode(&items::claimed_delivery(claim))?, claim);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(raw))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .send()
            .await;
        let stored: Delivery = match result {
            Ok(_) => return Ok(Claim::Claimed(claim.clone())),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                    match c.item.clone() {
                        Some(old) => decode::<StoredDelivery>(old)?.into(),
                        None => match self.get_delivery(&claim.campaign_id, &claim.id).await? {
                            Some(d) => d,
                            None => return Err(stale("delivery", &claim.id)),
                        },
                    }
                }
                _ => return Err(sdk(e).into()),
            },
        };
        let Some(taken) = stored.take_over(claim, now) else {
            return Ok(Claim::Taken(stored));
        };
        let raw = items::with_delivery_attributes(items::encode(&items::claimed_delivery(&taken))?, &taken);
        if self.put_versioned(raw, taken.version).await? {
            Ok(Claim::Claimed(taken))
        } else {
            // Another sender took it over first.
            let now_stored = self
                .get_delivery(&claim.campaign_id, &claim.id)
                .await?
                .unwrap_or(stored);
            Ok(Claim::Taken(now_stored))
        }
    }

    async fn record_delivery(&self, delivery: &Delivery) -> CoreResult<()> {
        let raw = items::with_delivery_attributes(items::encode(&items::recorded_delivery(delivery))?, delivery);
        self.update_versioned(raw, delivery.version, "delivery", &delivery.id)
            .await
    }

    async fn get_delivery(&self, campaign_id: &str, id: &str) -> CoreResult<Option<Delivery>> {
        Ok(self
            .get::<StoredDelivery>(keys::campaign_deliveries(campaign_id), id)
            .await?
            .map(Delivery::from))
    }

    async fn list_deliveries(&self, filter: &DeliveryFilter, page: &PageRequest) -> CoreResult<Page<Delivery>> {
        let campaign = match (&filter.campaign, &filter.session) {
            (Some(c), _) => Some(c.clone()),
            // A session's deliveries sit in its campaign's partition.
            (None, Some(s)) => match self.get_session(s).await? {
                Some(session) => Some(session.campaign_id),
                None => {
                    return Ok(Page {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                }
            },
            (None, None) => None,
        };
        let mut q = match (campaign, &filter.contact) {
            (Some(campaign), contact) => {
                let q = Query::on(None, keys::campaign_deliveries(&campaign));
                let q = match &filter.session {
                    Some(s) => q.begins_with(&format!("{s}|")),
                    None => q,
                };
                match contact {
                    Some(c) => q.filter_eq("contact_id", c),
                    None => q,
                }
            }
            (None, Some(contact)) => Query::on(Some(table::GSI2), keys::contact_deliveries(contact)),
            (None, None) => {
                return Err(CoreError::invalid("filter", "name a campaign, a session or a contact"));
            }
        };
        if let Some(status) = filter.status {
            q = q.filter_eq("status", status.as_str());
        }
        let page: Page<StoredDelivery> = self.query_page(q, page).await?;
        Ok(Page {
            items: page.items.into_iter().map(Delivery::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn count_sent_since(
        &self,
        contact_id: &str,
        channel: Channel,
        since: chrono::DateTime<chrono::Utc>,
    ) -> CoreResult<usize> {
        let channel = match channel {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Zns => "zns",
        };
        let q = Query::on(Some(table::GSI2), keys::contact_deliveries(contact_id))
            .sort_range(
                Some(format!("{channel}#{}", keys::instant(since))),
                Some(format!("{channel}#~")),
            )
            .filter_in(
                "status",
                &[DeliveryStatus::Sent.as_str(), DeliveryStatus::Uncertain.as_str()],
            );
        Ok(self.query_all::<StoredDelivery>(q).await?.len())
    }
}
