//! Strict parsing of a compact JWS (`header.payload.signature`) before anything is trusted.
//!
//! The rules are deliberately narrower than RFC 7515 allows, and exactly what Google produces:
//! exactly three segments; each segment canonical base64url without padding (no `=`, no
//! whitespace, no `+` or `/`, no stray trailing bits); a header that is a JSON object. The
//! payload is decoded here but only parsed as JSON after the signature has verified.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::{MAX_TOKEN_LEN, RS256};
use crate::{Error, json};

/// The request field that carries the token, for [`Error::InputSize`].
const FIELD_TOKEN: &str = "json_web_token";

pub(super) const HEADER: &str = "header";
pub(super) const PAYLOAD: &str = "payload";
const SIGNATURE: &str = "signature";

/// A token split and decoded, nothing verified.
pub(super) struct UnverifiedToken<'a> {
    /// `header_b64.payload_b64`, exactly as received: the bytes the signature covers.
    pub(super) signing_input: &'a str,
    /// The decoded header.
    pub(super) header: Map<String, Value>,
    /// The decoded payload bytes (JSON not yet parsed).
    pub(super) payload: Vec<u8>,
    /// The decoded signature bytes.
    pub(super) signature: Vec<u8>,
}

/// Checks the size, splits the three segments, decodes them and parses the header.
pub(super) fn parse(token: &str) -> Result<UnverifiedToken<'_>, Error> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(Error::InputSize {
            field: FIELD_TOKEN,
            max: MAX_TOKEN_LEN,
        });
    }
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments.as_slice() else {
        return Err(Error::TokenSegments);
    };
    let signing_len = header.len() + 1 + payload.len();
    let Some(signing_input) = token.get(..signing_len) else {
        return Err(Error::TokenSegments);
    };
    let header_bytes = decode_segment(HEADER, header)?;
    let payload = decode_segment(PAYLOAD, payload)?;
    let signature = decode_segment(SIGNATURE, signature)?;
    let header = json_object(HEADER, &header_bytes)?;
    check_no_critical_extensions(&header)?;
    Ok(UnverifiedToken {
        signing_input,
        header,
        payload,
        signature,
    })
}

/// Canonical unpadded base64url; an empty segment decodes to nothing (and then fails later).
fn decode_segment(segment: &'static str, text: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Error::TokenBase64 { segment })
}

/// Parses `bytes` as a JSON object (the header, or the payload once it is signed).
pub(super) fn json_object(
    segment: &'static str,
    bytes: &[u8],
) -> Result<Map<String, Value>, Error> {
    json::object(bytes).ok_or(Error::TokenJson { segment })
}

/// `crit` lists extensions the verifier must understand (RFC 7515 §4.1.11); this one
/// understands none, and Google never sets it.
fn check_no_critical_extensions(header: &Map<String, Value>) -> Result<(), Error> {
    if header.contains_key("crit") {
        Err(Error::TokenHeaderField { field: "crit" })
    } else {
        Ok(())
    }
}

/// The header's `alg` must be the string `RS256`. Any other algorithm (`none`, `HS256`,
/// `RS512`, `ES256`, ...) is refused before any key is looked at.
pub(super) fn check_algorithm(header: &Map<String, Value>) -> Result<(), Error> {
    match header.get("alg") {
        Some(Value::String(alg)) if alg == RS256 => Ok(()),
        Some(Value::String(_)) => Err(Error::AlgorithmNotAllowed),
        _ => Err(Error::TokenHeaderField { field: "alg" }),
    }
}

/// The header's `kid`: a non-empty string.
pub(super) fn key_id(header: &Map<String, Value>) -> Result<&str, Error> {
    match header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => Ok(kid),
        _ => Err(Error::TokenHeaderField { field: "kid" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str, payload: &str, signature: &str) -> String {
        format!("{}.{}.{signature}", b64(header), b64(payload))
    }

    #[test]
    fn a_well_formed_token_splits() {
        let text = token(r#"{"alg":"RS256","kid":"k1"}"#, r#"{"a":1}"#, "AQID");
        let parsed = parse(&text).ok().unwrap();
        assert_eq!(parsed.payload, br#"{"a":1}"#);
        assert_eq!(parsed.signature, [1, 2, 3]);
        assert!(text.starts_with(parsed.signing_input));
        assert_eq!(parsed.signing_input.matches('.').count(), 1);
        assert!(check_algorithm(&parsed.header).is_ok());
        assert_eq!(key_id(&parsed.header).ok(), Some("k1"));
    }

    #[test]
    fn segments() {
        let header = b64(r#"{"alg":"RS256"}"#);
        for text in [
            header.clone(),
            format!("{header}.e30"),
            format!("{header}.e30.AQID.AQID"),
            format!("{header}.e30.AQID."),
        ] {
            assert!(matches!(parse(&text), Err(Error::TokenSegments)), "{text}");
        }
    }

    #[test]
    fn base64_is_canonical_unpadded_url_safe() {
        let header = b64(r#"{"alg":"RS256"}"#);
        for (text, segment) in [
            (format!("{header}=.e30.AQID"), "header"),
            (format!("{header}.e30=.AQID"), "payload"),
            (format!("{header}.e30.AQI="), "signature"),
            (format!("{header}.e30.AQ+D"), "signature"),
            (format!("{header}.e30.AQ/D"), "signature"),
            (format!("{header}.e30.AQ D"), "signature"),
            (format!("{header}.e30.AQID\n"), "signature"),
            // `AQJ` has non-zero trailing bits: a second spelling of `AQI`.
            (format!("{header}.e30.AQJ"), "signature"),
            (format!("{header}.e30.A"), "signature"),
        ] {
            match parse(&text) {
                Err(Error::TokenBase64 { segment: found }) => assert_eq!(found, segment, "{text}"),
                other => panic!("{text}: {:?}", other.err()),
            }
        }
    }

    #[test]
    fn header_must_be_a_json_object_without_crit() {
        for header in ["", "[]", "null", "\"alg\"", "{", "{\"alg\":\"RS256\"} x"] {
            let text = token(header, "{}", "AQID");
            assert!(
                matches!(parse(&text), Err(Error::TokenJson { segment: "header" })),
                "{header}"
            );
        }
        let text = token(r#"{"alg":"RS256","crit":["exp"]}"#, "{}", "AQID");
        assert!(matches!(
            parse(&text),
            Err(Error::TokenHeaderField { field: "crit" })
        ));
    }

    #[test]
    fn size_limit() {
        assert!(matches!(parse(""), Err(Error::InputSize { .. })));
        let big = token(r#"{"alg":"RS256"}"#, &"x".repeat(MAX_TOKEN_LEN), "AQID");
        assert!(matches!(parse(&big), Err(Error::InputSize { .. })));
    }

    #[test]
    fn algorithm_and_kid() {
        let header = |json: &str| json_object(HEADER, json.as_bytes()).ok().unwrap();
        for alg in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"RS512"}"#,
            r#"{"alg":"rs256"}"#,
            r#"{"alg":""}"#,
        ] {
            assert!(
                matches!(
                    check_algorithm(&header(alg)),
                    Err(Error::AlgorithmNotAllowed)
                ),
                "{alg}"
            );
        }
        for alg in [r#"{}"#, r#"{"alg":null}"#, r#"{"alg":["RS256"]}"#] {
            assert!(
                matches!(
                    check_algorithm(&header(alg)),
                    Err(Error::TokenHeaderField { field: "alg" })
                ),
                "{alg}"
            );
        }
        for kid in [r#"{}"#, r#"{"kid":""}"#, r#"{"kid":1}"#, r#"{"kid":null}"#] {
            assert!(
                matches!(
                    key_id(&header(kid)),
                    Err(Error::TokenHeaderField { field: "kid" })
                ),
                "{kid}"
            );
        }
    }
}
