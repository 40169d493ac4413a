//! `GcpKeys`: the JWKS and v1 PEM-map formats, the entries that are skipped, and every error.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use idgate_verify::FailureKind::Malformed;
use idgate_verify::gcp::{GcpKeys, verify_gcp};
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use rsa::RsaPrivateKey;
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};

use crate::gcp_support::{b64url, gcp_data_dir, gcp_sample, signer};

const SALRASHID_KID: &str = "19fe2a7b6795239606ca0a750794a7bd9fd95961";

/// Parses `json` as a key set and compares the outcome with the sorted kids, or the message.
#[track_caller]
fn check(json: &str, expected: Result<&[&str], &str>) -> Option<GcpKeys> {
    match (GcpKeys::from_jwks_json(json.as_bytes()), expected) {
        (Ok(keys), Ok(kids)) => {
            assert_eq!(keys.kids(), kids);
            assert_eq!(keys.len(), kids.len());
            assert!(!keys.is_empty());
            for kid in kids {
                assert!(keys.contains(kid));
            }
            Some(keys)
        }
        (Err(error), Err(message)) => {
            assert_eq!(error.to_string(), message);
            assert_eq!(error.kind(), Malformed);
            None
        }
        (actual, expected) => panic!("got {actual:?}, expected {expected:?}"),
    }
}

/// The signer's JWK, with `changes` applied (`null` removes a member).
fn jwk(changes: Value) -> Value {
    let jwks: Value = serde_json::from_str(&signer().jwks_json()).expect("JWKS");
    let mut jwk = jwks["keys"][0].clone();
    if let (Value::Object(jwk), Value::Object(changes)) = (&mut jwk, changes) {
        for (name, value) in changes {
            if value.is_null() {
                jwk.remove(&name);
            } else {
                jwk.insert(name, value);
            }
        }
    }
    jwk
}

fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

fn salrashid_pem() -> String {
    let path = gcp_data_dir()
        .join("salrashid-us-central1-a-2021-06")
        .join(format!("google-cert-{SALRASHID_KID}.pem"));
    std::fs::read_to_string(path).expect("PEM")
}

#[test]
fn google_jwks_snapshot() {
    let sample = gcp_sample("rhsm-us-east1-b-2021-03");
    let keys = GcpKeys::from_jwks_json(&sample.key_set).expect("JWKS");
    assert_eq!(
        keys.kids(),
        [
            "13e8d45a43cb2242154c7f4dafac2933fea20374",
            "6a8ba5652a7044121d4fedac8f14d14c54e4895b"
        ]
    );
    assert!(!keys.contains("6A8BA5652A7044121D4FEDAC8F14D14C54E4895B"));
    assert!(!keys.contains(""));
    // Debug shows the kids and nothing of the keys.
    let debug = format!("{keys:?}");
    assert!(
        debug.contains("6a8ba5652a7044121d4fedac8f14d14c54e4895b"),
        "{debug}"
    );
    assert!(!debug.contains("o76AudS2"), "{debug}");
    assert!(debug.len() < 200, "{debug}");
}

#[test]
fn v1_certificate_map() {
    let map = json!({ SALRASHID_KID: salrashid_pem() }).to_string();
    check(&map, Ok(&[SALRASHID_KID]));
    // With the real sample it verifies (the certificate's validity is not enforced).
    let sample = gcp_sample("salrashid-us-central1-a-2021-06");
    let keys = GcpKeys::from_jwks_json(map.as_bytes()).expect("map");
    assert!(
        verify_gcp(
            &sample.token,
            &keys,
            std::slice::from_ref(&sample.audience),
            sample.own_time()
        )
        .is_ok()
    );

    // Errors, by position in key-ID order.
    let garbage = json!({ "a": salrashid_pem(), "b": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" });
    check(
        &garbage.to_string(),
        Err("PEM certificate 2 is not a valid X.509 certificate"),
    );
    let not_pem = json!({ "a": "not a certificate" });
    check(
        &not_pem.to_string(),
        Err("the GCP key set is neither a JWKS nor a map of key IDs to PEM certificates"),
    );
    // PEM is read strictly (RFC 7468): body lines of at most 64 characters.
    let one_line: String = salrashid_pem()
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let unwrapped = format!("-----BEGIN CERTIFICATE-----\n{one_line}\n-----END CERTIFICATE-----\n");
    check(
        &json!({ "a": unwrapped }).to_string(),
        Err("PEM certificate 1 is not a valid X.509 certificate"),
    );
    let empty_kid = json!({ "": salrashid_pem() });
    check(
        &empty_kid.to_string(),
        Err("GCP key 1 is not a valid RSA public key of at least 2048 bits"),
    );
    let not_string = json!({ "a": salrashid_pem(), "b": 1 });
    check(
        &not_string.to_string(),
        Err("the GCP key set is neither a JWKS nor a map of key IDs to PEM certificates"),
    );
}

#[test]
fn a_certificate_without_an_rsa_key_is_refused() {
    // The real certificate with its key's algorithm changed from rsaEncryption (1.2.840.113549.1.1.1)
    // to sha256WithRSAEncryption (...1.1.11): still a certificate, but not an RSA key.
    let pem = salrashid_pem();
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let mut der = STANDARD.decode(body).expect("base64");
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    ];
    let at = der
        .windows(oid.len())
        .position(|window| window == oid)
        .expect("rsaEncryption OID");
    der[at + oid.len() - 1] = 0x0b;
    let encoded = STANDARD.encode(der);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).expect("ASCII"))
        .collect();
    let patched = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    check(
        &json!({ SALRASHID_KID: patched }).to_string(),
        Err("GCP key 1 is not a valid RSA public key of at least 2048 bits"),
    );
}

#[test]
fn entries_not_for_rs256_signatures_are_skipped() {
    let kid = signer().kid();
    let ec = json!({"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AAAA", "y": "AAAA"});
    let oct = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
    let cases = [
        jwk(json!({"kid": "rs512", "alg": "RS512"})),
        jwk(json!({"kid": "ps256", "alg": "PS256"})),
        jwk(json!({"kid": "alg-number", "alg": 256})),
        jwk(json!({"kid": "enc", "use": "enc"})),
        jwk(json!({"kid": "use-null", "use": ["sig"]})),
        jwk(json!({"kid": null})),
        jwk(json!({"kid": ""})),
        jwk(json!({"kid": "kty-lower", "kty": "rsa"})),
        // Skipped before its broken modulus is looked at.
        jwk(json!({"kid": "broken-ec", "kty": "EC", "n": "!!"})),
        ec,
        oct,
    ];
    let mut entries = cases.to_vec();
    entries.push(jwk(json!({})));
    check(&jwks(&entries), Ok(&[kid]));
    // Without `alg` and `use` (both optional in a JWK) the key is used.
    check(&jwks(&[jwk(json!({"alg": null, "use": null}))]), Ok(&[kid]));
    // Only skipped entries: nothing usable.
    check(
        &jwks(&cases),
        Err("the GCP key set holds no usable RS256 signing key"),
    );
}

#[test]
fn empty_sets_are_refused() {
    let none = "the GCP key set holds no usable RS256 signing key";
    check(r#"{"keys":[]}"#, Err(none));
    check(r#"{}"#, Err(none));
}

#[test]
fn other_json_is_refused() {
    let format = "the GCP key set is neither a JWKS nor a map of key IDs to PEM certificates";
    for json in [
        "",
        "not json",
        "[]",
        "null",
        r#"{"keys":{}}"#,
        r#"{"keys":null}"#,
        r#"{"keys":"x"}"#,
        // A single JWK is not a key set.
        &jwk(json!({})).to_string(),
    ] {
        check(json, Err(format));
    }
}

#[test]
fn broken_rs256_entries_are_errors() {
    let mut rng = StdRng::seed_from_u64(1024);
    let small = RsaPrivateKey::new(&mut rng, 1024).expect("RSA key");
    let small_n = b64url(small.n().to_bytes_be());
    let good_n = jwk(json!({}))["n"].as_str().expect("n").to_owned();
    for (entry, position) in [
        (jwk(json!({"n": null})), 1),
        (jwk(json!({"e": null})), 1),
        (jwk(json!({"n": 7})), 1),
        (jwk(json!({"n": format!("{good_n}=")})), 1),
        (
            jwk(json!({"n": good_n.replace('_', "/").replace('-', "+")})),
            1,
        ),
        (jwk(json!({"e": "AQAB="})), 1),
        (jwk(json!({"e": "AQAA"})), 1),
        (jwk(json!({"e": "Ag"})), 1),
        (jwk(json!({"e": "AA"})), 1),
        (jwk(json!({"n": small_n})), 1),
        (jwk(json!({"n": ""})), 1),
        (json!("not an object"), 1),
    ] {
        // The broken entry comes after an ignored one: positions count every entry.
        let ignored = jwk(json!({"kid": "enc", "use": "enc"}));
        let message = format!(
            "GCP key {} is not a valid RSA public key of at least 2048 bits",
            position + 1
        );
        check(&jwks(&[ignored, entry]), Err(&message));
    }
}

#[test]
fn duplicate_kids_are_errors() {
    let entry = jwk(json!({}));
    check(
        &jwks(&[entry.clone(), jwk(json!({"kid": "other"})), entry]),
        Err("GCP key 3 repeats the key ID of an earlier key"),
    );
}

#[test]
fn every_sample_key_file_loads() {
    for (dir, count) in [
        ("agentcomm-europe-west1-b-2025", 2),
        ("infisical-us-central1-a-2024", 1),
        ("rhsm-us-east1-b-2021-03", 2),
        ("salrashid-us-central1-a-2021-06", 1),
        ("salrashid-us-central1-a-2021-02", 1),
    ] {
        let sample = gcp_sample(dir);
        let keys = sample.keys();
        assert_eq!(keys.len(), count, "{dir}");
        assert!(keys.contains(&sample.kid), "{dir}");
    }
}
