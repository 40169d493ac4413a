//! [`AwsTrust`]: the pinned AWS keys, by region, plus extra certificates for every region.
//!
//! AWS's instance-identity certificates are self-signed containers of pinned keys: there is no
//! chain to build, and several of them are far outside their validity window while AWS still
//! signs with their keys. So a certificate here is reduced to its key, its issuer and serial
//! (to match a PKCS#7 signer), and its subject and validity (for reporting only).

use std::fmt;
use std::sync::LazyLock;

use der::Decode as _;
use der::referenced::OwnedToRef as _;
use rsa::RsaPublicKey;
use x509_cert::Certificate;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use super::bundled::{BUNDLED, BundledScope};
use super::is_region_name;
use crate::oid::{ID_DSA, RSA_ENCRYPTION};
use crate::pem::certificate_blocks;
use crate::{Error, UnixTime};

/// RSA keys up to this size are reported as [`AwsKeyKind::Signature`] keys when they come
/// from extra certificates.
const SIGNATURE_KEY_MAX_BITS: usize = 1024;

/// The region label [`AwsTrust::certificates`] reports for AWS's generic DSA certificate.
pub const OTHER_REGIONS: &str = "*";

/// Which AWS signature a certificate's key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AwsKeyKind {
    /// The base64 `signature` (RSA PKCS#1 v1.5 with SHA-256, 1024-bit keys).
    Signature,
    /// The `rsa2048` PKCS#7 (RSA-2048 with SHA-256).
    Rsa2048,
    /// The legacy `pkcs7` PKCS#7 (DSA with SHA-1; China's certificate holds an RSA key).
    Dsa,
}

/// One trusted certificate, for startup reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsCertificateInfo {
    /// The region it serves: `None` for an extra certificate trusted for every region, and
    /// [`OTHER_REGIONS`] (`"*"`) for AWS's generic DSA certificate, which serves every region
    /// without a DSA certificate of its own.
    pub region: Option<String>,
    /// Which signature its key is for (for extras: guessed from the key type and size).
    pub kind: AwsKeyKind,
    /// The subject name (RFC 4514 form).
    pub subject: String,
    /// Start of the validity window (reported, never enforced).
    pub not_before: UnixTime,
    /// End of the validity window (reported, never enforced).
    pub not_after: UnixTime,
}

/// A public key taken from a trusted certificate.
#[derive(Clone)]
pub(super) enum PublicKey {
    Rsa(RsaPublicKey),
    Dsa(dsa::VerifyingKey),
}

/// Which regions a trusted certificate serves.
#[derive(Clone)]
enum Scope {
    Regions(Vec<String>),
    /// Every region without a certificate of the same kind of its own.
    OtherRegions,
    /// Every region (extra certificates).
    Everywhere,
}

/// A parsed certificate with the regions and the kind of signature it is trusted for.
#[derive(Clone)]
struct TrustedCert {
    scope: Scope,
    kind: AwsKeyKind,
    parsed: ParsedCert,
}

impl TrustedCert {
    fn serves_region(&self, region: &str) -> bool {
        match &self.scope {
            Scope::Regions(regions) => regions.iter().any(|name| name == region),
            Scope::OtherRegions | Scope::Everywhere => false,
        }
    }
}

/// Pinned AWS keys, by region, plus extra certificates trusted for every region.
///
/// Keys are selected by the `region` of the document being verified. Certificates are
/// treated as key containers: their validity is reported by [`AwsTrust::certificates`] and
/// never enforced, because AWS signs with keys whose certificates have expired.
#[derive(Clone)]
pub struct AwsTrust {
    certs: Vec<TrustedCert>,
}

/// The bundled certificates, parsed once.
///
/// **Invariant:** every bundled PEM parses (`tests::every_bundled_certificate_parses`). A
/// file that did not would be left out, so its region would fail closed instead of panicking.
static BUNDLED_TRUST: LazyLock<AwsTrust> = LazyLock::new(|| {
    let mut certs = Vec::with_capacity(BUNDLED.len());
    for bundled in BUNDLED {
        let Ok(mut parsed) = parse_pem(bundled.pem.as_bytes()) else {
            continue;
        };
        let Some(cert) = parsed.pop() else {
            continue;
        };
        let scope = match bundled.scope {
            BundledScope::Regions(regions) => {
                Scope::Regions(regions.iter().map(|region| (*region).to_owned()).collect())
            }
            BundledScope::OtherRegions => Scope::OtherRegions,
        };
        certs.push(cert.into_trusted(scope, bundled.kind));
    }
    AwsTrust { certs }
});

impl AwsTrust {
    /// The certificates bundled in the crate (every region in `rsa/`, `rsa2048/`, `dsa/`).
    pub fn bundled() -> AwsTrust {
        BUNDLED_TRUST.clone()
    }

    /// A trust store without any certificate (every proof fails until some are added).
    pub fn empty() -> AwsTrust {
        AwsTrust { certs: Vec::new() }
    }

    /// Adds certificates (a PEM buffer with one or more CERTIFICATE blocks) trusted for
    /// documents of every region. Returns how many were added.
    ///
    /// Their keys are tried for the base64 `signature` (RSA keys) and, when the issuer and
    /// serial match the signer, for PKCS#7 signatures. Text outside the CERTIFICATE blocks is
    /// ignored. Nothing is added unless every block parses.
    pub fn add_extra_pem(&mut self, pem: &[u8]) -> Result<usize, Error> {
        let parsed = parse_pem(pem)?;
        let count = parsed.len();
        for cert in parsed {
            let kind = cert.guessed_kind();
            self.certs.push(cert.into_trusted(Scope::Everywhere, kind));
        }
        Ok(count)
    }

    /// Adds certificates for one region and one kind of signature, for example for a region
    /// AWS launched after this crate was built. Returns how many were added.
    ///
    /// `region` must be 1 to 32 characters from `a-z`, `0-9` and `-`. A
    /// [`AwsKeyKind::Signature`] certificate must hold an RSA key. Nothing is added unless
    /// every block parses.
    pub fn add_region_pem(
        &mut self,
        region: &str,
        kind: AwsKeyKind,
        pem: &[u8],
    ) -> Result<usize, Error> {
        if !is_region_name(region) {
            return Err(Error::InvalidRegionName);
        }
        let parsed = parse_pem(pem)?;
        for (index, cert) in parsed.iter().enumerate() {
            if kind == AwsKeyKind::Signature && !matches!(cert.key, PublicKey::Rsa(_)) {
                return Err(Error::UnsupportedKey {
                    position: index + 1,
                });
            }
        }
        let count = parsed.len();
        for cert in parsed {
            let scope = Scope::Regions(vec![region.to_owned()]);
            self.certs.push(cert.into_trusted(scope, kind));
        }
        Ok(count)
    }

    /// Every trusted certificate with its region (`None` = extra), kind, subject and
    /// validity window, for startup reporting. A certificate serving several regions is
    /// listed once per region.
    pub fn certificates(&self) -> Vec<AwsCertificateInfo> {
        let mut infos = Vec::new();
        for cert in &self.certs {
            let regions: Vec<Option<String>> = match &cert.scope {
                Scope::Regions(regions) => regions.iter().cloned().map(Some).collect(),
                Scope::OtherRegions => vec![Some(OTHER_REGIONS.to_owned())],
                Scope::Everywhere => vec![None],
            };
            for region in regions {
                infos.push(AwsCertificateInfo {
                    region,
                    kind: cert.kind,
                    subject: cert.parsed.subject.clone(),
                    not_before: cert.parsed.not_before,
                    not_after: cert.parsed.not_after,
                });
            }
        }
        infos
    }

    /// The regions that have at least one certificate of their own, sorted.
    pub fn regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = self
            .certs
            .iter()
            .flat_map(|cert| match &cert.scope {
                Scope::Regions(regions) => regions.clone(),
                Scope::OtherRegions | Scope::Everywhere => Vec::new(),
            })
            .collect();
        regions.sort();
        regions.dedup();
        regions
    }

    /// The RSA keys for the base64 `signature` of a document from `region`: the region's
    /// `rsa/` keys and every RSA key of the extra certificates.
    pub(super) fn signature_keys(&self, region: &str) -> Vec<&RsaPublicKey> {
        self.certs
            .iter()
            .filter(|cert| match cert.scope {
                Scope::Everywhere => true,
                Scope::Regions(_) => {
                    cert.kind == AwsKeyKind::Signature && cert.serves_region(region)
                }
                Scope::OtherRegions => false,
            })
            .filter_map(|cert| match &cert.parsed.key {
                PublicKey::Rsa(key) => Some(key),
                PublicKey::Dsa(_) => None,
            })
            .collect()
    }

    /// The keys whose certificate has the given issuer and serial, among the region's
    /// `rsa2048/` and `dsa/` certificates (or the generic DSA certificate when the region has
    /// no DSA certificate of its own) and the extra certificates. Never chosen by position.
    pub(super) fn pkcs7_signer_keys(
        &self,
        region: &str,
        issuer: &Name,
        serial: &SerialNumber,
    ) -> Vec<&PublicKey> {
        let region_has_dsa = self
            .certs
            .iter()
            .any(|cert| cert.kind == AwsKeyKind::Dsa && cert.serves_region(region));
        self.certs
            .iter()
            .filter(|cert| match cert.scope {
                Scope::Everywhere => true,
                Scope::Regions(_) => {
                    cert.kind != AwsKeyKind::Signature && cert.serves_region(region)
                }
                Scope::OtherRegions => cert.kind == AwsKeyKind::Dsa && !region_has_dsa,
            })
            .filter(|cert| cert.parsed.issuer == *issuer && cert.parsed.serial == *serial)
            .map(|cert| &cert.parsed.key)
            .collect()
    }
}

impl fmt::Debug for AwsTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsTrust")
            .field("certificates", &self.certs.len())
            .field("regions", &self.regions().len())
            .finish()
    }
}

/// A certificate reduced to what verification and reporting need.
#[derive(Clone)]
struct ParsedCert {
    key: PublicKey,
    issuer: Name,
    serial: SerialNumber,
    subject: String,
    not_before: UnixTime,
    not_after: UnixTime,
}

impl ParsedCert {
    fn into_trusted(self, scope: Scope, kind: AwsKeyKind) -> TrustedCert {
        TrustedCert {
            scope,
            kind,
            parsed: self,
        }
    }

    /// The kind an extra certificate is reported as: AWS's `signature` keys are RSA-1024.
    fn guessed_kind(&self) -> AwsKeyKind {
        match &self.key {
            PublicKey::Dsa(_) => AwsKeyKind::Dsa,
            PublicKey::Rsa(key) => {
                if rsa::traits::PublicKeyParts::size(key) * 8 <= SIGNATURE_KEY_MAX_BITS {
                    AwsKeyKind::Signature
                } else {
                    AwsKeyKind::Rsa2048
                }
            }
        }
    }
}

/// Parses every CERTIFICATE block of a PEM buffer; at least one is required.
fn parse_pem(pem: &[u8]) -> Result<Vec<ParsedCert>, Error> {
    let blocks = certificate_blocks(pem)?;
    let mut certs = Vec::with_capacity(blocks.len());
    for (index, der) in blocks.iter().enumerate() {
        certs.push(parse_certificate(der, index + 1)?);
    }
    Ok(certs)
}

fn parse_certificate(der: &[u8], position: usize) -> Result<ParsedCert, Error> {
    let cert = Certificate::from_der(der)
        .map_err(|source| Error::InvalidCertificate { position, source })?;
    let tbs = cert.tbs_certificate;
    let key = public_key(&tbs.subject_public_key_info).ok_or(Error::UnsupportedKey { position })?;
    Ok(ParsedCert {
        key,
        issuer: tbs.issuer,
        serial: tbs.serial_number,
        subject: tbs.subject.to_string(),
        not_before: UnixTime::from_x509(tbs.validity.not_before),
        not_after: UnixTime::from_x509(tbs.validity.not_after),
    })
}

/// The RSA or DSA key of a certificate; the algorithm comes from the certificate itself (the
/// China "DSA" certificate holds an RSA key).
fn public_key(spki: &spki::SubjectPublicKeyInfoOwned) -> Option<PublicKey> {
    let spki = spki.owned_to_ref();
    if spki.algorithm.oid == RSA_ENCRYPTION {
        RsaPublicKey::try_from(spki).ok().map(PublicKey::Rsa)
    } else if spki.algorithm.oid == ID_DSA {
        dsa::VerifyingKey::try_from(spki).ok().map(PublicKey::Dsa)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_certificate_parses() {
        for bundled in BUNDLED {
            let parsed = parse_pem(bundled.pem.as_bytes())
                .unwrap_or_else(|error| panic!("{}: {error}", bundled.file));
            assert_eq!(parsed.len(), 1, "{}", bundled.file);
        }
        assert_eq!(BUNDLED_TRUST.certs.len(), BUNDLED.len());
    }

    #[test]
    fn key_algorithm_comes_from_the_certificate() {
        let trust = AwsTrust::bundled();
        let china = trust
            .certs
            .iter()
            .find(|cert| cert.kind == AwsKeyKind::Dsa && cert.serves_region("cn-north-1"))
            .expect("China DSA-folder certificate");
        assert!(matches!(china.parsed.key, PublicKey::Rsa(_)));
        let generic = trust
            .certs
            .iter()
            .find(|cert| matches!(cert.scope, Scope::OtherRegions))
            .expect("generic DSA certificate");
        assert!(matches!(generic.parsed.key, PublicKey::Dsa(_)));
    }

    #[test]
    fn signature_keys_are_rsa_1024() {
        let trust = AwsTrust::bundled();
        for region in trust.regions() {
            let keys = trust.signature_keys(&region);
            assert!(!keys.is_empty(), "{region}");
            for key in keys {
                assert_eq!(rsa::traits::PublicKeyParts::size(key), 128, "{region}");
            }
        }
    }

    #[test]
    fn pem_blocks_tolerate_other_text_and_wrapping() {
        let pem = BUNDLED[0].pem;
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let rewrapped: Vec<String> = body
            .as_bytes()
            .chunks(76)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect();
        let text = format!(
            "comment\r\n-----BEGIN CERTIFICATE-----\r\n{}\r\n-----END CERTIFICATE-----\r\nmore\n{pem}",
            rewrapped.join("\r\n")
        );
        let blocks = certificate_blocks(text.as_bytes()).expect("two blocks");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0], blocks[1]);
    }
}
