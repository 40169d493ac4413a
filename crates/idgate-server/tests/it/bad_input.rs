//! Bad input gets a clear 4xx JSON error — never a 5xx, a panic or lost data.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, ec2, signed_document};

const AWS: &str = "/api/v2/workspaceagents/aws-instance-identity";

/// Sends `body` to the AWS endpoint and returns (status, code, first validation field).
async fn check(app: &TestApp, body: &str) -> (u16, String, String) {
    let answer = app.post_raw(AWS, body.to_owned()).await;
    let field = answer.body["validations"][0]["field"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    (answer.status.as_u16(), answer.code().to_owned(), field)
}

#[tokio::test]
async fn malformed_requests_are_400_with_the_field() {
    let app = TestApp::spawn().await;
    let (document, signature) = signed_document("i-x");
    let cases: Vec<(String, (u16, &str, &str))> = vec![
        ("{".into(), (400, "invalid_json", "")),
        ("".into(), (400, "invalid_json", "")),
        ("not json".into(), (400, "invalid_json", "")),
        ("[1,2]".into(), (400, "validation_failed", "(body)")),
        ("{}".into(), (400, "validation_failed", "document")),
        (
            json!({"document": 5, "signature": signature}).to_string(),
            (400, "validation_failed", "document"),
        ),
        (
            json!({"document": "", "signature": signature}).to_string(),
            (400, "validation_failed", "document"),
        ),
        (
            json!({"document": document}).to_string(),
            (400, "validation_failed", "signature"),
        ),
        (
            json!({"document": document, "signature": "", "pkcs7": ""}).to_string(),
            (400, "validation_failed", "signature"),
        ),
        (
            json!({"document": document, "signature": ["a"]}).to_string(),
            (400, "validation_failed", "signature"),
        ),
        (
            json!({"document": document, "signature": signature, "agent_name": 7}).to_string(),
            (400, "validation_failed", "agent_name"),
        ),
    ];
    for (body, (status, code, field)) in cases {
        assert_eq!(
            check(&app, &body).await,
            (status, code.to_owned(), field.to_owned()),
            "body: {body}"
        );
    }
}

#[tokio::test]
async fn forged_proofs_are_401_with_a_specific_code() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    app.build(&ws, "start", ec2("i-x", &["main"])).await;
    let (document, signature) = signed_document("i-x");
    let tampered = document.replacen("i-x", "i-y", 1);
    // One bit of one byte: "t3.micro" becomes "t3.micrn".
    let flipped = document.replacen("t3.micro", "t3.micrn", 1);
    assert_ne!(flipped, document);
    let other_region = document.replacen("us-east-1", "mars-north-1", 1);
    let cases = [
        (
            json!({"document": tampered, "signature": signature}),
            "signature_invalid",
        ),
        (
            json!({"document": flipped, "signature": signature}),
            "signature_invalid",
        ),
        (
            json!({"document": document, "signature": "!!!not base64!!!"}),
            "malformed_proof",
        ),
        (
            json!({"document": document, "pkcs7": "AAAA"}),
            "malformed_proof",
        ),
        (
            json!({"document": "not a document", "signature": signature}),
            "malformed_proof",
        ),
        (
            json!({"document": other_region, "signature": signature}),
            "signature_invalid",
        ),
    ];
    for (body, code) in cases {
        let answer = app.post(AWS, &body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{body}: {answer:?}"
        );
        assert_eq!(answer.code(), code, "{body}");
        assert_eq!(answer.message(), "Invalid AWS identity.");
        let detail = answer.body["detail"].as_str().unwrap_or("");
        assert!(!detail.is_empty(), "a 401 says what failed");
        assert!(
            !detail.contains(&signature[..20]),
            "the detail does not echo the proof"
        );
    }
    // Nothing stored was touched by the failures.
    assert_eq!(app.aws_exchange("i-x", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_bodies_are_413_before_parsing() {
    let app = TestApp::spawn().await;
    let exactly = format!("{{\"document\": \"{}\"}}", "a".repeat(65_536 - 16));
    assert_eq!(exactly.len(), 65_536);
    let at_limit = app.post_raw(AWS, exactly).await;
    assert_ne!(at_limit.status, StatusCode::PAYLOAD_TOO_LARGE);

    let over = format!("{{\"document\": \"{}\"}}", "a".repeat(65_536 - 15));
    let answer = app.post_raw(AWS, over).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.code(), "body_too_large");

    // Not even JSON: the size is checked first.
    let garbage = app.post_raw(AWS, vec![b'x'; 1 << 20]).await;
    assert_eq!(garbage.status, StatusCode::PAYLOAD_TOO_LARGE);

    let admin = app
        .client
        .post(format!("{}/api/v2/workspaces", app.base))
        .bearer_auth(&app.admin_token)
        .body(vec![b' '; 70_000])
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn verification_happens_before_any_database_access() {
    let app = TestApp::spawn().await;
    app.store.close().await;
    let (document, signature) = signed_document("i-x");
    let tampered = document.replacen("i-x", "i-z", 1);
    let answer = app
        .post(AWS, &json!({"document": tampered, "signature": signature}))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // With the database gone, a valid proof is a clean 5xx without internals.
    let valid = app.aws_exchange("i-x", None).await;
    assert!(valid.status.is_server_error(), "{valid:?}");
    assert_eq!(valid.code(), "internal");
    let text = valid.body.to_string().to_lowercase();
    assert!(!text.contains("sql") && !text.contains("pool"), "{text}");
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    let answer = app.admin_get("/api/v2/nothing-here").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.code(), "not_found");
    let wrong_method = app.admin_get(AWS).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}
