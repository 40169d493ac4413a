//! [`AzureTrust`]: the roots and intermediates Azure signer chains are built through.
//!
//! Roots are trust anchors: the bundled ones are pinned by SHA-256 fingerprint, and an
//! operator may add more (`--azure-roots`, for example historic roots to verify old
//! documents, or a test CA). Intermediates are only path-building candidates: bundled,
//! operator-given (`--azure-intermediates`), or fetched from a signer's AIA URL and accepted
//! by [`AzureTrust::add_fetched_intermediate`] only when they chain to a root.

use std::fmt;
use std::sync::LazyLock;

use der::{Decode as _, Encode as _};
use rustls_pki_types::{CertificateDer, TrustAnchor};
use sha2::{Digest as _, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

use super::bundled::{BundledCert, INTERMEDIATES, PINNED_ROOTS};
use super::chain::{self, borrowed_anchor};
use crate::pem::certificate_blocks;
use crate::{Error, UnixTime};

/// The part a trusted certificate plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AzureCertRole {
    /// A trust anchor.
    Root,
    /// A candidate issuer between the signer and a root.
    Intermediate,
}

/// One trusted certificate, for start-up reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureCertificateInfo {
    /// Root or intermediate.
    pub role: AzureCertRole,
    /// The subject name (RFC 4514 form).
    pub subject: String,
    /// Lowercase hex SHA-256 of the certificate's DER.
    pub sha256: String,
    /// Start of the validity window.
    pub not_before: UnixTime,
    /// End of the validity window.
    pub not_after: UnixTime,
}

/// A known certificate, parsed once.
#[derive(Clone)]
pub(super) struct KnownCert {
    pub(super) der: Vec<u8>,
    /// DER of the subject and issuer names.
    pub(super) subject: Vec<u8>,
    pub(super) issuer: Vec<u8>,
    /// The subject key identifier and the authority key identifier's key identifier.
    pub(super) key_id: Option<Vec<u8>>,
    pub(super) authority_key_id: Option<Vec<u8>>,
    /// basicConstraints cA, and keyCertSign when there is a keyUsage extension.
    pub(super) is_ca: bool,
    /// DER of the TBSCertificate, the content of the signatureAlgorithm SEQUENCE, and the
    /// signature, for checking a fetched certificate's signature.
    pub(super) tbs: Vec<u8>,
    pub(super) signature_algorithm: Vec<u8>,
    pub(super) signature: Vec<u8>,
    subject_text: String,
    sha256: [u8; 32],
    not_before: UnixTime,
    not_after: UnixTime,
}

impl KnownCert {
    /// Parses an intermediate, which webpki must also be able to read as a certificate;
    /// `position` is 1-based for error messages.
    fn parse_intermediate(der: &[u8], position: usize) -> Result<KnownCert, Error> {
        let cert = KnownCert::decode(der, position)?;
        let certificate_der = CertificateDer::from(der);
        webpki::EndEntityCert::try_from(&certificate_der)
            .map_err(|source| Error::AzureTrustCertificate { position, source })?;
        Ok(cert)
    }

    /// Decodes a certificate and keeps what the checks and the reports need.
    fn decode(der: &[u8], position: usize) -> Result<KnownCert, Error> {
        let cert = Certificate::from_der(der)
            .map_err(|source| Error::InvalidCertificate { position, source })?;
        let encoding_error = |source| Error::InvalidCertificate { position, source };
        let tbs = &cert.tbs_certificate;
        Ok(KnownCert {
            der: der.to_vec(),
            subject: tbs.subject.to_der().map_err(encoding_error)?,
            issuer: tbs.issuer.to_der().map_err(encoding_error)?,
            key_id: chain::subject_key_id(&cert),
            authority_key_id: chain::authority_key_id(&cert),
            is_ca: is_ca(&cert),
            tbs: tbs.to_der().map_err(encoding_error)?,
            signature_algorithm: algorithm_content(&cert.signature_algorithm)
                .map_err(encoding_error)?,
            signature: cert.signature.raw_bytes().to_vec(),
            subject_text: tbs.subject.to_string(),
            sha256: Sha256::digest(der).into(),
            not_before: UnixTime::from_x509(tbs.validity.not_before),
            not_after: UnixTime::from_x509(tbs.validity.not_after),
        })
    }

    pub(super) fn is_valid_at(&self, now: UnixTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    fn info(&self, role: AzureCertRole) -> AzureCertificateInfo {
        AzureCertificateInfo {
            role,
            subject: self.subject_text.clone(),
            sha256: hex(&self.sha256),
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }
}

/// A root: its certificate and the anchor webpki builds paths to.
#[derive(Clone)]
struct Root {
    cert: KnownCert,
    anchor: TrustAnchor<'static>,
}

impl Root {
    /// Parses a root; webpki reads it as a trust anchor (which allows v1 certificates).
    fn parse(der: &[u8], position: usize) -> Result<Root, Error> {
        let cert = KnownCert::decode(der, position)?;
        let certificate_der = CertificateDer::from(der);
        let anchor = webpki::anchor_from_trusted_cert(&certificate_der)
            .map_err(|source| Error::AzureTrustCertificate { position, source })?
            .to_owned();
        Ok(Root { cert, anchor })
    }
}

/// The roots and intermediates that Azure signer chains are built through.
///
/// Cheap to clone (a handful of certificates); its `Debug` shows counts only.
#[derive(Clone)]
pub struct AzureTrust {
    roots: Vec<Root>,
    intermediates: Vec<KnownCert>,
}

/// The bundled certificates, parsed once.
///
/// **Invariant:** every bundled root parses and hashes to its pinned fingerprint, and every
/// bundled intermediate parses (`tests::bundled_trust_is_complete`). A file that did not
/// would be left out, so verification would fail closed instead of panicking.
static BUNDLED_TRUST: LazyLock<AzureTrust> = LazyLock::new(|| {
    let mut trust = AzureTrust::empty();
    for bundled in PINNED_ROOTS {
        let Some(der) = bundled_der(bundled) else {
            continue;
        };
        if hex(&Sha256::digest(&der)) != bundled.sha256 {
            continue;
        }
        if let Ok(root) = Root::parse(&der, 1) {
            trust.roots.push(root);
        }
    }
    for bundled in INTERMEDIATES {
        let Some(der) = bundled_der(bundled) else {
            continue;
        };
        if let Ok(cert) = KnownCert::parse_intermediate(&der, 1) {
            trust.intermediates.push(cert);
        }
    }
    trust
});

fn bundled_der(bundled: &BundledCert) -> Option<Vec<u8>> {
    let mut blocks = certificate_blocks(bundled.pem.as_bytes()).ok()?;
    match blocks.len() {
        1 => blocks.pop(),
        _ => None,
    }
}

impl AzureTrust {
    /// The pinned roots (DigiCert Global Root G2 and G3, Microsoft RSA and ECC Root CA 2017,
    /// Microsoft TLS RSA Root G2) and the bundled intermediates that were valid when this
    /// crate was built. Never fails.
    pub fn bundled() -> AzureTrust {
        BUNDLED_TRUST.clone()
    }

    /// A trust store without any certificate (every proof fails until roots are added).
    pub fn empty() -> AzureTrust {
        AzureTrust {
            roots: Vec::new(),
            intermediates: Vec::new(),
        }
    }

    /// Adds trusted roots (a PEM buffer with one or more CERTIFICATE blocks; text between
    /// blocks is ignored). Nothing is added unless every block parses. Returns how many roots
    /// were new (a root already trusted is not added twice).
    pub fn add_roots_pem(&mut self, pem: &[u8]) -> Result<usize, Error> {
        let mut parsed = Vec::new();
        for (index, der) in certificate_blocks(pem)?.iter().enumerate() {
            parsed.push(Root::parse(der, index + 1)?);
        }
        let mut added = 0;
        for root in parsed {
            if !self.holds(&root.cert.sha256) {
                self.roots.push(root);
                added += 1;
            }
        }
        Ok(added)
    }

    /// Adds intermediates (a PEM buffer with one or more CERTIFICATE blocks), trusted by
    /// configuration: they are only candidates for path building, so they need not be valid
    /// now (expired ones help verify old documents at their own time). Nothing is added
    /// unless every block parses. Returns how many were new.
    pub fn add_intermediates_pem(&mut self, pem: &[u8]) -> Result<usize, Error> {
        let mut parsed = Vec::new();
        for (index, der) in certificate_blocks(pem)?.iter().enumerate() {
            parsed.push(KnownCert::parse_intermediate(der, index + 1)?);
        }
        let mut added = 0;
        for cert in parsed {
            if !self.holds(&cert.sha256) {
                self.intermediates.push(cert);
                added += 1;
            }
        }
        Ok(added)
    }

    /// A certificate fetched from an AIA URL: accepted only if it is a CA certificate that chains at `now` to a pinned/extra root (through known intermediates); then it is kept as an intermediate.
    ///
    /// `der` is the body the URL returned (DER, as Microsoft serves `.crt` files). It is
    /// refused unless it is a CA certificate (basicConstraints cA, and keyCertSign when it
    /// has a keyUsage extension), valid at `now`, and signed by a root that is valid at `now`
    /// or by a known intermediate that is itself valid at `now` and chains the same way (at
    /// most three levels). A certificate already known is accepted without being added again.
    pub fn add_fetched_intermediate(&mut self, der: &[u8], now: UnixTime) -> Result<(), Error> {
        let cert = KnownCert::parse_intermediate(der, 1).map_err(|error| match error {
            Error::InvalidCertificate { source, .. } => Error::AzureFetchedInvalid { source },
            other => other,
        })?;
        if !cert.is_ca {
            return Err(Error::AzureFetchedNotCa);
        }
        if !cert.is_valid_at(now) {
            return Err(Error::AzureFetchedExpired);
        }
        if self.holds(&cert.sha256) {
            return Ok(());
        }
        if !chain::issued_by_trusted(&cert, self, now) {
            return Err(Error::AzureFetchedUntrusted);
        }
        self.intermediates.push(cert);
        Ok(())
    }

    /// Every root, then every intermediate, for start-up reporting.
    pub fn certificates(&self) -> Vec<AzureCertificateInfo> {
        let roots = self
            .roots
            .iter()
            .map(|root| root.cert.info(AzureCertRole::Root));
        let intermediates = self
            .intermediates
            .iter()
            .map(|cert| cert.info(AzureCertRole::Intermediate));
        roots.chain(intermediates).collect()
    }

    fn holds(&self, sha256: &[u8; 32]) -> bool {
        self.known().any(|cert| cert.sha256 == *sha256)
    }

    /// Every root and intermediate.
    pub(super) fn known(&self) -> impl Iterator<Item = &KnownCert> {
        self.roots
            .iter()
            .map(|root| &root.cert)
            .chain(self.intermediates.iter())
    }

    pub(super) fn intermediates(&self) -> impl Iterator<Item = &KnownCert> {
        self.intermediates.iter()
    }

    /// The roots within their validity at `now`.
    pub(super) fn roots_at(&self, now: UnixTime) -> impl Iterator<Item = &KnownCert> {
        self.roots
            .iter()
            .map(|root| &root.cert)
            .filter(move |cert| cert.is_valid_at(now))
    }

    /// The anchors of the roots within their validity at `now`, borrowed.
    pub(super) fn anchors_at(&self, now: UnixTime) -> Vec<TrustAnchor<'_>> {
        self.roots
            .iter()
            .filter(|root| root.cert.is_valid_at(now))
            .map(|root| borrowed_anchor(&root.anchor))
            .collect()
    }
}

impl fmt::Debug for AzureTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureTrust")
            .field("roots", &self.roots.len())
            .field("intermediates", &self.intermediates.len())
            .finish()
    }
}

/// basicConstraints with cA true and, when there is a keyUsage extension, keyCertSign.
fn is_ca(cert: &Certificate) -> bool {
    let tbs = &cert.tbs_certificate;
    let ca = matches!(tbs.get::<BasicConstraints>(), Ok(Some((_, constraints))) if constraints.ca);
    let may_sign = match tbs.get::<KeyUsage>() {
        Ok(None) => true,
        Ok(Some((_, usage))) => usage.0.contains(KeyUsages::KeyCertSign),
        Err(_) => false,
    };
    ca && may_sign
}

/// The content of an AlgorithmIdentifier SEQUENCE (the OID and the parameters), which is
/// how webpki names signature algorithms.
fn algorithm_content(algorithm: &AlgorithmIdentifierOwned) -> der::Result<Vec<u8>> {
    let mut content = algorithm.oid.to_der()?;
    if let Some(parameters) = &algorithm.parameters {
        parameters.encode_to_vec(&mut content)?;
    }
    Ok(content)
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_trust_is_complete() {
        let trust = AzureTrust::bundled();
        assert_eq!(trust.roots.len(), PINNED_ROOTS.len());
        assert_eq!(trust.intermediates.len(), INTERMEDIATES.len());
        for (root, pinned) in trust.roots.iter().zip(PINNED_ROOTS) {
            assert_eq!(hex(&root.cert.sha256), pinned.sha256, "{}", pinned.file);
            assert!(root.cert.is_ca, "{}", pinned.file);
        }
        for (cert, bundled) in trust.intermediates.iter().zip(INTERMEDIATES) {
            assert_eq!(hex(&cert.sha256), bundled.sha256, "{}", bundled.file);
            assert!(cert.is_ca, "{}", bundled.file);
        }
    }

    /// The bundled intermediates chain to the pinned roots at 2026-12-04 through the same
    /// check that fetched certificates get.
    #[test]
    fn bundled_intermediates_chain_to_pinned_roots() {
        let now = UnixTime(1_796_342_400);
        let trust = AzureTrust::bundled();
        for cert in &trust.intermediates {
            assert!(cert.is_valid_at(now), "{}", cert.subject_text);
            assert!(
                chain::issued_by_trusted(cert, &trust, now),
                "{}",
                cert.subject_text
            );
        }
        assert!(!chain::issued_by_trusted(
            &trust.intermediates[0],
            &AzureTrust::empty(),
            now
        ));
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0x0f]), "00ab0f");
    }

    #[test]
    fn debug_shows_counts_only() {
        assert_eq!(
            format!("{:?}", AzureTrust::bundled()),
            "AzureTrust { roots: 5, intermediates: 2 }"
        );
    }
}
