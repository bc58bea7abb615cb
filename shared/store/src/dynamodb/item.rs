//! Items of the table: keys, type and version beside the domain value, and the item of each entity.

use super::*;

/// A DynamoDB item as a map of attributes.
pub type RawItem = HashMap<String, AttributeValue>;

/// One item of the table: keys, type and version beside the domain value it stores.
#[derive(Debug, Serialize, Deserialize)]
pub struct Item<T> {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity_type: String,
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    #[serde(rename = "GSI2PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(rename = "GSI2SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    #[serde(rename = "GSI3PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi3pk: Option<String>,
    #[serde(rename = "GSI3SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi3sk: Option<String>,
    pub version: u64,
    pub data: T,
}

impl<T> Item<T> {
    pub(super) fn new(pk: String, sk: impl Into<String>, entity_type: &str, version: u64, data: T) -> Self {
        Self {
            pk,
            sk: sk.into(),
            entity_type: entity_type.to_string(),
            gsi1pk: None,
            gsi1sk: None,
            gsi2pk: None,
            gsi2sk: None,
            gsi3pk: None,
            gsi3sk: None,
            version,
            data,
        }
    }
    pub(super) fn gsi1(mut self, pk: String, sk: String) -> Self {
        (self.gsi1pk, self.gsi1sk) = (Some(pk), Some(sk));
        self
    }
    pub(super) fn gsi2(mut self, pk: String, sk: String) -> Self {
        (self.gsi2pk, self.gsi2sk) = (Some(pk), Some(sk));
        self
    }
    pub(super) fn gsi3(mut self, pk: String, sk: String) -> Self {
        (self.gsi3pk, self.gsi3sk) = (Some(pk), Some(sk));
        self
    }
}

/// A delivery as stored: its id is left out (the keys carry it, and it is derived from the
/// fields), which keeps a recorded delivery under the 1 KB of one write unit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredDelivery {
    pub campaign_id: CampaignId,
    pub session_id: SessionId,
    pub rule_id: String,
    pub contact_id: ContactId,
    pub channel: Channel,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub attempts: u32,
    pub lease_until: chrono::DateTime<chrono::Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_started_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub segments: u32,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub cost_milli_vnd: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub version: u64,
    /// A ZNS delivery that SMS carried: its id (the sort key) still names `zns`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub zns_fallback: bool,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

impl From<&Delivery> for StoredDelivery {
    fn from(d: &Delivery) -> Self {
        Self {
            campaign_id: d.campaign_id.clone(),
            session_id: d.session_id.clone(),
            rule_id: d.rule_id.clone(),
            contact_id: d.contact_id.clone(),
            channel: d.channel,
            status: d.status,
            message_id: d.message_id.clone(),
            reason: d.reason.clone(),
            attempts: d.attempts,
            lease_until: d.lease_until,
            attempt_started_at: d.attempt_started_at,
            segments: d.segments,
            cost_milli_vnd: d.cost_milli_vnd,
            delivered_at: d.delivered_at,
            seen_at: d.seen_at,
            updated_at: d.updated_at,
            expires_at: d.expires_at,
            version: d.version,
            zns_fallback: d.fell_back_to_sms(),
        }
    }
}

impl From<StoredDelivery> for Delivery {
    fn from(d: StoredDelivery) -> Self {
        let id_channel = if d.zns_fallback { Channel::Zns } else { d.channel };
        Self {
            id: Delivery::id_for(&d.session_id, &d.rule_id, &d.contact_id, id_channel),
            campaign_id: d.campaign_id,
            session_id: d.session_id,
            rule_id: d.rule_id,
            contact_id: d.contact_id,
            channel: d.channel,
            status: d.status,
            message_id: d.message_id,
            reason: d.reason,
            attempts: d.attempts,
            lease_until: d.lease_until,
            attempt_started_at: d.attempt_started_at,
            segments: d.segments,
            cost_milli_vnd: d.cost_milli_vnd,
            delivered_at: d.delivered_at,
            seen_at: d.seen_at,
            updated_at: d.updated_at,
            expires_at: d.expires_at,
            version: d.version,
        }
    }
}

/// The item that reserves a phone number for one contact.
#[derive(Debug, Serialize, Deserialize)]
pub struct PhoneLock {
    pub contact_id: ContactId,
}

/// The item of each entity: keys built by `keys`, sizes checked before anything is sent.
pub mod items {
    use super::*;

    pub fn unit(u: &OrgUnit) -> Item<&OrgUnit> {
        let sort = keys::unit_sort(u.code.as_str(), u.valid_from);
        let mut item = Item::new(
            keys::unit_pk(u.code.as_str()),
            keys::unit_sk(u.valid_from),
            "unit",
            1,
            u,
        )
        .gsi2(keys::unit_level(u.level.as_str()), sort.clone())
        .gsi3(keys::entity_index("unit"), sort.clone());
        if let Some(parent) = &u.parent_code {
            item = item.gsi1(keys::unit_parent(parent.as_str()), sort);
        }
        item
    }

    pub fn contact(c: &Contact) -> Item<&Contact> {
        Item::new(keys::contact_pk(&c.id), keys::CONTACT_SK, "contact", c.version, c)
            .gsi1(keys::commune_contacts(&c.commune_code), c.id.to_string())
            .gsi2(
                keys::commune_role_contacts(&c.commune_code, c.role.as_str()),
                c.id.to_string(),
            )
            .gsi3(keys::entity_index("contact"), c.id.to_string())
    }

    /// The item that finds a contact by email address.
    pub fn email_entry(c: &Contact, email: &str) -> Item<PhoneLock> {
        Item::new(
            keys::email_pk(email),
            keys::email_sk(&c.id),
            "email",
            1,
            PhoneLock {
                contact_id: c.id.clone(),
            },
        )
    }

    /// The item that holds a phone number for one contact (none once erased).
    pub fn phone_lock(c: &Contact) -> Option<Item<PhoneLock>> {
        let phone = c.phone.as_ref()?;
        Some(Item::new(
            keys::phone_pk(&phone.e164),
            keys::PHONE_SK,
            "phone",
            1,
            PhoneLock {
                contact_id: c.id.clone(),
            },
        ))
    }

    pub fn campaign(c: &Campaign) -> Item<&Campaign> {
        Item::new(keys::campaign_pk(&c.id), keys::CAMPAIGN_SK, "campaign", c.version, c)
            .gsi1(keys::campaigns_by_status(c.status.as_str()), c.id.to_string())
            .gsi3(keys::entity_index("campaign"), c.id.to_string())
    }

    pub fn session(s: &Session) -> Item<&Session> {
        let sort = keys::session_sort(s.starts_at, &s.id);
        Item::new(keys::session_pk(&s.id), keys::SESSION_SK, "session", s.version, s)
            .gsi1(keys::campaign_sessions(&s.campaign_id), sort.clone())
            .gsi2(keys::commune_sessions(&s.commune_code), sort.clone())
            .gsi3(keys::entity_index("session"), sort)
    }

    pub fn team(t: &VolunteerTeam) -> Item<&VolunteerTeam> {
        Item::new(
            keys::team_pk(t.commune_code.as_str()),
            keys::TEAM_SK,
            "team",
            t.version,
            t,
        )
    }

    /// An answer: its version is `answered_at` in microseconds, so that a conditional put
    /// keeps the later of two answers.
    pub fn answer(a: &outreach_core::answer::SessionAnswer) -> Item<&outreach_core::answer::SessionAnswer> {
        Item::new(
            keys::answers_pk(&a.session_id),
            a.contact_id.clone(),
            "answer",
            a.answered_at.timestamp_micros().max(0) as u64,
            a,
        )
        .gsi1(keys::contact_answers(&a.contact_id), a.session_id.to_string())
    }

    pub fn zns_token(t: &outreach_core::zns::ZnsToken) -> Item<&outreach_core::zns::ZnsToken> {
        Item::new(
            keys::ZNS_TOKEN_PK.to_string(),
            keys::ZNS_TOKEN_SK,
            "zns_token",
            t.version,
            t,
        )
    }

    pub fn job(j: &ReminderJob) -> Item<&ReminderJob> {
        let item = Item::new(keys::job_pk(&j.id), keys::JOB_SK, "job", j.version, j)
            .gsi2(keys::session_jobs(&j.session_id), j.id.to_string());
        if j.status == JobStatus::Pending {
            item.gsi1(
                keys::due_bucket(j.due_at, keys::due_shard(&j.id)),
                format!("{}#{}", keys::instant(j.due_at), j.id),
            )
        } else {
            item
        }
    }

    /// A delivery as claimed: no index keys yet, so a claim costs one write unit.
    pub fn claimed_delivery(d: &Delivery) -> Item<StoredDelivery> {
        Item::new(
            keys::campaign_deliveries(&d.campaign_id),
            d.id.clone(),
            "delivery",
            d.version,
            StoredDelivery::from(d),
        )
    }

    /// A delivery with its outcome: indexed by contact (its campaign and session are its key).
    pub fn recorded_delivery(d: &Delivery) -> Item<StoredDelivery> {
        let channel = match d.channel {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Zns => "zns",
        };
        claimed_delivery(d).gsi2(
            keys::contact_deliveries(&d.contact_id),
            keys::contact_delivery_sort(channel, d.updated_at),
        )
    }

    /// Add the top-level attributes conditions test (status, lease end) and the TTL.
    pub fn with_delivery_attributes(mut raw: RawItem, d: &Delivery) -> RawItem {
        raw.insert("status".into(), AttributeValue::S(d.status.as_str().into()));
        raw.insert("lease_until".into(), AttributeValue::S(keys::instant(d.lease_until)));
        raw.insert(
            "expires_at".into(),
            AttributeValue::N(d.expires_at.timestamp().to_string()),
        );
        raw
    }

    /// Serialise an item, refusing one DynamoDB would refuse for its size.
    pub fn encode<T: Serialize>(item: &Item<T>) -> Result<RawItem, StoreError> {
        let raw: RawItem = to_item(item).map_err(|e| StoreError::Encode(e.to_string()))?;
        let bytes = item_size(&raw);
        if bytes > MAX_ITEM_BYTES {
            return Err(StoreError::ItemTooLarge {
                entity: item.entity_type.clone(),
                bytes,
            });
        }
        Ok(raw)
    }
}
