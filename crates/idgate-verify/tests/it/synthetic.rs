//! Keys, self-signed certificates, documents and PKCS#7 signatures made in the test, for
//! regions AWS does not have.

use std::str::FromStr as _;
use std::sync::OnceLock;
use std::time::Duration;

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use der::pem::LineEnding;
use der::{Any, Encode as _, EncodePem as _};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use rsa::pkcs1v15::SigningKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::aws_pkcs7::{
    ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SHA1, ID_SHA256, ID_SIGNED_DATA,
    RSA_ENCRYPTION, attribute,
};
use crate::b64;

/// 2020-01-01T00:00:00Z and 2021-01-01T00:00:00Z: the test certificates are long expired
/// at [`crate::NOW`], like several of AWS's own.
const NOT_BEFORE: u64 = 1_577_836_800;
const NOT_AFTER: u64 = 1_609_459_200;

/// An RSA key with a self-signed certificate.
pub struct TestSigner {
    pub key: RsaPrivateKey,
    pub cert: Certificate,
    pub pem: String,
}

/// The test key idgate is told to trust (deterministic, generated once per test run).
pub fn trusted_signer() -> &'static TestSigner {
    static SIGNER: OnceLock<TestSigner> = OnceLock::new();
    SIGNER.get_or_init(|| make_signer(1, 0x5eed))
}

/// Another key whose certificate has the same subject but another serial.
pub fn other_signer() -> &'static TestSigner {
    static SIGNER: OnceLock<TestSigner> = OnceLock::new();
    SIGNER.get_or_init(|| make_signer(2, 0xbad))
}

fn make_signer(serial: u32, seed: u64) -> TestSigner {
    let mut rng = StdRng::seed_from_u64(seed);
    // 1024 bits like AWS's `signature` keys, and quick to generate in debug builds.
    let key = RsaPrivateKey::new(&mut rng, 1024).expect("RSA key");
    let signing_key = SigningKey::<Sha256>::new(key.clone());
    let spki = SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).expect("SPKI");
    let validity = Validity {
        not_before: utc(NOT_BEFORE),
        not_after: utc(NOT_AFTER),
    };
    let subject =
        Name::from_str("CN=idgate test AWS key,O=Amazon Web Services LLC,C=US").expect("name");
    let builder = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(serial),
        validity,
        subject,
        spki,
        &signing_key,
    )
    .expect("certificate builder");
    let cert = builder
        .build::<rsa::pkcs1v15::Signature>()
        .expect("self-signed certificate");
    let pem = cert.to_pem(LineEnding::LF).expect("PEM");
    TestSigner { key, cert, pem }
}

fn utc(seconds: u64) -> Time {
    Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(seconds)).expect("UTC time"))
}

/// A pretty-printed identity document like AWS's, for `region`.
pub fn document(region: &str) -> Vec<u8> {
    format!(
        "{{\n  \"accountId\" : \"123456789012\",\n  \"instanceId\" : \"i-0123456789abcdef0\",\n  \"pendingTime\" : \"2026-12-01T00:00:00Z\",\n  \"region\" : \"{region}\",\n  \"version\" : \"2017-09-30\"\n}}"
    )
    .into_bytes()
}

/// The base64 RSA PKCS#1 v1.5 SHA-256 signature of `document`.
pub fn sign(signer: &TestSigner, document: &[u8]) -> String {
    let digest = Sha256::digest(document);
    let signature = signer
        .key
        .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
        .expect("signature");
    b64(&signature)
}

/// A base64 DER PKCS#7 SignedData over `document` (RSA with SHA-256), with or without
/// signed attributes.
pub fn pkcs7(signer: &TestSigner, document: &[u8], signed_attributes: bool) -> String {
    pkcs7_with_digest(signer, document, signed_attributes, Digest::Sha256)
}

/// The digest of a synthetic PKCS#7.
#[derive(Clone, Copy)]
pub enum Digest {
    Sha1,
    Sha256,
}

impl Digest {
    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Digest::Sha1 => Sha1::digest(data).to_vec(),
            Digest::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    fn scheme(self) -> Pkcs1v15Sign {
        match self {
            Digest::Sha1 => Pkcs1v15Sign::new::<Sha1>(),
            Digest::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
        }
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            Digest::Sha1 => ID_SHA1,
            Digest::Sha256 => ID_SHA256,
        }
    }
}

/// A base64 DER PKCS#7 SignedData over `document` with RSA and the given digest.
pub fn pkcs7_with_digest(
    signer: &TestSigner,
    document: &[u8],
    signed_attributes: bool,
    digest: Digest,
) -> String {
    let content_digest = digest.hash(document);
    let signed_attrs = signed_attributes.then(|| {
        let message_digest = OctetString::new(content_digest).expect("octets");
        SetOfVec::try_from(vec![
            attribute(
                ID_CONTENT_TYPE,
                vec![Any::encode_from(&ID_DATA).expect("OID")],
            ),
            attribute(
                ID_MESSAGE_DIGEST,
                vec![Any::encode_from(&message_digest).expect("octets")],
            ),
        ])
        .expect("attributes")
    });
    let signed_bytes = match &signed_attrs {
        Some(attributes) => attributes.to_der().expect("attributes DER"),
        None => document.to_vec(),
    };
    let signature = signer
        .key
        .sign(digest.scheme(), &digest.hash(&signed_bytes))
        .expect("signature");
    let tbs = &signer.cert.tbs_certificate;
    let digest_algorithm = AlgorithmIdentifierOwned {
        oid: digest.oid(),
        parameters: None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer.clone(),
            serial_number: tbs.serial_number.clone(),
        }),
        digest_alg: digest_algorithm.clone(),
        signed_attrs,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: None,
        },
        signature: OctetString::new(signature).expect("octets"),
        unsigned_attrs: None,
    };
    let content = OctetString::new(document.to_vec()).expect("octets");
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_algorithm]).expect("digests"),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: Some(Any::encode_from(&content).expect("content")),
        },
        certificates: None,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).expect("signers")),
    };
    let content_info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).expect("SignedData"),
    };
    b64(&content_info.to_der().expect("ContentInfo"))
}
