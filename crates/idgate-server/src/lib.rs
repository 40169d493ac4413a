//! The idgate HTTP server: the router, thin handlers, the error → HTTP mapping and the loading
//! of trust roots.
//!
//! [`router`] builds the whole API on an [`AppState`] and can be driven without a socket;
//! [`serve`] runs it on a listener until a shutdown future completes.

pub mod aia;
pub mod error;
pub mod extract;
pub mod gcp_keys;
mod handlers;
pub mod metrics;
pub mod resolve;
pub mod tokens;
pub mod trust;
mod util;

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use idgate_api::{MAX_BODY_BYTES, paths};
use idgate_store::{Store, TokenHash};
use idgate_verify::UnixTime;
use idgate_verify::aws::AwsTrust;
use idgate_verify::azure::AzureTrust;
use time::OffsetDateTime;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use aia::AiaFetcher;
pub use error::{ApiError, Cloud};
pub use gcp_keys::GcpKeySource;
pub use metrics::Metrics;
pub use tokens::Secret;

/// How long a request may take before the server answers 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The default lifetime of a session token.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The server's clock. Tests use a manual one to expire tokens without waiting.
#[derive(Clone)]
pub enum Clock {
    /// The system clock.
    System,
    /// A clock that only moves when told to.
    Manual(Arc<Mutex<OffsetDateTime>>),
}

impl Clock {
    /// A manual clock starting at `start`.
    pub fn manual(start: OffsetDateTime) -> Clock {
        Clock::Manual(Arc::new(Mutex::new(start)))
    }

    /// The current time, truncated to microseconds (the store's precision).
    pub fn now(&self) -> OffsetDateTime {
        let now = match self {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Manual(t) => *t.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
        let micros = now.microsecond();
        now.replace_microsecond(micros).unwrap_or(now)
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(t) = self {
            let mut guard = t.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            *guard += by;
        }
    }
}

/// Everything the verifiers trust, as configured at start-up.
pub struct Trust {
    /// Pinned AWS keys.
    pub aws: AwsTrust,
    /// Pinned Azure roots and known intermediates.
    pub azure: AzureTrust,
    /// How missing Azure intermediates are fetched (or not).
    pub aia: AiaFetcher,
    /// Google's signing keys.
    pub gcp_keys: Arc<GcpKeySource>,
    /// Accepted `aud` values of GCP identity tokens.
    pub gcp_audiences: Vec<String>,
}

/// Azure verification state: the trust store grows when a missing intermediate is fetched.
pub struct AzureState {
    /// Roots and intermediates. Locked only for the synchronous verification itself.
    pub trust: RwLock<AzureTrust>,
    /// The AIA fetcher.
    pub aia: AiaFetcher,
}

/// GCP verification state.
pub struct GcpState {
    /// The key set.
    pub keys: Arc<GcpKeySource>,
    /// Accepted audiences.
    pub audiences: Vec<String>,
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// SHA-256 of the admin token.
    pub admin_token_hash: TokenHash,
    /// Pinned AWS keys.
    pub aws_trust: Arc<AwsTrust>,
    /// Azure trust and intermediate fetching.
    pub azure: Arc<AzureState>,
    /// GCP keys and audiences.
    pub gcp: Arc<GcpState>,
    /// Lifetime of issued session tokens.
    pub session_ttl: Duration,
    /// Metrics registry.
    pub metrics: Metrics,
    /// The clock.
    pub clock: Clock,
}

impl AppState {
    /// A state with the system clock and fresh metrics.
    pub fn new(store: Store, admin_token: &Secret, trust: Trust, session_ttl: Duration) -> Self {
        AppState {
            store,
            admin_token_hash: admin_token.hash(),
            aws_trust: Arc::new(trust.aws),
            azure: Arc::new(AzureState {
                trust: RwLock::new(trust.azure),
                aia: trust.aia,
            }),
            gcp: Arc::new(GcpState {
                keys: trust.gcp_keys,
                audiences: trust.gcp_audiences,
            }),
            session_ttl,
            metrics: Metrics::new(),
            clock: Clock::System,
        }
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// The current time for the verifiers.
    pub fn unix_now(&self) -> UnixTime {
        UnixTime(self.now().unix_timestamp())
    }
}

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    use handlers::{admin, agent, auth, ops};
    Router::new()
        .route(paths::AWS_INSTANCE_IDENTITY, post(auth::aws))
        .route(paths::AZURE_INSTANCE_IDENTITY, post(auth::azure))
        .route(paths::GOOGLE_INSTANCE_IDENTITY, post(auth::google))
        .route(paths::ME_MANIFEST, get(agent::manifest))
        .route(paths::ME_HEARTBEAT, post(agent::heartbeat))
        .route(paths::ME_LIFECYCLE, post(agent::lifecycle))
        .route("/api/v2/workspaceagents/{agent_id}", get(admin::get_agent))
        .route(paths::TEMPLATES, post(admin::create_template))
        .route(
            "/api/v2/templates/{template_id}/versions",
            post(admin::create_template_version),
        )
        .route(
            paths::WORKSPACES,
            post(admin::create_workspace).get(admin::list_workspaces),
        )
        .route(
            "/api/v2/workspaces/{workspace_id}",
            get(admin::get_workspace),
        )
        .route(
            "/api/v2/workspaces/{workspace_id}/builds",
            post(admin::create_build),
        )
        .route(paths::HEALTHZ, get(ops::healthz))
        .route(paths::READYZ, get(ops::readyz))
        .route(paths::METRICS, get(ops::metrics))
        .fallback(ops::no_route)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(ops::panic_response))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let housekeeping = spawn_housekeeping(state.clone());
    let gcp_refresher = state.gcp.keys.clone().spawn_refresher();
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    housekeeping.abort();
    gcp_refresher.abort();
    result
}

/// How often expired sessions are deleted.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Deletes expired session rows now and then, so the table does not grow without bound.
fn spawn_housekeeping(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match state.store.delete_expired_sessions(state.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "expired sessions deleted"),
                Err(error) => tracing::warn!(%error, "could not delete expired sessions"),
            }
        }
    })
}
