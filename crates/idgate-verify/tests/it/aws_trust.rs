//! `AwsTrust`: bundled certificates, reporting, extra certificates and their errors.

use der::asn1::ObjectIdentifier;
use der::pem::LineEnding;
use der::{Decode as _, EncodePem as _};
use idgate_verify::FailureKind::{CertificateUntrusted, Malformed};
use idgate_verify::UnixTime;
use idgate_verify::aws::{AwsKeyKind, AwsProof, AwsTrust, OTHER_REGIONS};
use x509_cert::Certificate;

use crate::synthetic::{
    Digest, document, other_signer, pkcs7, pkcs7_with_digest, sign, trusted_signer,
};
use crate::{cert_pem, check};

const TEST_REGION: &str = "zz-test-1";
const TEST_IDENTITY: (&str, &str, Option<&str>) =
    ("i-0123456789abcdef0", TEST_REGION, Some("123456789012"));

#[test]
fn bundled_trust_reports_every_certificate() {
    let trust = AwsTrust::bundled();
    let certificates = trust.certificates();
    let count = |kind: AwsKeyKind| certificates.iter().filter(|info| info.kind == kind).count();
    assert_eq!(count(AwsKeyKind::Signature), 39);
    assert_eq!(count(AwsKeyKind::Rsa2048), 39);
    // 12 files, one of which serves both China regions.
    assert_eq!(count(AwsKeyKind::Dsa), 13);
    assert!(certificates.iter().all(|info| info.region.is_some()));
    // Every subject names Amazon (one rsa/ certificate says "Amazon.com Inc.").
    for info in &certificates {
        assert!(info.subject.contains("O=Amazon"), "{}", info.subject);
        assert!(info.not_before < info.not_after, "{}", info.subject);
    }

    let generic = certificates
        .iter()
        .find(|info| info.region.as_deref() == Some(OTHER_REGIONS))
        .expect("generic DSA certificate");
    assert_eq!(generic.kind, AwsKeyKind::Dsa);
    // 2012-01-05 → 2038-01-05 (the README table); the times are reported as read.
    assert_eq!(generic.not_before, UnixTime(1_325_768_172));
    assert_eq!(generic.not_after, UnixTime(2_146_308_972));

    let regions = trust.regions();
    assert_eq!(regions.len(), 39);
    for region in [
        "us-east-1",
        "ap-northeast-2",
        "cn-northwest-1",
        "us-gov-west-1",
    ] {
        assert!(regions.iter().any(|name| name == region), "{region}");
    }
    assert!(!regions.iter().any(|name| name == OTHER_REGIONS));
    let mut sorted = regions.clone();
    sorted.sort();
    assert_eq!(regions, sorted);
}

#[test]
fn extra_certificate_makes_an_unknown_region_verify() {
    let signer = trusted_signer();
    let document = document(TEST_REGION);
    let signature = sign(signer, &document);
    let with_attributes = pkcs7(signer, &document, true);
    let without_attributes = pkcs7(signer, &document, false);
    let proofs = [
        (Some(signature.as_str()), None),
        (None, Some(with_attributes.as_str())),
        (None, Some(without_attributes.as_str())),
        (Some(signature.as_str()), Some(with_attributes.as_str())),
    ];

    // The bundled trust has no key for the region.
    let mut trust = AwsTrust::bundled();
    let before = trust.certificates().len();
    check(
        AwsProof {
            document: &document,
            signature: Some(&signature),
            pkcs7: None,
        },
        &trust,
        Err((
            CertificateUntrusted,
            "no trusted AWS certificate for region zz-test-1; pass it with --aws-certs",
        )),
    );
    check(
        AwsProof {
            document: &document,
            signature: None,
            pkcs7: Some(&with_attributes),
        },
        &trust,
        Err((
            CertificateUntrusted,
            "the PKCS#7 signer is not a trusted AWS certificate for region zz-test-1; pass it with --aws-certs",
        )),
    );

    // With the extra certificate, every form verifies although the certificate expired in
    // 2021: validity is reported, never enforced.
    assert_eq!(trust.add_extra_pem(signer.pem.as_bytes()).ok(), Some(1));
    for (signature, pkcs7) in proofs {
        let proof = AwsProof {
            document: &document,
            signature,
            pkcs7,
        };
        check(proof, &trust, Ok(TEST_IDENTITY));
    }
    let certificates = trust.certificates();
    assert_eq!(certificates.len(), before + 1);
    let extra = certificates
        .iter()
        .find(|info| info.region.is_none())
        .expect("extra certificate");
    assert_eq!(extra.kind, AwsKeyKind::Signature);
    assert_eq!(extra.not_after, UnixTime(1_609_459_200));
    assert!(
        extra.subject.contains("CN=idgate test AWS key"),
        "{}",
        extra.subject
    );
    // Extras serve every region but do not add a region of their own.
    assert!(!trust.regions().iter().any(|region| region == TEST_REGION));

    // A known region's documents still verify; the extra key is tried as well.
    let coder = crate::sample("coder-us-east-1-2022");
    check(
        AwsProof {
            document: &coder.document,
            signature: coder.signature.as_deref(),
            pkcs7: None,
        },
        &trust,
        Ok(("i-076e9b91f7c420782", "us-east-1", Some("628783029487"))),
    );
}

#[test]
fn rsa_pkcs7_with_sha1_verifies() {
    // China's certificate in dsa/ holds an RSA key, so its legacy PKCS#7 is RSA; no real
    // sample exists, so this path is covered with a test key, with and without attributes.
    let signer = trusted_signer();
    let document = document(TEST_REGION);
    let mut trust = AwsTrust::empty();
    trust
        .add_region_pem(TEST_REGION, AwsKeyKind::Dsa, signer.pem.as_bytes())
        .expect("valid certificate");
    for signed_attributes in [true, false] {
        let pkcs7 = pkcs7_with_digest(signer, &document, signed_attributes, Digest::Sha1);
        let proof = AwsProof {
            document: &document,
            signature: None,
            pkcs7: Some(&pkcs7),
        };
        check(proof, &trust, Ok(TEST_IDENTITY));
    }
}

#[test]
fn extra_certificate_does_not_vouch_for_another_key() {
    let mut trust = AwsTrust::empty();
    trust
        .add_extra_pem(trusted_signer().pem.as_bytes())
        .expect("valid certificate");
    let other = other_signer();
    let document = document(TEST_REGION);
    // Same subject and issuer name, another serial: the PKCS#7 signer is not found.
    check(
        AwsProof {
            document: &document,
            signature: None,
            pkcs7: Some(&pkcs7(other, &document, true)),
        },
        &trust,
        Err((
            CertificateUntrusted,
            "the PKCS#7 signer is not a trusted AWS certificate for region zz-test-1; pass it with --aws-certs",
        )),
    );
    check(
        AwsProof {
            document: &document,
            signature: Some(&sign(other, &document)),
            pkcs7: None,
        },
        &trust,
        Err((
            idgate_verify::FailureKind::SignatureInvalid,
            "the `signature` does not verify with any trusted AWS key for region zz-test-1",
        )),
    );
}

#[test]
fn region_certificates_can_be_added() {
    let signer = trusted_signer();
    let document = document(TEST_REGION);
    let mut trust = AwsTrust::empty();
    assert_eq!(
        trust
            .add_region_pem(TEST_REGION, AwsKeyKind::Signature, signer.pem.as_bytes())
            .ok(),
        Some(1)
    );
    assert_eq!(trust.regions(), vec![TEST_REGION.to_owned()]);
    check(
        AwsProof {
            document: &document,
            signature: Some(&sign(signer, &document)),
            pkcs7: None,
        },
        &trust,
        Ok(TEST_IDENTITY),
    );
    // A `Signature` certificate is not a PKCS#7 signer.
    check(
        AwsProof {
            document: &document,
            signature: None,
            pkcs7: Some(&pkcs7(signer, &document, true)),
        },
        &trust,
        Err((
            CertificateUntrusted,
            "the PKCS#7 signer is not a trusted AWS certificate for region zz-test-1; pass it with --aws-certs",
        )),
    );
    trust
        .add_region_pem(TEST_REGION, AwsKeyKind::Rsa2048, signer.pem.as_bytes())
        .expect("valid certificate");
    check(
        AwsProof {
            document: &document,
            signature: None,
            pkcs7: Some(&pkcs7(signer, &document, true)),
        },
        &trust,
        Ok(TEST_IDENTITY),
    );
}

/// A bundled certificate whose key algorithm is changed to id-ecPublicKey.
fn certificate_with_ec_key() -> String {
    let pem = String::from_utf8(cert_pem("rsa2048/us-east-1.pem")).expect("PEM");
    let (_, der) = der::pem::decode_vec(pem.as_bytes()).expect("PEM");
    let mut cert = Certificate::from_der(&der).expect("certificate");
    cert.tbs_certificate.subject_public_key_info.algorithm.oid =
        ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    cert.to_pem(LineEnding::LF).expect("PEM")
}

#[test]
fn bad_trust_inputs_are_refused() {
    let good = String::from_utf8(cert_pem("rsa/us-east-1.pem")).expect("PEM");
    let ec = certificate_with_ec_key();
    let garbage_cert = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        crate::b64(b"not a certificate")
    );
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "the PEM input holds no CERTIFICATE block"),
        (
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_owned(),
            "the PEM input holds no CERTIFICATE block",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nMIIB\n".to_owned(),
            "PEM certificate 1 is not valid PEM",
        ),
        (
            format!("{good}-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
            "PEM certificate 2 is not valid PEM",
        ),
        (
            garbage_cert,
            "PEM certificate 1 is not a valid X.509 certificate",
        ),
        (
            format!("{good}{ec}"),
            "PEM certificate 2 holds no public key usable for AWS signatures (RSA, or DSA for PKCS#7)",
        ),
    ];
    for (pem, message) in cases {
        let mut trust = AwsTrust::empty();
        let error = trust.add_extra_pem(pem.as_bytes()).expect_err(message);
        assert_eq!(error.to_string(), message);
        assert_eq!(error.kind(), Malformed);
        // All or nothing: a failed call adds no certificate.
        assert!(trust.certificates().is_empty(), "{message}");
    }
}

#[test]
fn bad_region_inputs_are_refused() {
    let mut trust = AwsTrust::empty();
    let pem = cert_pem("rsa/us-east-1.pem");
    for region in [
        "",
        "US-EAST-1",
        "us east 1",
        "a-very-long-region-name-beyond-32-chars",
    ] {
        let error = trust
            .add_region_pem(region, AwsKeyKind::Signature, &pem)
            .expect_err("invalid region");
        assert_eq!(
            error.to_string(),
            "the region name is invalid: use 1 to 32 characters from a-z, 0-9 and -"
        );
        assert_eq!(error.kind(), Malformed);
    }
    // A `signature` certificate must hold an RSA key.
    let dsa = cert_pem("dsa/default-all-other-regions.pem");
    let error = trust
        .add_region_pem("us-east-1", AwsKeyKind::Signature, &dsa)
        .expect_err("DSA key");
    assert_eq!(
        error.to_string(),
        "PEM certificate 1 holds no public key usable for AWS signatures (RSA, or DSA for PKCS#7)"
    );
    assert!(trust.certificates().is_empty());
    // The same certificate is fine as a DSA certificate.
    assert_eq!(
        trust
            .add_region_pem("us-east-1", AwsKeyKind::Dsa, &dsa)
            .ok(),
        Some(1)
    );
}
