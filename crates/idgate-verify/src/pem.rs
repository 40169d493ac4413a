//! The lenient reader of PEM buffers holding one or more certificates, shared by the AWS
//! and Azure trust stores.
//!
//! Only `-----BEGIN CERTIFICATE-----` blocks are read; text between them (comments, other
//! blocks' surroundings, CRLF line ends) is ignored, and the base64 body may be wrapped at
//! any width. What each block's DER must be is the caller's check.

use base64::Engine as _;

use crate::Error;

/// The DER of each `-----BEGIN CERTIFICATE-----` block. The base64 body may be wrapped at any
/// width; text between blocks is ignored. At least one block is required
/// ([`Error::NoCertificates`]); a block without its end line or with invalid base64 is
/// [`Error::InvalidPem`] with its 1-based position.
pub(crate) fn certificate_blocks(pem: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = pem;
    while let Some(begin) = find(rest, BEGIN) {
        let position = blocks.len() + 1;
        let invalid = Error::InvalidPem { position };
        let body_and_rest = rest.get(begin + BEGIN.len()..).unwrap_or_default();
        let Some(end) = find(body_and_rest, END) else {
            return Err(invalid);
        };
        let body = body_and_rest.get(..end).unwrap_or_default();
        let compact: Vec<u8> = body
            .iter()
            .copied()
            .filter(|byte| !byte.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .map_err(|_| invalid)?;
        blocks.push(der);
        rest = body_and_rest.get(end + END.len()..).unwrap_or_default();
    }
    if blocks.is_empty() {
        return Err(Error::NoCertificates);
    }
    Ok(blocks)
}

/// The offset of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
