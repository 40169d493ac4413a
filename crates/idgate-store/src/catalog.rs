//! Templates, template versions, workspaces and builds: the admin side of the store.
//!
//! A build and a template-version import are both a provisioner job with resources and
//! agents; they differ in that only a build's agents can ever authenticate, and only while
//! their build is the workspace's latest (see the invariants in the crate documentation).

use std::collections::HashMap;

use idgate_api::{
    Agent, Build, LatestBuild, LifecycleState, Resource, Template, TemplateVersion, Transition,
    Workspace, go_quote,
};
use sqlx::error::ErrorKind;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::{self, agent_columns, micros, violation, violation_mentions};
use crate::{Backend, Error, NewResource, Result, Store};

const INSERT_TEMPLATE: &str = "INSERT INTO templates (id, name, created_at) VALUES ($1, $2, $3)";

const INSERT_JOB: &str = "INSERT INTO provisioner_jobs (id, kind, created_at) VALUES ($1, $2, $3)";

const INSERT_TEMPLATE_VERSION: &str =
    "INSERT INTO template_versions (id, template_id, job_id, created_at) VALUES ($1, $2, $3, $4)";

const INSERT_WORKSPACE: &str =
    "INSERT INTO workspaces (id, name, owner, template_id, created_at) VALUES ($1, $2, $3, $4, $5)";

/// Reads the workspace a build is for. On PostgreSQL the row lock makes concurrent builds of
/// one workspace take turns, so they get consecutive numbers instead of a conflict; SQLite's
/// `BEGIN IMMEDIATE` already serialises all writers.
const LOCK_WORKSPACE_SQLITE: &str =
    "SELECT deleted_at, latest_build_id FROM workspaces WHERE id = $1";
const LOCK_WORKSPACE_POSTGRES: &str =
    "SELECT deleted_at, latest_build_id FROM workspaces WHERE id = $1 FOR UPDATE";

const NEXT_BUILD_NUMBER: &str =
    "SELECT COALESCE(MAX(build_number), 0) + 1 FROM workspace_builds WHERE workspace_id = $1";

const INSERT_BUILD: &str = "INSERT INTO workspace_builds \
     (id, workspace_id, build_number, transition, job_id, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// Takes the previous latest build's agents out of the candidate index, and forgets their
/// agent-token hashes: a superseded agent can never authenticate again anyway, and a rebuild
/// from the same Terraform state carries the same agent token over to the new build's agent.
const CLEAR_LATEST_AGENTS: &str = "UPDATE workspace_agents SET in_latest_build = 0, token_hash = NULL \
     WHERE in_latest_build = 1 \
       AND job_id = (SELECT job_id FROM workspace_builds WHERE id = $1)";

const SET_LATEST_BUILD: &str =
    "UPDATE workspaces SET latest_build_id = $2, deleted_at = $3 WHERE id = $1";

const INSERT_RESOURCE: &str = "INSERT INTO workspace_resources \
     (id, job_id, ordinal, name, type, instance_id, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

const INSERT_AGENT: &str = "INSERT INTO workspace_agents \
     (id, resource_id, job_id, ordinal, name, auth, auth_instance_id, parent_id, token_hash, \
      lifecycle_state, created_at, in_latest_build) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// The workspaces with their latest build; `{filter}` is empty or restricts to one workspace.
const SELECT_WORKSPACES: &str = "SELECT w.id AS w_id, w.name AS w_name, w.owner AS w_owner, \
     w.deleted_at AS w_deleted_at, b.id AS b_id, b.build_number AS b_number, \
     b.transition AS b_transition, b.created_at AS b_created_at \
     FROM workspaces w LEFT JOIN workspace_builds b ON b.id = w.latest_build_id \
     {filter} ORDER BY w.created_at, w.id";

/// The resources of the latest builds.
const SELECT_LATEST_RESOURCES: &str = "SELECT b.id AS b_id, r.id AS r_id, r.name AS r_name, \
     r.type AS r_type, r.instance_id AS r_instance_id \
     FROM workspaces w \
     JOIN workspace_builds b ON b.id = w.latest_build_id \
     JOIN workspace_resources r ON r.job_id = b.job_id \
     {filter} ORDER BY r.ordinal, r.id";

/// The agents of the latest builds.
const SELECT_LATEST_AGENTS: &str = concat!(
    "SELECT r.id AS r_id, ",
    agent_columns!(),
    " FROM workspaces w \
     JOIN workspace_builds b ON b.id = w.latest_build_id \
     JOIN workspace_resources r ON r.job_id = b.job_id \
     JOIN workspace_agents a ON a.resource_id = r.id \
     {filter} ORDER BY a.ordinal, a.id"
);

/// Which provisioner job a set of resources belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum JobKind {
    WorkspaceBuild,
    TemplateVersionImport,
}

impl JobKind {
    fn as_str(self) -> &'static str {
        match self {
            JobKind::WorkspaceBuild => "workspace_build",
            JobKind::TemplateVersionImport => "template_version_import",
        }
    }
}

impl Store {
    /// Creates a template. A name already taken is [`Error::Conflict`].
    pub async fn create_template(&self, name: &str, now: OffsetDateTime) -> Result<Template> {
        let id = Uuid::new_v4();
        let inserted = sqlx::query(INSERT_TEMPLATE)
            .bind(id.to_string())
            .bind(name)
            .bind(micros(now))
            .execute(self.writer())
            .await;
        match inserted {
            Ok(_) => Ok(Template {
                id,
                name: name.to_owned(),
            }),
            Err(e) if violation(&e) == Some(ErrorKind::UniqueViolation) => Err(Error::Conflict {
                message: format!("A template named {} already exists.", go_quote(name)),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Records a template-version import of `resources`. Its agents never authenticate.
    /// An unknown template is [`Error::NotFound`].
    pub async fn create_template_version(
        &self,
        template_id: Uuid,
        resources: &[NewResource],
        now: OffsetDateTime,
    ) -> Result<TemplateVersion> {
        let now_us = micros(now);
        let id = Uuid::new_v4();
        let job_id = Uuid::new_v4();
        let mut tx = self.begin_write().await?;
        insert_job(&mut tx, job_id, JobKind::TemplateVersionImport, now_us).await?;
        let inserted = sqlx::query(INSERT_TEMPLATE_VERSION)
            .bind(id.to_string())
            .bind(template_id.to_string())
            .bind(job_id.to_string())
            .bind(now_us)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if violation(&e) == Some(ErrorKind::ForeignKeyViolation) => {
                return Err(not_found("template", template_id));
            }
            Err(e) => return Err(e.into()),
        }
        let resources = insert_resources(
            &mut tx,
            job_id,
            JobKind::TemplateVersionImport,
            resources,
            now_us,
        )
        .await?;
        tx.commit().await?;
        Ok(TemplateVersion {
            id,
            template_id,
            resources,
        })
    }

    /// Creates a workspace. Its `latest_build` is [`LatestBuild::Absent`] in the returned value.
    /// An unknown template is [`Error::NotFound`]; a name that the owner already uses (ignoring
    /// case) for a workspace that is not deleted is [`Error::Conflict`].
    pub async fn create_workspace(
        &self,
        name: &str,
        owner: &str,
        template_id: Option<Uuid>,
        now: OffsetDateTime,
    ) -> Result<Workspace> {
        let id = Uuid::new_v4();
        let inserted = sqlx::query(INSERT_WORKSPACE)
            .bind(id.to_string())
            .bind(name)
            .bind(owner)
            .bind(template_id.map(|t| t.to_string()))
            .bind(micros(now))
            .execute(self.writer())
            .await;
        match inserted {
            Ok(_) => Ok(Workspace {
                id,
                name: name.to_owned(),
                owner: owner.to_owned(),
                deleted: false,
                latest_build: LatestBuild::Absent,
            }),
            Err(e) if violation(&e) == Some(ErrorKind::UniqueViolation) => Err(Error::Conflict {
                message: format!(
                    "{} already has a workspace named {}.",
                    go_quote(owner),
                    go_quote(name)
                ),
            }),
            Err(e) if violation(&e) == Some(ErrorKind::ForeignKeyViolation) => {
                let template = template_id.map(|t| t.to_string()).unwrap_or_default();
                Err(Error::NotFound {
                    entity: "template",
                    id: template,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every workspace, deleted or not, each with its latest build ([`LatestBuild::None`] when
    /// it has none), ordered by creation time then id. Three queries, whatever the count.
    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        self.load_workspaces(None).await
    }

    /// One workspace with its latest build. An unknown id is [`Error::NotFound`].
    pub async fn get_workspace(&self, id: Uuid) -> Result<Workspace> {
        let mut found = self.load_workspaces(Some(id)).await?;
        match found.pop() {
            Some(workspace) => Ok(workspace),
            None => Err(not_found("workspace", id)),
        }
    }

    /// Records build `n + 1` of a workspace, atomically: the build with all its resources and
    /// agents becomes the latest (taking the previous build's agents out of authentication),
    /// or nothing changes. A `delete` build marks the workspace deleted.
    ///
    /// Errors: an unknown workspace is [`Error::NotFound`]; a deleted workspace, or a build of
    /// the same workspace committed at the same moment, is [`Error::Conflict`]; agent names
    /// that repeat (ignoring case) or a `parent` that is not a root agent of the same resource
    /// is [`Error::Invalid`].
    pub async fn create_build(
        &self,
        workspace_id: Uuid,
        transition: Transition,
        resources: &[NewResource],
        now: OffsetDateTime,
    ) -> Result<Build> {
        let now_us = micros(now);
        let mut tx = self.begin_write().await?;

        let lock = match self.backend() {
            Backend::Sqlite => LOCK_WORKSPACE_SQLITE,
            Backend::Postgres => LOCK_WORKSPACE_POSTGRES,
        };
        let workspace = sqlx::query(lock)
            .bind(workspace_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(workspace) = workspace else {
            return Err(not_found("workspace", workspace_id));
        };
        let deleted_at: Option<i64> = workspace.try_get("deleted_at")?;
        let previous_build: Option<String> = workspace.try_get("latest_build_id")?;
        if deleted_at.is_some() {
            return Err(Error::Conflict {
                message: format!("Workspace {workspace_id} is deleted."),
            });
        }

        let build_number: i64 = sqlx::query_scalar(NEXT_BUILD_NUMBER)
            .bind(workspace_id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let build_id = Uuid::new_v4();
        let job_id = Uuid::new_v4();
        insert_job(&mut tx, job_id, JobKind::WorkspaceBuild, now_us).await?;
        let inserted = sqlx::query(INSERT_BUILD)
            .bind(build_id.to_string())
            .bind(workspace_id.to_string())
            .bind(build_number)
            .bind(transition.as_str())
            .bind(job_id.to_string())
            .bind(now_us)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if violation(&e) == Some(ErrorKind::UniqueViolation) => {
                return Err(Error::Conflict {
                    message: "Another build of this workspace was created at the same time; \
                              retry."
                        .to_owned(),
                });
            }
            Err(e) => return Err(e.into()),
        }

        if let Some(previous) = previous_build {
            sqlx::query(CLEAR_LATEST_AGENTS)
                .bind(previous)
                .execute(&mut *tx)
                .await?;
        }
        let resources =
            insert_resources(&mut tx, job_id, JobKind::WorkspaceBuild, resources, now_us).await?;
        let deleted_at = match transition {
            Transition::Delete => Some(now_us),
            Transition::Start | Transition::Stop => None,
        };
        sqlx::query(SET_LATEST_BUILD)
            .bind(workspace_id.to_string())
            .bind(build_id.to_string())
            .bind(deleted_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;

        Ok(Build {
            id: build_id,
            workspace_id,
            build_number,
            transition,
            created_at: codec::truncate(now),
            resources,
        })
    }

    /// Loads workspaces (all, or the one with id `only`) with their latest builds, in one
    /// snapshot so that a build committed meanwhile cannot mix into the answer.
    async fn load_workspaces(&self, only: Option<Uuid>) -> Result<Vec<Workspace>> {
        let filter = match only {
            Some(_) => "WHERE w.id = $1",
            None => "",
        };
        let only = only.map(|id| id.to_string());
        let mut tx = self.begin_snapshot().await?;

        let workspace_sql = SELECT_WORKSPACES.replace("{filter}", filter);
        let mut query = sqlx::query(&workspace_sql);
        if let Some(id) = &only {
            query = query.bind(id.clone());
        }
        let workspace_rows = query.fetch_all(&mut *tx).await?;
        if workspace_rows.is_empty() {
            return Ok(Vec::new());
        }

        let resource_sql = SELECT_LATEST_RESOURCES.replace("{filter}", filter);
        let mut query = sqlx::query(&resource_sql);
        if let Some(id) = &only {
            query = query.bind(id.clone());
        }
        let resource_rows = query.fetch_all(&mut *tx).await?;

        let agent_sql = SELECT_LATEST_AGENTS.replace("{filter}", filter);
        let mut query = sqlx::query(&agent_sql);
        if let Some(id) = &only {
            query = query.bind(id.clone());
        }
        let agent_rows = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;

        let mut agents_by_resource: HashMap<String, Vec<Agent>> = HashMap::new();
        for row in &agent_rows {
            let resource_id: String = row.try_get("r_id")?;
            let agent = codec::agent_from_row(row)?;
            agents_by_resource
                .entry(resource_id)
                .or_default()
                .push(agent);
        }

        let mut resources_by_build: HashMap<String, Vec<Resource>> = HashMap::new();
        for row in &resource_rows {
            let build_id: String = row.try_get("b_id")?;
            let id: String = row.try_get("r_id")?;
            let agents = agents_by_resource.remove(&id).unwrap_or_default();
            let resource = Resource {
                id: codec::uuid("workspace_resources.id", &id)?,
                name: row.try_get("r_name")?,
                kind: row.try_get("r_type")?,
                instance_id: row.try_get("r_instance_id")?,
                agents,
            };
            resources_by_build
                .entry(build_id)
                .or_default()
                .push(resource);
        }

        let mut workspaces = Vec::with_capacity(workspace_rows.len());
        for row in &workspace_rows {
            let id: String = row.try_get("w_id")?;
            let id = codec::uuid("workspaces.id", &id)?;
            let deleted_at: Option<i64> = row.try_get("w_deleted_at")?;
            let build_id: Option<String> = row.try_get("b_id")?;
            let latest_build = match build_id {
                None => LatestBuild::None,
                Some(build_id) => {
                    let transition: String = row.try_get("b_transition")?;
                    let created_at: i64 = row.try_get("b_created_at")?;
                    let resources = resources_by_build.remove(&build_id).unwrap_or_default();
                    LatestBuild::Some(Box::new(Build {
                        id: codec::uuid("workspace_builds.id", &build_id)?,
                        workspace_id: id,
                        build_number: row.try_get("b_number")?,
                        transition: codec::transition("workspace_builds.transition", &transition)?,
                        created_at: codec::time("workspace_builds.created_at", created_at)?,
                        resources,
                    }))
                }
            };
            workspaces.push(Workspace {
                id,
                name: row.try_get("w_name")?,
                owner: row.try_get("w_owner")?,
                deleted: deleted_at.is_some(),
                latest_build,
            });
        }
        Ok(workspaces)
    }
}

fn not_found(entity: &'static str, id: Uuid) -> Error {
    Error::NotFound {
        entity,
        id: id.to_string(),
    }
}

async fn insert_job(
    conn: &mut AnyConnection,
    job_id: Uuid,
    kind: JobKind,
    now_us: i64,
) -> Result<()> {
    sqlx::query(INSERT_JOB)
        .bind(job_id.to_string())
        .bind(kind.as_str())
        .bind(now_us)
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts the resources of job `job_id` and their agents, roots before sub-agents, and returns
/// them as stored, in the order given. A build's agents are inserted as the latest build's.
async fn insert_resources(
    conn: &mut AnyConnection,
    job_id: Uuid,
    kind: JobKind,
    resources: &[NewResource],
    now_us: i64,
) -> Result<Vec<Resource>> {
    let in_latest_build: i16 = match kind {
        JobKind::WorkspaceBuild => 1,
        JobKind::TemplateVersionImport => 0,
    };
    let mut stored = Vec::with_capacity(resources.len());
    for (resource_ordinal, resource) in (0_i64..).zip(resources) {
        let resource_id = Uuid::new_v4();
        sqlx::query(INSERT_RESOURCE)
            .bind(resource_id.to_string())
            .bind(job_id.to_string())
            .bind(resource_ordinal)
            .bind(&resource.name)
            .bind(&resource.kind)
            .bind(resource.instance_id.as_deref())
            .bind(now_us)
            .execute(&mut *conn)
            .await?;

        // Roots first, so that every sub-agent's parent row exists when it is inserted.
        let mut agents: Vec<Option<Agent>> = vec![None; resource.agents.len()];
        let mut roots: HashMap<&str, Uuid> = HashMap::new();
        for roots_pass in [true, false] {
            for (index, agent) in resource.agents.iter().enumerate() {
                if agent.parent.is_none() != roots_pass {
                    continue;
                }
                let parent_id = match &agent.parent {
                    None => None,
                    Some(parent) => match roots.get(parent.as_str()) {
                        Some(id) => Some(*id),
                        None => {
                            return Err(Error::Invalid {
                                message: format!(
                                    "Agent {} names parent {}, which is not a root agent of \
                                     resource {}.",
                                    go_quote(&agent.name),
                                    go_quote(parent),
                                    go_quote(&resource.name)
                                ),
                            });
                        }
                    },
                };
                let agent_id = Uuid::new_v4();
                let ordinal = i64::try_from(index).unwrap_or(i64::MAX);
                let inserted = sqlx::query(INSERT_AGENT)
                    .bind(agent_id.to_string())
                    .bind(resource_id.to_string())
                    .bind(job_id.to_string())
                    .bind(ordinal)
                    .bind(&agent.name)
                    .bind(agent.auth.as_str())
                    .bind(agent.auth_instance_id.as_deref())
                    .bind(parent_id.map(|p| p.to_string()))
                    .bind(agent.token_hash.map(|h| h.to_hex()))
                    .bind(LifecycleState::Created.as_str())
                    .bind(now_us)
                    .bind(in_latest_build)
                    .execute(&mut *conn)
                    .await;
                match inserted {
                    Ok(_) => {}
                    Err(e) if violation(&e) == Some(ErrorKind::UniqueViolation) => {
                        if violation_mentions(&e, "token_hash") {
                            return Err(Error::Conflict {
                                message: "An agent token is already in use.".to_owned(),
                            });
                        }
                        return Err(Error::Invalid {
                            message: format!(
                                "Agent name {} is used more than once (names are unique, \
                                 ignoring case, within a build).",
                                go_quote(&agent.name)
                            ),
                        });
                    }
                    Err(e) => return Err(e.into()),
                }
                if agent.parent.is_none() {
                    roots.insert(agent.name.as_str(), agent_id);
                }
                agents[index] = Some(Agent {
                    id: agent_id,
                    name: agent.name.clone(),
                    auth: agent.auth,
                    auth_instance_id: agent.auth_instance_id.clone(),
                    parent_id,
                    lifecycle_state: LifecycleState::Created,
                    last_seen_at: None,
                    last_authenticated_at: None,
                    token: None,
                });
            }
        }

        stored.push(Resource {
            id: resource_id,
            name: resource.name.clone(),
            kind: resource.kind.clone(),
            instance_id: resource.instance_id.clone(),
            agents: agents.into_iter().flatten().collect(),
        });
    }
    Ok(stored)
}
