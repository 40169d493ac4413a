//! The one `Store` of idgate: templates, template versions, workspaces, builds, provisioner
//! jobs, resources, agents and sessions, on an embedded SQLite file or on PostgreSQL.
//!
//! Both databases are reached through sqlx's `Any` driver with one set of SQL; the schema lives
//! in `migrations/sqlite` and `migrations/postgres` (same tables, columns and index names, only
//! the types differ). Because `Any` carries only basic types, UUIDs are stored as hyphenated
//! lowercase TEXT, times as BIGINT unix microseconds (UTC), token hashes as lowercase hex TEXT
//! and flags as 0/1 integers; every time this crate returns is truncated to microseconds, so a
//! value written and read back compares equal.
//!
//! Code map:
//! - `connect.rs`: opening SQLite / PostgreSQL, pools, migrations, transactions.
//! - `catalog.rs`: templates, template versions, workspaces and builds.
//! - `agents.rs`: agents, the instance-identity candidate lookup, heartbeats, lifecycle.
//! - `sessions.rs`: session tokens and token-auth agents.
//! - `codec.rs`: conversions between Rust values and their stored form, error classification.
//!
//! **Invariant:** `workspace_agents.in_latest_build` is 1 exactly for the agents of each
//! workspace's latest build. Only [`Store::create_build`] changes it, in the same transaction
//! that moves `workspaces.latest_build_id`.
//!
//! **Invariant:** a session token or a token-auth agent's token authenticates only while its
//! agent is in the latest build of a workspace that is not deleted; rebuilding, stopping or
//! deleting the workspace revokes it at once, without touching the session rows.

mod agents;
mod catalog;
mod codec;
mod connect;
mod sessions;

use std::fmt;

use idgate_api::{AuthKind, Manifest};
use sha2::{Digest, Sha256};
use sqlx::AnyPool;

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
    /// The input breaks a rule that the caller should have checked before (agent names unique
    /// ignoring case within a build, `parent` naming a root agent of the same resource). The
    /// message is safe to show to the API caller.
    #[error("{message}")]
    Invalid {
        /// Human sentence.
        message: String,
    },
    /// A value read from the database does not decode (an unknown enum spelling, a malformed
    /// UUID, a time out of range). Never shown to API callers.
    #[error("stored value in {column} does not decode: {value}")]
    Corrupt {
        /// The column, as `table.column`.
        column: &'static str,
        /// The offending value.
        value: String,
    },
    /// The database failed. Never shown to API callers.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// SHA-256 of a token. Tokens are only ever stored as this hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// The SHA-256 of `token`'s UTF-8 bytes.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// Lowercase hex, as stored.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(<redacted>)")
    }
}

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

impl fmt::Debug for NewAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAgent")
            .field("name", &self.name)
            .field("auth", &self.auth)
            .field("auth_instance_id", &self.auth_instance_id)
            .field("parent", &self.parent)
            .field(
                "token_hash",
                &self.token_hash.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
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
    pub agent_id: uuid::Uuid,
    /// Agent name.
    pub agent_name: String,
    /// Its workspace.
    pub workspace_id: uuid::Uuid,
}

/// The agent behind a valid session or agent token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedAgent {
    /// Everything the manifest shows.
    pub manifest: Manifest,
}

/// The store: a handle on the database, cheap to clone (clones share the pools).
///
/// On SQLite, writes go through a pool of one connection, so that the writers of this process
/// queue in the pool instead of contending for SQLite's single write lock; reads use a pool
/// of several connections, which WAL lets run beside the writer. On PostgreSQL both are the
/// same pool.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    /// Queue of the group-committing session writer (see `sessions.rs`).
    sessions: sessions::SessionQueue,
}

/// Name of the partial index that drives [`Store::find_candidates`]; its query plan (see
/// [`Store::explain_find_candidates`]) must mention it.
pub const CANDIDATE_INDEX: &str = "workspace_agents_candidates";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            TokenHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_redacts_hashes() {
        let hash = TokenHash::of("secret");
        let agent = NewAgent {
            name: "main".into(),
            auth: AuthKind::Token,
            auth_instance_id: None,
            parent: None,
            token_hash: Some(hash),
        };
        assert_eq!(format!("{hash:?}"), "TokenHash(<redacted>)");
        let printed = format!("{agent:?}");
        assert!(
            printed.contains("token_hash: Some(\"<redacted>\")"),
            "{printed}"
        );
        assert!(printed.contains("main"), "{printed}");
    }
}
