//! Google's token-signing key set for GCP identity tokens: fetched, cached, refreshed and
//! persisted.
//!
//! [`GcpKeySource`] holds the last good [`GcpKeys`] from a [`JwksSource`]:
//!
//! * **URL** (Google's JWKS by default, [`GOOGLE_JWKS_URL`]): fetched on first use, kept for the
//!   response's `Cache-Control: max-age` (less its `Age`, clamped to
//!   [`GcpKeyOptions::min_lifetime`]..=[`GcpKeyOptions::max_lifetime`], [`DEFAULT_LIFETIME`]
//!   when absent), refreshed by [`GcpKeySource::spawn_refresher`] before it expires, and
//!   refreshed on demand when a token names a key the set lacks ([`GcpKeySource::for_kid`]), at
//!   most once per [`GcpKeyOptions::unknown_kid_interval`]. Each good set is persisted to
//!   `<data-dir>/`[`PERSISTED_FILE_NAME`] and loaded at start-up, so a restart works without
//!   network. A failed fetch keeps the last good set, is logged, and is retried with
//!   exponential backoff.
//! * **File**: read on first use and re-read when its modification time or size changes
//!   (checked at most every [`GcpKeyOptions::file_check_interval`], and on an unknown kid). No
//!   network at all.
//!
//! **Invariant:** at most one fetch (or file read) is in flight; callers that arrive meanwhile
//! wait for it and share its outcome. Ages are measured with tokio's clock, so tests move time
//! with `tokio::time::advance` instead of sleeping.
//!
//! **Invariant:** a set replaces the current one only after [`GcpKeys::from_jwks_json`]
//! accepted it; a bad answer never empties the cache.

use crate::util::{error_chain, write_atomically};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use idgate_verify::gcp::GcpKeys;
use tokio::time::Instant;

/// Google's JWKS for identity tokens.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// The file in the data directory that holds the last good key set.
pub const PERSISTED_FILE_NAME: &str = "gcp-jwks.json";

/// The lifetime of a fetched set whose response has no `max-age`.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Tunables. [`GcpKeyOptions::default`] is the production setting.
#[derive(Debug, Clone)]
pub struct GcpKeyOptions {
    /// Minimum time between two fetches caused by unknown key IDs (and since any fetch).
    pub unknown_kid_interval: Duration,
    /// Lifetime when the response has no usable `max-age`.
    pub default_lifetime: Duration,
    /// The shortest lifetime a `max-age` may give.
    pub min_lifetime: Duration,
    /// The longest lifetime a `max-age` may give.
    pub max_lifetime: Duration,
    /// First delay before retrying a failed fetch; doubles on each failure.
    pub initial_backoff: Duration,
    /// Longest delay between retries.
    pub max_backoff: Duration,
    /// How often a file source's modification time and size are looked at.
    pub file_check_interval: Duration,
    /// Deadline for connecting.
    pub connect_timeout: Duration,
    /// Deadline for one whole fetch.
    pub timeout: Duration,
    /// Cap on the response body.
    pub max_bytes: usize,
}

impl Default for GcpKeyOptions {
    fn default() -> Self {
        GcpKeyOptions {
            unknown_kid_interval: Duration::from_secs(60),
            default_lifetime: DEFAULT_LIFETIME,
            min_lifetime: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(24 * 60 * 60),
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(5 * 60),
            file_check_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_bytes: 1024 * 1024,
        }
    }
}

/// Where the key set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// An HTTP(S) URL serving a JWKS (or Google's v1 certificate map).
    Url(String),
    /// A local file holding one, re-read when it changes.
    File(PathBuf),
}

impl Default for JwksSource {
    fn default() -> Self {
        JwksSource::Url(GOOGLE_JWKS_URL.to_owned())
    }
}

/// Errors obtaining a key set. Clone, because one fetch's outcome is shared by every caller
/// that waited for it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GcpKeysError {
    /// The configured URL is not an http(s) URL.
    #[error("the GCP JWKS URL {url:?} is not an http or https URL")]
    InvalidUrl {
        /// The URL.
        url: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the GCP JWKS HTTP client: {reason}")]
    Client {
        /// Why.
        reason: String,
    },
    /// Connecting or speaking HTTP failed.
    #[error("fetching the GCP JWKS from {url} failed: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The fetch did not finish in time.
    #[error("fetching the GCP JWKS from {url} timed out after {after:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The deadline.
        after: Duration,
    },
    /// The server answered with a status other than 200.
    #[error("fetching the GCP JWKS from {url} failed: the server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body is larger than the cap.
    #[error("the GCP JWKS from {url} is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// The file cannot be read.
    #[error("cannot read the GCP JWKS file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Arc<std::io::Error>,
    },
    /// The document is not a usable key set.
    #[error("the GCP JWKS from {origin} is not usable: {source}")]
    InvalidKeySet {
        /// The URL or file.
        origin: String,
        /// Why.
        source: Arc<idgate_verify::Error>,
    },
}

/// A file's identity for change detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// What the cache knows. Guarded by a plain mutex, never held across an `.await`.
#[derive(Default)]
struct State {
    /// The last good set.
    keys: Option<Arc<GcpKeys>>,
    /// When the set stops being fresh (URL sources).
    expires_at: Option<Instant>,
    /// When the refresher should refresh, before expiry (URL sources).
    refresh_at: Option<Instant>,
    /// When the last fetch or file read started.
    last_attempt: Option<Instant>,
    /// Fetches or reads finished so far; lets a caller that waited see that one happened.
    attempts: u64,
    /// The last failure, cleared by a success.
    last_error: Option<GcpKeysError>,
    /// Consecutive failures.
    failures: u32,
    /// No new fetch before this after a failure.
    retry_at: Option<Instant>,
    /// The file source's stamp when it was last read (successfully or not).
    file_stamp: Option<FileStamp>,
    /// When the file source was last looked at.
    file_checked_at: Option<Instant>,
}

impl State {
    /// The last good set, or why there is none.
    fn outcome(&self) -> Result<Arc<GcpKeys>, GcpKeysError> {
        match (&self.keys, &self.last_error) {
            (Some(keys), _) => Ok(Arc::clone(keys)),
            (None, Some(error)) => Err(error.clone()),
            // Unreachable after an attempt; reported as a fetch failure for completeness.
            (None, None) => Err(GcpKeysError::Fetch {
                url: String::new(),
                reason: "no key set has been loaded yet".to_owned(),
            }),
        }
    }

    fn in_backoff(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|at| now < at)
    }
}

/// The GCP key set, cached. Share it as `Arc<GcpKeySource>`.
pub struct GcpKeySource {
    source: JwksSource,
    options: GcpKeyOptions,
    /// `<data-dir>/gcp-jwks.json` for URL sources with a data directory.
    persist_path: Option<PathBuf>,
    client: Option<reqwest::Client>,
    state: Mutex<State>,
    /// Held by the one fetch or read in flight.
    in_flight: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GcpKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpKeySource")
            .field("source", &self.source)
            .field("persist_path", &self.persist_path)
            .finish_non_exhaustive()
    }
}

/// Why a fetch is being considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// No set, or the set expired.
    Stale,
    /// A token named a key the set lacks.
    UnknownKid,
    /// The refresher's timer.
    Refresher,
}

impl GcpKeySource {
    /// A key source with the default options. For a URL source with `data_dir`, the last good
    /// set is persisted there and loaded now (a damaged file is logged and ignored).
    pub fn new(source: JwksSource, data_dir: Option<&Path>) -> Result<GcpKeySource, GcpKeysError> {
        GcpKeySource::with_options(source, data_dir, GcpKeyOptions::default())
    }

    /// A key source with `options`.
    pub fn with_options(
        source: JwksSource,
        data_dir: Option<&Path>,
        options: GcpKeyOptions,
    ) -> Result<GcpKeySource, GcpKeysError> {
        let mut state = State::default();
        let (client, persist_path) = match &source {
            JwksSource::File(_) => (None, None),
            JwksSource::Url(url) => {
                let scheme_ok = reqwest::Url::parse(url)
                    .is_ok_and(|parsed| matches!(parsed.scheme(), "http" | "https"));
                if !scheme_ok {
                    return Err(GcpKeysError::InvalidUrl { url: url.clone() });
                }
                let client = reqwest::Client::builder()
                    .connect_timeout(options.connect_timeout)
                    .timeout(options.timeout)
                    .user_agent(concat!("idgate/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| GcpKeysError::Client {
                        reason: e.to_string(),
                    })?;
                let persist_path = data_dir.map(|dir| dir.join(PERSISTED_FILE_NAME));
                if let Some(path) = &persist_path {
                    state.keys = load_persisted(path).map(Arc::new);
                    // A persisted set is served, but refreshed at the first opportunity.
                    let now = Instant::now();
                    state.expires_at = Some(now);
                    state.refresh_at = Some(now);
                }
                (Some(client), persist_path)
            }
        };
        Ok(GcpKeySource {
            source,
            options,
            persist_path,
            client,
            state: Mutex::new(state),
            in_flight: tokio::sync::Mutex::new(()),
        })
    }

    /// Where the keys come from.
    pub fn source(&self) -> &JwksSource {
        &self.source
    }

    /// The current set: the cached one while fresh; otherwise (or when there is none) one
    /// fetch or read, falling back to the last good set if that fails. Fails only when there
    /// has never been a good set.
    pub async fn current(&self) -> Result<Arc<GcpKeys>, GcpKeysError> {
        match &self.source {
            JwksSource::File(path) => self.check_file(path, false).await,
            JwksSource::Url(url) => {
                let now = Instant::now();
                {
                    let state = self.lock();
                    let fresh = state.expires_at.is_some_and(|at| now < at);
                    if let Some(keys) = &state.keys {
                        if fresh || state.in_backoff(now) {
                            return Ok(Arc::clone(keys));
                        }
                    } else if state.in_backoff(now) {
                        return state.outcome();
                    }
                }
                self.refresh(url, Trigger::Stale).await
            }
        }
    }

    /// The current set, refreshed first if it lacks `kid` — unless a fetch started less than
    /// [`GcpKeyOptions::unknown_kid_interval`] ago (whatever its cause), so that tokens with
    /// made-up key IDs cannot make the server hammer Google. The set returned may still lack
    /// `kid`; the verifier then reports the key as unknown.
    pub async fn for_kid(&self, kid: &str) -> Result<Arc<GcpKeys>, GcpKeysError> {
        let keys = self.current().await?;
        if keys.contains(kid) {
            return Ok(keys);
        }
        match &self.source {
            JwksSource::File(path) => self.check_file(path, true).await,
            JwksSource::Url(url) => {
                let now = Instant::now();
                let allowed = {
                    let state = self.lock();
                    !state.in_backoff(now) && self.unknown_kid_interval_passed(&state, now)
                };
                if !allowed {
                    return Ok(keys);
                }
                self.refresh(url, Trigger::UnknownKid).await
            }
        }
    }

    /// Starts a task that refreshes a URL source before its set expires (and retries failures
    /// with backoff), or looks at a file source every
    /// [`GcpKeyOptions::file_check_interval`]. Abort the handle to stop it.
    pub fn spawn_refresher(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match &self.source {
                    JwksSource::File(path) => {
                        // Errors are logged inside; the last good set stays.
                        let _ = self.check_file(path, true).await;
                        tokio::time::sleep(self.options.file_check_interval).await;
                    }
                    JwksSource::Url(url) => {
                        let due = self.refresher_due();
                        tokio::time::sleep_until(due).await;
                        if self.refresher_due() <= Instant::now() {
                            let _ = self.refresh(url, Trigger::Refresher).await;
                        }
                    }
                }
            }
        })
    }

    /// When the refresher should next fetch.
    fn refresher_due(&self) -> Instant {
        let now = Instant::now();
        let state = self.lock();
        let planned = match (&state.keys, state.refresh_at) {
            (Some(_), Some(at)) => at,
            (Some(_), None) => now,
            // No key set has ever been fetched or loaded: GCP is not in use (yet). The first
            // GCP request fetches on demand; until then the refresher makes no network request,
            // so a server that never sees a GCP agent never contacts Google.
            (None, _) => now + self.options.unknown_kid_interval,
        };
        match state.retry_at {
            Some(retry) if retry > planned => retry,
            _ => planned,
        }
    }

    fn unknown_kid_interval_passed(&self, state: &State, now: Instant) -> bool {
        match state.last_attempt {
            None => true,
            Some(at) => now.duration_since(at) >= self.options.unknown_kid_interval,
        }
    }

    /// One fetch, or the outcome of the fetch that was in flight when this was called.
    async fn refresh(&self, url: &str, trigger: Trigger) -> Result<Arc<GcpKeys>, GcpKeysError> {
        let seen = self.lock().attempts;
        let _guard = self.in_flight.lock().await;
        {
            let state = self.lock();
            if state.attempts != seen {
                // Another caller fetched while this one waited: share its outcome.
                return state.outcome();
            }
        }
        let started = Instant::now();
        self.lock().last_attempt = Some(started);
        tracing::debug!(url, ?trigger, "fetching the GCP JWKS");
        let result = self.fetch(url).await;
        let now = Instant::now();
        match result {
            Ok((body, keys, lifetime)) => {
                {
                    let mut state = self.lock();
                    state.keys = Some(Arc::new(keys));
                    state.expires_at = Some(now + lifetime);
                    state.refresh_at = Some(now + refresh_lead(lifetime));
                    state.attempts += 1;
                    state.failures = 0;
                    state.retry_at = None;
                    state.last_error = None;
                }
                if let Some(path) = &self.persist_path {
                    self.persist(path, body).await;
                }
            }
            Err(error) => {
                let mut state = self.lock();
                state.attempts += 1;
                state.failures = state.failures.saturating_add(1);
                let backoff = backoff(&self.options, state.failures);
                state.retry_at = Some(now + backoff);
                tracing::warn!(
                    %error,
                    retry_in = ?backoff,
                    keeping_last_good_set = state.keys.is_some(),
                    "cannot refresh the GCP JWKS"
                );
                state.last_error = Some(error);
            }
        }
        self.lock().outcome()
    }

    /// GET `url`: status 200, body within the cap, a usable key set; with its lifetime.
    async fn fetch(&self, url: &str) -> Result<(Vec<u8>, GcpKeys, Duration), GcpKeysError> {
        let Some(client) = &self.client else {
            return Err(GcpKeysError::InvalidUrl {
                url: url.to_owned(),
            });
        };
        let timeout = self.options.timeout;
        let max_bytes = self.options.max_bytes;
        let fetch_error = |e: reqwest::Error| {
            if e.is_timeout() {
                GcpKeysError::Timeout {
                    url: url.to_owned(),
                    after: timeout,
                }
            } else {
                GcpKeysError::Fetch {
                    url: url.to_owned(),
                    reason: error_chain(&e),
                }
            }
        };
        let work = async {
            let mut response = client.get(url).send().await.map_err(fetch_error)?;
            let status = response.status();
            if status != reqwest::StatusCode::OK {
                return Err(GcpKeysError::Status {
                    url: url.to_owned(),
                    status: status.as_u16(),
                });
            }
            let lifetime = lifetime(response.headers(), &self.options);
            let too_large = GcpKeysError::TooLarge {
                url: url.to_owned(),
                limit: max_bytes,
            };
            let announced = response.content_length().unwrap_or(0);
            if usize::try_from(announced).map_or(true, |n| n > max_bytes) {
                return Err(too_large);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
                if body.len() + chunk.len() > max_bytes {
                    return Err(too_large);
                }
                body.extend_from_slice(&chunk);
            }
            let keys =
                GcpKeys::from_jwks_json(&body).map_err(|source| GcpKeysError::InvalidKeySet {
                    origin: url.to_owned(),
                    source: Arc::new(source),
                })?;
            Ok((body, keys, lifetime))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(GcpKeysError::Timeout {
                url: url.to_owned(),
                after: timeout,
            }),
        }
    }

    /// Writes a good set to the data directory; a failure is logged, not returned (the set is
    /// still good in memory).
    async fn persist(&self, path: &Path, body: Vec<u8>) {
        let target = path.to_owned();
        let written = tokio::task::spawn_blocking(move || write_atomically(&target, &body)).await;
        let result = match written {
            Ok(result) => result,
            Err(join) => Err(std::io::Error::other(join.to_string())),
        };
        if let Err(error) = result {
            tracing::warn!(path = %path.display(), %error, "cannot persist the GCP JWKS");
        }
    }

    /// A file source: re-reads the file if its stamp changed since the last read. Looks at the
    /// stamp at most every [`GcpKeyOptions::file_check_interval`] unless `force`.
    async fn check_file(&self, path: &Path, force: bool) -> Result<Arc<GcpKeys>, GcpKeysError> {
        let now = Instant::now();
        {
            let state = self.lock();
            let recently = state
                .file_checked_at
                .is_some_and(|at| now.duration_since(at) < self.options.file_check_interval);
            if state.keys.is_some() && recently && !force {
                return state.outcome();
            }
        }
        let seen = self.lock().attempts;
        let _guard = self.in_flight.lock().await;
        {
            let state = self.lock();
            if state.attempts != seen {
                return state.outcome();
            }
        }
        let read_error = |source: std::io::Error| GcpKeysError::ReadFile {
            path: path.to_owned(),
            source: Arc::new(source),
        };
        let stamp = match tokio::fs::metadata(path).await {
            Ok(metadata) => Ok(FileStamp {
                modified: metadata.modified().ok(),
                len: metadata.len(),
            }),
            Err(e) => Err(read_error(e)),
        };
        let stamp = {
            let mut state = self.lock();
            state.file_checked_at = Some(now);
            state.attempts += 1;
            match stamp {
                Ok(stamp) if state.file_stamp == Some(stamp) => return state.outcome(),
                Ok(stamp) => stamp,
                Err(error) => {
                    tracing::warn!(%error, "cannot look at the GCP JWKS file; keeping the last good set");
                    state.last_error = Some(error);
                    return state.outcome();
                }
            }
        };
        let read = match tokio::fs::read(path).await {
            Ok(bytes) => {
                GcpKeys::from_jwks_json(&bytes).map_err(|source| GcpKeysError::InvalidKeySet {
                    origin: path.display().to_string(),
                    source: Arc::new(source),
                })
            }
            Err(e) => Err(read_error(e)),
        };
        let mut state = self.lock();
        state.file_stamp = Some(stamp);
        match read {
            Ok(keys) => {
                tracing::info!(path = %path.display(), keys = keys.len(), "GCP JWKS file loaded");
                state.keys = Some(Arc::new(keys));
                state.last_error = None;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot use the GCP JWKS file; keeping the last good set");
                state.last_error = Some(error);
            }
        }
        state.outcome()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How long before expiry the refresher refreshes: a tenth of the lifetime, at most 5 minutes.
fn refresh_lead(lifetime: Duration) -> Duration {
    let lead = (lifetime / 10).min(Duration::from_secs(5 * 60));
    lifetime.saturating_sub(lead)
}

/// The delay after the `failures`-th consecutive failure.
fn backoff(options: &GcpKeyOptions, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    options
        .initial_backoff
        .saturating_mul(1u32 << exponent)
        .min(options.max_backoff)
}

/// `Cache-Control: max-age` less `Age`, clamped; the default when absent or unparsable.
fn lifetime(headers: &reqwest::header::HeaderMap, options: &GcpKeyOptions) -> Duration {
    let max_age = headers
        .get_all(reqwest::header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            value.trim().trim_matches('"').parse::<u64>().ok()
        });
    let Some(max_age) = max_age else {
        return options.default_lifetime;
    };
    let age = headers
        .get(reqwest::header::AGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_secs(max_age.saturating_sub(age))
        .clamp(options.min_lifetime, options.max_lifetime)
}

/// The set persisted at `path`, if there is a usable one.
fn load_persisted(path: &Path) -> Option<GcpKeys> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the persisted GCP JWKS");
            return None;
        }
    };
    match GcpKeys::from_jwks_json(&bytes) {
        Ok(keys) => {
            tracing::info!(path = %path.display(), keys = keys.len(), "persisted GCP JWKS loaded");
            Some(keys)
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "ignoring an unusable persisted GCP JWKS");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{AGE, CACHE_CONTROL, HeaderMap, HeaderValue};

    fn headers(pairs: &[(reqwest::header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn lifetime_comes_from_max_age_less_age_clamped() {
        let options = GcpKeyOptions::default();
        let cases: &[(&[(reqwest::header::HeaderName, &'static str)], u64)] = &[
            (&[], 3600),
            (
                &[(CACHE_CONTROL, "public, max-age=21136, must-revalidate")],
                21136,
            ),
            (
                &[(CACHE_CONTROL, "public"), (CACHE_CONTROL, "MAX-AGE=600")],
                600,
            ),
            (&[(CACHE_CONTROL, "max-age=600"), (AGE, "100")], 500),
            (&[(CACHE_CONTROL, "max-age=600"), (AGE, "9999")], 60),
            (&[(CACHE_CONTROL, "max-age=0")], 60),
            (&[(CACHE_CONTROL, "max-age=999999999")], 86400),
            (&[(CACHE_CONTROL, "max-age=soon")], 3600),
        ];
        for (pairs, expected) in cases {
            assert_eq!(
                lifetime(&headers(pairs), &options),
                Duration::from_secs(*expected),
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let options = GcpKeyOptions::default();
        let delays: Vec<u64> = (1..=9).map(|n| backoff(&options, n).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(&options, u32::MAX).as_secs(), 300);
    }

    #[test]
    fn refresh_happens_before_expiry() {
        assert_eq!(
            refresh_lead(Duration::from_secs(600)),
            Duration::from_secs(540)
        );
        assert_eq!(
            refresh_lead(Duration::from_secs(86400)),
            Duration::from_secs(86100)
        );
    }

    #[test]
    fn a_url_source_must_be_http() {
        for url in ["file:///etc/passwd", "not a url", "ftp://example.com/"] {
            assert!(matches!(
                GcpKeySource::new(JwksSource::Url(url.to_owned()), None),
                Err(GcpKeysError::InvalidUrl { .. })
            ));
        }
    }
}
