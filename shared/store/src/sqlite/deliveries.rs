//! `SqliteStore` as DeliveryStore: one delivery per (session, rule, person, channel), claimed and settled.

use chrono::NaiveDate;
use outreach_core::cost::{DeliveryTally, DeliveryTallyKey};

use super::*;

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
            let result = match stored.take_over(&claim, now) {
                Some(taken) => {
                    update_delivery(&tx, &taken)?;
                    Claim::Claimed(taken)
                }
                None => Claim::Taken(stored),
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

    async fn settle_delivery(&self, delivery: &Delivery, tally: &DeliveryTally) -> CoreResult<()> {
        let (d, t) = (delivery.clone(), tally.clone());
        self.call(move |c| {
            // A savepoint: the settled delivery and its tally land together or not at all, and
            // a stale settle (another sender's, or a retry of this one) adds nothing.
            let tx = c.savepoint()?;
            if update_delivery(&tx, &d)? != 1 {
                return Ok(Err(stale("delivery", &d.id)));
            }
            let k = &t.key;
            tx.prepare_cached(
                "INSERT INTO delivery_tallies
                 (day, commune_code, channel, carried_by, status, reason, count, segments, cost_milli_vnd)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (day, commune_code, channel, carried_by, status, reason) DO UPDATE SET
                 count = count + excluded.count, segments = segments + excluded.segments,
                 cost_milli_vnd = cost_milli_vnd + excluded.cost_milli_vnd",
            )?
            .execute(params![
                k.day.to_string(),
                k.commune_code.as_str(),
                k.channel.as_str(),
                k.carried_by.as_str(),
                k.status.as_str(),
                k.reason,
                t.count as i64,
                t.segments as i64,
                t.cost_milli_vnd as i64
            ])?;
            tx.commit()?;
            Ok(Ok(()))
        })
        .await?
    }

    async fn delivery_tallies(
        &self,
        communes: &[UnitCode],
        from: NaiveDate,
        to: NaiveDate,
    ) -> CoreResult<Vec<DeliveryTally>> {
        let communes: std::collections::HashSet<String> = communes.iter().map(String::from).collect();
        self.call(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT day, commune_code, channel, carried_by, status, reason, count, segments, cost_milli_vnd
                 FROM delivery_tallies WHERE day >= ? AND day <= ? ORDER BY day, commune_code",
            )?;
            let rows = stmt.query_map(params![from.to_string(), to.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (day, commune, channel, carried_by, status, reason, count, segments, cost) = row?;
                if !communes.contains(&commune) {
                    continue;
                }
                out.push(DeliveryTally {
                    key: DeliveryTallyKey {
                        commune_code: commune.into(),
                        day: day
                            .parse()
                            .map_err(|_| StoreError::Decode(format!("a tally's day {day:?}")))?,
                        channel: parse_channel(&channel)?,
                        carried_by: parse_channel(&carried_by)?,
                        status: status
                            .parse::<DeliveryStatus>()
                            .map_err(|e| StoreError::Decode(format!("a tally's status: {e}")))?,
                        reason,
                    },
                    count: count as u64,
                    segments: segments as u64,
                    cost_milli_vnd: cost as u64,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn get_delivery(&self, _campaign_id: &CampaignId, id: &str) -> CoreResult<Option<Delivery>> {
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
                ("campaign_id", filter.campaign.map(CampaignId::into_string)),
                ("session_id", filter.session.map(SessionId::into_string)),
                ("contact_id", filter.contact.map(ContactId::into_string)),
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

    async fn count_sent_since(
        &self,
        contact_id: &ContactId,
        channel: Channel,
        since: DateTime<Utc>,
    ) -> CoreResult<usize> {
        let contact = contact_id.to_string();
        self.call(move |c| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT COUNT(*) FROM deliveries
                 WHERE contact_id = ? AND channel = ? AND status IN (?, ?) AND updated_at >= ?",
                )?
                .query_row(
                    params![
                        contact,
                        channel.as_str(),
                        DeliveryStatus::Sent.as_str(),
                        DeliveryStatus::Uncertain.as_str(),
                        instant(since)
                    ],
                    |r| r.get(0),
                )?;
            Ok(n as usize)
        })
        .await
    }
}

pub(super) fn insert_delivery(c: &Connection, d: &Delivery) -> Result<usize, StoreError> {
    // A fresh claim; one that exists already is answered by the caller from the stored record.
    let mut stmt = c.prepare_cached(
        "INSERT INTO deliveries
         (id, campaign_id, session_id, contact_id, channel, status, updated_at, lease_until, version, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )?;
    Ok(stmt.execute(params![
        d.id,
        d.campaign_id.as_str(),
        d.session_id.as_str(),
        d.contact_id.as_str(),
        d.channel.as_str(),
        d.status.as_str(),
        instant(d.updated_at),
        instant(d.lease_until),
        d.version as i64,
        to_json(d)?
    ])?)
}

/// Replace the delivery stored at `d.version - 1`. Only the columns that change over a
/// delivery's life are set: its campaign, session and contact are those its id names, and
/// leaving them (and the key) alone spares the indexes over them a rewrite. The channel
/// changes once when a ZNS delivery falls back to SMS.
pub(super) fn update_delivery(c: &Connection, d: &Delivery) -> Result<usize, StoreError> {
    let mut stmt = c.prepare_cached(
        "UPDATE deliveries SET channel = ?, status = ?, updated_at = ?, lease_until = ?, version = ?, data = ?
         WHERE id = ? AND version = ?",
    )?;
    Ok(stmt.execute(params![
        d.channel.as_str(),
        d.status.as_str(),
        instant(d.updated_at),
        instant(d.lease_until),
        d.version as i64,
        to_json(d)?,
        d.id,
        d.version as i64 - 1
    ])?)
}
