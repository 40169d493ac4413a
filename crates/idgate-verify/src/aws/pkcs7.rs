//! Verifying AWS's PKCS#7 signatures (`rsa2048` and the legacy DSA `pkcs7`).
//!
//! AWS sends BER (indefinite lengths, a constructed OCTET STRING around the content), a
//! SignedData without certificates, one SignerInfo naming its signer by issuer and serial,
//! and signed attributes (contentType, signingTime, CMS algorithm protection, messageDigest).
//! The checks, each with its own error, in order:
//!
//! 1. BER → DER ([`crate::ber`]); the decoded SignedData must re-encode to the same bytes, so
//!    every later check is on exactly the bytes received (modulo the normalisation).
//! 2. ContentInfo is id-signedData; the encapsulated content is present, is id-data and
//!    equals the document byte for byte (one instance's PKCS#7 cannot vouch for another's
//!    document).
//! 3. Exactly one SignerInfo; digest SHA-256 or SHA-1; a signature algorithm that fits the
//!    digest.
//! 4. With signed attributes: contentType is id-data, messageDigest is the digest of the
//!    content, and the signature covers the DER of the attributes as a SET OF. Without: the
//!    signature covers the content.
//! 5. The signer certificate is found by issuer and serial among the region's keys and the
//!    extras (never by position), its key fits the algorithm, and the signature verifies.
//!
//! The CMS algorithm protection attribute is not interpreted: the algorithms it protects are
//! pinned by the checks above.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetStringRef};
use der::{Decode as _, Encode as _};
use rsa::Pkcs1v15Sign;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use signature::hazmat::PrehashVerifier as _;
use spki::AlgorithmIdentifierOwned;

use super::trust::PublicKey;
use super::{AwsTrust, decode_base64};
use crate::{Error, ber};

const FIELD: &str = "pkcs7";

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA1_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ID_DSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.1");
const DSA_WITH_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10040.4.3");

/// Verifies a base64 PKCS#7 whose content must be `document`, with the keys of `region`.
pub(super) fn verify(
    pkcs7: &str,
    document: &[u8],
    region: &str,
    trust: &AwsTrust,
) -> Result<(), Error> {
    let ber = decode_base64(FIELD, pkcs7)?;
    let der = ber::to_der(&ber).map_err(|source| Error::InvalidBer {
        field: FIELD,
        source,
    })?;
    let signed_data = decode_signed_data(&der)?;
    let content = encapsulated_content(&signed_data)?;
    if content != document {
        return Err(Error::ContentMismatch);
    }
    let signer = single_signer(&signed_data)?;
    let digest = DigestAlgorithm::from_identifier(&signer.digest_alg)?;
    let algorithm = SignatureAlgorithm::from_identifier(&signer.signature_algorithm)?;
    algorithm.check_digest(digest)?;
    let signed_bytes = signed_bytes(signer, digest, content)?;
    let sid = issuer_and_serial(signer)?;
    let keys = trust.pkcs7_signer_keys(region, &sid.issuer, &sid.serial_number);
    if keys.is_empty() {
        return Err(Error::UnknownSigner {
            region: region.to_owned(),
        });
    }
    let hash = digest.digest(&signed_bytes);
    let signature = signer.signature.as_bytes();
    let mut outcome = Err(Error::SignatureInvalid {
        field: FIELD,
        region: region.to_owned(),
    });
    for key in keys {
        match verify_with_key(key, algorithm, digest, &hash, signature, region) {
            Ok(()) => return Ok(()),
            Err(error) => outcome = Err(error),
        }
    }
    outcome
}

/// Decodes ContentInfo → SignedData from normalised DER and checks that nothing was lost.
fn decode_signed_data(der: &[u8]) -> Result<SignedData, Error> {
    let content_info = ContentInfo::from_der(der).map_err(|source| Error::InvalidAsn1 {
        field: FIELD,
        structure: "CMS ContentInfo",
        source,
    })?;
    if content_info.content_type != ID_SIGNED_DATA {
        return Err(Error::UnexpectedContentType {
            location: "ContentInfo",
        });
    }
    let signed_data: SignedData =
        content_info
            .content
            .decode_as()
            .map_err(|source| Error::InvalidAsn1 {
                field: FIELD,
                structure: "CMS SignedData",
                source,
            })?;
    // The decoder sorts SET OF elements and the checks below re-encode the signed
    // attributes; requiring a byte-exact round trip means the bytes checked are the bytes
    // received.
    let original = content_info.content.to_der();
    let reencoded = signed_data.to_der();
    match (original, reencoded) {
        (Ok(original), Ok(reencoded)) if original == reencoded => Ok(signed_data),
        _ => Err(Error::NotCanonical { field: FIELD }),
    }
}

/// The encapsulated content: present, of type id-data, an OCTET STRING.
fn encapsulated_content(signed_data: &SignedData) -> Result<&[u8], Error> {
    let encap = &signed_data.encap_content_info;
    if encap.econtent_type != ID_DATA {
        return Err(Error::UnexpectedContentType {
            location: "encapsulated content",
        });
    }
    let econtent = encap.econtent.as_ref().ok_or(Error::ContentMissing)?;
    let octets: OctetStringRef<'_> = econtent.decode_as().map_err(|source| Error::InvalidAsn1 {
        field: FIELD,
        structure: "encapsulated content OCTET STRING",
        source,
    })?;
    Ok(octets.as_bytes())
}

fn single_signer(signed_data: &SignedData) -> Result<&SignerInfo, Error> {
    let signers = &signed_data.signer_infos.0;
    match (signers.len(), signers.get(0)) {
        (1, Some(signer)) => Ok(signer),
        (found, _) => Err(Error::SignerCount { found }),
    }
}

fn issuer_and_serial(signer: &SignerInfo) -> Result<&IssuerAndSerialNumber, Error> {
    match &signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(sid) => Ok(sid),
        SignerIdentifier::SubjectKeyIdentifier(_) => Err(Error::UnsupportedSignerIdentifier),
    }
}

/// The bytes the signature covers, after checking the signed attributes if there are any.
fn signed_bytes(
    signer: &SignerInfo,
    digest: DigestAlgorithm,
    content: &[u8],
) -> Result<Vec<u8>, Error> {
    let Some(attributes) = &signer.signed_attrs else {
        return Ok(content.to_vec());
    };
    let content_type = single_attribute_value(attributes, ID_CONTENT_TYPE, "contentType")?;
    let content_type: ObjectIdentifier =
        content_type
            .decode_as()
            .map_err(|_| Error::SignedAttributeInvalid {
                attribute: "contentType",
            })?;
    if content_type != ID_DATA {
        return Err(Error::UnexpectedContentType {
            location: "contentType signed attribute",
        });
    }
    let message_digest = single_attribute_value(attributes, ID_MESSAGE_DIGEST, "messageDigest")?;
    let message_digest: OctetStringRef<'_> =
        message_digest
            .decode_as()
            .map_err(|_| Error::SignedAttributeInvalid {
                attribute: "messageDigest",
            })?;
    if message_digest.as_bytes() != digest.digest(content).as_slice() {
        return Err(Error::MessageDigestMismatch);
    }
    // The signature covers the DER of the attributes with the SET OF tag instead of the
    // [0] IMPLICIT tag they carry inside SignerInfo (RFC 5652, section 5.4). Encoding the
    // SetOfVec yields exactly that, and the round-trip check above makes it the bytes sent.
    attributes.to_der().map_err(|source| Error::InvalidAsn1 {
        field: FIELD,
        structure: "signed attributes",
        source,
    })
}

/// The one value of the one attribute of type `oid`.
fn single_attribute_value<'a>(
    attributes: &'a x509_cert::attr::Attributes,
    oid: ObjectIdentifier,
    name: &'static str,
) -> Result<&'a der::Any, Error> {
    let mut matching = attributes.iter().filter(|attribute| attribute.oid == oid);
    let attribute = matching
        .next()
        .ok_or(Error::SignedAttributeMissing { attribute: name })?;
    let invalid = Error::SignedAttributeInvalid { attribute: name };
    if matching.next().is_some() || attribute.values.len() != 1 {
        return Err(invalid);
    }
    attribute.values.get(0).ok_or(invalid)
}

/// The digest algorithms AWS uses: SHA-256 (`rsa2048`) and SHA-1 (legacy DSA `pkcs7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DigestAlgorithm {
    Sha1,
    Sha256,
}

impl DigestAlgorithm {
    /// Parameters (absent or NULL) carry nothing for these algorithms and are not read.
    fn from_identifier(identifier: &AlgorithmIdentifierOwned) -> Result<Self, Error> {
        match identifier.oid {
            ID_SHA1 => Ok(DigestAlgorithm::Sha1),
            ID_SHA256 => Ok(DigestAlgorithm::Sha256),
            oid => Err(Error::UnsupportedAlgorithm {
                location: "digest",
                oid,
            }),
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
            DigestAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        }
    }
}

/// The signature algorithms accepted in a SignerInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5; `rsaEncryption` names no digest, `sha*WithRSAEncryption` does.
    Rsa { digest: Option<DigestAlgorithm> },
    /// DSA (`dsaWithSHA1`, or `id-dsa` as some signers write).
    Dsa,
}

impl SignatureAlgorithm {
    fn from_identifier(identifier: &AlgorithmIdentifierOwned) -> Result<Self, Error> {
        match identifier.oid {
            RSA_ENCRYPTION => Ok(SignatureAlgorithm::Rsa { digest: None }),
            SHA1_WITH_RSA => Ok(SignatureAlgorithm::Rsa {
                digest: Some(DigestAlgorithm::Sha1),
            }),
            SHA256_WITH_RSA => Ok(SignatureAlgorithm::Rsa {
                digest: Some(DigestAlgorithm::Sha256),
            }),
            DSA_WITH_SHA1 | ID_DSA => Ok(SignatureAlgorithm::Dsa),
            oid => Err(Error::UnsupportedAlgorithm {
                location: "signature",
                oid,
            }),
        }
    }

    /// The signature algorithm must agree with the SignerInfo's digest algorithm.
    fn check_digest(self, digest: DigestAlgorithm) -> Result<(), Error> {
        match self {
            SignatureAlgorithm::Rsa {
                digest: Some(named),
            } if named != digest => Err(Error::AlgorithmMismatch {
                detail: "the signature algorithm names another digest than the SignerInfo",
            }),
            SignatureAlgorithm::Dsa if digest != DigestAlgorithm::Sha1 => {
                Err(Error::AlgorithmMismatch {
                    detail: "DSA signatures must use SHA-1",
                })
            }
            _ => Ok(()),
        }
    }
}

/// Verifies `signature` over the prehashed `hash` with one candidate key.
fn verify_with_key(
    key: &PublicKey,
    algorithm: SignatureAlgorithm,
    digest: DigestAlgorithm,
    hash: &[u8],
    signature: &[u8],
    region: &str,
) -> Result<(), Error> {
    let invalid = || Error::SignatureInvalid {
        field: FIELD,
        region: region.to_owned(),
    };
    match (key, algorithm) {
        (PublicKey::Rsa(key), SignatureAlgorithm::Rsa { .. }) => {
            let scheme = match digest {
                DigestAlgorithm::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
                DigestAlgorithm::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
            };
            key.verify(scheme, hash, signature).map_err(|_| invalid())
        }
        (PublicKey::Dsa(key), SignatureAlgorithm::Dsa) => {
            let signature = dsa::Signature::try_from(signature).map_err(|_| invalid())?;
            key.verify_prehash(hash, &signature).map_err(|_| invalid())
        }
        _ => Err(Error::AlgorithmMismatch {
            detail: "the signature algorithm does not fit the signer certificate's key",
        }),
    }
}
