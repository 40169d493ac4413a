//! The GCE metadata server: the Metadata-Flavor header both ways, the identity token's
//! audience and claims, the instance metadata and the key helpers.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::support::{START, client, start};

const IDENTITY: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";

async fn get(base: &str, path: &str, flavored: bool) -> reqwest::Response {
    let mut request = client().get(format!("{base}{path}"));
    if flavored {
        request = request.header("Metadata-Flavor", "Google");
    }
    request.send().await.unwrap()
}

fn flavor(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get("Metadata-Flavor")
        .map(|value| value.to_str().unwrap())
        .unwrap_or("<missing>")
}

fn payload(token: &str) -> Value {
    let segment = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

#[tokio::test]
async fn the_flavor_header_is_required_and_always_answered() {
    let (emulator, _) = start("gcp").await;
    let base = emulator.url();

    let refused = get(&base, "/computeMetadata/v1/instance/id", false).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(flavor(&refused), "Google");
    let refused = get(&base, &format!("{IDENTITY}?audience=coder"), false).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let wrong = client()
        .get(format!("{base}/computeMetadata/v1/instance/id"))
        .header("Metadata-Flavor", "Amazon")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let proxied = client()
        .get(format!("{base}/computeMetadata/v1/instance/id"))
        .header("Metadata-Flavor", "Google")
        .header("X-Forwarded-For", "10.0.0.7")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), StatusCode::FORBIDDEN);

    // The probe of google-auth's _metadata.ping.
    for flavored in [false, true] {
        let root = get(&base, "/", flavored).await;
        assert_eq!(root.status(), StatusCode::OK);
        assert_eq!(flavor(&root), "Google");
        assert_eq!(root.text().await.unwrap(), "computeMetadata/");
    }
    let missing = get(&base, "/computeMetadata/v1/nothing", true).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(flavor(&missing), "Google");

    let id = get(&base, "/computeMetadata/v1/instance/id", true).await;
    assert_eq!(id.status(), StatusCode::OK);
    assert_eq!(flavor(&id), "Google");
    assert_eq!(id.text().await.unwrap(), "1234567890123456789");
    let listing = get(&base, "/computeMetadata/v1/", true).await;
    assert_eq!(listing.text().await.unwrap(), "instance/\nproject/");
    let zone = get(&base, "/computeMetadata/v1/instance/zone", true).await;
    assert_eq!(
        zone.text().await.unwrap(),
        "projects/123456789012/zones/us-central1-a"
    );
    let account = get(
        &base,
        "/computeMetadata/v1/instance/service-accounts/default/?recursive=true",
        true,
    )
    .await;
    let account: Value = account.json().await.unwrap();
    assert_eq!(
        account["email"],
        "123456789012-compute@developer.gserviceaccount.com"
    );
    emulator.stop().await.unwrap();
}

#[tokio::test]
async fn identity_tokens_carry_the_audience_and_full_claims() {
    let (emulator, _) = start("gcp").await;
    let base = emulator.url();

    let missing = get(&base, IDENTITY, true).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);

    let full = get(
        &base,
        &format!("{IDENTITY}?audience=coder&format=full"),
        true,
    )
    .await;
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(flavor(&full), "Google");
    let token = full.text().await.unwrap();
    let claims = payload(&token);
    assert_eq!(claims["aud"], "coder");
    assert_eq!(claims["iss"], "https://accounts.google.com");
    assert_eq!(claims["iat"], START.unix_timestamp());
    let engine = &claims["google"]["compute_engine"];
    assert_eq!(engine["instance_id"], "1234567890123456789");
    assert_eq!(engine["project_id"], "idgate-test");
    assert_eq!(engine["zone"], "us-central1-a");
    assert_eq!(engine["instance_name"], "idgate-test-vm");

    let standard = get(
        &base,
        &format!("{IDENTITY}?audience=https%3A%2F%2Fidgate.example"),
        true,
    )
    .await;
    let claims = payload(&standard.text().await.unwrap());
    assert_eq!(claims["aud"], "https://idgate.example");
    assert!(claims.get("google").is_none());

    // The service account may be named by its email.
    let by_email = get(
        &base,
        "/computeMetadata/v1/instance/service-accounts/123456789012-compute@developer.gserviceaccount.com/identity?audience=x",
        true,
    )
    .await;
    assert_eq!(by_email.status(), StatusCode::OK);

    // The token verifies with the JWKS the emulator serves (no header needed there).
    let jwks = client()
        .get(format!("{base}/idgate/gcp/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
    let jwks: Value = jwks.json().await.unwrap();
    let jwk = &jwks["keys"][0];
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], jwk["kid"]);
    let number = |field: &str| {
        BigUint::from_bytes_be(
            &URL_SAFE_NO_PAD
                .decode(jwk[field].as_str().unwrap())
                .unwrap(),
        )
    };
    let key = RsaPublicKey::new(number("n"), number("e")).unwrap();
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    key.verify(
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(signing_input.as_bytes()),
        &URL_SAFE_NO_PAD.decode(signature).unwrap(),
    )
    .unwrap();

    let certs = client()
        .get(format!("{base}/idgate/gcp/certs"))
        .send()
        .await
        .unwrap();
    let certs: Value = certs.json().await.unwrap();
    let pem = certs[jwk["kid"].as_str().unwrap()].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    emulator.stop().await.unwrap();
}
