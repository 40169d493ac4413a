//! Agent authentication (§1): verify the proof, resolve the agent, issue its session token.
//!
//! **Invariant:** the proof is verified before any database access, so a forged proof costs the
//! database nothing.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use idgate_api::{
    AuthKind, AwsInstanceIdentityRequest, AzureInstanceIdentityRequest,
    GoogleInstanceIdentityRequest, SessionTokenResponse, normalize_agent_name,
};
use idgate_verify::aws::{AwsProof, verify_aws};
use idgate_verify::azure::{AzureProof, VerifiedAzureIdentity, verify_azure};
use idgate_verify::gcp::{token_kid, verify_gcp};

use crate::AppState;
use crate::error::{ApiError, Cloud};
use crate::extract::JsonBody;
use crate::resolve::resolve;
use crate::tokens::Secret;

/// `POST /api/v2/workspaceagents/aws-instance-identity`.
pub async fn aws(State(state): State<AppState>, body: Result<JsonBody, ApiError>) -> Response {
    exchange(&state, Cloud::Aws, body).await
}

/// `POST /api/v2/workspaceagents/azure-instance-identity`.
pub async fn azure(State(state): State<AppState>, body: Result<JsonBody, ApiError>) -> Response {
    exchange(&state, Cloud::Azure, body).await
}

/// `POST /api/v2/workspaceagents/google-instance-identity`.
pub async fn google(State(state): State<AppState>, body: Result<JsonBody, ApiError>) -> Response {
    exchange(&state, Cloud::Gcp, body).await
}

/// What a verified proof says, plus the agent name the request asked for.
struct Proven {
    instance_id: String,
    agent_name: Option<String>,
}

/// Verifies the proof of `cloud`, resolves the agent, issues its token, and counts the outcome.
async fn exchange(state: &AppState, cloud: Cloud, body: Result<JsonBody, ApiError>) -> Response {
    let started = Instant::now();
    let result = match body {
        Ok(JsonBody(value)) => verify_and_issue(state, cloud, &value).await,
        Err(e) => Err(e),
    };
    respond(state, cloud, started, result)
}

async fn verify_and_issue(
    state: &AppState,
    cloud: Cloud,
    body: &serde_json::Value,
) -> Result<SessionTokenResponse, ApiError> {
    let proven = match cloud {
        Cloud::Aws => prove_aws(state, body)?,
        Cloud::Azure => prove_azure(state, body).await?,
        Cloud::Gcp => prove_google(state, body).await?,
    };
    issue_session(
        state,
        cloud.auth_kind(),
        &proven.instance_id,
        proven.agent_name.as_deref(),
    )
    .await
}

fn prove_aws(state: &AppState, body: &serde_json::Value) -> Result<Proven, ApiError> {
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
    Ok(Proven {
        instance_id: identity.instance_id,
        agent_name: request.agent_name,
    })
}

async fn prove_azure(state: &AppState, body: &serde_json::Value) -> Result<Proven, ApiError> {
    let request = AzureInstanceIdentityRequest::from_json(body).map_err(ApiError::Validation)?;
    let identity = verify_azure_fetching(state, &request.signature).await?;
    Ok(Proven {
        instance_id: identity.vm_id,
        agent_name: request.agent_name,
    })
}

/// Verifies an Azure proof. When the only problem is an intermediate that no configured or
/// bundled certificate provides, fetches it from the signer's AIA URLs (through the
/// SSRF-guarded fetcher), keeps it only if it chains to a pinned root, and verifies again.
async fn verify_azure_fetching(
    state: &AppState,
    signature: &str,
) -> Result<VerifiedAzureIdentity, ApiError> {
    let proof = AzureProof { signature };
    let first = verify_azure_now(state, &proof);
    let error = match first {
        Ok(identity) => return Ok(identity),
        Err(error) => error,
    };
    let urls: Vec<String> = match error.missing_intermediate_urls() {
        Some(urls) if state.azure.aia.is_enabled() => urls.to_vec(),
        _ => return Err(azure_error(error)),
    };
    for url in &urls {
        if fetch_intermediate(state, url).await {
            return verify_azure_now(state, &proof).map_err(azure_error);
        }
    }
    Err(azure_error(error))
}

fn verify_azure_now(
    state: &AppState,
    proof: &AzureProof<'_>,
) -> Result<VerifiedAzureIdentity, idgate_verify::Error> {
    let trust = state
        .azure
        .trust
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    verify_azure(proof, &trust, state.unix_now())
}

/// Fetches one AIA URL and offers the certificate to the trust store; whether it was accepted.
async fn fetch_intermediate(state: &AppState, url: &str) -> bool {
    let der = match state.azure.aia.fetch(url).await {
        Ok(der) => der,
        Err(error) => {
            tracing::warn!(%error, "could not fetch a missing Azure intermediate");
            return false;
        }
    };
    let accepted = {
        let mut trust = state
            .azure
            .trust
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        trust.add_fetched_intermediate(&der, state.unix_now())
    };
    match accepted {
        Ok(()) => {
            tracing::info!("fetched a missing Azure intermediate; it chains to a pinned root");
            if let Err(error) = state.azure.aia.remember(url, &der).await {
                tracing::warn!(%error, "could not cache the fetched Azure intermediate");
            }
            true
        }
        Err(error) => {
            tracing::warn!(%error, "refused a fetched Azure intermediate");
            false
        }
    }
}

fn azure_error(error: idgate_verify::Error) -> ApiError {
    ApiError::Proof {
        cloud: Cloud::Azure,
        error,
    }
}

async fn prove_google(state: &AppState, body: &serde_json::Value) -> Result<Proven, ApiError> {
    let request = GoogleInstanceIdentityRequest::from_json(body).map_err(ApiError::Validation)?;
    let gcp_error = |error| ApiError::Proof {
        cloud: Cloud::Gcp,
        error,
    };
    let kid = token_kid(&request.json_web_token).map_err(gcp_error)?;
    let keys = state.gcp.keys.for_kid(&kid).await.map_err(|error| {
        tracing::warn!(%error, "Google's signing keys are not available");
        ApiError::KeysUnavailable {
            cloud: Cloud::Gcp,
            detail: error.to_string(),
        }
    })?;
    let identity = verify_gcp(
        &request.json_web_token,
        &keys,
        &state.gcp.audiences,
        state.unix_now(),
    )
    .map_err(gcp_error)?;
    Ok(Proven {
        instance_id: identity.instance_id,
        agent_name: request.agent_name,
    })
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
