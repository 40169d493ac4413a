//! Request extractors: a size-limited JSON body, the agent's session token and the admin token.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use idgate_api::SESSION_TOKEN_HEADER;
use idgate_store::{AuthenticatedAgent, TokenHash};

use crate::AppState;
use crate::error::ApiError;

/// A request body parsed as JSON, at most [`idgate_api::MAX_BODY_BYTES`] long.
///
/// The limit itself is [`axum::extract::DefaultBodyLimit`], set on the router; this extractor
/// turns its rejection into the contract's 413 and any parse failure into `invalid_json`.
pub struct JsonBody(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = match Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::BodyTooLarge);
            }
            Err(_) => return Err(ApiError::InvalidJson),
        };
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(JsonBody(value)),
            Err(_) => Err(ApiError::InvalidJson),
        }
    }
}

/// The agent behind the request's `Coder-Session-Token`.
pub struct AgentSession(pub AuthenticatedAgent);

const MISSING_SESSION: &str =
    "Session token is missing. Send the agent's token in the Coder-Session-Token header.";
const INVALID_SESSION: &str = "Session token is invalid or expired, or its agent is no longer in \
                               the latest build of its workspace. Authenticate again.";

impl FromRequestParts<AppState> for AgentSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(SESSION_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized(MISSING_SESSION))?;
        let hash = TokenHash::of(token);
        let now = state.now();
        match state.store.agent_by_token(&hash, now).await? {
            Some(agent) => Ok(AgentSession(agent)),
            None => Err(ApiError::Unauthorized(INVALID_SESSION)),
        }
    }
}

/// Proof that the request carries the admin token.
pub struct Admin;

const ADMIN_UNAUTHORIZED: &str = "Admin token is missing or wrong. Send \
                                  \"Authorization: Bearer <token>\" with the token from the \
                                  server's admin token file.";

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized(ADMIN_UNAUTHORIZED))?;
        // Comparing digests rather than the tokens themselves: the time the comparison takes
        // tells an attacker nothing about the token.
        if TokenHash::of(presented) == state.admin_token_hash {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized(ADMIN_UNAUTHORIZED))
        }
    }
}
