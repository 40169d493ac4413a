//! AWS IMDSv2: tokens (TTL bounds, expiry, proxies) and the signed identity documents.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetStringRef};
use der::{Decode as _, DecodePem as _, Encode as _};
use reqwest::StatusCode;
use rsa::Pkcs1v15Sign;
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;

use crate::support::{AWS_KEY, START, client, start};

const TTL: &str = "X-aws-ec2-metadata-token-ttl-seconds";
const TOKEN: &str = "X-aws-ec2-metadata-token";

async fn put_token(base: &str, ttl: Option<&str>) -> reqwest::Response {
    let mut request = client().put(format!("{base}/latest/api/token"));
    if let Some(ttl) = ttl {
        request = request.header(TTL, ttl);
    }
    request.send().await.unwrap()
}

async fn token(base: &str, ttl: &str) -> String {
    let response = put_token(base, Some(ttl)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

async fn get(base: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = client().get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.header(TOKEN, token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn token_ttl_must_be_from_1_to_21600_seconds() {
    let (emulator, _) = start("aws").await;
    let base = emulator.url();
    for (ttl, expected) in [
        (None, StatusCode::BAD_REQUEST),
        (Some("0"), StatusCode::BAD_REQUEST),
        (Some("21601"), StatusCode::BAD_REQUEST),
        (Some("-5"), StatusCode::BAD_REQUEST),
        (Some("ten"), StatusCode::BAD_REQUEST),
        (Some("1"), StatusCode::OK),
        (Some("21600"), StatusCode::OK),
    ] {
        let response = put_token(&base, ttl).await;
        assert_eq!(response.status(), expected, "TTL {ttl:?}");
        if expected == StatusCode::OK {
            assert_eq!(response.headers()[TTL], ttl.unwrap());
            let token = response.text().await.unwrap();
            assert!(token.len() >= 40, "{token}");
        }
    }
    emulator.stop().await.unwrap();
}

#[tokio::test]
async fn reads_need_a_known_unexpired_token() {
    let (emulator, clock) = start("aws").await;
    let base = emulator.url();
    let path = "/latest/meta-data/instance-id";

    assert_eq!(
        get(&base, path, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown = "AQAEAFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake==";
    assert_eq!(
        get(&base, path, Some(unknown)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Unknown paths are refused before they are looked up.
    assert_eq!(
        get(&base, "/latest/nothing", None).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let short = token(&base, "2").await;
    let long = token(&base, "21600").await;
    let response = get(&base, path, Some(&short)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "i-0123456789abcdef0");

    clock.advance(Duration::from_secs(1));
    assert_eq!(
        get(&base, path, Some(&short)).await.status(),
        StatusCode::OK
    );
    clock.advance(Duration::from_secs(1));
    let expired = get(&base, path, Some(&short)).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert!(expired.text().await.unwrap().contains("401 - Unauthorized"));
    assert_eq!(get(&base, path, Some(&long)).await.status(), StatusCode::OK);

    assert_eq!(
        get(&base, "/latest/nothing", Some(&long)).await.status(),
        StatusCode::NOT_FOUND
    );
    emulator.stop().await.unwrap();
}

#[tokio::test]
async fn token_requests_through_a_proxy_are_refused() {
    let (emulator, _) = start("aws").await;
    let response = client()
        .put(format!("{}/latest/api/token", emulator.url()))
        .header(TTL, "60")
        .header("X-Forwarded-For", "10.0.0.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    emulator.stop().await.unwrap();
}

#[tokio::test]
async fn identity_document_and_its_signatures() {
    let (emulator, _) = start("aws").await;
    let base = emulator.url();
    let token = token(&base, "60").await;
    let read = |path: &'static str| {
        let base = base.clone();
        let token = token.clone();
        async move {
            let response = get(&base, path, Some(&token)).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.text().await.unwrap()
        }
    };

    let document = read("/latest/dynamic/instance-identity/document").await;
    let parsed: serde_json::Value = serde_json::from_str(&document).unwrap();
    assert_eq!(parsed["instanceId"], "i-0123456789abcdef0");
    assert_eq!(parsed["region"], "us-east-1");
    assert_eq!(parsed["accountId"], "123456789012");
    assert!(document.starts_with("{\n  \"accountId\" : "));

    let (key, certificate_pem) = &*AWS_KEY;
    let public = key.to_public_key();
    let signature = read("/latest/dynamic/instance-identity/signature").await;
    let signature = STANDARD.decode(signature.replace('\n', "")).unwrap();
    public
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(document.as_bytes()),
            &signature,
        )
        .unwrap();

    let rsa2048 = read("/latest/dynamic/instance-identity/rsa2048").await;
    assert!(rsa2048.lines().all(|line| line.len() <= 76));
    assert_eq!(
        read("/latest/dynamic/instance-identity/pkcs7").await,
        rsa2048
    );
    let der = STANDARD.decode(rsa2048.replace('\n', "")).unwrap();
    let content_info = ContentInfo::from_der(&der).unwrap();
    assert_eq!(
        content_info.content_type,
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2")
    );
    let signed: SignedData = content_info.content.decode_as().unwrap();
    assert!(
        signed.certificates.is_none(),
        "AWS puts no certificates in the bag"
    );
    let content: OctetStringRef<'_> = signed
        .encap_content_info
        .econtent
        .as_ref()
        .unwrap()
        .decode_as()
        .unwrap();
    assert_eq!(content.as_bytes(), document.as_bytes());

    let signer = signed.signer_infos.0.get(0).unwrap();
    assert_eq!(signed.signer_infos.0.len(), 1);
    let certificate = Certificate::from_pem(certificate_pem.as_bytes()).unwrap();
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer.sid else {
        panic!("the signer must be named by issuer and serial");
    };
    assert_eq!(sid.issuer, certificate.tbs_certificate.issuer);
    assert_eq!(sid.serial_number, certificate.tbs_certificate.serial_number);
    assert_eq!(
        signer.digest_alg.oid,
        ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1")
    );
    let attributes = signer.signed_attrs.as_ref().unwrap();
    let oids: Vec<String> = attributes.iter().map(|a| a.oid.to_string()).collect();
    for expected in [
        "1.2.840.113549.1.9.3", // contentType
        "1.2.840.113549.1.9.4", // messageDigest
        "1.2.840.113549.1.9.5", // signingTime
    ] {
        assert!(oids.contains(&expected.to_owned()), "{oids:?}");
    }
    let signing_time = attributes
        .iter()
        .find(|a| a.oid.to_string() == "1.2.840.113549.1.9.5")
        .unwrap();
    let signing_time: der::asn1::UtcTime = signing_time.values.get(0).unwrap().decode_as().unwrap();
    assert_eq!(
        signing_time.to_unix_duration().as_secs(),
        START.unix_timestamp() as u64
    );
    let digest = attributes
        .iter()
        .find(|a| a.oid.to_string() == "1.2.840.113549.1.9.4")
        .unwrap();
    let digest: OctetStringRef<'_> = digest.values.get(0).unwrap().decode_as().unwrap();
    assert_eq!(
        digest.as_bytes(),
        Sha256::digest(document.as_bytes()).as_slice()
    );
    public
        .verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(attributes.to_der().unwrap()),
            signer.signature.as_bytes(),
        )
        .unwrap();

    assert_eq!(
        read("/latest/meta-data/placement/region").await,
        "us-east-1"
    );
    assert_eq!(
        read("/latest/meta-data/placement/availability-zone").await,
        "us-east-1a"
    );
    assert!(read("/latest/meta-data/").await.contains("instance-id"));
    emulator.stop().await.unwrap();
}
