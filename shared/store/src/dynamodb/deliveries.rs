//! `DynamoStore` as DeliveryStore: one delivery per (session, rule, person, channel), claimed and settled.

use chrono::{Datelike, NaiveDate};
use outreach_core::cost::{DeliveryTally, DeliveryTallyKey};

use super::*;

/// A delivery tally from its item: the key from the sort key, the counters from attributes.
fn tally_of(raw: &RawItem) -> Result<DeliveryTally, StoreError> {
    let bad = |what: &str| StoreError::Decode(format!("a delivery tally without {what}"));
    let sk = match raw.get("SK") {
        Some(AttributeValue::S(sk)) => sk,
        _ => return Err(bad("its sort key")),
    };
    let parts: Vec<&str> = sk.splitn(6, '#').collect();
    let [day, commune, channel, carried_by, status, reason] = parts[..] else {
        return Err(bad("a well-formed sort key"));
    };
    let number = |name: &str| match raw.get(name) {
        Some(AttributeValue::N(v)) => v.parse::<u64>().map_err(|_| bad(name)),
        _ => Ok(0),
    };
    Ok(DeliveryTally {
        key: DeliveryTallyKey {
            commune_code: commune.into(),
            day: day.parse().map_err(|_| bad("a day"))?,
            channel: channel.parse::<Channel>().ok().ok_or_else(|| bad("a channel"))?,
            carried_by: carried_by
                .parse::<Channel>()
                .ok()
                .ok_or_else(|| bad("a carrying channel"))?,
            status: status.parse::<DeliveryStatus>().map_err(|_| bad("a status"))?,
            reason: reason.to_string(),
        },
        count: number("count")?,
        segments: number("segments")?,
        cost_milli_vnd: number("cost_milli_vnd")?,
    })
}

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

    async fn settle_delivery(&self, delivery: &Delivery, tally: &DeliveryTally) -> CoreResult<()> {
        // One transaction: the delivery at its next version and the tally's counters, so a
        // settle that lost the race (or is repeated) adds nothing to the tally.
        let raw = items::with_delivery_attributes(items::encode(&items::recorded_delivery(delivery))?, delivery);
        let prev = HashMap::from([(":prev".to_string(), n(delivery.version.saturating_sub(1)))]);
        let put = transact_put(&self.table, raw, "version = :prev", Some(prev))?;
        let k = &tally.key;
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("PK", s(keys::delivery_tallies_pk(&k.day.format("%Y-%m").to_string())))
            .key(
                "SK",
                s(keys::delivery_tally_sk(k, k.channel.as_str(), k.carried_by.as_str())),
            )
            .update_expression("SET entity_type = :e ADD #count :count, #segments :segments, #cost :cost")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#segments", "segments")
            .expression_attribute_names("#cost", "cost_milli_vnd")
            .expression_attribute_values(":e", s("delivery_tally"))
            .expression_attribute_values(":count", n(tally.count))
            .expression_attribute_values(":segments", n(tally.segments))
            .expression_attribute_values(":cost", n(tally.cost_milli_vnd))
            .build()
            .map_err(|e| StoreError::Encode(e.to_string()))?;
        let add = TransactWriteItem::builder().update(update).build();
        self.transact(vec![put, add], "delivery", &delivery.id).await
    }

    async fn delivery_tallies(
        &self,
        communes: &[UnitCode],
        from: NaiveDate,
        to: NaiveDate,
    ) -> CoreResult<Vec<DeliveryTally>> {
        let communes: std::collections::HashSet<&str> = communes.iter().map(UnitCode::as_str).collect();
        let mut out = Vec::new();
        let mut month = NaiveDate::from_ymd_opt(from.year(), from.month(), 1).unwrap_or(from);
        while month <= to {
            let q = Query::on(None, keys::delivery_tallies_pk(&month.format("%Y-%m").to_string()))
                .sort_range(Some(format!("{from}#")), Some(format!("{to}#~")));
            for raw in self.query_raw(q).await? {
                let tally = tally_of(&raw)?;
                if communes.contains(tally.key.commune_code.as_str()) {
                    out.push(tally);
                }
            }
            month = month
                .checked_add_months(chrono::Months::new(1))
                .ok_or_else(|| CoreError::invalid("to", "a date too far ahead"))?;
        }
        Ok(out)
    }

    async fn get_delivery(&self, campaign_id: &CampaignId, id: &str) -> CoreResult<Option<Delivery>> {
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
                    Some(c) => q.filter_eq("contact_id", c.as_str()),
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
        contact_id: &ContactId,
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
