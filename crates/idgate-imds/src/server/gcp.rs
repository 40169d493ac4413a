//! Google Compute Engine's metadata server.
//!
//! * Every response carries `Metadata-Flavor: Google` (clients such as google-auth's
//!   `_metadata.ping` check it to tell the metadata server from anything else on the address).
//! * `GET /` answers `computeMetadata/` to anyone (the probe); every path under
//!   `/computeMetadata/` needs the request header `Metadata-Flavor: Google`, else 403, and
//!   refuses requests that carry `X-Forwarded-For` (403).
//! * `GET /computeMetadata/v1/instance/service-accounts/default/identity?audience=AUD
//!   [&format=full]`: the identity token ([`crate::gcp::GcpSigner::identity_token`]), issued
//!   now, for `AUD` (400 without one), with the `google.compute_engine` claims when
//!   `format=full`.
//! * `instance/{id,name,zone,hostname}`, `project/{project-id,numeric-project-id}`,
//!   `instance/service-accounts/default/{email,aliases,scopes}` and
//!   `instance/service-accounts/default/?recursive=true` (JSON), with directory listings; the
//!   service account can also be named by its email instead of `default`.
//!
//! Helpers that stand in for Google's key endpoints (no header needed): the JWKS at
//! [`JWKS_PATH`] (as `oauth2/v3/certs`) and the `{kid: certificate PEM}` map at [`CERTS_PATH`]
//! (as `oauth2/v1/certs`, which google-auth's `id_token.verify_token` reads by default).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use serde_json::json;

use super::{Clock, Identity};
use crate::Error;
use crate::gcp::{GcpInstance, GcpSigner};

/// The identity token's path.
pub const IDENTITY_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/identity";
/// Where the emulator serves its JWKS (like `https://www.googleapis.com/oauth2/v3/certs`).
pub const JWKS_PATH: &str = "/idgate/gcp/jwks.json";
/// Where the emulator serves its `{kid: certificate PEM}` map (like
/// `https://www.googleapis.com/oauth2/v1/certs`).
pub const CERTS_PATH: &str = "/idgate/gcp/certs";
/// The response header (and request header) of the GCE metadata server.
pub const FLAVOR_HEADER: &str = "metadata-flavor";

const SERVICE_ACCOUNTS: &str = "/computeMetadata/v1/instance/service-accounts";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

struct GcpState {
    signer: GcpSigner,
    instance: GcpInstance,
    email: String,
    /// Path (without a trailing slash) → text.
    answers: HashMap<String, String>,
    clock: Clock,
}

/// The metadata routes and the helper routes serving the keys.
pub(super) fn routes(
    signer: GcpSigner,
    identity: &Identity,
    clock: Clock,
) -> Result<(Router, Router), Error> {
    let instance = GcpInstance {
        instance_id: identity.instance_id.clone(),
        instance_name: identity.instance_name.clone(),
        project_id: identity.project_id.clone(),
        project_number: identity.project_number.clone(),
        zone: identity.zone.clone(),
    };
    let email = format!(
        "{}-compute@developer.gserviceaccount.com",
        identity.project_number
    );
    let hostname = format!(
        "{}.{}.c.{}.internal",
        identity.instance_name, identity.zone, identity.project_id
    );
    let answers: HashMap<String, String> = [
        ("/", "computeMetadata/".to_owned()),
        ("/computeMetadata", "v1/".to_owned()),
        ("/computeMetadata/v1", "instance/\nproject/".to_owned()),
        (
            "/computeMetadata/v1/instance",
            "hostname\nid\nname\nservice-accounts/\nzone".to_owned(),
        ),
        (
            "/computeMetadata/v1/instance/id",
            identity.instance_id.clone(),
        ),
        (
            "/computeMetadata/v1/instance/name",
            identity.instance_name.clone(),
        ),
        (
            "/computeMetadata/v1/instance/zone",
            format!(
                "projects/{}/zones/{}",
                identity.project_number, identity.zone
            ),
        ),
        ("/computeMetadata/v1/instance/hostname", hostname),
        (
            "/computeMetadata/v1/project",
            "numeric-project-id\nproject-id".to_owned(),
        ),
        (
            "/computeMetadata/v1/project/project-id",
            identity.project_id.clone(),
        ),
        (
            "/computeMetadata/v1/project/numeric-project-id",
            identity.project_number.clone(),
        ),
        (SERVICE_ACCOUNTS, format!("default/\n{email}/")),
        (
            "/computeMetadata/v1/instance/service-accounts/default",
            "aliases\nemail\nidentity\nscopes".to_owned(),
        ),
        (
            "/computeMetadata/v1/instance/service-accounts/default/aliases",
            "default".to_owned(),
        ),
        (
            "/computeMetadata/v1/instance/service-accounts/default/email",
            email.clone(),
        ),
        (
            "/computeMetadata/v1/instance/service-accounts/default/scopes",
            SCOPE.to_owned(),
        ),
    ]
    .into_iter()
    .map(|(path, body)| (path.to_owned(), body))
    .collect();

    let jwks = signer.jwks_json();
    let certs = json!({ signer.kid(): signer.certificate_pem()? }).to_string();
    let state = Arc::new(GcpState {
        signer,
        instance,
        email,
        answers,
        clock,
    });
    let metadata = Router::new().fallback(answer).with_state(state);
    let helpers = Router::new()
        .route(JWKS_PATH, get(move || keys(jwks.clone())))
        .route(CERTS_PATH, get(move || keys(certs.clone())));
    Ok((metadata, helpers))
}

async fn keys(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json; charset=UTF-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// `app` with `Metadata-Flavor: Google` (and GCE's `Server`) on every response.
pub(super) fn with_flavor_header(app: Router) -> Router {
    app.layer(middleware::map_response(
        |mut response: Response| async move {
            let headers = response.headers_mut();
            headers.insert(FLAVOR_HEADER, HeaderValue::from_static("Google"));
            headers.insert(
                header::SERVER,
                HeaderValue::from_static("Metadata Server for VM"),
            );
            response
        },
    ))
}

async fn answer(State(state): State<Arc<GcpState>>, request: Request) -> Response {
    let path = request.uri().path();
    let trimmed = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    // The service account may be named by its email as well as by `default`.
    let by_email = format!("{SERVICE_ACCOUNTS}/{}", state.email);
    let path = match trimmed.strip_prefix(&by_email) {
        Some(rest) => format!("{SERVICE_ACCOUNTS}/default{rest}"),
        None => trimmed.to_owned(),
    };
    if path != "/"
        && let Some(refused) = refusal(request.headers(), &path)
    {
        return refused;
    }
    let params = Query::<HashMap<String, String>>::try_from_uri(request.uri())
        .map(|Query(params)| params)
        .unwrap_or_default();
    if path == IDENTITY_PATH {
        return identity(&state, &params);
    }
    let recursive = params
        .get("recursive")
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    if recursive && path == format!("{SERVICE_ACCOUNTS}/default") {
        let body = json!({
            "aliases": ["default"],
            "email": state.email,
            "scopes": [SCOPE],
        });
        return (
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
    }
    match state.answers.get(&path) {
        Some(body) => text(StatusCode::OK, body.clone()),
        None => text(StatusCode::NOT_FOUND, "Not Found\n".to_owned()),
    }
}

fn identity(state: &GcpState, params: &HashMap<String, String>) -> Response {
    let audience = match params.get("audience") {
        Some(audience) if !audience.is_empty() => audience,
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "non-empty audience parameter required\n".to_owned(),
            );
        }
    };
    let full = match params.get("format").map(String::as_str) {
        None | Some("standard") => false,
        Some("full") => true,
        Some(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "format must be standard or full\n".to_owned(),
            );
        }
    };
    let token = state
        .signer
        .identity_token(&state.instance, audience, state.clock.now(), full);
    text(StatusCode::OK, token)
}

/// The answer to a request that fails the checks the metadata server makes on every
/// `/computeMetadata` request, or `None` when it passes them.
fn refusal(headers: &HeaderMap, path: &str) -> Option<Response> {
    if headers.contains_key("x-forwarded-for") {
        return Some(text(
            StatusCode::FORBIDDEN,
            format!(
                "Your client does not have permission to get URL {path} from this server. \
                 Requests with X-Forwarded-For are refused.\n"
            ),
        ));
    }
    let flavored = headers
        .get(FLAVOR_HEADER)
        .is_some_and(|value| value.as_bytes() == b"Google");
    if flavored {
        None
    } else {
        Some(text(
            StatusCode::FORBIDDEN,
            format!(
                "Your client does not have permission to get URL {path} from this server. \
                 Missing Metadata-Flavor:Google header.\n"
            ),
        ))
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/text")], body).into_response()
}
