//! Agents: reading one, the instance-identity candidate lookup (api.md §1), heartbeats and
//! lifecycle reports.

use idgate_api::{Agent, AuthKind, LifecycleState};
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::{self, agent_columns, micros};
use crate::{Backend, Candidate, Error, Result, Store};

const SELECT_AGENT: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM workspace_agents a WHERE a.id = $1"
);

/// The candidates for an instance-identity proof: `$1` the proven instance ID, `$2` the
/// endpoint's auth kind. One query applies every rule of api.md §1 itself:
///
/// 1. `auth_instance_id` is the proven ID; 2. the agent declared this cloud's auth; 3. it is a
///    root agent; 4. its resource's job is a workspace build, never a template import; 5. that
///    build is its workspace's latest; 6. the workspace is not deleted.
///
/// The partial index `workspace_agents_candidates` (live root agents only) drives it, so it
/// stays flat however many historical rows rebuilds leave behind; `in_latest_build = 1 AND
/// parent_id IS NULL` repeats the index predicate so both planners can use it, while the joins
/// check rules 4–6 independently of the flag.
///
/// The workspace is joined on `latest_build_id = b.id` alone: the composite foreign key
/// `(id, latest_build_id) → workspace_builds (workspace_id, id)` guarantees that it is the
/// build's own workspace. Adding `w.id = b.workspace_id` would be redundant, and it makes
/// PostgreSQL estimate the workspaces–builds join at one row and plan around it.
pub(crate) const FIND_CANDIDATES_SQL: &str = "SELECT a.id AS agent_id, a.name AS agent_name, \
     w.id AS workspace_id \
     FROM workspace_agents a \
     JOIN workspace_resources r ON r.id = a.resource_id \
     JOIN provisioner_jobs j ON j.id = r.job_id \
     JOIN workspace_builds b ON b.job_id = j.id \
     JOIN workspaces w ON w.latest_build_id = b.id \
     WHERE a.auth_instance_id = $1 \
       AND a.auth = $2 \
       AND a.in_latest_build = 1 \
       AND a.parent_id IS NULL \
       AND j.kind = 'workspace_build' \
       AND w.deleted_at IS NULL \
     ORDER BY a.name, a.id";

const RECORD_HEARTBEAT: &str = "UPDATE workspace_agents SET last_seen_at = $1 WHERE id = $2";

const SET_LIFECYCLE: &str =
    "UPDATE workspace_agents SET lifecycle_state = $1, last_seen_at = $2 WHERE id = $3";

const COUNT_AGENTS: &str = "SELECT COUNT(*) FROM workspace_agents";

impl Store {
    /// One agent, whichever build it belongs to. Its `token` is always `None` (tokens are only
    /// stored hashed). An unknown id is [`Error::NotFound`].
    pub async fn get_agent(&self, id: Uuid) -> Result<Agent> {
        let row = sqlx::query(SELECT_AGENT)
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await?;
        match row {
            Some(row) => codec::agent_from_row(&row),
            None => Err(agent_not_found(id)),
        }
    }

    /// The agents that a verified proof of `instance_id` from the cloud of `auth` may resolve
    /// to (api.md §1), ordered by name (byte order) then id. One indexed query.
    pub async fn find_candidates(
        &self,
        auth: AuthKind,
        instance_id: &str,
    ) -> Result<Vec<Candidate>> {
        let rows = sqlx::query(FIND_CANDIDATES_SQL)
            .bind(instance_id)
            .bind(auth.as_str())
            .fetch_all(self.reader())
            .await?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in &rows {
            let agent_id: String = row.try_get("agent_id")?;
            let workspace_id: String = row.try_get("workspace_id")?;
            candidates.push(Candidate {
                agent_id: codec::uuid("workspace_agents.id", &agent_id)?,
                agent_name: row.try_get("agent_name")?,
                workspace_id: codec::uuid("workspaces.id", &workspace_id)?,
            });
        }
        Ok(candidates)
    }

    /// The database's plan for [`Store::find_candidates`], one line per plan node: SQLite's
    /// `EXPLAIN QUERY PLAN` details or PostgreSQL's `EXPLAIN` text. For tests and for
    /// diagnosing slow authentication; the plan should use [`crate::CANDIDATE_INDEX`].
    pub async fn explain_find_candidates(
        &self,
        auth: AuthKind,
        instance_id: &str,
    ) -> Result<Vec<String>> {
        let (sql, column) = match self.backend() {
            Backend::Sqlite => (
                format!("EXPLAIN QUERY PLAN {FIND_CANDIDATES_SQL}"),
                "detail",
            ),
            Backend::Postgres => (format!("EXPLAIN {FIND_CANDIDATES_SQL}"), "QUERY PLAN"),
        };
        let rows = sqlx::query(&sql)
            .bind(instance_id)
            .bind(auth.as_str())
            .fetch_all(self.reader())
            .await?;
        let mut lines = Vec::with_capacity(rows.len());
        for row in &rows {
            lines.push(row.try_get::<String, _>(column)?);
        }
        Ok(lines)
    }

    /// Records a heartbeat: `last_seen_at = now`. An unknown agent is [`Error::NotFound`].
    pub async fn record_heartbeat(&self, agent_id: Uuid, now: OffsetDateTime) -> Result<()> {
        let done = sqlx::query(RECORD_HEARTBEAT)
            .bind(micros(now))
            .bind(agent_id.to_string())
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(agent_not_found(agent_id));
        }
        Ok(())
    }

    /// Records a lifecycle report; it counts as a heartbeat too. An unknown agent is
    /// [`Error::NotFound`].
    pub async fn set_lifecycle(
        &self,
        agent_id: Uuid,
        state: LifecycleState,
        now: OffsetDateTime,
    ) -> Result<()> {
        let done = sqlx::query(SET_LIFECYCLE)
            .bind(state.as_str())
            .bind(micros(now))
            .bind(agent_id.to_string())
            .execute(self.writer())
            .await?;
        if done.rows_affected() == 0 {
            return Err(agent_not_found(agent_id));
        }
        Ok(())
    }

    /// How many agent rows exist, historical ones included (for benchmarks).
    pub async fn count_agents(&self) -> Result<i64> {
        let count: i64 = sqlx::query_scalar(COUNT_AGENTS)
            .fetch_one(self.reader())
            .await?;
        Ok(count)
    }
}

pub(crate) fn agent_not_found(id: Uuid) -> Error {
    Error::NotFound {
        entity: "agent",
        id: id.to_string(),
    }
}
