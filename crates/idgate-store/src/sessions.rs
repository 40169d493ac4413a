//! Session tokens (issued by the instance-identity exchange) and the tokens of token-auth
//! agents (issued with their build): storing them hashed, resolving them to an agent, expiry.
//!
//! Issuing sessions is group-committed: every exchange writes one row, and on SQLite all
//! writes share one connection, so [`SessionQueue`] collects the sessions that arrive while a
//! write is in progress and stores them with one multi-row INSERT. Each caller still returns
//! only after its own row is stored (or with its own error): when a batch fails, its rows are
//! written again one by one, so one bad row (an unknown agent) fails only its own caller.

use idgate_api::Manifest;
use sqlx::error::ErrorKind;
use sqlx::{AnyPool, Row};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
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
        let (reply, answer) = oneshot::channel();
        let pending = PendingSession {
            token_hash: token_hash.to_hex(),
            agent_id,
            created_at: micros(now),
            expires_at: micros(expires_at),
            reply,
        };
        if self.sessions.sender.send(pending).is_err() {
            return Err(sqlx::Error::PoolClosed.into());
        }
        match answer.await {
            Ok(result) => result,
            // The writer task is gone: the store was closed (or its runtime shut down).
            Err(_) => Err(sqlx::Error::PoolClosed.into()),
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

/// The most sessions stored by one INSERT (4 bound values each, far below SQLite's limit).
const MAX_BATCH: usize = 128;

/// A session waiting to be stored, with the caller waiting for the outcome.
struct PendingSession {
    token_hash: String,
    agent_id: Uuid,
    created_at: i64,
    expires_at: i64,
    reply: oneshot::Sender<Result<()>>,
}

/// The queue of the session writer task. The task ends when the last [`Store`] clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct SessionQueue {
    sender: mpsc::UnboundedSender<PendingSession>,
}

impl std::fmt::Debug for PendingSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSession")
            .field("agent_id", &self.agent_id)
            .finish_non_exhaustive()
    }
}

impl SessionQueue {
    /// Starts the writer task on the current tokio runtime, writing through `pool`.
    pub(crate) fn spawn(pool: AnyPool) -> SessionQueue {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(write_sessions(pool, receiver));
        SessionQueue { sender }
    }
}

/// Takes what is queued (at least one session, at most [`MAX_BATCH`]) and stores it, until the
/// queue closes.
async fn write_sessions(pool: AnyPool, mut queue: mpsc::UnboundedReceiver<PendingSession>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        store_batch(&pool, batch).await;
    }
}

/// One INSERT for the whole batch; if it fails, each row alone, so that every caller gets the
/// outcome of its own row.
async fn store_batch(pool: &AnyPool, batch: Vec<PendingSession>) {
    if batch.len() > 1 {
        let rows: Vec<String> = (0..batch.len())
            .map(|i| {
                let n = 4 * i;
                format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4)
            })
            .collect();
        let sql = format!(
            "INSERT INTO agent_sessions (token_hash, agent_id, created_at, expires_at) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for pending in &batch {
            query = query
                .bind(pending.token_hash.clone())
                .bind(pending.agent_id.to_string())
                .bind(pending.created_at)
                .bind(pending.expires_at);
        }
        if query.execute(pool).await.is_ok() {
            for pending in batch {
                let _ = pending.reply.send(Ok(()));
            }
            return;
        }
    }
    for pending in batch {
        let result = store_one(pool, &pending).await;
        let _ = pending.reply.send(result);
    }
}

/// Stores one session; an unknown agent is [`Error::NotFound`].
async fn store_one(pool: &AnyPool, pending: &PendingSession) -> Result<()> {
    let inserted = sqlx::query(INSERT_SESSION)
        .bind(pending.token_hash.clone())
        .bind(pending.agent_id.to_string())
        .bind(pending.created_at)
        .bind(pending.expires_at)
        .execute(pool)
        .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if violation(&e) == Some(ErrorKind::ForeignKeyViolation) => {
            Err(agent_not_found(pending.agent_id))
        }
        Err(e) if violation(&e) == Some(ErrorKind::UniqueViolation) => Err(Error::Conflict {
            message: "This session token is already in use.".to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}
