//! Answers to a reminder: whether a person will come to a session, given by replying to an
//! SMS with a keyword, and what they add up to for a session (its expected headcount).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::contact::Channel;
use crate::ids::{ContactId, SessionId};
use crate::sms::unaccent;

/// Whether a person will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Coming,
    NotComing,
}

crate::named_enum!(Answer {
    Coming => "coming",
    NotComing => "not_coming",
});

/// The first word of a reply that means "I will come": `1`, `CÓ`, `ĐẾN`, `C` (any case, with
/// or without accents).
pub const COMING_KEYWORDS: [&str; 4] = ["1", "CO", "DEN", "C"];

/// The first word of a reply that means "I will not come": `2`, `KHÔNG`, `KO`, `K`.
pub const NOT_COMING_KEYWORDS: [&str; 4] = ["2", "KHONG", "KO", "K"];

/// What a reminder that asks for an answer adds to its SMS (unaccented: it stays GSM-7),
/// after a full stop when the text does not end with one.
pub const SMS_ANSWER_PROMPT: &str = "Tra loi 1 neu se den, 2 neu khong den.";

/// The words of a reply, unaccented and upper-cased, punctuation dropped.
pub(crate) fn reply_words(text: &str) -> Vec<String> {
    unaccent(text)
        .to_uppercase()
        .split(|c: char| c.is_whitespace() || c.is_ascii_punctuation())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The answer a reply gives by its first word (`"Có, tôi sẽ đến"`, `"2"`, `"ko."`), or none.
/// An opt-out reply (STOP, TC, HUY, TU CHOI) is never an answer: no keyword is one of those
/// words, and the inbound handler reads opt-outs first.
pub fn parse_answer_reply(text: &str) -> Option<Answer> {
    let words = reply_words(text);
    let first = words.first()?.as_str();
    if COMING_KEYWORDS.contains(&first) {
        Some(Answer::Coming)
    } else if NOT_COMING_KEYWORDS.contains(&first) {
        Some(Answer::NotComing)
    } else {
        None
    }
}

/// A rule's SMS template with the answer prompt when the rule asks for an answer: the text
/// that is sent, and that segments are counted on when the campaign is saved.
pub fn sms_template_with_prompt(template: &str, asks_answer: bool) -> std::borrow::Cow<'_, str> {
    if asks_answer {
        let text = template.trim_end();
        let stop = if text.is_empty() || text.ends_with(['.', '!', '?']) {
            ""
        } else {
            "."
        };
        format!("{text}{stop} {SMS_ANSWER_PROMPT}")
            .trim_start()
            .to_string()
            .into()
    } else {
        template.into()
    }
}

/// One person's latest answer for one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionAnswer {
    #[schema(value_type = String)]
    pub session_id: SessionId,
    #[schema(value_type = String)]
    pub contact_id: ContactId,
    /// A citizen's or a volunteer's answer (the reminder's audience at the time).
    pub volunteer: bool,
    pub answer: Answer,
    /// The channel the answer came by.
    pub channel: Channel,
    /// The delivery that asked.
    pub delivery_id: String,
    pub answered_at: DateTime<Utc>,
}

/// How many of one audience answered what.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AnswerCounts {
    /// People asked (a reminder that asks for an answer was sent to them).
    pub asked: u32,
    pub coming: u32,
    pub not_coming: u32,
    /// Asked and not answered.
    pub no_answer: u32,
}

/// The citizens asked (`(contact, volunteer)` as the delivery log gives them) and, of those,
/// the ones whose latest answer is that they will come: what a session's record keeps
/// beside its attendance.
pub fn confirmed_citizens(asked: &[(ContactId, bool)], answers: &[SessionAnswer]) -> (u32, HashSet<ContactId>) {
    let citizens: HashSet<&ContactId> = asked.iter().filter(|(_, v)| !v).map(|(c, _)| c).collect();
    let confirmed = answers
        .iter()
        .filter(|a| !a.volunteer && a.answer == Answer::Coming && citizens.contains(&a.contact_id))
        .map(|a| a.contact_id.clone())
        .collect();
    (citizens.len() as u32, confirmed)
}

/// Confirmed citizens one volunteer can help at a session.
pub const CITIZENS_PER_VOLUNTEER: u32 = 10;

/// A session's expected headcount from its answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Headcount {
    pub capacity: u32,
    pub citizens: AnswerCounts,
    pub volunteers: AnswerCounts,
    /// Assigned volunteers who said they will not come (the planner can reassign them).
    #[schema(value_type = Vec<String>)]
    pub declined_staff: Vec<ContactId>,
    /// More citizens said they will come than the venue holds.
    pub over_capacity: bool,
    /// Fewer assigned volunteers (not counting those who declined) than the confirmed
    /// citizens need, at [`CITIZENS_PER_VOLUNTEER`] each, or than the session's minimum.
    pub short_of_staff: bool,
}

impl Headcount {
    /// The headcount of a session with `staff` assigned (at least `min_staff` wanted) from
    /// the people asked (`(contact, volunteer)`) and their answers.
    pub fn count(
        capacity: u32,
        min_staff: u32,
        staff: &[ContactId],
        asked: &[(ContactId, bool)],
        answers: &[SessionAnswer],
    ) -> Self {
        let mut citizens = AnswerCounts::default();
        let mut volunteers = AnswerCounts::default();
        let mut seen = HashSet::new();
        for (contact, volunteer) in asked {
            if seen.insert(contact) {
                let counts = if *volunteer { &mut volunteers } else { &mut citizens };
                counts.asked += 1;
                counts.no_answer += 1;
            }
        }
        for a in answers {
            let counts = if a.volunteer { &mut volunteers } else { &mut citizens };
            if seen.contains(&a.contact_id) {
                counts.no_answer = counts.no_answer.saturating_sub(1);
            } else {
                counts.asked += 1;
            }
            match a.answer {
                Answer::Coming => counts.coming += 1,
                Answer::NotComing => counts.not_coming += 1,
            }
        }
        let declined_staff: Vec<ContactId> = staff
            .iter()
            .filter(|id| {
                answers
                    .iter()
                    .any(|a| &a.contact_id == *id && a.answer == Answer::NotComing)
            })
            .cloned()
            .collect();
        let present = (staff.len() - declined_staff.len()) as u32;
        let needed = citizens.coming.div_ceil(CITIZENS_PER_VOLUNTEER).max(min_staff);
        Self {
            capacity,
            citizens,
            volunteers,
            over_capacity: citizens.coming > capacity,
            short_of_staff: present < needed,
            declined_staff,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::is_opt_out_reply;

    #[test]
    fn a_reply_is_read_in_every_spelling() {
        for text in [
            "1",
            " 1 ",
            "1.",
            "Có",
            "co",
            "CÓ nhé",
            "Đến",
            "den!",
            "c",
            "Có, tôi sẽ đến",
        ] {
            assert_eq!(parse_answer_reply(text), Some(Answer::Coming), "{text:?}");
        }
        for text in ["2", "Không", "KHONG DEN", "ko", "K.", "không đến được"] {
            assert_eq!(parse_answer_reply(text), Some(Answer::NotComing), "{text:?}");
        }
        for text in ["", "   ", "?", "12", "Cảm ơn", "Mấy giờ?", "3"] {
            assert_eq!(parse_answer_reply(text), None, "{text:?}");
        }
    }

    #[test]
    fn no_answer_keyword_is_an_opt_out_keyword_and_no_opt_out_is_an_answer() {
        for kw in COMING_KEYWORDS.iter().chain(NOT_COMING_KEYWORDS.iter()) {
            assert!(!is_opt_out_reply(kw), "{kw} would opt out");
            assert!(!crate::usecases::OPT_OUT_KEYWORDS.iter().any(|o| o[0] == *kw), "{kw}");
        }
        for text in ["STOP", "tc", "Hủy", "TỪ CHỐI", "tu choi nhan tin", "huy."] {
            assert!(is_opt_out_reply(text), "{text}");
            assert_eq!(parse_answer_reply(text), None, "{text} is an answer");
        }
    }

    #[test]
    fn the_prompt_keeps_an_unaccented_sms_in_gsm7() {
        let text = sms_template_with_prompt("Moi ban den buoi ho tro. ", true);
        assert_eq!(text, format!("Moi ban den buoi ho tro. {SMS_ANSWER_PROMPT}"));
        // After an opt-out line, a full stop keeps the keyword apart from the question.
        let text = sms_template_with_prompt("Tu choi: TC", true);
        assert_eq!(text, format!("Tu choi: TC. {SMS_ANSWER_PROMPT}"));
        let cost = crate::sms::count_segments(&text);
        assert_eq!(cost.encoding, crate::sms::SmsEncoding::Gsm7);
        assert_eq!(sms_template_with_prompt("x", false), "x");
    }

    fn answer(contact: &str, volunteer: bool, answer: Answer) -> SessionAnswer {
        SessionAnswer {
            session_id: "ss_1".into(),
            contact_id: contact.into(),
            volunteer,
            answer,
            channel: Channel::Sms,
            delivery_id: format!("dl_{contact}"),
            answered_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_headcount_counts_answers_by_audience_and_flags_the_session() {
        let asked: Vec<(ContactId, bool)> = (0..25)
            .map(|i| (format!("ct_{i}").into(), false))
            .chain([("v1".into(), true), ("v2".into(), true)])
            .collect();
        let mut answers: Vec<SessionAnswer> = (0..21)
            .map(|i| answer(&format!("ct_{i}"), false, Answer::Coming))
            .collect();
        answers.push(answer("ct_21", false, Answer::NotComing));
        answers.push(answer("v2", true, Answer::NotComing));
        let staff: Vec<ContactId> = vec!["v1".into(), "v2".into()];
        let h = Headcount::count(20, 2, &staff, &asked, &answers);
        assert_eq!(
            h.citizens,
            AnswerCounts {
                asked: 25,
                coming: 21,
                not_coming: 1,
                no_answer: 3
            }
        );
        assert_eq!(
            h.volunteers,
            AnswerCounts {
                asked: 2,
                coming: 0,
                not_coming: 1,
                no_answer: 1
            }
        );
        assert_eq!(h.declined_staff, ["v2"]);
        // 21 coming into 20 seats; 21 citizens need 3 volunteers, 1 is left.
        assert!(h.over_capacity && h.short_of_staff);
        let calm = Headcount::count(40, 1, &staff[..1], &asked, &answers[..5]);
        assert!(!calm.over_capacity && !calm.short_of_staff, "{calm:?}");
    }
}
