//! Providers echo addresses and numbers in their error messages; these never reach logs.

/// Longest provider text kept in an error message.
const MAX_CHARS: usize = 300;

/// `text` with every email address and phone number masked (by the one masking rule,
/// [`outreach_core::privacy::redact`]), whitespace collapsed, cut to a few hundred characters.
pub(crate) fn redact(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let out = outreach_core::privacy::redact(&words.join(" "));
    if out.chars().count() > MAX_CHARS {
        let cut: String = out.chars().take(MAX_CHARS).collect();
        return cut + "…";
    }
    out
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
