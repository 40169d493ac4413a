//! Synthetic GCP tokens signed with a key made in the test (the emulator's `GcpSigner`): every
//! rejection of `verify_gcp`, each from a token that differs from a good one in one thing.

use idgate_imds::gcp::GcpInstance;
use idgate_verify::FailureKind::{
    AudienceMismatch, IssuerMismatch, Malformed, SignatureInvalid, TokenExpired, UnknownKey,
};
use idgate_verify::UnixTime;
use idgate_verify::gcp::{GcpKeys, MAX_TOKEN_LEN, token_kid};
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::{EncodePublicKey as _, LineEnding};
use rsa::traits::PublicKeyParts as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::gcp_support::{
    AUDIENCE, INSTANCE_ID, NOW, audiences, b64url, check, check_kid, check_with, claims, header,
    keys, other_signer, sign, signer, with, without,
};

const BAD_SIGNATURE: &str = "the token's signature does not verify with its GCP key";
const NOT_RS256: &str = "the token is not signed with RS256, the only algorithm accepted";
const EXPIRED: &str = "the token has expired (more than 60 seconds ago)";

#[test]
fn a_google_like_token_verifies() {
    let identity = check(&sign(&header(), &claims()), Ok(INSTANCE_ID)).expect("identity");
    assert_eq!(identity.project_id.as_deref(), Some("idgate-test"));
    assert_eq!(identity.zone.as_deref(), Some("us-central1-a"));
    assert_eq!(identity.instance_name.as_deref(), Some("dev-vm-1"));
    assert_eq!(identity.audience, AUDIENCE);
    assert_eq!(identity.expires_at, UnixTime(NOW.0 - 60 + 3600));
}

#[test]
fn the_emulators_identity_token_verifies() {
    let instance = GcpInstance {
        instance_id: "1234567890123456789".into(),
        instance_name: "emulated".into(),
        project_id: "emulated-project".into(),
        project_number: "123456789012".into(),
        zone: "europe-west4-c".into(),
    };
    let issued_at = time::OffsetDateTime::from_unix_timestamp(NOW.0).expect("time");
    let full = signer().identity_token(&instance, "coder", issued_at, true);
    let identity = check(&full, Ok("1234567890123456789")).expect("identity");
    assert_eq!(identity.project_id.as_deref(), Some("emulated-project"));
    assert_eq!(identity.zone.as_deref(), Some("europe-west4-c"));
    assert_eq!(identity.instance_name.as_deref(), Some("emulated"));
    assert_eq!(identity.audience, "coder");
    assert_eq!(identity.expires_at, UnixTime(NOW.0 + 3600));
    // Without `format=full` the token names no instance.
    let short = signer().identity_token(&instance, "coder", issued_at, false);
    check(
        &short,
        Err((
            Malformed,
            "the token has no valid `google.compute_engine.instance_id` claim",
        )),
    );
    check_kid(&full, Ok(signer().kid()));
}

#[test]
fn both_google_issuers_are_accepted_and_nothing_else() {
    check(
        &sign(&header(), &with("iss", json!("accounts.google.com"))),
        Ok(INSTANCE_ID),
    );
    for (issuer, message) in [
        (
            "https://evil.example",
            "the token's issuer https://evil.example is not Google (https://accounts.google.com)",
        ),
        (
            "http://accounts.google.com",
            "the token's issuer http://accounts.google.com is not Google (https://accounts.google.com)",
        ),
        (
            "https://accounts.google.com/",
            "the token's issuer https://accounts.google.com/ is not Google (https://accounts.google.com)",
        ),
        (
            "https://accounts.google.com.evil.example",
            "the token's issuer https://accounts.google.com.evil.example is not Google (https://accounts.google.com)",
        ),
        (
            "",
            "the token's issuer is not Google (https://accounts.google.com)",
        ),
        // Not shown: it has characters outside the safe alphabet.
        (
            "https://accounts.google.com\" ",
            "the token's issuer is not Google (https://accounts.google.com)",
        ),
    ] {
        check(
            &sign(&header(), &with("iss", json!(issuer))),
            Err((IssuerMismatch, message)),
        );
    }
    for claims in [
        without("iss"),
        with("iss", json!(null)),
        with("iss", json!(["https://accounts.google.com"])),
    ] {
        check(
            &sign(&header(), &claims),
            Err((Malformed, "the token has no valid `iss` claim")),
        );
    }
}

#[test]
fn audience_rules() {
    check(
        &sign(&header(), &with("aud", json!("coder"))),
        Ok(INSTANCE_ID),
    );
    check(
        &sign(&header(), &with("aud", json!([AUDIENCE]))),
        Ok(INSTANCE_ID),
    );
    for (audience, message) in [
        (
            json!("https://other.example"),
            "the token's audience https://other.example is not one of the accepted audiences",
        ),
        (
            json!(["https://other.example"]),
            "the token's audience https://other.example is not one of the accepted audiences",
        ),
        (
            json!("Coder"),
            "the token's audience Coder is not one of the accepted audiences",
        ),
        (
            json!("coder "),
            "the token's audience is not one of the accepted audiences",
        ),
        (
            json!(""),
            "the token's audience is not one of the accepted audiences",
        ),
        (
            json!([AUDIENCE, "https://other.example"]),
            "the token must name exactly one audience, found 2",
        ),
        (
            json!([AUDIENCE, AUDIENCE]),
            "the token must name exactly one audience, found 2",
        ),
        (
            json!([]),
            "the token must name exactly one audience, found 0",
        ),
    ] {
        check(
            &sign(&header(), &with("aud", audience)),
            Err((AudienceMismatch, message)),
        );
    }
    for claims in [
        without("aud"),
        with("aud", json!(null)),
        with("aud", json!(1)),
        with("aud", json!([1])),
        with("aud", json!([AUDIENCE, null])),
        with("aud", json!({"aud": AUDIENCE})),
    ] {
        check(
            &sign(&header(), &claims),
            Err((Malformed, "the token has no valid `aud` claim")),
        );
    }
    // No accepted audience at all: nothing verifies.
    check_with(
        &sign(&header(), &claims()),
        &keys(),
        &[],
        NOW,
        Err((
            AudienceMismatch,
            "the token's audience https://idgate.example is not one of the accepted audiences",
        )),
    );
}

#[test]
fn expiry_allows_sixty_seconds_of_skew() {
    for (exp, expected) in [
        (NOW.0 - 59, Ok(INSTANCE_ID)),
        (NOW.0 - 60, Ok(INSTANCE_ID)),
        (NOW.0 - 61, Err((TokenExpired, EXPIRED))),
        (NOW.0 - 3600, Err((TokenExpired, EXPIRED))),
        (i64::MIN, Err((TokenExpired, EXPIRED))),
        (i64::MAX, Ok(INSTANCE_ID)),
    ] {
        let mut claims = with("exp", json!(exp));
        claims["iat"] = json!(NOW.0 - 3600);
        check(&sign(&header(), &claims), expected);
    }
    for claims in [
        without("exp"),
        with("exp", json!(null)),
        with("exp", json!("1796342400")),
        with("exp", json!(1_796_342_400.5)),
        with("exp", json!(u64::MAX)),
    ] {
        check(
            &sign(&header(), &claims),
            Err((Malformed, "the token has no valid `exp` claim")),
        );
    }
}

#[test]
fn issue_time_allows_sixty_seconds_of_skew() {
    let future = "the token's `iat` is more than 60 seconds in the future";
    for (iat, expected) in [
        (NOW.0 + 59, Ok(INSTANCE_ID)),
        (NOW.0 + 60, Ok(INSTANCE_ID)),
        (NOW.0 + 61, Err((TokenExpired, future))),
        (i64::MAX, Err((TokenExpired, future))),
        (i64::MIN, Ok(INSTANCE_ID)),
    ] {
        check(&sign(&header(), &with("iat", json!(iat))), expected);
    }
    for claims in [
        without("iat"),
        with("iat", json!(null)),
        with("iat", json!(1.5)),
    ] {
        check(
            &sign(&header(), &claims),
            Err((Malformed, "the token has no valid `iat` claim")),
        );
    }
}

#[test]
fn not_before_is_honoured_when_present() {
    check(
        &sign(&header(), &with("nbf", json!(NOW.0 + 60))),
        Ok(INSTANCE_ID),
    );
    check(
        &sign(&header(), &with("nbf", json!(NOW.0 + 61))),
        Err((
            TokenExpired,
            "the token's `nbf` is more than 60 seconds in the future",
        )),
    );
    check(
        &sign(&header(), &with("nbf", json!("soon"))),
        Err((Malformed, "the token has no valid `nbf` claim")),
    );
}

#[test]
fn the_instance_id_is_required_and_decimal() {
    let missing = "the token has no valid `google.compute_engine.instance_id` claim";
    let mut no_id = claims();
    if let Some(Value::Object(engine)) = no_id.pointer_mut("/google/compute_engine") {
        engine.remove("instance_id");
    }
    let mut flat = without("google");
    flat["google.compute_engine.instance_id"] = json!(INSTANCE_ID);
    let mut cases = vec![no_id, without("google"), with("google", json!({})), flat];
    for id in [
        json!(4242424242424242424u64),
        json!(""),
        json!("i-0123456789abcdef0"),
        json!("42 "),
        json!("+42"),
        json!("123456789012345678901"),
    ] {
        let mut claims = claims();
        claims["google"]["compute_engine"]["instance_id"] = id;
        cases.push(claims);
    }
    for claims in cases {
        check(&sign(&header(), &claims), Err((Malformed, missing)));
    }
    // Extra fields (such as `license_id`) are ignored; the kept ones must be valid text.
    let mut extra = claims();
    extra["google"]["compute_engine"]["license_id"] = json!(["5731035067256925298"]);
    extra["google"]["compute_engine"]["instance_confidentiality"] = json!(1);
    check(&sign(&header(), &extra), Ok(INSTANCE_ID));
    let mut bad_zone = claims();
    bad_zone["google"]["compute_engine"]["zone"] = json!(7);
    check(
        &sign(&header(), &bad_zone),
        Err((
            Malformed,
            "the token has no valid `google.compute_engine.zone` claim",
        )),
    );
}

#[test]
fn a_changed_token_breaks_the_signature() {
    let good = sign(&header(), &claims());
    let (signing_input, signature) = good.rsplit_once('.').expect("segments");
    let (header_b64, _) = signing_input.split_once('.').expect("segments");

    // Another instance ID under the original signature.
    let mut forged = claims();
    forged["google"]["compute_engine"]["instance_id"] = json!("1");
    let tampered = format!("{header_b64}.{}.{signature}", b64url(forged.to_string()));
    check(&tampered, Err((SignatureInvalid, BAD_SIGNATURE)));

    // The same claims re-serialised (whitespace) are other bytes: still refused.
    let pretty = serde_json::to_string_pretty(&claims()).expect("JSON");
    let reformatted = format!("{header_b64}.{}.{signature}", b64url(pretty));
    check(&reformatted, Err((SignatureInvalid, BAD_SIGNATURE)));

    // A flipped signature bit, a truncated signature, an empty one.
    let mut bytes = base64_decode(signature);
    bytes[10] ^= 1;
    check(
        &format!("{signing_input}.{}", b64url(&bytes)),
        Err((SignatureInvalid, BAD_SIGNATURE)),
    );
    check(
        &format!("{signing_input}.{}", b64url(&bytes[..255])),
        Err((SignatureInvalid, BAD_SIGNATURE)),
    );
    check(
        &format!("{signing_input}."),
        Err((SignatureInvalid, BAD_SIGNATURE)),
    );

    // Signed by another key under our kid.
    let other = other_signer().sign_raw(&header().to_string(), &claims().to_string());
    check(&other, Err((SignatureInvalid, BAD_SIGNATURE)));
}

#[test]
fn alg_none_is_refused() {
    let payload = b64url(claims().to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "kid": signer().kid(), "typ": "JWT"});
        let unsigned = format!("{}.{payload}.", b64url(header.to_string()));
        check(&unsigned, Err((SignatureInvalid, NOT_RS256)));
        // With a valid RS256 signature over the same input it is still refused.
        check(
            &sign(&header, &claims()),
            Err((SignatureInvalid, NOT_RS256)),
        );
    }
}

/// HMAC-SHA256 (RFC 2104), written out so that the test needs no HMAC crate: idgate-verify
/// has none and must never need one.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

#[test]
fn hmac_with_the_public_key_as_secret_is_refused() {
    let public = signer().public_key();
    let spki_der = public.to_public_key_der().expect("SPKI DER");
    let spki_pem = public.to_public_key_pem(LineEnding::LF).expect("SPKI PEM");
    let pkcs1_der = public.to_pkcs1_der().expect("PKCS#1 DER");
    let pkcs1_pem = public.to_pkcs1_pem(LineEnding::LF).expect("PKCS#1 PEM");
    let n = public.n().to_bytes_be();
    let secrets: Vec<Vec<u8>> = vec![
        spki_der.as_bytes().to_vec(),
        spki_pem.into_bytes(),
        pkcs1_der.as_bytes().to_vec(),
        pkcs1_pem.into_bytes(),
        n.clone(),
        b64url(&n).into_bytes(),
        signer().jwks_json().into_bytes(),
    ];
    for alg in ["HS256", "HS384", "HS512"] {
        let header = json!({"alg": alg, "kid": signer().kid(), "typ": "JWT"});
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string()),
            b64url(claims().to_string())
        );
        for secret in &secrets {
            let mac = hmac_sha256(secret, signing_input.as_bytes());
            let token = format!("{signing_input}.{}", b64url(mac));
            check(&token, Err((SignatureInvalid, NOT_RS256)));
        }
        // A garbage MAC gets the very same answer: no MAC is ever computed.
        let garbage = format!("{signing_input}.{}", b64url([0u8; 32]));
        check(&garbage, Err((SignatureInvalid, NOT_RS256)));
    }
}

#[test]
fn other_algorithms_are_refused() {
    for alg in [
        "RS384", "RS512", "PS256", "PS512", "ES256", "ES384", "EdDSA", "rs256", "RS256 ", "",
    ] {
        let header = json!({"alg": alg, "kid": signer().kid(), "typ": "JWT"});
        check(
            &sign(&header, &claims()),
            Err((SignatureInvalid, NOT_RS256)),
        );
    }
    for header in [
        json!({"kid": signer().kid()}),
        json!({"alg": null, "kid": signer().kid()}),
        json!({"alg": ["RS256"], "kid": signer().kid()}),
        json!({"alg": 256, "kid": signer().kid()}),
    ] {
        check(
            &sign(&header, &claims()),
            Err((Malformed, "the token header has no valid `alg` field")),
        );
    }
}

#[test]
fn the_kid_chooses_the_key() {
    // Unknown kid: its value is shown when it is safe to show.
    let unknown = json!({"alg": "RS256", "kid": "0123456789abcdef", "typ": "JWT"});
    check(
        &sign(&unknown, &claims()),
        Err((
            UnknownKey,
            "the token's signing key 0123456789abcdef is not in the GCP key set",
        )),
    );
    let unsafe_kid = json!({"alg": "RS256", "kid": "{\"x\": 1}\n", "typ": "JWT"});
    check(
        &sign(&unsafe_kid, &claims()),
        Err((
            UnknownKey,
            "the token's signing key is not in the GCP key set",
        )),
    );
    let long_kid = json!({"alg": "RS256", "kid": "a".repeat(200), "typ": "JWT"});
    check(
        &sign(&long_kid, &claims()),
        Err((
            UnknownKey,
            "the token's signing key is not in the GCP key set",
        )),
    );
    // A kid of the trusted set must match exactly.
    let upper = json!({"alg": "RS256", "kid": signer().kid().to_uppercase(), "typ": "JWT"});
    let message = format!(
        "the token's signing key {} is not in the GCP key set",
        signer().kid().to_uppercase()
    );
    check(&sign(&upper, &claims()), Err((UnknownKey, &message)));

    // Missing or invalid kid.
    for header in [
        json!({"alg": "RS256", "typ": "JWT"}),
        json!({"alg": "RS256", "kid": "", "typ": "JWT"}),
        json!({"alg": "RS256", "kid": null, "typ": "JWT"}),
        json!({"alg": "RS256", "kid": 7, "typ": "JWT"}),
    ] {
        let token = sign(&header, &claims());
        let message = "the token header has no valid `kid` field";
        check(&token, Err((Malformed, message)));
        check_kid(&token, Err(message));
    }

    // With both keys trusted, each token verifies with its own.
    let both = format!(
        r#"{{"keys":[{},{}]}}"#,
        first_jwk(&signer().jwks_json()),
        first_jwk(&other_signer().jwks_json())
    );
    let both = GcpKeys::from_jwks_json(both.as_bytes()).expect("JWKS");
    assert_eq!(both.len(), 2);
    let other_header = json!({"alg": "RS256", "kid": other_signer().kid(), "typ": "JWT"});
    let other = other_signer().sign_raw(&other_header.to_string(), &claims().to_string());
    check_with(&other, &both, &audiences(), NOW, Ok(INSTANCE_ID));
    check_with(
        &sign(&header(), &claims()),
        &both,
        &audiences(),
        NOW,
        Ok(INSTANCE_ID),
    );
}

fn first_jwk(jwks: &str) -> String {
    let jwks: Value = serde_json::from_str(jwks).expect("JWKS");
    jwks["keys"][0].to_string()
}

#[test]
fn critical_header_extensions_are_refused() {
    let mut header = header();
    header["crit"] = json!(["exp"]);
    let token = sign(&header, &claims());
    let message = "the token header has no valid `crit` field";
    check(&token, Err((Malformed, message)));
    check_kid(&token, Err(message));
}

#[test]
fn malformed_tokens() {
    let good = sign(&header(), &claims());
    let segments: Vec<&str> = good.split('.').collect();
    let [h, p, s] = segments.as_slice() else {
        panic!("three segments");
    };
    let three = "the token is not three base64url segments separated by dots";
    for token in [
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}."),
        format!("{h}{p}{s}"),
        "..".repeat(2),
        ".".to_owned(),
    ] {
        check(&token, Err((Malformed, three)));
        check_kid(&token, Err(three));
    }
    let base64 = |segment: &str| format!("the token's {segment} is not base64url without padding");
    for (token, segment) in [
        (format!("{h}=.{p}.{s}"), "header"),
        (format!("{h}.{p}==.{s}"), "payload"),
        (format!("{h}.{p}.{s}="), "signature"),
        (
            format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/")),
            "signature",
        ),
        (format!(" {h}.{p}.{s}"), "header"),
        (format!("{h}.{p}.{s}\n"), "signature"),
        // 342 + 3 characters: not a possible base64 length.
        (format!("{h}.{p}.{s}AAA"), "signature"),
        // Non-zero unused low bits in the last character: a second spelling of a signature.
        (format!("{h}.{p}.{}B", &s[..s.len() - 1]), "signature"),
    ] {
        check(&token, Err((Malformed, &base64(segment))));
    }
    // A standard-alphabet signature that happens to need no replacement is the same text; make
    // sure the replacement above changed something.
    assert!(s.contains('-') || s.contains('_'));

    let header_json = "the token's header is not a JSON object";
    for header in ["", "alg=RS256", "[\"RS256\"]", "null", "{\"alg\":\"RS256\""] {
        let token = format!("{}.{p}.{s}", b64url(header));
        check(&token, Err((Malformed, header_json)));
        check_kid(&token, Err(header_json));
    }
    // A payload that is not JSON is only parsed after the signature verified.
    let payload_json = "the token's payload is not a JSON object";
    for payload in ["", "not json", "[]", "{\"aud\":"] {
        let token = signer().sign_raw(&header().to_string(), payload);
        check(&token, Err((Malformed, payload_json)));
        let unsigned = format!("{h}.{}.{s}", b64url(payload));
        check(&unsigned, Err((SignatureInvalid, BAD_SIGNATURE)));
    }

    let size = format!("the `json_web_token` field is empty or larger than {MAX_TOKEN_LEN} bytes");
    check("", Err((Malformed, &size)));
    let mut big = claims();
    big["padding"] = json!("x".repeat(MAX_TOKEN_LEN));
    check(&sign(&header(), &big), Err((Malformed, &size)));
    check_kid("", Err(&size));
    // Just under the limit is fine.
    let mut large = claims();
    large["padding"] = json!("");
    let base = sign(&header(), &large).len();
    large["padding"] = json!("x".repeat((MAX_TOKEN_LEN - base) * 3 / 4 - 3));
    let token = sign(&header(), &large);
    assert!(token.len() <= MAX_TOKEN_LEN && token.len() > MAX_TOKEN_LEN - 16);
    check(&token, Ok(INSTANCE_ID));
}

#[test]
fn token_kid_verifies_nothing() {
    // Expired, for another audience, signed by an unknown key: the kid is still read.
    let header = json!({"alg": "RS256", "kid": "some-rotated-key", "typ": "JWT"});
    let token = other_signer().sign_raw(&header.to_string(), &with("exp", json!(0)).to_string());
    assert_eq!(token_kid(&token).ok().as_deref(), Some("some-rotated-key"));
    // Even with another algorithm (the algorithm is checked by verify_gcp).
    let hs = json!({"alg": "HS256", "kid": "k"});
    check_kid(&format!("{}.e30.", b64url(hs.to_string())), Ok("k"));
}

#[test]
fn every_message_is_safe_and_every_kind_is_right() {
    // `check` asserts safety for each failure above; this test pins the error → kind map of
    // the GCP variants, including those only a key set can produce.
    use idgate_verify::{Error, FailureKind};
    let cases: Vec<(Error, FailureKind)> = vec![
        (Error::TokenSegments, Malformed),
        (Error::TokenBase64 { segment: "header" }, Malformed),
        (Error::TokenJson { segment: "payload" }, Malformed),
        (Error::TokenHeaderField { field: "kid" }, Malformed),
        (Error::TokenClaim { claim: "exp" }, Malformed),
        (Error::AlgorithmNotAllowed, SignatureInvalid),
        (Error::TokenSignatureInvalid, SignatureInvalid),
        (Error::UnknownKeyId { kid: None }, UnknownKey),
        (Error::IssuerNotGoogle { issuer: None }, IssuerMismatch),
        (
            Error::AudienceNotAccepted { audience: None },
            AudienceMismatch,
        ),
        (Error::AudienceNotSingle { found: 2 }, AudienceMismatch),
        (
            Error::TokenExpired {
                expires_at: UnixTime(0),
            },
            TokenExpired,
        ),
        (Error::TokenNotYetValid { claim: "iat" }, TokenExpired),
        (Error::GcpKeySetFormat, Malformed),
        (Error::InvalidGcpKey { position: 1 }, Malformed),
        (Error::DuplicateKeyId { position: 2 }, Malformed),
        (Error::NoUsableGcpKeys, Malformed),
    ];
    for (error, kind) in cases {
        assert_eq!(error.kind(), kind, "{error}");
    }
    // Values outside the safe alphabet are never shown, even if a caller builds the error.
    let error = Error::IssuerNotGoogle {
        issuer: Some("\"}\n".to_owned()),
    };
    assert_eq!(
        error.to_string(),
        "the token's issuer is not Google (https://accounts.google.com)"
    );
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}
