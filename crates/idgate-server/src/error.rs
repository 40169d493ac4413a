//! The one error type of the HTTP layer and its mapping to status codes and bodies.
//!
//! **Invariant:** every error response is built in [`ApiError::into_parts`], in one `match`. A 5xx
//! body never carries internal text: the cause is logged here, once, and the client gets a
//! generic sentence.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use idgate_api::{ErrorBody, ErrorCode, Validation, go_quote};
use idgate_verify::FailureKind;

/// Which cloud an instance-identity proof came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Amazon Web Services.
    Aws,
    /// Microsoft Azure.
    Azure,
    /// Google Cloud.
    Gcp,
}

impl Cloud {
    /// The name used in messages ("Invalid AWS identity.").
    pub fn display_name(self) -> &'static str {
        match self {
            Cloud::Aws => "AWS",
            Cloud::Azure => "Azure",
            Cloud::Gcp => "GCP",
        }
    }

    /// The agent auth that this cloud's proofs authenticate.
    pub fn auth_kind(self) -> idgate_api::AuthKind {
        match self {
            Cloud::Aws => idgate_api::AuthKind::AwsInstanceIdentity,
            Cloud::Azure => idgate_api::AuthKind::AzureInstanceIdentity,
            Cloud::Gcp => idgate_api::AuthKind::GoogleInstanceIdentity,
        }
    }

    /// A lowercase label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::Gcp => "gcp",
        }
    }
}

/// Everything a handler can answer besides success.
#[derive(Debug)]
pub enum ApiError {
    /// The body is not JSON.
    InvalidJson,
    /// Fields are missing, empty or wrong.
    Validation(Vec<Validation>),
    /// The body is over the limit.
    BodyTooLarge,
    /// Missing or wrong credentials; the message says which header is expected.
    Unauthorized(&'static str),
    /// No such object.
    NotFound(&'static str),
    /// The request conflicts with stored state; the message is safe to show.
    Conflict(String),
    /// No agent for the proven instance.
    InstanceNotFound {
        /// The proven instance ID.
        instance_id: String,
    },
    /// The instance has agents, none with the requested name.
    AgentNameNotFound {
        /// The proven instance ID.
        instance_id: String,
        /// The requested name.
        name: String,
        /// The candidates' names, sorted and distinct.
        candidates: Vec<String>,
    },
    /// Several agents with the requested name (the ID is in several workspaces' latest builds).
    AmbiguousName {
        /// The proven instance ID.
        instance_id: String,
        /// The requested name.
        name: String,
    },
    /// Several candidates and no name.
    Ambiguous {
        /// The proven instance ID.
        instance_id: String,
        /// The candidates' names, sorted and distinct.
        names: Vec<String>,
    },
    /// The proof did not verify.
    Proof {
        /// Which endpoint.
        cloud: Cloud,
        /// Why.
        error: idgate_verify::Error,
    },
    /// The keys that verify a cloud's proofs could not be obtained (and none were cached).
    KeysUnavailable {
        /// Which cloud.
        cloud: Cloud,
        /// Why, safe to show (no internal paths beyond the configured source).
        detail: String,
    },
    /// The database does not answer.
    Unavailable,
    /// Anything unexpected. The text is logged, never sent.
    Internal(String),
}

impl From<idgate_store::Error> for ApiError {
    fn from(error: idgate_store::Error) -> Self {
        match error {
            idgate_store::Error::NotFound { entity, .. } => ApiError::NotFound(entity),
            idgate_store::Error::Conflict { message } => ApiError::Conflict(message),
            // The API validates names and parents before the store sees them; the store checks
            // again, and says which field if its check is the one that catches it.
            idgate_store::Error::Invalid { message } => ApiError::Validation(vec![Validation {
                field: "resources".into(),
                detail: message,
            }]),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn body(message: impl Into<String>, code: ErrorCode) -> ErrorBody {
    ErrorBody {
        message: message.into(),
        detail: None,
        validations: Vec::new(),
        code: Some(code),
    }
}

fn with_detail(mut b: ErrorBody, detail: impl Into<String>) -> ErrorBody {
    b.detail = Some(detail.into());
    b
}

/// The API code for a verification failure.
pub fn proof_code(kind: FailureKind) -> ErrorCode {
    match kind {
        FailureKind::Malformed => ErrorCode::MalformedProof,
        FailureKind::SignatureInvalid => ErrorCode::SignatureInvalid,
        FailureKind::CertificateUntrusted => ErrorCode::CertificateUntrusted,
        FailureKind::CertificateExpired => ErrorCode::CertificateExpired,
        FailureKind::DocumentExpired => ErrorCode::DocumentExpired,
        FailureKind::TokenExpired => ErrorCode::TokenExpired,
        FailureKind::UnknownKey => ErrorCode::UnknownKey,
        FailureKind::IssuerMismatch => ErrorCode::IssuerMismatch,
        FailureKind::AudienceMismatch => ErrorCode::AudienceMismatch,
        _ => ErrorCode::SignatureInvalid,
    }
}

impl ApiError {
    /// The status and body of this error. The only place where errors become HTTP.
    pub fn into_parts(self) -> (StatusCode, ErrorBody) {
        match self {
            ApiError::InvalidJson => (
                StatusCode::BAD_REQUEST,
                body("Request body must be valid JSON.", ErrorCode::InvalidJson),
            ),
            ApiError::Validation(validations) => (
                StatusCode::BAD_REQUEST,
                ErrorBody {
                    validations,
                    ..body("Validation failed.", ErrorCode::ValidationFailed)
                },
            ),
            ApiError::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                with_detail(
                    body("Request body is too large.", ErrorCode::BodyTooLarge),
                    format!("The limit is {} bytes.", idgate_api::MAX_BODY_BYTES),
                ),
            ),
            ApiError::Unauthorized(message) => (
                StatusCode::UNAUTHORIZED,
                body(message, ErrorCode::Unauthorized),
            ),
            ApiError::NotFound(entity) => (
                StatusCode::NOT_FOUND,
                body(
                    format!("{} not found.", capitalize(entity)),
                    ErrorCode::NotFound,
                ),
            ),
            ApiError::Conflict(message) => {
                (StatusCode::CONFLICT, body(message, ErrorCode::Conflict))
            }
            ApiError::InstanceNotFound { instance_id } => (
                StatusCode::NOT_FOUND,
                with_detail(
                    body(
                        format!("Instance with id {} not found.", go_quote(&instance_id)),
                        ErrorCode::InstanceNotFound,
                    ),
                    "No agent of a current workspace build declares this instance ID for this \
                     cloud. Check the agent's auth and the instance ID recorded by the build.",
                ),
            ),
            ApiError::AgentNameNotFound {
                instance_id,
                name,
                candidates,
            } => (
                StatusCode::NOT_FOUND,
                with_detail(
                    body(
                        format!(
                            "No agent found with instance ID {} and name {}.",
                            go_quote(&instance_id),
                            go_quote(&name)
                        ),
                        ErrorCode::AgentNameNotFound,
                    ),
                    format!("Agents on this instance: {}.", candidates.join(", ")),
                ),
            ),
            ApiError::AmbiguousName { instance_id, name } => (
                StatusCode::CONFLICT,
                with_detail(
                    body(
                        format!(
                            "Multiple agents named {} found with instance ID {}.",
                            go_quote(&name),
                            go_quote(&instance_id)
                        ),
                        ErrorCode::AmbiguousAgent,
                    ),
                    "This instance ID is in the latest builds of several workspaces. \
                     Rebuild or delete the stale workspace.",
                ),
            ),
            ApiError::Ambiguous { instance_id, names } => (
                StatusCode::CONFLICT,
                body(
                    format!(
                        "Multiple agents found with instance ID {}. Set CODER_AGENT_NAME to one of: {}",
                        go_quote(&instance_id),
                        names.join(", ")
                    ),
                    ErrorCode::AmbiguousAgent,
                ),
            ),
            ApiError::Proof { cloud, error } => (
                StatusCode::UNAUTHORIZED,
                with_detail(
                    body(
                        format!("Invalid {} identity.", cloud.display_name()),
                        proof_code(error.kind()),
                    ),
                    error.to_string(),
                ),
            ),
            ApiError::KeysUnavailable { cloud, detail } => (
                StatusCode::SERVICE_UNAVAILABLE,
                with_detail(
                    body(
                        format!(
                            "The {} signing keys are not available; try again shortly.",
                            cloud.display_name()
                        ),
                        ErrorCode::Unavailable,
                    ),
                    detail,
                ),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                body("The database is not available.", ErrorCode::Unavailable),
            ),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    body(
                        "An internal error occurred. The server log has the details.",
                        ErrorCode::Internal,
                    ),
                )
            }
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.into_parts();
        (status, axum::Json(body)).into_response()
    }
}
