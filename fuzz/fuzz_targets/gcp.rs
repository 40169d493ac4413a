//! Fuzzes the GCP verifier: JWT segments, base64url, the JSON header and claims, and the
//! key-set parser.
#![no_main]

use idgate_verify::UnixTime;
use idgate_verify::gcp::{GcpKeys, token_kid, verify_gcp};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// A real Google key set (see crates/idgate-verify/tests/data/gcp), so that fuzzed tokens can
/// reach the signature check.
static KEYS: LazyLock<GcpKeys> = LazyLock::new(|| {
    GcpKeys::from_jwks_json(include_bytes!(
        "../../crates/idgate-verify/tests/data/gcp/rhsm-us-east1-b-2021-03/jwks.json"
    ))
    .expect("the bundled sample key set parses")
});

fuzz_target!(|input: (&str, &[u8])| {
    let (token, jwks) = input;
    let _ = token_kid(token);
    let _ = verify_gcp(token, &KEYS, &["coder".to_owned()], UnixTime(1_616_596_283));
    let _ = GcpKeys::from_jwks_json(jwks);
});
