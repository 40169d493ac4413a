//! The agent API (§2): manifest, heartbeat and lifecycle, authenticated by the session token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use idgate_api::{LifecycleRequest, Manifest};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AgentSession, JsonBody};

/// `GET /api/v2/workspaceagents/me/manifest`.
pub async fn manifest(AgentSession(agent): AgentSession) -> Json<Manifest> {
    Json(agent.manifest)
}

/// `POST /api/v2/workspaceagents/me/heartbeat`.
pub async fn heartbeat(
    State(state): State<AppState>,
    AgentSession(agent): AgentSession,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .record_heartbeat(agent.manifest.agent_id, state.now())
        .await?;
    state.metrics.agent_request("heartbeat", "ok");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v2/workspaceagents/me/lifecycle`.
pub async fn lifecycle(
    State(state): State<AppState>,
    AgentSession(agent): AgentSession,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, ApiError> {
    let request = LifecycleRequest::from_json(&body).map_err(ApiError::Validation)?;
    state
        .store
        .set_lifecycle(agent.manifest.agent_id, request.state, state.now())
        .await?;
    tracing::info!(
        agent_id = %agent.manifest.agent_id,
        state = request.state.as_str(),
        "agent lifecycle"
    );
    state.metrics.agent_request("lifecycle", "ok");
    Ok(StatusCode::NO_CONTENT)
}
