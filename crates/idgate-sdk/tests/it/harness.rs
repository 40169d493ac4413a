//! The world an agent lives in, on port 0: a real idgate server (in process, SQLite in a temp
//! directory) and a fake AWS metadata service speaking IMDSv2, whose documents are signed by a
//! key the server trusts (`AwsTrust::bundled()` plus the key's certificate).
//!
//! Self-contained (it names no `crate::` item) so that the binary's agent tests include it
//! with `#[path]` instead of keeping a copy. A later `idgate imds` emulator can replace the
//! fake metadata service; the SDK only needs an endpoint URL.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr as _;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use base64::Engine as _;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, DecodePem as _, Encode as _};
use idgate_imds::aws::{AwsInstance, AwsSigner};
use idgate_server::gcp_keys::JwksSource;
use idgate_server::tokens::load_or_create_admin_token;
use idgate_server::{AiaFetcher, AppState, Clock, GcpKeySource, Trust};
use idgate_store::Store;
use idgate_verify::aws::AwsTrust;
use idgate_verify::azure::AzureTrust;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The deadline for anything a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A key that signs like EC2: the base64 `signature` (through `idgate_imds::aws::AwsSigner`)
/// and the `rsa2048` PKCS#7 (signed attributes, signer named by issuer and serial).
pub struct TestSigner {
    key: RsaPrivateKey,
    aws: AwsSigner,
    certificate: Certificate,
}

/// One signer per test binary: key generation is the slow part.
pub static SIGNER: LazyLock<TestSigner> = LazyLock::new(|| {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).expect("RSA key");
    let aws = AwsSigner::from_key(key.clone()).expect("AWS signer");
    let certificate = Certificate::from_pem(aws.certificate_pem()).expect("the signer's PEM");
    TestSigner {
        key,
        aws,
        certificate,
    }
});

impl TestSigner {
    /// The certificate the server must trust.
    pub fn certificate_pem(&self) -> &str {
        self.aws.certificate_pem()
    }

    /// The identity document of `instance_id` in us-east-1.
    pub fn document(&self, instance_id: &str) -> String {
        self.aws.document(&AwsInstance {
            instance_id: instance_id.to_owned(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        })
    }

    /// The base64 `signature` of `document`.
    pub fn signature(&self, document: &str) -> String {
        self.aws.sign(document.as_bytes())
    }

    /// The base64 `rsa2048` PKCS#7 of `document`, wrapped at 64 columns.
    pub fn rsa2048(&self, document: &str) -> String {
        let content_digest = Sha256::digest(document.as_bytes()).to_vec();
        let attribute = |oid, value: Any| Attribute {
            oid,
            values: SetOfVec::try_from(vec![value]).expect("one value"),
        };
        let signed_attrs = SetOfVec::try_from(vec![
            attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA).expect("OID")),
            attribute(
                ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(content_digest).expect("octets"))
                    .expect("digest"),
            ),
        ])
        .expect("attributes");
        let signed_bytes = signed_attrs.to_der().expect("attributes DER");
        let signature = self
            .key
            .sign(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(&signed_bytes),
            )
            .expect("signature");
        let tbs = &self.certificate.tbs_certificate;
        let sha256 = AlgorithmIdentifierOwned {
            oid: ID_SHA256,
            parameters: None,
        };
        let signer = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer.clone(),
                serial_number: tbs.serial_number.clone(),
            }),
            digest_alg: sha256.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: RSA_ENCRYPTION,
                parameters: None,
            },
            signature: OctetString::new(signature).expect("octets"),
            unsigned_attrs: None,
        };
        let content = OctetString::new(document.as_bytes().to_vec()).expect("octets");
        let signed_data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256]).expect("digests"),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent: Some(Any::encode_from(&content).expect("content")),
            },
            certificates: None,
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer]).expect("signers")),
        };
        let content_info = ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).expect("SignedData"),
        };
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(content_info.to_der().expect("ContentInfo"));
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(64)
            .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
            .collect();
        lines.join("\n")
    }
}

/// The bundled AWS certificates plus the test signer's.
pub fn trust() -> AwsTrust {
    let mut trust = AwsTrust::bundled();
    trust
        .add_extra_pem(SIGNER.certificate_pem().as_bytes())
        .expect("trust the test signer");
    trust
}

/// Everything the server trusts, without any network access: AWS as [`trust`], the bundled
/// Azure roots with intermediate fetching disabled, and a GCP key source that is never asked
/// (these tests send no GCP proof to the server, and an unused source fetches nothing).
pub fn server_trust() -> Trust {
    let gcp_keys = GcpKeySource::new(JwksSource::Url("http://127.0.0.1:9/jwks".into()), None)
        .expect("GCP key source");
    Trust {
        aws: trust(),
        azure: AzureTrust::bundled(),
        aia: AiaFetcher::disabled(),
        gcp_keys: Arc::new(gcp_keys),
        gcp_audiences: vec!["coder".into()],
    }
}

/// A real idgate server on port 0.
pub struct TestServer {
    /// Base URL, e.g. `http://127.0.0.1:43210`.
    pub url: String,
    /// The admin token.
    pub admin_token: String,
    /// The server's clock.
    pub clock: Clock,
    /// The admin token file (for the `idgate` CLI).
    pub admin_token_file: std::path::PathBuf,
    client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// A server on the system clock, issuing one-hour tokens.
    pub async fn start() -> TestServer {
        TestServer::start_with_clock(Clock::System).await
    }

    /// A server on `clock`, issuing one-hour tokens.
    pub async fn start_with_clock(clock: Clock) -> TestServer {
        TestServer::start_with(clock, server_trust()).await
    }

    /// A server on `clock` trusting `trust`, issuing one-hour tokens.
    pub async fn start_with(clock: Clock, trust: Trust) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(&dir.path().join("idgate.db"))
            .await
            .expect("open sqlite");
        let admin_token_file = dir.path().join("admin-token");
        let (admin, _) = load_or_create_admin_token(&admin_token_file).expect("admin token");
        let mut state = AppState::new(store, &admin, trust, Duration::from_secs(3600));
        state.clock = clock.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(idgate_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        TestServer {
            url,
            admin_token: admin.expose().to_owned(),
            clock,
            admin_token_file,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
        let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        (status, body)
    }

    /// POST with the admin token.
    pub async fn admin_post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.admin_token)
            .json(body)
            .send()
            .await
            .expect("send");
        TestServer::answer(response).await
    }

    /// GET with the admin token.
    pub async fn admin_get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("send");
        TestServer::answer(response).await
    }

    /// Creates a workspace owned by alice; returns its ID.
    pub async fn workspace(&self, name: &str) -> String {
        let (status, body) = self
            .admin_post(
                "/api/v2/workspaces",
                &json!({"name": name, "owner": "alice"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Creates a start build of one EC2 instance with these AWS agents; returns the agent
    /// IDs by name.
    pub async fn build(
        &self,
        workspace: &str,
        instance_id: &str,
        agents: &[&str],
    ) -> BTreeMap<String, String> {
        self.build_with_auth(workspace, instance_id, "aws-instance-identity", agents)
            .await
    }

    /// Creates a start build of one instance whose agents all use `auth`; returns the agent
    /// IDs by name.
    pub async fn build_with_auth(
        &self,
        workspace: &str,
        instance_id: &str,
        auth: &str,
        agents: &[&str],
    ) -> BTreeMap<String, String> {
        let agents: Vec<Value> = agents
            .iter()
            .map(|name| json!({"name": name, "auth": auth}))
            .collect();
        let resources = json!([{
            "name": "dev", "type": "vm", "instance_id": instance_id, "agents": agents
        }]);
        let (status, body) = self
            .admin_post(
                &format!("/api/v2/workspaces/{workspace}/builds"),
                &json!({"transition": "start", "resources": resources}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut ids = BTreeMap::new();
        for resource in body["resources"].as_array().expect("resources") {
            for agent in resource["agents"].as_array().expect("agents") {
                ids.insert(
                    agent["name"].as_str().expect("name").to_owned(),
                    agent["id"].as_str().expect("id").to_owned(),
                );
            }
        }
        ids
    }

    /// Creates a stop build (its agents stop authenticating).
    pub async fn stop(&self, workspace: &str) {
        let (status, body) = self
            .admin_post(
                &format!("/api/v2/workspaces/{workspace}/builds"),
                &json!({"transition": "stop", "resources": []}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// The agent, as the admin API shows it.
    pub async fn agent(&self, agent_id: &str) -> Value {
        let (status, body) = self
            .admin_get(&format!("/api/v2/workspaceagents/{agent_id}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Polls the agent until its lifecycle state is `state`, with [`DEADLINE`].
    pub async fn wait_for_lifecycle(&self, agent_id: &str, state: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let agent = self.agent(agent_id).await;
            if agent["lifecycle_state"] == state {
                return agent;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "agent {agent_id} never reached {state}: {agent}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// What the fake metadata service does.
#[derive(Debug, Clone)]
pub struct ImdsBehaviour {
    /// The instance it describes.
    pub instance_id: String,
    /// `PUT /latest/api/token` never answers (the hop-limit symptom).
    pub hang_token: bool,
    /// The identity paths answer this status instead.
    pub document_status: Option<u16>,
    /// Whether `/rsa2048` is served (else 404).
    pub serve_rsa2048: bool,
}

struct ImdsState {
    behaviour: ImdsBehaviour,
    tokens: HashSet<String>,
    requests: Vec<String>,
}

/// A fake AWS instance metadata service (IMDSv2 only) on port 0.
#[derive(Clone)]
pub struct FakeImds {
    /// Base URL, for `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    pub url: String,
    state: Arc<Mutex<ImdsState>>,
}

impl FakeImds {
    /// Starts a service describing `instance_id`.
    pub async fn start(instance_id: &str) -> FakeImds {
        let state = Arc::new(Mutex::new(ImdsState {
            behaviour: ImdsBehaviour {
                instance_id: instance_id.to_owned(),
                hang_token: false,
                document_status: None,
                serve_rsa2048: true,
            },
            tokens: HashSet::new(),
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/latest/api/token", put(imds_token))
            .route(
                "/latest/dynamic/instance-identity/{item}",
                get(imds_identity),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeImds { url, state }
    }

    /// Changes what the service does from now on.
    pub fn update(&self, change: impl FnOnce(&mut ImdsBehaviour)) {
        change(&mut self.state.lock().expect("imds state").behaviour);
    }

    /// Every request so far, as "METHOD path".
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("imds state").requests.clone()
    }
}

async fn imds_token(
    State(state): State<Arc<Mutex<ImdsState>>>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let hang = {
        let mut state = state.lock().expect("imds state");
        state.requests.push("PUT /latest/api/token".into());
        state.behaviour.hang_token
    };
    if hang {
        std::future::pending::<()>().await;
    }
    let ttl = headers
        .get("x-aws-ec2-metadata-token-ttl-seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| u32::from_str(v).ok());
    if !matches!(ttl, Some(1..=21_600)) {
        return (StatusCode::BAD_REQUEST, String::new());
    }
    let token = format!("imds-{}", uuid::Uuid::new_v4());
    state
        .lock()
        .expect("imds state")
        .tokens
        .insert(token.clone());
    (StatusCode::OK, token)
}

async fn imds_identity(
    State(state): State<Arc<Mutex<ImdsState>>>,
    Path(item): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let mut state = state.lock().expect("imds state");
    state
        .requests
        .push(format!("GET /latest/dynamic/instance-identity/{item}"));
    let token = headers
        .get("x-aws-ec2-metadata-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !state.tokens.contains(token) {
        return (StatusCode::UNAUTHORIZED, String::new());
    }
    let behaviour = &state.behaviour;
    if let Some(status) = behaviour.document_status {
        return (
            StatusCode::from_u16(status).expect("status"),
            "<html>error</html>".into(),
        );
    }
    let document = SIGNER.document(&behaviour.instance_id);
    match item.as_str() {
        "document" => (StatusCode::OK, document),
        "signature" => (StatusCode::OK, SIGNER.signature(&document)),
        "rsa2048" if behaviour.serve_rsa2048 => (StatusCode::OK, SIGNER.rsa2048(&document)),
        _ => (StatusCode::NOT_FOUND, String::new()),
    }
}
