//! Azure and GCP end to end through the HTTP API: the same resolution and multi-agent rules as
//! AWS, and a 401 with the right code for every forged, stale or misdirected proof.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::get;
use idgate_imds::azure::{AzureCaOptions, AzureSigner};
use idgate_imds::gcp::GcpSigner;
use idgate_server::aia::{AiaFetcher, AiaPolicy};
use idgate_server::gcp_keys::{GcpKeySource, JwksSource};
use idgate_verify::azure::AzureTrust;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{AZURE, START, TestApp, gcp_token, test_trust};

fn vm(kind: &str, auth: &str, instance_id: &str, agents: &[&str]) -> Value {
    let agents: Vec<Value> = agents
        .iter()
        .map(|name| json!({"name": name, "auth": auth}))
        .collect();
    json!([{"name": "vm", "type": kind, "instance_id": instance_id, "agents": agents}])
}

fn azure_vm(vm_id: &str, agents: &[&str]) -> Value {
    vm(
        "azurerm_linux_virtual_machine",
        "azure-instance-identity",
        vm_id,
        agents,
    )
}

fn gcp_vm(instance_id: &str, agents: &[&str]) -> Value {
    vm(
        "google_compute_instance",
        "google-instance-identity",
        instance_id,
        agents,
    )
}

#[tokio::test]
async fn azure_multi_agent_story() {
    let app = TestApp::spawn().await;
    let vm_id = "dc18de58-292f-4794-9a5d-a4192bad0039";
    let ws = app.workspace("az").await;
    app.build(&ws, "start", azure_vm(vm_id, &["main", "dev"]))
        .await;

    let unnamed = app.azure_exchange(vm_id, None).await;
    assert_eq!(unnamed.status, StatusCode::CONFLICT);
    assert_eq!(
        unnamed.message(),
        format!(
            "Multiple agents found with instance ID \"{vm_id}\". Set CODER_AGENT_NAME to one of: dev, main"
        )
    );
    let main = app.azure_exchange(vm_id, Some("main")).await;
    assert_eq!(main.status, StatusCode::OK, "{main:?}");
    let token = main.body["session_token"].as_str().unwrap();
    let manifest = app.manifest(token).await;
    assert_eq!(manifest.body["agent_name"], "main");
    assert_eq!(manifest.body["instance_id"], vm_id);
    let dev = app.azure_exchange(vm_id, Some("dev")).await;
    assert_eq!(dev.status, StatusCode::OK);
    assert_ne!(dev.body["agent_id"], main.body["agent_id"]);

    // Agents declared for Azure are not candidates for an AWS proof of the same ID.
    assert_eq!(
        app.aws_exchange(vm_id, None).await.code(),
        "instance_not_found"
    );
}

#[tokio::test]
async fn azure_single_agent_and_refusals() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("az").await;
    app.build(&ws, "start", azure_vm("vm-1", &["main"])).await;
    assert_eq!(
        app.azure_exchange("vm-1", None).await.status,
        StatusCode::OK
    );

    // An attested document from a CA the server does not trust.
    let stranger = AzureSigner::generate(&AzureCaOptions::valid_from(START)).unwrap();
    let forged = stranger.attested_document("vm-1", "sub-1", None, app.clock.now());
    let cases = [
        (
            json!({"signature": forged, "encoding": "pkcs7"}),
            "certificate_untrusted",
        ),
        (
            json!({"signature": "@@@", "encoding": "pkcs7"}),
            "malformed_proof",
        ),
        (
            json!({"signature": "AAAA", "encoding": "pkcs7"}),
            "malformed_proof",
        ),
    ];
    for (body, code) in cases {
        let answer = app
            .post("/api/v2/workspaceagents/azure-instance-identity", &body)
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{answer:?}");
        assert_eq!(answer.code(), code);
        assert_eq!(answer.message(), "Invalid Azure identity.");
    }
    let wrong_encoding = app
        .post(
            "/api/v2/workspaceagents/azure-instance-identity",
            &json!({"signature": "AAAA", "encoding": "json"}),
        )
        .await;
    assert_eq!(wrong_encoding.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_encoding.body["validations"][0]["field"], "encoding");

    // Attested documents live six hours.
    let stale = AZURE.attested_document("vm-1", "sub-1", None, app.clock.now());
    app.clock.advance(Duration::from_secs(6 * 3600 + 1));
    let answer = app
        .post(
            "/api/v2/workspaceagents/azure-instance-identity",
            &json!({"signature": stale, "encoding": "pkcs7"}),
        )
        .await;
    assert_eq!(answer.code(), "document_expired");
}

#[tokio::test]
async fn gcp_multi_agent_story() {
    let app = TestApp::spawn().await;
    let id = "2875949485074006138";
    let ws = app.workspace("gcp").await;
    app.build(&ws, "start", gcp_vm(id, &["main", "dev"])).await;

    let unnamed = app.gcp_exchange(id, None).await;
    assert_eq!(unnamed.status, StatusCode::CONFLICT);
    assert_eq!(unnamed.code(), "ambiguous_agent");
    for name in ["main", "dev"] {
        let answer = app.gcp_exchange(id, Some(name)).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        let token = answer.body["session_token"].as_str().unwrap();
        assert_eq!(app.manifest(token).await.body["agent_name"], name);
    }
    let unknown = app.gcp_exchange(id, Some("web")).await;
    assert_eq!(unknown.code(), "agent_name_not_found");

    // Agents declared for GCP are not candidates for AWS or Azure proofs of the same ID.
    assert_eq!(
        app.aws_exchange(id, None).await.code(),
        "instance_not_found"
    );
    assert_eq!(
        app.azure_exchange(id, None).await.code(),
        "instance_not_found"
    );
}

#[tokio::test]
async fn gcp_refusals_have_specific_codes() {
    let app = TestApp::spawn().await;
    let id = "8418160715288427941";
    let ws = app.workspace("gcp").await;
    app.build(&ws, "start", gcp_vm(id, &["main"])).await;
    assert_eq!(app.gcp_exchange(id, None).await.status, StatusCode::OK);

    let wrong_audience = app.gcp_exchange_for(id, "https://evil.example", None).await;
    assert_eq!(wrong_audience.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_audience.code(), "audience_mismatch");
    assert_eq!(wrong_audience.message(), "Invalid GCP identity.");

    let other_key = GcpSigner::generate().unwrap();
    let unknown_kid = other_key.identity_token(
        &idgate_imds::gcp::GcpInstance {
            instance_id: id.into(),
            instance_name: "vm".into(),
            project_id: "p".into(),
            project_number: "1".into(),
            zone: "z".into(),
        },
        "coder",
        app.clock.now(),
        true,
    );
    let token = gcp_token(id, "coder", app.clock.now());
    let mut parts: Vec<&str> = token.split('.').collect();
    let other_payload = gcp_token("1", "coder", app.clock.now());
    let other_payload: Vec<&str> = other_payload.split('.').collect();
    parts[1] = other_payload[1];
    let tampered = parts.join(".");
    let cases = [
        (unknown_kid, "unknown_key"),
        (tampered, "signature_invalid"),
        ("not.a.token".to_owned(), "malformed_proof"),
        ("garbage".to_owned(), "malformed_proof"),
    ];
    for (token, code) in cases {
        let answer = app
            .post(
                "/api/v2/workspaceagents/google-instance-identity",
                &json!({"json_web_token": token}),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{code}: {answer:?}"
        );
        assert_eq!(answer.code(), code);
    }

    let fresh = gcp_token(id, "coder", app.clock.now());
    app.clock.advance(Duration::from_secs(3600 + 61));
    let expired = app
        .post(
            "/api/v2/workspaceagents/google-instance-identity",
            &json!({"json_web_token": fresh}),
        )
        .await;
    assert_eq!(expired.code(), "token_expired");
}

#[tokio::test]
async fn gcp_without_any_key_set_is_503_not_401() {
    let app = TestApp::spawn_with(|dir| {
        let mut trust = test_trust(dir);
        trust.gcp_keys = Arc::new(
            GcpKeySource::new(JwksSource::File(dir.join("missing.json")), Some(dir)).unwrap(),
        );
        trust
    })
    .await;
    let answer = app.gcp_exchange("1", None).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
    assert_eq!(answer.code(), "unavailable");
}

/// A local server that serves `body` at `/intermediate.crt` and counts requests.
async fn serve_certificate(body: Vec<u8>) -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/intermediate.crt",
        get(move || {
            let body = body.clone();
            counter.fetch_add(1, Ordering::SeqCst);
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, hits)
}

/// A fetcher allowed to reach `www.microsoft.com` at 127.0.0.1:`port` — the test seams only.
fn local_fetcher(port: u16, cache: &std::path::Path) -> AiaFetcher {
    let mut policy = AiaPolicy::azure();
    policy.allowed_ports = vec![port];
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    policy.danger_allowed_addresses = vec![loopback];
    policy.danger_resolve_overrides =
        HashMap::from([("www.microsoft.com".to_owned(), vec![loopback])]);
    AiaFetcher::new(policy, Some(cache.join("azure-intermediates"))).unwrap()
}

#[tokio::test]
async fn a_missing_azure_intermediate_is_fetched_once_and_kept_only_if_it_chains() {
    let good_ca = AZURE.clone();
    let intermediate_der = good_ca.intermediate().certificate_der().unwrap();
    let (port, hits) = serve_certificate(intermediate_der).await;
    let url = format!("http://www.microsoft.com:{port}/intermediate.crt");
    let signer = good_ca.with_ca_issuers_url(&url).unwrap();

    let app = TestApp::spawn_with(|dir| {
        let mut trust = test_trust(dir);
        // The root is trusted; the intermediate is known to nobody.
        let mut azure = AzureTrust::bundled();
        azure.add_roots_pem(AZURE.root_pem().as_bytes()).unwrap();
        trust.azure = azure;
        trust.aia = local_fetcher(port, dir);
        trust
    })
    .await;
    let ws = app.workspace("az").await;
    app.build(&ws, "start", azure_vm("vm-aia", &["main"])).await;
    for _ in 0..3 {
        let document = signer.attested_document("vm-aia", "sub", None, app.clock.now());
        let answer = app
            .post(
                "/api/v2/workspaceagents/azure-instance-identity",
                &json!({"signature": document, "encoding": "pkcs7"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "fetched once, then known");
}

#[tokio::test]
async fn a_fetched_certificate_that_does_not_chain_is_refused() {
    // The AIA URL serves the intermediate of another CA.
    let stranger = AzureSigner::generate(&AzureCaOptions::valid_from(START)).unwrap();
    let (port, hits) = serve_certificate(stranger.intermediate().certificate_der().unwrap()).await;
    let url = format!("http://www.microsoft.com:{port}/intermediate.crt");
    let signer = AZURE.with_ca_issuers_url(&url).unwrap();
    let app = TestApp::spawn_with(|dir| {
        let mut trust = test_trust(dir);
        let mut azure = AzureTrust::bundled();
        azure.add_roots_pem(AZURE.root_pem().as_bytes()).unwrap();
        trust.azure = azure;
        trust.aia = local_fetcher(port, dir);
        trust
    })
    .await;
    let ws = app.workspace("az").await;
    app.build(&ws, "start", azure_vm("vm-aia", &["main"])).await;
    let document = signer.attested_document("vm-aia", "sub", None, app.clock.now());
    let answer = app
        .post(
            "/api/v2/workspaceagents/azure-instance-identity",
            &json!({"signature": document, "encoding": "pkcs7"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.code(), "certificate_untrusted");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
