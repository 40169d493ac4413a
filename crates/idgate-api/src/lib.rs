//! Wire types of the idgate HTTP API (`../shared/design/api.md`).
//!
//! The server, the SDK and the admin CLI all speak through these types, so a field renamed here
//! is renamed everywhere at once. Field names, enum spellings and error codes are those of
//! Coder's agent-auth API: changing any of them is a breaking change.
//!
//! Requests are parsed from a [`serde_json::Value`] through [`fields::Fields`] rather than with
//! `#[derive(Deserialize)]`, so that every missing, empty or mistyped field becomes one
//! [`Validation`] entry that names the field, instead of serde's first-error-only message.

pub mod fields;
pub mod names;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub use fields::Fields;
pub use names::{go_quote, valid_name};

/// The header that carries an agent's session token (Coder's name for it).
pub const SESSION_TOKEN_HEADER: &str = "Coder-Session-Token";

/// Request bodies larger than this many bytes are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest agent, resource, workspace or template name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// API paths, so that the server's router and the clients cannot drift apart.
pub mod paths {
    /// AWS instance-identity exchange.
    pub const AWS_INSTANCE_IDENTITY: &str = "/api/v2/workspaceagents/aws-instance-identity";
    /// Azure instance-identity exchange.
    pub const AZURE_INSTANCE_IDENTITY: &str = "/api/v2/workspaceagents/azure-instance-identity";
    /// GCP instance-identity exchange.
    pub const GOOGLE_INSTANCE_IDENTITY: &str = "/api/v2/workspaceagents/google-instance-identity";
    /// The authenticated agent's manifest.
    pub const ME_MANIFEST: &str = "/api/v2/workspaceagents/me/manifest";
    /// The authenticated agent's heartbeat.
    pub const ME_HEARTBEAT: &str = "/api/v2/workspaceagents/me/heartbeat";
    /// The authenticated agent's lifecycle report.
    pub const ME_LIFECYCLE: &str = "/api/v2/workspaceagents/me/lifecycle";
    /// Templates (admin).
    pub const TEMPLATES: &str = "/api/v2/templates";
    /// Workspaces (admin).
    pub const WORKSPACES: &str = "/api/v2/workspaces";
    /// Liveness.
    pub const HEALTHZ: &str = "/healthz";
    /// Readiness (database reachable).
    pub const READYZ: &str = "/readyz";
    /// Prometheus metrics.
    pub const METRICS: &str = "/metrics";
}

/// Stable machine-readable reason carried in every error body. Values are only ever added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The body is not JSON.
    InvalidJson,
    /// A field is missing, empty, mistyped or out of range.
    ValidationFailed,
    /// The body exceeds [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// Missing or wrong credentials.
    Unauthorized,
    /// Authenticated but not allowed.
    Forbidden,
    /// No such object.
    NotFound,
    /// The request conflicts with the current state.
    Conflict,
    /// No agent is registered for the proven instance.
    InstanceNotFound,
    /// The instance has agents, but none with the requested name.
    AgentNameNotFound,
    /// Several agents match and the request does not say which one.
    AmbiguousAgent,
    /// A signature does not verify under the chosen key.
    SignatureInvalid,
    /// No trusted key or chain for the proof.
    CertificateUntrusted,
    /// The signer certificate is outside its validity window.
    CertificateExpired,
    /// The signed document is past its own expiry.
    DocumentExpired,
    /// The token is past `exp`, or issued in the future.
    TokenExpired,
    /// The token's audience is not accepted.
    AudienceMismatch,
    /// The token's issuer is not the cloud's.
    IssuerMismatch,
    /// The token names a key that is not in the key set.
    UnknownKey,
    /// The proof's bytes do not parse.
    MalformedProof,
    /// Too many requests.
    RateLimited,
    /// A dependency (the database) is not available.
    Unavailable,
    /// An unexpected server error; details are in the server log.
    Internal,
}

impl ErrorCode {
    /// The snake_case spelling used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::InstanceNotFound => "instance_not_found",
            ErrorCode::AgentNameNotFound => "agent_name_not_found",
            ErrorCode::AmbiguousAgent => "ambiguous_agent",
            ErrorCode::SignatureInvalid => "signature_invalid",
            ErrorCode::CertificateUntrusted => "certificate_untrusted",
            ErrorCode::CertificateExpired => "certificate_expired",
            ErrorCode::DocumentExpired => "document_expired",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::AudienceMismatch => "audience_mismatch",
            ErrorCode::IssuerMismatch => "issuer_mismatch",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::MalformedProof => "malformed_proof",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

/// One field-level problem inside a `validation_failed` error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// The JSON field name (dotted path for nested fields, e.g. `resources[0].agents[1].name`).
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

/// The body of every error response (Coder's `codersdk.Response` plus `code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A human sentence.
    pub message: String,
    /// Optional further explanation, safe to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Per-field problems, for `validation_failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validations: Vec<Validation>,
    /// Stable reason. Optional when reading, because older servers may not send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
}

/// How an agent authenticates. Spelled as in Coder's `coder_agent.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthKind {
    /// A token issued with the build.
    Token,
    /// AWS instance identity document.
    AwsInstanceIdentity,
    /// Azure attested data.
    AzureInstanceIdentity,
    /// GCP identity token.
    GoogleInstanceIdentity,
}

impl AuthKind {
    /// Every kind, for help texts and validation messages.
    pub const ALL: [AuthKind; 4] = [
        AuthKind::AwsInstanceIdentity,
        AuthKind::AzureInstanceIdentity,
        AuthKind::GoogleInstanceIdentity,
        AuthKind::Token,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Token => "token",
            AuthKind::AwsInstanceIdentity => "aws-instance-identity",
            AuthKind::AzureInstanceIdentity => "azure-instance-identity",
            AuthKind::GoogleInstanceIdentity => "google-instance-identity",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<AuthKind> {
        AuthKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    /// Whether this kind authenticates with a cloud instance identity.
    pub fn is_instance_identity(self) -> bool {
        self != AuthKind::Token
    }
}

/// What a workspace build does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// Start (or rebuild) the workspace.
    Start,
    /// Stop it.
    Stop,
    /// Delete it; the workspace is marked deleted.
    Delete,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 3] = [Transition::Start, Transition::Stop, Transition::Delete];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Stop => "stop",
            Transition::Delete => "delete",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Transition> {
        Transition::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// An agent's lifecycle, as Coder's agents report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleState {
    /// Registered by a build; the agent has not reported yet.
    Created,
    /// Running its startup scripts.
    Starting,
    /// Startup took too long.
    StartTimeout,
    /// Startup failed.
    StartError,
    /// Ready for use.
    Ready,
    /// Running its shutdown scripts.
    ShuttingDown,
    /// Shutdown took too long.
    ShutdownTimeout,
    /// Shutdown failed.
    ShutdownError,
    /// Stopped.
    Off,
}

impl LifecycleState {
    /// Every state.
    pub const ALL: [LifecycleState; 9] = [
        LifecycleState::Created,
        LifecycleState::Starting,
        LifecycleState::StartTimeout,
        LifecycleState::StartError,
        LifecycleState::Ready,
        LifecycleState::ShuttingDown,
        LifecycleState::ShutdownTimeout,
        LifecycleState::ShutdownError,
        LifecycleState::Off,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Created => "created",
            LifecycleState::Starting => "starting",
            LifecycleState::StartTimeout => "start_timeout",
            LifecycleState::StartError => "start_error",
            LifecycleState::Ready => "ready",
            LifecycleState::ShuttingDown => "shutting_down",
            LifecycleState::ShutdownTimeout => "shutdown_timeout",
            LifecycleState::ShutdownError => "shutdown_error",
            LifecycleState::Off => "off",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<LifecycleState> {
        LifecycleState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether an agent may report this state (`created` is only ever set by the server).
    pub fn reportable(self) -> bool {
        self != LifecycleState::Created
    }
}

// ---------------------------------------------------------------------------------------------
// Agent authentication (§1)

/// `POST /api/v2/workspaceagents/aws-instance-identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsInstanceIdentityRequest {
    /// The exact bytes of `/latest/dynamic/instance-identity/document`.
    pub document: String,
    /// Base64 of `/latest/dynamic/instance-identity/signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Base64 of `/latest/dynamic/instance-identity/rsa2048` (or the legacy `/pkcs7`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs7: Option<String>,
    /// Which of the instance's agents is asking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
}

impl AwsInstanceIdentityRequest {
    /// Parses and validates a request body.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<Validation>> {
        let mut f = Fields::new(value)?;
        let document = f.required_string("document");
        let signature = f.optional_nonempty_string("signature");
        let pkcs7 = f.optional_nonempty_string("pkcs7");
        let agent_name = f.optional_string("agent_name");
        if f.is_clean() && signature.is_none() && pkcs7.is_none() {
            f.push("signature", "either signature or pkcs7 is required");
        }
        f.finish()?;
        Ok(AwsInstanceIdentityRequest {
            document: document.unwrap_or_default(),
            signature,
            pkcs7,
            agent_name,
        })
    }
}

/// `POST /api/v2/workspaceagents/azure-instance-identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureInstanceIdentityRequest {
    /// Base64 DER PKCS#7 from `/metadata/attested/document`.
    pub signature: String,
    /// Always `pkcs7`.
    pub encoding: String,
    /// Which of the instance's agents is asking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
}

impl AzureInstanceIdentityRequest {
    /// Parses and validates a request body.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<Validation>> {
        let mut f = Fields::new(value)?;
        let signature = f.required_string("signature");
        let encoding = f.optional_nonempty_string("encoding");
        let agent_name = f.optional_string("agent_name");
        if let Some(enc) = &encoding
            && enc != "pkcs7"
        {
            f.push("encoding", "must be \"pkcs7\"");
        }
        f.finish()?;
        Ok(AzureInstanceIdentityRequest {
            signature: signature.unwrap_or_default(),
            encoding: encoding.unwrap_or_else(|| "pkcs7".to_owned()),
            agent_name,
        })
    }
}

/// `POST /api/v2/workspaceagents/google-instance-identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoogleInstanceIdentityRequest {
    /// The identity token from the metadata server.
    pub json_web_token: String,
    /// Which of the instance's agents is asking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
}

impl GoogleInstanceIdentityRequest {
    /// Parses and validates a request body.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<Validation>> {
        let mut f = Fields::new(value)?;
        let json_web_token = f.required_string("json_web_token");
        let agent_name = f.optional_string("agent_name");
        f.finish()?;
        Ok(GoogleInstanceIdentityRequest {
            json_web_token: json_web_token.unwrap_or_default(),
            agent_name,
        })
    }
}

/// The trimmed agent name, or `None` when it is absent, empty or all whitespace.
pub fn normalize_agent_name(name: Option<&str>) -> Option<&str> {
    let trimmed = name?.trim();
    if trimmed.is_empty() {
        None
    } else {
        Some(trimmed)
    }
}

/// 200 answer to an instance-identity exchange.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTokenResponse {
    /// The agent's session token, for the `Coder-Session-Token` header.
    pub session_token: String,
    /// The agent this token belongs to.
    pub agent_id: Uuid,
    /// When the token stops working.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for SessionTokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTokenResponse")
            .field("session_token", &"<redacted>")
            .field("agent_id", &self.agent_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Agent API (§2)

/// `GET /api/v2/workspaceagents/me/manifest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The agent.
    pub agent_id: Uuid,
    /// Its name within the build.
    pub agent_name: String,
    /// Its workspace.
    pub workspace_id: Uuid,
    /// The workspace's name.
    pub workspace_name: String,
    /// The workspace's owner.
    pub owner: String,
    /// The build the agent belongs to.
    pub build_number: i64,
    /// The resource the agent runs on.
    pub resource_name: String,
    /// The instance ID the agent authenticates with, if any.
    pub instance_id: Option<String>,
}

/// `POST /api/v2/workspaceagents/me/lifecycle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRequest {
    /// The new state.
    pub state: LifecycleState,
}

impl LifecycleRequest {
    /// Parses and validates a request body.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<Validation>> {
        let mut f = Fields::new(value)?;
        let state = f.required_string("state");
        let parsed = match state.as_deref() {
            Some(s) => match LifecycleState::parse(s).filter(|st| st.reportable()) {
                Some(st) => Some(st),
                None => {
                    f.push(
                        "state",
                        "must be one of starting, start_timeout, start_error, ready, \
                         shutting_down, shutdown_timeout, shutdown_error, off",
                    );
                    None
                }
            },
            None => None,
        };
        f.finish()?;
        match parsed {
            Some(state) => Ok(LifecycleRequest { state }),
            None => Err(vec![Validation {
                field: "state".into(),
                detail: "required".into(),
            }]),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Admin API (§3)

/// `POST /api/v2/templates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTemplateRequest {
    /// Unique template name.
    pub name: String,
}

impl CreateTemplateRequest {
    /// Parses and validates a request body.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<Validation>> {
        let mut f = Fields::new(value)?;
        let name = f.required_name("name");
        f.finish()?;
        Ok(CreateTemplateRequest {
            name: name.unwrap_or_default(),
        })
    }
}

/// A template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    /// ID.
    pub id: Uuid,
    /// Name.
    pub name: String,
}

/// `POST /api/v2/templates/{id}/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTemplateVersionRequest {
    /// The resources the template declares.
    pub resources: Vec<ResourceSpec>,
}

impl CreateTemplateVersionRequest {
    /// Parses and validates a request body.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<Validation>> {
        let mut f = Fields::new(value)?;
        let resources = f.resources("resources");
        f.finish()?;
        Ok(CreateTemplateVersionRequest {
            resources: resources.unwrap_or_default(),
        })
    }
}

/// A template version (an import: its agents never authenticate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVersion {
    /// ID.
    pub id: Uuid,
    /// The template.
    pub template_id: Uuid,
    /// The imported resources.
    pub resources: Vec<Resource>,
}

/// `POST /api/v2/workspaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateWorkspaceRequest {
    /// Workspace name, unique per owner among workspaces that are not deleted.
    pub name: String,
    /// Owner (a user name).
    pub owner: String,
    /// Template it was created from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<Uuid>,
}

impl CreateWorkspaceRequest {
    /// Parses and validates a request body.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<Validation>> {
        let mut f = Fields::new(value)?;
        let name = f.required_name("name");
        let owner = f.required_string("owner");
        let template_id = f.optional_uuid("template_id");
        f.finish()?;
        Ok(CreateWorkspaceRequest {
            name: name.unwrap_or_default(),
            owner: owner.unwrap_or_default(),
            template_id,
        })
    }
}

/// A workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// ID.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Owner.
    pub owner: String,
    /// Whether a `delete` build has run.
    pub deleted: bool,
    /// The newest build, if any. Absent in the creation response.
    #[serde(default, skip_serializing_if = "LatestBuild::is_absent")]
    pub latest_build: LatestBuild,
}

/// The `latest_build` field of a workspace: absent (creation response), `null`, or a build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LatestBuild {
    /// Not part of this response.
    #[default]
    Absent,
    /// The workspace has no build yet.
    None,
    /// The newest build.
    Some(Box<Build>),
}

impl LatestBuild {
    /// Whether the field is left out of the JSON.
    pub fn is_absent(&self) -> bool {
        matches!(self, LatestBuild::Absent)
    }

    /// The build, if there is one.
    pub fn build(&self) -> Option<&Build> {
        match self {
            LatestBuild::Some(b) => Some(b),
            _ => None,
        }
    }
}

impl Serialize for LatestBuild {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LatestBuild::Some(b) => b.serialize(s),
            _ => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for LatestBuild {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b: Option<Build> = Option::deserialize(d)?;
        Ok(match b {
            Some(b) => LatestBuild::Some(Box::new(b)),
            None => LatestBuild::None,
        })
    }
}

/// `POST /api/v2/workspaces/{id}/builds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateBuildRequest {
    /// What the build does.
    pub transition: Transition,
    /// The resources the build produced.
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
}

impl CreateBuildRequest {
    /// Parses and validates a request body.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Vec<Validation>> {
        let mut f = Fields::new(value)?;
        let transition = f.required_string("transition");
        let resources = f.resources("resources");
        let parsed = match transition.as_deref() {
            Some(t) => {
                let parsed = Transition::parse(t);
                if parsed.is_none() {
                    f.push("transition", "must be one of start, stop, delete");
                }
                parsed
            }
            None => None,
        };
        f.finish()?;
        Ok(CreateBuildRequest {
            transition: parsed.unwrap_or(Transition::Start),
            resources: resources.unwrap_or_default(),
        })
    }
}

/// A resource as declared in a build or template version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSpec {
    /// Resource name (e.g. `dev`).
    pub name: String,
    /// Resource type (e.g. `aws_instance`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The cloud instance ID of this resource, inherited by its agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The agents that run on it.
    #[serde(default)]
    pub agents: Vec<AgentSpec>,
}

/// An agent as declared in a build or template version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// Agent name, unique (ignoring case) within the build.
    pub name: String,
    /// How it authenticates.
    pub auth: AuthKind,
    /// Overrides the resource's instance ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Name of a root agent of the same resource; makes this a sub-agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// A workspace build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// ID.
    pub id: Uuid,
    /// The workspace.
    pub workspace_id: Uuid,
    /// 1, 2, 3, ... per workspace.
    pub build_number: i64,
    /// What it did.
    pub transition: Transition,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Its resources and their agents.
    pub resources: Vec<Resource>,
}

/// A stored resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// ID.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Instance ID, if declared.
    pub instance_id: Option<String>,
    /// Agents on this resource.
    pub agents: Vec<Agent>,
}

/// A stored agent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// ID.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// How it authenticates.
    pub auth: AuthKind,
    /// The instance ID it authenticates with (`null` for token agents).
    pub auth_instance_id: Option<String>,
    /// Parent agent for sub-agents.
    pub parent_id: Option<Uuid>,
    /// Last reported lifecycle state.
    pub lifecycle_state: LifecycleState,
    /// Last heartbeat.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_seen_at: Option<OffsetDateTime>,
    /// Last successful instance-identity exchange.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_authenticated_at: Option<OffsetDateTime>,
    /// Only in the response that creates the build, and only for `token` agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("auth", &self.auth)
            .field("auth_instance_id", &self.auth_instance_id)
            .field("parent_id", &self.parent_id)
            .field("lifecycle_state", &self.lifecycle_state)
            .field("last_seen_at", &self.last_seen_at)
            .field("last_authenticated_at", &self.last_authenticated_at)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}
