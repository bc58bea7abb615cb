//! Opaque list cursors: the sort key of the last item of a page, base64url-encoded.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::StoreError;

/// Marks a cursor as one of ours, so a made-up string is refused rather than misread.
const TAG: &str = "c1";

/// Encode the parts of a sort key as a cursor.
pub fn encode(parts: &[&str]) -> String {
    let mut all = vec![TAG];
    all.extend_from_slice(parts);
    URL_SAFE_NO_PAD.encode(all.join("\u{1f}"))
}

/// Decode a cursor into exactly `n` parts of a sort key.
pub fn decode(cursor: &str, n: usize) -> Result<Vec<String>, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
    let mut parts = text.split('\u{1f}');
    if parts.next() != Some(TAG) {
        return Err(StoreError::BadCursor);
    }
    let parts: Vec<String> = parts.map(str::to_string).collect();
    if parts.len() != n || parts.iter().any(|p| p.chars().any(char::is_control)) {
        return Err(StoreError::BadCursor);
    }
    Ok(parts)
}
