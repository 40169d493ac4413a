//! The admin API (§3), authenticated by the admin token.
//!
//! Builds and template versions take their resources either as `resources` or as a Terraform
//! document to import (`terraform_state` for a build, `terraform_plan` for a template version),
//! which `idgate-terraform` turns into the same resource specs; those then go through the same
//! validation and the same transaction.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use idgate_api::{
    Agent, AuthKind, Build, CreateBuildRequest, CreateTemplateRequest,
    CreateTemplateVersionRequest, CreateWorkspaceRequest, ResourceSpec, Template, TemplateVersion,
    Transition, Validation, Workspace,
};
use idgate_store::{NewAgent, NewResource};
use serde_json::{Value, json};
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
    let request = template_version_request(&body)?;
    // A template import's agents never authenticate, so none of them gets a token.
    let (resources, _) = new_resources(&request.resources, false, &HashMap::new());
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
    let (request, given_tokens) = build_request(&body)?;
    let (resources, mut tokens) = new_resources(&request.resources, true, &given_tokens);
    let created = state
        .store
        .create_build(workspace_id, request.transition, &resources, state.now())
        .await;
    let mut build = match created {
        Ok(build) => build,
        // The store's one conflict about tokens: an agent token that is already in use. Only a
        // token taken from a Terraform state can be, so say what to do about it.
        Err(idgate_store::Error::Conflict { message })
            if !given_tokens.is_empty() && message.contains("token") =>
        {
            return Err(ApiError::Conflict(format!(
                "{message} {STATE_TOKEN_IN_USE}"
            )));
        }
        Err(e) => return Err(e.into()),
    };
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

/// Turns validated specs into store rows. With `issue_tokens`, every `token` agent gets a token:
/// the one in `given` (from a Terraform state, by agent name), whose hash is stored and which
/// is not shown again, or else a fresh one; the fresh tokens are returned by agent name (names
/// are unique in a build).
fn new_resources(
    specs: &[ResourceSpec],
    issue_tokens: bool,
    given: &HashMap<String, Secret>,
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
                    let token_hash = if !issue_tokens || agent.auth != AuthKind::Token {
                        None
                    } else if let Some(token) = given.get(&agent.name) {
                        Some(token.hash())
                    } else {
                        let token = Secret::generate();
                        let hash = token.hash();
                        tokens.insert(agent.name.clone(), token);
                        Some(hash)
                    };
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

// ---------------------------------------------------------------------------------------------
// Terraform import

/// The field of a build request that carries `terraform show -json` after apply.
const TERRAFORM_STATE: &str = "terraform_state";
/// The field of a template version request that carries `terraform show -json PLANFILE`.
const TERRAFORM_PLAN: &str = "terraform_plan";

/// Said when a token from a Terraform state is already an agent's token (the store keeps agent
/// tokens unique, and the agent of an earlier build keeps its token).
const STATE_TOKEN_IN_USE: &str = "A token agent's token comes from the Terraform state, and \
     another agent (of an earlier build, say) already has it. Replace the coder_agent to give \
     it a new token (terraform apply -replace=coder_agent.NAME), then import the new state.";

/// The build that a request asks for: its `resources`, or the import of its
/// `terraform_state`, with the tokens that the state gives its token agents, by agent name.
fn build_request(body: &Value) -> Result<(CreateBuildRequest, HashMap<String, Secret>), ApiError> {
    let problems = source_problems(
        body,
        TERRAFORM_STATE,
        TERRAFORM_PLAN,
        "a build imports the state after apply: send `terraform show -json` as terraform_state \
         (terraform_plan is for template versions)",
    );
    let request = parse_with(problems, CreateBuildRequest::from_json(body))?;
    let Some(document) = given(body, TERRAFORM_STATE) else {
        return Ok((request, HashMap::new()));
    };
    let import = idgate_terraform::import_state(document, request.transition)
        .map_err(|errors| import_failed(TERRAFORM_STATE, &errors))?;
    if !import.dropped.is_empty() {
        let dropped: Vec<&str> = import.dropped.iter().map(|d| d.address.as_str()).collect();
        tracing::info!(
            transition = request.transition.as_str(),
            dropped = %dropped.join(", "),
            "agents without a resource instance left out of the imported build, as Coder does"
        );
    }
    let resources = revalidate_build(request.transition, import.resources)?;
    let tokens = import
        .tokens
        .into_iter()
        .map(|(name, token)| (name, Secret::new(token.expose().to_owned())))
        .collect();
    Ok((
        CreateBuildRequest {
            transition: request.transition,
            resources,
        },
        tokens,
    ))
}

/// The template version that a request asks for: its `resources`, or the import of its
/// `terraform_plan`.
fn template_version_request(body: &Value) -> Result<CreateTemplateVersionRequest, ApiError> {
    let problems = source_problems(
        body,
        TERRAFORM_PLAN,
        TERRAFORM_STATE,
        "a template version imports a plan: send `terraform show -json PLANFILE` as \
         terraform_plan (terraform_state is for builds)",
    );
    let request = parse_with(problems, CreateTemplateVersionRequest::from_json(body))?;
    let Some(document) = given(body, TERRAFORM_PLAN) else {
        return Ok(request);
    };
    let import = idgate_terraform::import_plan(document)
        .map_err(|errors| import_failed(TERRAFORM_PLAN, &errors))?;
    revalidate_template_version(&import.resources)?;
    Ok(CreateTemplateVersionRequest {
        resources: import.resources,
    })
}

/// A field of the body that is present and not `null`.
fn given<'a>(body: &'a Value, field: &str) -> Option<&'a Value> {
    body.get(field).filter(|v| !v.is_null())
}

/// The parsed request, or every problem: those found before parsing, then the parser's.
fn parse_with<T>(
    mut problems: Vec<Validation>,
    parsed: Result<T, Vec<Validation>>,
) -> Result<T, ApiError> {
    match parsed {
        Ok(request) if problems.is_empty() => Ok(request),
        Ok(_) => Err(ApiError::Validation(problems)),
        Err(mut fields) => {
            problems.append(&mut fields);
            Err(ApiError::Validation(problems))
        }
    }
}

/// What is wrong with the choice of source: `resources` and `field` together, or `other`
/// (the document for the other endpoint) at all.
fn source_problems(body: &Value, field: &str, other: &str, other_hint: &str) -> Vec<Validation> {
    let mut problems = Vec::new();
    if given(body, field).is_some() && given(body, "resources").is_some() {
        problems.push(Validation {
            field: field.to_owned(),
            detail: format!("give either resources or {field}, not both"),
        });
    }
    if given(body, other).is_some() {
        problems.push(Validation {
            field: other.to_owned(),
            detail: other_hint.to_owned(),
        });
    }
    problems
}

/// One `validations` entry per import error, its field the JSON path inside the document.
fn import_failed(field: &str, errors: &[idgate_terraform::Error]) -> ApiError {
    let validations = errors
        .iter()
        .map(|error| Validation {
            field: match error.path() {
                "" => field.to_owned(),
                path => format!("{field}.{path}"),
            },
            detail: error.to_string(),
        })
        .collect();
    ApiError::Validation(validations)
}

/// Runs imported resources through the very validation of a `resources` build, so that an
/// import can never store what a hand-written build could not.
fn revalidate_build(
    transition: Transition,
    resources: Vec<ResourceSpec>,
) -> Result<Vec<ResourceSpec>, ApiError> {
    let body = json!({"transition": transition.as_str(), "resources": resources});
    match CreateBuildRequest::from_json(&body) {
        Ok(request) => Ok(request.resources),
        Err(fields) => Err(imported_invalid(TERRAFORM_STATE, fields)),
    }
}

/// The same for a template version, where instance-identity agents may lack an instance ID:
/// a plan does not know the IDs yet, and a template version's agents never authenticate. The
/// validation sees a stand-in ID for them; the stored agents have none.
fn revalidate_template_version(resources: &[ResourceSpec]) -> Result<(), ApiError> {
    let mut checked = resources.to_vec();
    for resource in checked.iter_mut().filter(|r| r.instance_id.is_none()) {
        for agent in &mut resource.agents {
            if agent.auth.is_instance_identity() && agent.instance_id.is_none() {
                agent.instance_id = Some("known-after-apply".to_owned());
            }
        }
    }
    let body = json!({"resources": checked});
    match CreateTemplateVersionRequest::from_json(&body) {
        Ok(_) => Ok(()),
        Err(fields) => Err(imported_invalid(TERRAFORM_PLAN, fields)),
    }
}

fn imported_invalid(field: &str, fields: Vec<Validation>) -> ApiError {
    let validations = fields
        .into_iter()
        .map(|v| Validation {
            field: field.to_owned(),
            detail: format!("imported {}: {}", v.field, v.detail),
        })
        .collect();
    ApiError::Validation(validations)
}
