//! Reminders: the job of sending one reminder rule for one session, the delivery of it to
//! one person on one channel, and the rules that decide whether and when it may go.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::campaign::{Audience, Campaign, CampaignStatus, ReminderRule};
use crate::contact::{Channel, Contact};
use crate::ids::{CampaignId, ContactId, JobId, SessionId, UnitCode};
use crate::notify::DeliveryTask;
use crate::phone::Phone;
use crate::session::{Session, SessionStatus};

/// Where a reminder job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for its due time, or dispatched part-way (see `cursor`).
    Pending,
    /// Every member of its audience was enqueued.
    Done,
    /// Its session was cancelled, or its campaign ended.
    Cancelled,
}

crate::named_enum!(JobStatus {
    Pending => "pending",
    Done => "done",
    Cancelled => "cancelled",
});

/// One reminder rule of one session, due at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderJob {
    /// `{session_id}|{rule_id}`: one job per (session, rule), whoever plans it.
    pub id: JobId,
    pub campaign_id: CampaignId,
    pub session_id: SessionId,
    pub rule_id: String,
    pub commune_code: UnitCode,
    pub audience: Audience,
    pub channels: Vec<Channel>,
    /// The session start this job was planned for; a moved session re-plans it.
    pub session_starts_at: DateTime<Utc>,
    /// When to dispatch: the rule's offset before the start, out of quiet hours.
    pub due_at: DateTime<Utc>,
    pub status: JobStatus,
    /// Where a large audience's dispatch stopped; the next run continues from here.
    pub cursor: Option<String>,
    /// Deliveries enqueued so far.
    pub enqueued: u64,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl ReminderJob {
    /// The stable id of a session's job for a rule.
    pub fn id_for(session_id: &SessionId, rule_id: &str) -> JobId {
        JobId::new(format!("{session_id}|{rule_id}"))
    }

    /// Plan the job of `rule` for `session`.
    pub fn plan(campaign: &Campaign, session: &Session, rule: &ReminderRule, now: DateTime<Utc>) -> Self {
        Self {
            id: Self::id_for(&session.id, &rule.id),
            campaign_id: campaign.id.clone(),
            session_id: session.id.clone(),
            rule_id: rule.id.clone(),
            commune_code: session.commune_code.clone(),
            audience: rule.audience,
            channels: rule.channels.clone(),
            session_starts_at: session.starts_at,
            due_at: due_time(rule, session.starts_at, campaign.schedule.time_zone),
            status: JobStatus::Pending,
            cursor: None,
            enqueued: 0,
            updated_at: now,
            version: 1,
        }
    }
}

/// When a rule's reminder is due for a session starting at `starts_at`: its offset before
/// the start, moved out of quiet hours when the rule sends SMS or ZNS.
pub fn due_time(rule: &ReminderRule, starts_at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let due = starts_at - Duration::minutes(i64::from(rule.offset_minutes));
    if rule.channels.contains(&Channel::Sms) || rule.channels.contains(&Channel::Zns) {
        shift_out_of_quiet_hours(due, starts_at, tz)
    } else {
        due
    }
}

/// The deliveries a rule's channels make for one person (rule 13): a rule naming both `zns`
/// and `sms` makes one delivery on `zns` that falls back to SMS, never one on each.
pub fn delivery_channels(channels: &[Channel]) -> Vec<Channel> {
    let zns = channels.contains(&Channel::Zns);
    channels
        .iter()
        .copied()
        .filter(|c| !(zns && *c == Channel::Sms))
        .collect()
}

/// The channel a delivery task's record is keyed on: an SMS task of a rule that also names
/// ZNS (a queue message written before the rule changed, say) is the ZNS delivery's.
pub fn delivery_key_channel(task_channel: Channel, rule_channels: &[Channel]) -> Channel {
    if task_channel == Channel::Sms && rule_channels.contains(&Channel::Zns) {
        Channel::Zns
    } else {
        task_channel
    }
}

/// Quiet hours start (local): no SMS from 22:00…
pub const QUIET_FROM: NaiveTime = NaiveTime::from_hms_opt(22, 0, 0).expect("valid time");
/// …until 07:00.
pub const QUIET_UNTIL: NaiveTime = NaiveTime::from_hms_opt(7, 0, 0).expect("valid time");

/// Whether an instant falls in quiet hours (22:00–07:00 local).
pub fn in_quiet_hours(t: DateTime<Utc>, tz: Tz) -> bool {
    let local = t.with_timezone(&tz).time();
    local >= QUIET_FROM || local < QUIET_UNTIL
}

/// Rule 4: a reminder due inside quiet hours moves forward to 07:00 when that is still at
/// least 30 minutes before the session, otherwise back to 21:59 the evening before. It
/// never lands after the session starts.
pub fn shift_out_of_quiet_hours(due: DateTime<Utc>, session_start: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    if !in_quiet_hours(due, tz) {
        return due;
    }
    let local = due.with_timezone(&tz);
    let (morning_day, evening_day) = if local.time() >= QUIET_FROM {
        (local.date_naive() + Duration::days(1), local.date_naive())
    } else {
        (local.date_naive(), local.date_naive() - Duration::days(1))
    };
    let at = |day: chrono::NaiveDate, h, m| {
        tz.from_local_datetime(&day.and_hms_opt(h, m, 0).expect("valid time"))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    if let Some(morning) = at(morning_day, 7, 0)
        && morning + Duration::minutes(30) <= session_start
    {
        return morning;
    }
    at(evening_day, 21, 59)
        .filter(|t| *t < session_start)
        .unwrap_or(due.with_second(0).unwrap_or(due))
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// A sender holds it (until `lease_until`).
    Claimed,
    /// The provider failed temporarily; the next attempt may claim it.
    Retrying,
    /// The provider accepted it (`message_id`).
    Sent,
    /// The provider refused it, or it failed too often (`reason`).
    Failed,
    /// The send policy stopped it (`reason` names the rule).
    Suppressed,
    /// A sender handed it to a provider that takes no idempotency key and died before
    /// recording the answer; under the `record` policy it is not sent again. It may or may
    /// not have arrived, and it counts toward the frequency cap as sent.
    Uncertain,
}

crate::named_enum!(DeliveryStatus {
    Claimed => "claimed",
    Retrying => "retrying",
    Sent => "sent",
    Failed => "failed",
    Suppressed => "suppressed",
    Uncertain => "uncertain",
});

impl DeliveryStatus {
    /// Whether the delivery is over: nothing will be sent for it any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Sent | Self::Failed | Self::Suppressed | Self::Uncertain)
    }

    /// Whether a message may have reached the person: what the frequency cap counts.
    pub fn may_have_arrived(self) -> bool {
        matches!(self, Self::Sent | Self::Uncertain)
    }
}

/// One reminder rule of one session to one person on one channel: exactly one of these
/// exists per (session, rule, contact, channel), whatever retries and duplicates do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `{session_id}|{rule_id}|{contact_id}|{channel}`.
    pub id: String,
    #[schema(value_type = String)]
    pub campaign_id: CampaignId,
    #[schema(value_type = String)]
    pub session_id: SessionId,
    pub rule_id: String,
    #[schema(value_type = String)]
    pub contact_id: ContactId,
    pub channel: Channel,
    pub status: DeliveryStatus,
    /// The provider's id of the message, once sent.
    pub message_id: Option<String>,
    /// Why it failed, or which policy rule suppressed it.
    pub reason: Option<String>,
    /// Send attempts so far.
    pub attempts: u32,
    /// A claim older than this may be taken over (the sender that held it died).
    pub lease_until: DateTime<Utc>,
    /// When the current attempt was handed to the provider, written before the call; set
    /// on a claimed delivery, its sender may have died after the provider accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_started_at: Option<DateTime<Utc>>,
    /// SMS segments of the text sent; 1 for an email or a ZNS message; 0 while nothing was
    /// sent (older records, written before segments were kept, read as 0).
    #[serde(default)]
    pub segments: u32,
    /// What it cost, in thousandths of a đồng, at the prices of the day it was sent (0 when
    /// nothing was charged: suppressed, failed, or a ZNS message not delivered).
    #[serde(default)]
    pub cost_milli_vnd: u64,
    /// When Zalo reported the ZNS message delivered to the person's phone (its
    /// `user_received_message` callback); absent until then, and on other channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// When Zalo reported the ZNS message seen (`user_seen_message`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// When the record expires (TTL), for data retention.
    pub expires_at: DateTime<Utc>,
    pub version: u64,
}

impl Delivery {
    /// A fresh claim of the delivery `task` names, keyed on `channel` (a rule naming ZNS and
    /// SMS has one delivery, keyed on ZNS): a first attempt held until `now + lease`, kept
    /// until `now + retention`.
    pub fn claim(
        task: &DeliveryTask,
        channel: Channel,
        now: DateTime<Utc>,
        lease: Duration,
        retention: Duration,
    ) -> Self {
        Self {
            id: Self::id_for(&task.session_id, &task.rule_id, &task.contact_id, channel),
            campaign_id: task.campaign_id.clone(),
            session_id: task.session_id.clone(),
            rule_id: task.rule_id.clone(),
            contact_id: task.contact_id.clone(),
            channel,
            status: DeliveryStatus::Claimed,
            message_id: None,
            reason: None,
            attempts: 1,
            lease_until: now + lease,
            attempt_started_at: None,
            segments: 0,
            cost_milli_vnd: 0,
            delivered_at: None,
            seen_at: None,
            updated_at: now,
            expires_at: now + retention,
            version: 1,
        }
    }

    /// The stable id of a delivery.
    pub fn id_for(session_id: &SessionId, rule_id: &str, contact_id: &ContactId, channel: Channel) -> String {
        let channel = match channel {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Zns => "zns",
        };
        format!("{session_id}|{rule_id}|{contact_id}|{channel}")
    }

    /// Whether this delivery went by SMS because ZNS could not carry it (its `reason` says
    /// why): its id names `zns`, its channel is `sms`.
    pub fn fell_back_to_sms(&self) -> bool {
        self.channel == Channel::Sms && self.id.ends_with("|zns")
    }

    /// What a new `claim` makes of this stored delivery at `now`: the stored one claimed
    /// again (one more attempt, the claim's lease) when it is free to take, that is waiting
    /// for a retry or claimed by a sender whose lease ran out (it died); `None` while another
    /// sender holds it or it is settled. The one rule both stores apply, each atomically.
    pub fn take_over(&self, claim: &Delivery, now: DateTime<Utc>) -> Option<Delivery> {
        let free = self.status == DeliveryStatus::Retrying
            || (self.status == DeliveryStatus::Claimed && self.lease_until < now);
        free.then(|| Delivery {
            status: DeliveryStatus::Claimed,
            attempts: self.attempts + 1,
            lease_until: claim.lease_until,
            updated_at: claim.updated_at,
            version: self.version + 1,
            ..self.clone()
        })
    }
}

/// Why the send policy stopped a delivery (recorded as its `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    SessionCancelled,
    SessionMoved,
    SessionStarted,
    CampaignNotActive,
    ContactMissing,
    NoConsent,
    OptedOut,
    NotMobile,
    NoEmail,
    QuietHours,
    FrequencyCap,
    NotInAudience,
    /// The contact's personal data was erased.
    Erased,
}

impl Suppression {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SessionCancelled => "session_cancelled",
            Self::SessionMoved => "session_moved",
            Self::SessionStarted => "session_started",
            Self::CampaignNotActive => "campaign_not_active",
            Self::ContactMissing => "contact_missing",
            Self::NoConsent => "no_consent",
            Self::OptedOut => "opted_out",
            Self::NotMobile => "not_mobile",
            Self::NoEmail => "no_email",
            Self::QuietHours => "quiet_hours",
            Self::FrequencyCap => "frequency_cap",
            Self::NotInAudience => "not_in_audience",
            Self::Erased => "erased",
        }
    }
}

/// At most this many SMS, and this many emails, to one person in any 24 hours.
pub const FREQUENCY_CAP: usize = 3;

/// Everything the send policy looks at, read at send time.
pub struct PolicyInput<'a> {
    pub now: DateTime<Utc>,
    pub channel: Channel,
    /// The session start the reminder was planned for.
    pub planned_start: DateTime<Utc>,
    pub session: Option<&'a Session>,
    pub campaign: Option<&'a Campaign>,
    pub contact: Option<&'a Contact>,
    pub audience: Audience,
    /// Messages on this channel sent to the contact in the 24 hours before `now`.
    pub sent_last_24h: usize,
}

/// The send policy, in one place: may this reminder go now? `Err` names the rule that
/// stops it. Stale reminders are dropped, never sent late.
pub fn check_send_policy(p: &PolicyInput<'_>) -> Result<(), Suppression> {
    let session = p.session.ok_or(Suppression::SessionCancelled)?;
    if session.status == SessionStatus::Cancelled {
        return Err(Suppression::SessionCancelled);
    }
    if session.starts_at != p.planned_start {
        return Err(Suppression::SessionMoved);
    }
    if p.now >= session.starts_at {
        return Err(Suppression::SessionStarted);
    }
    let campaign = p.campaign.ok_or(Suppression::CampaignNotActive)?;
    if campaign.status != CampaignStatus::Active {
        return Err(Suppression::CampaignNotActive);
    }
    let contact = p.contact.ok_or(Suppression::ContactMissing)?;
    let in_audience = match p.audience {
        Audience::Citizens => {
            contact.role == crate::contact::ContactRole::Citizen && contact.commune_code == session.commune_code
        }
        Audience::Volunteers => session.staff.contains(&contact.id),
        Audience::All => {
            (contact.role == crate::contact::ContactRole::Citizen && contact.commune_code == session.commune_code)
                || session.staff.contains(&contact.id)
        }
    };
    if !in_audience {
        return Err(Suppression::NotInAudience);
    }
    if contact.erased_at.is_some() {
        return Err(Suppression::Erased);
    }
    if contact.has_opted_out(p.channel) {
        return Err(Suppression::OptedOut);
    }
    if !contact.has_consent(p.channel) {
        return Err(Suppression::NoConsent);
    }
    match p.channel {
        Channel::Sms | Channel::Zns if !contact.phone.as_ref().is_some_and(Phone::is_mobile) => {
            return Err(Suppression::NotMobile);
        }
        Channel::Email if contact.email.is_none() => return Err(Suppression::NoEmail),
        _ => {}
    }
    if matches!(p.channel, Channel::Sms | Channel::Zns) && in_quiet_hours(p.now, campaign.schedule.time_zone) {
        return Err(Suppression::QuietHours);
    }
    if p.sent_last_24h >= FREQUENCY_CAP {
        return Err(Suppression::FrequencyCap);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Ho_Chi_Minh;
    use proptest::prelude::*;

    fn local(s: &str) -> DateTime<Utc> {
        Ho_Chi_Minh
            .from_local_datetime(&chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap())
            .unwrap()
            .with_timezone(&Utc)
    }

    fn show(t: DateTime<Utc>) -> String {
        t.with_timezone(&Ho_Chi_Minh).format("%Y-%m-%d %H:%M").to_string()
    }

    fn delivery(status: DeliveryStatus, lease_until: DateTime<Utc>) -> Delivery {
        let at = local("2026-10-03 07:00");
        Delivery {
            id: Delivery::id_for(&"s1".into(), "r1", &"c1".into(), Channel::Sms),
            campaign_id: "cp1".into(),
            session_id: "s1".into(),
            rule_id: "r1".into(),
            contact_id: "c1".into(),
            channel: Channel::Sms,
            status,
            message_id: None,
            reason: None,
            attempts: 1,
            lease_until,
            attempt_started_at: None,
            segments: 0,
            cost_milli_vnd: 0,
            delivered_at: None,
            seen_at: None,
            updated_at: at,
            expires_at: at + chrono::Duration::days(365),
            version: 3,
        }
    }

    #[test]
    fn a_claim_takes_over_a_retry_or_an_expired_lease_and_nothing_else() {
        let now = local("2026-10-03 08:00");
        let claim = delivery(DeliveryStatus::Claimed, now + chrono::Duration::minutes(5));
        let expired = delivery(DeliveryStatus::Claimed, now - chrono::Duration::seconds(1));
        let taken = expired
            .take_over(&claim, now)
            .expect("a dead sender's claim is taken over");
        assert_eq!(
            (taken.status, taken.attempts, taken.version),
            (DeliveryStatus::Claimed, 2, 4)
        );
        assert_eq!(taken.lease_until, claim.lease_until);
        assert!(
            delivery(DeliveryStatus::Retrying, now + chrono::Duration::hours(1))
                .take_over(&claim, now)
                .is_some()
        );
        // A live lease, or one that ends this very instant, is still its sender's.
        assert_eq!(delivery(DeliveryStatus::Claimed, now).take_over(&claim, now), None);
        for settled in [DeliveryStatus::Sent, DeliveryStatus::Failed, DeliveryStatus::Suppressed] {
            assert_eq!(
                delivery(settled, now - chrono::Duration::hours(1)).take_over(&claim, now),
                None,
                "{settled:?}"
            );
        }
    }

    #[test]
    fn a_rule_naming_zns_and_sms_makes_one_delivery_keyed_on_zns() {
        use Channel::*;
        assert_eq!(delivery_channels(&[Sms, Email, Zns]), [Email, Zns]);
        assert_eq!(delivery_channels(&[Sms, Email]), [Sms, Email]);
        assert_eq!(delivery_key_channel(Sms, &[Sms, Zns]), Zns);
        assert_eq!(delivery_key_channel(Sms, &[Sms]), Sms);
        assert_eq!(delivery_key_channel(Email, &[Email, Zns]), Email);
        let mut d = delivery(DeliveryStatus::Sent, local("2026-10-03 08:00"));
        d.id = Delivery::id_for(&"s1".into(), "r1", &"c1".into(), Zns);
        assert!(d.fell_back_to_sms(), "{}", d.id);
    }

    #[test]
    fn a_0530_reminder_for_a_0730_session_goes_at_0700() {
        let shifted = shift_out_of_quiet_hours(local("2026-10-03 05:30"), local("2026-10-03 07:30"), Ho_Chi_Minh);
        assert_eq!(show(shifted), "2026-10-03 07:00");
    }

    #[test]
    fn a_reminder_for_a_0645_session_goes_at_2159_the_evening_before() {
        let shifted = shift_out_of_quiet_hours(local("2026-10-03 05:45"), local("2026-10-03 06:45"), Ho_Chi_Minh);
        assert_eq!(show(shifted), "2026-10-02 21:59");
        // Due late in the evening for an early session: also back to 21:59 that evening.
        let late = shift_out_of_quiet_hours(local("2026-10-02 23:15"), local("2026-10-03 07:15"), Ho_Chi_Minh);
        assert_eq!(show(late), "2026-10-02 21:59");
        // Due late in the evening for a mid-morning session: forward to 07:00.
        let forward = shift_out_of_quiet_hours(local("2026-10-02 23:15"), local("2026-10-03 09:00"), Ho_Chi_Minh);
        assert_eq!(show(forward), "2026-10-03 07:00");
    }

    #[test]
    fn reminders_outside_quiet_hours_stay_put() {
        for t in ["2026-10-03 07:00", "2026-10-03 12:00", "2026-10-03 21:59"] {
            assert_eq!(
                show(shift_out_of_quiet_hours(
                    local(t),
                    local("2026-10-04 08:00"),
                    Ho_Chi_Minh
                )),
                t
            );
        }
        assert!(in_quiet_hours(local("2026-10-03 22:00"), Ho_Chi_Minh));
        assert!(in_quiet_hours(local("2026-10-03 06:59"), Ho_Chi_Minh));
        assert!(!in_quiet_hours(local("2026-10-03 07:00"), Ho_Chi_Minh));
    }

    proptest! {
        #[test]
        fn the_shift_leaves_quiet_hours_and_never_passes_the_start(
            due_minute in 0i64..(60 * 24 * 30), lead in 1i64..(60 * 48),
        ) {
            let due = local("2026-10-01 00:00") + Duration::minutes(due_minute);
            let start = due + Duration::minutes(lead);
            let shifted = shift_out_of_quiet_hours(due, start, Ho_Chi_Minh);
            prop_assert!(shifted < start, "{} for a session at {}", show(shifted), show(start));
            if !in_quiet_hours(due, Ho_Chi_Minh) {
                prop_assert_eq!(shifted, due);
            } else {
                prop_assert!(!in_quiet_hours(shifted, Ho_Chi_Minh), "{} is quiet", show(shifted));
                let t = shifted.with_timezone(&Ho_Chi_Minh).time();
                prop_assert!(t == QUIET_UNTIL || t == NaiveTime::from_hms_opt(21, 59, 0).unwrap());
                if t == QUIET_UNTIL {
                    prop_assert!(shifted > due && shifted + Duration::minutes(30) <= start);
                } else {
                    prop_assert!(shifted < due);
                }
            }
        }
    }
}
