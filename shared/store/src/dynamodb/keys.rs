//! Every key format of the single table, in one place. Items are found by `PK`/`SK`;
//! the overloaded indexes GSI1–GSI3 serve the list access patterns (see `DYNAMODB.md`).

use chrono::{DateTime, SecondsFormat, Utc};
use outreach_core::ids::{CampaignId, ContactId, JobId, SessionId, UnitCode};

/// A sortable instant: RFC 3339 in UTC with fixed width, so text order is time order.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The version part of a unit's sort key; `0000-00-00` when valid since before records began.
pub fn unit_version(valid_from: Option<chrono::NaiveDate>) -> String {
    valid_from
        .map(|d| d.to_string())
        .unwrap_or_else(|| "0000-00-00".to_string())
}

pub fn unit_pk(code: &str) -> String {
    format!("UNIT#{code}")
}
pub fn unit_sk(valid_from: Option<chrono::NaiveDate>) -> String {
    format!("V#{}", unit_version(valid_from))
}
/// GSI1: units by parent.
pub fn unit_parent(parent: &str) -> String {
    format!("UNITPARENT#{parent}")
}
/// GSI2: units by level.
pub fn unit_level(level: &str) -> String {
    format!("UNITLEVEL#{level}")
}
/// GSI1/GSI2/GSI3 sort key of a unit: code, then version.
pub fn unit_sort(code: &str, valid_from: Option<chrono::NaiveDate>) -> String {
    format!("{code}#{}", unit_version(valid_from))
}

pub fn contact_pk(id: &ContactId) -> String {
    format!("CONTACT#{id}")
}
pub const CONTACT_SK: &str = "CONTACT";
/// The item that reserves a phone number for one contact.
pub fn phone_pk(e164: &str) -> String {
    format!("PHONE#{e164}")
}
pub const PHONE_SK: &str = "PHONE";
/// The items that find contacts by email address (lower-cased): one per contact.
pub fn email_pk(email: &str) -> String {
    format!("EMAIL#{}", email.trim().to_lowercase())
}
pub fn email_sk(contact_id: &ContactId) -> String {
    format!("CONTACT#{contact_id}")
}
/// GSI1: contacts of a commune.
pub fn commune_contacts(commune: &UnitCode) -> String {
    format!("COMMUNE#{commune}#CONTACTS")
}
/// GSI2: contacts of a commune in a role (a reminder's audience).
pub fn commune_role_contacts(commune: &UnitCode, role: &str) -> String {
    format!("COMMUNE#{commune}#ROLE#{role}")
}

pub fn campaign_pk(id: &CampaignId) -> String {
    format!("CAMPAIGN#{id}")
}
pub const CAMPAIGN_SK: &str = "CAMPAIGN";
/// GSI1: campaigns by status.
pub fn campaigns_by_status(status: &str) -> String {
    format!("CAMPAIGNS#{status}")
}

pub fn session_pk(id: &SessionId) -> String {
    format!("SESSION#{id}")
}
pub const SESSION_SK: &str = "SESSION";
/// GSI1: sessions of a campaign, by start.
pub fn campaign_sessions(campaign_id: &CampaignId) -> String {
    format!("CAMPAIGN#{campaign_id}#SESSIONS")
}
/// GSI2: sessions in a commune, by start.
pub fn commune_sessions(commune: &UnitCode) -> String {
    format!("COMMUNE#{commune}#SESSIONS")
}
/// Sort key of a session in every index: start, then id.
pub fn session_sort(starts_at: DateTime<Utc>, id: &SessionId) -> String {
    format!("{}#{id}", instant(starts_at))
}

pub fn team_pk(commune: &str) -> String {
    format!("TEAM#{commune}")
}
pub const TEAM_SK: &str = "TEAM";

/// The Zalo OA's token pair: one item.
/// A session's answers: one item per person, sort key the contact id.
pub fn answers_pk(session_id: &SessionId) -> String {
    format!("ANSWERS#{session_id}")
}
/// GSI1: a contact's answers, sort key the session id.
pub fn contact_answers(contact_id: &ContactId) -> String {
    format!("CONTACT#{contact_id}#ANSWERS")
}

pub const ZNS_TOKEN_PK: &str = "ZNS#TOKEN";
pub const ZNS_TOKEN_SK: &str = "ZNS#TOKEN";

/// GSI3: every item of one entity type (administrative lists only; never a job path).
pub fn entity_index(entity_type: &str) -> String {
    format!("ENTITY#{entity_type}")
}

pub fn job_pk(id: &JobId) -> String {
    format!("JOB#{id}")
}
pub const JOB_SK: &str = "JOB";
/// Due jobs are spread over this many partitions per hour, so a busy hour is no hot key.
pub const DUE_SHARDS: u32 = 4;
/// GSI1 of a pending job: its due hour and shard (sparse: only pending jobs carry it).
pub fn due_bucket(due_at: DateTime<Utc>, shard: u32) -> String {
    format!("DUE#{}#{shard}", due_at.format("%Y-%m-%dT%H"))
}
/// The shard of a job: a stable hash of its id (FNV-1a).
pub fn due_shard(job_id: &JobId) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in job_id.as_str().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % DUE_SHARDS
}
/// GSI2 of a job: the jobs of its session.
pub fn session_jobs(session_id: &SessionId) -> String {
    format!("SESSION#{session_id}#JOBS")
}

/// A delivery lives in its campaign's partition, sorted by its id; the id starts with the
/// session id, so a session's deliveries are a prefix. No index is needed for the campaign
/// or session log, which keeps a delivered reminder at 1 + 2 write units.
pub fn campaign_deliveries(campaign_id: &CampaignId) -> String {
    format!("CAMPAIGN#{campaign_id}#DELIVERIES")
}
/// GSI2 of a recorded delivery: its contact, sorted by channel then time.
pub fn contact_deliveries(contact_id: &ContactId) -> String {
    format!("CONTACT#{contact_id}#DELIVERIES")
}
pub fn contact_delivery_sort(channel: &str, at: DateTime<Utc>) -> String {
    format!("{channel}#{}", instant(at))
}

/// A session's record of attendance and outcomes sits beside the session.
pub const SESSION_RECORD_SK: &str = "RECORD";
/// The tallies of a year: one partition, sorted by quarter, unit and metric, so a report
/// reads quarters 1..=q with one key range.
pub fn tallies_pk(year: i32) -> String {
    format!("TALLIES#{year}")
}
pub fn tally_sk(quarter: u8, unit_code: &UnitCode, metric: &str) -> String {
    format!("{quarter}#{unit_code}#{metric}")
}
/// The first sort key after quarter `q`'s tallies.
pub fn tallies_after(quarter: u8) -> String {
    format!("{}#", quarter + 1)
}
/// The targets of a year, sorted by unit then metric.
pub fn targets_pk(year: i32) -> String {
    format!("TARGETS#{year}")
}
pub fn target_sk(org_code: &str, metric: &str) -> String {
    format!("{org_code}#{metric}")
}
/// The snapshots of one unit's quarter, by revision.
/// A year's audit log (sort key: the entry's time-ordered id).
pub fn audit_pk(year: i32) -> String {
    format!("AUDIT#{year}")
}
pub fn snapshots_pk(org_code: &str, year: i32, quarter: u8) -> String {
    format!("REPORT#{org_code}#{year}-Q{quarter}")
}
pub fn snapshot_sk(revision: u32) -> String {
    format!("REV#{revision:06}")
}

/// Delivery tallies of a month (`2026-10`): one partition a month, so a week or a quarter is
/// one to three queries whatever the number of deliveries.
pub fn delivery_tallies_pk(month: &str) -> String {
    format!("DTALLY#{month}")
}
/// A delivery tally: local day first, so a range of days is a range of sort keys.
pub fn delivery_tally_sk(k: &outreach_core::cost::DeliveryTallyKey, channel: &str, carried_by: &str) -> String {
    format!(
        "{}#{}#{channel}#{carried_by}#{}#{}",
        k.day,
        k.commune_code,
        k.status.as_str(),
        k.reason
    )
}
