//! Agent authentication (§1): verify the proof, resolve the agent, issue its session token.
//!
//! **Invariant:** the proof is verified before any database access, so a forged proof costs the
//! database nothing.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use idgate_api::{
    AuthKind, AwsInstanceIdentityRequest, SessionTokenResponse, normalize_agent_name,
};
use idgate_verify::aws::{AwsProof, verify_aws};

use crate::AppState;
use crate::error::{ApiError, Cloud};
use crate::extract::JsonBody;
use crate::resolve::resolve;
use crate::tokens::Secret;

/// `POST /api/v2/workspaceagents/aws-instance-identity`.
pub async fn aws(State(state): State<AppState>, body: Result<JsonBody, ApiError>) -> Response {
    let started = Instant::now();
    let result = match body {
        Ok(JsonBody(value)) => aws_exchange(&state, &value).await,
        Err(e) => Err(e),
    };
    respond(&state, Cloud::Aws, started, result)
}

async fn aws_exchange(
    state: &AppState,
    body: &serde_json::Value,
) -> Result<SessionTokenResponse, ApiError> {
    let request = AwsInstanceIdentityRequest::from_json(body).map_err(ApiError::Validation)?;
    let proof = AwsProof {
        document: request.document.as_bytes(),
        signature: request.signature.as_deref(),
        pkcs7: request.pkcs7.as_deref(),
    };
    let identity = verify_aws(&proof, &state.aws_trust, state.unix_now()).map_err(|error| {
        ApiError::Proof {
            cloud: Cloud::Aws,
            error,
        }
    })?;
    issue_session(
        state,
        AuthKind::AwsInstanceIdentity,
        &identity.instance_id,
        request.agent_name.as_deref(),
    )
    .await
}

/// Resolves the agent for a verified instance ID and issues its session token.
async fn issue_session(
    state: &AppState,
    auth: AuthKind,
    instance_id: &str,
    agent_name: Option<&str>,
) -> Result<SessionTokenResponse, ApiError> {
    let name = normalize_agent_name(agent_name);
    let candidates = state.store.find_candidates(auth, instance_id).await?;
    let agent = resolve(instance_id, name, candidates)?;
    let token = Secret::generate();
    let now = state.now();
    let expires_at = now + state.session_ttl;
    state
        .store
        .create_session(agent.agent_id, &token.hash(), expires_at, now)
        .await?;
    tracing::info!(
        agent_id = %agent.agent_id,
        agent_name = %agent.agent_name,
        instance_id,
        auth = auth.as_str(),
        "agent authenticated"
    );
    Ok(SessionTokenResponse {
        session_token: token.expose().to_owned(),
        agent_id: agent.agent_id,
        expires_at,
    })
}

/// Turns the result into the response and counts it.
fn respond(
    state: &AppState,
    cloud: Cloud,
    started: Instant,
    result: Result<SessionTokenResponse, ApiError>,
) -> Response {
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(session) => {
            state.metrics.exchange(cloud.label(), "ok", seconds);
            Json(session).into_response()
        }
        Err(error) => {
            let (status, body) = error.into_parts();
            let outcome = body.code.map_or("error", |c| c.as_str());
            state.metrics.exchange(cloud.label(), outcome, seconds);
            tracing::debug!(cloud = cloud.label(), outcome, detail = ?body.detail, "exchange refused");
            (status, Json(body)).into_response()
        }
    }
}
