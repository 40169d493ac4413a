//! Faults the emulator injects into its metadata answers, to test how clients cope with a slow,
//! failing or unreachable metadata service.
//!
//! In order, for every metadata request (not for the `/idgate/` helper paths):
//!
//! 1. `latency` is waited before anything else;
//! 2. with `drop_token_puts`, an AWS token request (`PUT /latest/api/token`) is never
//!    answered: the connection stays open and silent, as when the IMDSv2 response is dropped
//!    on its way back because the hop limit (1 by default) is smaller than the hops to a
//!    container. The client's own timeout ends the wait. The emulator releases such requests
//!    when it shuts down, and after [`MAX_HOLD`] at the latest (with a 503 nobody reads);
//! 3. a fraction `error_rate` of the remaining requests is answered `500 Internal Server
//!    Error` without being looked at.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use tokio::sync::watch;

use crate::Error;
use crate::server::aws::TOKEN_PATH;

/// The longest a dropped token request is held before the connection is answered and freed.
pub const MAX_HOLD: Duration = Duration::from_secs(600);

/// The faults to inject. The default injects none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added before every metadata answer.
    pub latency: Duration,
    /// The fraction of metadata requests answered with a 500, from 0.0 (none) to 1.0 (all).
    pub error_rate: f64,
    /// AWS: never answer `PUT /latest/api/token` (the IMDSv2 hop-limit failure).
    pub drop_token_puts: bool,
}

impl Faults {
    /// Checks that `error_rate` is a number from 0.0 to 1.0.
    pub fn validate(&self) -> Result<(), Error> {
        if (0.0..=1.0).contains(&self.error_rate) {
            Ok(())
        } else {
            Err(Error::InvalidConfig {
                field: "error_rate",
                reason: format!("{} is not a fraction from 0.0 to 1.0", self.error_rate),
            })
        }
    }
}

struct FaultState {
    faults: Faults,
    /// Becomes `true` when the emulator shuts down.
    stopping: watch::Receiver<bool>,
}

/// `router` with the faults applied to every route (and its fallback), and a debug log line
/// per request.
pub(crate) fn layer(router: Router, faults: Faults, stopping: watch::Receiver<bool>) -> Router {
    let state = Arc::new(FaultState { faults, stopping });
    router.layer(middleware::from_fn_with_state(state, inject))
}

async fn inject(State(state): State<Arc<FaultState>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let faults = &state.faults;
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if faults.drop_token_puts && method == Method::PUT && path == TOKEN_PATH {
        tracing::debug!(%method, %path, "holding the token request without answering");
        hold(state.stopping.clone()).await;
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if faults.error_rate > 0.0 && rand::random::<f64>() < faults.error_rate {
        tracing::debug!(%method, %path, "injected a 500");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected fault: internal server error (idgate imds --error-rate)\n",
        )
            .into_response();
    }
    let response = next.run(request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), "metadata request");
    response
}

/// Waits until the emulator stops, or [`MAX_HOLD`].
async fn hold(mut stopping: watch::Receiver<bool>) {
    let stopped = async {
        if stopping.wait_for(|stopping| *stopping).await.is_err() {
            // Nobody can stop this emulator (a router used without serve()).
            std::future::pending::<()>().await;
        }
    };
    let _ = tokio::time::timeout(MAX_HOLD, stopped).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_must_be_a_fraction() {
        for rate in [0.0, 0.5, 1.0] {
            let faults = Faults {
                error_rate: rate,
                ..Faults::default()
            };
            assert!(faults.validate().is_ok(), "{rate}");
        }
        for rate in [-0.1, 1.5, f64::NAN] {
            let faults = Faults {
                error_rate: rate,
                ..Faults::default()
            };
            assert!(
                matches!(faults.validate(), Err(Error::InvalidConfig { .. })),
                "{rate}"
            );
        }
    }
}
