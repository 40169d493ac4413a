//! Azure and GCP providers. Against a small fake that plays both the metadata service and the
//! server, the requests must carry the headers and queries each cloud requires and the
//! exchange bodies must be the contract's; against a real server (its clock set inside the
//! samples' validity), the real cloud samples in `tests/data` must be accepted.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use idgate_sdk::{Auth, AzureConfig, Error, GoogleConfig, TokenProvider};
use serde_json::{Value, json};

#[derive(Default)]
struct Seen {
    /// "METHOD path?query" of every request.
    requests: Vec<String>,
    /// The exchange bodies.
    bodies: Vec<(String, Value)>,
    /// Answer exchanges with an empty token.
    empty_token: bool,
}

type Shared = Arc<Mutex<Seen>>;

fn data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

async fn azure(
    State(seen): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let query = query.unwrap_or_default();
    seen.lock()
        .expect("seen")
        .requests
        .push(format!("GET /metadata/attested/document?{query}"));
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "Metadata header"})),
        );
    }
    let signature = data("azure/coder-eastus-2026.signature.b64");
    (
        StatusCode::OK,
        Json(json!({"encoding": "pkcs7", "signature": signature})),
    )
}

async fn gcp(
    State(seen): State<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let query = query.unwrap_or_default();
    seen.lock().expect("seen").requests.push(format!(
        "GET /computeMetadata/v1/instance/service-accounts/default/identity?{query}"
    ));
    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
        return (StatusCode::FORBIDDEN, String::new());
    }
    (
        StatusCode::OK,
        data("gcp/rhsm-us-east1-b-2021-03.token.jwt"),
    )
}

async fn exchange(
    State(seen): State<Shared>,
    Path(endpoint): Path<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut seen = seen.lock().expect("seen");
    seen.bodies.push((endpoint, body));
    let token = if seen.empty_token {
        ""
    } else {
        "fake-session-token"
    };
    Json(json!({
        "session_token": token,
        "agent_id": "6a2f5f38-7a3e-4d7c-9d38-1f0f5f0e2a11",
        "expires_at": "2026-12-05T12:00:00Z",
    }))
}

async fn start() -> (String, Shared) {
    let seen = Shared::default();
    let app = Router::new()
        .route("/metadata/attested/document", get(azure))
        .route(
            "/computeMetadata/v1/instance/service-accounts/default/identity",
            get(gcp),
        )
        .route("/api/v2/workspaceagents/{endpoint}", post(exchange))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

#[tokio::test]
async fn azure_asks_for_the_attested_document_and_posts_it_as_is() {
    let (url, seen) = start().await;
    let provider = TokenProvider::new(
        &url,
        Auth::Azure(AzureConfig::default().with_endpoint(&url)),
    )
    .expect("provider")
    .with_agent_name(Some("main"));

    let proof = provider
        .fetch_proof()
        .await
        .expect("proof")
        .expect("not static");
    let identity = proof.unverified_identity().expect("decode");
    assert_eq!(identity.instance_id, "dc18de58-292f-4794-9a5d-a4192bad0039");

    let session = provider.exchange_proof(&proof).await.expect("exchange");
    assert_eq!(session.token.expose(), "fake-session-token");
    let seen = seen.lock().expect("seen");
    assert_eq!(
        seen.requests,
        ["GET /metadata/attested/document?api-version=2020-09-01"]
    );
    let (endpoint, body) = &seen.bodies[0];
    assert_eq!(endpoint, "azure-instance-identity");
    assert_eq!(
        body,
        &json!({
            "signature": data("azure/coder-eastus-2026.signature.b64"),
            "encoding": "pkcs7",
            "agent_name": "main",
        })
    );
}

#[tokio::test]
async fn gcp_asks_for_a_full_token_for_the_audience_and_posts_it() {
    let (url, seen) = start().await;
    let provider = TokenProvider::new(
        &url,
        Auth::Google(
            GoogleConfig::default()
                .with_endpoint(&url)
                .with_audience("https://idgate.example.com"),
        ),
    )
    .expect("provider");

    let proof = provider
        .fetch_proof()
        .await
        .expect("proof")
        .expect("not static");
    let identity = proof.unverified_identity().expect("decode");
    assert_eq!(identity.instance_id, "2589221140676718026");
    provider.exchange_proof(&proof).await.expect("exchange");

    let seen = seen.lock().expect("seen");
    assert_eq!(
        seen.requests,
        [
            "GET /computeMetadata/v1/instance/service-accounts/default/identity\
          ?audience=https%3A%2F%2Fidgate.example.com&format=full"
        ]
    );
    let (endpoint, body) = &seen.bodies[0];
    assert_eq!(endpoint, "google-instance-identity");
    assert_eq!(
        body,
        &json!({"json_web_token": data("gcp/rhsm-us-east1-b-2021-03.token.jwt").trim()})
    );
}

#[tokio::test]
async fn the_default_gcp_audience_is_coder() {
    let (url, seen) = start().await;
    let provider = TokenProvider::new(
        &url,
        Auth::Google(GoogleConfig::default().with_endpoint(&url)),
    )
    .expect("provider");
    provider.fetch_proof().await.expect("proof");
    let seen = seen.lock().expect("seen");
    assert!(
        seen.requests[0].ends_with("?audience=coder&format=full"),
        "{:?}",
        seen.requests
    );
}

#[tokio::test]
async fn a_200_without_a_token_is_an_error_never_an_empty_token() {
    let (url, seen) = start().await;
    seen.lock().expect("seen").empty_token = true;
    let provider = TokenProvider::new(
        &url,
        Auth::Azure(AzureConfig::default().with_endpoint(&url)),
    )
    .expect("provider");
    let error = provider.session().await.expect_err("empty token");
    assert!(matches!(error, Error::EmptyToken { .. }), "{error:?}");
    assert!(error.is_permanent());
}

#[tokio::test]
async fn a_real_azure_sample_is_accepted_by_a_real_server_at_its_time() {
    // The sample was attested on 2026-06-25 at 18:56:45 UTC and expires six hours later; the
    // server's clock is set inside that window.
    let clock = idgate_server::Clock::manual(time::macros::datetime!(2026-06-25 19:30:00 UTC));
    let server = crate::harness::TestServer::start_with_clock(clock).await;
    let ws = server.workspace("dev").await;
    let agents = server
        .build_with_auth(
            &ws,
            "dc18de58-292f-4794-9a5d-a4192bad0039",
            "azure-instance-identity",
            &["main"],
        )
        .await;
    let (metadata, _) = start().await;
    let provider = TokenProvider::new(
        &server.url,
        Auth::Azure(AzureConfig::default().with_endpoint(&metadata)),
    )
    .expect("provider");
    let session = provider
        .session()
        .await
        .expect("the server accepts the sample");
    assert_eq!(
        session.agent_id.map(|id| id.to_string()),
        Some(agents["main"].clone())
    );
}

#[tokio::test]
async fn a_real_gcp_sample_is_accepted_by_a_real_server_at_its_time() {
    const AUDIENCE: &str = "https://subscription.rhsm.redhat.com:443/subscription";
    // Issued 2021-03-24 14:30:23 UTC, valid for an hour; verified with the JWKS of the time.
    let clock = idgate_server::Clock::manual(time::macros::datetime!(2021-03-24 14:40:00 UTC));
    let jwks = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/gcp/rhsm-us-east1-b-2021-03.jwks.json");
    let keys =
        idgate_server::GcpKeySource::new(idgate_server::gcp_keys::JwksSource::File(jwks), None)
            .expect("key source");
    let trust = idgate_server::Trust {
        gcp_keys: Arc::new(keys),
        gcp_audiences: vec![AUDIENCE.into()],
        ..crate::harness::server_trust()
    };
    let server = crate::harness::TestServer::start_with(clock, trust).await;
    let ws = server.workspace("dev").await;
    let agents = server
        .build_with_auth(
            &ws,
            "2589221140676718026",
            "google-instance-identity",
            &["main"],
        )
        .await;
    let (metadata, seen) = start().await;
    let provider = TokenProvider::new(
        &server.url,
        Auth::Google(
            GoogleConfig::default()
                .with_endpoint(&metadata)
                .with_audience(AUDIENCE),
        ),
    )
    .expect("provider");
    let session = provider
        .session()
        .await
        .expect("the server accepts the sample");
    assert_eq!(
        session.agent_id.map(|id| id.to_string()),
        Some(agents["main"].clone())
    );
    assert!(seen.lock().expect("seen").requests[0].contains("audience=https%3A%2F%2Fsubscription"));
}
