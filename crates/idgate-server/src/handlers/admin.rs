//! The admin API (§3), authenticated by the admin token.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use idgate_api::{
    Agent, AuthKind, Build, CreateBuildRequest, CreateTemplateRequest,
    CreateTemplateVersionRequest, CreateWorkspaceRequest, ResourceSpec, Template, TemplateVersion,
    Workspace,
};
use idgate_store::{NewAgent, NewResource};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, JsonBody};
use crate::tokens::Secret;

/// Parses a path ID; anything that is not a UUID cannot name an object, so it is a 404.
fn path_id(raw: &str, entity: &'static str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(entity))
}

/// `POST /api/v2/templates`.
pub async fn create_template(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Template>), ApiError> {
    let request = CreateTemplateRequest::from_json(&body).map_err(ApiError::Validation)?;
    let template = state
        .store
        .create_template(&request.name, state.now())
        .await?;
    Ok((StatusCode::CREATED, Json(template)))
}

/// `POST /api/v2/templates/{template_id}/versions`.
pub async fn create_template_version(
    _: Admin,
    State(state): State<AppState>,
    Path(template_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<TemplateVersion>), ApiError> {
    let template_id = path_id(&template_id, "template")?;
    let request = CreateTemplateVersionRequest::from_json(&body).map_err(ApiError::Validation)?;
    // A template import's agents never authenticate, so none of them gets a token.
    let (resources, _) = new_resources(&request.resources, false);
    let version = state
        .store
        .create_template_version(template_id, &resources, state.now())
        .await?;
    Ok((StatusCode::CREATED, Json(version)))
}

/// `POST /api/v2/workspaces`.
pub async fn create_workspace(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Workspace>), ApiError> {
    let request = CreateWorkspaceRequest::from_json(&body).map_err(ApiError::Validation)?;
    let workspace = state
        .store
        .create_workspace(
            &request.name,
            &request.owner,
            request.template_id,
            state.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(workspace)))
}

/// `GET /api/v2/workspaces`.
pub async fn list_workspaces(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<Vec<Workspace>>, ApiError> {
    Ok(Json(state.store.list_workspaces().await?))
}

/// `GET /api/v2/workspaces/{workspace_id}`.
pub async fn get_workspace(
    _: Admin,
    State(state): State<AppState>,
    Path(workspace_id): Path<String>,
) -> Result<Json<Workspace>, ApiError> {
    let id = path_id(&workspace_id, "workspace")?;
    Ok(Json(state.store.get_workspace(id).await?))
}

/// `POST /api/v2/workspaces/{workspace_id}/builds`.
pub async fn create_build(
    _: Admin,
    State(state): State<AppState>,
    Path(workspace_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Build>), ApiError> {
    let workspace_id = path_id(&workspace_id, "workspace")?;
    let request = CreateBuildRequest::from_json(&body).map_err(ApiError::Validation)?;
    let (resources, mut tokens) = new_resources(&request.resources, true);
    let mut build = state
        .store
        .create_build(workspace_id, request.transition, &resources, state.now())
        .await?;
    // The only time a token agent's token is ever shown.
    for resource in &mut build.resources {
        for agent in &mut resource.agents {
            if let Some(token) = tokens.remove(&agent.name) {
                agent.token = Some(token.expose().to_owned());
            }
        }
    }
    tracing::info!(
        %workspace_id,
        build_number = build.build_number,
        transition = request.transition.as_str(),
        "build created"
    );
    Ok((StatusCode::CREATED, Json(build)))
}

/// `GET /api/v2/workspaceagents/{agent_id}`.
pub async fn get_agent(
    _: Admin,
    State(state): State<AppState>,
    Path(agent_id): Path<String>,
) -> Result<Json<Agent>, ApiError> {
    let id = path_id(&agent_id, "agent")?;
    Ok(Json(state.store.get_agent(id).await?))
}

/// Turns validated specs into store rows. With `issue_tokens`, every `token` agent gets a fresh
/// token; the clear tokens are returned by agent name (names are unique in a build).
fn new_resources(
    specs: &[ResourceSpec],
    issue_tokens: bool,
) -> (Vec<NewResource>, HashMap<String, Secret>) {
    let mut tokens = HashMap::new();
    let resources = specs
        .iter()
        .map(|spec| NewResource {
            name: spec.name.clone(),
            kind: spec.kind.clone(),
            instance_id: spec.instance_id.clone(),
            // Roots first, so that the store can resolve each sub-agent's parent by name.
            agents: roots_first(&spec.agents)
                .map(|agent| {
                    let token =
                        (issue_tokens && agent.auth == AuthKind::Token).then(Secret::generate);
                    let token_hash = token.as_ref().map(Secret::hash);
                    if let Some(token) = token {
                        tokens.insert(agent.name.clone(), token);
                    }
                    NewAgent {
                        name: agent.name.clone(),
                        auth: agent.auth,
                        auth_instance_id: auth_instance_id(spec, agent),
                        parent: agent.parent.clone(),
                        token_hash,
                    }
                })
                .collect(),
        })
        .collect();
    (resources, tokens)
}

/// The root agents of a resource, then its sub-agents, each group in declaration order.
fn roots_first(agents: &[idgate_api::AgentSpec]) -> impl Iterator<Item = &idgate_api::AgentSpec> {
    let roots = agents.iter().filter(|a| a.parent.is_none());
    let subs = agents.iter().filter(|a| a.parent.is_some());
    roots.chain(subs)
}

/// The agent's own instance ID, else its resource's; none for token agents.
fn auth_instance_id(resource: &ResourceSpec, agent: &idgate_api::AgentSpec) -> Option<String> {
    if !agent.auth.is_instance_identity() {
        return None;
    }
    agent
        .instance_id
        .clone()
        .or_else(|| resource.instance_id.clone())
}
