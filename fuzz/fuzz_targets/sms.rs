//! SMS text: unaccented and reduced to GSM-7, or composed for UCS-2, and the segments it
//! costs.
//!
//! Input: the text (invalid UTF-8 is replaced).
#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_core::sms::{SmsEncoding, SmsSegments, count_segments, prepare_sms_text, unaccent};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::is_nfc;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    let plain = unaccent(&text);
    assert!(
        !plain.chars().any(|c| is_combining_mark(c) || c == 'đ' || c == 'Đ'),
        "{plain:?}"
    );
    assert_eq!(unaccent(&plain), plain);

    // Unaccented text is all GSM-7, and preparing it again changes nothing.
    let gsm = prepare_sms_text(&text, false);
    let gsm_cost = check_segments(&gsm);
    assert_eq!(gsm_cost.encoding, SmsEncoding::Gsm7, "{gsm:?}");
    assert_eq!(prepare_sms_text(&gsm, false), gsm);

    // Unicode text is composed, so decomposed accents do not cost double.
    let unicode = prepare_sms_text(&text, true);
    assert!(is_nfc(&unicode));
    assert_eq!(prepare_sms_text(&unicode, true), unicode);
    check_segments(&unicode);
    check_segments(&text);
});

/// The cost of a text covers its units with no segment wasted, and only an empty text is free.
fn check_segments(text: &str) -> SmsSegments {
    let cost = count_segments(text);
    let chars = text.chars().count();
    let (single, multi) = match cost.encoding {
        SmsEncoding::Gsm7 => {
            assert!(chars <= cost.units && cost.units <= 2 * chars, "{text:?}: {cost:?}");
            (160, 153)
        }
        SmsEncoding::Ucs2 => {
            assert_eq!(cost.units, text.encode_utf16().count(), "{text:?}");
            (70, 67)
        }
    };
    if text.is_empty() {
        assert_eq!((cost.units, cost.segments), (0, 0));
    } else if cost.units <= single {
        assert_eq!(cost.segments, 1, "{text:?}: {cost:?}");
    } else {
        assert!(cost.segments * multi >= cost.units, "{text:?}: {cost:?}");
        // A character is never split, so a segment can end at most one unit short.
        assert!((cost.segments - 1) * (multi - 1) < cost.units, "{text:?}: {cost:?}");
    }
    cost
}
