use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::instrument;

use crate::contact::{Channel, Contact, mask_email};
use crate::error::CoreResult;
use crate::phone::Phone;
use crate::ports::ContactStore;
use crate::sms::unaccent;
use crate::usecases::opt_out;

/// Opt-out keywords (rule 3), compared unaccented and in capitals: STOP, TC, HUY, TU CHOI.
const OPT_OUT_KEYWORDS: [&[&str]; 5] = [&["STOP"], &["TC"], &["HUY"], &["TU", "CHOI"], &["TUCHOI"]];

/// Whether an SMS reply asks to stop: it starts with an opt-out keyword, in any case, with
/// or without accents ("tc", "Hủy", "TỪ CHỐI nhận tin").
pub fn is_opt_out_reply(text: &str) -> bool {
    let upper = unaccent(text).to_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| c.is_whitespace() || c.is_ascii_punctuation())
        .filter(|w| !w.is_empty())
        .collect();
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
    pub contact_id: Option<String>,
}

/// Handle an SMS reply: an opt-out keyword from a registered number opts it out of SMS
/// before the next send.
#[instrument(skip_all)]
pub async fn handle_sms_reply<S: ContactStore + ?Sized>(
    store: &S,
    from: &str,
    text: &str,
    now: DateTime<Utc>,
) -> CoreResult<SmsReplyOutcome> {
    let phone = Phone::parse_field(from, "from")?;
    let contact = store.find_contact_by_phone(&phone.e164).await?;
    let wants_out = is_opt_out_reply(text);
    if wants_out && let Some(c) = &contact {
        opt_out(store, &c.id, Some(Channel::Sms), "sms_reply", now).await?;
    }
    tracing::info!(from = %phone.masked(), opt_out = wants_out, known = contact.is_some(), "inbound SMS");
    Ok(SmsReplyOutcome {
        opt_out: wants_out,
        contact_id: contact.map(|c| c.id),
    })
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
