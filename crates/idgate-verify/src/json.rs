//! JSON helpers shared by the AWS and Azure documents and the GCP claims.
//!
//! Which fields a cloud reads, which may be absent, `null` or empty, and the error each
//! failure is, stay in that cloud's module; these helpers only parse and test text.

use serde_json::{Map, Value};

/// `bytes` parsed as a JSON object; `None` when they are not JSON or not an object.
pub(crate) fn object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Some(object),
        Ok(_) | Err(_) => None,
    }
}

/// Whether `text` is acceptable in a field idgate keeps: non-empty, at most `max_len` bytes,
/// no control characters.
pub(crate) fn is_valid_text(text: &str, max_len: usize) -> bool {
    !text.is_empty() && text.len() <= max_len && !text.chars().any(char::is_control)
}
