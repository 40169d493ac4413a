//! Token providers: where an agent's session token comes from (a static token, or an
//! instance-identity exchange for AWS, Azure or GCP), and the HTTP plumbing to the server
//! that every answer goes through.
//!
//! **Invariant:** an answer is used only after its status was checked; a failed exchange is an
//! [`Error`], never an empty token.

use std::time::Duration;

use idgate_api::{AuthKind, ErrorBody, SESSION_TOKEN_HEADER, SessionTokenResponse};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Cloud, Error, root_cause};
use crate::metadata::{
    AwsConfig, AzureConfig, GoogleConfig, MetadataClient, base_url, display_url, read_limited,
    retry_after,
};
use crate::proof::Proof;
use crate::session::{Session, SessionToken};

/// How long to wait for the server to accept a connection.
pub const SERVER_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request to the server may take (the server's own limit is 30 s).
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(35);
/// The largest server answer read, in bytes.
const MAX_SERVER_BODY: usize = 1024 * 1024;

/// How an agent authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// A token given with the build (`CODER_AGENT_TOKEN`).
    Token(SessionToken),
    /// AWS instance identity (IMDSv2).
    Aws(AwsConfig),
    /// Azure attested data.
    Azure(AzureConfig),
    /// GCP identity token.
    Google(GoogleConfig),
}

impl Auth {
    /// The wire name of this method, as in `CODER_AGENT_AUTH`.
    pub fn kind(&self) -> AuthKind {
        match self {
            Auth::Token(_) => AuthKind::Token,
            Auth::Aws(_) => AuthKind::AwsInstanceIdentity,
            Auth::Azure(_) => AuthKind::AzureInstanceIdentity,
            Auth::Google(_) => AuthKind::GoogleInstanceIdentity,
        }
    }
}

/// A server answer whose status has been read.
pub(crate) struct Answer {
    pub(crate) status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// The server's base URL and an HTTP client for it.
#[derive(Debug, Clone)]
pub(crate) struct ServerHttp {
    base: String,
    http: reqwest::Client,
}

impl ServerHttp {
    fn new(server_url: &str) -> Result<ServerHttp, Error> {
        let base = base_url("server URL", server_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(SERVER_CONNECT_TIMEOUT)
            .timeout(SERVER_TIMEOUT)
            .user_agent(concat!("idgate-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| Error::HttpClient { source })?;
        Ok(ServerHttp { base, http })
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request and reads the answer, whatever its status.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&SessionToken>,
        body: Option<&Value>,
    ) -> Result<Answer, Error> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = token {
            request = request.header(SESSION_TOKEN_HEADER, token.expose());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |error: reqwest::Error| {
            let error = error.without_url();
            Error::ServerUnreachable {
                url: display_url(&url),
                reason: root_cause(&error),
                source: error,
            }
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = read_limited(response, MAX_SERVER_BODY)
            .await
            .map_err(unreachable)?;
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }

    /// The error for a non-2xx answer: the server's error body when it sent one.
    pub(crate) fn rejection(answer: &Answer) -> Error {
        let status = answer.status.as_u16();
        match serde_json::from_slice::<ErrorBody>(&answer.body) {
            Ok(body) => Error::Rejected {
                status,
                code: body.code,
                message: body.message,
                detail: body.detail,
                retry_after: answer.retry_after,
            },
            Err(_) => Error::Rejected {
                status,
                code: None,
                message: format!(
                    "HTTP {status} {} without an idgate error body",
                    answer.status.canonical_reason().unwrap_or("")
                ),
                detail: None,
                retry_after: answer.retry_after,
            },
        }
    }

    /// The JSON of a 2xx answer, or the error.
    pub(crate) fn json<T: DeserializeOwned>(answer: &Answer, path: &str) -> Result<T, Error> {
        if !answer.status.is_success() {
            return Err(ServerHttp::rejection(answer));
        }
        serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
            path: path.to_owned(),
            status: answer.status.as_u16(),
            reason: e.to_string(),
        })
    }

    /// Nothing but success, for 204 answers.
    pub(crate) fn empty(answer: &Answer) -> Result<(), Error> {
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(ServerHttp::rejection(answer))
        }
    }
}

#[derive(Debug, Clone)]
enum Source {
    Static(SessionToken),
    Aws {
        metadata: MetadataClient,
        token_ttl: Duration,
    },
    Azure {
        metadata: MetadataClient,
    },
    Google {
        metadata: MetadataClient,
        audience: String,
    },
}

/// Gets session tokens: returns the static token, or fetches a proof from the metadata
/// service and exchanges it at the server. Each call is one attempt; retrying is the caller's
/// choice ([`crate::retry`], [`crate::AgentClient`]).
#[derive(Debug, Clone)]
pub struct TokenProvider {
    server: ServerHttp,
    source: Source,
    kind: AuthKind,
    agent_name: Option<String>,
}

impl TokenProvider {
    /// A provider for the server at `server_url` (e.g. `https://coder.example.com`).
    pub fn new(server_url: &str, auth: Auth) -> Result<TokenProvider, Error> {
        let server = ServerHttp::new(server_url)?;
        let kind = auth.kind();
        let source = match auth {
            Auth::Token(token) => Source::Static(token),
            Auth::Aws(config) => Source::Aws {
                metadata: MetadataClient::new(Cloud::Aws, &config.endpoint, config.timeouts)?,
                token_ttl: config.token_ttl,
            },
            Auth::Azure(config) => Source::Azure {
                metadata: MetadataClient::new(Cloud::Azure, &config.endpoint, config.timeouts)?,
            },
            Auth::Google(config) => Source::Google {
                metadata: MetadataClient::new(Cloud::Google, &config.endpoint, config.timeouts)?,
                audience: config.audience,
            },
        };
        Ok(TokenProvider {
            server,
            source,
            kind,
            agent_name: None,
        })
    }

    /// The same provider, asking for the agent with this name (`CODER_AGENT_NAME`). The name
    /// is trimmed; an empty one means "not given".
    pub fn with_agent_name(mut self, name: Option<&str>) -> TokenProvider {
        self.agent_name = idgate_api::normalize_agent_name(name).map(str::to_owned);
        self
    }

    /// How this provider authenticates.
    pub fn kind(&self) -> AuthKind {
        self.kind
    }

    /// The agent name sent with each exchange.
    pub fn agent_name(&self) -> Option<&str> {
        self.agent_name.as_deref()
    }

    /// The server's base URL.
    pub fn server_url(&self) -> &str {
        self.server.base()
    }

    /// The metadata service's base URL (`None` for a static token).
    pub fn metadata_endpoint(&self) -> Option<&str> {
        match &self.source {
            Source::Static(_) => None,
            Source::Aws { metadata, .. }
            | Source::Azure { metadata }
            | Source::Google { metadata, .. } => Some(metadata.base()),
        }
    }

    pub(crate) fn server(&self) -> &ServerHttp {
        &self.server
    }

    /// Whether the token is given rather than exchanged (so a 401 cannot be cured by asking
    /// again).
    pub fn is_static(&self) -> bool {
        matches!(self.source, Source::Static(_))
    }

    /// Fetches this instance's identity proof from the metadata service (`None` for a static
    /// token).
    pub async fn fetch_proof(&self) -> Result<Option<Proof>, Error> {
        let proof = match &self.source {
            Source::Static(_) => return Ok(None),
            Source::Aws {
                metadata,
                token_ttl,
            } => metadata.aws_proof(*token_ttl).await?,
            Source::Azure { metadata } => metadata.azure_proof().await?,
            Source::Google { metadata, audience } => metadata.google_proof(audience).await?,
        };
        Ok(Some(proof))
    }

    /// Exchanges a proof for the session token of this provider's agent.
    pub async fn exchange_proof(&self, proof: &Proof) -> Result<Session, Error> {
        let path = proof.exchange_path();
        let body = proof.request_body(self.agent_name.as_deref())?;
        let answer = self
            .server
            .send(Method::POST, path, None, Some(&body))
            .await?;
        let response: SessionTokenResponse = ServerHttp::json(&answer, path)?;
        let session = Session::from_response(response, path)?;
        tracing::debug!(
            agent_id = ?session.agent_id,
            expires_at = ?session.expires_at,
            "exchanged the instance identity for a session token"
        );
        Ok(session)
    }

    /// One attempt at a session: the static token, or a fetched proof exchanged at the server.
    pub async fn session(&self) -> Result<Session, Error> {
        if let Source::Static(token) = &self.source {
            return Ok(Session::from_static(token.clone()));
        }
        match self.fetch_proof().await? {
            Some(proof) => self.exchange_proof(&proof).await,
            None => Err(Error::InvalidToken { reason: "missing" }),
        }
    }
}
