//! The CMS (PKCS#7) SignedData checks that AWS and Azure share.
//!
//! Both clouds send a ContentInfo holding a SignedData with id-data content and one
//! SignerInfo. This module decodes that structure and checks a SignerInfo's signed
//! attributes, one check per function, each with its own [`Error`]. What each cloud accepts
//! stays in its own module, which passes it in explicitly: `aws::pkcs7` and `azure::pkcs7`
//! choose the digest and signature algorithms (AWS's SHA-1/DSA, Azure's
//! `sha256WithRSAEncryption` quirk), how the signer is identified, the canonical-form check
//! and the keys. Every error names the proof `field` it came from.

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetStringRef};
use der::{Any, Decode as _, Encode as _};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::Error;
use crate::oid::{ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};

/// A digest algorithm a SignerInfo may name; which ones a cloud accepts is its own policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DigestAlgorithm {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl DigestAlgorithm {
    /// The digest of `data`.
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
            DigestAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        }
    }
}

/// Decodes ContentInfo → SignedData from DER; the ContentInfo must be id-signedData.
///
/// Returns the ContentInfo too, for the caller's own canonical-form check.
pub(crate) fn decode_signed_data(
    der: &[u8],
    field: &'static str,
) -> Result<(ContentInfo, SignedData), Error> {
    let content_info = ContentInfo::from_der(der).map_err(|source| Error::InvalidAsn1 {
        field,
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
                field,
                structure: "CMS SignedData",
                source,
            })?;
    Ok((content_info, signed_data))
}

/// The encapsulated content: present, of type id-data, an OCTET STRING.
pub(crate) fn encapsulated_content<'a>(
    signed_data: &'a SignedData,
    field: &'static str,
) -> Result<&'a [u8], Error> {
    let encap = &signed_data.encap_content_info;
    if encap.econtent_type != ID_DATA {
        return Err(Error::UnexpectedContentType {
            location: "encapsulated content",
        });
    }
    let econtent = encap.econtent.as_ref().ok_or(Error::ContentMissing)?;
    let octets: OctetStringRef<'_> = econtent.decode_as().map_err(|source| Error::InvalidAsn1 {
        field,
        structure: "encapsulated content OCTET STRING",
        source,
    })?;
    Ok(octets.as_bytes())
}

/// The one SignerInfo; none or several is an error.
pub(crate) fn single_signer(signed_data: &SignedData) -> Result<&SignerInfo, Error> {
    let signers = &signed_data.signer_infos.0;
    match (signers.len(), signers.get(0)) {
        (1, Some(signer)) => Ok(signer),
        (found, _) => Err(Error::SignerCount { found }),
    }
}

/// The bytes the signature covers, after checking the signed attributes if there are any:
/// the content itself without them; with them, contentType must be id-data, messageDigest
/// must be the `digest` of the content, and the signature covers the attributes' DER.
pub(crate) fn signed_bytes(
    signer: &SignerInfo,
    digest: DigestAlgorithm,
    content: &[u8],
    field: &'static str,
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
    // SetOfVec yields exactly that, and each caller's round-trip check makes it the bytes
    // sent.
    attributes.to_der().map_err(|source| Error::InvalidAsn1 {
        field,
        structure: "signed attributes",
        source,
    })
}

/// The one value of the one attribute of type `oid`.
fn single_attribute_value<'a>(
    attributes: &'a x509_cert::attr::Attributes,
    oid: ObjectIdentifier,
    name: &'static str,
) -> Result<&'a Any, Error> {
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
