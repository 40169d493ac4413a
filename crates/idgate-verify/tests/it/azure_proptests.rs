//! Property tests: no input makes Azure verification panic, and no one-byte change of a real
//! sample verifies to another identity.

use std::sync::LazyLock;

use idgate_verify::UnixTime;
use idgate_verify::azure::{AzureProof, AzureTrust, verify_azure};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::azure_support::{b64, sample, unb64};

/// The 2026 sample verifies with the bundled trust at its own time.
const SAMPLE: &str = "coder-eastus-2026";
const CREATED_ON: UnixTime = UnixTime(1_782_413_805);
const VM_ID: &str = "dc18de58-292f-4794-9a5d-a4192bad0039";

static TRUST: LazyLock<AzureTrust> = LazyLock::new(AzureTrust::bundled);
static DER: LazyLock<Vec<u8>> = LazyLock::new(|| unb64(&sample(SAMPLE).signature));

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(signature in ".{0,400}") {
        let _ = verify_azure(&AzureProof { signature: &signature }, &TRUST, CREATED_ON);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let signature = b64(&bytes);
        let _ = verify_azure(&AzureProof { signature: &signature }, &TRUST, CREATED_ON);
    }

    #[test]
    fn mutated_samples_never_panic_nor_change_identity(index in any::<Index>(), byte in any::<u8>()) {
        let mut der = DER.clone();
        let at = index.index(der.len());
        der[at] = byte;
        let signature = b64(&der);
        // Some bytes (such as the unsigned digestAlgorithms set) are not covered by any
        // signature, so a mutation may still verify, but never to another identity.
        if let Ok(identity) = verify_azure(&AzureProof { signature: &signature }, &TRUST, CREATED_ON) {
            prop_assert_eq!(identity.vm_id, VM_ID);
        }
    }

    #[test]
    fn truncated_samples_never_verify(length in 0usize..3000) {
        let der = &DER[..length.min(DER.len() - 1)];
        let signature = b64(der);
        let outcome = verify_azure(&AzureProof { signature: &signature }, &TRUST, CREATED_ON);
        prop_assert!(outcome.is_err());
    }
}

#[test]
fn the_property_sample_verifies() {
    let signature = b64(&DER);
    let identity = verify_azure(
        &AzureProof {
            signature: &signature,
        },
        &TRUST,
        CREATED_ON,
    )
    .expect("the 2026 sample verifies with the bundled trust");
    assert_eq!(identity.vm_id, VM_ID);
}
