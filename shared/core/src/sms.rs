//! SMS text: Vietnamese without accents by default (diacritics force UCS-2, 70 characters
//! a segment instead of 160), and the segment count a message will cost.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// How an SMS is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsEncoding {
    /// The GSM 03.38 7-bit alphabet: 160 characters, or 153 a segment when split.
    Gsm7,
    /// UCS-2: 70 characters, or 67 a segment when split.
    Ucs2,
}

/// What a text costs to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SmsSegments {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7, extension characters count two) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// Septets a character takes in GSM-7, or None when it is not in the alphabet.
fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Remove Vietnamese diacritics: tone and vowel marks go (composed or decomposed input
/// alike), đ becomes d and Đ becomes D.
pub fn unaccent(text: &str) -> String {
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            other => other,
        })
        .collect()
}

/// The text to send: unaccented and reduced to the GSM-7 alphabet unless `unicode`
/// (then composed, NFC, so decomposed accents do not cost double).
pub fn prepare_sms_text(text: &str, unicode: bool) -> String {
    if unicode {
        return text.nfc().collect();
    }
    let mut out = String::with_capacity(text.len());
    for c in unaccent(text).chars() {
        match c {
            c if gsm7_septets(c).is_some() => out.push(c),
            '‘' | '’' | '`' | '´' => out.push('\''),
            '“' | '”' | '«' | '»' => out.push('"'),
            '–' | '—' | '−' => out.push('-'),
            '…' => out.push_str("..."),
            '\t' | '\u{a0}' => out.push(' '),
            _ => out.push('?'),
        }
    }
    out
}

/// Count the segments a text costs as it stands (GSM-7 when every character is in the
/// alphabet, UCS-2 otherwise). A character is never split across two segments.
pub fn count_segments(text: &str) -> SmsSegments {
    let gsm: Option<Vec<usize>> = text.chars().map(gsm7_septets).collect();
    let (encoding, sizes, single, multi) = match gsm {
        Some(sizes) => (SmsEncoding::Gsm7, sizes, 160, 153),
        None => (SmsEncoding::Ucs2, text.chars().map(char::len_utf16).collect(), 70, 67),
    };
    let units: usize = sizes.iter().sum();
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        let mut segments = 1;
        let mut used = 0;
        for size in sizes {
            if used + size > multi {
                segments += 1;
                used = 0;
            }
            used += size;
        }
        segments
    };
    SmsSegments {
        encoding,
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vietnamese_loses_its_accents_and_d_bar() {
        assert_eq!(unaccent("Đoàn Thanh niên xã Tân Dĩnh"), "Doan Thanh nien xa Tan Dinh");
        assert_eq!(
            unaccent("đường Hoàng Văn Thụ, Bắc Giang"),
            "duong Hoang Van Thu, Bac Giang"
        );
        // The same words written with decomposed accents (base letter + combining marks).
        let decomposed: String = "Đoàn Thanh niên xã Tân Dĩnh".nfd().collect();
        assert_ne!(decomposed, "Đoàn Thanh niên xã Tân Dĩnh");
        assert_eq!(unaccent(&decomposed), "Doan Thanh nien xa Tan Dinh");
    }

    #[test]
    fn segments_are_counted_per_encoding() {
        let plain = prepare_sms_text("Đoàn Thanh niên xã Tân Dĩnh", false);
        assert_eq!(
            count_segments(&plain),
            SmsSegments {
                encoding: SmsEncoding::Gsm7,
                units: 27,
                segments: 1
            }
        );
        let accented = prepare_sms_text("Đoàn Thanh niên xã Tân Dĩnh", true);
        assert_eq!(
            count_segments(&accented),
            SmsSegments {
                encoding: SmsEncoding::Ucs2,
                units: 27,
                segments: 1
            }
        );
        // Decomposed input costs the same once prepared for Unicode.
        let decomposed: String = "Đoàn Thanh niên xã Tân Dĩnh".nfd().collect();
        assert!(count_segments(&decomposed).units > 27);
        assert_eq!(count_segments(&prepare_sms_text(&decomposed, true)).units, 27);
        assert_eq!(count_segments(&"a".repeat(160)).segments, 1);
        assert_eq!(count_segments(&"a".repeat(161)).segments, 2);
        assert_eq!(count_segments(&"a".repeat(306)).segments, 2);
        assert_eq!(count_segments(&"a".repeat(307)).segments, 3);
        assert_eq!(count_segments(&"ă".repeat(70)).segments, 1);
        assert_eq!(count_segments(&"ă".repeat(71)).segments, 2);
        assert_eq!(count_segments(&"ă".repeat(134)).segments, 2);
        assert_eq!(count_segments(&"ă".repeat(135)).segments, 3);
        // Extension characters take two septets and are never split.
        assert_eq!(
            count_segments(&"€".repeat(80)),
            SmsSegments {
                encoding: SmsEncoding::Gsm7,
                units: 160,
                segments: 1
            }
        );
        // 306 septets would fit two segments, but the € cannot straddle the first boundary.
        let straddling = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(
            count_segments(&straddling),
            SmsSegments {
                encoding: SmsEncoding::Gsm7,
                units: 306,
                segments: 3
            }
        );
        assert_eq!(count_segments("").segments, 0);
    }

    #[test]
    fn typographic_punctuation_becomes_gsm() {
        assert_eq!(
            prepare_sms_text("“Ngày hội” – 08:00…", false),
            "\"Ngay hoi\" - 08:00..."
        );
        assert_eq!(
            count_segments(&prepare_sms_text("Thư mời ☺", false)).encoding,
            SmsEncoding::Gsm7
        );
    }

    proptest! {
        #[test]
        fn unaccented_text_is_always_gsm7(text in "\\PC{0,200}") {
            let prepared = prepare_sms_text(&text, false);
            prop_assert_eq!(count_segments(&prepared).encoding, SmsEncoding::Gsm7);
        }

        #[test]
        fn segments_cover_the_units_and_never_waste_one(text in "[a-zA-Zàáạảãăâđêôơư€\\[\\] ]{0,600}") {
            let s = count_segments(&text);
            let (single, multi) = match s.encoding { SmsEncoding::Gsm7 => (160, 153), SmsEncoding::Ucs2 => (70, 67) };
            if s.units == 0 {
                prop_assert_eq!(s.segments, 0);
            } else if s.units <= single {
                prop_assert_eq!(s.segments, 1);
            } else {
                prop_assert!(s.segments * multi >= s.units);
                // At most one septet is lost per segment boundary to an unsplit extension character.
                prop_assert!((s.segments - 1) * (multi - 1) < s.units);
            }
        }

        #[test]
        fn composed_and_decomposed_vietnamese_unaccent_alike(text in "[a-zA-ZàáạảãăắằẳẵặâấầẩẫậđèéẹẻẽêếềểễệìíịỉĩòóọỏõôốồổỗộơớờởỡợùúụủũưứừửữựỳýỵỷỹĐ ]{0,80}") {
            let decomposed: String = text.nfd().collect();
            prop_assert_eq!(unaccent(&text), unaccent(&decomposed));
            prop_assert!(unaccent(&text).is_ascii());
        }
    }
}
