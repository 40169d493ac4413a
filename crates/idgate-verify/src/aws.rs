//! AWS EC2 instance identity: the document and its signatures.
//!
//! An agent sends the instance identity `document` (pretty-printed JSON) with the base64
//! `signature` (RSA PKCS#1 v1.5, SHA-256, 1024-bit regional keys) and/or a base64 PKCS#7
//! SignedData (`rsa2048`: RSA-2048 with SHA-256; legacy `pkcs7`: DSA with SHA-1). Both are
//! checked against keys pinned per region in [`AwsTrust`], selected by the document's own
//! `region`. [`verify_aws`] is the only way to obtain a [`VerifiedAwsIdentity`].
//!
//! **Invariant:** the document is verified as the exact bytes received and is never
//! re-serialised; JSON parsing only extracts `instanceId`, `region`, `accountId` and
//! `pendingTime` from those same bytes.

mod bundled;
mod document;
mod pkcs7;
mod trust;

use rsa::Pkcs1v15Sign;
use sha2::{Digest as _, Sha256};

pub use trust::{AwsCertificateInfo, AwsKeyKind, AwsTrust, OTHER_REGIONS};

use crate::{Error, UnixTime, base64_field};

/// The largest identity document accepted, in bytes.
pub const MAX_DOCUMENT_LEN: usize = 16 * 1024;
/// The largest `signature` or `pkcs7` accepted, in bytes after base64 decoding.
pub const MAX_SIGNATURE_LEN: usize = 32 * 1024;

const FIELD_DOCUMENT: &str = "document";
const FIELD_SIGNATURE: &str = "signature";

/// An AWS proof as received: untrusted.
#[derive(Debug, Clone, Copy)]
pub struct AwsProof<'a> {
    /// The identity document, exactly as served by the instance metadata service.
    pub document: &'a [u8],
    /// The base64 RSA `signature` of the document (whitespace allowed).
    pub signature: Option<&'a str>,
    /// The base64 PKCS#7 (`rsa2048` or legacy `pkcs7`) whose content is the document
    /// (whitespace allowed).
    pub pkcs7: Option<&'a str>,
}

/// What a verified proof says. Only [`verify_aws`] can make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAwsIdentity {
    /// The EC2 instance ID, such as `i-0140f65cf5b9ba76a`.
    pub instance_id: String,
    /// The region whose keys verified the document, such as `ap-northeast-2`.
    pub region: String,
    /// The AWS account ID, when the document has one.
    pub account_id: Option<String>,
    /// When the instance was launched (as written in the document), when present.
    pub pending_time: Option<String>,
    /// Keeps construction private to this crate.
    _verified: Verified,
}

/// A private marker: a [`VerifiedAwsIdentity`] cannot be built outside this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verified;

/// Verifies every signature present (at least one of `signature`/`pkcs7` is required, else
/// [`Error::NoSignature`]), with keys chosen by the document's `region` plus the extra
/// certificates, and returns the identity.
///
/// `now` is accepted for uniformity with the other clouds: AWS certificate validity is not
/// enforced (AWS signs with keys whose certificates expired), only reported by
/// [`AwsTrust::certificates`].
pub fn verify_aws(
    proof: &AwsProof<'_>,
    trust: &AwsTrust,
    now: UnixTime,
) -> Result<VerifiedAwsIdentity, Error> {
    let _ = now;
    if proof.document.is_empty() || proof.document.len() > MAX_DOCUMENT_LEN {
        return Err(Error::InputSize {
            field: FIELD_DOCUMENT,
            max: MAX_DOCUMENT_LEN,
        });
    }
    if proof.signature.is_none() && proof.pkcs7.is_none() {
        return Err(Error::NoSignature);
    }
    let document = document::parse(proof.document)?;
    if let Some(signature) = proof.signature {
        verify_signature(signature, proof.document, &document.region, trust)?;
    }
    if let Some(pkcs7) = proof.pkcs7 {
        pkcs7::verify(pkcs7, proof.document, &document.region, trust)?;
    }
    Ok(VerifiedAwsIdentity {
        instance_id: document.instance_id,
        region: document.region,
        account_id: document.account_id,
        pending_time: document.pending_time,
        _verified: Verified,
    })
}

/// Checks the base64 RSA `signature`: PKCS#1 v1.5 with SHA-256 over the exact document
/// bytes, with any RSA key of the region or of the extra certificates.
fn verify_signature(
    signature: &str,
    document: &[u8],
    region: &str,
    trust: &AwsTrust,
) -> Result<(), Error> {
    let signature = decode_base64(FIELD_SIGNATURE, signature)?;
    let keys = trust.signature_keys(region);
    if keys.is_empty() {
        return Err(Error::NoTrustedKey {
            region: region.to_owned(),
        });
    }
    let digest = Sha256::digest(document);
    // AWS's `signature` keys are RSA-1024. rsa 0.9 enforces only a maximum modulus size, so
    // these keys verify through the ordinary route; no legacy switch is needed (idgate never
    // signs with such keys).
    let verified = keys.iter().any(|key| {
        key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &signature)
            .is_ok()
    });
    if verified {
        Ok(())
    } else {
        Err(Error::SignatureInvalid {
            field: FIELD_SIGNATURE,
            region: region.to_owned(),
        })
    }
}

/// Decodes a base64 proof field (`signature` or `pkcs7`) of at most [`MAX_SIGNATURE_LEN`]
/// bytes; see [`base64_field::decode`].
fn decode_base64(field: &'static str, text: &str) -> Result<Vec<u8>, Error> {
    base64_field::decode(field, text, MAX_SIGNATURE_LEN)
}

/// Whether `name` looks like an AWS region name: 1 to 32 characters from `a-z`, `0-9`, `-`.
///
/// Region names appear in error messages, so only this safe alphabet is accepted.
fn is_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_ignores_whitespace_and_enforces_limits() {
        assert_eq!(
            decode_base64("signature", "QU\nJD\r\n ").ok(),
            Some(b"ABC".to_vec())
        );
        assert!(matches!(
            decode_base64("signature", " \n"),
            Err(Error::InputSize { .. })
        ));
        assert!(matches!(
            decode_base64("signature", "QUJ"),
            Err(Error::InvalidBase64 { field: "signature" })
        ));
        let big = "A".repeat((MAX_SIGNATURE_LEN / 3 + 2) * 4);
        assert!(matches!(
            decode_base64("pkcs7", &big),
            Err(Error::InputSize { field: "pkcs7", .. })
        ));
    }

    #[test]
    fn region_names() {
        for good in ["us-east-1", "cn-northwest-1", "eusc-de-east-1", "x"] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "",
            "US-EAST-1",
            "us east",
            "us-east-1\n",
            &"a".repeat(33),
            "ré",
        ] {
            assert!(!is_region_name(bad), "{bad:?}");
        }
    }
}
