//! Pure verification of cloud instance-identity proofs.
//!
//! The crate follows the rustls/webpki model: the caller passes every input in (the untrusted
//! proof, the trust roots and the current time as [`UnixTime`]), verification does no IO and
//! never reads the clock, and a verified value (such as [`aws::VerifiedAwsIdentity`]) can only
//! come out of a successful check. Every rejection is a typed [`Error`]; [`Error::kind`] sorts
//! it into a coarse [`FailureKind`] for callers that map failures to responses.
//!
//! Clouds:
//!
//! * [`aws`]: EC2 instance identity documents with their RSA `signature` and/or PKCS#7
//!   (`rsa2048` or legacy DSA `pkcs7`) signatures, checked against pinned regional keys.
//! * [`azure`]: attested data (DER PKCS#7): the signer found by its identifier, Azure's
//!   digest-OID quirk and nothing looser, the chain built by rustls-webpki to roots pinned by
//!   fingerprint, the signer's name, and the document's own expiry.
//! * [`gcp`]: identity tokens: RS256 only, the key chosen by `kid`, Google's issuer, an
//!   accepted audience, `exp`/`iat` with 60 s of skew, and the Compute Engine instance ID.
//!
//! Shared by the clouds:
//!
//! * [`ber`]: the BER → DER normaliser for AWS's PKCS#7.
//! * [`error`]: the one [`Error`] type and its [`FailureKind`]s.
//! * `pkcs7` (crate-private): the CMS SignedData structure and signed-attribute checks that
//!   AWS and Azure share; each cloud passes its own algorithm policy in.
//! * `pem` (crate-private): the lenient reader of multi-certificate PEM buffers (AWS and
//!   Azure trust stores).
//! * `base64_field` (crate-private): whitespace-tolerant, size-bounded base64 of proof fields
//!   (AWS and Azure).
//! * `json` (crate-private): the JSON object and text-field helpers of the documents and
//!   claims (AWS, Azure, GCP).
//! * `oid` (crate-private): the object identifiers compared against in several modules.

pub mod aws;
pub mod azure;
mod base64_field;
pub mod ber;
pub mod error;
pub mod gcp;
mod json;
mod oid;
mod pem;
mod pkcs7;

pub use error::{Error, FailureKind};

/// Seconds since the Unix epoch; the caller's clock. Verification never reads the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// An X.509 time (a certificate's `notBefore` or `notAfter`) in seconds since the Unix
    /// epoch; times beyond `i64::MAX` seconds saturate.
    pub(crate) fn from_x509(time: x509_cert::time::Time) -> UnixTime {
        let seconds = time.to_unix_duration().as_secs();
        UnixTime(i64::try_from(seconds).unwrap_or(i64::MAX))
    }
}
