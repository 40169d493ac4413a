//! Property tests: no input makes verification panic, and no one-byte change of a signed
//! document verifies.

use std::sync::LazyLock;

use idgate_verify::aws::{AwsProof, AwsTrust, verify_aws};
use idgate_verify::ber;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::{NOW, Sample, b64, sample, unb64};

static TRUST: LazyLock<AwsTrust> = LazyLock::new(AwsTrust::bundled);
static ANSIBLE: LazyLock<Sample> =
    LazyLock::new(|| sample("ansible-ap-northeast-2-i-0140f65cf5b9ba76a"));
static RSA2048: LazyLock<Vec<u8>> =
    LazyLock::new(|| unb64(ANSIBLE.rsa2048.as_deref().expect("rsa2048")));
static PKCS7: LazyLock<Vec<u8>> = LazyLock::new(|| unb64(ANSIBLE.pkcs7.as_deref().expect("pkcs7")));

fn verify_pkcs7(pkcs7: &[u8]) {
    let pkcs7 = b64(pkcs7);
    let proof = AwsProof {
        document: &ANSIBLE.document,
        signature: None,
        pkcs7: Some(&pkcs7),
    };
    // Ok or Err are both fine (some bytes, such as the unsigned digestAlgorithms set, are not
    // covered by the signature); a panic fails the test.
    let _ = verify_aws(&proof, &TRUST, NOW);
}

fn mutate(bytes: &[u8], index: Index, byte: u8) -> Vec<u8> {
    let mut mutated = bytes.to_vec();
    let at = index.index(mutated.len());
    mutated[at] = byte;
    mutated
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_proofs_never_panic(
        document in prop::collection::vec(any::<u8>(), 0..1024),
        signature in prop::option::of(".{0,300}"),
        pkcs7 in prop::option::of("[A-Za-z0-9+/= \n]{0,600}"),
    ) {
        let proof = AwsProof {
            document: &document,
            signature: signature.as_deref(),
            pkcs7: pkcs7.as_deref(),
        };
        let _ = verify_aws(&proof, &TRUST, NOW);
    }

    #[test]
    fn arbitrary_pkcs7_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 1..2048)) {
        verify_pkcs7(&bytes);
    }

    #[test]
    fn mutated_rsa2048_never_panics(index in any::<Index>(), byte in any::<u8>()) {
        verify_pkcs7(&mutate(&RSA2048, index, byte));
    }

    #[test]
    fn mutated_legacy_pkcs7_never_panics(index in any::<Index>(), byte in any::<u8>()) {
        verify_pkcs7(&mutate(&PKCS7, index, byte));
    }

    #[test]
    fn mutated_documents_never_verify(index in any::<Index>(), flip in 1u8..=255) {
        let original = &ANSIBLE.document;
        let at = index.index(original.len());
        let mut document = original.clone();
        document[at] ^= flip;
        for (signature, pkcs7) in [
            (ANSIBLE.signature.as_deref(), None),
            (None, ANSIBLE.rsa2048.as_deref()),
            (None, ANSIBLE.pkcs7.as_deref()),
        ] {
            let proof = AwsProof { document: &document, signature, pkcs7 };
            prop_assert!(verify_aws(&proof, &TRUST, NOW).is_err());
        }
    }

    #[test]
    fn ber_normaliser_output_is_a_fixed_point(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(der) = ber::to_der(&bytes) {
            prop_assert_eq!(ber::to_der(&der), Ok(der));
        }
    }

    #[test]
    fn ber_normaliser_handles_mutated_samples(index in any::<Index>(), byte in any::<u8>()) {
        if let Ok(der) = ber::to_der(&mutate(&RSA2048, index, byte)) {
            prop_assert_eq!(ber::to_der(&der), Ok(der));
        }
    }
}
