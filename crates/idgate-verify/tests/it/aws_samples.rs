//! Real AWS samples: each verifies, and each one-byte or cross-instance twin fails.

use idgate_verify::FailureKind::{CertificateUntrusted, Malformed, SignatureInvalid};
use idgate_verify::aws::{AwsKeyKind, AwsProof, AwsTrust};

use crate::{Sample, cert_pem, check, sample};

const CODER: &str = "coder-us-east-1-2022";
const RSPAMD_02: &str = "rspamd-us-east-1-2024-02";
const RSPAMD_04: &str = "rspamd-us-east-1-2024-04";
const ANSIBLE_A: &str = "ansible-ap-northeast-2-i-0140f65cf5b9ba76a";
const ANSIBLE_B: &str = "ansible-ap-northeast-2-i-00e3338c5c02cfd02";
const TELEPORT_W2: &str = "teleport-us-west-2-2021";
const TELEPORT_W1: &str = "teleport-us-west-1-2021";
const GRAIL_2016: &str = "grailbio-us-west-2-2016";
const GRAIL_2017: &str = "grailbio-us-west-2-2017";

/// Which signature of a sample a proof carries.
#[derive(Clone, Copy, Debug)]
enum Part {
    Signature,
    Rsa2048,
    Pkcs7,
}

fn proof<'a>(sample: &'a Sample, parts: &[Part]) -> AwsProof<'a> {
    let mut proof = AwsProof {
        document: &sample.document,
        signature: None,
        pkcs7: None,
    };
    for part in parts {
        match part {
            Part::Signature => proof.signature = sample.signature.as_deref(),
            Part::Rsa2048 => proof.pkcs7 = sample.rsa2048.as_deref(),
            Part::Pkcs7 => proof.pkcs7 = sample.pkcs7.as_deref(),
        }
    }
    proof
}

/// Every real sample with every signature it has, alone and combined.
/// A sample directory, the signatures a proof carries, and the identity it verifies to.
type Case = (&'static str, Vec<Part>, Identity);
type Identity = (&'static str, &'static str, Option<&'static str>);

fn cases() -> Vec<Case> {
    use Part::*;
    let coder = ("i-076e9b91f7c420782", "us-east-1", Some("628783029487"));
    let rspamd_02 = ("i-0b02d936754a6d637", "us-east-1", Some("975050371289"));
    let rspamd_04 = ("i-0ce4441c840a0a941", "us-east-1", Some("975050371289"));
    let ansible_a = (
        "i-0140f65cf5b9ba76a",
        "ap-northeast-2",
        Some("707811555388"),
    );
    let ansible_b = (
        "i-00e3338c5c02cfd02",
        "ap-northeast-2",
        Some("707811555388"),
    );
    let teleport_w2 = ("i-078517ca8a70a1dde", "us-west-2", Some("278576220453"));
    let teleport_w1 = ("i-01b940c45fd11fe74", "us-west-1", Some("883474662888"));
    let grail_2016 = ("i-0269a78c81708088a", "us-west-2", Some("010581823808"));
    let grail_2017 = ("i-06af9bb2a3a2861cd", "us-west-2", Some("619867110810"));
    vec![
        (CODER, vec![Signature], coder),
        (RSPAMD_02, vec![Signature], rspamd_02),
        (RSPAMD_04, vec![Signature], rspamd_04),
        (ANSIBLE_A, vec![Signature], ansible_a),
        (ANSIBLE_A, vec![Rsa2048], ansible_a),
        (ANSIBLE_A, vec![Pkcs7], ansible_a),
        (ANSIBLE_A, vec![Signature, Rsa2048], ansible_a),
        (ANSIBLE_A, vec![Signature, Pkcs7], ansible_a),
        (ANSIBLE_B, vec![Signature], ansible_b),
        (ANSIBLE_B, vec![Rsa2048], ansible_b),
        (ANSIBLE_B, vec![Pkcs7], ansible_b),
        (ANSIBLE_B, vec![Signature, Rsa2048], ansible_b),
        (TELEPORT_W2, vec![Rsa2048], teleport_w2),
        (TELEPORT_W1, vec![Rsa2048], teleport_w1),
        (GRAIL_2016, vec![Pkcs7], grail_2016),
        (GRAIL_2017, vec![Pkcs7], grail_2017),
    ]
}

#[test]
fn every_real_sample_verifies() {
    let trust = AwsTrust::bundled();
    for (dir, parts, identity) in cases() {
        let sample = sample(dir);
        println!("{dir} {parts:?}");
        check(proof(&sample, &parts), &trust, Ok(identity));
    }
}

#[test]
fn pending_time_is_reported() {
    let sample = sample(GRAIL_2017);
    let identity = idgate_verify::aws::verify_aws(
        &proof(&sample, &[Part::Pkcs7]),
        &AwsTrust::bundled(),
        crate::NOW,
    )
    .expect("verifies");
    assert_eq!(
        identity.pending_time.as_deref(),
        Some("2017-12-05T02:10:42Z")
    );
}

/// Changes one byte of the document: `x86_64` becomes `X86_64`.
fn alter_one_byte(document: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(document.to_vec()).expect("UTF-8 document");
    assert_eq!(text.matches("\"x86_64\"").count(), 1);
    text.replace("\"x86_64\"", "\"X86_64\"").into_bytes()
}

#[test]
fn every_document_altered_by_one_byte_fails() {
    let trust = AwsTrust::bundled();
    for (dir, parts, (_, region, _)) in cases() {
        let sample = sample(dir);
        let altered = alter_one_byte(&sample.document);
        let mut proof = proof(&sample, &parts);
        proof.document = &altered;
        println!("{dir} {parts:?}");
        let message = match parts.as_slice() {
            // With the RSA signature present, it is checked first.
            [Part::Signature, ..] => {
                format!(
                    "the `signature` does not verify with any trusted AWS key for region {region}"
                )
            }
            _ => "the PKCS#7 signed content is not the identity document that was sent".to_owned(),
        };
        check(proof, &trust, Err((SignatureInvalid, &message)));
    }
}

#[test]
fn one_instances_pkcs7_with_another_instances_document_fails() {
    // SPIRE 1.14.6: a valid PKCS#7 must not vouch for a different document.
    let trust = AwsTrust::bundled();
    let a = sample(ANSIBLE_A);
    let b = sample(ANSIBLE_B);
    let mismatch = "the PKCS#7 signed content is not the identity document that was sent";
    for pkcs7 in [&a.pkcs7, &a.rsa2048] {
        let proof = AwsProof {
            document: &b.document,
            signature: None,
            pkcs7: pkcs7.as_deref(),
        };
        check(proof, &trust, Err((SignatureInvalid, mismatch)));
    }
    // Each instance's own signature is fine; the other's PKCS#7 still fails.
    let proof = AwsProof {
        document: &b.document,
        signature: b.signature.as_deref(),
        pkcs7: a.rsa2048.as_deref(),
    };
    check(proof, &trust, Err((SignatureInvalid, mismatch)));
    // And another instance's RSA signature fails too.
    let proof = AwsProof {
        document: &b.document,
        signature: a.signature.as_deref(),
        pkcs7: None,
    };
    check(
        proof,
        &trust,
        Err((
            SignatureInvalid,
            "the `signature` does not verify with any trusted AWS key for region ap-northeast-2",
        )),
    );
}

#[test]
fn both_signatures_must_verify() {
    let trust = AwsTrust::bundled();
    let a = sample(ANSIBLE_A);
    let mut bad_signature = crate::unb64(a.signature.as_deref().expect("signature"));
    bad_signature[10] ^= 1;
    let bad_signature = crate::b64(&bad_signature);
    let proof = AwsProof {
        document: &a.document,
        signature: Some(&bad_signature),
        pkcs7: a.rsa2048.as_deref(),
    };
    check(
        proof,
        &trust,
        Err((
            SignatureInvalid,
            "the `signature` does not verify with any trusted AWS key for region ap-northeast-2",
        )),
    );
}

#[test]
fn signature_checked_against_the_wrong_regions_key_fails() {
    // us-east-1 documents verified with ap-east-1's key (an opt-in region with its own key).
    let mut trust = AwsTrust::empty();
    let added = trust
        .add_region_pem(
            "us-east-1",
            AwsKeyKind::Signature,
            &cert_pem("rsa/ap-east-1.pem"),
        )
        .expect("valid certificate");
    assert_eq!(added, 1);
    let sample = sample(CODER);
    check(
        proof(&sample, &[Part::Signature]),
        &trust,
        Err((
            SignatureInvalid,
            "the `signature` does not verify with any trusted AWS key for region us-east-1",
        )),
    );
    // The same trust with the right key added verifies.
    trust
        .add_region_pem(
            "us-east-1",
            AwsKeyKind::Signature,
            &cert_pem("rsa/us-east-1.pem"),
        )
        .expect("valid certificate");
    check(
        proof(&sample, &[Part::Signature]),
        &trust,
        Ok(("i-076e9b91f7c420782", "us-east-1", Some("628783029487"))),
    );
}

#[test]
fn pkcs7_signed_by_another_regions_certificate_is_untrusted() {
    // ap-northeast-2's rsa2048 PKCS#7, but only us-west-2's rsa2048 certificate is trusted
    // for ap-northeast-2: the signer (issuer + serial) is not found.
    let mut trust = AwsTrust::empty();
    trust
        .add_region_pem(
            "ap-northeast-2",
            AwsKeyKind::Rsa2048,
            &cert_pem("rsa2048/us-west-2.pem"),
        )
        .expect("valid certificate");
    let sample = sample(ANSIBLE_A);
    let untrusted = "the PKCS#7 signer is not a trusted AWS certificate for region ap-northeast-2; pass it with --aws-certs";
    check(
        proof(&sample, &[Part::Rsa2048]),
        &trust,
        Err((CertificateUntrusted, untrusted)),
    );
    // The bundled rsa/ (signature) certificate of the region is never a PKCS#7 signer.
    let mut trust = AwsTrust::empty();
    trust
        .add_region_pem(
            "ap-northeast-2",
            AwsKeyKind::Signature,
            &cert_pem("rsa/ap-northeast-2.pem"),
        )
        .expect("valid certificate");
    check(
        proof(&sample, &[Part::Rsa2048]),
        &trust,
        Err((CertificateUntrusted, untrusted)),
    );
}

#[test]
fn region_with_own_dsa_certificate_does_not_use_the_generic_one() {
    // A region listed with its own DSA certificate does not fall back to AWS's generic one,
    // so a legacy PKCS#7 signed by the generic key is untrusted there.
    let mut trust = AwsTrust::bundled();
    trust
        .add_region_pem(
            "us-west-2",
            AwsKeyKind::Dsa,
            &cert_pem("dsa/af-south-1.pem"),
        )
        .expect("valid certificate");
    let sample = sample(GRAIL_2016);
    check(
        proof(&sample, &[Part::Pkcs7]),
        &trust,
        Err((
            CertificateUntrusted,
            "the PKCS#7 signer is not a trusted AWS certificate for region us-west-2; pass it with --aws-certs",
        )),
    );
}

#[test]
fn region_without_key_is_untrusted() {
    let sample = sample(CODER);
    let text = String::from_utf8(sample.document.clone()).expect("UTF-8");
    let document = text.replace("\"us-east-1\"", "\"zz-none-1\"").into_bytes();
    let proof = AwsProof {
        document: &document,
        signature: sample.signature.as_deref(),
        pkcs7: None,
    };
    check(
        proof,
        &AwsTrust::bundled(),
        Err((
            CertificateUntrusted,
            "no trusted AWS certificate for region zz-none-1; pass it with --aws-certs",
        )),
    );
    // An empty trust store has no key for any region.
    check(
        AwsProof {
            document: &sample.document,
            signature: sample.signature.as_deref(),
            pkcs7: None,
        },
        &AwsTrust::empty(),
        Err((
            CertificateUntrusted,
            "no trusted AWS certificate for region us-east-1; pass it with --aws-certs",
        )),
    );
}

#[test]
fn garbage_base64_is_malformed() {
    let trust = AwsTrust::bundled();
    let sample = sample(ANSIBLE_A);
    for garbage in ["not base64!", "QUJD=", "QU*D", "QUJ"] {
        let proof = AwsProof {
            document: &sample.document,
            signature: Some(garbage),
            pkcs7: None,
        };
        check(
            proof,
            &trust,
            Err((Malformed, "the `signature` field is not valid base64")),
        );
        let proof = AwsProof {
            document: &sample.document,
            signature: None,
            pkcs7: Some(garbage),
        };
        check(
            proof,
            &trust,
            Err((Malformed, "the `pkcs7` field is not valid base64")),
        );
    }
}

#[test]
fn wrapped_base64_is_accepted_with_any_whitespace() {
    let trust = AwsTrust::bundled();
    let sample = sample(ANSIBLE_A);
    let rsa2048: String = sample
        .rsa2048
        .as_deref()
        .expect("rsa2048")
        .split_ascii_whitespace()
        .collect::<Vec<_>>()
        .join("\r\n\t ");
    let proof = AwsProof {
        document: &sample.document,
        signature: None,
        pkcs7: Some(&rsa2048),
    };
    check(
        proof,
        &trust,
        Ok((
            "i-0140f65cf5b9ba76a",
            "ap-northeast-2",
            Some("707811555388"),
        )),
    );
}

#[test]
fn missing_both_signatures_is_malformed() {
    let sample = sample(ANSIBLE_A);
    let proof = AwsProof {
        document: &sample.document,
        signature: None,
        pkcs7: None,
    };
    check(
        proof,
        &AwsTrust::bundled(),
        Err((
            Malformed,
            "the proof carries no signature: send the signature, the PKCS#7 signature, or both",
        )),
    );
}

#[test]
fn input_sizes_are_capped() {
    let trust = AwsTrust::bundled();
    let sample = sample(ANSIBLE_A);
    let too_big = vec![b' '; idgate_verify::aws::MAX_DOCUMENT_LEN + 1];
    let document_size = "the `document` field is empty or larger than 16384 bytes";
    for document in [&b""[..], &too_big] {
        let proof = AwsProof {
            document,
            signature: sample.signature.as_deref(),
            pkcs7: None,
        };
        check(proof, &trust, Err((Malformed, document_size)));
    }
    let huge = "QUJD".repeat(20_000);
    let proof = AwsProof {
        document: &sample.document,
        signature: None,
        pkcs7: Some(&huge),
    };
    check(
        proof,
        &trust,
        Err((
            Malformed,
            "the `pkcs7` field is empty or larger than 32768 bytes",
        )),
    );
    let proof = AwsProof {
        document: &sample.document,
        signature: Some(" \n"),
        pkcs7: None,
    };
    check(
        proof,
        &trust,
        Err((
            Malformed,
            "the `signature` field is empty or larger than 32768 bytes",
        )),
    );
}

#[test]
fn documents_that_are_not_usable_json_are_malformed() {
    let trust = AwsTrust::bundled();
    let sample = sample(ANSIBLE_A);
    let cases: &[(&[u8], &str)] = &[
        (b"not json", "the identity document is not a JSON object"),
        (
            b"[\"i-0140f65cf5b9ba76a\"]",
            "the identity document is not a JSON object",
        ),
        (
            &[0xff, 0xfe, b'{', b'}'],
            "the identity document is not a JSON object",
        ),
        (
            br#"{"region" : "ap-northeast-2"}"#,
            "the identity document has no valid `instanceId` field",
        ),
        (
            br#"{"instanceId" : "i-0140f65cf5b9ba76a"}"#,
            "the identity document has no valid `region` field",
        ),
        (
            br#"{"instanceId" : "i-0140f65cf5b9ba76a", "region" : "<script>"}"#,
            "the identity document has no valid `region` field",
        ),
    ];
    for (document, message) in cases {
        let proof = AwsProof {
            document,
            signature: sample.signature.as_deref(),
            pkcs7: None,
        };
        check(proof, &trust, Err((Malformed, message)));
    }
}
