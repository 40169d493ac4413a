//! Decoding Azure's PKCS#7 SignedData and checking its signature.
//!
//! Azure sends DER (not BER, unlike AWS): a SignedData with the id-data content, the signer's
//! certificate alone in the bag, and one SignerInfo that names the signer by issuer and
//! serial, with `sha256WithRSAEncryption` as its *digest* algorithm, `rsaEncryption` as its
//! signature algorithm, and no signed attributes. The decoder is strict: the input must be
//! one DER ContentInfo that re-encodes to the same bytes, so every check is on the bytes
//! received.
//!
//! The canonical-form check compares with the `cms` crate's re-encoding, whose SET OF order
//! for several certificates is not always the X.690 byte order (it compares certificates as
//! sequences of INTEGER-encoded bytes); a multi-certificate bag in X.690 order can therefore
//! be refused as not canonical. Azure's bag holds one certificate, so this never matters for
//! real documents, and refusing is the safe direction.
//!
//! The structural checks (id-signedData, id-data content, one SignerInfo) and the CMS rules
//! for signed attributes are [`crate::pkcs7`]'s, shared with AWS; Azure's policy (SHA-256
//! only, its digest-OID quirk, how the signer is found, the canonical form) is written here.
//!
//! **Invariant:** the signer certificate is found by the SignerInfo's identifier, never by
//! its position in the bag; exactly one certificate must match.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::{Any, Encode as _};
use rsa::Pkcs1v15Sign;
use sha2::{Digest as _, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::FIELD_SIGNATURE;
use super::signer::SignerCertificate;
use crate::Error;
use crate::oid::{ID_SHA256, ID_SIGNED_DATA, RSA_ENCRYPTION, SHA256_WITH_RSA};
use crate::pkcs7::{DigestAlgorithm, encapsulated_content, signed_bytes, single_signer};

/// The most certificates read from the bag (Azure sends one).
pub(super) const MAX_BAG_CERTIFICATES: usize = 8;

/// One certificate of the bag, decoded and as DER.
#[derive(Clone)]
pub(super) struct BagCertificate {
    pub(super) certificate: Certificate,
    pub(super) der: Vec<u8>,
}

/// A decoded SignedData whose structure passed every check; its signature is not yet
/// verified.
pub(super) struct SignedMessage {
    content: Vec<u8>,
    bag: Vec<BagCertificate>,
    /// The one certificate of `bag` that the SignerInfo's identifier names.
    signer: BagCertificate,
    signer_info: SignerInfo,
}

impl SignedMessage {
    /// Decodes `der` and checks the structure, the algorithms and which certificate signed.
    pub(super) fn parse(der: &[u8]) -> Result<SignedMessage, Error> {
        let signed_data = decode_signed_data(der)?;
        let content = encapsulated_content(&signed_data, FIELD_SIGNATURE)?.to_vec();
        let signer_info = single_signer(&signed_data)?.clone();
        let bag = bag_certificates(&signed_data)?;
        let signer = find_signer(&bag, &signer_info.sid)?.clone();
        check_digest_algorithm(&signer_info.digest_alg)?;
        check_signature_algorithm(&signer_info.signature_algorithm)?;
        Ok(SignedMessage {
            content,
            bag,
            signer,
            signer_info,
        })
    }

    /// The signed content (the attested document's JSON).
    pub(super) fn content(&self) -> &[u8] {
        &self.content
    }

    /// Every certificate of the bag, in the order received.
    pub(super) fn bag(&self) -> &[BagCertificate] {
        &self.bag
    }

    /// The certificate the SignerInfo names.
    pub(super) fn signer_certificate(&self) -> &BagCertificate {
        &self.signer
    }

    /// Checks the RSA PKCS#1 v1.5 / SHA-256 signature with the key of the certificate the
    /// SignerInfo names, over the content or, with signed attributes, over their DER after
    /// checking them.
    pub(super) fn verify_signature(&self) -> Result<(), Error> {
        let key = SignerCertificate::new(&self.signer).rsa_key()?;
        let signed_bytes = signed_bytes(
            &self.signer_info,
            DigestAlgorithm::Sha256,
            &self.content,
            FIELD_SIGNATURE,
        )?;
        let digest = Sha256::digest(&signed_bytes);
        key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &digest,
            self.signer_info.signature.as_bytes(),
        )
        .map_err(|_| Error::AzureSignatureInvalid)
    }
}

/// Decodes ContentInfo → SignedData from DER and checks that it re-encodes to the same bytes.
fn decode_signed_data(der: &[u8]) -> Result<SignedData, Error> {
    let (_, signed_data) = crate::pkcs7::decode_signed_data(der, FIELD_SIGNATURE)?;
    // The decoder sorts SET OF elements (the bag, the signers, the signed attributes);
    // requiring a byte-exact round trip means the bytes checked are the bytes received.
    let reencoded = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).map_err(|source| Error::InvalidAsn1 {
            field: FIELD_SIGNATURE,
            structure: "CMS SignedData",
            source,
        })?,
    }
    .to_der();
    match reencoded {
        Ok(reencoded) if reencoded == der => Ok(signed_data),
        _ => Err(Error::AzureNotCanonical),
    }
}

/// The X.509 certificates of the bag (at most [`MAX_BAG_CERTIFICATES`]).
fn bag_certificates(signed_data: &SignedData) -> Result<Vec<BagCertificate>, Error> {
    let Some(set) = &signed_data.certificates else {
        return Ok(Vec::new());
    };
    if set.0.len() > MAX_BAG_CERTIFICATES {
        return Err(Error::AzureTooManyCertificates {
            max: MAX_BAG_CERTIFICATES,
        });
    }
    let mut bag = Vec::with_capacity(set.0.len());
    for choice in set.0.iter() {
        let cms::cert::CertificateChoices::Certificate(certificate) = choice else {
            return Err(Error::AzureUnsupportedCertificate);
        };
        let der = certificate.to_der().map_err(|source| Error::InvalidAsn1 {
            field: FIELD_SIGNATURE,
            structure: "X.509 certificate",
            source,
        })?;
        bag.push(BagCertificate {
            certificate: certificate.clone(),
            der,
        });
    }
    Ok(bag)
}

/// The one bag certificate that `sid` names.
fn find_signer<'a>(
    bag: &'a [BagCertificate],
    sid: &SignerIdentifier,
) -> Result<&'a BagCertificate, Error> {
    let mut matching = bag.iter().filter(|cert| identifies(sid, &cert.certificate));
    let first = matching.next().ok_or(Error::AzureSignerNotFound)?;
    if matching.next().is_some() {
        return Err(Error::AzureSignerAmbiguous);
    }
    Ok(first)
}

/// Whether `sid` names `certificate`: same issuer and serial number, or a subject key
/// identifier extension (present once) with the same value.
fn identifies(sid: &SignerIdentifier, certificate: &Certificate) -> bool {
    let tbs = &certificate.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(sid) => {
            tbs.issuer == sid.issuer && tbs.serial_number == sid.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(sid) => {
            matches!(tbs.get::<SubjectKeyIdentifier>(), Ok(Some((_, ski))) if ski == *sid)
        }
    }
}

/// `sha256`, or Azure's `sha256WithRSAEncryption` in the digest field; nothing else.
fn check_digest_algorithm(identifier: &AlgorithmIdentifierOwned) -> Result<(), Error> {
    match identifier.oid {
        ID_SHA256 | SHA256_WITH_RSA if has_no_parameters(identifier) => Ok(()),
        oid => Err(Error::UnsupportedAlgorithm {
            location: "digest",
            oid,
        }),
    }
}

/// `rsaEncryption` (what Azure writes) or `sha256WithRSAEncryption`.
fn check_signature_algorithm(identifier: &AlgorithmIdentifierOwned) -> Result<(), Error> {
    match identifier.oid {
        RSA_ENCRYPTION | SHA256_WITH_RSA if has_no_parameters(identifier) => Ok(()),
        oid => Err(Error::UnsupportedAlgorithm {
            location: "signature",
            oid,
        }),
    }
}

/// These algorithms take no parameters: absent or NULL.
fn has_no_parameters(identifier: &AlgorithmIdentifierOwned) -> bool {
    match &identifier.parameters {
        None => true,
        Some(parameters) => parameters.is_null(),
    }
}
