//! Decoding the base64 fields of a proof (AWS's `signature` and `pkcs7`, Azure's
//! `signature`), which agents may send wrapped.
//!
//! Each cloud passes its own field name and size limit.

use base64::Engine as _;

use crate::Error;

/// Decodes a base64 proof field: ASCII whitespace is removed first (AWS wraps at 76
/// columns), then standard base64 with padding is required. The result must be non-empty and
/// at most `max` bytes; otherwise the error is [`Error::InputSize`] for `field`.
pub(crate) fn decode(field: &'static str, text: &str, max: usize) -> Result<Vec<u8>, Error> {
    let too_large = Error::InputSize { field, max };
    let max_encoded = (max / 3 + 1) * 4;
    // Refuse absurd inputs before copying them; whitespace may at most double the size.
    if text.len() > 2 * max_encoded {
        return Err(too_large);
    }
    let compact: Vec<u8> = text
        .bytes()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    if compact.is_empty() || compact.len() > max_encoded {
        return Err(too_large);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| Error::InvalidBase64 { field })?;
    if decoded.is_empty() || decoded.len() > max {
        return Err(too_large);
    }
    Ok(decoded)
}
