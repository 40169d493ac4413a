//! Reading the attested document (the signed content) and checking its time window.
//!
//! The content is compact JSON: `{"licenseType", "nonce", "plan", "sku", "subscriptionId",
//! "timeStamp": {"createdOn", "expiresOn"}, "vmId"}`. Only `vmId`, `subscriptionId`, `nonce`
//! and `timeStamp` are read; other fields are tolerated. Times look like
//! `04/19/22 01:27:21 -0000` (MM/DD/YY HH:MM:SS, always UTC) and are parsed strictly.

use serde_json::{Map, Value};

use super::MAX_CREATED_SKEW_SECONDS;
use crate::{Error, UnixTime, json};

/// The longest text accepted in a field idgate keeps.
const MAX_TEXT_LEN: usize = 128;

/// The fields of an attested document whose signature verified.
#[derive(Debug)]
pub(super) struct Document {
    pub(super) vm_id: String,
    pub(super) subscription_id: Option<String>,
    pub(super) nonce: Option<String>,
    pub(super) created_on: UnixTime,
    pub(super) expires_on: UnixTime,
}

/// Parses the content's JSON and extracts the fields idgate needs.
pub(super) fn parse(bytes: &[u8]) -> Result<Document, Error> {
    let object = json::object(bytes).ok_or(Error::AzureDocumentNotJson)?;
    let vm_id =
        optional_text(&object, "vmId")?.ok_or(Error::AzureDocumentField { field: "vmId" })?;
    let subscription_id = optional_text(&object, "subscriptionId")?;
    let nonce = optional_text(&object, "nonce")?;
    let Some(Value::Object(time_stamp)) = object.get("timeStamp") else {
        return Err(Error::AzureDocumentField { field: "timeStamp" });
    };
    let created_on = timestamp_field(time_stamp, "createdOn", "timeStamp.createdOn")?;
    let expires_on = timestamp_field(time_stamp, "expiresOn", "timeStamp.expiresOn")?;
    if expires_on < created_on {
        return Err(Error::AzureDocumentField { field: "timeStamp" });
    }
    Ok(Document {
        vm_id,
        subscription_id,
        nonce,
        created_on,
        expires_on,
    })
}

impl Document {
    /// The document must not have expired at `now` (`expiresOn` itself is still valid) and
    /// must not have been created more than [`MAX_CREATED_SKEW_SECONDS`] after `now`.
    pub(super) fn check_time(&self, now: UnixTime) -> Result<(), Error> {
        if now > self.expires_on {
            return Err(Error::AzureDocumentExpired);
        }
        if self.created_on.0 > now.0.saturating_add(MAX_CREATED_SKEW_SECONDS) {
            return Err(Error::AzureDocumentFromFuture);
        }
        Ok(())
    }
}

/// A field that may be absent, `null` or empty (all meaning "not given"); when present it
/// must be text of at most [`MAX_TEXT_LEN`] bytes without control characters.
fn optional_text(
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, Error> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) if json::is_valid_text(text, MAX_TEXT_LEN) => {
            Ok(Some(text.clone()))
        }
        Some(_) => Err(Error::AzureDocumentField { field }),
    }
}

fn timestamp_field(
    time_stamp: &Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<UnixTime, Error> {
    match time_stamp.get(key) {
        Some(Value::String(text)) => {
            parse_timestamp(text).ok_or(Error::AzureDocumentField { field })
        }
        _ => Err(Error::AzureDocumentField { field }),
    }
}

/// Parses `MM/DD/YY HH:MM:SS -0000` exactly (two-digit years are 2000 to 2099).
pub(super) fn parse_timestamp(text: &str) -> Option<UnixTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 23 || text.get(17..) != Some(" -0000") {
        return None;
    }
    let separators = [(2, b'/'), (5, b'/'), (8, b' '), (11, b':'), (14, b':')];
    if separators
        .iter()
        .any(|(at, separator)| bytes.get(*at) != Some(separator))
    {
        return None;
    }
    let number = |at: usize| -> Option<u8> {
        let tens = bytes.get(at).copied().filter(u8::is_ascii_digit)?;
        let ones = bytes.get(at + 1).copied().filter(u8::is_ascii_digit)?;
        Some((tens - b'0') * 10 + (ones - b'0'))
    };
    let month = time::Month::try_from(number(0)?).ok()?;
    let day = number(3)?;
    let year = 2000 + i32::from(number(6)?);
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let time = time::Time::from_hms(number(9)?, number(12)?, number(15)?).ok()?;
    let at = time::PrimitiveDateTime::new(date, time).assume_utc();
    Some(UnixTime(at.unix_timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_strictly() {
        assert_eq!(
            parse_timestamp("04/19/22 01:27:21 -0000"),
            Some(UnixTime(1_650_331_641))
        );
        assert_eq!(
            parse_timestamp("02/29/24 23:59:59 -0000"),
            Some(UnixTime(1_709_251_199))
        );
        for bad in [
            "",
            "04/19/22 01:27:21",
            "04/19/22 01:27:21 +0000",
            "04/19/22 01:27:21 -0100",
            "04/19/2022 01:27:21 -0000",
            "4/19/22 01:27:21 -0000 ",
            "13/19/22 01:27:21 -0000",
            "02/30/22 01:27:21 -0000",
            "02/29/23 01:27:21 -0000",
            "04/19/22 24:00:00 -0000",
            "04/19/22 01:60:21 -0000",
            "04-19-22 01:27:21 -0000",
            "04/19/22T01:27:21 -0000",
            "0a/19/22 01:27:21 -0000",
            "+4/19/22 01:27:21 -0000",
            "04/19/22 01:27:21 -0000\n",
            "04/19/22 01:27:2١ -0000",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    /// `(vmId, subscriptionId, nonce)`, or the error message.
    type Expected<'a> = Result<(&'a str, Option<&'a str>, Option<&'a str>), &'a str>;

    fn check(json: &str, expected: Expected<'_>) {
        match (parse(json.as_bytes()), expected) {
            (Ok(document), Ok((vm_id, subscription_id, nonce))) => {
                assert_eq!(document.vm_id, vm_id);
                assert_eq!(document.subscription_id.as_deref(), subscription_id);
                assert_eq!(document.nonce.as_deref(), nonce);
            }
            (Err(error), Err(message)) => assert_eq!(error.to_string(), message, "{json}"),
            (actual, expected) => panic!("{json}: got {actual:?}, expected {expected:?}"),
        }
    }

    const TS: &str = r#""timeStamp":{"createdOn":"04/19/22 01:27:21 -0000","expiresOn":"04/19/22 07:27:21 -0000"}"#;

    #[test]
    fn fields() {
        check(
            &format!(r#"{{"nonce":"n","subscriptionId":"s",{TS},"vmId":"v","x":[1]}}"#),
            Ok(("v", Some("s"), Some("n"))),
        );
        check(
            &format!(r#"{{"nonce":"","subscriptionId":null,{TS},"vmId":"v"}}"#),
            Ok(("v", None, None)),
        );
        let no_vm_id = "the Azure attested document has no valid `vmId` field";
        check(&format!(r#"{{{TS}}}"#), Err(no_vm_id));
        check(&format!(r#"{{{TS},"vmId":""}}"#), Err(no_vm_id));
        check(&format!(r#"{{{TS},"vmId":7}}"#), Err(no_vm_id));
        check(&format!(r#"{{{TS},"vmId":"a\u0000"}}"#), Err(no_vm_id));
        check(
            &format!(r#"{{{TS},"vmId":"{}"}}"#, "a".repeat(MAX_TEXT_LEN + 1)),
            Err(no_vm_id),
        );
        check(
            &format!(r#"{{{TS},"vmId":"v","nonce":1}}"#),
            Err("the Azure attested document has no valid `nonce` field"),
        );
        let no_time_stamp = "the Azure attested document has no valid `timeStamp` field";
        check(r#"{"vmId":"v"}"#, Err(no_time_stamp));
        check(r#"{"vmId":"v","timeStamp":"x"}"#, Err(no_time_stamp));
        check(
            r#"{"vmId":"v","timeStamp":{"createdOn":"04/19/22 07:27:22 -0000","expiresOn":"04/19/22 07:27:21 -0000"}}"#,
            Err(no_time_stamp),
        );
        check(
            r#"{"vmId":"v","timeStamp":{"expiresOn":"04/19/22 07:27:21 -0000"}}"#,
            Err("the Azure attested document has no valid `timeStamp.createdOn` field"),
        );
        check(
            r#"{"vmId":"v","timeStamp":{"createdOn":"04/19/22 01:27:21 -0000","expiresOn":"2022-04-19T07:27:21Z"}}"#,
            Err("the Azure attested document has no valid `timeStamp.expiresOn` field"),
        );
        let not_json = "the Azure attested document is not a JSON object";
        check("[1]", Err(not_json));
        check("{", Err(not_json));
        check("", Err(not_json));
    }

    #[test]
    fn time_window() {
        let json = format!(r#"{{{TS},"vmId":"v"}}"#);
        let document = parse(json.as_bytes()).expect("document");
        let created = document.created_on.0;
        let expires = document.expires_on.0;
        assert!(document.check_time(UnixTime(created)).is_ok());
        assert!(document.check_time(UnixTime(expires)).is_ok());
        assert!(matches!(
            document.check_time(UnixTime(expires + 1)),
            Err(Error::AzureDocumentExpired)
        ));
        assert!(
            document
                .check_time(UnixTime(created - MAX_CREATED_SKEW_SECONDS))
                .is_ok()
        );
        assert!(matches!(
            document.check_time(UnixTime(created - MAX_CREATED_SKEW_SECONDS - 1)),
            Err(Error::AzureDocumentFromFuture)
        ));
    }
}
