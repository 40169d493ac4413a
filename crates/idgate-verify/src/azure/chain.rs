//! The signer's certificate chain, built and checked by rustls-webpki.
//!
//! Path building is webpki's: the signer is the end entity (server authentication usage),
//! the candidates are the other certificates of the bag and the trust store's intermediates,
//! and the anchors are the trust store's roots that are within their validity at `now`.
//! webpki's errors map to typed variants; an unknown issuer becomes
//! [`Error::AzureMissingIntermediate`] (with the AIA URLs to fetch it from) only when no
//! known certificate could be the signer's issuer, so a fetch can actually help.
//!
//! [`issued_by_trusted`] checks a certificate fetched from an AIA URL before it is kept.
//! webpki refuses to validate a CA certificate as the end of a path (`CaUsedAsEndEntity`),
//! so that check walks up at most [`MAX_FETCHED_DEPTH`] issuers itself, verifying each
//! signature with webpki's primitives; a kept certificate is still only ever used as a
//! candidate in webpki's own path building.

use std::time::Duration;

use der::Encode as _;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor};
use webpki::{EndEntityCert, KeyUsage};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};

use super::pkcs7::BagCertificate;
use super::signer::SignerCertificate;
use super::trust::{AzureTrust, KnownCert};
use crate::{Error, UnixTime};

/// How many issuers [`issued_by_trusted`] walks up from a fetched certificate.
const MAX_FETCHED_DEPTH: usize = 3;

/// The signature algorithms accepted in the chain (the ring implementations webpki ships).
static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_3072_8192_SHA384,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// Verifies that the signer chains at `now` to a trusted root.
pub(super) fn verify(
    signer: &SignerCertificate<'_>,
    bag: &[BagCertificate],
    trust: &AzureTrust,
    now: UnixTime,
) -> Result<(), Error> {
    let signer_der = CertificateDer::from(signer.der());
    let end_entity = EndEntityCert::try_from(&signer_der).map_err(rejected)?;
    let anchors = trust.anchors_at(now);
    let mut intermediates: Vec<CertificateDer<'_>> = bag
        .iter()
        .filter(|cert| cert.der != signer.der())
        .map(|cert| CertificateDer::from(cert.der.as_slice()))
        .collect();
    intermediates.extend(
        trust
            .intermediates()
            .map(|cert| CertificateDer::from(cert.der.as_slice())),
    );
    let outcome = end_entity.verify_for_usage(
        ALGORITHMS,
        &anchors,
        &intermediates,
        webpki_time(now),
        KeyUsage::server_auth(),
        None,
        None,
    );
    match outcome {
        Ok(_) => Ok(()),
        Err(webpki::Error::UnknownIssuer) => Err(unknown_issuer(signer, bag, trust)?),
        Err(source) => Err(rejected(source)),
    }
}

/// The error for webpki's `UnknownIssuer`: [`Error::AzureMissingIntermediate`] when no known
/// certificate (root, intermediate, or another certificate of the bag) has the signer's
/// issuer name (and, when both say, its key identifier) and the signer names AIA URLs;
/// else [`Error::AzureUntrustedChain`].
fn unknown_issuer(
    signer: &SignerCertificate<'_>,
    bag: &[BagCertificate],
    trust: &AzureTrust,
) -> Result<Error, Error> {
    let Some(issuer) = signer.issuer_der() else {
        return Ok(Error::AzureUntrustedChain);
    };
    if signer.is_self_issued() {
        return Ok(Error::AzureUntrustedChain);
    }
    let key_id = signer.authority_key_id();
    let known_by_trust = trust.known().any(|cert| {
        could_issue(
            &cert.subject,
            cert.key_id.as_deref(),
            &issuer,
            key_id.as_deref(),
        )
    });
    let known_by_bag = bag
        .iter()
        .filter(|cert| cert.der != signer.der())
        .any(|cert| {
            let subject = cert
                .certificate
                .tbs_certificate
                .subject
                .to_der()
                .unwrap_or_default();
            let ski = subject_key_id(&cert.certificate);
            could_issue(&subject, ski.as_deref(), &issuer, key_id.as_deref())
        });
    if known_by_trust || known_by_bag {
        return Ok(Error::AzureUntrustedChain);
    }
    let urls = signer.ca_issuers_urls()?;
    if urls.is_empty() {
        return Ok(Error::AzureUntrustedChain);
    }
    Ok(Error::AzureMissingIntermediate { urls })
}

/// Whether a certificate with `subject` and `subject_key_id` could have issued a certificate
/// naming `issuer` and `authority_key_id`.
fn could_issue(
    subject: &[u8],
    subject_key_id: Option<&[u8]>,
    issuer: &[u8],
    authority_key_id: Option<&[u8]>,
) -> bool {
    subject == issuer
        && match (subject_key_id, authority_key_id) {
            (Some(subject_key_id), Some(authority_key_id)) => subject_key_id == authority_key_id,
            _ => true,
        }
}

/// The subject key identifier of a certificate, if it has one (once).
pub(super) fn subject_key_id(certificate: &Certificate) -> Option<Vec<u8>> {
    match certificate.tbs_certificate.get::<SubjectKeyIdentifier>() {
        Ok(Some((_, ski))) => Some(ski.0.as_bytes().to_vec()),
        _ => None,
    }
}

/// The key identifier of a certificate's authority key identifier extension, if any (a
/// broken extension counts as none: it only narrows which known certificate is the issuer).
pub(super) fn authority_key_id(certificate: &Certificate) -> Option<Vec<u8>> {
    match certificate.tbs_certificate.get::<AuthorityKeyIdentifier>() {
        Ok(Some((_, aki))) => aki.key_identifier.map(|id| id.as_bytes().to_vec()),
        _ => None,
    }
}

/// Maps a webpki error (other than an unknown issuer) to a typed error.
fn rejected(source: webpki::Error) -> Error {
    use webpki::Error as E;
    let reason = match &source {
        E::CertExpired { .. } | E::CertNotValidYet { .. } => {
            return Error::AzureChainExpired { source };
        }
        E::UnknownIssuer => return Error::AzureUntrustedChain,
        E::InvalidSignatureForPublicKey
        | E::SignatureAlgorithmMismatch
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a certificate signature does not verify with a supported algorithm"
        }
        E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => {
            "a certificate is not valid for server authentication"
        }
        E::CaUsedAsEndEntity => "the signer certificate is a CA certificate",
        E::EndEntityUsedAsCa | E::PathLenConstraintViolated => {
            "a certificate issues certificates without being allowed to"
        }
        E::NameConstraintViolation
        | E::InvalidNetworkMaskConstraint
        | E::MalformedNameConstraint => "the chain breaks a name constraint",
        E::MaximumPathDepthExceeded
        | E::MaximumSignatureChecksExceeded
        | E::MaximumPathBuildCallsExceeded
        | E::MaximumNameConstraintComparisonsExceeded => "the chain is too long or too complex",
        E::CertDistrusted => "a certificate of the chain is distrusted",
        E::InvalidCertValidity => "a certificate has an invalid validity period",
        E::BadDer
        | E::BadDerTime
        | E::TrailingData(_)
        | E::UnsupportedCertVersion
        | E::UnsupportedCriticalExtension
        | E::ExtensionValueInvalid
        | E::MalformedExtensions
        | E::InvalidSerialNumber
        | E::MalformedDnsIdentifier
        | E::UnsupportedNameType => "a certificate is malformed or uses an unsupported feature",
        _ => "the path validator refused it",
    };
    Error::AzureChainRejected { reason, source }
}

/// Whether `cert` was issued, at `now`, by a trusted root, or by a known intermediate that
/// is itself valid at `now` and issued that way (at most [`MAX_FETCHED_DEPTH`] levels).
pub(super) fn issued_by_trusted(cert: &KnownCert, trust: &AzureTrust, now: UnixTime) -> bool {
    issued_by_trusted_within(cert, trust, now, MAX_FETCHED_DEPTH)
}

fn issued_by_trusted_within(
    cert: &KnownCert,
    trust: &AzureTrust,
    now: UnixTime,
    depth: usize,
) -> bool {
    let by_root = trust
        .roots_at(now)
        .any(|root| could_issue_cert(root, cert) && signature_verifies(root, cert));
    if by_root {
        return true;
    }
    let Some(depth) = depth.checked_sub(1) else {
        return false;
    };
    trust.intermediates().any(|issuer| {
        issuer.der != cert.der
            && issuer.is_ca
            && issuer.is_valid_at(now)
            && could_issue_cert(issuer, cert)
            && signature_verifies(issuer, cert)
            && issued_by_trusted_within(issuer, trust, now, depth)
    })
}

fn could_issue_cert(issuer: &KnownCert, cert: &KnownCert) -> bool {
    could_issue(
        &issuer.subject,
        issuer.key_id.as_deref(),
        &cert.issuer,
        cert.authority_key_id.as_deref(),
    )
}

/// Whether `cert`'s signature verifies with `issuer`'s key, with the algorithm `cert` names.
fn signature_verifies(issuer: &KnownCert, cert: &KnownCert) -> bool {
    let issuer_der = CertificateDer::from(issuer.der.as_slice());
    let Ok(issuer) = EndEntityCert::try_from(&issuer_der) else {
        return false;
    };
    ALGORITHMS
        .iter()
        .filter(|algorithm| {
            algorithm.signature_alg_id().as_ref() == cert.signature_algorithm.as_slice()
        })
        .any(|algorithm| {
            issuer
                .verify_signature(*algorithm, &cert.tbs, &cert.signature)
                .is_ok()
        })
}

fn webpki_time(now: UnixTime) -> rustls_pki_types::UnixTime {
    let seconds = u64::try_from(now.0).unwrap_or(0);
    rustls_pki_types::UnixTime::since_unix_epoch(Duration::from_secs(seconds))
}

/// The anchor of a root certificate, borrowed for one verification.
pub(super) fn borrowed_anchor<'a>(anchor: &'a TrustAnchor<'static>) -> TrustAnchor<'a> {
    TrustAnchor {
        subject: anchor.subject.as_ref().into(),
        subject_public_key_info: anchor.subject_public_key_info.as_ref().into(),
        name_constraints: anchor
            .name_constraints
            .as_ref()
            .map(|constraints| constraints.as_ref().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_match_by_name_and_key_id() {
        assert!(could_issue(b"A", None, b"A", None));
        assert!(could_issue(b"A", Some(b"k"), b"A", None));
        assert!(could_issue(b"A", None, b"A", Some(b"k")));
        assert!(could_issue(b"A", Some(b"k"), b"A", Some(b"k")));
        assert!(!could_issue(b"A", Some(b"k"), b"A", Some(b"j")));
        assert!(!could_issue(b"B", None, b"A", None));
    }

    #[test]
    fn webpki_errors_map_to_kinds() {
        use crate::FailureKind;
        let expired = webpki::Error::CertExpired {
            time: rustls_pki_types::UnixTime::since_unix_epoch(Duration::from_secs(2)),
            not_after: rustls_pki_types::UnixTime::since_unix_epoch(Duration::from_secs(1)),
        };
        assert_eq!(rejected(expired).kind(), FailureKind::CertificateExpired);
        for (source, message) in [
            (
                webpki::Error::InvalidSignatureForPublicKey,
                "the Azure signer certificate's chain was refused: a certificate signature does not verify with a supported algorithm",
            ),
            (
                webpki::Error::EndEntityUsedAsCa,
                "the Azure signer certificate's chain was refused: a certificate issues certificates without being allowed to",
            ),
            (
                webpki::Error::BadDer,
                "the Azure signer certificate's chain was refused: a certificate is malformed or uses an unsupported feature",
            ),
            (
                webpki::Error::CertRevoked,
                "the Azure signer certificate's chain was refused: the path validator refused it",
            ),
        ] {
            let error = rejected(source);
            assert_eq!(error.to_string(), message);
            assert_eq!(error.kind(), FailureKind::CertificateUntrusted);
        }
        assert!(matches!(
            rejected(webpki::Error::UnknownIssuer),
            Error::AzureUntrustedChain
        ));
    }
}
