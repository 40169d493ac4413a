//! Fuzzes the Azure verifier: base64, the strict DER PKCS#7 parser, certificates and the JSON
//! content.
#![no_main]

use idgate_verify::UnixTime;
use idgate_verify::azure::{AzureProof, AzureTrust, verify_azure};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static TRUST: LazyLock<AzureTrust> = LazyLock::new(AzureTrust::bundled);

fuzz_target!(|signature: &str| {
    let _ = verify_azure(&AzureProof { signature }, &TRUST, UnixTime(1_796_000_000));
});
