//! Phone numbers as typed into a form or a CSV: parsed to E.164 or refused with the field
//! named, and masked for logs.
//!
//! Input: the text as typed (invalid UTF-8 is replaced).
#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_core::CoreError;
use outreach_core::phone::{Phone, PhoneKind, mask_phone_digits};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);

    check_mask(&input);

    let phone = match Phone::parse_field(&input, "contacts[0].phone") {
        Ok(phone) => phone,
        Err(CoreError::Validation { field, .. }) => {
            assert_eq!(field, "contacts[0].phone");
            return;
        }
        Err(e) => panic!("{input:?} gave {e:?}, not a validation error"),
    };
    let digits = phone.e164.strip_prefix("+84").expect("E.164 in +84");
    assert!(
        (1..=13).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        "{input:?} gave {}",
        phone.e164
    );
    assert_eq!(phone.is_mobile(), phone.kind == PhoneKind::Mobile);
    assert_eq!(phone.masked(), mask_phone_digits(&phone.e164));
    check_mask(&phone.e164);

    // The stored form reads back to the same number, with or without its `+`.
    for stored in [phone.e164.as_str(), &phone.e164[1..]] {
        match Phone::parse(stored) {
            Ok(again) => assert_eq!(again, phone, "{input:?} → {stored:?}"),
            Err(e) => panic!("{input:?} gave {stored:?}, which is refused: {e}"),
        }
    }
});

/// A masked text keeps its length, the first three and last two characters, and nothing else.
fn check_mask(s: &str) {
    let chars: Vec<char> = s.chars().collect();
    let masked: Vec<char> = mask_phone_digits(s).chars().collect();
    assert_eq!(masked.len(), chars.len());
    let n = chars.len();
    for (i, (m, c)) in masked.iter().zip(&chars).enumerate() {
        if n > 5 && (i < 3 || i >= n - 2) {
            assert_eq!(m, c);
        } else {
            assert_eq!(*m, '*');
        }
    }
}
