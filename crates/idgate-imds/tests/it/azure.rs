//! Azure IMDS: the required header and api-version, the nonce and 6-hour timestamp in the
//! signed content, the compute leaves and the intermediate helper.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::Decode as _;
use der::asn1::OctetStringRef;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{AZURE, client, start};

async fn attested(base: &str, query: &str, metadata: bool) -> reqwest::Response {
    let mut request = client().get(format!("{base}/metadata/attested/document?{query}"));
    if metadata {
        request = request.header("Metadata", "true");
    }
    request.send().await.unwrap()
}

/// The signed JSON content of an attested document's `signature`.
fn signed_content(signature: &str) -> Value {
    let der = STANDARD.decode(signature).unwrap();
    let signed: SignedData = ContentInfo::from_der(&der)
        .unwrap()
        .content
        .decode_as()
        .unwrap();
    let content: OctetStringRef<'_> = signed
        .encap_content_info
        .econtent
        .as_ref()
        .unwrap()
        .decode_as()
        .unwrap();
    serde_json::from_slice(content.as_bytes()).unwrap()
}

#[tokio::test]
async fn the_metadata_header_and_api_version_are_required() {
    let (emulator, _) = start("azure").await;
    let base = emulator.url();

    let response = attested(&base, "api-version=2020-09-01", false).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        "Bad request. Required metadata header not specified"
    );

    let response = attested(&base, "nonce=1", true).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("api-version"));

    let response = client()
        .get(format!(
            "{base}/metadata/attested/document?api-version=2020-09-01"
        ))
        .header("Metadata", "true")
        .header("X-Forwarded-For", "10.0.0.7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Unknown paths are checked the same way before being refused.
    let response = client()
        .get(format!("{base}/metadata/nothing?api-version=2020-09-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = client()
        .get(format!("{base}/metadata/nothing?api-version=2020-09-01"))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    emulator.stop().await.unwrap();
}

#[tokio::test]
async fn the_nonce_and_a_six_hour_timestamp_are_signed() {
    let (emulator, _) = start("azure").await;
    let base = emulator.url();

    let response = attested(&base, "api-version=2020-09-01&nonce=1234567890", true).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["encoding"], "pkcs7");
    let content = signed_content(body["signature"].as_str().unwrap());
    assert_eq!(content["nonce"], "1234567890");
    assert_eq!(content["vmId"], "6d7a1e5c-2b8f-4c3a-9e4d-0f1a2b3c4d5e");
    assert_eq!(
        content["subscriptionId"],
        "11111111-2222-3333-4444-555555555555"
    );
    // The manual clock is at 2026-03-01 12:00:00 UTC.
    assert_eq!(content["timeStamp"]["createdOn"], "03/01/26 12:00:00 -0000");
    assert_eq!(content["timeStamp"]["expiresOn"], "03/01/26 18:00:00 -0000");

    // Without a nonce, Azure puts the expiry time there.
    let response = attested(&base, "api-version=2020-09-01", true).await;
    let body: Value = response.json().await.unwrap();
    let content = signed_content(body["signature"].as_str().unwrap());
    assert_eq!(content["nonce"], "20260301-180000");
    emulator.stop().await.unwrap();
}

#[tokio::test]
async fn compute_leaves_and_the_intermediate() {
    let (emulator, _) = start("azure").await;
    let base = emulator.url();
    let response = client()
        .get(format!(
            "{base}/metadata/instance/compute/vmId?api-version=2021-02-01&format=text"
        ))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        "6d7a1e5c-2b8f-4c3a-9e4d-0f1a2b3c4d5e"
    );
    let response = client()
        .get(format!(
            "{base}/metadata/instance/compute/subscriptionId?api-version=2021-02-01"
        ))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    let value: Value = response.json().await.unwrap();
    assert_eq!(value, "11111111-2222-3333-4444-555555555555");

    // The helper needs no header and serves the intermediate, DER.
    let response = client()
        .get(format!("{base}/idgate/azure/intermediate.cer"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let der = response.bytes().await.unwrap();
    assert_eq!(
        der.as_ref(),
        AZURE.intermediate().certificate_der().unwrap().as_slice()
    );
    emulator.stop().await.unwrap();
}
