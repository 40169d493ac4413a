//! Session tokens (issued by the instance-identity exchange) and the tokens of token-auth
//! agents (issued with their build): storing them hashed, resolving them to an agent, expiry.

use idgate_api::Manifest;
use sqlx::Row;
use sqlx::error::ErrorKind;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::agents::agent_not_found;
use crate::codec::{self, micros, violation};
use crate::{AuthenticatedAgent, Error, Result, Store, TokenHash};

/// One statement: the trigger `agent_sessions_touch_agent` (migration 0002) sets the agent's
/// `last_authenticated_at` to `created_at` in the same statement, and the foreign key refuses an
/// unknown agent.
const INSERT_SESSION: &str = "INSERT INTO agent_sessions (token_hash, agent_id, created_at, expires_at) \
     VALUES ($1, $2, $3, $4)";

/// `$1` the token hash, `$2` now. The first branch finds an unexpired session, the second a
/// token-auth agent's own token; both only while the agent is in the latest build of a
/// workspace that is not deleted.
const AGENT_BY_TOKEN: &str = "SELECT a.id AS agent_id, a.name AS agent_name, \
     w.id AS workspace_id, w.name AS workspace_name, w.owner AS owner, \
     b.build_number AS build_number, r.name AS resource_name, \
     COALESCE(a.auth_instance_id, r.instance_id) AS instance_id \
     FROM agent_sessions s \
     JOIN workspace_agents a ON a.id = s.agent_id \
     JOIN workspace_resources r ON r.id = a.resource_id \
     JOIN workspace_builds b ON b.job_id = r.job_id \
     JOIN workspaces w ON w.latest_build_id = b.id \
     WHERE s.token_hash = $1 AND s.expires_at > $2 AND w.deleted_at IS NULL \
     UNION ALL \
     SELECT a.id AS agent_id, a.name AS agent_name, \
     w.id AS workspace_id, w.name AS workspace_name, w.owner AS owner, \
     b.build_number AS build_number, r.name AS resource_name, \
     COALESCE(a.auth_instance_id, r.instance_id) AS instance_id \
     FROM workspace_agents a \
     JOIN workspace_resources r ON r.id = a.resource_id \
     JOIN workspace_builds b ON b.job_id = r.job_id \
     JOIN workspaces w ON w.latest_build_id = b.id \
     WHERE a.token_hash = $1 AND a.auth = 'token' AND w.deleted_at IS NULL";

const DELETE_EXPIRED: &str = "DELETE FROM agent_sessions WHERE expires_at <= $1";

impl Store {
    /// Stores a session token (its hash) for `agent_id`, valid while `now < expires_at`, and
    /// records `now` as the agent's `last_authenticated_at`. An unknown agent is
    /// [`Error::NotFound`].
    pub async fn create_session(
        &self,
        agent_id: Uuid,
        token_hash: &TokenHash,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<()> {
        let inserted = sqlx::query(INSERT_SESSION)
            .bind(token_hash.to_hex())
            .bind(agent_id.to_string())
            .bind(micros(now))
            .bind(micros(expires_at))
            .execute(self.writer())
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if violation(&e) == Some(ErrorKind::ForeignKeyViolation) => {
                Err(agent_not_found(agent_id))
            }
            Err(e) if violation(&e) == Some(ErrorKind::UniqueViolation) => Err(Error::Conflict {
                message: "This session token is already in use.".to_owned(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// The agent that a session token or a token-auth agent's token (given as its hash)
    /// belongs to, if the token is valid at `now` and the agent is still in the latest build of
    /// its workspace, which is not deleted. One query.
    pub async fn agent_by_token(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<AuthenticatedAgent>> {
        let row = sqlx::query(AGENT_BY_TOKEN)
            .bind(token_hash.to_hex())
            .bind(micros(now))
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let agent_id: String = row.try_get("agent_id")?;
        let workspace_id: String = row.try_get("workspace_id")?;
        Ok(Some(AuthenticatedAgent {
            manifest: Manifest {
                agent_id: codec::uuid("workspace_agents.id", &agent_id)?,
                agent_name: row.try_get("agent_name")?,
                workspace_id: codec::uuid("workspaces.id", &workspace_id)?,
                workspace_name: row.try_get("workspace_name")?,
                owner: row.try_get("owner")?,
                build_number: row.try_get("build_number")?,
                resource_name: row.try_get("resource_name")?,
                instance_id: row.try_get("instance_id")?,
            },
        }))
    }

    /// Deletes the sessions that expired at or before `now`; returns how many.
    pub async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64> {
        let done = sqlx::query(DELETE_EXPIRED)
            .bind(micros(now))
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}
