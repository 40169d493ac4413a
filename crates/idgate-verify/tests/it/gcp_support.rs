//! Shared helpers of the GCP tests: the real samples in `tests/data/gcp` (provenance in
//! `tests/data/gcp/PROVENANCE.md`), deterministic synthetic signers (the emulator's
//! `GcpSigner`), Google-like claims, and the one `check` every test goes through.

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idgate_imds::gcp::GcpSigner;
use idgate_verify::gcp::{GcpKeys, VerifiedGcpIdentity, token_kid, verify_gcp};
use idgate_verify::{FailureKind, UnixTime};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use rsa::RsaPrivateKey;
use serde_json::{Value, json};

/// The fixed `now` of the synthetic tests: 2026-12-04T00:00:00Z (the day the samples were
/// collected; every real token is long expired by then).
pub(crate) const NOW: UnixTime = crate::NOW;

/// The audience of the synthetic tokens.
pub(crate) const AUDIENCE: &str = "https://idgate.example";

/// The instance ID of the synthetic tokens.
pub(crate) const INSTANCE_ID: &str = "4242424242424242424";

/// A real GCP sample from `tests/data/gcp/<dir>`.
pub(crate) struct GcpSample {
    /// `token.jwt`, exactly as in the source.
    pub(crate) token: String,
    /// The sample's key file, as a JSON key set for [`GcpKeys::from_jwks_json`]: `jwks.json`
    /// as is, `jwk.json` wrapped as `{"keys": [...]}`, the PEM certificate wrapped as the v1
    /// map `{"<kid>": "<pem>"}`.
    pub(crate) key_set: Vec<u8>,
    /// The header's `kid`.
    pub(crate) kid: String,
    /// The payload's `aud`.
    pub(crate) audience: String,
    /// The payload's `iat`.
    pub(crate) issued_at: i64,
}

impl GcpSample {
    /// The sample's keys.
    pub(crate) fn keys(&self) -> GcpKeys {
        GcpKeys::from_jwks_json(&self.key_set).expect("the sample's key set")
    }

    /// The time the tests verify the sample at: a minute after it was issued.
    pub(crate) fn own_time(&self) -> UnixTime {
        UnixTime(self.issued_at + 60)
    }
}

/// `tests/data/gcp`.
pub(crate) fn gcp_data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/gcp")
}

/// Loads `tests/data/gcp/<dir>`.
pub(crate) fn gcp_sample(dir: &str) -> GcpSample {
    let path = gcp_data_dir().join(dir);
    let token = std::fs::read_to_string(path.join("token.jwt")).expect("token.jwt");
    let segments: Vec<&str> = token.split('.').collect();
    let header = decode_json(segments[0]);
    let payload = decode_json(segments[1]);
    let kid = header["kid"].as_str().expect("kid").to_owned();
    let key_set = if let Ok(jwks) = std::fs::read(path.join("jwks.json")) {
        jwks
    } else if let Ok(jwk) = std::fs::read_to_string(path.join("jwk.json")) {
        let jwk: Value = serde_json::from_str(&jwk).expect("jwk.json");
        json!({ "keys": [jwk] }).to_string().into_bytes()
    } else {
        let pem_name = format!("google-cert-{kid}.pem");
        let pem = std::fs::read_to_string(path.join(pem_name)).expect("PEM certificate");
        json!({ kid.clone(): pem }).to_string().into_bytes()
    };
    GcpSample {
        key_set,
        kid,
        audience: payload["aud"].as_str().expect("aud").to_owned(),
        issued_at: payload["iat"].as_i64().expect("iat"),
        token,
    }
}

/// Decodes a base64url JSON segment.
pub(crate) fn decode_json(segment: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(segment).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// Unpadded base64url.
pub(crate) fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The signer whose key the synthetic tests trust (deterministic, made once per run).
pub(crate) fn signer() -> &'static GcpSigner {
    static SIGNER: OnceLock<GcpSigner> = OnceLock::new();
    SIGNER.get_or_init(|| make_signer(0x6c9))
}

/// Another key, trusted by no test.
pub(crate) fn other_signer() -> &'static GcpSigner {
    static SIGNER: OnceLock<GcpSigner> = OnceLock::new();
    SIGNER.get_or_init(|| make_signer(0xbad))
}

fn make_signer(seed: u64) -> GcpSigner {
    let mut rng = StdRng::seed_from_u64(seed);
    let key = RsaPrivateKey::new(&mut rng, 2048).expect("RSA key");
    GcpSigner::from_key(key)
}

/// The key set of [`signer`].
pub(crate) fn keys() -> GcpKeys {
    GcpKeys::from_jwks_json(signer().jwks_json().as_bytes()).expect("the signer's JWKS")
}

/// The synthetic tests' accepted audiences.
pub(crate) fn audiences() -> Vec<String> {
    vec!["coder".to_owned(), AUDIENCE.to_owned()]
}

/// The header Google writes, with [`signer`]'s key ID.
pub(crate) fn header() -> Value {
    json!({ "alg": "RS256", "kid": signer().kid(), "typ": "JWT" })
}

/// Claims like Google's `format=full` token, issued a minute before [`NOW`].
pub(crate) fn claims() -> Value {
    let iat = NOW.0 - 60;
    json!({
        "aud": AUDIENCE,
        "azp": "109422233875895820585",
        "email": "326694433618-compute@developer.gserviceaccount.com",
        "email_verified": true,
        "exp": iat + 3600,
        "google": {
            "compute_engine": {
                "instance_creation_timestamp": iat - 300,
                "instance_id": INSTANCE_ID,
                "instance_name": "dev-vm-1",
                "project_id": "idgate-test",
                "project_number": 326694433618u64,
                "zone": "us-central1-a"
            }
        },
        "iat": iat,
        "iss": "https://accounts.google.com",
        "sub": "109422233875895820585"
    })
}

/// `header` and `claims` signed with RS256 by [`signer`].
pub(crate) fn sign(header: &Value, claims: &Value) -> String {
    signer().sign_raw(&header.to_string(), &claims.to_string())
}

/// [`claims`] with one top-level claim replaced (see [`without`] to remove one).
pub(crate) fn with(claim: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[claim] = value;
    claims
}

/// [`claims`] without one top-level claim.
pub(crate) fn without(claim: &str) -> Value {
    let mut claims = claims();
    if let Value::Object(object) = &mut claims {
        object.remove(claim);
    }
    claims
}

/// What a check expects: the instance ID, or the failure kind and the exact error message.
pub(crate) type Expected<'a> = Result<&'a str, (FailureKind, &'a str)>;

/// Verifies `token` with the synthetic keys and audiences at [`NOW`].
#[track_caller]
pub(crate) fn check(token: &str, expected: Expected<'_>) -> Option<VerifiedGcpIdentity> {
    check_with(token, &keys(), &audiences(), NOW, expected)
}

/// Verifies `token` and compares the outcome with `expected`.
///
/// For failures it also checks that the message is plain printable ASCII without JSON and
/// echoes no token bytes.
#[track_caller]
pub(crate) fn check_with(
    token: &str,
    keys: &GcpKeys,
    audiences: &[String],
    now: UnixTime,
    expected: Expected<'_>,
) -> Option<VerifiedGcpIdentity> {
    let actual = verify_gcp(token, keys, audiences, now);
    match (actual, expected) {
        (Ok(identity), Ok(instance_id)) => {
            assert_eq!(identity.instance_id, instance_id);
            assert!(audiences.contains(&identity.audience));
            Some(identity)
        }
        (Err(error), Err((kind, message))) => {
            let text = error.to_string();
            assert_eq!(text, message);
            assert_eq!(error.kind(), kind, "{text}");
            assert_message_is_safe(&text, token);
            None
        }
        (actual, expected) => panic!("got {actual:?}, expected {expected:?}"),
    }
}

/// Checks that `token_kid` returns `kid` (or fails with `message`).
#[track_caller]
pub(crate) fn check_kid(token: &str, expected: Result<&str, &str>) {
    match (token_kid(token), expected) {
        (Ok(kid), Ok(expected)) => assert_eq!(kid, expected),
        (Err(error), Err(message)) => {
            let text = error.to_string();
            assert_eq!(text, message);
            assert_message_is_safe(&text, token);
        }
        (actual, expected) => panic!("got {actual:?}, expected {expected:?}"),
    }
}

#[track_caller]
fn assert_message_is_safe(text: &str, token: &str) {
    assert!(
        text.bytes().all(|byte| (0x20..0x7f).contains(&byte)),
        "{text:?}"
    );
    assert!(!text.contains('{') && !text.contains('"'), "{text}");
    for window in token.as_bytes().windows(16) {
        let window = String::from_utf8_lossy(window);
        assert!(!text.contains(window.as_ref()), "{text} echoes the token");
    }
}
