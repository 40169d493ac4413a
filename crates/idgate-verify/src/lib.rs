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

pub mod aws;
pub mod azure;
pub mod ber;
pub mod error;
pub mod gcp;

pub use error::{Error, FailureKind};

/// Seconds since the Unix epoch; the caller's clock. Verification never reads the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime(pub i64);
