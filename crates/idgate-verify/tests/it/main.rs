//! Integration tests of `idgate-verify`: one binary, shared helpers here.
//!
//! The AWS tests use the real samples in `tests/data/aws` (provenance in
//! `tests/data/aws/PROVENANCE.md`), negative twins derived from them by editing one thing,
//! and synthetic keys and certificates made in the test. Every check uses the fixed [`NOW`].

mod aws_pkcs7;
mod aws_samples;
mod aws_trust;
mod azure_proptests;
mod azure_samples;
mod azure_support;
mod azure_synthetic;
mod azure_trust;
mod gcp_keys;
mod gcp_proptests;
mod gcp_samples;
mod gcp_support;
mod gcp_synthetic;
mod proptests;
mod synthetic;

use std::path::PathBuf;

use base64::Engine as _;
use idgate_verify::aws::{AwsProof, AwsTrust, verify_aws};
use idgate_verify::{FailureKind, UnixTime};

/// 2026-12-04T00:00:00Z, the day the samples were collected. AWS certificate validity is not
/// enforced, so any value works; a fixed one keeps the tests honest about that.
pub(crate) const NOW: UnixTime = UnixTime(1_796_342_400);

/// A real AWS sample from `tests/data/aws/<dir>`.
pub(crate) struct Sample {
    /// `document.json`: the exact signed bytes.
    pub(crate) document: Vec<u8>,
    /// `signature.b64`, as in the source (wrapped).
    pub(crate) signature: Option<String>,
    /// `pkcs7.b64` (legacy DSA PKCS#7), as in the source.
    pub(crate) pkcs7: Option<String>,
    /// `rsa2048.b64` (RSA-2048 PKCS#7), as in the source.
    pub(crate) rsa2048: Option<String>,
}

/// `tests/data/aws`.
pub(crate) fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/aws")
}

/// Loads `tests/data/aws/<dir>`.
pub(crate) fn sample(dir: &str) -> Sample {
    let path = data_dir().join(dir);
    let read_text = |name: &str| std::fs::read_to_string(path.join(name)).ok();
    Sample {
        document: std::fs::read(path.join("document.json")).expect("document.json"),
        signature: read_text("signature.b64"),
        pkcs7: read_text("pkcs7.b64"),
        rsa2048: read_text("rsa2048.b64"),
    }
}

/// A bundled certificate file, for tests that build their own trust.
pub(crate) fn cert_pem(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs/aws")
        .join(path);
    std::fs::read(full).expect("certificate file")
}

/// Standard base64 without wrapping.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes base64 that may be wrapped.
pub(crate) fn unb64(text: &str) -> Vec<u8> {
    let compact: String = text.split_ascii_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .expect("valid base64 in test data")
}

/// What a check expects: the identity `(instance_id, region, account_id)`, or the failure
/// kind and the exact error message.
pub(crate) type Expected<'a> = Result<(&'a str, &'a str, Option<&'a str>), (FailureKind, &'a str)>;

/// Verifies `proof` with `trust` at [`NOW`] and compares the outcome with `expected`.
///
/// For failures it also checks that the message is plain printable ASCII and echoes no
/// proof bytes (no JSON, no base64 of the proof, no instance ID).
#[track_caller]
pub(crate) fn check(proof: AwsProof<'_>, trust: &AwsTrust, expected: Expected<'_>) {
    let actual = verify_aws(&proof, trust, NOW);
    match (actual, expected) {
        (Ok(identity), Ok((instance_id, region, account_id))) => {
            assert_eq!(identity.instance_id, instance_id);
            assert_eq!(identity.region, region);
            assert_eq!(identity.account_id.as_deref(), account_id);
        }
        (Err(error), Err((kind, message))) => {
            let text = error.to_string();
            assert_eq!(text, message);
            assert_eq!(error.kind(), kind, "{text}");
            assert_message_is_safe(&text, &proof);
        }
        (actual, expected) => panic!("got {actual:?}, expected {expected:?}"),
    }
}

#[track_caller]
fn assert_message_is_safe(text: &str, proof: &AwsProof<'_>) {
    assert!(
        text.bytes().all(|byte| (0x20..0x7f).contains(&byte)),
        "{text:?}"
    );
    assert!(!text.contains('{') && !text.contains('"'), "{text}");
    if let Ok(document) = std::str::from_utf8(proof.document) {
        for token in document.split('"').filter(|token| token.starts_with("i-")) {
            assert!(!text.contains(token), "{text} echoes {token}");
        }
    }
    for field in [proof.signature, proof.pkcs7].into_iter().flatten() {
        let compact: String = field.split_ascii_whitespace().collect();
        for window in compact.as_bytes().windows(12) {
            let window = String::from_utf8_lossy(window);
            assert!(!text.contains(window.as_ref()), "{text} echoes the proof");
        }
    }
}
