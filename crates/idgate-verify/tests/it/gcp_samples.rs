//! Real GCP samples: each verifies at its own time with its own audience and keys, and fails
//! today, for another audience, with another sample's keys, or with one character changed.

use idgate_verify::FailureKind::{AudienceMismatch, SignatureInvalid, TokenExpired, UnknownKey};
use idgate_verify::UnixTime;
use idgate_verify::gcp::GcpKeys;
use serde_json::{Value, json};

use crate::gcp_support::{GcpSample, NOW, check_kid, check_with, gcp_sample};

/// A sample directory and what it verifies to: instance ID, project, zone, instance name.
type Case = (&'static str, [&'static str; 4]);

const CASES: [Case; 5] = [
    (
        "agentcomm-europe-west1-b-2025",
        [
            "2875949485074006138",
            "weipengpanda-project",
            "europe-west1-b",
            "wi-test-vm-1",
        ],
    ),
    (
        "infisical-us-central1-a-2024",
        [
            "8418160715288427941",
            "infisical-dev",
            "us-central1-a",
            "test-instance",
        ],
    ),
    (
        "rhsm-us-east1-b-2021-03",
        [
            "2589221140676718026",
            "fair-kingdom-308514",
            "us-east1-b",
            "instance-1",
        ],
    ),
    (
        "salrashid-us-central1-a-2021-06",
        [
            "8698503547301626160",
            "mineral-minutia-820",
            "us-central1-a",
            "client",
        ],
    ),
    (
        "salrashid-us-central1-a-2021-02",
        [
            "2219313109459351986",
            "mineral-minutia-820",
            "us-central1-a",
            "client",
        ],
    ),
];

fn samples() -> impl Iterator<Item = (GcpSample, [&'static str; 4])> {
    CASES
        .iter()
        .map(|(dir, identity)| (gcp_sample(dir), *identity))
}

#[test]
fn every_sample_verifies_at_its_own_time() {
    for (sample, [instance_id, project, zone, name]) in samples() {
        let audiences = vec!["coder".to_owned(), sample.audience.clone()];
        let identity = check_with(
            &sample.token,
            &sample.keys(),
            &audiences,
            sample.own_time(),
            Ok(instance_id),
        )
        .expect("identity");
        assert_eq!(identity.project_id.as_deref(), Some(project));
        assert_eq!(identity.zone.as_deref(), Some(zone));
        assert_eq!(identity.instance_name.as_deref(), Some(name));
        assert_eq!(identity.audience, sample.audience);
        assert_eq!(identity.expires_at, UnixTime(sample.issued_at + 3600));
    }
}

#[test]
fn every_sample_is_expired_today() {
    for (sample, _) in samples() {
        check_with(
            &sample.token,
            &sample.keys(),
            std::slice::from_ref(&sample.audience),
            NOW,
            Err((
                TokenExpired,
                "the token has expired (more than 60 seconds ago)",
            )),
        );
    }
}

#[test]
fn every_sample_expires_an_hour_and_a_minute_after_it_was_issued() {
    for (sample, [instance_id, ..]) in samples() {
        let audiences = [sample.audience.clone()];
        let last = UnixTime(sample.issued_at + 3600 + 60);
        check_with(
            &sample.token,
            &sample.keys(),
            &audiences,
            last,
            Ok(instance_id),
        );
        check_with(
            &sample.token,
            &sample.keys(),
            &audiences,
            UnixTime(last.0 + 1),
            Err((
                TokenExpired,
                "the token has expired (more than 60 seconds ago)",
            )),
        );
        // Issued more than a minute in the future of a slow clock.
        check_with(
            &sample.token,
            &sample.keys(),
            &audiences,
            UnixTime(sample.issued_at - 61),
            Err((
                TokenExpired,
                "the token's `iat` is more than 60 seconds in the future",
            )),
        );
    }
}

#[test]
fn every_sample_fails_for_another_audience() {
    for (sample, _) in samples() {
        let message = format!(
            "the token's audience {} is not one of the accepted audiences",
            sample.audience
        );
        check_with(
            &sample.token,
            &sample.keys(),
            &["coder".to_owned(), "https://coder.example.com".to_owned()],
            sample.own_time(),
            Err((AudienceMismatch, &message)),
        );
        check_with(
            &sample.token,
            &sample.keys(),
            &[],
            sample.own_time(),
            Err((AudienceMismatch, &message)),
        );
    }
}

#[test]
fn every_sample_fails_with_another_samples_keys() {
    let all: Vec<GcpSample> = CASES.iter().map(|(dir, _)| gcp_sample(dir)).collect();
    for (index, sample) in all.iter().enumerate() {
        let other = &all[(index + 1) % all.len()];
        let message = format!(
            "the token's signing key {} is not in the GCP key set",
            sample.kid
        );
        check_with(
            &sample.token,
            &other.keys(),
            std::slice::from_ref(&sample.audience),
            sample.own_time(),
            Err((UnknownKey, &message)),
        );
    }
}

#[test]
fn every_sample_fails_when_its_kid_names_another_key() {
    // A JWKS that maps each sample's kid to the modulus of another sample's key.
    let all: Vec<GcpSample> = CASES.iter().map(|(dir, _)| gcp_sample(dir)).collect();
    let moduli: Vec<String> = all
        .iter()
        .filter_map(|sample| {
            let set: Value = serde_json::from_slice(&sample.key_set).ok()?;
            let keys = set.get("keys")?.as_array()?;
            let key = keys.iter().find(|key| key["kid"] == sample.kid.as_str())?;
            Some(key["n"].as_str()?.to_owned())
        })
        .collect();
    assert_eq!(moduli.len(), 4, "every JWK-based sample has its modulus");
    for (index, sample) in all.iter().enumerate() {
        let n = &moduli[(index + 1) % moduli.len()];
        let jwks = json!({"keys": [{"kty": "RSA", "kid": sample.kid, "n": n, "e": "AQAB"}]});
        let keys = GcpKeys::from_jwks_json(jwks.to_string().as_bytes()).expect("JWKS");
        check_with(
            &sample.token,
            &keys,
            std::slice::from_ref(&sample.audience),
            sample.own_time(),
            Err((
                SignatureInvalid,
                "the token's signature does not verify with its GCP key",
            )),
        );
    }
}

#[test]
fn a_changed_payload_character_breaks_the_signature() {
    for (sample, _) in samples() {
        let (header, rest) = sample.token.split_once('.').expect("segments");
        let (payload, signature) = rest.split_once('.').expect("segments");
        // Change a character in the middle (never the last one, whose low bits are padding).
        let middle = payload.len() / 2;
        let mut changed = payload.as_bytes().to_vec();
        changed[middle] = if changed[middle] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(changed).expect("ASCII");
        let token = format!("{header}.{changed}.{signature}");
        check_with(
            &token,
            &sample.keys(),
            std::slice::from_ref(&sample.audience),
            sample.own_time(),
            Err((
                SignatureInvalid,
                "the token's signature does not verify with its GCP key",
            )),
        );
    }
}

#[test]
fn token_kid_reads_every_sample() {
    for (sample, _) in samples() {
        assert!(sample.keys().contains(&sample.kid));
        check_kid(&sample.token, Ok(&sample.kid));
    }
}
