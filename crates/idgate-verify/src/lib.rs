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

pub mod aws;
pub mod azure;
pub mod ber;
pub mod error;
pub mod gcp;

pub use error::{Error, FailureKind};

/// Seconds since the Unix epoch; the caller's clock. Verification never reads the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime(pub i64);
