use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use tracing::instrument;

use crate::answer::{Answer, SessionAnswer, parse_answer_reply};
use crate::campaign::Campaign;
use crate::contact::{Channel, Contact, ContactRole, mask_email};
use crate::error::{CoreError, CoreResult};
use crate::ids::{CampaignId, ContactId, SessionId};
use crate::phone::Phone;
use crate::ports::{ContactStore, DeliveryFilter, DeliveryStore, PageRequest, SessionStore, Store};
use crate::reminder::DeliveryStatus;
use crate::session::SessionStatus;
use crate::usecases::opt_out;

/// Opt-out keywords (rule 3), compared unaccented and in capitals: STOP, TC, HUY, TU CHOI.
pub const OPT_OUT_KEYWORDS: [&[&str]; 5] = [&["STOP"], &["TC"], &["HUY"], &["TU", "CHOI"], &["TUCHOI"]];

/// Whether an SMS reply asks to stop: it starts with an opt-out keyword, in any case, with
/// or without accents ("tc", "Hủy", "TỪ CHỐI nhận tin").
pub fn is_opt_out_reply(text: &str) -> bool {
    let words = crate::answer::reply_words(text);
    OPT_OUT_KEYWORDS
        .iter()
        .any(|kw| words.len() >= kw.len() && words[..kw.len()] == **kw)
}

/// What an inbound SMS did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SmsReplyOutcome {
    /// The text was an opt-out keyword.
    pub opt_out: bool,
    /// The sender is a registered contact (now opted out of SMS when `opt_out`).
    #[schema(value_type = Option<String>)]
    pub contact_id: Option<ContactId>,
    /// The text answered a reminder that asked whether they will come.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<AnswerOutcome>,
}

/// What an answer keyword in a reply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AnswerOutcome {
    pub answer: Answer,
    /// `recorded`; or why not: `no_question` (no reminder asked this number within the
    /// window), `session_started` (too late to change), `session_cancelled`, or
    /// `superseded` (a later answer is stored).
    pub result: String,
    /// The session answered for, when a reminder asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub session_id: Option<SessionId>,
}

/// How long after a reminder asked a reply still answers it.
pub const DEFAULT_ANSWER_WINDOW: Duration = Duration::days(7);

/// Handle an SMS reply: an opt-out keyword from a registered number opts it out of SMS
/// before the next send (and answers nothing); an answer keyword (`1`, `2`, `có`,
/// `không`…) answers the latest reminder that asked this number within `window`, while
/// its session has not started. A reply that matches nothing changes nothing.
#[instrument(skip_all)]
pub async fn handle_sms_reply<S: Store + ?Sized>(
    store: &S,
    from: &str,
    text: &str,
    window: Duration,
    now: DateTime<Utc>,
) -> CoreResult<SmsReplyOutcome> {
    let phone = Phone::parse_field(from, "from")?;
    let contact = store.find_contact_by_phone(&phone.e164).await?;
    let wants_out = is_opt_out_reply(text);
    if wants_out && let Some(c) = &contact {
        opt_out(store, &c.id, Some(Channel::Sms), "sms_reply", now).await?;
    }
    let answer = match (&contact, wants_out, parse_answer_reply(text)) {
        (Some(c), false, Some(answer)) => Some(record_sms_answer(store, c, answer, window, now).await?),
        _ => None,
    };
    tracing::info!(from = %phone.masked(), opt_out = wants_out, known = contact.is_some(),
        answer = answer.as_ref().map(|a| a.result.as_str()), "inbound SMS");
    Ok(SmsReplyOutcome {
        opt_out: wants_out,
        contact_id: contact.map(|c| c.id),
        answer,
    })
}

/// Record the answer of a signed link (email, ZNS button) to the delivery that asked:
/// until its session starts; the latest answer counts.
pub async fn answer_by_link<S: Store + ?Sized>(
    store: &S,
    campaign_id: &CampaignId,
    delivery_id: &str,
    answer: Answer,
    now: DateTime<Utc>,
) -> CoreResult<AnswerOutcome> {
    let outcome = |result: &str, session_id: Option<SessionId>| AnswerOutcome {
        answer,
        result: result.to_string(),
        session_id,
    };
    let delivery = store
        .get_delivery(campaign_id, delivery_id)
        .await?
        .ok_or_else(|| CoreError::NotFound {
            entity: "delivery",
            id: delivery_id.to_string(),
        })?;
    let session_id = Some(delivery.session_id.clone());
    let Some(session) = store.get_session(&delivery.session_id).await? else {
        return Ok(outcome("session_cancelled", session_id));
    };
    if session.status == SessionStatus::Cancelled {
        return Ok(outcome("session_cancelled", session_id));
    }
    if session.starts_at <= now {
        return Ok(outcome("session_started", session_id));
    }
    let Some(contact) = store.get_contact(&delivery.contact_id).await? else {
        return Err(CoreError::NotFound {
            entity: "contact",
            id: delivery.contact_id.into(),
        });
    };
    let kept = store
        .put_answer(&SessionAnswer {
            session_id: session.id.clone(),
            contact_id: contact.id.clone(),
            volunteer: contact.role == ContactRole::Volunteer,
            answer,
            channel: delivery.channel,
            delivery_id: delivery.id.clone(),
            answered_at: now,
        })
        .await?;
    tracing::info!(delivery_id = %delivery.id, answer = answer.as_str(), kept, "answer by link");
    Ok(outcome(if kept { "recorded" } else { "superseded" }, session_id))
}

/// Record `answer` for the session of the latest SMS reminder that asked `contact`.
async fn record_sms_answer<S: Store + ?Sized>(
    store: &S,
    contact: &Contact,
    answer: Answer,
    window: Duration,
    now: DateTime<Utc>,
) -> CoreResult<AnswerOutcome> {
    let outcome = |result: &str, session_id: Option<SessionId>| AnswerOutcome {
        answer,
        result: result.to_string(),
        session_id,
    };
    // The SMS sent to this contact within the window, latest first.
    let filter = DeliveryFilter {
        contact: Some(contact.id.clone()),
        status: Some(DeliveryStatus::Sent),
        ..DeliveryFilter::default()
    };
    let mut sent = Vec::new();
    let mut page = PageRequest::first(200);
    loop {
        let got = store.list_deliveries(&filter, &page).await?;
        sent.extend(
            got.items
                .into_iter()
                .filter(|d| d.channel == Channel::Sms && d.updated_at >= now - window && d.updated_at <= now),
        );
        match got.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
    }
    sent.sort_by_key(|d| std::cmp::Reverse(d.updated_at));
    let mut campaigns: HashMap<CampaignId, Option<Campaign>> = HashMap::new();
    for delivery in sent {
        if !campaigns.contains_key(&delivery.campaign_id) {
            let c = store.get_campaign(&delivery.campaign_id).await?;
            campaigns.insert(delivery.campaign_id.clone(), c);
        }
        let Some(rule) = campaigns[&delivery.campaign_id]
            .as_ref()
            .and_then(|c| c.reminder_rules.iter().find(|r| r.id == delivery.rule_id))
        else {
            continue;
        };
        if !rule.asks_answer {
            continue;
        }
        let session = store.get_session(&delivery.session_id).await?;
        let session_id = Some(delivery.session_id.clone());
        let Some(session) = session else {
            return Ok(outcome("session_cancelled", session_id));
        };
        if session.status == SessionStatus::Cancelled {
            return Ok(outcome("session_cancelled", session_id));
        }
        if session.starts_at <= now {
            return Ok(outcome("session_started", session_id));
        }
        let kept = store
            .put_answer(&SessionAnswer {
                session_id: session.id.clone(),
                contact_id: contact.id.clone(),
                volunteer: contact.role == ContactRole::Volunteer,
                answer,
                channel: Channel::Sms,
                delivery_id: delivery.id.clone(),
                answered_at: now,
            })
            .await?;
        return Ok(outcome(if kept { "recorded" } else { "superseded" }, session_id));
    }
    Ok(outcome("no_question", None))
}

/// A contact before and after a change.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactChange {
    pub before: Contact,
    pub after: Contact,
}

/// What stopping email to an address did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmailSuppression {
    /// Contacts with the address (email to each is stopped now).
    pub contacts: usize,
    /// Those of them it opted out (the others were already).
    pub changed: Vec<ContactChange>,
}

/// Stop email to an address that bounced for good or complained: every contact with it
/// is opted out of email.
#[instrument(skip_all, fields(source))]
pub async fn suppress_email_address<S: ContactStore + ?Sized>(
    store: &S,
    address: &str,
    source: &str,
    now: DateTime<Utc>,
) -> CoreResult<EmailSuppression> {
    let contacts = store.find_contacts_by_email(address).await?;
    let mut changed = Vec::new();
    for c in &contacts {
        if !c.has_opted_out(Channel::Email) {
            let after = opt_out(store, &c.id, Some(Channel::Email), source, now).await?;
            if after.version != c.version {
                changed.push(ContactChange {
                    before: c.clone(),
                    after,
                });
            }
        }
    }
    tracing::info!(address = %mask_email(address), contacts = contacts.len(), "email address suppressed");
    Ok(EmailSuppression {
        contacts: contacts.len(),
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_out_keywords_match_in_any_case_with_or_without_accents() {
        for text in [
            "STOP",
            "stop",
            "Stop.",
            "TC",
            "tc",
            " tc ",
            "HUY",
            "Hủy",
            "huỷ",
            "HỦY",
            "TU CHOI",
            "Từ chối",
            "từ  chối nhận tin",
            "TỪ CHỐI",
            "tuchoi",
            "TC DVC",
        ] {
            assert!(is_opt_out_reply(text), "{text:?}");
        }
        for text in [
            "",
            "OK",
            "cảm ơn",
            "TCX",
            "tôi không từ chối",
            "Stopped",
            "huyện Yên Thế",
        ] {
            assert!(!is_opt_out_reply(text), "{text:?}");
        }
    }
}

/// What Zalo reported of a ZNS message through its OA webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZnsReceipt {
    /// `user_received_message`: the message reached the person's phone.
    Delivered,
    /// `user_seen_message`: the person opened it (which means it was delivered too).
    Seen,
}

/// What a ZNS receipt did to the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ZnsReceiptOutcome {
    /// The delivery now records it (`delivered_at`, `seen_at`).
    Recorded,
    /// The delivery recorded it already (Zalo retries its webhook).
    AlreadyRecorded,
    /// No ZNS delivery of this system has that tracking id (or its message id differs).
    Unknown,
}

/// Record a ZNS receipt on the delivery whose id is the message's `tracking_id` (every ZNS
/// message is sent with its delivery's id as tracking id): `delivered_at`, and `seen_at`
/// for a seen message, each kept at its first report. Its status, cost and tallies stay as
/// they were settled; `updated_at` too, so the frequency cap's window does not move.
#[instrument(skip_all, fields(receipt = ?receipt))]
pub async fn record_zns_receipt<S: SessionStore + DeliveryStore + ?Sized>(
    store: &S,
    tracking_id: Option<&str>,
    msg_id: Option<&str>,
    receipt: ZnsReceipt,
    at: DateTime<Utc>,
) -> CoreResult<ZnsReceiptOutcome> {
    let Some(id) = tracking_id.filter(|id| id.ends_with("|zns") && id.split('|').count() == 4) else {
        return Ok(ZnsReceiptOutcome::Unknown);
    };
    let session_id = SessionId::from(id.split('|').next().unwrap_or_default());
    let Some(session) = store.get_session(&session_id).await? else {
        return Ok(ZnsReceiptOutcome::Unknown);
    };
    // A concurrent write (another receipt, Zalo's retry) moves the version: read again.
    for _ in 0..5 {
        let Some(mut delivery) = store.get_delivery(&session.campaign_id, id).await? else {
            return Ok(ZnsReceiptOutcome::Unknown);
        };
        let other_message = matches!((msg_id, delivery.message_id.as_deref()), (Some(a), Some(b)) if a != b);
        // A message that fell back went by SMS: Zalo has nothing of it to report.
        if delivery.channel != Channel::Zns || !delivery.status.may_have_arrived() || other_message {
            return Ok(ZnsReceiptOutcome::Unknown);
        }
        let before = (delivery.delivered_at, delivery.seen_at);
        delivery.delivered_at.get_or_insert(at);
        if receipt == ZnsReceipt::Seen {
            delivery.seen_at.get_or_insert(at);
        }
        if (delivery.delivered_at, delivery.seen_at) == before {
            return Ok(ZnsReceiptOutcome::AlreadyRecorded);
        }
        // An uncertain message's id is known now.
        if delivery.message_id.is_none() {
            delivery.message_id = msg_id.map(str::to_string);
        }
        delivery.version += 1;
        match store.record_delivery(&delivery).await {
            Ok(()) => {
                tracing::info!(delivery_id = %delivery.id, "ZNS receipt recorded");
                return Ok(ZnsReceiptOutcome::Recorded);
            }
            Err(CoreError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(CoreError::Conflict(format!(
        "delivery {id} kept changing while its ZNS receipt was recorded"
    )))
}
