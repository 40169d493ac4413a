//! Azure attested documents signed the way Azure's instance metadata service signs them.
//!
//! `GET /metadata/attested/document` returns `{"encoding": "pkcs7", "signature": "<base64>"}`
//! where the signature is a DER PKCS#7 SignedData with:
//!
//! * the compact JSON content (`licenseType`, `nonce`, `plan`, `sku`, `subscriptionId`,
//!   `timeStamp {createdOn, expiresOn = createdOn + 6 h}`, `vmId`) as id-data;
//! * only the signer's certificate in the bag (never the intermediates);
//! * one SignerInfo naming the signer by issuer and serial, with Azure's quirk of the
//!   *signature* OID `sha256WithRSAEncryption` in the digest algorithm field, no signed
//!   attributes, and an RSA PKCS#1 v1.5 signature over SHA-256 of the content bytes.
//!
//! [`AzureSigner`] holds a test certificate authority (a self-signed root, an intermediate and
//! a `metadata.azure.com` leaf, all RSA-2048) and makes such documents; idgate accepts them once
//! the root is trusted (`--azure-roots`) and the intermediate is either trusted
//! (`--azure-intermediates`) or fetched from the leaf's AIA URL. The lower-level builders
//! ([`root_certificate`], [`intermediate_certificate`], [`leaf_certificate`],
//! [`signed_data`]) let tests assemble the variants an attacker would send.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::SetOfVec;
use der::asn1::{GeneralizedTime, Ia5String, ObjectIdentifier, OctetString, OctetStringRef};
use der::pem::LineEnding;
use der::{Any, Decode as _, DecodePem as _, Encode as _, EncodePem as _, Header, Tag, TagNumber};
use rand::CryptoRng;
use rand::RngCore;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rsa::traits::PublicKeyParts as _;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest as _, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use time::macros::format_description;
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, ExtendedKeyUsage, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::Error;

/// `id-data` (RFC 5652).
pub const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// `id-signedData` (RFC 5652).
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// The `contentType` signed attribute (RFC 5652).
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// The `messageDigest` signed attribute (RFC 5652).
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// SHA-256 (RFC 5754): the standard digest algorithm identifier.
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// SHA-1, which idgate refuses (for negative tests).
pub const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// `sha256WithRSAEncryption`: what Azure writes in the digest algorithm field.
pub const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// `rsaEncryption`: what Azure writes in the signature algorithm field.
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

const ID_KP_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const ID_KP_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
const ID_AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// The RSA key size of every key this module generates.
pub const KEY_BITS: usize = 2048;
/// How long an attested document is valid after `createdOn`, as on Azure.
pub const DOCUMENT_LIFETIME: time::Duration = time::Duration::hours(6);

/// The subject of the test root.
pub const ROOT_SUBJECT: &str = "CN=idgate test Azure root,O=idgate emulator,C=US";
/// The subject of the test intermediate.
pub const INTERMEDIATE_SUBJECT: &str = "CN=idgate test Azure TLS CA,O=idgate emulator,C=US";
/// The subject of the test leaf, as on Azure (the CN is also the SAN).
pub const LEAF_SUBJECT: &str = "CN=metadata.azure.com,O=Microsoft Corporation,L=Redmond,ST=WA,C=US";
/// The DNS name of the test leaf.
pub const LEAF_NAME: &str = "metadata.azure.com";

/// A private key with the certificate issued for it.
#[derive(Clone)]
pub struct Issued {
    /// The RSA private key (never logged; `Debug` redacts it).
    pub key: RsaPrivateKey,
    /// The certificate of the key.
    pub certificate: Certificate,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("key", &"<redacted>")
            .field(
                "subject",
                &self.certificate.tbs_certificate.subject.to_string(),
            )
            .finish()
    }
}

impl Issued {
    /// The certificate, DER-encoded.
    pub fn certificate_der(&self) -> Result<Vec<u8>, Error> {
        self.certificate.to_der().map_err(cert_error)
    }

    /// The certificate, PEM-encoded.
    pub fn certificate_pem(&self) -> Result<String, Error> {
        self.certificate.to_pem(LineEnding::LF).map_err(cert_error)
    }

    /// The subject name of the certificate.
    pub fn subject(&self) -> &Name {
        &self.certificate.tbs_certificate.subject
    }
}

/// How [`AzureSigner::generate`] makes its certificate authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureCaOptions {
    /// Start of the validity of the root, the intermediate and the leaf.
    pub not_before: OffsetDateTime,
    /// End of the validity of the root, the intermediate and the leaf.
    pub not_after: OffsetDateTime,
    /// The leaf's DNS names (SAN); Azure's are `metadata.azure.com` and `<region>.metadata.azure.com`.
    pub leaf_names: Vec<String>,
    /// The leaf's AIA caIssuers URL, where a verifier may fetch the intermediate (DER).
    pub ca_issuers_url: Option<String>,
}

impl AzureCaOptions {
    /// Certificates valid from one hour before `now` for ten years, for `metadata.azure.com`,
    /// without an AIA URL.
    pub fn valid_from(now: OffsetDateTime) -> AzureCaOptions {
        AzureCaOptions {
            not_before: now - time::Duration::hours(1),
            not_after: now + time::Duration::days(3650),
            leaf_names: vec![LEAF_NAME.to_owned()],
            ca_issuers_url: None,
        }
    }
}

/// A test certificate authority for Azure attested documents: a self-signed root, an
/// intermediate, and a `metadata.azure.com` leaf that signs the documents.
#[derive(Clone)]
pub struct AzureSigner {
    root: Issued,
    intermediate: Issued,
    leaf: Issued,
}

impl std::fmt::Debug for AzureSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureSigner")
            .field("root", &self.root)
            .field("intermediate", &self.intermediate)
            .field("leaf", &self.leaf)
            .finish()
    }
}

/// The files [`AzureSigner::load_or_create`] reads and writes, in this order: root,
/// intermediate, leaf; each a certificate and a PKCS#8 key.
const FILES: [(&str, &str); 3] = [
    ("root.pem", "root.key.pem"),
    ("intermediate.pem", "intermediate.key.pem"),
    ("leaf.pem", "leaf.key.pem"),
];

impl AzureSigner {
    /// Generates the three keys (from the operating system's random source) and certificates.
    pub fn generate(options: &AzureCaOptions) -> Result<AzureSigner, Error> {
        AzureSigner::generate_with_rng(&mut rand::rngs::OsRng, options)
    }

    /// Generates the three keys from `rng` (a seeded generator gives reproducible keys in
    /// tests) and their certificates.
    pub fn generate_with_rng<R: RngCore + CryptoRng>(
        rng: &mut R,
        options: &AzureCaOptions,
    ) -> Result<AzureSigner, Error> {
        let validity = validity(options.not_before, options.not_after)?;
        let root_key = generate_key(rng)?;
        let root_cert = root_certificate(&root_key, ROOT_SUBJECT, validity, 1)?;
        let root = Issued {
            key: root_key,
            certificate: root_cert,
        };
        let intermediate_key = generate_key(rng)?;
        let intermediate_cert = intermediate_certificate(
            &root,
            &intermediate_key.to_public_key(),
            INTERMEDIATE_SUBJECT,
            validity,
            2,
        )?;
        let intermediate = Issued {
            key: intermediate_key,
            certificate: intermediate_cert,
        };
        let leaf_key = generate_key(rng)?;
        let spec = LeafSpec {
            subject: LEAF_SUBJECT.to_owned(),
            dns_names: options.leaf_names.clone(),
            ca_issuers_urls: options.ca_issuers_url.iter().cloned().collect(),
            validity,
            serial: 3,
        };
        let leaf_cert = leaf_certificate(&intermediate, &leaf_key.to_public_key(), &spec)?;
        let leaf = Issued {
            key: leaf_key,
            certificate: leaf_cert,
        };
        Ok(AzureSigner {
            root,
            intermediate,
            leaf,
        })
    }

    /// Makes a signer from existing parts (for example a leaf re-issued by a test).
    pub fn from_parts(root: Issued, intermediate: Issued, leaf: Issued) -> AzureSigner {
        AzureSigner {
            root,
            intermediate,
            leaf,
        }
    }

    /// Loads the certificate authority from `dir` (`root.pem`, `root.key.pem`,
    /// `intermediate.pem`, `intermediate.key.pem`, `leaf.pem`, `leaf.key.pem`), or, when none
    /// of these files exists, generates one with [`AzureCaOptions::valid_from`] the current
    /// time and writes it there (the directory is created; keys are written with mode 0600 on
    /// Unix). A partial set of files is an error rather than being overwritten.
    pub fn load_or_create(dir: &Path) -> Result<AzureSigner, Error> {
        let options = AzureCaOptions::valid_from(OffsetDateTime::now_utc());
        AzureSigner::load_or_create_with(dir, &options)
    }

    /// [`AzureSigner::load_or_create`], generating with `options` when `dir` holds no files.
    pub fn load_or_create_with(dir: &Path, options: &AzureCaOptions) -> Result<AzureSigner, Error> {
        let paths: Vec<(PathBuf, PathBuf)> = FILES
            .iter()
            .map(|(cert, key)| (dir.join(cert), dir.join(key)))
            .collect();
        let present = paths
            .iter()
            .flat_map(|(cert, key)| [cert, key])
            .filter(|path| path.exists())
            .count();
        if present == 0 {
            let signer = AzureSigner::generate(options)?;
            signer.write(dir)?;
            return Ok(signer);
        }
        if present != 2 * FILES.len() {
            return Err(Error::InvalidFile {
                path: dir.to_owned(),
                reason: "holds only some of the Azure CA files; remove them or add the rest"
                    .to_owned(),
            });
        }
        let mut parts = Vec::with_capacity(FILES.len());
        for (cert_path, key_path) in &paths {
            parts.push(read_issued(cert_path, key_path)?);
        }
        let mut parts = parts.into_iter();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(root), Some(intermediate), Some(leaf)) => {
                Ok(AzureSigner::from_parts(root, intermediate, leaf))
            }
            _ => Err(Error::InvalidFile {
                path: dir.to_owned(),
                reason: "the Azure CA files are incomplete".to_owned(),
            }),
        }
    }

    /// The same certificate authority with the leaf re-issued (same key, names and validity)
    /// to carry `url` as its only AIA caIssuers URL, for an emulator that learns where it
    /// serves the intermediate only after it has started. The new leaf's serial number is
    /// derived from the URL, so leaves for different URLs have different serials.
    pub fn with_ca_issuers_url(&self, url: &str) -> Result<AzureSigner, Error> {
        let tbs = &self.leaf.certificate.tbs_certificate;
        let dns_names = match tbs.get::<SubjectAltName>() {
            Ok(Some((_, san))) => san
                .0
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DnsName(name) => Some(name.as_str().to_owned()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let digest = Sha256::digest(url.as_bytes());
        let mut serial = [0u8; 8];
        serial.copy_from_slice(&digest[..8]);
        let spec = LeafSpec {
            subject: tbs.subject.to_string(),
            dns_names,
            ca_issuers_urls: vec![url.to_owned()],
            validity: tbs.validity,
            serial: u64::from_be_bytes(serial) >> 1,
        };
        let certificate =
            leaf_certificate(&self.intermediate, &self.leaf.key.to_public_key(), &spec)?;
        Ok(AzureSigner {
            root: self.root.clone(),
            intermediate: self.intermediate.clone(),
            leaf: Issued {
                key: self.leaf.key.clone(),
                certificate,
            },
        })
    }

    /// Writes the six PEM files of [`AzureSigner::load_or_create`] into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        for (issued, (cert_name, key_name)) in [&self.root, &self.intermediate, &self.leaf]
            .into_iter()
            .zip(FILES)
        {
            crate::files::write_new(
                &dir.join(cert_name),
                issued.certificate_pem()?.as_bytes(),
                false,
            )?;
            let key_pem = issued
                .key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|error| Error::Certificate(error.to_string()))?;
            crate::files::write_new(&dir.join(key_name), key_pem.as_bytes(), true)?;
        }
        Ok(())
    }

    /// The self-signed root, PEM-encoded, for `idgate server --azure-roots`.
    pub fn root_pem(&self) -> String {
        pem_or_empty(&self.root)
    }

    /// The intermediate, PEM-encoded, for `idgate server --azure-intermediates` (or to serve
    /// at the leaf's AIA URL, DER-encoded).
    pub fn intermediate_pem(&self) -> String {
        pem_or_empty(&self.intermediate)
    }

    /// The leaf that signs the documents, PEM-encoded.
    pub fn leaf_pem(&self) -> String {
        pem_or_empty(&self.leaf)
    }

    /// The root key and certificate.
    pub fn root(&self) -> &Issued {
        &self.root
    }

    /// The intermediate key and certificate.
    pub fn intermediate(&self) -> &Issued {
        &self.intermediate
    }

    /// The leaf key and certificate.
    pub fn leaf(&self) -> &Issued {
        &self.leaf
    }

    /// The `signature` field Azure would return: base64 (unwrapped) DER PKCS#7 over
    /// [`attested_content`], signed by the leaf exactly as Azure signs.
    ///
    /// # Panics
    ///
    /// Never for a signer made by this module: RSA PKCS#1 v1.5 signing with an RSA key of
    /// 2048 bits or more and the DER encoding of valid structures cannot fail.
    pub fn attested_document(
        &self,
        vm_id: &str,
        subscription_id: &str,
        nonce: Option<&str>,
        created_on: OffsetDateTime,
    ) -> String {
        match self.try_attested_document(vm_id, subscription_id, nonce, created_on) {
            Ok(document) => document,
            Err(error) => panic!("signing an Azure attested document failed: {error}"),
        }
    }

    /// [`AzureSigner::attested_document`], returning encoding and signing errors.
    pub fn try_attested_document(
        &self,
        vm_id: &str,
        subscription_id: &str,
        nonce: Option<&str>,
        created_on: OffsetDateTime,
    ) -> Result<String, Error> {
        let content = attested_content(vm_id, subscription_id, nonce, created_on)?;
        let signer = SignerSpec::azure(&self.leaf.key, &self.leaf.certificate);
        let der = signed_data(content.as_bytes(), &[&self.leaf.certificate], &[signer])?;
        Ok(STANDARD.encode(der))
    }
}

/// The compact JSON content of an attested document, with the fields in Azure's order and
/// `expiresOn` = `createdOn` + 6 hours. Without a nonce, Azure uses `expiresOn` as
/// `YYYYMMDD-HHMMSS`, and so does this function.
pub fn attested_content(
    vm_id: &str,
    subscription_id: &str,
    nonce: Option<&str>,
    created_on: OffsetDateTime,
) -> Result<String, Error> {
    let created_on = created_on.to_offset(time::UtcOffset::UTC);
    let expires_on = created_on + DOCUMENT_LIFETIME;
    let nonce = match nonce {
        Some(nonce) => nonce.to_owned(),
        None => expires_on
            .format(format_description!(
                "[year][month][day]-[hour][minute][second]"
            ))
            .map_err(|error| Error::Certificate(error.to_string()))?,
    };
    // The keys are written in alphabetical order, which is Azure's order, so the output is the
    // same whether or not serde_json preserves insertion order.
    let content = serde_json::json!({
        "licenseType": "",
        "nonce": nonce,
        "plan": {"name": "", "product": "", "publisher": ""},
        "sku": "22_04-lts-gen2",
        "subscriptionId": subscription_id,
        "timeStamp": {
            "createdOn": azure_timestamp(created_on)?,
            "expiresOn": azure_timestamp(expires_on)?,
        },
        "vmId": vm_id,
    });
    Ok(content.to_string())
}

/// A time as Azure writes it in `timeStamp`: `MM/DD/YY HH:MM:SS -0000`, in UTC.
pub fn azure_timestamp(at: OffsetDateTime) -> Result<String, Error> {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[month]/[day]/[year repr:last_two] [hour]:[minute]:[second] -0000"
        ))
        .map_err(|error| Error::Certificate(error.to_string()))
}

/// A validity window for the certificate builders.
pub fn validity(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<Validity, Error> {
    Ok(Validity {
        not_before: x509_time(not_before)?,
        not_after: x509_time(not_after)?,
    })
}

/// A new RSA key of [`KEY_BITS`] bits.
pub fn generate_key<R: RngCore + CryptoRng>(rng: &mut R) -> Result<RsaPrivateKey, Error> {
    Ok(RsaPrivateKey::new(rng, KEY_BITS)?)
}

/// A self-signed CA certificate (basicConstraints cA, keyCertSign and cRLSign).
pub fn root_certificate(
    key: &RsaPrivateKey,
    subject: &str,
    validity: Validity,
    serial: u64,
) -> Result<Certificate, Error> {
    let signing_key = SigningKey::<Sha256>::new(key.clone());
    let builder = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(serial),
        validity,
        name(subject)?,
        spki(&key.to_public_key())?,
        &signing_key,
    )
    .map_err(cert_error)?;
    builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(cert_error)
}

/// An intermediate CA certificate for `key`, issued by `issuer` (path length 0, EKU
/// serverAuth and clientAuth as Microsoft's issuing CAs have).
pub fn intermediate_certificate(
    issuer: &Issued,
    key: &RsaPublicKey,
    subject: &str,
    validity: Validity,
    serial: u64,
) -> Result<Certificate, Error> {
    let signing_key = SigningKey::<Sha256>::new(issuer.key.clone());
    let profile = Profile::SubCA {
        issuer: issuer.subject().clone(),
        path_len_constraint: Some(0),
    };
    let mut builder = CertificateBuilder::new(
        profile,
        SerialNumber::from(serial),
        validity,
        name(subject)?,
        spki(key)?,
        &signing_key,
    )
    .map_err(cert_error)?;
    builder
        .add_extension(&ExtendedKeyUsage(vec![
            ID_KP_SERVER_AUTH,
            ID_KP_CLIENT_AUTH,
        ]))
        .map_err(cert_error)?;
    builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(cert_error)
}

/// What [`leaf_certificate`] puts in a leaf.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// The subject, RFC 4514 (`CN=metadata.azure.com,O=...`).
    pub subject: String,
    /// The SAN dNSNames; no SAN extension when empty.
    pub dns_names: Vec<String>,
    /// The AIA caIssuers URLs; no AIA extension when empty.
    pub ca_issuers_urls: Vec<String>,
    /// The validity window.
    pub validity: Validity,
    /// The serial number.
    pub serial: u64,
}

/// An end-entity certificate for `key`, issued by `issuer`: basicConstraints cA false,
/// keyUsage digitalSignature and keyEncipherment, EKU serverAuth and clientAuth, and the SAN
/// and AIA of `spec`.
pub fn leaf_certificate(
    issuer: &Issued,
    key: &RsaPublicKey,
    spec: &LeafSpec,
) -> Result<Certificate, Error> {
    let signing_key = SigningKey::<Sha256>::new(issuer.key.clone());
    let profile = Profile::Leaf {
        issuer: issuer.subject().clone(),
        enable_key_agreement: false,
        enable_key_encipherment: true,
    };
    let mut builder = CertificateBuilder::new(
        profile,
        SerialNumber::from(spec.serial),
        spec.validity,
        name(&spec.subject)?,
        spki(key)?,
        &signing_key,
    )
    .map_err(cert_error)?;
    builder
        .add_extension(&ExtendedKeyUsage(vec![
            ID_KP_SERVER_AUTH,
            ID_KP_CLIENT_AUTH,
        ]))
        .map_err(cert_error)?;
    if !spec.dns_names.is_empty() {
        let mut names = Vec::with_capacity(spec.dns_names.len());
        for dns_name in &spec.dns_names {
            let dns_name = Ia5String::new(dns_name).map_err(cert_error)?;
            names.push(GeneralName::DnsName(dns_name));
        }
        builder
            .add_extension(&SubjectAltName(names))
            .map_err(cert_error)?;
    }
    if !spec.ca_issuers_urls.is_empty() {
        let mut access = Vec::with_capacity(spec.ca_issuers_urls.len());
        for url in &spec.ca_issuers_urls {
            let url = Ia5String::new(url).map_err(cert_error)?;
            access.push(AccessDescription {
                access_method: ID_AD_CA_ISSUERS,
                access_location: GeneralName::UniformResourceIdentifier(url),
            });
        }
        builder
            .add_extension(&AuthorityInfoAccessSyntax(access))
            .map_err(cert_error)?;
    }
    builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(cert_error)
}

/// How a SignerInfo names its signer.
#[derive(Debug, Clone)]
pub enum SignerId {
    /// By the certificate's issuer and serial number (what Azure does).
    IssuerAndSerial,
    /// By the certificate's subject key identifier extension.
    SubjectKeyIdentifier,
    /// Exactly this identifier (for identifiers that match no certificate).
    Custom(SignerIdentifier),
}

/// The signed attributes of a SignerInfo.
#[derive(Debug, Clone)]
pub enum SignedAttributes {
    /// None: the signature covers the content itself (what Azure does).
    None,
    /// contentType id-data and messageDigest SHA-256 of the content, as CMS signers do.
    Standard,
    /// These two attributes, whatever they say (for negative tests).
    Custom {
        /// The contentType attribute's value.
        content_type: ObjectIdentifier,
        /// The messageDigest attribute's value.
        message_digest: Vec<u8>,
    },
}

/// One SignerInfo for [`signed_data`].
#[derive(Debug, Clone)]
pub struct SignerSpec<'a> {
    /// The signing key. The signature is always RSA PKCS#1 v1.5 over SHA-256 of the signed
    /// bytes, whatever the algorithm identifiers below say.
    pub key: &'a RsaPrivateKey,
    /// The certificate the identifier is taken from.
    pub certificate: &'a Certificate,
    /// The digestAlgorithm field.
    pub digest_algorithm: ObjectIdentifier,
    /// The signatureAlgorithm field.
    pub signature_algorithm: ObjectIdentifier,
    /// How the signer is identified.
    pub id: SignerId,
    /// The signed attributes.
    pub signed_attributes: SignedAttributes,
}

impl<'a> SignerSpec<'a> {
    /// A SignerInfo as Azure writes it: issuer and serial, digest `sha256WithRSAEncryption`,
    /// signature `rsaEncryption`, no signed attributes.
    pub fn azure(key: &'a RsaPrivateKey, certificate: &'a Certificate) -> SignerSpec<'a> {
        SignerSpec {
            key,
            certificate,
            digest_algorithm: SHA256_WITH_RSA,
            signature_algorithm: RSA_ENCRYPTION,
            id: SignerId::IssuerAndSerial,
            signed_attributes: SignedAttributes::None,
        }
    }
}

/// A DER ContentInfo holding a SignedData over `content` (id-data), with the certificates of
/// `bag` written **in the order given** (a SET OF out of DER order is not canonical DER,
/// which verifiers should refuse) and one SignerInfo per entry of `signers`.
pub fn signed_data(
    content: &[u8],
    bag: &[&Certificate],
    signers: &[SignerSpec<'_>],
) -> Result<Vec<u8>, Error> {
    let mut digest_algorithms: Vec<AlgorithmIdentifierOwned> = Vec::new();
    for signer in signers {
        let algorithm = algorithm(signer.digest_algorithm);
        if !digest_algorithms.contains(&algorithm) {
            digest_algorithms.push(algorithm);
        }
    }
    let digest_algorithms = SetOfVec::try_from(digest_algorithms).map_err(cert_error)?;
    let econtent =
        Any::encode_from(&OctetStringRef::new(content).map_err(cert_error)?).map_err(cert_error)?;
    let encap = EncapsulatedContentInfo {
        econtent_type: ID_DATA,
        econtent: Some(econtent),
    };
    let mut signer_infos = Vec::with_capacity(signers.len());
    for signer in signers {
        signer_infos.push(signer_info(content, signer)?);
    }
    let signer_infos = SignerInfos(SetOfVec::try_from(signer_infos).map_err(cert_error)?);

    // SignedData is encoded field by field so that the certificate bag keeps the given order.
    let mut body = Vec::new();
    CmsVersion::V1
        .encode_to_vec(&mut body)
        .map_err(cert_error)?;
    digest_algorithms
        .encode_to_vec(&mut body)
        .map_err(cert_error)?;
    encap.encode_to_vec(&mut body).map_err(cert_error)?;
    if !bag.is_empty() {
        let mut certificates = Vec::new();
        for certificate in bag {
            certificate
                .encode_to_vec(&mut certificates)
                .map_err(cert_error)?;
        }
        let tag = Tag::ContextSpecific {
            constructed: true,
            number: TagNumber::N0,
        };
        append_tlv(&mut body, tag, &certificates)?;
    }
    signer_infos.encode_to_vec(&mut body).map_err(cert_error)?;
    let mut signed_data = Vec::new();
    append_tlv(&mut signed_data, Tag::Sequence, &body)?;

    let content_info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::from_der(&signed_data).map_err(cert_error)?,
    };
    content_info.to_der().map_err(cert_error)
}

/// Decodes the SignedData of a DER ContentInfo (for tests that edit one field and re-encode).
pub fn decode_signed_data(der: &[u8]) -> Result<SignedData, Error> {
    let content_info = ContentInfo::from_der(der).map_err(cert_error)?;
    content_info.content.decode_as().map_err(cert_error)
}

/// Encodes a SignedData as a DER ContentInfo (the certificate bag in DER order).
pub fn encode_signed_data(signed_data: &SignedData) -> Result<Vec<u8>, Error> {
    let content_info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(signed_data).map_err(cert_error)?,
    };
    content_info.to_der().map_err(cert_error)
}

fn signer_info(content: &[u8], signer: &SignerSpec<'_>) -> Result<SignerInfo, Error> {
    let tbs = &signer.certificate.tbs_certificate;
    let (version, sid) = match &signer.id {
        SignerId::IssuerAndSerial => (
            CmsVersion::V1,
            SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
        ),
        SignerId::SubjectKeyIdentifier => {
            let ski = match tbs.get::<SubjectKeyIdentifier>() {
                Ok(Some((_, ski))) => ski,
                _ => {
                    return Err(Error::Certificate(
                        "the signer certificate has no subject key identifier".to_owned(),
                    ));
                }
            };
            (CmsVersion::V3, SignerIdentifier::SubjectKeyIdentifier(ski))
        }
        SignerId::Custom(sid) => (CmsVersion::V1, sid.clone()),
    };
    let signed_attrs = match &signer.signed_attributes {
        SignedAttributes::None => None,
        SignedAttributes::Standard => Some(attributes(ID_DATA, &Sha256::digest(content))?),
        SignedAttributes::Custom {
            content_type,
            message_digest,
        } => Some(attributes(*content_type, message_digest)?),
    };
    let signed_bytes = match &signed_attrs {
        Some(attributes) => attributes.to_der().map_err(cert_error)?,
        None => content.to_vec(),
    };
    let digest = Sha256::digest(&signed_bytes);
    let signature = signer.key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest)?;
    Ok(SignerInfo {
        version,
        sid,
        digest_alg: algorithm(signer.digest_algorithm),
        signed_attrs,
        signature_algorithm: algorithm(signer.signature_algorithm),
        signature: OctetString::new(signature).map_err(cert_error)?,
        unsigned_attrs: None,
    })
}

fn attributes(content_type: ObjectIdentifier, message_digest: &[u8]) -> Result<Attributes, Error> {
    let content_type = attribute(ID_CONTENT_TYPE, Any::encode_from(&content_type))?;
    let digest = OctetStringRef::new(message_digest).map_err(cert_error)?;
    let message_digest = attribute(ID_MESSAGE_DIGEST, Any::encode_from(&digest))?;
    SetOfVec::try_from(vec![content_type, message_digest]).map_err(cert_error)
}

fn attribute(oid: ObjectIdentifier, value: der::Result<Any>) -> Result<Attribute, Error> {
    let values = SetOfVec::try_from(vec![value.map_err(cert_error)?]).map_err(cert_error)?;
    Ok(Attribute { oid, values })
}

/// An algorithm identifier with NULL parameters, as Azure writes them.
fn algorithm(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Any::null()),
    }
}

fn append_tlv(out: &mut Vec<u8>, tag: Tag, value: &[u8]) -> Result<(), Error> {
    let length = der::Length::try_from(value.len()).map_err(cert_error)?;
    Header::new(tag, length)
        .map_err(cert_error)?
        .encode_to_vec(out)
        .map_err(cert_error)?;
    out.extend_from_slice(value);
    Ok(())
}

fn x509_time(at: OffsetDateTime) -> Result<Time, Error> {
    let seconds = u64::try_from(at.unix_timestamp())
        .map_err(|_| Error::Certificate("certificate times must be after 1970".to_owned()))?;
    let time =
        GeneralizedTime::from_unix_duration(Duration::from_secs(seconds)).map_err(cert_error)?;
    // The builder turns times before 2050 into UTCTime, as RFC 5280 requires.
    Ok(Time::GeneralTime(time))
}

fn name(subject: &str) -> Result<Name, Error> {
    Name::from_str(subject).map_err(cert_error)
}

fn spki(key: &RsaPublicKey) -> Result<SubjectPublicKeyInfoOwned, Error> {
    SubjectPublicKeyInfoOwned::from_key(key.clone()).map_err(cert_error)
}

fn pem_or_empty(issued: &Issued) -> String {
    // Encoding a certificate this module built or loaded cannot fail; an empty string would
    // be refused by any PEM consumer rather than trusted.
    issued.certificate_pem().unwrap_or_default()
}

fn cert_error(error: impl std::fmt::Display) -> Error {
    Error::Certificate(error.to_string())
}

fn read_issued(cert_path: &Path, key_path: &Path) -> Result<Issued, Error> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
    };
    let invalid = |path: &Path, reason: String| Error::InvalidFile {
        path: path.to_owned(),
        reason,
    };
    let certificate = Certificate::from_pem(read(cert_path)?.as_bytes())
        .map_err(|error| invalid(cert_path, error.to_string()))?;
    let key = RsaPrivateKey::from_pkcs8_pem(&read(key_path)?)
        .map_err(|error| invalid(key_path, error.to_string()))?;
    if key.size() * 8 < KEY_BITS {
        return Err(invalid(
            key_path,
            format!("the RSA key is shorter than {KEY_BITS} bits"),
        ));
    }
    let certified = spki(&key.to_public_key())?;
    if certified != certificate.tbs_certificate.subject_public_key_info {
        return Err(invalid(
            key_path,
            "the key does not belong to the certificate next to it".to_owned(),
        ));
    }
    Ok(Issued { key, certificate })
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use rand::SeedableRng as _;
    use time::macros::datetime;

    use super::*;

    static SIGNER: LazyLock<AzureSigner> = LazyLock::new(|| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut options = AzureCaOptions::valid_from(datetime!(2026-01-01 0:00 UTC));
        options.ca_issuers_url = Some("http://127.0.0.1:1/intermediate.crt".to_owned());
        AzureSigner::generate_with_rng(&mut rng, &options).expect("test CA")
    });

    #[test]
    fn content_looks_like_azures() {
        let content = attested_content(
            "dc18de58-292f-4794-9a5d-a4192bad0039",
            "05e8b285-4ce1-46a3-b4c9-f51ba67d6acc",
            None,
            datetime!(2026-06-25 18:56:45 UTC),
        )
        .expect("content");
        assert_eq!(
            content,
            r#"{"licenseType":"","nonce":"20260626-005645","plan":{"name":"","product":"","publisher":""},"sku":"22_04-lts-gen2","subscriptionId":"05e8b285-4ce1-46a3-b4c9-f51ba67d6acc","timeStamp":{"createdOn":"06/25/26 18:56:45 -0000","expiresOn":"06/26/26 00:56:45 -0000"},"vmId":"dc18de58-292f-4794-9a5d-a4192bad0039"}"#
        );
        let with_nonce =
            attested_content("v", "s", Some("n\"1"), datetime!(2026-06-25 18:56:45 +2))
                .expect("content");
        assert!(with_nonce.contains(r#""nonce":"n\"1""#), "{with_nonce}");
        assert!(with_nonce.contains(r#""createdOn":"06/25/26 16:56:45 -0000""#));
    }

    #[test]
    fn documents_have_azures_shape() {
        let document =
            SIGNER.attested_document("vm", "sub", Some("n"), datetime!(2026-03-01 0:00 UTC));
        assert!(!document.contains('\n'));
        let der = STANDARD.decode(document).expect("base64");
        let signed_data = decode_signed_data(&der).expect("SignedData");
        let bag = signed_data.certificates.expect("bag").0;
        assert_eq!(bag.len(), 1, "only the leaf");
        assert_eq!(signed_data.signer_infos.0.len(), 1);
        let signer = signed_data.signer_infos.0.get(0).expect("signer");
        assert_eq!(signer.digest_alg.oid, SHA256_WITH_RSA);
        assert_eq!(signer.signature_algorithm.oid, RSA_ENCRYPTION);
        assert!(signer.signed_attrs.is_none());
        let content: OctetStringRef<'_> = signed_data
            .encap_content_info
            .econtent
            .as_ref()
            .expect("content")
            .decode_as()
            .expect("octets");
        let digest = Sha256::digest(content.as_bytes());
        SIGNER
            .leaf()
            .key
            .to_public_key()
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &digest,
                signer.signature.as_bytes(),
            )
            .expect("signature over the content");
    }

    #[test]
    fn certificates_chain_and_carry_the_aia_url() {
        let leaf = &SIGNER.leaf().certificate.tbs_certificate;
        assert_eq!(leaf.issuer, *SIGNER.intermediate().subject());
        let (_, aia) = leaf
            .get::<AuthorityInfoAccessSyntax>()
            .expect("decodes")
            .expect("present");
        assert_eq!(aia.0.len(), 1);
        let (_, san) = leaf
            .get::<SubjectAltName>()
            .expect("decodes")
            .expect("present");
        assert_eq!(san.0.len(), 1);
        assert_eq!(
            SIGNER.intermediate().certificate.tbs_certificate.issuer,
            *SIGNER.root().subject()
        );
        assert!(SIGNER.root_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(
            SIGNER
                .intermediate_pem()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(!format!("{:?}", *SIGNER).contains("PRIVATE"));
    }

    #[test]
    fn the_leaf_can_be_reissued_with_another_aia_url() {
        let reissued = SIGNER
            .with_ca_issuers_url("http://127.0.0.1:8080/ca.crt")
            .expect("reissued");
        let old = &SIGNER.leaf().certificate.tbs_certificate;
        let new = &reissued.leaf().certificate.tbs_certificate;
        assert_eq!(new.subject, old.subject);
        assert_eq!(new.validity, old.validity);
        assert_eq!(new.subject_public_key_info, old.subject_public_key_info);
        assert_ne!(new.serial_number, old.serial_number);
        let (_, aia) = new
            .get::<AuthorityInfoAccessSyntax>()
            .expect("decodes")
            .expect("present");
        assert!(matches!(
            &aia.0[0].access_location,
            GeneralName::UniformResourceIdentifier(url) if url.as_str() == "http://127.0.0.1:8080/ca.crt"
        ));
        let (_, san) = new
            .get::<SubjectAltName>()
            .expect("decodes")
            .expect("present");
        assert_eq!(san.0.len(), 1);
    }

    #[test]
    fn the_bag_keeps_the_given_order() {
        let root = &SIGNER.root().certificate;
        let leaf = &SIGNER.leaf().certificate;
        let signer = SignerSpec::azure(&SIGNER.leaf().key, leaf);
        let forward =
            signed_data(b"{}", &[root, leaf], std::slice::from_ref(&signer)).expect("forward");
        let backward = signed_data(b"{}", &[leaf, root], &[signer]).expect("backward");
        assert_ne!(forward, backward);
        assert_eq!(forward.len(), backward.len());
    }

    #[test]
    fn load_or_create_round_trips_and_refuses_partial_sets() {
        let dir = std::env::temp_dir().join(format!("idgate-imds-azure-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        SIGNER.write(&dir).expect("write");
        let loaded = AzureSigner::load_or_create(&dir).expect("load");
        assert_eq!(loaded.leaf_pem(), SIGNER.leaf_pem());
        assert_eq!(loaded.root_pem(), SIGNER.root_pem());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("leaf.key.pem"))
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "keys are private");
        }
        std::fs::remove_file(dir.join("leaf.key.pem")).expect("remove");
        assert!(matches!(
            AzureSigner::load_or_create(&dir),
            Err(Error::InvalidFile { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
