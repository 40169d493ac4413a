//! Synthetic Azure documents from the test CA of `idgate-imds`: the happy path, every attack
//! of the issue (unsigned content, a trusted certificate first in the bag while another key
//! signed, identifiers that match nothing, several signers, untrusted roots, wrong names,
//! expired documents and certificates, missing intermediates, refused algorithms) and a
//! negative test for every Azure error variant. Every check runs at the fixed [`NOW`].

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{CertificateSet, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, DerOrd as _, Encode as _};
use idgate_imds::azure::{
    self, ID_DATA, ID_SHA1, ID_SHA256, LeafSpec, RSA_ENCRYPTION, SHA256_WITH_RSA, SignedAttributes,
    SignerId, SignerSpec, attested_content,
};
use idgate_verify::FailureKind::{
    CertificateExpired, CertificateUntrusted, DocumentExpired, Malformed, SignatureInvalid,
};
use idgate_verify::UnixTime;
use idgate_verify::azure::AzureTrust;
use time::macros::datetime;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::azure_support::{
    AIA_URL, CREATED, NOW, SUBSCRIPTION_ID, VM_ID, azure_document, b64, ca_window, check, content,
    der, fixture, good_document, leaf, resign, sign, trust, trust_without_intermediate, unb64,
    window,
};

const UNTRUSTED_CHAIN: (idgate_verify::FailureKind, &str) = (
    CertificateUntrusted,
    "the Azure signer certificate does not chain to a trusted root",
);
const MISSING_INTERMEDIATE: (idgate_verify::FailureKind, &str) = (
    CertificateUntrusted,
    "the Azure signer certificate's issuing CA is not known; it can be fetched from the certificate's AIA URLs",
);
const BAD_SIGNATURE: (idgate_verify::FailureKind, &str) = (
    SignatureInvalid,
    "the PKCS#7 signature does not verify with the Azure signer certificate's key",
);
const WRONG_NAME: (idgate_verify::FailureKind, &str) = (
    CertificateUntrusted,
    "the Azure signer certificate is not issued for an Azure metadata service name",
);

#[test]
fn a_document_signed_like_azure_verifies() {
    let identity = check(&good_document(), &trust(), NOW, Ok(VM_ID)).identity();
    assert_eq!(identity.subscription_id.as_deref(), Some(SUBSCRIPTION_ID));
    assert_eq!(identity.nonce.as_deref(), Some("nonce-1"));
    assert_eq!(identity.signer_name, "metadata.azure.com");
    assert_eq!(identity.expires_at, UnixTime(NOW.0 + 5 * 3600));
}

#[test]
fn the_emulator_document_verifies() {
    let document = fixture()
        .ca
        .attested_document(VM_ID, SUBSCRIPTION_ID, None, CREATED);
    let identity = check(&document, &trust(), NOW, Ok(VM_ID)).identity();
    assert_eq!(identity.nonce.as_deref(), Some("20261204-050000"));
}

#[test]
fn content_changed_under_a_trusted_leaf_is_refused() {
    let leaf = fixture().ca.leaf();
    let signed = content();
    let forged = signed.replace(VM_ID, "00000000-0000-0000-0000-000000000000");
    assert_eq!(signed.len(), forged.len());
    let der = azure::signed_data(
        signed.as_bytes(),
        &[&leaf.certificate],
        &[SignerSpec::azure(&leaf.key, &leaf.certificate)],
    )
    .expect("SignedData");
    let mut signed_data = azure::decode_signed_data(&der).expect("decode");
    signed_data.encap_content_info.econtent =
        Some(Any::encode_from(&OctetString::new(forged.as_bytes()).expect("octets")).expect("any"));
    let forged_der = azure::encode_signed_data(&signed_data).expect("encode");
    check(&b64(&forged_der), &trust(), NOW, Err(BAD_SIGNATURE));
}

/// SPIRE's bug: a trusted `metadata.azure.com` certificate first in the bag, while the
/// SignerInfo names (and the signature is from) the attacker's certificate.
#[test]
fn a_trusted_certificate_first_in_the_bag_does_not_vouch_for_another_signer() {
    let fixture = fixture();
    let trusted = &fixture.ca.leaf().certificate;
    // Self-signed by the attacker, with Azure's name; more SAN names make its encoding longer,
    // so that DER order puts the trusted certificate first.
    let spec = LeafSpec {
        subject: "CN=metadata.azure.com,O=Microsoft Corporation,C=US".to_owned(),
        dns_names: [
            "metadata.azure.com",
            "eastus.metadata.azure.com",
            "westus.metadata.azure.com",
            "northeurope.metadata.azure.com",
            "southcentralus.metadata.azure.com",
            "westeurope.metadata.azure.com",
        ]
        .map(str::to_owned)
        .to_vec(),
        ca_issuers_urls: vec!["http://attacker.example/ca.crt".to_owned()],
        validity: ca_window(),
        serial: 7,
    };
    let self_signed = azure::leaf_certificate(
        &azure::Issued {
            key: fixture.attacker_key.clone(),
            certificate: fake_issuer("CN=metadata.azure.com,O=Microsoft Corporation,C=US"),
        },
        &fixture.attacker_key.to_public_key(),
        &spec,
    )
    .expect("self-signed attacker certificate");
    let from_attacker_ca = azure::leaf_certificate(
        &fixture.attacker_root,
        &fixture.attacker_key.to_public_key(),
        &spec,
    )
    .expect("attacker certificate");
    for attacker in [&self_signed, &from_attacker_ca] {
        let mut order = vec![attacker, trusted];
        cms_order(&mut order);
        assert_eq!(order[0], trusted, "the trusted certificate sorts first");
        let signer = SignerSpec::azure(&fixture.attacker_key, attacker);
        let document = sign(content().as_bytes(), &[trusted, attacker], &[signer]);
        let first = azure::decode_signed_data(&unb64(&document))
            .expect("decode")
            .certificates
            .expect("bag")
            .0
            .get(0)
            .cloned();
        assert!(matches!(first, Some(CertificateChoices::Certificate(first)) if first == *trusted));
        let expected = if attacker == &self_signed {
            UNTRUSTED_CHAIN
        } else {
            MISSING_INTERMEDIATE
        };
        check(&document, &trust(), NOW, Err(expected));
    }
    // With the attacker's CA in the bag too, the chain ends at an untrusted root.
    let signer = SignerSpec::azure(&fixture.attacker_key, &from_attacker_ca);
    let mut bag = vec![
        trusted,
        &from_attacker_ca,
        &fixture.attacker_root.certificate,
    ];
    cms_order(&mut bag);
    let document = sign(content().as_bytes(), &bag, &[signer]);
    check(&document, &trust(), NOW, Err(UNTRUSTED_CHAIN));
}

/// The certificate the attacker points at is refused by `add_fetched_intermediate`, so the
/// AIA flow cannot be used to smuggle in trust.
#[test]
fn an_attackers_aia_certificate_is_refused() {
    let mut trust = trust();
    let refused = trust
        .add_fetched_intermediate(&der(&fixture().attacker_root.certificate), NOW)
        .expect_err("refused");
    assert_eq!(refused.kind(), CertificateUntrusted);
}

#[test]
fn a_signer_identifier_that_matches_no_certificate_is_refused() {
    let leaf = fixture().ca.leaf();
    let not_found = (
        CertificateUntrusted,
        "no certificate in the PKCS#7 signature matches its signer identifier",
    );
    let mut signer = SignerSpec::azure(&leaf.key, &leaf.certificate);
    signer.id = SignerId::Custom(SignerIdentifier::IssuerAndSerialNumber(
        IssuerAndSerialNumber {
            issuer: leaf.certificate.tbs_certificate.issuer.clone(),
            serial_number: x509_cert::serial_number::SerialNumber::from(999_u64),
        },
    ));
    let document = sign(content().as_bytes(), &[&leaf.certificate], &[signer]);
    check(&document, &trust(), NOW, Err(not_found));
    // No bag at all.
    let signer = SignerSpec::azure(&leaf.key, &leaf.certificate);
    check(
        &sign(content().as_bytes(), &[], &[signer]),
        &trust(),
        NOW,
        Err(not_found),
    );
    // A subject key identifier nobody has.
    let mut signer = SignerSpec::azure(&leaf.key, &leaf.certificate);
    signer.id = SignerId::Custom(SignerIdentifier::SubjectKeyIdentifier(
        x509_cert::ext::pkix::SubjectKeyIdentifier(OctetString::new([1, 2, 3]).expect("octets")),
    ));
    let document = sign(content().as_bytes(), &[&leaf.certificate], &[signer]);
    check(&document, &trust(), NOW, Err(not_found));
}

#[test]
fn a_signer_named_by_subject_key_identifier_verifies() {
    let leaf = fixture().ca.leaf();
    let mut signer = SignerSpec::azure(&leaf.key, &leaf.certificate);
    signer.id = SignerId::SubjectKeyIdentifier;
    let document = sign(content().as_bytes(), &[&leaf.certificate], &[signer]);
    check(&document, &trust(), NOW, Ok(VM_ID)).identity();
}

#[test]
fn two_certificates_matching_the_identifier_are_refused() {
    let leaf_key = &fixture().ca.leaf().key;
    // Same issuer and serial (3, like the fixture leaf), other names.
    let twin = leaf(
        "CN=metadata.azure.com,O=Microsoft Corporation,C=US",
        &["metadata.azure.com", "x.metadata.azure.com"],
        ca_window(),
        3,
    );
    let original = &fixture().ca.leaf().certificate;
    let mut bag = vec![original, &twin];
    cms_order(&mut bag);
    let document = sign(
        content().as_bytes(),
        &bag,
        &[SignerSpec::azure(leaf_key, original)],
    );
    check(
        &document,
        &trust(),
        NOW,
        Err((
            Malformed,
            "several certificates in the PKCS#7 signature match its signer identifier",
        )),
    );
}

#[test]
fn exactly_one_signer_info_is_required() {
    let leaf = fixture().ca.leaf();
    let azure = SignerSpec::azure(&leaf.key, &leaf.certificate);
    let mut standard = azure.clone();
    standard.digest_algorithm = ID_SHA256;
    let two = sign(
        content().as_bytes(),
        &[&leaf.certificate],
        &[azure, standard],
    );
    check(
        &two,
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 signature must have exactly one signer, found 2",
        )),
    );
    let none = sign(content().as_bytes(), &[&leaf.certificate], &[]);
    check(
        &none,
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 signature must have exactly one signer, found 0",
        )),
    );
}

#[test]
fn a_chain_to_an_untrusted_root_is_refused() {
    let fixture = fixture();
    let names = ["metadata.azure.com"];
    let spec = LeafSpec {
        subject: "CN=metadata.azure.com".to_owned(),
        dns_names: names.iter().map(|name| (*name).to_owned()).collect(),
        ca_issuers_urls: Vec::new(),
        validity: ca_window(),
        serial: 9,
    };
    let attacker_leaf = azure::leaf_certificate(
        &fixture.attacker_root,
        &fixture.attacker_key.to_public_key(),
        &spec,
    )
    .expect("leaf");
    let document = azure_document(content().as_bytes(), &fixture.attacker_key, &attacker_leaf);
    // Without AIA URLs there is nothing to fetch.
    check(&document, &trust(), NOW, Err(UNTRUSTED_CHAIN));
    // The attacker's root as an operator *intermediate* does not make it trusted.
    let mut trust = trust();
    trust
        .add_intermediates_pem(
            crate::azure_support::pem(&fixture.attacker_root.certificate).as_bytes(),
        )
        .expect("intermediate");
    check(&document, &trust, NOW, Err(UNTRUSTED_CHAIN));
    // The test root is not bundled: the fixture's own documents need it.
    check(
        &good_document(),
        &AzureTrust::bundled(),
        NOW,
        Err(MISSING_INTERMEDIATE),
    );
}

#[test]
fn signer_names_must_be_azure_metadata_names() {
    let key = &fixture().ca.leaf().key;
    let cases: &[(&str, &[&str], Result<&str, ()>)] = &[
        (
            "CN=metadata.azure.com",
            &["metadata.azure.com.evil.net"],
            Err(()),
        ),
        (
            "CN=metadata.azure.com",
            &["evilmetadata.azure.com"],
            Err(()),
        ),
        (
            "CN=metadata.azure.com",
            &["metadata.azure.org", "azure.com"],
            Err(()),
        ),
        ("CN=evil.example", &[], Err(())),
        (
            "CN=x.metadata.azure.com",
            &["x.metadata.azure.com"],
            Ok("x.metadata.azure.com"),
        ),
        ("CN=metadata.azure.us", &[], Ok("metadata.azure.us")),
        (
            "CN=idgate",
            &["evil.net", "METADATA.AZURE.CN"],
            Ok("metadata.azure.cn"),
        ),
        (
            "CN=idgate",
            &["metadata.microsoftazure.de"],
            Ok("metadata.microsoftazure.de"),
        ),
    ];
    for (serial, (subject, names, expected)) in (100..).zip(cases) {
        let certificate = leaf(subject, names, ca_window(), serial);
        let document = azure_document(content().as_bytes(), key, &certificate);
        match expected {
            Ok(name) => {
                let identity = check(&document, &trust(), NOW, Ok(VM_ID)).identity();
                assert_eq!(identity.signer_name, *name);
            }
            Err(()) => {
                check(&document, &trust(), NOW, Err(WRONG_NAME));
            }
        }
    }
}

#[test]
fn expired_and_future_documents_are_refused() {
    let leaf = fixture().ca.leaf();
    let at = |created| {
        let content = attested_content(VM_ID, SUBSCRIPTION_ID, None, created).expect("content");
        azure_document(content.as_bytes(), &leaf.key, &leaf.certificate)
    };
    check(
        &at(datetime!(2026-12-03 17:59:59 UTC)),
        &trust(),
        NOW,
        Err((DocumentExpired, "the Azure attested document has expired")),
    );
    check(
        &at(datetime!(2026-12-03 18:00:00 UTC)),
        &trust(),
        NOW,
        Ok(VM_ID),
    )
    .identity();
    check(
        &at(datetime!(2026-12-04 0:05 UTC)),
        &trust(),
        NOW,
        Ok(VM_ID),
    )
    .identity();
    check(
        &at(datetime!(2026-12-04 0:05:01 UTC)),
        &trust(),
        NOW,
        Err((
            DocumentExpired,
            "the Azure attested document was created more than 5 minutes in the future",
        )),
    );
    check(
        &at(datetime!(2027-01-01 0:00 UTC)),
        &trust(),
        NOW,
        Err((
            DocumentExpired,
            "the Azure attested document was created more than 5 minutes in the future",
        )),
    );
}

#[test]
fn signer_certificates_outside_their_validity_are_refused() {
    let key = &fixture().ca.leaf().key;
    let expired = leaf(
        "CN=metadata.azure.com",
        &["metadata.azure.com"],
        window(
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2026-12-03 23:59:59 UTC),
        ),
        20,
    );
    check(
        &azure_document(content().as_bytes(), key, &expired),
        &trust(),
        NOW,
        Err((
            CertificateExpired,
            "the Azure signer certificate has expired",
        )),
    );
    let future = leaf(
        "CN=metadata.azure.com",
        &["metadata.azure.com"],
        window(
            datetime!(2026-12-04 0:00:01 UTC),
            datetime!(2027-01-01 0:00 UTC),
        ),
        21,
    );
    check(
        &azure_document(content().as_bytes(), key, &future),
        &trust(),
        NOW,
        Err((
            CertificateExpired,
            "the Azure signer certificate is not valid yet",
        )),
    );
}

#[test]
fn an_expired_intermediate_is_refused() {
    let fixture = fixture();
    let expired_intermediate = azure::intermediate_certificate(
        fixture.ca.root(),
        &fixture.ca.intermediate().key.to_public_key(),
        idgate_imds::azure::INTERMEDIATE_SUBJECT,
        window(
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2026-12-01 0:00 UTC),
        ),
        30,
    )
    .expect("intermediate");
    let mut trust = trust_without_intermediate();
    trust
        .add_intermediates_pem(crate::azure_support::pem(&expired_intermediate).as_bytes())
        .expect("expired intermediates are accepted from the operator");
    let error = check(
        &good_document(),
        &trust,
        NOW,
        Err((
            CertificateExpired,
            "a certificate in the Azure signer's chain is expired or not yet valid",
        )),
    )
    .error();
    assert!(std::error::Error::source(&error).is_some());
}

/// The whole AIA flow: the error carries the leaf's URL, the intermediate "fetched" from it
/// is accepted, and the document verifies.
#[test]
fn a_missing_intermediate_can_be_fetched() {
    let mut trust = trust_without_intermediate();
    let error = check(&good_document(), &trust, NOW, Err(MISSING_INTERMEDIATE)).error();
    assert_eq!(
        error.missing_intermediate_urls(),
        Some([AIA_URL.to_owned()].as_slice())
    );
    let fetched = fixture().ca.intermediate().certificate_der().expect("DER");
    trust
        .add_fetched_intermediate(&fetched, NOW)
        .expect("chains to the test root");
    check(&good_document(), &trust, NOW, Ok(VM_ID)).identity();
    // Adding it again is harmless.
    trust
        .add_fetched_intermediate(&fetched, NOW)
        .expect("again");
    assert_eq!(
        trust.certificates().len(),
        trust_without_intermediate().certificates().len() + 1
    );
}

#[test]
fn fetched_certificates_must_be_trusted_valid_cas() {
    let fixture = fixture();
    let mut trust = trust_without_intermediate();
    let cases: Vec<(Vec<u8>, idgate_verify::FailureKind, &str)> = vec![
        (
            der(&fixture.ca.leaf().certificate),
            CertificateUntrusted,
            "the fetched certificate is not a CA certificate",
        ),
        (
            der(&fixture.attacker_root.certificate),
            CertificateUntrusted,
            "the fetched certificate does not chain to a trusted Azure root",
        ),
        (
            der(&azure::intermediate_certificate(
                &fixture.attacker_root,
                &fixture.attacker_key.to_public_key(),
                idgate_imds::azure::INTERMEDIATE_SUBJECT,
                ca_window(),
                31,
            )
            .expect("look-alike")),
            CertificateUntrusted,
            "the fetched certificate does not chain to a trusted Azure root",
        ),
        (
            der(&azure::intermediate_certificate(
                fixture.ca.root(),
                &fixture.ca.intermediate().key.to_public_key(),
                idgate_imds::azure::INTERMEDIATE_SUBJECT,
                window(
                    datetime!(2026-01-01 0:00 UTC),
                    datetime!(2026-12-01 0:00 UTC),
                ),
                32,
            )
            .expect("expired")),
            CertificateExpired,
            "the fetched certificate is expired or not yet valid",
        ),
        (
            b"<html>not a certificate</html>".to_vec(),
            Malformed,
            "the fetched data is not a DER X.509 certificate",
        ),
    ];
    for (fetched, kind, message) in cases {
        let error = trust
            .add_fetched_intermediate(&fetched, NOW)
            .expect_err(message);
        assert_eq!(error.to_string(), message);
        assert_eq!(error.kind(), kind, "{message}");
    }
    assert_eq!(
        trust.certificates().len(),
        trust_without_intermediate().certificates().len(),
        "nothing was added"
    );
    check(&good_document(), &trust, NOW, Err(MISSING_INTERMEDIATE));
}

#[test]
fn only_sha256_digest_algorithms_are_accepted() {
    let leaf = fixture().ca.leaf();
    for (digest, signature, expected) in [
        (SHA256_WITH_RSA, RSA_ENCRYPTION, Ok(VM_ID)),
        (ID_SHA256, RSA_ENCRYPTION, Ok(VM_ID)),
        (ID_SHA256, SHA256_WITH_RSA, Ok(VM_ID)),
        (
            ID_SHA1,
            RSA_ENCRYPTION,
            Err((Malformed, "the PKCS#7 digest algorithm is not supported")),
        ),
        (
            // sha1WithRSAEncryption
            ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5"),
            RSA_ENCRYPTION,
            Err((Malformed, "the PKCS#7 digest algorithm is not supported")),
        ),
        (
            // sha512
            ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3"),
            RSA_ENCRYPTION,
            Err((Malformed, "the PKCS#7 digest algorithm is not supported")),
        ),
        (
            SHA256_WITH_RSA,
            // ecdsa-with-SHA256
            ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
            Err((Malformed, "the PKCS#7 signature algorithm is not supported")),
        ),
    ] {
        let mut signer = SignerSpec::azure(&leaf.key, &leaf.certificate);
        signer.digest_algorithm = digest;
        signer.signature_algorithm = signature;
        let document = sign(content().as_bytes(), &[&leaf.certificate], &[signer]);
        let _ = check(&document, &trust(), NOW, expected);
    }
}

#[test]
fn signed_attributes_follow_the_cms_rules() {
    let leaf = fixture().ca.leaf();
    let document = |attributes| {
        let mut signer = SignerSpec::azure(&leaf.key, &leaf.certificate);
        signer.digest_algorithm = ID_SHA256;
        signer.signed_attributes = attributes;
        sign(content().as_bytes(), &[&leaf.certificate], &[signer])
    };
    check(
        &document(SignedAttributes::Standard),
        &trust(),
        NOW,
        Ok(VM_ID),
    )
    .identity();
    check(
        &document(SignedAttributes::Custom {
            content_type: ID_DATA,
            message_digest: vec![0; 32],
        }),
        &trust(),
        NOW,
        Err((
            SignatureInvalid,
            "the PKCS#7 message digest does not match the signed document",
        )),
    );
    let digest = <sha2::Sha256 as sha2::Digest>::digest(content().as_bytes()).to_vec();
    check(
        &document(SignedAttributes::Custom {
            content_type: ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2"),
            message_digest: digest,
        }),
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 contentType signed attribute has an unexpected content type",
        )),
    );
}

/// A signed attribute removed or given a value of the wrong type (after signing: these
/// checks come before the signature's).
#[test]
fn signed_attributes_must_be_present_once_with_the_right_type() {
    let leaf = fixture().ca.leaf();
    let mut signer = SignerSpec::azure(&leaf.key, &leaf.certificate);
    signer.digest_algorithm = ID_SHA256;
    signer.signed_attributes = SignedAttributes::Standard;
    let der = azure::signed_data(content().as_bytes(), &[&leaf.certificate], &[signer])
        .expect("SignedData");
    let edit = |change: &dyn Fn(&mut Vec<x509_cert::attr::Attribute>)| {
        let mut signed_data = azure::decode_signed_data(&der).expect("decode");
        let mut infos = signed_data.signer_infos.0.into_vec();
        let attributes = infos[0].signed_attrs.take().expect("attributes");
        let mut attributes = attributes.into_vec();
        change(&mut attributes);
        infos[0].signed_attrs = Some(SetOfVec::try_from(attributes).expect("set"));
        signed_data.signer_infos =
            cms::signed_data::SignerInfos(SetOfVec::try_from(infos).expect("set"));
        b64(&azure::encode_signed_data(&signed_data).expect("encode"))
    };
    let message_digest = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
    let removed =
        edit(&|attributes| attributes.retain(|attribute| attribute.oid != message_digest));
    check(
        &removed,
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 signed attributes lack the messageDigest attribute",
        )),
    );
    let wrong_type = edit(&|attributes| {
        for attribute in attributes
            .iter_mut()
            .filter(|attribute| attribute.oid == message_digest)
        {
            attribute.values =
                SetOfVec::try_from(vec![Any::encode_from(&der::asn1::Null).expect("any")])
                    .expect("set");
        }
    });
    check(
        &wrong_type,
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 messageDigest signed attribute is invalid",
        )),
    );
}

#[test]
fn document_fields_are_required() {
    let leaf = fixture().ca.leaf();
    let cases = [
        (
            r#"{"subscriptionId":"s","timeStamp":{"createdOn":"12/03/26 23:00:00 -0000","expiresOn":"12/04/26 05:00:00 -0000"}}"#,
            "the Azure attested document has no valid `vmId` field",
        ),
        (
            r#"{"vmId":"v","timeStamp":{"createdOn":"12/03/26 23:00:00 -0000","expiresOn":"2026-12-04T05:00:00Z"}}"#,
            "the Azure attested document has no valid `timeStamp.expiresOn` field",
        ),
        (
            r#"{"vmId":"v"}"#,
            "the Azure attested document has no valid `timeStamp` field",
        ),
        (
            "not json",
            "the Azure attested document is not a JSON object",
        ),
    ];
    for (json, message) in cases {
        let document = azure_document(json.as_bytes(), &leaf.key, &leaf.certificate);
        check(&document, &trust(), NOW, Err((Malformed, message)));
    }
}

#[test]
fn the_signer_key_must_be_rsa_2048_or_more() {
    let fixture = fixture();
    let spec = LeafSpec {
        subject: "CN=metadata.azure.com".to_owned(),
        dns_names: vec!["metadata.azure.com".to_owned()],
        ca_issuers_urls: vec![AIA_URL.to_owned()],
        validity: ca_window(),
        serial: 40,
    };
    let weak = azure::leaf_certificate(
        fixture.ca.intermediate(),
        &fixture.weak_key.to_public_key(),
        &spec,
    )
    .expect("leaf");
    check(
        &azure_document(content().as_bytes(), &fixture.weak_key, &weak),
        &trust(),
        NOW,
        Err((
            SignatureInvalid,
            "the Azure signer certificate does not hold an RSA key of 2048 to 4096 bits",
        )),
    );
}

#[test]
fn a_broken_san_extension_is_refused() {
    let fixture = fixture();
    let good = leaf(
        "CN=metadata.azure.com",
        &["metadata.azure.com"],
        ca_window(),
        41,
    );
    let mut tbs = good.tbs_certificate.clone();
    let san = SubjectAltName(vec![GeneralName::DnsName(
        der::asn1::Ia5String::new("metadata.azure.com").expect("name"),
    )]);
    let extensions = tbs.extensions.get_or_insert_with(Vec::new);
    extensions.push(Extension {
        extn_id: ObjectIdentifier::new_unwrap("2.5.29.17"),
        critical: false,
        extn_value: der::asn1::OctetString::new(san.to_der().expect("SAN")).expect("octets"),
    });
    let duplicated = resign(tbs, &fixture.ca.intermediate().key);
    check(
        &azure_document(content().as_bytes(), &fixture.ca.leaf().key, &duplicated),
        &trust(),
        NOW,
        Err((
            Malformed,
            "the Azure signer certificate has an invalid subject alternative name extension",
        )),
    );
}

#[test]
fn a_ca_certificate_cannot_sign_documents() {
    let fixture = fixture();
    let ca_signer = azure::intermediate_certificate(
        fixture.ca.intermediate(),
        &fixture.ca.leaf().key.to_public_key(),
        "CN=metadata.azure.com",
        ca_window(),
        42,
    )
    .expect("CA");
    check(
        &azure_document(content().as_bytes(), &fixture.ca.leaf().key, &ca_signer),
        &trust(),
        NOW,
        Err((
            CertificateUntrusted,
            "the Azure signer certificate's chain was refused: the signer certificate is a CA certificate",
        )),
    );
}

#[test]
fn the_bag_is_read_strictly() {
    let fixture = fixture();
    let leaf = fixture.ca.leaf();
    let signer = SignerSpec::azure(&leaf.key, &leaf.certificate);
    // Out of DER order.
    let mut bag = vec![&leaf.certificate, &fixture.ca.root().certificate];
    cms_order(&mut bag);
    bag.reverse();
    check(
        &sign(content().as_bytes(), &bag, std::slice::from_ref(&signer)),
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 signature is not in canonical DER form",
        )),
    );
    // More than eight certificates.
    let many: Vec<Certificate> = (200..209).map(leaf_certificate_numbered).collect();
    let mut bag: Vec<&Certificate> = many.iter().collect();
    bag.push(&leaf.certificate);
    cms_order(&mut bag);
    check(
        &sign(content().as_bytes(), &bag, std::slice::from_ref(&signer)),
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 signature holds more than 8 certificates",
        )),
    );
    // An entry that is not an X.509 certificate.
    let der = azure::signed_data(content().as_bytes(), &[&leaf.certificate], &[signer])
        .expect("SignedData");
    let mut signed_data = azure::decode_signed_data(&der).expect("decode");
    let other = cms::cert::OtherCertificateFormat {
        other_cert_format: ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1"),
        other_cert: Any::encode_from(&der::asn1::Null).expect("any"),
    };
    let set = SetOfVec::try_from(vec![
        CertificateChoices::Certificate(leaf.certificate.clone()),
        CertificateChoices::Other(other),
    ])
    .expect("set");
    signed_data.certificates = Some(CertificateSet(set));
    check(
        &b64(&azure::encode_signed_data(&signed_data).expect("encode")),
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 signature holds a certificate entry that is not an X.509 certificate",
        )),
    );
}

fn leaf_certificate_numbered(serial: u64) -> Certificate {
    leaf(
        "CN=metadata.azure.com",
        &["metadata.azure.com"],
        ca_window(),
        serial,
    )
}

#[test]
fn malformed_inputs_are_refused() {
    let der = unb64(&good_document());
    let mut trailing = der.clone();
    trailing.push(0);
    let cases: Vec<(String, &str)> = vec![
        (
            String::new(),
            "the `signature` field is empty or larger than 32768 bytes",
        ),
        (
            "@@@@".to_owned(),
            "the `signature` field is not valid base64",
        ),
        (
            b64(b"\x30\x03\x02\x01\x01"),
            "the `signature` field is not a valid CMS ContentInfo",
        ),
        (
            b64(&trailing),
            "the `signature` field is not a valid CMS ContentInfo",
        ),
        (
            b64(&der[..der.len() / 2]),
            "the `signature` field is not a valid CMS ContentInfo",
        ),
    ];
    for (signature, message) in cases {
        check(&signature, &trust(), NOW, Err((Malformed, message)));
    }
    // A ContentInfo of another type.
    let content_info = cms::content_info::ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(b"{}".to_vec()).expect("octets")).expect("any"),
    };
    check(
        &b64(&content_info.to_der().expect("DER")),
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 ContentInfo has an unexpected content type",
        )),
    );
    // A detached signature, and encapsulated content of another type.
    let mut signed_data = azure::decode_signed_data(&der).expect("decode");
    signed_data.encap_content_info.econtent = None;
    check(
        &b64(&azure::encode_signed_data(&signed_data).expect("encode")),
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 signature does not contain the signed document",
        )),
    );
    let mut signed_data = azure::decode_signed_data(&der).expect("decode");
    signed_data.encap_content_info.econtent_type =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
    check(
        &b64(&azure::encode_signed_data(&signed_data).expect("encode")),
        &trust(),
        NOW,
        Err((
            Malformed,
            "the PKCS#7 encapsulated content has an unexpected content type",
        )),
    );
}

/// Sorts certificates the way the `cms` decoder orders the SET OF certificates (which is
/// what the verifier's canonical-encoding check compares against).
fn cms_order(bag: &mut [&Certificate]) {
    bag.sort_by(|a, b| {
        let a = CertificateChoices::Certificate((*a).clone());
        let b = CertificateChoices::Certificate((*b).clone());
        a.der_cmp(&b).expect("compare")
    });
}

/// A certificate whose issuer has the name but not the key of `subject` (the builder needs
/// an issuer certificate; only its name is used).
fn fake_issuer(subject: &str) -> Certificate {
    let fixture = fixture();
    let mut tbs = fixture.attacker_root.certificate.tbs_certificate.clone();
    tbs.subject = std::str::FromStr::from_str(subject).expect("name");
    resign(tbs, &fixture.attacker_key)
}
