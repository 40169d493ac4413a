//! Real Azure attested documents: each verifies at its own time (with the historic roots and
//! intermediates it needs added as operator trust), and fails at 2026-12-04, after its own
//! expiry, with a flipped content byte, and through the AIA flow with only the bundled trust.

use idgate_verify::FailureKind::{
    CertificateExpired, CertificateUntrusted, DocumentExpired, SignatureInvalid,
};
use idgate_verify::UnixTime;
use idgate_verify::azure::{AzureProof, AzureTrust, verify_azure};

use crate::azure_support::{NOW, b64, chain_pem, check, data_dir, sample, unb64};

/// A real sample and what it verifies to.
struct Case {
    dir: &'static str,
    /// Files of the sample's `chain/` added as operator roots and intermediates.
    roots: &'static [&'static str],
    intermediates: &'static [&'static str],
    /// `timeStamp.createdOn` and `timeStamp.expiresOn`.
    created_on: i64,
    expires_on: i64,
    vm_id: &'static str,
    subscription_id: &'static str,
    nonce: &'static str,
    signer_name: &'static str,
}

const CASES: &[Case] = &[
    Case {
        dir: "coder-southcentralus-2022",
        roots: &["Baltimore_CyberTrust_Root.pem"],
        intermediates: &["Microsoft_RSA_TLS_CA_01.pem"],
        created_on: 1_650_331_641, // 04/19/22 01:27:21
        expires_on: 1_650_353_241,
        vm_id: "bd8e7443-24a0-41f3-b949-8baf4fd1c573",
        subscription_id: "5f130ffc-0a3e-4795-b691-4f56a12a5547",
        nonce: "20220419-072721",
        signer_name: "metadata.azure.com",
    },
    Case {
        dir: "coder-usgovvirginia-2023",
        roots: &[],
        intermediates: &["Microsoft_Azure_TLS_Issuing_CA_05.pem"],
        created_on: 1_678_295_373, // 03/08/23 17:09:33
        expires_on: 1_678_316_973,
        vm_id: "990878d4-068a-4ac4-9ee9-1231d2218ef2",
        subscription_id: "0afbfffa-5df9-4a3b-987e-fe7577624272",
        nonce: "20230308-230933",
        signer_name: "usgovvirginia.metadata.azure.us",
    },
    Case {
        dir: "redhat-sap-northeurope-2023",
        roots: &[],
        intermediates: &["Microsoft_Azure_TLS_Issuing_CA_05.pem"],
        created_on: 1_696_249_991, // 10/02/23 12:33:11
        expires_on: 1_696_271_591,
        vm_id: "6277b885-20b1-43ba-81a2-ee4e94e7c0af",
        subscription_id: "6a73742d-8c0a-4b2d-9c60-67c592a0df50",
        nonce: "20231002-183311",
        signer_name: "northeurope.metadata.azure.com",
    },
    Case {
        dir: "coder-eastus-2024",
        roots: &[],
        intermediates: &["Microsoft_Azure_RSA_TLS_Issuing_CA_08.pem"],
        created_on: 1_713_807_165, // 04/22/24 17:32:45
        expires_on: 1_713_828_765,
        vm_id: "960a4b4a-dab2-44ef-9b73-7753043b4f16",
        subscription_id: "05e8b285-4ce1-46a3-b4c9-f51ba67d6acc",
        nonce: "20240422-233245",
        signer_name: "eastus.metadata.azure.com",
    },
    Case {
        dir: "coder-eastus-2026",
        roots: &[],
        intermediates: &[],
        created_on: 1_782_413_805, // 06/25/26 18:56:45
        expires_on: 1_782_435_405,
        vm_id: "dc18de58-292f-4794-9a5d-a4192bad0039",
        subscription_id: "05e8b285-4ce1-46a3-b4c9-f51ba67d6acc",
        nonce: "20260626-005645",
        signer_name: "eastus.metadata.azure.com",
    },
];

/// The bundled trust plus the case's historic roots and intermediates.
fn trust_for(case: &Case) -> AzureTrust {
    let mut trust = AzureTrust::bundled();
    for file in case.roots {
        let added = trust
            .add_roots_pem(&chain_pem(case.dir, file))
            .expect("root");
        assert_eq!(added, 1, "{file}");
    }
    for file in case.intermediates {
        let added = trust
            .add_intermediates_pem(&chain_pem(case.dir, file))
            .expect("intermediate");
        assert_eq!(added, 1, "{file}");
    }
    trust
}

#[test]
fn every_sample_verifies_at_its_own_time() {
    for case in CASES {
        let sample = sample(case.dir);
        let trust = trust_for(case);
        for now in [case.created_on, case.expires_on] {
            let identity =
                check(&sample.signature, &trust, UnixTime(now), Ok(case.vm_id)).identity();
            assert_eq!(
                identity.subscription_id.as_deref(),
                Some(case.subscription_id)
            );
            assert_eq!(identity.nonce.as_deref(), Some(case.nonce));
            assert_eq!(identity.signer_name, case.signer_name);
            assert_eq!(identity.expires_at, UnixTime(case.expires_on));
        }
    }
}

/// The stored content and signer certificate are what the PKCS#7 holds.
#[test]
fn the_samples_hold_the_stored_content_and_signer() {
    for case in CASES {
        let sample = sample(case.dir);
        let der = unb64(&sample.signature);
        assert!(
            der.windows(sample.content.len())
                .any(|window| window == sample.content.as_slice()),
            "{}",
            case.dir
        );
        let signer_pem = std::fs::read_to_string(data_dir().join(case.dir).join("signer.pem"))
            .expect("signer.pem");
        let signer: String = signer_pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let bag = idgate_imds::azure::decode_signed_data(&der)
            .expect("SignedData")
            .certificates
            .expect("bag")
            .0
            .into_vec();
        assert_eq!(bag.len(), 1, "{}: only the signer", case.dir);
        let [cms::cert::CertificateChoices::Certificate(certificate)] = bag.as_slice() else {
            panic!("{}: not a certificate", case.dir);
        };
        assert_eq!(
            der::Encode::to_der(certificate).expect("DER"),
            unb64(&signer),
            "{}",
            case.dir
        );
    }
}

#[test]
fn every_sample_fails_today_because_its_signer_expired() {
    for case in CASES {
        let sample = sample(case.dir);
        check(
            &sample.signature,
            &trust_for(case),
            NOW,
            Err((
                CertificateExpired,
                "the Azure signer certificate has expired",
            )),
        );
    }
}

#[test]
fn every_sample_fails_after_its_expiry() {
    for case in CASES {
        let sample = sample(case.dir);
        check(
            &sample.signature,
            &trust_for(case),
            UnixTime(case.expires_on + 1),
            Err((DocumentExpired, "the Azure attested document has expired")),
        );
    }
}

#[test]
fn a_changed_content_byte_breaks_every_signature() {
    for case in CASES {
        let sample = sample(case.dir);
        let mut der = unb64(&sample.signature);
        // Change one character of the vmId inside the signed content, keeping the length.
        let at = der
            .windows(case.vm_id.len())
            .position(|window| window == case.vm_id.as_bytes())
            .expect("vmId in the DER");
        der[at] = if der[at] == b'0' { b'1' } else { b'0' };
        check(
            &b64(&der),
            &trust_for(case),
            UnixTime(case.created_on),
            Err((
                SignatureInvalid,
                "the PKCS#7 signature does not verify with the Azure signer certificate's key",
            )),
        );
    }
}

/// With only the bundled trust, the 2023 documents miss their (now expired) issuing CA: the
/// error carries the signer's AIA URL, and adding the CA fetched from it makes them verify.
#[test]
fn missing_issuing_ca_is_reported_with_its_aia_url_and_can_be_fetched() {
    let case = &CASES[1];
    let sample = sample(case.dir);
    let now = UnixTime(case.created_on);
    let mut trust = AzureTrust::bundled();
    let error = check(
        &sample.signature,
        &trust,
        now,
        Err((
            CertificateUntrusted,
            "the Azure signer certificate's issuing CA is not known; it can be fetched from the certificate's AIA URLs",
        )),
    ).error();
    assert_eq!(
        error.missing_intermediate_urls(),
        Some(
            [
                "http://www.microsoft.com/pkiops/certs/Microsoft%20Azure%20TLS%20Issuing%20CA%2005%20-%20xsign.crt"
                    .to_owned()
            ]
            .as_slice()
        )
    );
    // What the URL serves is the cross-signed variant (not stored); the DigiCert-issued
    // variant of the same CA stands in for it.
    let fetched = unb64(&pem_body(&chain_pem(
        case.dir,
        "Microsoft_Azure_TLS_Issuing_CA_05.pem",
    )));
    trust
        .add_fetched_intermediate(&fetched, now)
        .expect("CA 05 chains to DigiCert Global Root G2");
    check(&sample.signature, &trust, now, Ok(case.vm_id)).identity();
    // Today the same CA has expired and is refused.
    let mut today = AzureTrust::bundled();
    let refused = today
        .add_fetched_intermediate(&fetched, NOW)
        .expect_err("refused");
    assert_eq!(refused.kind(), CertificateExpired);
    assert_eq!(
        refused.to_string(),
        "the fetched certificate is expired or not yet valid"
    );
}

/// The 2022 document's issuing CA chains to Baltimore, which is not a pinned root: fetching it
/// does not help.
#[test]
fn a_fetched_ca_under_an_unpinned_root_is_refused() {
    let case = &CASES[0];
    let now = UnixTime(case.created_on);
    let mut trust = AzureTrust::bundled();
    let error = verify_azure(
        &AzureProof {
            signature: &sample(case.dir).signature,
        },
        &trust,
        now,
    )
    .expect_err("refused");
    assert_eq!(
        error.missing_intermediate_urls(),
        Some(
            [
                "http://www.microsoft.com/pki/mscorp/Microsoft%20RSA%20TLS%20CA%2001.crt"
                    .to_owned()
            ]
            .as_slice()
        )
    );
    let fetched = unb64(&pem_body(&chain_pem(
        case.dir,
        "Microsoft_RSA_TLS_CA_01.pem",
    )));
    let refused = trust
        .add_fetched_intermediate(&fetched, now)
        .expect_err("refused");
    assert_eq!(refused.kind(), CertificateUntrusted);
    assert_eq!(
        refused.to_string(),
        "the fetched certificate does not chain to a trusted Azure root"
    );
}

/// The 2026 document verifies with the bundled trust alone, through the self-signed
/// Microsoft TLS RSA Root G2 and through its cross-signature by DigiCert Global Root G2.
#[test]
fn the_2026_sample_chains_through_either_microsoft_tls_rsa_root_g2() {
    let case = &CASES[4];
    let sample = sample(case.dir);
    let now = UnixTime(case.created_on);
    check(
        &sample.signature,
        &AzureTrust::bundled(),
        now,
        Ok(case.vm_id),
    )
    .identity();

    let mut via_digicert = AzureTrust::empty();
    via_digicert
        .add_roots_pem(&chain_pem(case.dir, "DigiCert_Global_Root_G2.pem"))
        .expect("root");
    via_digicert
        .add_intermediates_pem(&chain_pem(case.dir, "Microsoft_TLS_G2_RSA_CA_OCSP_02.pem"))
        .expect("issuing CA");
    let error = verify_azure(
        &AzureProof {
            signature: &sample.signature,
        },
        &via_digicert,
        now,
    )
    .expect_err("refused");
    assert_eq!(error.kind(), CertificateUntrusted);
    assert!(
        error.missing_intermediate_urls().is_none(),
        "OCSP 02 is known"
    );
    via_digicert
        .add_intermediates_pem(&chain_pem(
            case.dir,
            "Microsoft_TLS_RSA_Root_G2_xsign_DigiCert_G2.pem",
        ))
        .expect("cross-signed root");
    check(&sample.signature, &via_digicert, now, Ok(case.vm_id)).identity();
}

#[test]
fn no_sample_verifies_without_trust() {
    for case in CASES {
        let sample = sample(case.dir);
        let error = verify_azure(
            &AzureProof {
                signature: &sample.signature,
            },
            &AzureTrust::empty(),
            UnixTime(case.created_on),
        )
        .expect_err("refused");
        assert_eq!(error.kind(), CertificateUntrusted, "{}", case.dir);
    }
}

/// The base64 body of a one-certificate PEM file.
fn pem_body(pem: &[u8]) -> String {
    String::from_utf8_lossy(pem)
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect()
}
