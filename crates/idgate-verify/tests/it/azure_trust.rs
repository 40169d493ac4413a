//! [`AzureTrust`]: the bundled roots are the pinned ones (fingerprints computed here from the
//! files), and the operator inputs are parsed strictly.

use std::path::PathBuf;

use idgate_verify::FailureKind::Malformed;
use idgate_verify::UnixTime;
use idgate_verify::azure::{AzureCertRole, AzureTrust};
use sha2::{Digest as _, Sha256};
use x509_cert::certificate::Version;

use crate::azure_support::{fixture, pem, resign, unb64};

/// The pinned roots: file in `certs/azure/roots`, subject, SHA-256 of the DER.
const PINNED: &[(&str, &str, &str)] = &[
    (
        "DigiCert_Global_Root_G2.pem",
        "CN=DigiCert Global Root G2,OU=www.digicert.com,O=DigiCert Inc,C=US",
        "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f",
    ),
    (
        "DigiCert_Global_Root_G3.pem",
        "CN=DigiCert Global Root G3,OU=www.digicert.com,O=DigiCert Inc,C=US",
        "31ad6648f8104138c738f39ea4320133393e3a18cc02296ef97c2ac9ef6731d0",
    ),
    (
        "Microsoft_RSA_Root_Certificate_Authority_2017.pem",
        "CN=Microsoft RSA Root Certificate Authority 2017,O=Microsoft Corporation,C=US",
        "c741f70f4b2a8d88bf2e71c14122ef53ef10eba0cfa5e64cfa20f418853073e0",
    ),
    (
        "Microsoft_ECC_Root_Certificate_Authority_2017.pem",
        "CN=Microsoft ECC Root Certificate Authority 2017,O=Microsoft Corporation,C=US",
        "358df39d764af9e1b766e9c972df352ee15cfac227af6ad1d70e8e4a6edcba02",
    ),
    (
        "Microsoft_TLS_RSA_Root_G2.pem",
        "CN=Microsoft TLS RSA Root G2,O=Microsoft Corporation,C=US",
        "6a170583db584151e1c454eeca2a64cc5d8e484a5bd1156e720b4458654ee9e5",
    ),
];

fn certs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("certs/azure")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    unb64(&body)
}

#[test]
fn bundled_roots_are_the_pinned_roots() {
    let infos = AzureTrust::bundled().certificates();
    let roots: Vec<_> = infos
        .iter()
        .filter(|info| info.role == AzureCertRole::Root)
        .collect();
    assert_eq!(roots.len(), PINNED.len());
    for ((file, subject, sha256), info) in PINNED.iter().zip(roots) {
        let pem = std::fs::read_to_string(certs_dir().join("roots").join(file)).expect("file");
        assert_eq!(hex(&Sha256::digest(pem_der(&pem))), *sha256, "{file}");
        assert_eq!(info.sha256, *sha256, "{file}");
        assert_eq!(info.subject, *subject, "{file}");
        assert!(
            info.not_after > UnixTime(1_796_342_400),
            "{file} is valid today"
        );
    }
}

#[test]
fn bundled_intermediates_are_valid_today() {
    let infos = AzureTrust::bundled().certificates();
    let intermediates: Vec<_> = infos
        .iter()
        .filter(|info| info.role == AzureCertRole::Intermediate)
        .collect();
    let subjects: Vec<&str> = intermediates
        .iter()
        .map(|info| info.subject.as_str())
        .collect();
    assert_eq!(
        subjects,
        [
            "CN=Microsoft TLS G2 RSA CA OCSP 02,O=Microsoft Corporation,C=US",
            "CN=Microsoft TLS RSA Root G2,O=Microsoft Corporation,C=US",
        ]
    );
    let today = UnixTime(1_796_342_400);
    for info in intermediates {
        assert!(
            info.not_before <= today && today <= info.not_after,
            "{}",
            info.subject
        );
    }
    // DigiCert Global Root G2: 2013-08-01T12:00:00Z to 2038-01-15T12:00:00Z.
    let digicert = &infos[0];
    assert_eq!(
        (digicert.not_before, digicert.not_after),
        (UnixTime(1_375_358_400), UnixTime(2_147_169_600))
    );
}

#[test]
fn empty_trust_holds_nothing_and_debug_shows_counts() {
    assert!(AzureTrust::empty().certificates().is_empty());
    assert_eq!(
        format!("{:?}", AzureTrust::empty()),
        "AzureTrust { roots: 0, intermediates: 0 }"
    );
}

#[test]
fn operator_roots_and_intermediates_are_added_once() {
    let mut trust = AzureTrust::bundled();
    let root = fixture().ca.root_pem();
    let intermediate = fixture().ca.intermediate_pem();
    let both = format!("# test root\n{root}\nsome text\n{intermediate}");
    assert_eq!(trust.add_roots_pem(both.as_bytes()).expect("two roots"), 2);
    assert_eq!(trust.add_roots_pem(root.as_bytes()).expect("again"), 0);
    let bundled_root =
        std::fs::read(certs_dir().join("roots/DigiCert_Global_Root_G2.pem")).expect("file");
    assert_eq!(trust.add_roots_pem(&bundled_root).expect("pinned"), 0);
    assert_eq!(
        trust
            .add_intermediates_pem(intermediate.as_bytes())
            .expect("known"),
        0
    );
    assert_eq!(trust.certificates().len(), 9);
}

#[test]
fn trust_inputs_are_parsed_strictly() {
    let root = fixture().ca.root_pem();
    let truncated = root.replace("\n-----END", "AAAA\n-----END");
    let unterminated = root.replace("-----END CERTIFICATE-----", "");
    let not_a_certificate = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "the PEM input holds no CERTIFICATE block"),
        (
            "just text".to_owned(),
            "the PEM input holds no CERTIFICATE block",
        ),
        (
            format!("{root}{unterminated}"),
            "PEM certificate 2 is not valid PEM",
        ),
        (
            format!("{root}{truncated}"),
            "PEM certificate 2 is not a valid X.509 certificate",
        ),
        (
            format!("{root}{not_a_certificate}"),
            "PEM certificate 2 is not a valid X.509 certificate",
        ),
    ];
    for (input, message) in cases {
        for add in [AzureTrust::add_roots_pem, AzureTrust::add_intermediates_pem] {
            let mut trust = AzureTrust::empty();
            let error = add(&mut trust, input.as_bytes()).expect_err(message);
            assert_eq!(error.to_string(), message);
            assert_eq!(error.kind(), Malformed);
            assert!(trust.certificates().is_empty(), "nothing added: {message}");
        }
    }
}

/// x509-cert reads version 1 certificates, but webpki only takes them as trust anchors.
#[test]
fn intermediates_must_be_usable_by_the_path_validator() {
    let fixture = fixture();
    let mut tbs = fixture
        .ca
        .intermediate()
        .certificate
        .tbs_certificate
        .clone();
    tbs.version = Version::V1;
    tbs.extensions = None;
    let v1 = resign(tbs, &fixture.ca.root().key);
    let mut trust = AzureTrust::empty();
    let error = trust
        .add_intermediates_pem(pem(&v1).as_bytes())
        .expect_err("v1 intermediate");
    assert_eq!(
        error.to_string(),
        "certificate 1 cannot be used for Azure chain validation"
    );
    assert_eq!(error.kind(), Malformed);
    assert_eq!(
        trust.add_roots_pem(pem(&v1).as_bytes()).expect("v1 root"),
        1
    );
}
