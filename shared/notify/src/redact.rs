//! Providers echo addresses and numbers in their error messages; these never reach logs.

use outreach_core::contact::mask_email;
use outreach_core::phone::mask_phone_digits;

/// Longest provider text kept in an error message.
const MAX_CHARS: usize = 300;

/// `text` with every word that looks like an email address or a phone number masked,
/// cut to a few hundred characters.
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS));
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&redact_word(word));
        if out.chars().count() > MAX_CHARS {
            let cut: String = out.chars().take(MAX_CHARS).collect();
            return cut + "…";
        }
    }
    out
}

fn redact_word(word: &str) -> String {
    let is_edge = |c: char| !(c.is_alphanumeric() || c == '+' || c == '@');
    let core = word.trim_matches(is_edge);
    if core.is_empty() {
        return word.to_owned();
    }
    let masked = if core.contains('@') {
        mask_email(core)
    } else if core.chars().filter(char::is_ascii_digit).count() >= 7 {
        mask_phone_digits(core)
    } else {
        return word.to_owned();
    };
    word.replacen(core, &masked, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_numbers_are_masked() {
        let text = "Email address is not verified: <an.nguyen@example.vn>, phone +84912345678.";
        let out = redact(text);
        assert!(!out.contains("an.nguyen"), "{out}");
        assert!(!out.contains("912345678"), "{out}");
        assert!(
            out.starts_with("Email address is not verified: <a***@***.vn>, phone +84"),
            "{out}"
        );
    }

    #[test]
    fn long_text_is_cut() {
        let out = redact(&"word ".repeat(200));
        assert!(out.chars().count() <= MAX_CHARS + 1);
    }
}
