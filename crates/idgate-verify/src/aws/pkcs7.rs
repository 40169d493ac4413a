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
//! The SignedData decoding of 1, the content checks of 2 (but for the comparison with the
//! document), the SignerInfo count of 3 and the signed-attribute rules of 4 are
//! [`crate::pkcs7`]'s, shared with Azure. AWS's policy is written here: the round trip of 1,
//! the digest and signature algorithms of 3 (passed in to 4 as the digest), and 5.
//!
//! The CMS algorithm protection attribute is not interpreted: the algorithms it protects are
//! pinned by the checks above.

use cms::cert::IssuerAndSerialNumber;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::Encode as _;
use rsa::Pkcs1v15Sign;
use sha1::Sha1;
use sha2::Sha256;
use signature::hazmat::PrehashVerifier as _;
use spki::AlgorithmIdentifierOwned;

use super::trust::PublicKey;
use super::{AwsTrust, decode_base64};
use crate::oid::{
    DSA_WITH_SHA1, ID_DSA, ID_SHA1, ID_SHA256, RSA_ENCRYPTION, SHA1_WITH_RSA, SHA256_WITH_RSA,
};
use crate::pkcs7::{DigestAlgorithm, encapsulated_content, signed_bytes, single_signer};
use crate::{Error, ber};

const FIELD: &str = "pkcs7";

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
    let content = encapsulated_content(&signed_data, FIELD)?;
    if content != document {
        return Err(Error::ContentMismatch);
    }
    let signer = single_signer(&signed_data)?;
    let digest = digest_algorithm(&signer.digest_alg)?;
    let algorithm = SignatureAlgorithm::from_identifier(&signer.signature_algorithm)?;
    algorithm.check_digest(digest)?;
    let signed_bytes = signed_bytes(signer, digest, content, FIELD)?;
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
    let (content_info, signed_data) = crate::pkcs7::decode_signed_data(der, FIELD)?;
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

fn issuer_and_serial(signer: &SignerInfo) -> Result<&IssuerAndSerialNumber, Error> {
    match &signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(sid) => Ok(sid),
        SignerIdentifier::SubjectKeyIdentifier(_) => Err(Error::UnsupportedSignerIdentifier),
    }
}

/// The digest algorithms AWS uses: SHA-256 (`rsa2048`) and SHA-1 (legacy DSA `pkcs7`).
/// Parameters (absent or NULL) carry nothing for these algorithms and are not read.
fn digest_algorithm(identifier: &AlgorithmIdentifierOwned) -> Result<DigestAlgorithm, Error> {
    match identifier.oid {
        ID_SHA1 => Ok(DigestAlgorithm::Sha1),
        ID_SHA256 => Ok(DigestAlgorithm::Sha256),
        oid => Err(Error::UnsupportedAlgorithm {
            location: "digest",
            oid,
        }),
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
