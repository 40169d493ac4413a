//! Reading the few fields idgate needs from an AWS instance identity document.
//!
//! Only `instanceId`, `region`, `accountId` and `pendingTime` are read; every other field is
//! tolerated (old `2010-08-31` documents lack some, newer ones add more). The bytes are never
//! re-serialised: signatures are checked over the exact bytes received.

use serde_json::{Map, Value};

use super::is_region_name;
use crate::{Error, json};

/// The longest text accepted in a document field idgate keeps.
const MAX_TEXT_LEN: usize = 128;

/// The fields of a (not yet verified) identity document.
#[derive(Debug)]
pub(super) struct Document {
    pub(super) instance_id: String,
    pub(super) region: String,
    pub(super) account_id: Option<String>,
    pub(super) pending_time: Option<String>,
}

/// Parses the document's JSON and extracts the fields idgate needs.
pub(super) fn parse(bytes: &[u8]) -> Result<Document, Error> {
    let object = json::object(bytes).ok_or(Error::DocumentNotJson)?;
    let instance_id = required_text(&object, "instanceId")?;
    let region = required_text(&object, "region")?;
    if !is_region_name(&region) {
        return Err(Error::DocumentField { field: "region" });
    }
    Ok(Document {
        instance_id,
        region,
        account_id: optional_text(&object, "accountId")?,
        pending_time: optional_text(&object, "pendingTime")?,
    })
}

/// A field that must be present as valid text.
fn required_text(object: &Map<String, Value>, field: &'static str) -> Result<String, Error> {
    optional_text(object, field)?.ok_or(Error::DocumentField { field })
}

/// A field that may be absent or `null`; when present it must be valid text: non-empty, at
/// most [`MAX_TEXT_LEN`] bytes, no control characters.
fn optional_text(
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, Error> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if json::is_valid_text(text, MAX_TEXT_LEN) => {
            Ok(Some(text.clone()))
        }
        Some(_) => Err(Error::DocumentField { field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(instanceId, region, accountId, pendingTime)`, or the error message.
    type Expected<'a> = Result<(&'a str, &'a str, Option<&'a str>, Option<&'a str>), &'a str>;

    fn check(json: &str, expected: Expected<'_>) {
        let actual = parse(json.as_bytes());
        match (actual, expected) {
            (Ok(document), Ok((instance_id, region, account_id, pending_time))) => {
                assert_eq!(document.instance_id, instance_id);
                assert_eq!(document.region, region);
                assert_eq!(document.account_id.as_deref(), account_id);
                assert_eq!(document.pending_time.as_deref(), pending_time);
            }
            (Err(error), Err(message)) => assert_eq!(error.to_string(), message, "{json}"),
            (actual, expected) => panic!("{json}: got {actual:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn fields() {
        check(
            r#"{ "instanceId" : "i-1", "region" : "us-east-1", "accountId" : "1", "pendingTime" : "t", "x" : [1] }"#,
            Ok(("i-1", "us-east-1", Some("1"), Some("t"))),
        );
        check(
            r#"{"instanceId":"i-1","region":"us-east-1","accountId":null}"#,
            Ok(("i-1", "us-east-1", None, None)),
        );
        let no_instance = "the identity document has no valid `instanceId` field";
        check(r#"{"region":"us-east-1"}"#, Err(no_instance));
        check(
            r#"{"instanceId":"","region":"us-east-1"}"#,
            Err(no_instance),
        );
        check(r#"{"instanceId":7,"region":"us-east-1"}"#, Err(no_instance));
        check(
            r#"{"instanceId":"i-\n","region":"us-east-1"}"#,
            Err(no_instance),
        );
        let bad_region = "the identity document has no valid `region` field";
        check(r#"{"instanceId":"i-1"}"#, Err(bad_region));
        check(
            r#"{"instanceId":"i-1","region":"US EAST"}"#,
            Err(bad_region),
        );
        check(
            r#"{"instanceId":"i-1","region":"us-east-1","accountId":1}"#,
            Err("the identity document has no valid `accountId` field"),
        );
        let not_json = "the identity document is not a JSON object";
        check("[1, 2]", Err(not_json));
        check("{", Err(not_json));
        check("\u{feff}{}", Err(not_json));
    }
}
