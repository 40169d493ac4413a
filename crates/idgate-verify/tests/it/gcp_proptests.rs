//! Property tests of the GCP verifier: no input makes `verify_gcp` or `token_kid` panic, and no
//! one-character change of a real token verifies.

use std::sync::LazyLock;

use idgate_verify::gcp::{GcpKeys, token_kid, verify_gcp};
use proptest::prelude::*;
use proptest::sample::{Index, select};

use crate::gcp_support::{GcpSample, NOW, gcp_sample};

static SAMPLES: LazyLock<Vec<(GcpSample, GcpKeys)>> = LazyLock::new(|| {
    [
        "agentcomm-europe-west1-b-2025",
        "infisical-us-central1-a-2024",
        "rhsm-us-east1-b-2021-03",
        "salrashid-us-central1-a-2021-06",
        "salrashid-us-central1-a-2021-02",
    ]
    .into_iter()
    .map(|dir| {
        let sample = gcp_sample(dir);
        let keys = sample.keys();
        (sample, keys)
    })
    .collect()
});

/// Every audience a sample carries, so that a mutated token can get as far as possible.
static AUDIENCES: LazyLock<Vec<String>> = LazyLock::new(|| {
    SAMPLES
        .iter()
        .map(|(sample, _)| sample.audience.clone())
        .collect()
});

/// Characters a mutation may write: the base64url alphabet, the separator, padding and a few
/// that are never valid.
const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n\0é";

fn mutate(token: &str, index: Index, replacement: char) -> Option<String> {
    let chars: Vec<char> = token.chars().collect();
    let at = index.index(chars.len());
    if chars[at] == replacement {
        return None;
    }
    let mut mutated = chars;
    mutated[at] = replacement;
    Some(mutated.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_strings_never_panic(token in ".{0,2000}") {
        let (sample, keys) = &SAMPLES[0];
        let _ = verify_gcp(&token, keys, &AUDIENCES, sample.own_time());
        let _ = token_kid(&token);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let token = String::from_utf8_lossy(&bytes);
        let (_, keys) = &SAMPLES[0];
        let _ = verify_gcp(&token, keys, &AUDIENCES, NOW);
        let _ = token_kid(&token);
    }

    #[test]
    fn three_base64url_segments_never_panic(
        header in "[A-Za-z0-9_-]{0,200}",
        payload in "[A-Za-z0-9_-]{0,400}",
        signature in "[A-Za-z0-9_-]{0,400}",
    ) {
        let token = format!("{header}.{payload}.{signature}");
        let (_, keys) = &SAMPLES[1];
        let _ = verify_gcp(&token, keys, &AUDIENCES, NOW);
        let _ = token_kid(&token);
    }

    #[test]
    fn arbitrary_json_segments_never_panic(header in ".{0,100}", payload in ".{0,300}") {
        use base64::Engine as _;
        let encode = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let token = format!("{}.{}.AQID", encode(&header), encode(&payload));
        let (_, keys) = &SAMPLES[2];
        let _ = verify_gcp(&token, keys, &AUDIENCES, NOW);
        let _ = token_kid(&token);
    }

    #[test]
    fn mutated_real_tokens_never_panic_and_never_verify(
        sample in 0..5usize,
        index in any::<Index>(),
        replacement in select(ALPHABET.chars().collect::<Vec<char>>()),
    ) {
        let (sample, keys) = &SAMPLES[sample];
        if let Some(token) = mutate(&sample.token, index, replacement) {
            prop_assert!(verify_gcp(&token, keys, &AUDIENCES, sample.own_time()).is_err());
            let _ = token_kid(&token);
        }
    }

    #[test]
    fn keys_from_arbitrary_json_never_panic(text in ".{0,500}") {
        let _ = GcpKeys::from_jwks_json(text.as_bytes());
    }
}

#[test]
fn the_unmutated_tokens_verify() {
    for (sample, keys) in SAMPLES.iter() {
        assert!(verify_gcp(&sample.token, keys, &AUDIENCES, sample.own_time()).is_ok());
    }
}
