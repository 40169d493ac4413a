//! The one error type of this crate, and the coarse [`FailureKind`] it maps to.
//!
//! Every rejection is its own variant carrying the context of the check that failed. The
//! `Display` text of every variant is a fixed English sentence that is safe to show to the
//! client: it never contains bytes of the proof. The only values it interpolates are the
//! names of fields (constants of this crate), sizes, positions, and a region name that was
//! validated to be short lowercase ASCII (`[a-z0-9-]`) before it could reach an error.
//!
//! Variants are grouped by cloud; a new cloud adds its variants and maps them in
//! [`Error::kind`]. Both enums are `#[non_exhaustive]`, so adding variants is not a breaking
//! change for callers, who must match on [`FailureKind`] with a wildcard arm.

use der::asn1::ObjectIdentifier;

use crate::ber::BerError;

/// The coarse class of a verification failure, for mapping to responses and metrics.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The proof (or a trust input) cannot be decoded or breaks the format's rules.
    Malformed,
    /// A signature, digest or signed-content check failed.
    SignatureInvalid,
    /// No trusted certificate or key exists for the signer of the proof.
    CertificateUntrusted,
    /// The signing certificate was not valid at the time of the check.
    CertificateExpired,
    /// The signed document is past its own expiry.
    DocumentExpired,
    /// The signed token is past its own expiry.
    TokenExpired,
    /// The proof names a key that the trust store does not hold.
    UnknownKey,
    /// The proof was issued by someone other than the expected issuer.
    IssuerMismatch,
    /// The proof was made for another audience.
    AudienceMismatch,
}

/// Why a proof was rejected, or why a trust input was refused.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- generic input checks -------------------------------------------------------------
    /// A proof field is empty or larger than this crate accepts.
    #[error("the `{field}` field is empty or larger than {max} bytes")]
    InputSize {
        /// The proof field, such as `document` or `signature`.
        field: &'static str,
        /// The largest accepted size in bytes (after base64 decoding for base64 fields).
        max: usize,
    },
    /// A base64 field does not decode (after ASCII whitespace is removed).
    #[error("the `{field}` field is not valid base64")]
    InvalidBase64 {
        /// The proof field.
        field: &'static str,
    },

    // ---- AWS identity document ------------------------------------------------------------
    /// The proof carries neither a `signature` nor a `pkcs7` signature.
    #[error("the proof carries no signature: send the signature, the PKCS#7 signature, or both")]
    NoSignature,
    /// The identity document is not a JSON object.
    #[error("the identity document is not a JSON object")]
    DocumentNotJson,
    /// A field of the identity document is missing, has the wrong type or an invalid value.
    #[error("the identity document has no valid `{field}` field")]
    DocumentField {
        /// The JSON field name, such as `instanceId`.
        field: &'static str,
    },

    // ---- PKCS#7 structure -----------------------------------------------------------------
    /// The BER to DER normalisation refused the input.
    #[error("the `{field}` field is not valid BER ({source})")]
    InvalidBer {
        /// The proof field.
        field: &'static str,
        /// What the normaliser found; its text holds offsets only.
        source: BerError,
    },
    /// The normalised DER does not decode as the expected ASN.1 structure.
    #[error("the `{field}` field is not a valid {structure}")]
    InvalidAsn1 {
        /// The proof field.
        field: &'static str,
        /// The ASN.1 structure that failed to decode.
        structure: &'static str,
        /// The decoder's error (kept as the source, not shown in the message).
        #[source]
        source: der::Error,
    },
    /// The decoded structure does not re-encode to the normalised bytes, so the bytes checked
    /// would not be the bytes received (for example a SET OF out of DER order).
    #[error("the `{field}` field is not in canonical form after BER normalisation")]
    NotCanonical {
        /// The proof field.
        field: &'static str,
    },
    /// A content type is not the expected one.
    #[error("the PKCS#7 {location} has an unexpected content type")]
    UnexpectedContentType {
        /// Where the content type was found (`ContentInfo`, `encapsulated content`,
        /// `contentType signed attribute`).
        location: &'static str,
    },
    /// The SignedData does not hold exactly one SignerInfo.
    #[error("the PKCS#7 signature must have exactly one signer, found {found}")]
    SignerCount {
        /// How many SignerInfos were found.
        found: usize,
    },
    /// The SignerInfo identifies its signer by subject key identifier, which AWS never does.
    #[error("the PKCS#7 signer is not identified by issuer and serial number")]
    UnsupportedSignerIdentifier,
    /// The SignedData has no encapsulated content (a detached signature).
    #[error("the PKCS#7 signature does not contain the signed document")]
    ContentMissing,
    /// An algorithm identifier is not one this crate verifies.
    #[error("the PKCS#7 {location} algorithm is not supported")]
    UnsupportedAlgorithm {
        /// `digest` or `signature`.
        location: &'static str,
        /// The algorithm identifier found (for logs; not part of the message).
        oid: ObjectIdentifier,
    },
    /// A required signed attribute is absent.
    #[error("the PKCS#7 signed attributes lack the {attribute} attribute")]
    SignedAttributeMissing {
        /// `contentType` or `messageDigest`.
        attribute: &'static str,
    },
    /// A signed attribute occurs more than once, has several values or a value of the wrong
    /// type.
    #[error("the PKCS#7 {attribute} signed attribute is invalid")]
    SignedAttributeInvalid {
        /// `contentType` or `messageDigest`.
        attribute: &'static str,
    },

    // ---- signature checks -----------------------------------------------------------------
    /// The PKCS#7 signed content is not the identity document that was sent.
    #[error("the PKCS#7 signed content is not the identity document that was sent")]
    ContentMismatch,
    /// The `messageDigest` signed attribute is not the digest of the content.
    #[error("the PKCS#7 message digest does not match the signed document")]
    MessageDigestMismatch,
    /// The digest algorithm, the signature algorithm and the signer's key do not fit together.
    #[error("the PKCS#7 algorithms do not fit together: {detail}")]
    AlgorithmMismatch {
        /// Which combination was refused.
        detail: &'static str,
    },
    /// A signature does not verify with any trusted key for the document's region.
    #[error("the `{field}` does not verify with any trusted AWS key for region {region}")]
    SignatureInvalid {
        /// The proof field whose signature failed.
        field: &'static str,
        /// The document's region (validated `[a-z0-9-]`).
        region: String,
    },

    // ---- trust ----------------------------------------------------------------------------
    /// No trusted key exists for the document's region (and no extra certificates are set).
    #[error("no trusted AWS certificate for region {region}; pass it with --aws-certs")]
    NoTrustedKey {
        /// The document's region (validated `[a-z0-9-]`).
        region: String,
    },
    /// No trusted certificate for the region matches the PKCS#7 signer's issuer and serial.
    #[error(
        "the PKCS#7 signer is not a trusted AWS certificate for region {region}; pass it with --aws-certs"
    )]
    UnknownSigner {
        /// The document's region (validated `[a-z0-9-]`).
        region: String,
    },

    // ---- GCP ------------------------------------------------------------------------------
    /// The GCP token is not three dot-separated segments.
    #[error("the token is not three base64url segments separated by dots")]
    TokenSegments,
    /// A segment of the GCP token is not canonical base64url without padding.
    #[error("the token's {segment} is not base64url without padding")]
    TokenBase64 {
        /// `header`, `payload` or `signature`.
        segment: &'static str,
    },
    /// The header or payload of the GCP token is not a JSON object.
    #[error("the token's {segment} is not a JSON object")]
    TokenJson {
        /// `header` or `payload`.
        segment: &'static str,
    },
    /// A header field of the GCP token is missing or invalid (`alg`, `kid`), or present
    /// although it must not be (`crit`).
    #[error("the token header has no valid `{field}` field")]
    TokenHeaderField {
        /// The header field.
        field: &'static str,
    },
    /// The GCP token is signed with an algorithm other than RS256 (`none`, HMAC, ...).
    #[error("the token is not signed with RS256, the only algorithm accepted")]
    AlgorithmNotAllowed,
    /// The GCP token's `kid` is not in the key set.
    #[error(
        "the token's signing key{} is not in the GCP key set",
        crate::gcp::shown(.kid)
    )]
    UnknownKeyId {
        /// The key ID, when it is short printable ASCII (else not kept).
        kid: Option<String>,
    },
    /// The GCP token's RS256 signature does not verify with the key its `kid` names.
    #[error("the token's signature does not verify with its GCP key")]
    TokenSignatureInvalid,
    /// A claim of the GCP token is missing or has the wrong type or an invalid value.
    #[error("the token has no valid `{claim}` claim")]
    TokenClaim {
        /// The claim, such as `exp` or `google.compute_engine.instance_id`.
        claim: &'static str,
    },
    /// The GCP token's `iss` is not Google.
    #[error(
        "the token's issuer{} is not Google (https://accounts.google.com)",
        crate::gcp::shown(.issuer)
    )]
    IssuerNotGoogle {
        /// The issuer, when it is short printable ASCII (else not kept).
        issuer: Option<String>,
    },
    /// The GCP token's `aud` is not one of the accepted audiences.
    #[error(
        "the token's audience{} is not one of the accepted audiences",
        crate::gcp::shown(.audience)
    )]
    AudienceNotAccepted {
        /// The audience, when it is short printable ASCII (else not kept).
        audience: Option<String>,
    },
    /// The GCP token's `aud` is an array that does not hold exactly one audience.
    #[error("the token must name exactly one audience, found {found}")]
    AudienceNotSingle {
        /// How many audiences the array holds.
        found: usize,
    },
    /// The GCP token's `exp` is more than the allowed clock skew in the past.
    #[error("the token has expired (more than 60 seconds ago)")]
    TokenExpired {
        /// The token's `exp` (for logs; not part of the message).
        expires_at: crate::UnixTime,
    },
    /// The GCP token's `iat` (or `nbf`) is more than the allowed clock skew in the future.
    #[error("the token's `{claim}` is more than 60 seconds in the future")]
    TokenNotYetValid {
        /// `iat` or `nbf`.
        claim: &'static str,
    },
    /// A GCP key set is neither a JWKS nor a map of key IDs to PEM certificates.
    #[error("the GCP key set is neither a JWKS nor a map of key IDs to PEM certificates")]
    GcpKeySetFormat,
    /// An entry of a GCP key set is not a valid RSA public key of at least 2048 bits.
    #[error("GCP key {position} is not a valid RSA public key of at least 2048 bits")]
    InvalidGcpKey {
        /// 1-based position of the entry.
        position: usize,
    },
    /// Two entries of a GCP key set have the same key ID.
    #[error("GCP key {position} repeats the key ID of an earlier key")]
    DuplicateKeyId {
        /// 1-based position of the second entry.
        position: usize,
    },
    /// A GCP key set holds no usable RS256 signing key.
    #[error("the GCP key set holds no usable RS256 signing key")]
    NoUsableGcpKeys,

    // ---- Azure ----------------------------------------------------------------------------
    /// The PKCS#7 signature is not in canonical DER form: it does not re-encode to the
    /// bytes received (for example a SET OF out of DER order).
    #[error("the PKCS#7 signature is not in canonical DER form")]
    AzureNotCanonical,
    /// The PKCS#7 certificate set holds more certificates than this crate reads.
    #[error("the PKCS#7 signature holds more than {max} certificates")]
    AzureTooManyCertificates {
        /// The largest number of certificates accepted.
        max: usize,
    },
    /// The PKCS#7 certificate set holds an entry that is not an X.509 certificate.
    #[error("the PKCS#7 signature holds a certificate entry that is not an X.509 certificate")]
    AzureUnsupportedCertificate,
    /// No certificate in the PKCS#7 signature matches the SignerInfo's signer identifier
    /// (issuer and serial number, or subject key identifier).
    #[error("no certificate in the PKCS#7 signature matches its signer identifier")]
    AzureSignerNotFound,
    /// More than one certificate in the PKCS#7 signature matches the signer identifier.
    #[error("several certificates in the PKCS#7 signature match its signer identifier")]
    AzureSignerAmbiguous,
    /// The Azure signer certificate's validity starts after `now`.
    #[error("the Azure signer certificate is not valid yet")]
    AzureSignerNotYetValid,
    /// The Azure signer certificate's validity ended before `now`.
    #[error("the Azure signer certificate has expired")]
    AzureSignerExpired,
    /// An extension of the signer certificate that idgate reads does not decode or occurs
    /// more than once.
    #[error("the Azure signer certificate has an invalid {extension} extension")]
    AzureSignerExtension {
        /// The extension, such as `subject alternative name`.
        extension: &'static str,
    },
    /// The signer certificate does not hold an RSA key of 2048 to 4096 bits.
    #[error("the Azure signer certificate does not hold an RSA key of 2048 to 4096 bits")]
    AzureSignerKey,
    /// The PKCS#7 signature does not verify with the signer certificate's key.
    #[error("the PKCS#7 signature does not verify with the Azure signer certificate's key")]
    AzureSignatureInvalid,
    /// The signer certificate's names (SAN dNSNames, else the CN) include no Azure metadata
    /// service name (`metadata.azure.com`, `.us`, `.cn`, `metadata.microsoftazure.de`, or a
    /// subdomain of one).
    #[error("the Azure signer certificate is not issued for an Azure metadata service name")]
    AzureSignerName,
    /// The signed content is not a JSON object.
    #[error("the Azure attested document is not a JSON object")]
    AzureDocumentNotJson,
    /// A field of the attested document is missing, has the wrong type or an invalid value.
    #[error("the Azure attested document has no valid `{field}` field")]
    AzureDocumentField {
        /// The JSON field, such as `vmId` or `timeStamp.expiresOn`.
        field: &'static str,
    },
    /// The attested document's `timeStamp.expiresOn` has passed.
    #[error("the Azure attested document has expired")]
    AzureDocumentExpired,
    /// The attested document's `timeStamp.createdOn` is more than 5 minutes in the future.
    #[error("the Azure attested document was created more than 5 minutes in the future")]
    AzureDocumentFromFuture,
    /// A certificate of the signer's chain is outside its validity period at `now`.
    #[error("a certificate in the Azure signer's chain is expired or not yet valid")]
    AzureChainExpired {
        /// The path validator's error (for logs; not part of the message).
        #[source]
        source: webpki::Error,
    },
    /// The signer certificate does not chain to a trusted root through the known
    /// certificates, although its issuer is among them.
    #[error("the Azure signer certificate does not chain to a trusted root")]
    AzureUntrustedChain,
    /// The signer's issuing CA is not among the known certificates. The caller may fetch it
    /// from `urls`, add it with `AzureTrust::add_fetched_intermediate` and verify again.
    #[error(
        "the Azure signer certificate's issuing CA is not known; it can be fetched from the certificate's AIA URLs"
    )]
    AzureMissingIntermediate {
        /// The signer certificate's AIA caIssuers URLs (http or https only).
        urls: Vec<String>,
    },
    /// The path validator refused the signer's chain for another reason.
    #[error("the Azure signer certificate's chain was refused: {reason}")]
    AzureChainRejected {
        /// What was wrong, as a fixed phrase.
        reason: &'static str,
        /// The path validator's error (for logs; not part of the message).
        #[source]
        source: webpki::Error,
    },
    /// A certificate given as Azure trust input cannot be used by the path validator.
    #[error("certificate {position} cannot be used for Azure chain validation")]
    AzureTrustCertificate {
        /// 1-based position of the certificate in its input.
        position: usize,
        /// The path validator's error.
        #[source]
        source: webpki::Error,
    },
    /// The data fetched from an AIA URL is not a DER X.509 certificate.
    #[error("the fetched data is not a DER X.509 certificate")]
    AzureFetchedInvalid {
        /// The decoder's error.
        #[source]
        source: der::Error,
    },
    /// A certificate fetched from an AIA URL is not a CA certificate.
    #[error("the fetched certificate is not a CA certificate")]
    AzureFetchedNotCa,
    /// A certificate fetched from an AIA URL is outside its validity period at `now`.
    #[error("the fetched certificate is expired or not yet valid")]
    AzureFetchedExpired,
    /// A certificate fetched from an AIA URL does not chain to a trusted Azure root.
    #[error("the fetched certificate does not chain to a trusted Azure root")]
    AzureFetchedUntrusted,

    // ---- trust inputs (configuration, not proofs) -----------------------------------------
    /// A PEM buffer given as trust input holds no CERTIFICATE block.
    #[error("the PEM input holds no CERTIFICATE block")]
    NoCertificates,
    /// A CERTIFICATE block of a PEM trust input does not decode.
    #[error("PEM certificate {position} is not valid PEM")]
    InvalidPem {
        /// 1-based position of the block in the buffer.
        position: usize,
    },
    /// A certificate of a trust input does not decode as X.509.
    #[error("PEM certificate {position} is not a valid X.509 certificate")]
    InvalidCertificate {
        /// 1-based position of the block in the buffer.
        position: usize,
        /// The decoder's error.
        #[source]
        source: der::Error,
    },
    /// A certificate of a trust input holds a key that is not a usable RSA or DSA key, or a
    /// DSA key where only RSA can be used (the base64 `signature`).
    #[error(
        "PEM certificate {position} holds no public key usable for AWS signatures (RSA, or DSA for PKCS#7)"
    )]
    UnsupportedKey {
        /// 1-based position of the block in the buffer.
        position: usize,
    },
    /// A region name given as trust input is not lowercase ASCII letters, digits and dashes.
    #[error("the region name is invalid: use 1 to 32 characters from a-z, 0-9 and -")]
    InvalidRegionName,
}

impl Error {
    /// The coarse class of this failure.
    pub fn kind(&self) -> FailureKind {
        match self {
            Error::InputSize { .. }
            | Error::InvalidBase64 { .. }
            | Error::NoSignature
            | Error::DocumentNotJson
            | Error::DocumentField { .. }
            | Error::InvalidBer { .. }
            | Error::InvalidAsn1 { .. }
            | Error::NotCanonical { .. }
            | Error::UnexpectedContentType { .. }
            | Error::SignerCount { .. }
            | Error::UnsupportedSignerIdentifier
            | Error::ContentMissing
            | Error::UnsupportedAlgorithm { .. }
            | Error::SignedAttributeMissing { .. }
            | Error::SignedAttributeInvalid { .. }
            | Error::NoCertificates
            | Error::InvalidPem { .. }
            | Error::InvalidCertificate { .. }
            | Error::UnsupportedKey { .. }
            | Error::InvalidRegionName => FailureKind::Malformed,
            // ---- GCP ----
            Error::TokenSegments
            | Error::TokenBase64 { .. }
            | Error::TokenJson { .. }
            | Error::TokenHeaderField { .. }
            | Error::TokenClaim { .. }
            | Error::GcpKeySetFormat
            | Error::InvalidGcpKey { .. }
            | Error::DuplicateKeyId { .. }
            | Error::NoUsableGcpKeys => FailureKind::Malformed,
            Error::AlgorithmNotAllowed | Error::TokenSignatureInvalid => {
                FailureKind::SignatureInvalid
            }
            Error::UnknownKeyId { .. } => FailureKind::UnknownKey,
            Error::IssuerNotGoogle { .. } => FailureKind::IssuerMismatch,
            Error::AudienceNotAccepted { .. } | Error::AudienceNotSingle { .. } => {
                FailureKind::AudienceMismatch
            }
            Error::TokenExpired { .. } | Error::TokenNotYetValid { .. } => {
                FailureKind::TokenExpired
            }
            // ---- Azure ----
            Error::AzureNotCanonical
            | Error::AzureTooManyCertificates { .. }
            | Error::AzureUnsupportedCertificate
            | Error::AzureSignerAmbiguous
            | Error::AzureSignerExtension { .. }
            | Error::AzureDocumentNotJson
            | Error::AzureDocumentField { .. }
            | Error::AzureTrustCertificate { .. }
            | Error::AzureFetchedInvalid { .. } => FailureKind::Malformed,
            Error::AzureSignerKey | Error::AzureSignatureInvalid => FailureKind::SignatureInvalid,
            Error::AzureSignerNotFound
            | Error::AzureSignerName
            | Error::AzureUntrustedChain
            | Error::AzureMissingIntermediate { .. }
            | Error::AzureChainRejected { .. }
            | Error::AzureFetchedNotCa
            | Error::AzureFetchedUntrusted => FailureKind::CertificateUntrusted,
            Error::AzureSignerNotYetValid
            | Error::AzureSignerExpired
            | Error::AzureChainExpired { .. }
            | Error::AzureFetchedExpired => FailureKind::CertificateExpired,
            Error::AzureDocumentExpired | Error::AzureDocumentFromFuture => {
                FailureKind::DocumentExpired
            }
            Error::ContentMismatch
            | Error::MessageDigestMismatch
            | Error::AlgorithmMismatch { .. }
            | Error::SignatureInvalid { .. } => FailureKind::SignatureInvalid,
            Error::NoTrustedKey { .. } | Error::UnknownSigner { .. } => {
                FailureKind::CertificateUntrusted
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_error_type<T: std::error::Error + Send + Sync + 'static>() {}

    #[test]
    fn error_is_a_thread_safe_std_error() {
        assert_error_type::<Error>();
        assert_error_type::<BerError>();
    }

    #[test]
    fn causes_stay_out_of_the_message_but_are_kept_as_source() {
        let source = der::Error::from(der::ErrorKind::Failed);
        let error = Error::InvalidAsn1 {
            field: "pkcs7",
            structure: "CMS ContentInfo",
            source,
        };
        assert_eq!(
            error.to_string(),
            "the `pkcs7` field is not a valid CMS ContentInfo"
        );
        assert!(std::error::Error::source(&error).is_some());
        assert_eq!(error.kind(), FailureKind::Malformed);
    }
}
