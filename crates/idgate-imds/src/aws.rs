//! AWS instance identity documents signed as EC2 signs them: the pretty-printed JSON document,
//! the base64 RSA PKCS#1 v1.5 / SHA-256 `signature` over its exact bytes, and the `rsa2048`
//! PKCS#7 SignedData ([`AwsSigner::pkcs7`]), with a self-signed certificate that carries the key
//! (as AWS's regional certificates do).

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::IssuerAndSerialNumber;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetStringRef, SetOfVec, UtcTime};
use der::{Any, Decode as _, DecodePem as _, Encode as _};
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use sha2::Sha256;
use signature::{SignatureEncoding as _, Signer as _};
use spki::AlgorithmIdentifierOwned;
use spki::EncodePublicKey as _;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::der::EncodePem as _;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

use crate::Error;
use crate::files;

/// The RSA key size of the key [`AwsSigner::load_or_create`] generates (AWS's `rsa2048` keys
/// are RSA-2048; the same key also makes the base64 `signature`).
pub const KEY_BITS: usize = 2048;
/// The key file [`AwsSigner::load_or_create`] keeps in its directory (PKCS#8 PEM, mode 0600).
pub const KEY_FILE_NAME: &str = "aws-signing-key.pem";
/// The certificate file [`AwsSigner::load_or_create`] keeps next to the key.
pub const CERTIFICATE_FILE_NAME: &str = "aws-certificate.pem";

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");

/// The identity of one emulated EC2 instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsInstance {
    /// `instanceId`, e.g. `i-0123456789abcdef0`.
    pub instance_id: String,
    /// `region`, e.g. `us-east-1`.
    pub region: String,
    /// `accountId`, twelve digits.
    pub account_id: String,
}

/// A signing key and its self-signed certificate, standing in for an AWS regional certificate.
pub struct AwsSigner {
    key: SigningKey<Sha256>,
    certificate_pem: String,
    certificate: Certificate,
}

impl std::fmt::Debug for AwsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSigner")
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl AwsSigner {
    /// Generates a new RSA key of `bits` bits (AWS uses 1024 for `/signature`) and a
    /// self-signed certificate for it, valid for ten years from now.
    pub fn generate(bits: usize) -> Result<AwsSigner, Error> {
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, bits)?;
        AwsSigner::from_key(private)
    }

    /// Wraps an existing key and makes its certificate.
    pub fn from_key(private: RsaPrivateKey) -> Result<AwsSigner, Error> {
        let key = SigningKey::<Sha256>::new(private);
        let certificate_pem = self_signed_certificate_for(&key, SUBJECT)?;
        let certificate = Certificate::from_pem(certificate_pem.as_bytes())
            .map_err(|error| Error::Certificate(error.to_string()))?;
        Ok(AwsSigner {
            key,
            certificate_pem,
            certificate,
        })
    }

    /// Wraps an existing key and its existing certificate (PEM), which must certify that key.
    pub fn from_key_and_certificate(
        private: RsaPrivateKey,
        certificate_pem: &str,
    ) -> Result<AwsSigner, Error> {
        let certificate = Certificate::from_pem(certificate_pem.as_bytes())
            .map_err(|error| Error::Certificate(error.to_string()))?;
        let key = SigningKey::<Sha256>::new(private);
        let public_der = key
            .as_ref()
            .to_public_key()
            .to_public_key_der()
            .map_err(|error| Error::Certificate(error.to_string()))?;
        let certified = certificate
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|error| Error::Certificate(error.to_string()))?;
        if public_der.as_bytes() != certified.as_slice() {
            return Err(Error::Certificate(
                "the certificate does not certify the signing key".to_owned(),
            ));
        }
        Ok(AwsSigner {
            key,
            certificate_pem: certificate_pem.to_owned(),
            certificate,
        })
    }

    /// Loads the key (`dir/`[`KEY_FILE_NAME`], PKCS#8 PEM) and its certificate
    /// (`dir/`[`CERTIFICATE_FILE_NAME`]), or generates what is missing and writes it there:
    /// a new RSA-[`KEY_BITS`] key (mode 0600 on Unix) when there is no key file, a new
    /// certificate when there is no certificate file. Keeping the certificate keeps its serial
    /// number, which PKCS#7 signatures name. A certificate without its key, or files that do
    /// not belong together, are an [`Error::InvalidFile`] and are never replaced.
    pub fn load_or_create(dir: &Path) -> Result<AwsSigner, Error> {
        let key_path = dir.join(KEY_FILE_NAME);
        let cert_path = dir.join(CERTIFICATE_FILE_NAME);
        let key_pem = files::read_optional(&key_path)?;
        let cert_pem = files::read_optional(&cert_path)?;
        let invalid = |path: &Path, reason: String| Error::InvalidFile {
            path: path.to_owned(),
            reason,
        };
        let private = match key_pem {
            Some(pem) => RsaPrivateKey::from_pkcs8_pem(&pem)
                .map_err(|_| invalid(&key_path, "not a PKCS#8 PEM RSA private key".to_owned()))?,
            None if cert_pem.is_some() => {
                return Err(invalid(
                    &cert_path,
                    format!("exists without its key {KEY_FILE_NAME}; remove it"),
                ));
            }
            None => {
                let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS)?;
                let pem = private
                    .to_pkcs8_pem(der::pem::LineEnding::LF)
                    .map_err(|error| Error::Certificate(error.to_string()))?;
                files::create_dir(dir)?;
                files::write_new(&key_path, pem.as_bytes(), true)?;
                private
            }
        };
        match cert_pem {
            Some(pem) => AwsSigner::from_key_and_certificate(private, &pem)
                .map_err(|error| invalid(&cert_path, error.to_string())),
            None => {
                let signer = AwsSigner::from_key(private)?;
                files::write_new(&cert_path, signer.certificate_pem.as_bytes(), false)?;
                Ok(signer)
            }
        }
    }

    /// The certificate, PEM-encoded, for `idgate server --aws-certs`.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The document EC2 would serve for `instance`, pretty-printed like the real one
    /// (`"key" : value`, two-space indent, no trailing newline).
    pub fn document(&self, instance: &AwsInstance) -> String {
        let fields: [(&str, serde_json::Value); 14] = [
            ("accountId", instance.account_id.clone().into()),
            ("architecture", "x86_64".into()),
            ("availabilityZone", format!("{}a", instance.region).into()),
            ("billingProducts", serde_json::Value::Null),
            ("devpayProductCodes", serde_json::Value::Null),
            ("marketplaceProductCodes", serde_json::Value::Null),
            ("imageId", "ami-0123456789abcdef0".into()),
            ("instanceId", instance.instance_id.clone().into()),
            ("instanceType", "t3.micro".into()),
            ("kernelId", serde_json::Value::Null),
            ("pendingTime", "2026-01-01T00:00:00Z".into()),
            ("privateIp", "10.0.0.10".into()),
            ("ramdiskId", serde_json::Value::Null),
            ("region", instance.region.clone().into()),
        ];
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("  \"{k}\" : {v}"))
            .collect();
        format!("{{\n{}\n}}", body.join(",\n"))
    }

    /// The base64 `signature` of `document`, wrapped at 76 columns as EC2 wraps it.
    pub fn sign(&self, document: &[u8]) -> String {
        let signature = self.key.sign(document).to_vec();
        let encoded = STANDARD.encode(signature);
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(76)
            .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
            .collect();
        lines.join("\n")
    }

    /// The base64 PKCS#7 that EC2 serves at `/rsa2048` for `document`, wrapped at 76 columns:
    /// a SignedData whose id-data content is the document's exact bytes, without certificates,
    /// with one SignerInfo that names this signer's certificate by issuer and serial number,
    /// digest SHA-256, signed attributes contentType, signingTime (`signed_at`) and
    /// messageDigest, and an RSA PKCS#1 v1.5 signature over their DER. (EC2 sends BER; this is
    /// the DER form of the same structure.)
    pub fn pkcs7(&self, document: &[u8], signed_at: time::OffsetDateTime) -> Result<String, Error> {
        fn encoding(error: impl std::fmt::Display) -> Error {
            Error::Certificate(error.to_string())
        }
        let content = Any::encode_from(&OctetStringRef::new(document).map_err(encoding)?)
            .map_err(encoding)?;
        let encapsulated = EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: Some(content),
        };
        let tbs = &self.certificate.tbs_certificate;
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer.clone(),
            serial_number: tbs.serial_number.clone(),
        });
        let sha256 = AlgorithmIdentifierOwned {
            oid: ID_SHA256,
            parameters: Some(Any::null()),
        };
        let mut signer_info =
            SignerInfoBuilder::new(&self.key, sid, sha256.clone(), &encapsulated, None)
                .map_err(encoding)?;
        // The builder adds contentType and messageDigest itself. (Adding contentType here
        // would fail: cms 0.2 compares the attribute's type, not its value, to the content
        // type.)
        signer_info
            .add_signed_attribute(signing_time_attribute(signed_at)?)
            .map_err(encoding)?;
        let content_info = SignedDataBuilder::new(&encapsulated)
            .add_digest_algorithm(sha256)
            .map_err(encoding)?
            .add_signer_info::<_, rsa::pkcs1v15::Signature>(signer_info)
            .map_err(encoding)?
            .build()
            .map_err(encoding)?;
        let der = content_info.to_der().map_err(encoding)?;
        Ok(wrap(&STANDARD.encode(der), 76))
    }
}

/// The signingTime attribute (UTCTime, as RFC 5652 requires for years 1950 to 2049).
fn signing_time_attribute(at: time::OffsetDateTime) -> Result<Attribute, Error> {
    let encoding = |error: der::Error| Error::Certificate(error.to_string());
    let seconds = u64::try_from(at.unix_timestamp())
        .map_err(|_| Error::Certificate("the signing time is before 1970".to_owned()))?;
    let utc = UtcTime::from_unix_duration(Duration::from_secs(seconds)).map_err(encoding)?;
    let value = Any::from_der(&utc.to_der().map_err(encoding)?).map_err(encoding)?;
    Ok(Attribute {
        oid: ID_SIGNING_TIME,
        values: SetOfVec::try_from(vec![value]).map_err(encoding)?,
    })
}

/// `text` cut into lines of at most `columns` characters, joined by `\n`.
fn wrap(text: &str, columns: usize) -> String {
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(columns)
        .map(|chunk| std::str::from_utf8(chunk).unwrap_or_default())
        .collect();
    lines.join("\n")
}

/// The subject of the AWS signer's certificate.
const SUBJECT: &str = "CN=idgate test signer,O=idgate emulator,C=US";

/// A self-signed certificate (PEM) for `key`, valid for ten years from now, with a random
/// serial number.
pub(crate) fn self_signed_certificate_for(
    key: &SigningKey<Sha256>,
    subject: &str,
) -> Result<String, Error> {
    let cert_error = |e: &dyn std::fmt::Display| Error::Certificate(e.to_string());
    let verifying = key.as_ref().to_public_key();
    let spki_der = verifying.to_public_key_der().map_err(|e| cert_error(&e))?;
    let spki =
        SubjectPublicKeyInfoOwned::try_from(spki_der.as_bytes()).map_err(|e| cert_error(&e))?;
    let subject = Name::from_str(subject).map_err(|e| cert_error(&e))?;
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
    serial[0] &= 0x7f; // positive
    let serial = SerialNumber::new(&serial).map_err(|e| cert_error(&e))?;
    let validity = Validity::from_now(Duration::from_secs(10 * 365 * 24 * 3600))
        .map_err(|e| cert_error(&e))?;
    let builder = CertificateBuilder::new(Profile::Root, serial, validity, subject, spki, key)
        .map_err(|e| cert_error(&e))?;
    let certificate = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| cert_error(&e))?;
    certificate
        .to_pem(x509_cert::der::pem::LineEnding::LF)
        .map_err(|e| cert_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_look_like_ec2s() {
        let signer = AwsSigner::generate(1024).unwrap();
        let doc = signer.document(&AwsInstance {
            instance_id: "i-0abc".into(),
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
        });
        assert!(doc.starts_with("{\n  \"accountId\" : \"123456789012\",\n"));
        assert!(doc.ends_with("\"region\" : \"eu-west-1\"\n}"));
        let parsed: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(parsed["instanceId"], "i-0abc");
        assert!(
            signer
                .certificate_pem()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        let signature = signer.sign(doc.as_bytes());
        assert!(signature.lines().all(|l| l.len() <= 76));
    }
}
