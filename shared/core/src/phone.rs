//! Vietnamese phone numbers: parsed and stored in E.164, mobile told from landline.

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};

/// Whether a number can receive SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    Mobile,
    Landline,
}

/// A validated phone number in E.164 form (`+84…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Phone {
    pub e164: String,
    pub kind: PhoneKind,
}

/// Mobile prefixes renumbered on 15 September 2018 (11-digit 01xx → 10-digit 0xx).
const RENUMBERED_2018: [(&str, &str); 21] = [
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    ("0186", "056"),
    ("0188", "058"),
    ("0199", "059"),
];

impl Phone {
    /// Parse a number as written in Vietnam (`0912 345 678`, `+84 912 345 678`, `84912345678`).
    pub fn parse(input: &str) -> CoreResult<Self> {
        Self::parse_field(input, "phone")
    }

    /// Parse, naming `field` in the error.
    pub fn parse_field(input: &str, field: &str) -> CoreResult<Self> {
        let bad = |m: String| CoreError::invalid(field, m);
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(bad("the phone number is empty".into()));
        }
        if trimmed.len() > 32 || !trimmed.chars().all(|c| c.is_ascii_digit() || " +-.()".contains(c)) {
            return Err(bad(
                "a phone number holds only digits, spaces, +, -, . and parentheses".into()
            ));
        }
        let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
        let national = if trimmed.starts_with('+') {
            digits.strip_prefix("84").map(|d| format!("0{d}"))
        } else if digits.starts_with("84") && digits.len() >= 11 && !digits.starts_with("840") {
            Some(format!("0{}", &digits[2..]))
        } else {
            Some(digits.clone())
        };
        let Some(national) = national else {
            return Err(bad("only Vietnamese numbers (+84) are accepted".into()));
        };
        if national.len() == 11
            && let Some((old, new)) = RENUMBERED_2018.iter().find(|(old, _)| national.starts_with(old))
        {
            return Err(bad(format!(
                "{old}… is a pre-2018 11-digit number; the prefix {old} became {new} (write {new}{})",
                &national[4..]
            )));
        }
        let parsed = phonenumber::parse(Some(phonenumber::country::Id::VN), &national)
            .map_err(|e| bad(format!("not a phone number: {e}")))?;
        if parsed.code().value() != 84 || !phonenumber::is_valid(&parsed) {
            return Err(bad(format!(
                "{} is not a valid Vietnamese number",
                mask_phone_input(&national)
            )));
        }
        let kind = match parsed.number_type(&phonenumber::metadata::DATABASE) {
            phonenumber::Type::Mobile => PhoneKind::Mobile,
            phonenumber::Type::FixedLine | phonenumber::Type::FixedLineOrMobile => PhoneKind::Landline,
            other => {
                return Err(bad(format!("a {other:?} number cannot be a contact's number")));
            }
        };
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        Ok(Self { e164, kind })
    }

    /// Whether the number can receive SMS.
    pub fn is_mobile(&self) -> bool {
        self.kind == PhoneKind::Mobile
    }

    /// The number with its middle digits hidden, for logs and error messages.
    pub fn masked(&self) -> String {
        mask_phone_digits(&self.e164)
    }
}

/// What was written where a phone number belongs, as a message may show it: masked
/// ([`mask_phone_digits`]) when it could be someone's number or address (8 digits or more,
/// or an `@`), as written otherwise, so that the user finds the row by its content
/// (`12345`, `chưa có`).
pub fn mask_phone_input(s: &str) -> String {
    let s = s.trim();
    if s.chars().filter(char::is_ascii_digit).count() >= 8 || s.contains('@') {
        mask_phone_digits(s)
    } else {
        s.chars().take(32).collect()
    }
}

/// Hide all but the first three and last two characters of a phone number.
pub fn mask_phone_digits(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..3].iter().collect();
    out.push_str(&"*".repeat(chars.len() - 5));
    out.extend(&chars[chars.len() - 2..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_in_every_common_spelling_become_e164() {
        for input in [
            "0912345678",
            "0912 345 678",
            "+84 912 345 678",
            "84912345678",
            "+84-912-345-678",
            "(+84) 912.345.678",
        ] {
            let p = Phone::parse(input).unwrap();
            assert_eq!(p.e164, "+84912345678", "{input}");
            assert_eq!(p.kind, PhoneKind::Mobile, "{input}");
        }
        assert_eq!(Phone::parse("0327 123 456").unwrap().kind, PhoneKind::Mobile);
    }

    #[test]
    fn a_bac_giang_landline_is_known_as_one() {
        let p = Phone::parse("0204 3854 123").unwrap();
        assert_eq!(p.e164, "+842043854123");
        assert_eq!(p.kind, PhoneKind::Landline);
        assert!(!p.is_mobile());
    }

    #[test]
    fn pre_2018_numbers_are_refused_naming_the_new_prefix() {
        let err = Phone::parse("01662 345 678").unwrap_err().to_string();
        assert!(
            err.contains("0166") && err.contains("036") && err.contains("0362345678"),
            "{err}"
        );
        let err = Phone::parse("+84 1202345678").unwrap_err().to_string();
        assert!(err.contains("070"), "{err}");
    }

    #[test]
    fn garbage_and_foreign_numbers_are_refused() {
        for input in [
            "",
            "abc",
            "12",
            "+1 202 555 0143",
            "0912345",
            "09123456789012",
            "0912\u{0}345678",
        ] {
            assert!(Phone::parse(input).is_err(), "{input:?} accepted");
        }
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(mask_phone_digits("+84912345678"), "+84*******78");
    }

    #[test]
    fn only_what_could_be_a_number_or_an_address_is_masked_in_messages() {
        assert_eq!(mask_phone_input(" 12345 "), "12345");
        assert_eq!(mask_phone_input("chưa có"), "chưa có");
        assert_eq!(mask_phone_input("0912 34"), "0912 34");
        assert_eq!(mask_phone_input("09123456"), "091***56");
        assert_eq!(mask_phone_input("0912345678"), "091*****78");
        assert_eq!(mask_phone_input("an@example.vn"), "an@********vn");
    }
}
