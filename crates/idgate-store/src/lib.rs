//! The one `Store` of idgate: templates, template versions, workspaces, builds, provisioner
//! jobs, resources, agents and sessions, on an embedded SQLite file or on PostgreSQL.
//!
//! INTERFACE DRAFT — the method set below is the contract the server is written against.

use idgate_api::{Agent, AuthKind, Build, LifecycleState, Manifest, Template, TemplateVersion, Transition, Workspace};
use time::OffsetDateTime;
use uuid::Uuid;

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No such object.
    #[error("{entity} {id} not found")]
    NotFound {
        /// "workspace", "template", "agent", "build".
        entity: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// The write conflicts with existing data (duplicate name, deleted workspace, a build
    /// created concurrently). The message is safe to show to the API caller.
    #[error("{message}")]
    Conflict {
        /// Human sentence.
        message: String,
    },
    /// The database failed. Never shown to API callers.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// SHA-256 of a token. Tokens are only ever stored as this hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

/// An agent as given to [`Store::create_build`] / [`Store::create_template_version`].
#[derive(Clone, PartialEq, Eq)]
pub struct NewAgent {
    /// Agent name (already validated).
    pub name: String,
    /// Declared auth.
    pub auth: AuthKind,
    /// The instance ID it authenticates with: its own, else its resource's; `None` for token agents.
    pub auth_instance_id: Option<String>,
    /// Name of the parent root agent on the same resource, for sub-agents.
    pub parent: Option<String>,
    /// Hash of the token of a `token` agent.
    pub token_hash: Option<TokenHash>,
}

/// A resource as given to [`Store::create_build`] / [`Store::create_template_version`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResource {
    /// Name.
    pub name: String,
    /// Type, e.g. `aws_instance`.
    pub kind: String,
    /// Instance ID of the resource.
    pub instance_id: Option<String>,
    /// Agents, roots before their sub-agents.
    pub agents: Vec<NewAgent>,
}

/// An agent that an instance-identity proof may resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Agent ID.
    pub agent_id: Uuid,
    /// Agent name.
    pub agent_name: String,
    /// Its workspace.
    pub workspace_id: Uuid,
}

/// The agent behind a valid session or agent token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedAgent {
    /// Everything the manifest shows.
    pub manifest: Manifest,
}
