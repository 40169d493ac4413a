//! Azure's instance metadata service.
//!
//! Every `/metadata/...` request needs the header `Metadata: true` and an `api-version` query
//! parameter, and must not carry `X-Forwarded-For`; otherwise it gets a 400 with Azure's JSON
//! error body (`{"error": "Bad request. ..."}`).
//!
//! * `GET /metadata/attested/document?api-version=...[&nonce=...]`:
//!   `{"encoding":"pkcs7","signature":"<base64 DER PKCS#7>"}`, signed now by the test CA's
//!   leaf ([`crate::azure::AzureSigner`]), with the caller's nonce (or Azure's default, the
//!   expiry time as `YYYYMMDD-HHMMSS`) and a 6-hour `timeStamp` in the signed content.
//! * `GET /metadata/instance/compute/{vmId,subscriptionId}?api-version=...&format=text`: the
//!   value as text (as a JSON string without `format=text`).
//!
//! The leaf is re-issued at start-up with an AIA caIssuers URL pointing at this emulator's
//! `/idgate/azure/intermediate.cer`, which serves the intermediate (DER) without any header.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use serde_json::json;

use super::{Clock, Identity};
use crate::Error;
use crate::azure::AzureSigner;

/// The attested document's path.
pub const ATTESTED_PATH: &str = "/metadata/attested/document";
/// Where the emulator serves the test intermediate (DER), named in the leaf's AIA.
pub const INTERMEDIATE_PATH: &str = "/idgate/azure/intermediate.cer";

struct AzureState {
    signer: AzureSigner,
    vm_id: String,
    subscription_id: String,
    clock: Clock,
}

/// The metadata routes and the helper route serving the intermediate.
pub(super) fn routes(
    signer: &AzureSigner,
    identity: &Identity,
    clock: Clock,
    base_url: &str,
) -> Result<(Router, Router), Error> {
    let signer = signer.with_ca_issuers_url(&format!("{base_url}{INTERMEDIATE_PATH}"))?;
    let intermediate = signer.intermediate().certificate_der()?;
    let state = Arc::new(AzureState {
        signer,
        vm_id: identity.instance_id.clone(),
        subscription_id: identity.subscription_id.clone(),
        clock,
    });
    let metadata = Router::new()
        .route(ATTESTED_PATH, get(attested))
        .route("/metadata/instance/compute/vmId", get(vm_id))
        .route(
            "/metadata/instance/compute/subscriptionId",
            get(subscription_id),
        )
        .fallback(not_found)
        .with_state(state);
    let helpers = Router::new().route(
        INTERMEDIATE_PATH,
        get(move || {
            let intermediate = intermediate.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "application/pkix-cert")],
                    intermediate,
                )
            }
        }),
    );
    Ok((metadata, helpers))
}

type Params = Query<HashMap<String, String>>;

async fn attested(
    State(state): State<Arc<AzureState>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    if let Some(refused) = refusal(&headers, &params) {
        return refused;
    }
    let nonce = params.get("nonce").map(String::as_str);
    let signed = state.signer.try_attested_document(
        &state.vm_id,
        &state.subscription_id,
        nonce,
        state.clock.now(),
    );
    match signed {
        Ok(signature) => json_response(
            StatusCode::OK,
            json!({"encoding": "pkcs7", "signature": signature}),
        ),
        Err(error) => {
            tracing::error!(%error, "cannot sign the attested document");
            azure_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }
    }
}

async fn vm_id(
    State(state): State<Arc<AzureState>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    leaf_value(&headers, &params, &state.vm_id)
}

async fn subscription_id(
    State(state): State<Arc<AzureState>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    leaf_value(&headers, &params, &state.subscription_id)
}

async fn not_found(request: Request) -> Response {
    let params = Query::<HashMap<String, String>>::try_from_uri(request.uri())
        .map(|Query(params)| params)
        .unwrap_or_default();
    if let Some(refused) = refusal(request.headers(), &params) {
        return refused;
    }
    azure_error(StatusCode::NOT_FOUND, "Not found")
}

/// A leaf of the instance metadata: text with `format=text`, else a JSON string.
fn leaf_value(headers: &HeaderMap, params: &HashMap<String, String>, value: &str) -> Response {
    if let Some(refused) = refusal(headers, params) {
        return refused;
    }
    match params.get("format").map(String::as_str) {
        Some("text") => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            value.to_owned(),
        )
            .into_response(),
        None | Some("json") => json_response(StatusCode::OK, json!(value)),
        Some(_) => azure_error(
            StatusCode::BAD_REQUEST,
            "Bad request. Invalid format parameter, supported values: json, text",
        ),
    }
}

/// The answer to a request that fails the checks Azure makes on every metadata request, or
/// `None` when it passes them.
fn refusal(headers: &HeaderMap, params: &HashMap<String, String>) -> Option<Response> {
    if headers.contains_key("x-forwarded-for") {
        return Some(azure_error(
            StatusCode::BAD_REQUEST,
            "Bad request. Request cannot contain header X-Forwarded-For",
        ));
    }
    let metadata = headers
        .get("metadata")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    if !metadata {
        return Some(azure_error(
            StatusCode::BAD_REQUEST,
            "Bad request. Required metadata header not specified",
        ));
    }
    match params.get("api-version") {
        Some(version) if !version.trim().is_empty() => None,
        _ => Some(json_response(
            StatusCode::BAD_REQUEST,
            json!({
                "error": "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds",
                "newest-versions": ["2023-07-01", "2021-12-13", "2021-11-15"],
            }),
        )),
    }
}

fn azure_error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "error": message }))
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}
