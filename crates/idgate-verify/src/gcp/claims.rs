//! Reading the claims of a GCP identity token whose signature has verified.
//!
//! Each function reads one claim and checks its type; the policy checks (which issuer, which
//! audience, which times) are in the parent module. Claims idgate does not need (`azp`, `sub`,
//! `email`, `license_id`, ...) are tolerated and ignored.

use serde_json::{Map, Value};

use super::jwt;
use crate::{Error, json};

/// The expiry claim.
pub(super) const EXP: &str = "exp";
/// The issued-at claim.
pub(super) const IAT: &str = "iat";
/// The not-before claim (Google does not set it; honoured when present).
pub(super) const NBF: &str = "nbf";

const INSTANCE_ID: &str = "google.compute_engine.instance_id";
const PROJECT_ID: &str = "google.compute_engine.project_id";
const ZONE: &str = "google.compute_engine.zone";
const INSTANCE_NAME: &str = "google.compute_engine.instance_name";

/// The most digits an instance ID has (a 64-bit unsigned integer has at most 20).
const MAX_INSTANCE_ID_DIGITS: usize = 20;
/// The longest text accepted in an optional `google.compute_engine` field.
const MAX_TEXT_LEN: usize = 128;

/// The claims object.
pub(super) type Claims = Map<String, Value>;

/// The instance fields of `google.compute_engine`.
#[derive(Debug)]
pub(super) struct ComputeEngine {
    pub(super) instance_id: String,
    pub(super) project_id: Option<String>,
    pub(super) zone: Option<String>,
    pub(super) instance_name: Option<String>,
}

/// Parses the (verified) payload as a JSON object.
pub(super) fn parse(payload: &[u8]) -> Result<Claims, Error> {
    jwt::json_object(jwt::PAYLOAD, payload)
}

/// `iss`: a string.
pub(super) fn issuer(claims: &Claims) -> Result<&str, Error> {
    match claims.get("iss") {
        Some(Value::String(issuer)) => Ok(issuer),
        _ => Err(Error::TokenClaim { claim: "iss" }),
    }
}

/// `aud`: a string, or an array of exactly one string.
pub(super) fn audience(claims: &Claims) -> Result<&str, Error> {
    let malformed = Error::TokenClaim { claim: "aud" };
    match claims.get("aud") {
        Some(Value::String(audience)) => Ok(audience),
        Some(Value::Array(items)) => {
            if !items.iter().all(Value::is_string) {
                return Err(malformed);
            }
            match items.as_slice() {
                [Value::String(audience)] => Ok(audience),
                _ => Err(Error::AudienceNotSingle { found: items.len() }),
            }
        }
        _ => Err(malformed),
    }
}

/// A NumericDate claim that must be present: an integer number of seconds. Google writes
/// integers; fractions (allowed by RFC 7519) are refused rather than rounded.
pub(super) fn required_time(claims: &Claims, claim: &'static str) -> Result<i64, Error> {
    optional_time(claims, claim)?.ok_or(Error::TokenClaim { claim })
}

/// A NumericDate claim that may be absent (but not `null` or of another type).
pub(super) fn optional_time(claims: &Claims, claim: &'static str) -> Result<Option<i64>, Error> {
    match claims.get(claim) {
        None => Ok(None),
        Some(Value::Number(number)) => match number.as_i64() {
            Some(seconds) => Ok(Some(seconds)),
            None => Err(Error::TokenClaim { claim }),
        },
        Some(_) => Err(Error::TokenClaim { claim }),
    }
}

/// `google.compute_engine`: the instance ID is required (1 to 20 ASCII digits); project ID,
/// zone and instance name are optional text (1 to 128 characters, no control characters).
pub(super) fn compute_engine(claims: &Claims) -> Result<ComputeEngine, Error> {
    let missing = Error::TokenClaim { claim: INSTANCE_ID };
    let Some(Value::Object(google)) = claims.get("google") else {
        return Err(missing);
    };
    let Some(Value::Object(engine)) = google.get("compute_engine") else {
        return Err(missing);
    };
    let instance_id = match engine.get("instance_id") {
        Some(Value::String(id)) if is_instance_id(id) => id.clone(),
        _ => return Err(missing),
    };
    Ok(ComputeEngine {
        instance_id,
        project_id: optional_text(engine, "project_id", PROJECT_ID)?,
        zone: optional_text(engine, "zone", ZONE)?,
        instance_name: optional_text(engine, "instance_name", INSTANCE_NAME)?,
    })
}

/// A decimal instance ID: 1 to 20 ASCII digits.
fn is_instance_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_INSTANCE_ID_DIGITS && id.bytes().all(|b| b.is_ascii_digit())
}

/// An optional text field of `google.compute_engine`; present means valid text: non-empty,
/// at most [`MAX_TEXT_LEN`] bytes, no control characters.
fn optional_text(
    engine: &Map<String, Value>,
    key: &str,
    claim: &'static str,
) -> Result<Option<String>, Error> {
    match engine.get(key) {
        None => Ok(None),
        Some(Value::String(text)) if json::is_valid_text(text, MAX_TEXT_LEN) => {
            Ok(Some(text.clone()))
        }
        Some(_) => Err(Error::TokenClaim { claim }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Claims {
        parse(json.as_bytes()).ok().unwrap()
    }

    #[test]
    fn payload_must_be_an_object() {
        for json in ["", "[]", "1", "{", "\"x\""] {
            assert!(
                matches!(
                    parse(json.as_bytes()),
                    Err(Error::TokenJson { segment: "payload" })
                ),
                "{json}"
            );
        }
    }

    #[test]
    fn audience_forms() {
        assert_eq!(audience(&claims(r#"{"aud":"a"}"#)).ok(), Some("a"));
        assert_eq!(audience(&claims(r#"{"aud":["a"]}"#)).ok(), Some("a"));
        for (json, found) in [(r#"{"aud":[]}"#, 0), (r#"{"aud":["a","b"]}"#, 2)] {
            match audience(&claims(json)) {
                Err(Error::AudienceNotSingle { found: n }) => assert_eq!(n, found),
                other => panic!("{json}: {other:?}"),
            }
        }
        for json in [
            r#"{}"#,
            r#"{"aud":null}"#,
            r#"{"aud":1}"#,
            r#"{"aud":[1]}"#,
            r#"{"aud":["a",1]}"#,
            r#"{"aud":{"a":1}}"#,
        ] {
            assert!(
                matches!(
                    audience(&claims(json)),
                    Err(Error::TokenClaim { claim: "aud" })
                ),
                "{json}"
            );
        }
    }

    #[test]
    fn times_are_integers() {
        assert_eq!(required_time(&claims(r#"{"exp":5}"#), EXP).ok(), Some(5));
        assert_eq!(required_time(&claims(r#"{"exp":-5}"#), EXP).ok(), Some(-5));
        assert_eq!(optional_time(&claims(r#"{}"#), NBF).ok(), Some(None));
        for json in [
            r#"{}"#,
            r#"{"exp":null}"#,
            r#"{"exp":"5"}"#,
            r#"{"exp":5.5}"#,
            r#"{"exp":5.0}"#,
            r#"{"exp":1e3}"#,
            r#"{"exp":18446744073709551615}"#,
        ] {
            assert!(
                matches!(
                    required_time(&claims(json), EXP),
                    Err(Error::TokenClaim { claim: "exp" })
                ),
                "{json}"
            );
        }
    }

    #[test]
    fn compute_engine_fields() {
        let engine = compute_engine(&claims(
            r#"{"google":{"compute_engine":{"instance_id":"123","project_id":"p","zone":"z","instance_name":"n","project_number":1}}}"#,
        ))
        .ok()
        .unwrap();
        assert_eq!(engine.instance_id, "123");
        assert_eq!(engine.project_id.as_deref(), Some("p"));
        assert_eq!(engine.zone.as_deref(), Some("z"));
        assert_eq!(engine.instance_name.as_deref(), Some("n"));

        let minimal = compute_engine(&claims(
            r#"{"google":{"compute_engine":{"instance_id":"1"}}}"#,
        ))
        .ok()
        .unwrap();
        assert_eq!(minimal.project_id, None);

        for json in [
            r#"{}"#,
            r#"{"google":null}"#,
            r#"{"google":{}}"#,
            r#"{"google":{"compute_engine":[]}}"#,
            r#"{"google":{"compute_engine":{}}}"#,
            r#"{"google":{"compute_engine":{"instance_id":123}}}"#,
            r#"{"google":{"compute_engine":{"instance_id":""}}}"#,
            r#"{"google":{"compute_engine":{"instance_id":"i-123"}}}"#,
            r#"{"google":{"compute_engine":{"instance_id":" 123"}}}"#,
            r#"{"google":{"compute_engine":{"instance_id":"-1"}}}"#,
            r#"{"google":{"compute_engine":{"instance_id":"123456789012345678901"}}}"#,
            r#"{"google.compute_engine.instance_id":"123"}"#,
        ] {
            assert!(
                matches!(
                    compute_engine(&claims(json)),
                    Err(Error::TokenClaim { claim: INSTANCE_ID })
                ),
                "{json}"
            );
        }
        for (json, claim) in [
            (r#"{"instance_id":"1","project_id":""}"#, PROJECT_ID),
            (r#"{"instance_id":"1","project_id":7}"#, PROJECT_ID),
            (r#"{"instance_id":"1","zone":null}"#, ZONE),
            (
                r#"{"instance_id":"1","instance_name":"a\nb"}"#,
                INSTANCE_NAME,
            ),
        ] {
            let json = format!(r#"{{"google":{{"compute_engine":{json}}}}}"#);
            match compute_engine(&claims(&json)) {
                Err(Error::TokenClaim { claim: found }) => assert_eq!(found, claim, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }
}
