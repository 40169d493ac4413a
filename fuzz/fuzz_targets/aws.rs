//! Fuzzes the AWS verifier: the document, the base64 signature and the BER PKCS#7 parser.
#![no_main]

use idgate_verify::UnixTime;
use idgate_verify::aws::{AwsProof, AwsTrust, verify_aws};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static TRUST: LazyLock<AwsTrust> = LazyLock::new(AwsTrust::bundled);

fuzz_target!(|input: (&[u8], &str, &str)| {
    let (document, signature, pkcs7) = input;
    let proof = AwsProof {
        document,
        signature: Some(signature),
        pkcs7: Some(pkcs7),
    };
    let _ = verify_aws(&proof, &TRUST, UnixTime(1_796_000_000));
    let _ = idgate_verify::ber::to_der(document);
});
