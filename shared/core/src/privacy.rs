//! The one place that keeps phone numbers and email addresses out of text bound for logs
//! and error messages: [`redact`] masks them wherever they appear in free text.
//!
//! What it finds:
//! - email addresses `local@domain.tld` (the domain needs a dot and a final label of two or
//!   more letters), also with the `@` percent-encoded as `%40`;
//! - phone numbers in the Vietnamese spellings: `0` + 9–10 digits (`0912345678`,
//!   `02043854123`), `84` + 9–10 digits, and `+` + 10–15 digits (any E.164 number, `+84…`
//!   included, also with the `+` encoded as `%2B`), the digits grouped with single spaces,
//!   dots, dashes, `+` or `%20` (`0912 345 678`, `+84 91 234 5678`, `091.234.5678`), the
//!   prefix optionally in brackets (`(+84) 912.345.678`, `(024) 3854 1234`).
//!
//! Text is read through URL escapes (`%40`, `%2B`, `%20`), JSON escapes (`\n`, `\t`, `\"`)
//! and terminal colour codes, so `phone=%2B84912345678` in a logged URI, a number after a
//! `\n` in a JSON log line or after a colour code in a terminal is still found.
//!
//! To leave ordinary log text alone, a number must stand on its own: no letter, digit or
//! `_` directly before or after it (`ses_0912345678`, `0912345678ms` are kept), a part after
//! the first has 2–4 digits (so lists of unit codes like `07201 07228` are kept; only a
//! bracketed or `+`/`84`/short `0…` prefix may be followed by a long part, as in
//! `+84 912345678`), and a part followed by `:` and a digit is a time, not a phone. A `0…` or
//! `84…` number never continues with a `0` (zero-padded counters are kept).
//!
//! Known false positives (masked although not personal data): digit groups that happen to
//! add up to a phone shape, e.g. a dotted date with a time lacking its colon
//! (`01.10.2026 12`), a float like `84.123456789`, a signed number with 10+ digits, an
//! all-digit stretch of a hex id standing between non-word characters, and
//! `user@host.tld` that is not an email address (`git@github.com`).
//!
//! Not found (false negatives): a number glued to letters (`Tel0912345678`), split by
//! other characters (`0912/345/678`, `0912_345_678`), without any prefix (`912345678`), and
//! obfuscated addresses (`an at example dot vn`).

pub use crate::contact::mask_email;
pub use crate::phone::mask_phone_digits;

/// `text` with every email address and phone number masked (see the module documentation
/// for what counts as one); everything else is kept as it was.
pub fn redact(text: &str) -> String {
    if !text.bytes().any(|b| b.is_ascii_digit() || b == b'@' || b == b'%') {
        return text.to_owned();
    }
    let text = replace_spans(text, email_spans, mask_email);
    replace_spans(&text, phone_spans, mask_phone_digits)
}

/// One character of the text as read, with the bytes `start..end` it came from (more than
/// one character for an escape).
#[derive(Debug, Clone, Copy)]
struct Unit {
    start: usize,
    end: usize,
    ch: char,
}

/// Stands for an escape that hides a letter (a percent-encoded non-ASCII byte).
const LETTER: char = 'x';
/// Stands for an escape that is neither a letter nor a digit (a terminal colour code).
const MARK: char = '\u{1b}';

/// Read `text` through URL escapes, JSON escapes and terminal colour codes.
fn units(text: &str) -> Vec<Unit> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((start, ch)) = chars.next() {
        let escape = match ch {
            '%' => match (bytes.get(start + 1), bytes.get(start + 2)) {
                (Some(&hi), Some(&lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    let byte = (hex(hi) << 4) | hex(lo);
                    Some((3, if byte.is_ascii() { char::from(byte) } else { LETTER }))
                }
                _ => None,
            },
            '\\' => match bytes.get(start + 1) {
                Some(b'n' | b't' | b'r') => Some((2, ' ')),
                Some(b'"') => Some((2, '"')),
                _ => None,
            },
            '\u{1b}' if bytes.get(start + 1) == Some(&b'[') => {
                let params = bytes[start + 2..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit() || **b == b';')
                    .count();
                bytes
                    .get(start + 2 + params)
                    .filter(|b| b.is_ascii_alphabetic())
                    .map(|_| (params + 3, MARK))
            }
            _ => None,
        };
        match escape {
            Some((len, ch)) => {
                out.push(Unit {
                    start,
                    end: start + len,
                    ch,
                });
                while chars.peek().is_some_and(|&(i, _)| i < start + len) {
                    chars.next();
                }
            }
            None => out.push(Unit {
                start,
                end: start + ch.len_utf8(),
                ch,
            }),
        }
    }
    out
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// `text` with the spans `find` reports (ranges of units) replaced by `mask` of their text
/// as read (escapes decoded).
fn replace_spans(text: &str, find: fn(&[char]) -> Vec<(usize, usize)>, mask: fn(&str) -> String) -> String {
    let units = units(text);
    let chars: Vec<char> = units.iter().map(|u| u.ch).collect();
    let spans = find(&chars);
    if spans.is_empty() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (from, to) in spans {
        let (start, end) = (units[from].start, units[to - 1].end);
        out.push_str(&text[done..start]);
        out.push_str(&mask(&chars[from..to].iter().collect::<String>()));
        done = end;
    }
    out.push_str(&text[done..]);
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Email addresses, as ranges of `chars`.
fn email_spans(chars: &[char]) -> Vec<(usize, usize)> {
    let is_local = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-');
    let is_domain = |c: char| c.is_alphanumeric() || matches!(c, '.' | '-');
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for at in (0..chars.len()).filter(|&i| chars[i] == '@') {
        let mut start = at;
        while start > 0 && is_local(chars[start - 1]) {
            start -= 1;
        }
        while start < at && chars[start] == '.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < chars.len() && is_domain(chars[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(chars[end - 1], '.' | '-') {
            end -= 1;
        }
        let domain: String = chars[at + 1..end].iter().collect();
        let tld = domain.rsplit('.').next().unwrap_or("");
        let valid = start < at
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.contains("..")
            && tld.chars().count() >= 2
            && tld.chars().all(char::is_alphabetic);
        if valid && spans.last().is_none_or(|&(_, prev_end)| start >= prev_end) {
            spans.push((start, end));
        }
    }
    spans
}

/// Phone numbers, as ranges of `chars`.
fn phone_spans(chars: &[char]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match phone_at(chars, i) {
            Some(end) => {
                spans.push((i, end));
                i = end;
            }
            None => i += 1,
        }
    }
    spans
}

/// The end of the phone number that starts at `i`, if one does.
fn phone_at(c: &[char], i: usize) -> Option<usize> {
    let digit = |k: usize| c.get(k).is_some_and(char::is_ascii_digit);
    let run_end = |mut k: usize| {
        while digit(k) {
            k += 1;
        }
        k
    };
    // A part followed by `:` and a digit is a time of day.
    let is_time = |k: usize| c.get(k) == Some(&':') && digit(k + 1);
    let prev = i.checked_sub(1).map(|p| c[p]);

    let mut k = i;
    let bracket = c[k] == '(';
    if bracket {
        k += 1;
    }
    let plus = c.get(k) == Some(&'+');
    if plus {
        k += 1;
    }
    let left_ok = match prev {
        None => true,
        // `123+84…`: a `+` may follow digits, not letters.
        Some(p) if plus && !bracket => !(p.is_alphabetic() || p == '_'),
        // `07:00`: the minutes of a time.
        Some(p) => !(is_word(p) || (p == ':' && i >= 2 && c[i - 2].is_ascii_digit())),
    };
    if !left_ok || !digit(k) {
        return None;
    }
    let first_end = run_end(k);
    let first: String = c[k..first_end].iter().collect();
    if first.len() < 2 {
        return None;
    }
    let mut pos = first_end;
    if bracket {
        if c.get(pos) != Some(&')') {
            return None;
        }
        pos += 1;
    } else if c.get(pos).is_some_and(|&ch| is_word(ch)) || is_time(pos) {
        return None;
    }
    // A prefix that may be followed by a long part: `+84 912345678`, `(024) 38541234`.
    let prefix = bracket || plus || first == "84" || (first.starts_with('0') && first.len() <= 4);

    let mut digits = first;
    let mut ends = vec![(pos, digits.len())];
    loop {
        let mut q = pos;
        if bracket && ends.len() == 1 {
            if c.get(q) == Some(&' ') {
                q += 1;
            }
        } else if matches!(c.get(q), Some(' ' | '.' | '-' | '+')) {
            q += 1;
        } else {
            break;
        }
        let end = run_end(q);
        let len = end - q;
        let long_ok = prefix && ends.len() == 1;
        if len < 2 || (len > 4 && !long_ok) || c.get(end).is_some_and(|&ch| is_word(ch)) || is_time(end) {
            break;
        }
        digits.extend(&c[q..end]);
        pos = end;
        ends.push((pos, digits.len()));
    }
    ends.iter()
        .rev()
        .find(|&&(_, n)| is_phone_digits(&digits[..n], plus))
        .map(|&(end, _)| end)
}

/// Whether these digits make a phone number: `+` and 10–15 digits, or a Vietnamese number
/// in national (`0`) or international (`84`) form with 9–10 significant digits.
fn is_phone_digits(digits: &str, plus: bool) -> bool {
    if plus {
        return (10..=15).contains(&digits.len());
    }
    let significant = |rest: &str| (9..=10).contains(&rest.len()) && !rest.starts_with('0');
    digits.strip_prefix("84").is_some_and(significant) || digits.strip_prefix('0').is_some_and(significant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_masked(text: &str, raw: &str) {
        let out = redact(text);
        assert!(!out.contains(raw), "{raw:?} left in {out:?}");
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let out_digits: String = out.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= 9 {
            assert!(
                !out_digits.contains(&digits[digits.len() - 7..]),
                "{raw:?} digits left in {out:?}"
            );
        }
    }

    #[test]
    fn phone_numbers_in_every_common_spelling_are_masked() {
        for phone in [
            "0912345678",
            "0912 345 678",
            "0912.345.678",
            "091-234-5678",
            "091.234.5678",
            "+84912345678",
            "+84 91 234 5678",
            "+84 912 345 678",
            "+84-912-345-678",
            "+84 912345678",
            "84912345678",
            "84 912 345 678",
            "(+84) 912.345.678",
            "(+84)912345678",
            "(024) 3854 1234",
            "0204 3854 123",
            "01662 345 678",
            "02438541234",
            "0912+345+678",
            "+6591234567",
        ] {
            for text in [
                phone.to_string(),
                format!("phone={phone} role=citizen"),
                format!("gọi {phone}, cảm ơn."),
                format!("{{\"to\":\"{phone}\",\"n\":2}}"),
                format!("from=<{phone}>"),
            ] {
                assert_masked(&text, phone);
            }
        }
    }

    #[test]
    fn the_rest_of_the_text_is_kept() {
        assert_eq!(
            redact("sms to 0912 345 678 sent, 2 parts"),
            format!("sms to {} sent, 2 parts", mask_phone_digits("0912 345 678"))
        );
        assert_eq!(
            redact("phone=+84912345678 status=sent"),
            "phone=+84*******78 status=sent"
        );
        assert_eq!(
            redact("Email address is not verified: <an.nguyen@example.vn>."),
            "Email address is not verified: <a***@***.vn>."
        );
    }

    #[test]
    fn email_addresses_are_masked() {
        for (text, raw) in [
            ("an.nguyen@example.vn", "an.nguyen@example.vn"),
            (
                "to=An.Nguyen+tag@mail.example.com.vn,",
                "An.Nguyen+tag@mail.example.com.vn",
            ),
            ("{\"to\":\"chi.1a2b3c4d@example.vn\"}", "chi.1a2b3c4d@example.vn"),
            ("<thanhdoan.bacgiang@example.vn>.", "thanhdoan.bacgiang@example.vn"),
            ("/v1/x?email=an%40example.vn&y=1", "an%40example.vn"),
            ("mailto:nguyễn@ví-dụ.việtnam", "nguyễn@ví-dụ.việtnam"),
        ] {
            let out = redact(text);
            assert!(!out.contains(raw), "{out}");
            assert!(out.contains("***@***."), "{out}");
        }
    }

    #[test]
    fn escapes_do_not_hide_numbers() {
        assert_masked("uri=/v1/contacts?phone=%2B84912345678&limit=5", "84912345678");
        assert_masked("uri=/v1/contacts?phone=0912%20345%20678", "0912%20345%20678");
        assert_masked("{\"message\":\"line one\\n0912345678\"}", "0912345678");
        assert_masked("\u{1b}[3mphone\u{1b}[0m\u{1b}[2m=\u{1b}[0m0912345678", "0912345678");
        assert_masked("q=%3D0912345678", "0912345678");
    }

    #[test]
    fn two_numbers_next_to_each_other_are_both_masked() {
        let out = redact("0912345678 0358100001");
        assert!(!out.contains("345678") && !out.contains("100001"), "{out}");
        let out = redact("3 0912345678 12");
        assert!(
            out.starts_with("3 ") && out.ends_with(" 12") && !out.contains("345"),
            "{out}"
        );
        let out = redact("at 2026-01-05 0912345678");
        assert_eq!(out, "at 2026-01-05 091*****78");
    }

    #[test]
    fn ordinary_log_text_is_kept() {
        for text in [
            "2026-10-01T07:00:00+07:00",
            "2026-10-01T00:00:00.123456789Z",
            "now=2026-10-01 07:00:00 +0700",
            "01.10.2026 07:00",
            "session_id=ses_abc123 delivery=del_0912345678x",
            "job_0912345678",
            "communes 07201 07228 07441",
            "communes 07201-07228-07441",
            "unit=07201 parent=213",
            "elapsed=1.234567ms took 0.0912345678s",
            "took 912345678ns",
            "counter=0000012345 bytes=1234567890",
            "ts=1767225600 ms=1767225600000",
            "message_id=0102019a1b2c3d4e-5f6a7b8c-0000-0000",
            "id=01936d4b-8c5e-7a3f-9b1d-2e4f6a8c0d1e",
            "addr=127.0.0.1:30845 version 1.85.0",
            "@mention user@localhost a***@***.vn 091*****78 +84*******78",
            "rate 12.5% of 100%, 50%20",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        let once = redact("an@example.vn 0912 345 678 (+84) 912.345.678");
        assert_eq!(redact(&once), once);
    }

    #[test]
    fn text_without_anything_to_mask_is_returned_as_is() {
        assert_eq!(redact("Xã Tân Dĩnh — nhắc lịch"), "Xã Tân Dĩnh — nhắc lịch");
        assert_eq!(redact(""), "");
        assert_eq!(redact("100%"), "100%");
        assert_eq!(redact("trailing %4"), "trailing %4");
        assert_eq!(redact("\u{1b}["), "\u{1b}[");
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_without_panicking(text in "([%\\\\\x1b\\[;0-9a-fA-F@.+ ()n\"]|\\PC){0,80}") {
            let _ = redact(&text);
        }

        #[test]
        fn a_mobile_number_between_words_is_always_masked(
            before in "[a-zA-Z=:,(<\" ]{0,12}",
            after in "[a-zA-Z,.)>\" ]{0,12}",
            prefix in proptest::sample::select(vec!["0", "84", "+84", "+84 ", "(+84) ", "84 "]),
            nsn in "[35789][0-9]{8}",
            sep in proptest::sample::select(vec!["", " ", ".", "-"]),
        ) {
            let grouped = format!("{}{sep}{}{sep}{}", &nsn[..3], &nsn[3..6], &nsn[6..]);
            let text = format!("{before} {prefix}{grouped} {after}");
            let out = redact(&text);
            // Only the number has digits, and masking leaves at most its first three and
            // last two. (Asking that its middle digits be absent fails when they happen to
            // equal the visible ones: 0380382828 → 038*****28.)
            let digits: String = out.chars().filter(char::is_ascii_digit).collect();
            proptest::prop_assert!(digits.len() <= 5, "{text:?} -> {out:?}");
            proptest::prop_assert!(!out.contains(&nsn[..]), "{text:?} -> {out:?}");
        }
    }
}
