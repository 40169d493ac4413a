//! AWS instance identity documents signed as EC2 signs them: the pretty-printed JSON document
//! and the base64 RSA PKCS#1 v1.5 / SHA-256 `signature` over its exact bytes, with a
//! self-signed certificate that carries the key (as AWS's regional certificates do).

use std::str::FromStr as _;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use sha2::Sha256;
use signature::{SignatureEncoding as _, Signer as _};
use spki::EncodePublicKey as _;
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::der::EncodePem as _;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

use crate::Error;

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
        let certificate_pem = self_signed_certificate(&key)?;
        Ok(AwsSigner {
            key,
            certificate_pem,
        })
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
}

fn self_signed_certificate(key: &SigningKey<Sha256>) -> Result<String, Error> {
    let cert_error = |e: &dyn std::fmt::Display| Error::Certificate(e.to_string());
    let verifying = key.as_ref().to_public_key();
    let spki_der = verifying.to_public_key_der().map_err(|e| cert_error(&e))?;
    let spki =
        SubjectPublicKeyInfoOwned::try_from(spki_der.as_bytes()).map_err(|e| cert_error(&e))?;
    let subject = Name::from_str("CN=idgate test signer,O=idgate emulator,C=US")
        .map_err(|e| cert_error(&e))?;
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
