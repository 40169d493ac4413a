//! Operations endpoints (`/healthz`, `/readyz`, `/metrics`) and the fallbacks.

use std::any::Any;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use idgate_api::{ErrorBody, ErrorCode};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

/// 200 while the process serves.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the database answers, 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(json!({"status": "ok"}))),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed: the database does not answer");
            Err(ApiError::Unavailable)
        }
    }
}

/// Prometheus metrics in the OpenMetrics text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Unknown paths.
pub async fn no_route() -> ApiError {
    ApiError::NotFound("route")
}

/// Known paths, wrong method.
pub async fn method_not_allowed() -> Response {
    let body = ErrorBody {
        message: "Method not allowed on this path.".into(),
        detail: None,
        validations: Vec::new(),
        code: Some(ErrorCode::NotFound),
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// A handler panicked: a generic 500, and the panic goes to the log (not the client).
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let cause = if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "panic with a non-string payload".to_owned()
    };
    ApiError::Internal(format!("handler panicked: {cause}")).into_response()
}
