//! GCP instance identity: the RS256 identity token of the metadata server.
//!
//! An agent sends the token that `.../service-accounts/default/identity?audience=...&format=full`
//! returns: a compact JWS signed by Google with RS256, whose `kid` names one of Google's keys
//! ([`GcpKeys`], loaded from a JWKS or from the v1 map of PEM certificates). [`verify_gcp`] is
//! the only way to obtain a [`VerifiedGcpIdentity`]; it runs one explicit check after another,
//! each with its own [`Error`] variant:
//!
//! 1. the token is at most [`MAX_TOKEN_LEN`] bytes, three unpadded base64url segments, and its
//!    header is a JSON object without `crit`;
//! 2. the header's `alg` is `RS256` (nothing else, in particular no `none` and no HMAC: no other
//!    algorithm is ever attempted);
//! 3. the header's `kid` names a key of the key set;
//! 4. the RSA PKCS#1 v1.5 SHA-256 signature over `header_b64.payload_b64` verifies with it;
//! 5. only then is the payload parsed, and its claims checked: `iss` is Google, `aud` is one
//!    accepted audience, `exp` is not past and `iat` (and `nbf`, when present) is not in the
//!    future, each with [`MAX_SKEW_SECONDS`] of tolerance at the caller's `now`;
//! 6. `google.compute_engine.instance_id` is a decimal string.
//!
//! **Invariant:** no claim is read before the signature has verified, and the JWT library
//! machinery of other crates (which reads the system clock) is not used: the RSA check is the
//! `rsa` crate's, as for AWS, and every claim check is in this module with `now` passed in.
//!
//! Audiences: Google's tokens carry one audience as a string. A string is accepted, and so is an
//! array with exactly one string (the JWT form of the same thing); an array of several
//! audiences is refused ([`Error::AudienceNotSingle`]), because a token minted for several
//! relying parties could be replayed from one to the other.

mod claims;
mod jwt;
mod keys;

use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest as _, Sha256};

pub use keys::{GcpKeys, MIN_KEY_BITS};

use crate::{Error, UnixTime};

/// The largest token accepted, in bytes. Google's identity tokens are about 1 KiB.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Clock skew allowed on `exp` and `iat` (and `nbf`), in seconds.
pub const MAX_SKEW_SECONDS: i64 = 60;

/// The `iss` values of Google-signed identity tokens.
pub const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// The only JWS algorithm accepted.
const RS256: &str = "RS256";

/// The longest value a [`safe_label`] shows.
const MAX_LABEL_LEN: usize = 128;

/// What a verified token says. Only [`verify_gcp`] can make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedGcpIdentity {
    /// `google.compute_engine.instance_id`: the instance ID, a decimal string.
    pub instance_id: String,
    /// `google.compute_engine.project_id`, when present.
    pub project_id: Option<String>,
    /// `google.compute_engine.zone`, such as `us-central1-a`, when present.
    pub zone: Option<String>,
    /// `google.compute_engine.instance_name`, when present.
    pub instance_name: Option<String>,
    /// The token's audience (one of the accepted audiences).
    pub audience: String,
    /// The token's `exp`: when it stops being accepted (plus [`MAX_SKEW_SECONDS`]).
    pub expires_at: UnixTime,
    /// Keeps construction private to this crate.
    _verified: Verified,
}

/// A private marker: a [`VerifiedGcpIdentity`] cannot be built outside this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verified;

/// The `kid` of a token's header, without verifying anything (so the server can refresh its key
/// set on an unknown kid).
///
/// The token must still be well-formed: at most [`MAX_TOKEN_LEN`] bytes, three unpadded base64url
/// segments, a JSON object header without `crit`, and a non-empty string `kid`.
pub fn token_kid(token: &str) -> Result<String, Error> {
    let token = jwt::parse(token)?;
    let kid = jwt::key_id(&token.header)?;
    Ok(kid.to_owned())
}

/// Verifies a GCP identity token with `keys` at `now` and returns the identity it proves.
///
/// `audiences` are the accepted `aud` values (compared exactly); with none, every token fails
/// with [`Error::AudienceNotAccepted`]. See the [module documentation](self) for the checks and
/// their order.
pub fn verify_gcp(
    token: &str,
    keys: &GcpKeys,
    audiences: &[String],
    now: UnixTime,
) -> Result<VerifiedGcpIdentity, Error> {
    let token = jwt::parse(token)?;
    jwt::check_algorithm(&token.header)?;
    let kid = jwt::key_id(&token.header)?;
    let Some(key) = keys.get(kid) else {
        return Err(Error::UnknownKeyId {
            kid: safe_label(kid),
        });
    };
    verify_signature(key, token.signing_input, &token.signature)?;

    // From here on the payload is Google's.
    let claims = claims::parse(&token.payload)?;
    check_issuer(claims::issuer(&claims)?)?;
    let audience = check_audience(claims::audience(&claims)?, audiences)?;
    let expires_at = claims::required_time(&claims, claims::EXP)?;
    check_not_expired(expires_at, now)?;
    let issued_at = claims::required_time(&claims, claims::IAT)?;
    check_not_in_future(claims::IAT, issued_at, now)?;
    if let Some(not_before) = claims::optional_time(&claims, claims::NBF)? {
        check_not_in_future(claims::NBF, not_before, now)?;
    }
    let instance = claims::compute_engine(&claims)?;
    Ok(VerifiedGcpIdentity {
        instance_id: instance.instance_id,
        project_id: instance.project_id,
        zone: instance.zone,
        instance_name: instance.instance_name,
        audience: audience.to_owned(),
        expires_at: UnixTime(expires_at),
        _verified: Verified,
    })
}

/// RSASSA-PKCS1-v1_5 with SHA-256 over the exact `header_b64.payload_b64` text received.
fn verify_signature(
    key: &RsaPublicKey,
    signing_input: &str,
    signature: &[u8],
) -> Result<(), Error> {
    let digest = Sha256::digest(signing_input.as_bytes());
    match key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature) {
        Ok(()) => Ok(()),
        Err(_) => Err(Error::TokenSignatureInvalid),
    }
}

/// `iss` must be one of [`GOOGLE_ISSUERS`], exactly.
fn check_issuer(issuer: &str) -> Result<(), Error> {
    if GOOGLE_ISSUERS.contains(&issuer) {
        Ok(())
    } else {
        Err(Error::IssuerNotGoogle {
            issuer: safe_label(issuer),
        })
    }
}

/// The token's single audience must be one of `accepted`, exactly; returns it.
fn check_audience<'a>(audience: &'a str, accepted: &[String]) -> Result<&'a str, Error> {
    if accepted.iter().any(|allowed| allowed == audience) {
        Ok(audience)
    } else {
        Err(Error::AudienceNotAccepted {
            audience: safe_label(audience),
        })
    }
}

/// `exp` may be at most [`MAX_SKEW_SECONDS`] before `now`.
fn check_not_expired(expires_at: i64, now: UnixTime) -> Result<(), Error> {
    if expires_at.saturating_add(MAX_SKEW_SECONDS) < now.0 {
        Err(Error::TokenExpired {
            expires_at: UnixTime(expires_at),
        })
    } else {
        Ok(())
    }
}

/// A start time (`iat`, `nbf`) may be at most [`MAX_SKEW_SECONDS`] after `now`.
fn check_not_in_future(claim: &'static str, time: i64, now: UnixTime) -> Result<(), Error> {
    if time > now.0.saturating_add(MAX_SKEW_SECONDS) {
        Err(Error::TokenNotYetValid { claim })
    } else {
        Ok(())
    }
}

/// `text` if it is safe to show in an error message: 1 to 128 characters, each an ASCII letter
/// or digit or one of `-._~:/@+,%=?&#`. Anything else (quotes, braces, spaces, control or
/// non-ASCII characters, long values) is not shown at all.
pub(crate) fn safe_label(text: &str) -> Option<String> {
    let safe = !text.is_empty()
        && text.len() <= MAX_LABEL_LEN
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~:/@+,%=?&#".contains(&byte));
    safe.then(|| text.to_owned())
}

/// For error messages: ` <value>` when the value is a [`safe_label`], else nothing.
pub(crate) fn shown(value: &Option<String>) -> String {
    match value.as_deref().and_then(safe_label) {
        Some(label) => format!(" {label}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_labels() {
        for good in [
            "eec534fa5b8caca201ca8d0ff96b54c562210d1e",
            "https://accounts.google.com",
            "grpc://verify.esodemoapp2.com",
            "https://subscription.rhsm.redhat.com:443/subscription",
            "x",
        ] {
            assert_eq!(safe_label(good).as_deref(), Some(good));
        }
        for bad in [
            "",
            "a b",
            "\"quoted\"",
            "{json}",
            "new\nline",
            "ré",
            "<script>",
            "back\\slash",
            &"a".repeat(129),
        ] {
            assert_eq!(safe_label(bad), None, "{bad:?}");
        }
        assert_eq!(shown(&Some("abc".into())), " abc");
        assert_eq!(shown(&Some("a b".into())), "");
        assert_eq!(shown(&None), "");
    }

    #[test]
    fn skew_boundaries() {
        let now = UnixTime(1_000_000);
        assert!(check_not_expired(now.0 - MAX_SKEW_SECONDS, now).is_ok());
        assert!(check_not_expired(now.0 - MAX_SKEW_SECONDS - 1, now).is_err());
        assert!(check_not_expired(i64::MAX, now).is_ok());
        assert!(check_not_expired(i64::MIN, now).is_err());
        assert!(check_not_in_future("iat", now.0 + MAX_SKEW_SECONDS, now).is_ok());
        assert!(check_not_in_future("iat", now.0 + MAX_SKEW_SECONDS + 1, now).is_err());
        assert!(check_not_in_future("iat", i64::MIN, now).is_ok());
        assert!(check_not_in_future("iat", i64::MAX, UnixTime(i64::MAX)).is_ok());
    }

    #[test]
    fn audiences_compare_exactly() {
        let accepted = vec!["coder".to_owned(), "https://idgate.example".to_owned()];
        assert_eq!(check_audience("coder", &accepted).ok(), Some("coder"));
        for other in ["Coder", "coder ", "https://idgate.example/", ""] {
            assert!(check_audience(other, &accepted).is_err(), "{other:?}");
        }
        assert!(check_audience("coder", &[]).is_err());
    }

    #[test]
    fn issuers_compare_exactly() {
        assert!(check_issuer("https://accounts.google.com").is_ok());
        assert!(check_issuer("accounts.google.com").is_ok());
        for other in [
            "http://accounts.google.com",
            "https://accounts.google.com/",
            "https://evil.example",
            "",
        ] {
            assert!(check_issuer(other).is_err(), "{other:?}");
        }
    }
}
