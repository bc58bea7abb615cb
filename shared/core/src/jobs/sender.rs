//! The sender job: for each delivery task, claim the delivery (one record per session,
//! rule, contact and channel), check the send policy at this moment, render the text,
//! send it, and record what happened.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tracing::instrument;

use crate::campaign::{Campaign, ReminderRule, SMS_NAME_CHARS};
use crate::contact::{Channel, Contact, mask_email};
use crate::cost::{DeliveryTally, DeliveryTallyKey, PriceTable};
use crate::error::{CoreError, CoreResult};
use crate::ids::{CampaignId, JobId, SessionId, UnitCode};
use crate::notify::{
    ChannelError, DeliveryTask, EmailChannel, OutboundEmail, OutboundSms, OutboundZns, SmsChannel, UnsubscribeLinks,
    ZNS_ALARM_MARKER, ZnsChannel, ZnsError, ZnsNext,
};
use crate::org::version_on;
use crate::ports::{Claim, Store};
use crate::reminder::{
    Delivery, DeliveryStatus, FREQUENCY_CAP, PolicyInput, ReminderJob, Suppression, check_send_policy,
    delivery_key_channel,
};
use crate::schedule::DEFAULT_TIME_ZONE;
use crate::session::Session;
use crate::sms::{count_segments, prepare_sms_text};
use crate::template::render;
use crate::testing::{Pause, pause_at};

/// What a sender does with a delivery it takes over from a sender that died after handing
/// it to the provider and before recording the answer. It matters only for providers that
/// take no idempotency key (SES, SNS): one that drops a repeat of the same key (the outbox,
/// an HTTP gateway configured so) is always asked again, since it cannot send twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AfterUncertainSend {
    /// Record the delivery `uncertain` and send nothing more: the person gets at most one
    /// message, and may get none.
    #[default]
    Record,
    /// Send it again: the person gets at least one message, and may get two.
    Resend,
}

impl std::str::FromStr for AfterUncertainSend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "record" => Ok(Self::Record),
            "resend" => Ok(Self::Resend),
            other => Err(format!("{other:?} is neither record nor resend")),
        }
    }
}

/// How the sender treats leases, retries and retention.
#[derive(Debug, Clone, Copy)]
pub struct SenderSettings {
    /// How long a claim is held before another sender may take it over.
    pub lease: Duration,
    /// Temporary failures retried up to this many attempts in all.
    pub max_attempts: u32,
    /// How long delivery records are kept (TTL).
    pub retention: Duration,
    /// A taken-over delivery whose attempt started without an outcome.
    pub after_uncertain_send: AfterUncertainSend,
    /// What each message costs, recorded on its delivery and in the tallies.
    pub prices: PriceTable,
}

impl Default for SenderSettings {
    fn default() -> Self {
        Self {
            lease: Duration::minutes(5),
            max_attempts: 5,
            retention: Duration::days(365),
            after_uncertain_send: AfterUncertainSend::default(),
            prices: PriceTable::default(),
        }
    }
}

/// The channels the sender uses.
#[derive(Clone, Copy)]
pub struct Channels<'a> {
    pub email: &'a dyn EmailChannel,
    pub sms: &'a dyn SmsChannel,
    /// Zalo ZNS, when the deployment has an OA; without it a ZNS delivery falls back to SMS.
    pub zns: Option<&'a dyn ZnsChannel>,
    pub links: &'a dyn UnsubscribeLinks,
}

/// What became of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum SendOutcome {
    /// The provider accepted it, with this message id.
    Sent(String),
    /// The send policy stopped it (for good).
    Suppressed(Suppression),
    /// It failed for good, for this reason.
    Failed(String),
    /// Try this task again later: a temporary failure, or another sender holds the claim.
    RetryLater,
    /// Already delivered, suppressed or failed by an earlier attempt: nothing to do.
    AlreadyDone,
    /// A sender died after handing it to the provider; recorded `uncertain`, not resent.
    Uncertain,
}

impl SendOutcome {
    /// Whether the queue should deliver this task again.
    pub fn needs_redelivery(&self) -> bool {
        matches!(self, Self::RetryLater)
    }
}

/// What one sender pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SenderReport {
    pub sent: usize,
    pub suppressed: usize,
    pub failed: usize,
    pub retry_later: usize,
    pub already_done: usize,
    pub uncertain: usize,
    pub errors: usize,
}

impl SenderReport {
    /// Count the outcomes of a pass.
    pub fn of(outcomes: &[CoreResult<SendOutcome>]) -> Self {
        let mut r = Self::default();
        for o in outcomes {
            match o {
                Ok(SendOutcome::Sent(_)) => r.sent += 1,
                Ok(SendOutcome::Suppressed(_)) => r.suppressed += 1,
                Ok(SendOutcome::Failed(_)) => r.failed += 1,
                Ok(SendOutcome::RetryLater) => r.retry_later += 1,
                Ok(SendOutcome::AlreadyDone) => r.already_done += 1,
                Ok(SendOutcome::Uncertain) => r.uncertain += 1,
                Err(_) => r.errors += 1,
            }
        }
        r
    }
}

/// Reads shared by the tasks of one pass (a batch mostly concerns a few sessions).
#[derive(Default)]
struct Lookups {
    jobs: HashMap<JobId, Option<ReminderJob>>,
    sessions: HashMap<SessionId, Option<Session>>,
    campaigns: HashMap<CampaignId, Option<Campaign>>,
    commune_names: HashMap<UnitCode, String>,
}

/// Send a batch of tasks, one after another; each outcome stands on its own (one bad task
/// never fails the others).
#[instrument(skip_all, fields(tasks = tasks.len(), %now))]
pub async fn run_sender<S: Store + ?Sized>(
    store: &S,
    channels: Channels<'_>,
    tasks: &[DeliveryTask],
    now: DateTime<Utc>,
    settings: SenderSettings,
) -> Vec<CoreResult<SendOutcome>> {
    let mut lookups = Lookups::default();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        let outcome = send_one(store, channels, task, now, settings, &mut lookups).await;
        if let Err(e) = &outcome {
            tracing::error!(session_id = %task.session_id, channel = ?task.channel, error.message = %e, "delivery failed");
        }
        out.push(outcome);
    }
    out
}

async fn cached<K, T: Clone, F, Fut>(map: &mut HashMap<K, Option<T>>, key: &K, load: F) -> CoreResult<Option<T>>
where
    K: Clone + Eq + std::hash::Hash,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = CoreResult<Option<T>>>,
{
    if let Some(v) = map.get(key) {
        return Ok(v.clone());
    }
    let v = load().await?;
    map.insert(key.clone(), v.clone());
    Ok(v)
}

async fn send_one<S: Store + ?Sized>(
    store: &S,
    channels: Channels<'_>,
    task: &DeliveryTask,
    now: DateTime<Utc>,
    settings: SenderSettings,
    lookups: &mut Lookups,
) -> CoreResult<SendOutcome> {
    // The job first: a rule naming ZNS and SMS has one delivery, keyed on ZNS (rule 13).
    let job = cached(&mut lookups.jobs, &task.job_id, || store.get_job(&task.job_id)).await?;
    let key_channel = job
        .as_ref()
        .map_or(task.channel, |j| delivery_key_channel(task.channel, &j.channels));
    let claim = Delivery::claim(task, key_channel, now, settings.lease, settings.retention);
    let mut delivery = match store.claim_delivery(&claim, now).await? {
        Claim::Claimed(d) => d,
        Claim::Taken(d) if d.status.is_final() => return Ok(SendOutcome::AlreadyDone),
        Claim::Taken(_) => return Ok(SendOutcome::RetryLater),
    };
    // Where the delivery is tallied when it settles: its commune and the local day.
    let place = Place {
        commune: job
            .as_ref()
            .map_or_else(|| UnitCode::new(String::new()), |j| j.commune_code.clone()),
        day: now.with_timezone(&DEFAULT_TIME_ZONE).date_naive(),
    };
    // The channel carrying it now: SMS once a ZNS delivery fell back (the stored record says).
    let mut carrier = delivery.channel;
    let mut fallback: Option<String> = delivery.fell_back_to_sms().then(|| delivery.reason.clone()).flatten();

    // The sender that held this claim before may have died after the provider accepted the
    // message: only a provider that drops repeats of the key may be asked again safely.
    if let Some(started) = delivery.attempt_started_at {
        let drops_repeats = drops_repeats(channels, carrier);
        if !drops_repeats && settings.after_uncertain_send == AfterUncertainSend::Record {
            let reason = format!(
                "a sender stopped after handing it to the provider at {}; it may have arrived, and is not sent again",
                started.to_rfc3339()
            );
            finish(
                store,
                &place,
                &mut delivery,
                DeliveryStatus::Uncertain,
                Some(&reason),
                now,
            )
            .await?;
            tracing::warn!(delivery_id = %delivery.id, attempts = delivery.attempts, "delivery uncertain: not sent again");
            return Ok(SendOutcome::Uncertain);
        }
        tracing::info!(delivery_id = %delivery.id, attempts = delivery.attempts, drops_repeats, "sending again after an attempt without an outcome");
    }

    let session = cached(&mut lookups.sessions, &task.session_id, || {
        store.get_session(&task.session_id)
    })
    .await?;
    let campaign = cached(&mut lookups.campaigns, &task.campaign_id, || {
        store.get_campaign(&task.campaign_id)
    })
    .await?;
    let contact = store.get_contact(&task.contact_id).await?;
    let rule = campaign
        .as_ref()
        .and_then(|c| c.reminder_rules.iter().find(|r| r.id == task.rule_id))
        .cloned();
    let (Some(job), Some(rule)) = (job, rule) else {
        return finish(
            store,
            &place,
            &mut delivery,
            DeliveryStatus::Suppressed,
            Some(Suppression::SessionCancelled.as_str()),
            now,
        )
        .await
        .map(|()| SendOutcome::Suppressed(Suppression::SessionCancelled));
    };
    let sms_fallback = carrier == Channel::Zns && job.channels.contains(&Channel::Sms);
    let mut commune: Option<String> = None;
    loop {
        let mut policy = PolicyInput {
            now,
            channel: carrier,
            planned_start: job.session_starts_at,
            session: session.as_ref(),
            campaign: campaign.as_ref(),
            contact: contact.as_ref(),
            audience: job.audience,
            sent_last_24h: 0,
        };
        let mut verdict = check_send_policy(&policy);
        if verdict.is_ok() {
            // The frequency cap is read last, so the common refusals cost no extra query.
            policy.sent_last_24h = store
                .count_sent_since(&task.contact_id, carrier, now - Duration::hours(24))
                .await?;
            verdict = check_send_policy(&policy);
            debug_assert!(verdict.is_ok() || policy.sent_last_24h >= FREQUENCY_CAP);
        }
        if let Err(rule) = verdict {
            // No consent to ZNS (or refused it) while the rule also names SMS: SMS carries it.
            if carrier == Channel::Zns && sms_fallback && matches!(rule, Suppression::NoConsent | Suppression::OptedOut)
            {
                carrier = Channel::Sms;
                fallback = Some(format!("zns: {}", rule.as_str()));
                continue;
            }
            let reason = match &fallback {
                Some(why) => format!("{why}; sms: {}", rule.as_str()),
                None => rule.as_str().to_string(),
            };
            delivery.channel = carrier;
            finish(
                store,
                &place,
                &mut delivery,
                DeliveryStatus::Suppressed,
                Some(&reason),
                now,
            )
            .await?;
            tracing::debug!(delivery_id = %delivery.id, reason = rule.as_str(), "delivery suppressed");
            return Ok(SendOutcome::Suppressed(rule));
        }
        let (Some(session), Some(campaign), Some(contact)) = (&session, &campaign, &contact) else {
            return Err(CoreError::Conflict("the policy passed without its inputs".into()));
        };
        let commune = match &commune {
            Some(name) => name.clone(),
            None => {
                let name = commune_name(store, lookups, session, campaign).await?;
                commune = Some(name.clone());
                name
            }
        };
        delivery.channel = carrier;
        delivery.reason = fallback.clone();
        let result = match carrier {
            Channel::Sms => {
                let mut text = render_sms(&rule, campaign, session, contact, &commune);
                if contact.role == crate::contact::ContactRole::Citizen
                    && let Some(code) = channels.links.check_in_code(&delivery.session_id, &contact.id)
                {
                    text = sms_with_check_in_code(text, &code);
                }
                // The policy suppressed SMS to a contact without a number (erased) already.
                let to = contact.phone.as_ref().map(|p| p.e164.clone()).unwrap_or_default();
                delivery.segments = count_segments(&text).segments as u32;
                delivery.cost_milli_vnd = settings.prices.message_milli_vnd(Channel::Sms, delivery.segments, &to);
                let sms = OutboundSms {
                    to,
                    text,
                    idempotency_key: Some(delivery.id.clone()),
                };
                pause_at(Pause::Claimed);
                start_attempt(store, &mut delivery, now).await?;
                channels.sms.send_sms(&sms).await.map_err(|error| ZnsError {
                    error,
                    next: ZnsNext::Fail,
                })
            }
            Channel::Email => {
                let email = OutboundEmail {
                    idempotency_key: Some(delivery.id.clone()),
                    ..render_email(
                        &rule,
                        campaign,
                        session,
                        contact,
                        &commune,
                        channels.links.link(&contact.id),
                        &personal_links(channels.links, &rule, &delivery, contact),
                    )
                };
                delivery.segments = 1;
                delivery.cost_milli_vnd = settings.prices.email_milli_vnd();
                pause_at(Pause::Claimed);
                start_attempt(store, &mut delivery, now).await?;
                channels.email.send_email(&email).await.map_err(|error| ZnsError {
                    error,
                    next: ZnsNext::Fail,
                })
            }
            Channel::Zns => match channels.zns {
                None => Err(ZnsError {
                    error: ChannelError::Permanent("ZNS is not configured in this deployment".into()),
                    next: ZnsNext::FallBackToSms,
                }),
                Some(zns) => {
                    let links = personal_links(channels.links, &rule, &delivery, contact);
                    let message = render_zns(&rule, campaign, session, contact, &commune, &delivery.id, &links);
                    // Charged when delivered: the cost stays only on a delivery that is sent.
                    delivery.segments = 1;
                    delivery.cost_milli_vnd = settings.prices.zns_milli_vnd();
                    pause_at(Pause::Claimed);
                    start_attempt(store, &mut delivery, now).await?;
                    zns.send_zns(&message).await
                }
            },
        };
        if result.is_ok() {
            pause_at(Pause::Accepted);
        }
        let drops = drops_repeats(channels, carrier);
        match result {
            Ok(sent) => {
                delivery.message_id = Some(sent.message_id.clone());
                finish(
                    store,
                    &place,
                    &mut delivery,
                    DeliveryStatus::Sent,
                    fallback.as_deref(),
                    now,
                )
                .await?;
                tracing::debug!(delivery_id = %delivery.id, channel = ?carrier, message_id = %sent.message_id, "reminder sent");
                return Ok(SendOutcome::Sent(sent.message_id));
            }
            // The provider may have accepted it: one that drops repeats is asked again, others
            // follow the policy for an attempt without an outcome (never SMS on top of a ZNS
            // message that may have arrived).
            Err(ZnsError {
                error: ChannelError::Unclear(reason),
                ..
            }) if settings.after_uncertain_send == AfterUncertainSend::Record && !drops => {
                let reason =
                    format!("the provider's answer was lost ({reason}); it may have arrived, and is not sent again");
                finish(
                    store,
                    &place,
                    &mut delivery,
                    DeliveryStatus::Uncertain,
                    Some(&reason),
                    now,
                )
                .await?;
                tracing::warn!(delivery_id = %delivery.id, channel = ?carrier, "delivery uncertain: the provider's answer was lost");
                return Ok(SendOutcome::Uncertain);
            }
            Err(ZnsError {
                error: ChannelError::Transient(reason) | ChannelError::Unclear(reason),
                ..
            }) if delivery.attempts < settings.max_attempts => {
                let reason = match &fallback {
                    Some(why) => format!("{why}; {reason}"),
                    None => reason,
                };
                finish(
                    store,
                    &place,
                    &mut delivery,
                    DeliveryStatus::Retrying,
                    Some(&reason),
                    now,
                )
                .await?;
                tracing::warn!(delivery_id = %delivery.id, channel = ?carrier, attempts = delivery.attempts, error.message = %reason, "send failed; will retry");
                return Ok(SendOutcome::RetryLater);
            }
            Err(ZnsError { error, next }) => {
                let spent = matches!(error, ChannelError::Transient(_) | ChannelError::Unclear(_));
                let next = if carrier == Channel::Zns && spent {
                    ZnsNext::FallBackToSms
                } else {
                    next
                };
                if carrier == Channel::Zns && next == ZnsNext::FallBackToSms && sms_fallback {
                    // The same delivery goes by SMS: recorded before the SMS call (by its
                    // start_attempt), so a sender taking it over knows SMS carries it.
                    tracing::info!(delivery_id = %delivery.id, error.message = %error, "ZNS did not take it; falling back to SMS");
                    fallback = Some(format!("zns: {error}"));
                    carrier = Channel::Sms;
                    // Attempts were ZNS's; SMS gets its own.
                    delivery.attempts = 1;
                    continue;
                }
                let reason = match &fallback {
                    Some(why) => format!("{why}; sms: {error}"),
                    None => error.to_string(),
                };
                finish(store, &place, &mut delivery, DeliveryStatus::Failed, Some(&reason), now).await?;
                let to = match carrier {
                    Channel::Sms | Channel::Zns => contact.masked_phone(),
                    Channel::Email => contact.email.as_deref().map(mask_email).unwrap_or_default(),
                };
                if carrier == Channel::Zns && next == ZnsNext::FailAndAlarm {
                    tracing::error!(
                        alarm = ZNS_ALARM_MARKER,
                        delivery_id = %delivery.id,
                        error.message = %reason,
                        "{ZNS_ALARM_MARKER}: ZNS is misconfigured; the delivery failed and no SMS was sent"
                    );
                } else {
                    tracing::warn!(delivery_id = %delivery.id, channel = ?carrier, %to, error.message = %reason, "send failed for good");
                }
                return Ok(SendOutcome::Failed(reason));
            }
        }
    }
}

/// The commune's name on the session's date, read once a pass.
async fn commune_name<S: Store + ?Sized>(
    store: &S,
    lookups: &mut Lookups,
    session: &Session,
    campaign: &Campaign,
) -> CoreResult<String> {
    if let Some(name) = lookups.commune_names.get(&session.commune_code) {
        return Ok(name.clone());
    }
    let versions = store.org_unit_versions(session.commune_code.as_str()).await?;
    let on = session
        .starts_at
        .with_timezone(&campaign.schedule.time_zone)
        .date_naive();
    let name = version_on(&versions, Some(on))
        .or(versions.last())
        .map_or_else(|| String::from(&session.commune_code), |u| u.name.clone());
    lookups.commune_names.insert(session.commune_code.clone(), name.clone());
    Ok(name)
}

/// Whether the channel's provider drops a repeat of a message's key.
fn drops_repeats(channels: Channels<'_>, channel: Channel) -> bool {
    match channel {
        Channel::Sms => channels.sms.drops_repeats(),
        Channel::Email => channels.email.drops_repeats(),
        Channel::Zns => channels.zns.is_some_and(|z| z.drops_repeats()),
    }
}

/// Record, before calling the provider, that this attempt is handed to it: a sender that
/// takes the claim over after this one dies knows the message may have gone.
async fn start_attempt<S: Store + ?Sized>(store: &S, delivery: &mut Delivery, now: DateTime<Utc>) -> CoreResult<()> {
    delivery.attempt_started_at = Some(now);
    delivery.updated_at = now;
    delivery.version += 1;
    store.record_delivery(delivery).await
}

/// Where a delivery is tallied: the commune of its session and the local day it settles.
struct Place {
    commune: UnitCode,
    day: chrono::NaiveDate,
}

/// Record a delivery's new status; a final one is settled with its tally in one write.
async fn finish<S: Store + ?Sized>(
    store: &S,
    place: &Place,
    delivery: &mut Delivery,
    status: DeliveryStatus,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> CoreResult<()> {
    if status == DeliveryStatus::Retrying {
        // The provider answered (a temporary refusal): the next attempt starts afresh.
        delivery.attempt_started_at = None;
    }
    // Nothing is charged for what did not go (an uncertain message may have: it keeps its cost).
    if matches!(status, DeliveryStatus::Failed | DeliveryStatus::Suppressed) {
        delivery.cost_milli_vnd = 0;
    }
    delivery.status = status;
    delivery.reason = reason.map(str::to_string);
    delivery.updated_at = now;
    delivery.version += 1;
    if status.is_final() {
        let mut key = DeliveryTallyKey::of(delivery, &place.commune, place.day);
        if delivery.fell_back_to_sms() {
            // First tried by ZNS, carried by SMS: the estimate's fallback share reads these.
            key = DeliveryTallyKey {
                channel: Channel::Zns,
                ..key
            }
            .carried_by(Channel::Sms);
        }
        store
            .settle_delivery(delivery, &DeliveryTally::one(key, delivery))
            .await
    } else {
        store.record_delivery(delivery).await
    }
}

fn values<'a>(
    campaign: &'a Campaign,
    session: &'a Session,
    contact: &'a Contact,
    commune: &'a str,
    name_chars: usize,
) -> impl Fn(&str) -> String + 'a {
    let tz: Tz = campaign.schedule.time_zone;
    let local = session.starts_at.with_timezone(&tz);
    move |key| match key {
        "name" => contact.name.chars().take(name_chars).collect(),
        "campaign" => campaign.name.clone(),
        "commune" => commune.to_string(),
        "venue" => session.venue.clone(),
        "date" => local.format("%d/%m/%Y").to_string(),
        "time" => local.format("%H:%M").to_string(),
        _ => String::new(),
    }
}

/// The SMS text of a rule for one person: unaccented unless the campaign sends Unicode.
pub fn render_sms(
    rule: &ReminderRule,
    campaign: &Campaign,
    session: &Session,
    contact: &Contact,
    commune: &str,
) -> String {
    let template =
        crate::answer::sms_template_with_prompt(rule.sms_template.as_deref().unwrap_or_default(), rule.asks_answer);
    prepare_sms_text(
        &render(&template, values(campaign, session, contact, commune, SMS_NAME_CHARS)),
        campaign.sms_unicode,
    )
}

/// A citizen's SMS with their check-in code added (` Ma diem danh: 123456.`) when it fits
/// in the segments the text takes already: the code never makes a reminder dearer.
pub fn sms_with_check_in_code(text: String, code: &str) -> String {
    let with = format!("{} Ma diem danh: {code}.", text.trim_end());
    if count_segments(&with).segments == count_segments(&text).segments {
        with
    } else {
        text
    }
}

/// `{name}` in a ZNS parameter is cut to this many characters (Zalo's limit for a name).
pub const ZNS_NAME_CHARS: usize = 30;

/// The two signed links of a reminder that asks whether the person will come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerUrls {
    pub coming: String,
    pub not_coming: String,
}

/// The signed links of one person's reminder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalLinks {
    /// When the rule asks whether they will come.
    pub answers: Option<AnswerUrls>,
    /// A citizen's check-in code (a QR code to show at the door).
    pub check_in: Option<String>,
}

/// The links of `delivery`, when the deployment signs links: the answer links when its
/// rule asks (an answer stops counting when the session starts), and a citizen's
/// check-in code.
fn personal_links(
    links: &dyn UnsubscribeLinks,
    rule: &ReminderRule,
    delivery: &Delivery,
    contact: &Contact,
) -> PersonalLinks {
    let answers = rule.asks_answer.then(|| {
        let link = |answer| links.answer_link(&delivery.campaign_id, &delivery.id, answer);
        Some(AnswerUrls {
            coming: link(crate::answer::Answer::Coming)?,
            not_coming: link(crate::answer::Answer::NotComing)?,
        })
    });
    PersonalLinks {
        answers: answers.flatten(),
        check_in: (contact.role == crate::contact::ContactRole::Citizen)
            .then(|| links.check_in_link(&delivery.session_id, &contact.id))
            .flatten(),
    }
}

/// The ZNS message of a rule for one person: each template parameter filled from its
/// field (`answer_yes` and `answer_no`, for a template's buttons, from the answer links).
pub fn render_zns(
    rule: &ReminderRule,
    campaign: &Campaign,
    session: &Session,
    contact: &Contact,
    commune: &str,
    delivery_id: &str,
    links: &PersonalLinks,
) -> OutboundZns {
    let fields = values(campaign, session, contact, commune, ZNS_NAME_CHARS);
    let v = |field: &str| match (field, &links.answers, &links.check_in) {
        ("answer_yes", Some(a), _) => a.coming.clone(),
        ("answer_no", Some(a), _) => a.not_coming.clone(),
        ("check_in", _, Some(url)) => url.clone(),
        _ => fields(field),
    };
    OutboundZns {
        phone: contact
            .phone
            .as_ref()
            .map(|p| OutboundZns::phone_from_e164(&p.e164))
            .unwrap_or_default(),
        template_id: rule.zns_template_id.clone().unwrap_or_default(),
        template_data: rule
            .zns_params
            .iter()
            .map(|(param, field)| (param.clone(), v(field)))
            .collect(),
        tracking_id: delivery_id.to_string(),
    }
}

/// The email of a rule for one person, with the one-click unsubscribe link when there is one.
pub fn render_email(
    rule: &ReminderRule,
    campaign: &Campaign,
    session: &Session,
    contact: &Contact,
    commune: &str,
    unsubscribe_url: Option<String>,
    links: &PersonalLinks,
) -> OutboundEmail {
    let v = values(campaign, session, contact, commune, 200);
    let subject = render(rule.email_subject.as_deref().unwrap_or_default(), &v);
    let mut body = render(rule.email_template.as_deref().unwrap_or_default(), &v);
    if let Some(a) = &links.answers {
        body.push_str(&format!(
            "\n\nBạn sẽ đến buổi này chứ? Hãy bấm một trong hai đường dẫn:\nSẽ đến: {}\nKhông đến: {}",
            a.coming, a.not_coming
        ));
    }
    if let Some(url) = &links.check_in {
        body.push_str(&format!(
            "\n\nMã điểm danh của bạn (mở trên điện thoại và đưa cho tình nguyện viên tại cửa quét): {url}"
        ));
    }
    if let Some(url) = &unsubscribe_url {
        body.push_str(&format!("\n\n—\nNgừng nhận email nhắc lịch: {url}"));
    }
    OutboundEmail {
        to: contact.email.clone().unwrap_or_default(),
        subject,
        body_text: body,
        unsubscribe_url,
        attachments: Vec::new(),
        idempotency_key: None,
    }
}
