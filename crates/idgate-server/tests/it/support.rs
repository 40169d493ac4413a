//! `TestApp`: a real server on port 0 with its own SQLite file (or PostgreSQL database), a real
//! HTTP client, and an AWS signer whose certificate the server trusts.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use std::sync::Arc;

use idgate_imds::aws::{AwsInstance, AwsSigner};
use idgate_imds::azure::{AzureCaOptions, AzureSigner};
use idgate_imds::gcp::{GcpInstance, GcpSigner};
use idgate_server::aia::AiaFetcher;
use idgate_server::gcp_keys::{GcpKeySource, JwksSource};
use idgate_server::tokens::load_or_create_admin_token;
use idgate_server::{AppState, Clock, Trust};
use idgate_store::Store;
use idgate_verify::aws::AwsTrust;
use idgate_verify::azure::AzureTrust;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

/// One signer for the whole test binary: key generation is the slow part.
pub static SIGNER: LazyLock<AwsSigner> =
    LazyLock::new(|| AwsSigner::generate(1024).expect("generate the test signer"));

/// The Azure test CA, valid around [`START`].
pub static AZURE: LazyLock<AzureSigner> = LazyLock::new(|| {
    AzureSigner::generate(&AzureCaOptions::valid_from(START)).expect("generate the Azure test CA")
});

/// The GCP test signing key.
pub static GCP: LazyLock<GcpSigner> =
    LazyLock::new(|| GcpSigner::generate().expect("generate the GCP test key"));

/// The audience the test server accepts for GCP tokens.
pub const GCP_AUDIENCE: &str = "coder";

/// The time every test app starts at.
pub const START: OffsetDateTime = datetime!(2026-12-04 12:00:00 UTC);

/// A running server.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub admin_token: String,
    pub clock: Clock,
    pub store: Store,
    pub data_dir: PathBuf,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _tempdir: Option<tempfile::TempDir>,
}

/// The server's answer: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    /// The error `code` field.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The error `message` field.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

/// AWS trust: the bundled certificates plus the test signer's.
pub fn test_aws_trust() -> AwsTrust {
    let mut trust = AwsTrust::bundled();
    trust
        .add_extra_pem(SIGNER.certificate_pem().as_bytes())
        .expect("trust the test signer");
    trust
}

/// Everything the test server trusts: the bundled roots plus the test signers', and the GCP
/// test key from a JWKS file in `data_dir`. Intermediates are never fetched.
pub fn test_trust(data_dir: &Path) -> Trust {
    let mut azure = AzureTrust::bundled();
    azure
        .add_roots_pem(AZURE.root_pem().as_bytes())
        .expect("trust the Azure test root");
    azure
        .add_intermediates_pem(AZURE.intermediate_pem().as_bytes())
        .expect("know the Azure test intermediate");
    let jwks = data_dir.join("test-jwks.json");
    std::fs::write(&jwks, GCP.jwks_json()).expect("write the test JWKS");
    let gcp_keys = GcpKeySource::new(JwksSource::File(jwks), Some(data_dir)).expect("key source");
    Trust {
        aws: test_aws_trust(),
        azure,
        aia: AiaFetcher::disabled(),
        gcp_keys: Arc::new(gcp_keys),
        gcp_audiences: vec![GCP_AUDIENCE.to_owned()],
    }
}

impl TestApp {
    /// A new server on a fresh SQLite file.
    pub async fn spawn() -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().to_owned();
        let store = Store::open_sqlite(&data_dir.join("idgate.db"))
            .await
            .expect("open sqlite");
        let mut app = TestApp::start(store, data_dir, Clock::manual(START)).await;
        app._tempdir = Some(dir);
        app
    }

    /// A new server on a fresh PostgreSQL database, when the test environment provides one.
    pub async fn spawn_postgres() -> Option<TestApp> {
        let url = crate::postgres::fresh_database().await?;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::connect_postgres(&url)
            .await
            .expect("connect postgres");
        let mut app = TestApp::start(store, dir.path().to_owned(), Clock::manual(START)).await;
        app._tempdir = Some(dir);
        Some(app)
    }

    /// Starts a server on `store`, with the admin token file in `data_dir`.
    pub async fn start(store: Store, data_dir: PathBuf, clock: Clock) -> TestApp {
        let trust = test_trust(&data_dir);
        TestApp::start_with(store, data_dir, clock, trust).await
    }

    /// A new server on a fresh SQLite file, trusting `trust(data_dir)`.
    pub async fn spawn_with(trust: impl FnOnce(&Path) -> Trust) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().to_owned();
        let store = Store::open_sqlite(&data_dir.join("idgate.db"))
            .await
            .expect("open sqlite");
        let trust = trust(&data_dir);
        let mut app = TestApp::start_with(store, data_dir, Clock::manual(START), trust).await;
        app._tempdir = Some(dir);
        app
    }

    /// Starts a server on `store` with the given trust.
    pub async fn start_with(
        store: Store,
        data_dir: PathBuf,
        clock: Clock,
        trust: Trust,
    ) -> TestApp {
        let (admin, _) =
            load_or_create_admin_token(&data_dir.join("admin-token")).expect("admin token");
        let mut state = AppState::new(store.clone(), &admin, trust, Duration::from_secs(3600));
        state.clock = clock.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(idgate_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::new(),
            admin_token: admin.expose().to_owned(),
            clock,
            store,
            data_dir,
            shutdown: Some(tx),
            server: Some(server),
            _tempdir: None,
        }
    }

    /// Stops the server gracefully and closes the store; the data directory stays.
    pub async fn stop(mut self) -> (PathBuf, Option<tempfile::TempDir>) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
        self.store.close().await;
        (self.data_dir.clone(), self._tempdir.take())
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "non-JSON body ({status}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Answer { status, body }
    }

    /// POST with the admin token.
    pub async fn admin_post(&self, path: &str, body: &Value) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token)
            .json(body)
            .send()
            .await
            .expect("send");
        TestApp::answer(response).await
    }

    /// GET with the admin token.
    pub async fn admin_get(&self, path: &str) -> Answer {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("send");
        TestApp::answer(response).await
    }

    /// POST a raw body without credentials.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Answer {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        TestApp::answer(response).await
    }

    /// POST JSON without credentials.
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.post_raw(path, serde_json::to_vec(body).expect("json"))
            .await
    }

    /// A request with the agent's session token.
    pub async fn agent_request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Coder-Session-Token", token);
        if let Some(body) = body {
            request = request.json(body);
        }
        TestApp::answer(request.send().await.expect("send")).await
    }

    /// The manifest for `token`.
    pub async fn manifest(&self, token: &str) -> Answer {
        self.agent_request(
            reqwest::Method::GET,
            "/api/v2/workspaceagents/me/manifest",
            token,
            None,
        )
        .await
    }

    /// Creates a workspace owned by `alice` and returns its ID.
    pub async fn workspace(&self, name: &str) -> String {
        let answer = self
            .admin_post(
                "/api/v2/workspaces",
                &json!({"name": name, "owner": "alice"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a build and returns its body.
    pub async fn build(&self, workspace: &str, transition: &str, resources: Value) -> Value {
        let answer = self
            .admin_post(
                &format!("/api/v2/workspaces/{workspace}/builds"),
                &json!({"transition": transition, "resources": resources}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.body
    }

    /// An AWS exchange for `instance_id` signed by the test signer.
    pub async fn aws_exchange(&self, instance_id: &str, agent_name: Option<&str>) -> Answer {
        let (document, signature) = signed_document(instance_id);
        let mut body = json!({"document": document, "signature": signature});
        if let Some(name) = agent_name {
            body["agent_name"] = json!(name);
        }
        self.post("/api/v2/workspaceagents/aws-instance-identity", &body)
            .await
    }

    /// An AWS exchange that must succeed; returns the session token.
    pub async fn token_for(&self, instance_id: &str, agent_name: Option<&str>) -> String {
        let answer = self.aws_exchange(instance_id, agent_name).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        answer.body["session_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// An Azure exchange for `vm_id`, attested now by the test CA.
    pub async fn azure_exchange(&self, vm_id: &str, agent_name: Option<&str>) -> Answer {
        let signature = AZURE.attested_document(vm_id, "sub-1", None, self.clock.now());
        let mut body = json!({"encoding": "pkcs7", "signature": signature});
        if let Some(name) = agent_name {
            body["agent_name"] = json!(name);
        }
        self.post("/api/v2/workspaceagents/azure-instance-identity", &body)
            .await
    }

    /// A GCP exchange for `instance_id`, with a token issued now for `audience`.
    pub async fn gcp_exchange_for(
        &self,
        instance_id: &str,
        audience: &str,
        agent_name: Option<&str>,
    ) -> Answer {
        let token = gcp_token(instance_id, audience, self.clock.now());
        let mut body = json!({"json_web_token": token});
        if let Some(name) = agent_name {
            body["agent_name"] = json!(name);
        }
        self.post("/api/v2/workspaceagents/google-instance-identity", &body)
            .await
    }

    /// A GCP exchange for `instance_id` with the accepted audience.
    pub async fn gcp_exchange(&self, instance_id: &str, agent_name: Option<&str>) -> Answer {
        self.gcp_exchange_for(instance_id, GCP_AUDIENCE, agent_name)
            .await
    }
}

/// A `format=full` identity token for `instance_id`, issued at `issued_at`.
pub fn gcp_token(instance_id: &str, audience: &str, issued_at: OffsetDateTime) -> String {
    GCP.identity_token(
        &GcpInstance {
            instance_id: instance_id.to_owned(),
            instance_name: "dev-vm".into(),
            project_id: "idgate-test".into(),
            project_number: "123456789012".into(),
            zone: "us-central1-a".into(),
        },
        audience,
        issued_at,
        true,
    )
}

/// A document for `instance_id` in us-east-1, and its signature.
pub fn signed_document(instance_id: &str) -> (String, String) {
    let document = SIGNER.document(&AwsInstance {
        instance_id: instance_id.to_owned(),
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
    });
    let signature = SIGNER.sign(document.as_bytes());
    (document, signature)
}

/// One EC2 resource with the given agents, all AWS instance-identity.
pub fn ec2(instance_id: &str, agents: &[&str]) -> Value {
    let agents: Vec<Value> = agents
        .iter()
        .map(|name| json!({"name": name, "auth": "aws-instance-identity"}))
        .collect();
    json!([{"name": "dev", "type": "aws_instance", "instance_id": instance_id, "agents": agents}])
}

/// Reads a file of the shared test data of the verify crate.
pub fn verify_data(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../idgate-verify/tests/data")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
