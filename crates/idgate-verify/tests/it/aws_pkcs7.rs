//! PKCS#7 structure checks: real samples decoded, edited in one place with the `cms`/`der`
//! types, re-encoded, and verified again.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo, SignerInfos};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec, Utf8StringRef};
use der::{Any, Decode as _, Encode as _};
use idgate_verify::FailureKind::{CertificateUntrusted, Malformed, SignatureInvalid};
use idgate_verify::aws::{AwsProof, AwsTrust, verify_aws};
use idgate_verify::{Error, FailureKind, ber};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::serial_number::SerialNumber;

use crate::{NOW, b64, check, sample, unb64};

const ANSIBLE_A: &str = "ansible-ap-northeast-2-i-0140f65cf5b9ba76a";
const GRAIL_2016: &str = "grailbio-us-west-2-2016";

pub const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
pub const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_MD5: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.5");
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA1_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// Decodes a sample's base64 BER PKCS#7 into the `cms` types.
pub fn decode(pkcs7_b64: &str) -> SignedData {
    let der = ber::to_der(&unb64(pkcs7_b64)).expect("sample is valid BER");
    let content_info = ContentInfo::from_der(&der).expect("ContentInfo");
    content_info.content.decode_as().expect("SignedData")
}

/// Encodes a SignedData as base64 DER ContentInfo.
pub fn encode(signed_data: &SignedData) -> String {
    encode_content_info(
        ID_SIGNED_DATA,
        Any::encode_from(signed_data).expect("encodes"),
    )
}

fn encode_content_info(content_type: ObjectIdentifier, content: Any) -> String {
    let content_info = ContentInfo {
        content_type,
        content,
    };
    b64(&content_info.to_der().expect("encodes"))
}

fn signer(signed_data: &SignedData) -> SignerInfo {
    signed_data
        .signer_infos
        .0
        .get(0)
        .expect("one signer")
        .clone()
}

fn set_signer(signed_data: &mut SignedData, signer: SignerInfo) {
    signed_data.signer_infos = SignerInfos(SetOfVec::try_from(vec![signer]).expect("one signer"));
}

fn edit_signer(signed_data: &mut SignedData, edit: impl FnOnce(&mut SignerInfo)) {
    let mut signer = signer(signed_data);
    edit(&mut signer);
    set_signer(signed_data, signer);
}

fn edit_attributes(signer: &mut SignerInfo, edit: impl FnOnce(&mut Vec<Attribute>)) {
    let mut attributes = signer
        .signed_attrs
        .take()
        .expect("signed attributes")
        .into_vec();
    edit(&mut attributes);
    signer.signed_attrs = Some(SetOfVec::try_from(attributes).expect("distinct attributes"));
}

pub fn attribute(oid: ObjectIdentifier, values: Vec<Any>) -> Attribute {
    Attribute {
        oid,
        values: SetOfVec::try_from(values).expect("distinct values"),
    }
}

fn algorithm(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    }
}

fn any<T: der::Tagged + der::EncodeValue>(value: &T) -> Any {
    Any::encode_from(value).expect("encodes")
}

/// Verifies the sample's document with an edited PKCS#7.
fn check_edited(
    dir: &str,
    rsa2048: bool,
    edit: impl FnOnce(&mut SignedData),
    expected: (FailureKind, &str),
) {
    let sample = sample(dir);
    let original = if rsa2048 {
        &sample.rsa2048
    } else {
        &sample.pkcs7
    };
    let mut signed_data = decode(original.as_deref().expect("PKCS#7 in sample"));
    edit(&mut signed_data);
    let pkcs7 = encode(&signed_data);
    let proof = AwsProof {
        document: &sample.document,
        signature: None,
        pkcs7: Some(&pkcs7),
    };
    check(proof, &AwsTrust::bundled(), Err(expected));
}

const SIGNATURE_INVALID: &str =
    "the `pkcs7` does not verify with any trusted AWS key for region ap-northeast-2";
const DSA_SIGNATURE_INVALID: &str =
    "the `pkcs7` does not verify with any trusted AWS key for region us-west-2";

#[test]
fn reencoded_samples_still_verify() {
    // DER re-encoding of the BER samples is what every edit below starts from.
    for (dir, rsa2048) in [(ANSIBLE_A, true), (ANSIBLE_A, false), (GRAIL_2016, false)] {
        let sample = sample(dir);
        let original = if rsa2048 {
            &sample.rsa2048
        } else {
            &sample.pkcs7
        };
        let pkcs7 = encode(&decode(original.as_deref().expect("PKCS#7")));
        let proof = AwsProof {
            document: &sample.document,
            signature: None,
            pkcs7: Some(&pkcs7),
        };
        assert!(
            verify_aws(&proof, &AwsTrust::bundled(), NOW).is_ok(),
            "{dir}"
        );
    }
}

#[test]
fn two_signer_infos_are_refused() {
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            let first = signer(signed_data);
            let mut second = first.clone();
            second.version = CmsVersion::V3;
            signed_data.signer_infos =
                SignerInfos(SetOfVec::try_from(vec![first, second]).expect("distinct signers"));
        },
        (
            Malformed,
            "the PKCS#7 signature must have exactly one signer, found 2",
        ),
    );
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            signed_data.signer_infos = SignerInfos(SetOfVec::try_from(vec![]).expect("empty"))
        },
        (
            Malformed,
            "the PKCS#7 signature must have exactly one signer, found 0",
        ),
    );
}

#[test]
fn wrong_content_types_are_refused() {
    // The ContentInfo says id-data instead of id-signedData.
    let sample = sample(ANSIBLE_A);
    let signed_data = decode(sample.rsa2048.as_deref().expect("rsa2048"));
    let pkcs7 = encode_content_info(ID_DATA, any(&signed_data));
    let proof = AwsProof {
        document: &sample.document,
        signature: None,
        pkcs7: Some(&pkcs7),
    };
    check(
        proof,
        &AwsTrust::bundled(),
        Err((
            Malformed,
            "the PKCS#7 ContentInfo has an unexpected content type",
        )),
    );
    // The encapsulated content is not id-data.
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| signed_data.encap_content_info.econtent_type = ID_SIGNED_DATA,
        (
            Malformed,
            "the PKCS#7 encapsulated content has an unexpected content type",
        ),
    );
    // The contentType signed attribute is not id-data.
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                edit_attributes(signer, |attributes| {
                    attributes.retain(|attribute| attribute.oid != ID_CONTENT_TYPE);
                    attributes.push(attribute(ID_CONTENT_TYPE, vec![any(&ID_SIGNED_DATA)]));
                })
            })
        },
        (
            Malformed,
            "the PKCS#7 contentType signed attribute has an unexpected content type",
        ),
    );
}

#[test]
fn detached_or_odd_content_is_refused() {
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| signed_data.encap_content_info.econtent = None,
        (
            Malformed,
            "the PKCS#7 signature does not contain the signed document",
        ),
    );
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            let text = Utf8StringRef::new("{}").expect("UTF-8");
            signed_data.encap_content_info.econtent = Some(any(&text));
        },
        (
            Malformed,
            "the `pkcs7` field is not a valid encapsulated content OCTET STRING",
        ),
    );
}

#[test]
fn subject_key_identifier_is_refused() {
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                let ski = OctetString::new(vec![1, 2, 3]).expect("octets");
                signer.sid = SignerIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(ski));
            })
        },
        (
            Malformed,
            "the PKCS#7 signer is not identified by issuer and serial number",
        ),
    );
}

#[test]
fn unsupported_algorithms_are_refused() {
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| edit_signer(signed_data, |signer| signer.digest_alg = algorithm(ID_MD5)),
        (Malformed, "the PKCS#7 digest algorithm is not supported"),
    );
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                signer.signature_algorithm = algorithm(ECDSA_WITH_SHA256)
            })
        },
        (Malformed, "the PKCS#7 signature algorithm is not supported"),
    );
    // The error keeps the OID for logs.
    let sample = sample(ANSIBLE_A);
    let mut signed_data = decode(sample.rsa2048.as_deref().expect("rsa2048"));
    edit_signer(&mut signed_data, |signer| {
        signer.digest_alg = algorithm(ID_MD5)
    });
    let pkcs7 = encode(&signed_data);
    let proof = AwsProof {
        document: &sample.document,
        signature: None,
        pkcs7: Some(&pkcs7),
    };
    let error = verify_aws(&proof, &AwsTrust::bundled(), NOW).expect_err("md5 refused");
    assert!(matches!(
        error,
        Error::UnsupportedAlgorithm { location: "digest", oid } if oid == ID_MD5
    ));
}

#[test]
fn algorithms_that_do_not_fit_are_refused() {
    // sha1WithRSAEncryption with a SHA-256 SignerInfo digest.
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                signer.signature_algorithm = algorithm(SHA1_WITH_RSA)
            })
        },
        (
            SignatureInvalid,
            "the PKCS#7 algorithms do not fit together: the signature algorithm names another digest than the SignerInfo",
        ),
    );
    // DSA with SHA-256.
    check_edited(
        GRAIL_2016,
        false,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                signer.digest_alg = algorithm(ID_SHA256)
            })
        },
        (
            SignatureInvalid,
            "the PKCS#7 algorithms do not fit together: DSA signatures must use SHA-1",
        ),
    );
    // An RSA signature algorithm for the DSA certificate's key.
    check_edited(
        GRAIL_2016,
        false,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                signer.signature_algorithm = algorithm(RSA_ENCRYPTION)
            })
        },
        (
            SignatureInvalid,
            "the PKCS#7 algorithms do not fit together: the signature algorithm does not fit the signer certificate's key",
        ),
    );
}

#[test]
fn signed_attributes_are_checked() {
    let missing = |oid: ObjectIdentifier| {
        move |signed_data: &mut SignedData| {
            edit_signer(signed_data, |signer| {
                edit_attributes(signer, |attributes| {
                    attributes.retain(|attribute| attribute.oid != oid)
                })
            })
        }
    };
    check_edited(
        ANSIBLE_A,
        true,
        missing(ID_CONTENT_TYPE),
        (
            Malformed,
            "the PKCS#7 signed attributes lack the contentType attribute",
        ),
    );
    check_edited(
        ANSIBLE_A,
        true,
        missing(ID_MESSAGE_DIGEST),
        (
            Malformed,
            "the PKCS#7 signed attributes lack the messageDigest attribute",
        ),
    );
    // messageDigest with two values.
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                edit_attributes(signer, |attributes| {
                    let digest = attributes
                        .iter_mut()
                        .find(|attribute| attribute.oid == ID_MESSAGE_DIGEST)
                        .expect("messageDigest");
                    let extra = OctetString::new(vec![0u8; 32]).expect("octets");
                    digest.values.insert(any(&extra)).expect("distinct value");
                })
            })
        },
        (
            Malformed,
            "the PKCS#7 messageDigest signed attribute is invalid",
        ),
    );
    // contentType whose value is not an OID.
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                edit_attributes(signer, |attributes| {
                    attributes.retain(|attribute| attribute.oid != ID_CONTENT_TYPE);
                    let text = Utf8StringRef::new("data").expect("UTF-8");
                    attributes.push(attribute(ID_CONTENT_TYPE, vec![any(&text)]));
                })
            })
        },
        (
            Malformed,
            "the PKCS#7 contentType signed attribute is invalid",
        ),
    );
}

#[test]
fn message_digest_must_match_the_content() {
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                edit_attributes(signer, |attributes| {
                    attributes.retain(|attribute| attribute.oid != ID_MESSAGE_DIGEST);
                    let wrong = OctetString::new(vec![7u8; 32]).expect("octets");
                    attributes.push(attribute(ID_MESSAGE_DIGEST, vec![any(&wrong)]));
                })
            })
        },
        (
            SignatureInvalid,
            "the PKCS#7 message digest does not match the signed document",
        ),
    );
}

#[test]
fn signatures_must_cover_exactly_what_was_signed() {
    // One bit of the RSA signature.
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                let mut bytes = signer.signature.as_bytes().to_vec();
                bytes[17] ^= 0x01;
                signer.signature = OctetString::new(bytes).expect("octets");
            })
        },
        (SignatureInvalid, SIGNATURE_INVALID),
    );
    // Without the signing time: the signature covers all signed attributes.
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                edit_attributes(signer, |attributes| {
                    attributes.retain(|attribute| attribute.oid != ID_SIGNING_TIME);
                })
            })
        },
        (SignatureInvalid, SIGNATURE_INVALID),
    );
    // Without signed attributes the signature would have to cover the content itself.
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| edit_signer(signed_data, |signer| signer.signed_attrs = None),
        (SignatureInvalid, SIGNATURE_INVALID),
    );
    // The DSA signature's r, and a DSA signature that is not DER at all.
    check_edited(
        GRAIL_2016,
        false,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                let mut bytes = signer.signature.as_bytes().to_vec();
                bytes[10] ^= 0x01;
                signer.signature = OctetString::new(bytes).expect("octets");
            })
        },
        (SignatureInvalid, DSA_SIGNATURE_INVALID),
    );
    check_edited(
        GRAIL_2016,
        false,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                signer.signature = OctetString::new(vec![1, 2, 3]).expect("octets");
            })
        },
        (SignatureInvalid, DSA_SIGNATURE_INVALID),
    );
}

#[test]
fn signer_is_found_by_issuer_and_serial() {
    check_edited(
        ANSIBLE_A,
        true,
        |signed_data| {
            edit_signer(signed_data, |signer| {
                let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer.sid else {
                    panic!("issuer and serial");
                };
                signer.sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                    issuer: sid.issuer.clone(),
                    serial_number: SerialNumber::new(&[0x01, 0x02]).expect("serial"),
                });
            })
        },
        (
            CertificateUntrusted,
            "the PKCS#7 signer is not a trusted AWS certificate for region ap-northeast-2; pass it with --aws-certs",
        ),
    );
}

/// Verifies the ANSIBLE_A document with raw PKCS#7 bytes.
fn check_raw(pkcs7: &[u8], expected: (FailureKind, &str)) {
    let sample = sample(ANSIBLE_A);
    let pkcs7 = b64(pkcs7);
    let proof = AwsProof {
        document: &sample.document,
        signature: None,
        pkcs7: Some(&pkcs7),
    };
    check(proof, &AwsTrust::bundled(), Err(expected));
}

#[test]
fn truncated_der_is_refused() {
    let sample = sample(ANSIBLE_A);
    let der = ber::to_der(&unb64(sample.rsa2048.as_deref().expect("rsa2048"))).expect("BER");
    check_raw(
        &der[..der.len() / 2],
        (
            Malformed,
            "the `pkcs7` field is not valid BER (input ends inside the element at offset 0)",
        ),
    );
    // The original BER, cut anywhere, is refused as well (never accepted, never a panic).
    let ber = unb64(sample.rsa2048.as_deref().expect("rsa2048"));
    for cut in 0..ber.len() {
        let pkcs7 = b64(&ber[..cut]);
        let proof = AwsProof {
            document: &sample.document,
            signature: None,
            pkcs7: Some(&pkcs7),
        };
        let error = verify_aws(&proof, &AwsTrust::bundled(), NOW).expect_err("truncated");
        assert_eq!(error.kind(), Malformed, "cut at {cut}: {error}");
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let sample = sample(ANSIBLE_A);
    let mut der = ber::to_der(&unb64(sample.rsa2048.as_deref().expect("rsa2048"))).expect("BER");
    let end = der.len();
    der.extend([0x05, 0x00]);
    check_raw(
        &der,
        (
            Malformed,
            &format!(
                "the `pkcs7` field is not valid BER (unexpected data after the outermost element at offset {end})"
            ),
        ),
    );
}

#[test]
fn der_that_is_not_pkcs7_is_refused() {
    // An empty SEQUENCE is valid DER but no ContentInfo.
    check_raw(
        &[0x30, 0x00],
        (
            Malformed,
            "the `pkcs7` field is not a valid CMS ContentInfo",
        ),
    );
    // A ContentInfo for id-signedData whose content is NULL.
    let content_info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: any(&der::asn1::Null),
    };
    check_raw(
        &content_info.to_der().expect("encodes"),
        (Malformed, "the `pkcs7` field is not a valid CMS SignedData"),
    );
}

#[test]
fn non_canonical_der_is_refused() {
    // Two digest algorithms in the wrong SET OF order: the decoder would sort them, so the
    // structure checked would not be the bytes received.
    let sample = sample(ANSIBLE_A);
    let mut signed_data = decode(sample.rsa2048.as_deref().expect("rsa2048"));
    let sha1 = algorithm(ID_SHA1);
    let sha256 = signed_data.digest_algorithms.get(0).expect("one").clone();
    signed_data.digest_algorithms =
        SetOfVec::try_from(vec![sha1.clone(), sha256.clone()]).expect("distinct");
    let der = unb64(&encode(&signed_data));
    let sorted = [sha1.to_der().expect("der"), sha256.to_der().expect("der")];
    let (first, second) = if sorted[0] < sorted[1] {
        (&sorted[0], &sorted[1])
    } else {
        (&sorted[1], &sorted[0])
    };
    let in_order = [first.as_slice(), second.as_slice()].concat();
    let swapped = [second.as_slice(), first.as_slice()].concat();
    let at = der
        .windows(in_order.len())
        .position(|window| window == in_order)
        .expect("encoded set");
    let mut edited = der.clone();
    edited[at..at + in_order.len()].copy_from_slice(&swapped);
    check_raw(
        &edited,
        (
            Malformed,
            "the `pkcs7` field is not in canonical form after BER normalisation",
        ),
    );
}
