//! Azure attested data: the PKCS#7 `signature` of `/metadata/attested/document`.
//!
//! An agent sends the base64 DER PKCS#7 SignedData that Azure's instance metadata service
//! returns. Its content is compact JSON with the `vmId`; its bag holds only the signer's
//! certificate (`metadata.azure.com` and friends), which chains through Microsoft's issuing
//! CAs to a few public roots. [`verify_azure`] is the only way to obtain a
//! [`VerifiedAzureIdentity`]. The checks, each with its own [`Error`] variant, in order:
//!
//! 1. base64, then strict DER: ContentInfo → SignedData, re-encoding to the same bytes
//!    ([`Error::AzureNotCanonical`] otherwise); id-data content present; exactly one SignerInfo.
//! 2. The signer certificate is the one certificate of the bag that the SignerInfo's
//!    identifier (issuer and serial, or subject key identifier) names — **never** chosen by
//!    its position in the bag (SPIRE trusted the first certificate) — and every later check
//!    is on that certificate.
//! 3. The signer certificate is within its validity period at `now`.
//! 4. The signature verifies over the content (CVE-2026-46354: Coder never checked it).
//!    Azure writes `sha256WithRSAEncryption` as the digest algorithm and uses no signed
//!    attributes; exactly that quirk is accepted besides plain `sha256`. With signed
//!    attributes the standard CMS rules apply.
//! 5. The signer's name (SAN dNSNames, else the CN) is an Azure metadata service name.
//! 6. The content has a `vmId`, a well-formed `timeStamp`, has not expired and was not
//!    created more than 5 minutes in the future.
//! 7. The chain: rustls-webpki builds a path at `now` from the signer through the bag,
//!    bundled and operator intermediates to a pinned or operator root ([`AzureTrust`]). When
//!    the signer's issuing CA is simply unknown, the error
//!    ([`Error::AzureMissingIntermediate`]) carries the certificate's AIA caIssuers URLs so
//!    that the caller can fetch it, add it with [`AzureTrust::add_fetched_intermediate`] and
//!    verify once more. Being last, that error means every other check passed.
//!
//! **Invariant:** this module does no IO; fetching AIA URLs is the caller's business.

mod bundled;
mod chain;
mod document;
mod pkcs7;
mod signer;
mod trust;

pub use trust::{AzureCertRole, AzureCertificateInfo, AzureTrust};

use crate::{Error, UnixTime, base64_field};

/// The largest `signature` accepted, in bytes after base64 decoding (Azure's are about 3 KiB).
pub const MAX_SIGNATURE_LEN: usize = 32 * 1024;

/// How far in the future `timeStamp.createdOn` may be, in seconds (clock skew).
pub const MAX_CREATED_SKEW_SECONDS: i64 = 5 * 60;

const FIELD_SIGNATURE: &str = "signature";

/// An Azure proof as received: untrusted.
#[derive(Debug, Clone, Copy)]
pub struct AzureProof<'a> {
    /// The `signature` of `/metadata/attested/document`: base64 DER PKCS#7 (whitespace
    /// allowed).
    pub signature: &'a str,
}

/// What a verified proof says. Only [`verify_azure`] can make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAzureIdentity {
    /// The VM's `vmId`, the instance ID idgate matches agents by.
    pub vm_id: String,
    /// The `subscriptionId`, when present and not empty (kept for policy).
    pub subscription_id: Option<String>,
    /// The `nonce`, when present and not empty.
    pub nonce: Option<String>,
    /// The first name of the signer certificate that is an Azure metadata service name
    /// (lowercase), such as `eastus.metadata.azure.com`.
    pub signer_name: String,
    /// `timeStamp.expiresOn`.
    pub expires_at: UnixTime,
    /// Keeps construction private to this crate.
    _verified: Verified,
}

/// A private marker: a [`VerifiedAzureIdentity`] cannot be built outside this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verified;

/// Verifies an Azure attested document at `now` against `trust` and returns the identity.
///
/// See the [module documentation](self) for the checks and their order.
pub fn verify_azure(
    proof: &AzureProof<'_>,
    trust: &AzureTrust,
    now: UnixTime,
) -> Result<VerifiedAzureIdentity, Error> {
    let der = decode_base64(proof.signature)?;
    let signed = pkcs7::SignedMessage::parse(&der)?;
    let signer = signer::SignerCertificate::new(signed.signer_certificate());
    signer.check_validity(now)?;
    signed.verify_signature()?;
    let signer_name = signer.azure_name()?;
    let document = document::parse(signed.content())?;
    document.check_time(now)?;
    chain::verify(&signer, signed.bag(), trust, now)?;
    Ok(VerifiedAzureIdentity {
        vm_id: document.vm_id,
        subscription_id: document.subscription_id,
        nonce: document.nonce,
        signer_name,
        expires_at: document.expires_on,
        _verified: Verified,
    })
}

impl Error {
    /// The AIA caIssuers URLs of the signer when verification failed only for a missing
    /// intermediate ([`Error::AzureMissingIntermediate`]); `None` for every other error.
    ///
    /// The URLs come from the (signature-checked but not yet trusted) signer certificate:
    /// fetch them with SSRF guards, and pass what they return to
    /// [`AzureTrust::add_fetched_intermediate`], which accepts only CA certificates that
    /// chain to a trusted root.
    pub fn missing_intermediate_urls(&self) -> Option<&[String]> {
        match self {
            Error::AzureMissingIntermediate { urls } => Some(urls),
            _ => None,
        }
    }
}

/// Decodes the base64 `signature` of at most [`MAX_SIGNATURE_LEN`] bytes; see
/// [`base64_field::decode`].
fn decode_base64(text: &str) -> Result<Vec<u8>, Error> {
    base64_field::decode(FIELD_SIGNATURE, text, MAX_SIGNATURE_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_ignores_whitespace_and_enforces_limits() {
        assert_eq!(decode_base64("QU\nJD\r\n ").ok(), Some(b"ABC".to_vec()));
        assert!(matches!(
            decode_base64(" \n"),
            Err(Error::InputSize {
                field: "signature",
                ..
            })
        ));
        assert!(matches!(
            decode_base64("QUJ"),
            Err(Error::InvalidBase64 { field: "signature" })
        ));
        let big = "A".repeat((MAX_SIGNATURE_LEN / 3 + 2) * 4);
        assert!(matches!(decode_base64(&big), Err(Error::InputSize { .. })));
    }

    #[test]
    fn only_the_missing_intermediate_error_carries_urls() {
        let urls = vec!["http://www.microsoft.com/pkiops/certs/x.crt".to_owned()];
        let missing = Error::AzureMissingIntermediate { urls: urls.clone() };
        assert_eq!(missing.missing_intermediate_urls(), Some(urls.as_slice()));
        assert_eq!(Error::AzureUntrustedChain.missing_intermediate_urls(), None);
        assert!(!missing.to_string().contains("http"));
    }
}
