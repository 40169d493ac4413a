//! The agent side of idgate: get this agent's session token and use the agent API.
//!
//! ```no_run
//! # async fn example() -> Result<(), idgate_sdk::Error> {
//! use idgate_sdk::{AgentClient, Auth, AwsConfig, TokenProvider};
//!
//! let provider = TokenProvider::new("https://coder.example.com", Auth::Aws(AwsConfig::default()))?
//!     .with_agent_name(Some("main"));
//! let client = AgentClient::new(provider);
//! let manifest = client.manifest().await?; // exchanges the instance identity first
//! println!("agent {} of build {}", manifest.agent_name, manifest.build_number);
//! # Ok(()) }
//! ```
//!
//! - [`TokenProvider`]: one attempt at a session token, from a static token or from the
//!   instance identity of AWS (IMDSv2), Azure or GCP, exchanged at the server.
//! - [`AgentClient`]: the agent API, with a token replaced at 80% of its lifetime and on 401.
//! - [`retry`]: the backoff policy (transient: fast with full jitter; permanent: minutes) and
//!   a loop that reports each distinct failure once.
//! - [`Error`]: typed failures, each with [`Error::class`] and [`Error::advice`].
//!
//! Metadata endpoints default to `http://169.254.169.254`; the configs' `from_env_map` reads
//! the variables the clouds' SDKs use, from a map the caller passes (this crate never reads
//! the environment).
//!
//! **Invariant:** session tokens and identity proofs never appear in `Debug` output, errors or
//! logs.

mod client;
mod error;
mod metadata;
mod proof;
mod provider;
pub mod retry;
mod session;

pub use client::AgentClient;
pub use error::{Cloud, Error, FailureClass, parse_candidate_names, status_class};
pub use metadata::{
    AWS_DOCUMENT_PATH, AWS_ENDPOINT_VARIABLE, AWS_RSA2048_PATH, AWS_SIGNATURE_PATH, AWS_TOKEN_PATH,
    AZURE_ATTESTED_PATH, AZURE_ENDPOINT_VARIABLE, AwsConfig, AzureConfig, DEFAULT_GCP_AUDIENCE,
    DEFAULT_METADATA_ENDPOINT, GCE_HOST_VARIABLE, GCP_IDENTITY_PATH, GoogleConfig,
    MetadataTimeouts,
};
pub use proof::{
    Proof, UnverifiedIdentity, decode_aws_document, decode_azure_attested, decode_gcp_token,
};
pub use provider::{Auth, SERVER_CONNECT_TIMEOUT, SERVER_TIMEOUT, TokenProvider};
pub use retry::{Reporter, RetryPolicy};
pub use session::{MIN_REFRESH_DELAY, REFRESH_FRACTION, Session, SessionToken, refresh_delay};
