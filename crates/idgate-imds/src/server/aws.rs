//! AWS EC2's instance metadata service, IMDSv2 only (`HttpTokens=required`).
//!
//! * `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds: 1..=21600` returns a
//!   random session token (400 for a missing or out-of-range TTL; 403 when the request carries
//!   `X-Forwarded-For`, as AWS refuses tokens to requests that went through a proxy).
//! * Every `GET` needs `X-aws-ec2-metadata-token` with a token that was issued and has not
//!   expired, else 401, whatever the path.
//! * `GET /latest/dynamic/instance-identity/{document,signature,rsa2048,pkcs7}`: the document
//!   and its signatures, made once at start-up ([`crate::aws::AwsSigner`]); `pkcs7` is the
//!   same RSA PKCS#7 as `rsa2048` (AWS signs `pkcs7` with DSA; idgate accepts either).
//! * `GET /latest/meta-data/instance-id`, `.../placement/region`,
//!   `.../placement/availability-zone`, and the directory listings above them.
//!
//! Errors have AWS's small HTML bodies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::put;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use super::{Clock, Identity};
use crate::Error;
use crate::aws::{AwsInstance, AwsSigner};

/// The token path.
pub const TOKEN_PATH: &str = "/latest/api/token";
/// The request header with the token's lifetime in seconds.
pub const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The request header that carries the token.
pub const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// The longest token lifetime AWS grants, in seconds (6 hours).
pub const MAX_TTL_SECONDS: u32 = 21_600;
/// How many unexpired tokens are kept; beyond, the ones closest to expiry are forgotten.
const MAX_TOKENS: usize = 100_000;

struct AwsState {
    /// Path (without a trailing slash) → body.
    answers: HashMap<&'static str, String>,
    /// Token → when it expires.
    tokens: Mutex<HashMap<String, OffsetDateTime>>,
    clock: Clock,
}

/// The IMDSv2 routes for `identity`, signed by `signer`.
pub(super) fn routes(
    signer: &AwsSigner,
    identity: &Identity,
    clock: Clock,
) -> Result<Router, Error> {
    let instance = AwsInstance {
        instance_id: identity.instance_id.clone(),
        region: identity.region.clone(),
        account_id: identity.account_id.clone(),
    };
    let document = signer.document(&instance);
    let signature = signer.sign(document.as_bytes());
    let pkcs7 = signer.pkcs7(document.as_bytes(), clock.now())?;
    let zone = format!("{}a", identity.region);
    let answers = HashMap::from([
        ("/latest", "api/\ndynamic/\nmeta-data/".to_owned()),
        ("/latest/dynamic", "instance-identity/".to_owned()),
        (
            "/latest/dynamic/instance-identity",
            "document\npkcs7\nrsa2048\nsignature".to_owned(),
        ),
        ("/latest/dynamic/instance-identity/document", document),
        ("/latest/dynamic/instance-identity/signature", signature),
        ("/latest/dynamic/instance-identity/pkcs7", pkcs7.clone()),
        ("/latest/dynamic/instance-identity/rsa2048", pkcs7),
        ("/latest/meta-data", "instance-id\nplacement/".to_owned()),
        (
            "/latest/meta-data/instance-id",
            identity.instance_id.clone(),
        ),
        (
            "/latest/meta-data/placement",
            "availability-zone\nregion".to_owned(),
        ),
        ("/latest/meta-data/placement/availability-zone", zone),
        (
            "/latest/meta-data/placement/region",
            identity.region.clone(),
        ),
    ]);
    let state = Arc::new(AwsState {
        answers,
        tokens: Mutex::new(HashMap::new()),
        clock,
    });
    Ok(Router::new()
        .route(TOKEN_PATH, put(issue_token))
        .fallback(answer)
        .with_state(state))
}

async fn issue_token(State(state): State<Arc<AwsState>>, headers: HeaderMap) -> Response {
    if headers.contains_key("x-forwarded-for") {
        return aws_error(StatusCode::FORBIDDEN);
    }
    let ttl = headers
        .get(TTL_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u32>().ok());
    let ttl = match ttl {
        Some(ttl) if (1..=MAX_TTL_SECONDS).contains(&ttl) => ttl,
        _ => return aws_error(StatusCode::BAD_REQUEST),
    };
    let mut bytes = [0u8; 40];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let token = STANDARD.encode(bytes);
    let now = state.clock.now();
    let expires = now + time::Duration::seconds(i64::from(ttl));
    {
        let mut tokens = state
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if tokens.len() >= MAX_TOKENS {
            tokens.retain(|_, expiry| *expiry > now);
        }
        while tokens.len() >= MAX_TOKENS {
            let oldest = tokens
                .iter()
                .min_by_key(|(_, expiry)| **expiry)
                .map(|(token, _)| token.clone());
            match oldest {
                Some(oldest) => tokens.remove(&oldest),
                None => break,
            };
        }
        tokens.insert(token.clone(), expires);
    }
    let mut response = text(token);
    response
        .headers_mut()
        .insert(TTL_HEADER, HeaderValue::from(ttl));
    response
}

async fn answer(State(state): State<Arc<AwsState>>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return aws_error(StatusCode::METHOD_NOT_ALLOWED);
    }
    let token = request
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|value| value.to_str().ok());
    let valid = match token {
        Some(token) => {
            let tokens = state
                .tokens
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            tokens
                .get(token)
                .is_some_and(|expiry| *expiry > state.clock.now())
        }
        None => false,
    };
    if !valid {
        return aws_error(StatusCode::UNAUTHORIZED);
    }
    let path = request.uri().path();
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    match state.answers.get(path) {
        Some(body) => text(body.clone()),
        None => aws_error(StatusCode::NOT_FOUND),
    }
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// An error with the HTML body EC2's metadata service sends.
fn aws_error(status: StatusCode) -> Response {
    let title = format!(
        "{} - {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n\
         <!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\
         \t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n \
         <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n </body>\n\
         </html>\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}
