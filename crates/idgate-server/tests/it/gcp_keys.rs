//! The GCP key cache against a real JWKS server on port 0 (real RSA keys from the emulator's
//! `GcpSigner`), with tokio's paused clock standing in for the passing of minutes and hours.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use idgate_imds::gcp::GcpSigner;
use idgate_server::gcp_keys::{
    GcpKeyOptions, GcpKeySource, GcpKeysError, JwksSource, PERSISTED_FILE_NAME,
};
use serde_json::Value;

static KEY_A: LazyLock<GcpSigner> =
    LazyLock::new(|| GcpSigner::generate().expect("generate key A"));
static KEY_B: LazyLock<GcpSigner> =
    LazyLock::new(|| GcpSigner::generate().expect("generate key B"));

/// A JWKS holding the public keys of `signers`.
fn jwks(signers: &[&GcpSigner]) -> String {
    let mut keys = Vec::new();
    for signer in signers {
        let mut one: Value = serde_json::from_str(&signer.jwks_json()).unwrap();
        keys.append(one["keys"].as_array_mut().unwrap());
    }
    serde_json::json!({ "keys": keys }).to_string()
}

/// What the server answers.
struct Answer {
    status: StatusCode,
    cache_control: Option<&'static str>,
    body: String,
}

/// A JWKS server on port 0 that counts its requests.
struct JwksServer {
    url: String,
    requests: Arc<AtomicUsize>,
    answer: Arc<Mutex<Answer>>,
    handle: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct ServerState {
    requests: Arc<AtomicUsize>,
    answer: Arc<Mutex<Answer>>,
}

async fn certs(State(state): State<ServerState>) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let answer = state.answer.lock().unwrap();
    let mut response = (answer.status, answer.body.clone()).into_response();
    if let Some(cache_control) = answer.cache_control {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static(cache_control),
        );
    }
    response
}

impl JwksServer {
    async fn spawn(body: String, cache_control: Option<&'static str>) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(Mutex::new(Answer {
            status: StatusCode::OK,
            cache_control,
            body,
        }));
        let state = ServerState {
            requests: Arc::clone(&requests),
            answer: Arc::clone(&answer),
        };
        let app = Router::new()
            .route("/oauth2/v3/certs", get(certs))
            .with_state(state);
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        JwksServer {
            url: format!("http://127.0.0.1:{port}/oauth2/v3/certs"),
            requests,
            answer,
            handle,
        }
    }

    fn source(&self) -> JwksSource {
        JwksSource::Url(self.url.clone())
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn answer(&self, status: StatusCode, body: String) {
        let mut answer = self.answer.lock().unwrap();
        answer.status = status;
        answer.body = body;
    }

    async fn stop(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }
}

/// Moves tokio's paused clock forward.
async fn advance(seconds: u64) {
    tokio::time::advance(Duration::from_secs(seconds)).await;
}

/// Waits until `condition` holds, yielding to the runtime; fails after a wall-clock deadline.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn one_fetch_serves_100_concurrent_calls_with_an_unknown_kid() {
    let server = JwksServer::spawn(jwks(&[&KEY_A]), Some("public, max-age=3600")).await;
    let keys = GcpKeySource::new(server.source(), None).unwrap();

    // Cold cache: one fetch for everybody, and no second fetch for the unknown kid right after.
    let results =
        futures_util::future::join_all((0..100).map(|_| keys.for_kid("no-such-kid"))).await;
    for result in results {
        let set = result.unwrap();
        assert!(set.contains(KEY_A.kid()) && !set.contains("no-such-kid"));
    }
    assert_eq!(server.requests(), 1);

    // Warm cache, a minute later: the unknown kid causes exactly one refresh.
    advance(61).await;
    let results =
        futures_util::future::join_all((0..100).map(|_| keys.for_kid("no-such-kid"))).await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!(server.requests(), 2);
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn unknown_kid_refreshes_are_limited_to_one_a_minute() {
    let server = JwksServer::spawn(jwks(&[&KEY_A]), Some("max-age=86400")).await;
    let keys = GcpKeySource::new(server.source(), None).unwrap();
    keys.current().await.unwrap();
    assert_eq!(server.requests(), 1);

    // Google publishes key B; a token signed with it arrives within the minute: no refresh.
    server.answer(StatusCode::OK, jwks(&[&KEY_A, &KEY_B]));
    assert!(
        !keys
            .for_kid(KEY_B.kid())
            .await
            .unwrap()
            .contains(KEY_B.kid())
    );
    advance(30).await;
    assert!(
        !keys
            .for_kid(KEY_B.kid())
            .await
            .unwrap()
            .contains(KEY_B.kid())
    );
    assert_eq!(server.requests(), 1);

    // A minute after the last fetch: one refresh, which finds it.
    advance(30).await;
    assert!(
        keys.for_kid(KEY_B.kid())
            .await
            .unwrap()
            .contains(KEY_B.kid())
    );
    assert_eq!(server.requests(), 2);

    // Made-up kids are limited the same way, per cache and not per kid.
    keys.for_kid("made-up-1").await.unwrap();
    keys.for_kid("made-up-2").await.unwrap();
    assert_eq!(server.requests(), 2);
    advance(60).await;
    keys.for_kid("made-up-3").await.unwrap();
    keys.for_kid("made-up-4").await.unwrap();
    assert_eq!(server.requests(), 3);
    // A known kid never causes a fetch.
    keys.for_kid(KEY_A.kid()).await.unwrap();
    assert_eq!(server.requests(), 3);
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn max_age_is_honoured() {
    let server = JwksServer::spawn(jwks(&[&KEY_A]), Some("public, max-age=600")).await;
    let keys = GcpKeySource::new(server.source(), None).unwrap();
    keys.current().await.unwrap();
    assert_eq!(server.requests(), 1);
    advance(599).await;
    keys.current().await.unwrap();
    assert_eq!(server.requests(), 1, "fresh for 600 s");
    advance(2).await;
    keys.current().await.unwrap();
    assert_eq!(server.requests(), 2, "stale after 600 s");
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn without_max_age_a_set_lives_an_hour() {
    let server = JwksServer::spawn(jwks(&[&KEY_A]), None).await;
    let keys = GcpKeySource::new(server.source(), None).unwrap();
    keys.current().await.unwrap();
    advance(3599).await;
    keys.current().await.unwrap();
    assert_eq!(server.requests(), 1);
    advance(2).await;
    keys.current().await.unwrap();
    assert_eq!(server.requests(), 2);
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_fetch_keeps_the_last_good_set() {
    let server = JwksServer::spawn(jwks(&[&KEY_A]), Some("max-age=60")).await;
    let keys = GcpKeySource::new(server.source(), None).unwrap();
    keys.current().await.unwrap();

    // The server fails: the stale set is still served.
    server.answer(StatusCode::INTERNAL_SERVER_ERROR, String::new());
    advance(61).await;
    assert!(keys.current().await.unwrap().contains(KEY_A.kid()));
    assert_eq!(server.requests(), 2);
    // Backing off: no new attempt for 5 s.
    assert!(keys.current().await.unwrap().contains(KEY_A.kid()));
    assert_eq!(server.requests(), 2);

    // The server answers 200 with garbage: still the last good set.
    server.answer(StatusCode::OK, "{\"keys\": \"nope\"}".to_owned());
    advance(5).await;
    assert!(keys.current().await.unwrap().contains(KEY_A.kid()));
    assert_eq!(server.requests(), 3);

    // The server recovers, after the (doubled) backoff the new set is taken.
    server.answer(StatusCode::OK, jwks(&[&KEY_B]));
    advance(9).await;
    assert!(keys.current().await.unwrap().contains(KEY_A.kid()));
    assert_eq!(
        server.requests(),
        3,
        "10 s backoff after the second failure"
    );
    advance(1).await;
    let set = keys.current().await.unwrap();
    assert!(set.contains(KEY_B.kid()) && !set.contains(KEY_A.kid()));
    assert_eq!(server.requests(), 4);
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn with_no_good_set_yet_a_failure_is_an_error() {
    let server = JwksServer::spawn(String::new(), None).await;
    server.answer(StatusCode::NOT_FOUND, String::new());
    let keys = GcpKeySource::new(server.source(), None).unwrap();
    let error = keys.current().await.unwrap_err();
    assert!(
        matches!(error, GcpKeysError::Status { status: 404, .. }),
        "{error:?}"
    );
    server.answer(StatusCode::OK, "x".repeat(2 * 1024 * 1024));
    advance(5).await;
    let error = keys.current().await.unwrap_err();
    assert!(matches!(error, GcpKeysError::TooLarge { .. }), "{error:?}");
    server.answer(StatusCode::OK, r#"{"keys": []}"#.to_owned());
    advance(10).await;
    let error = keys.current().await.unwrap_err();
    assert!(
        matches!(error, GcpKeysError::InvalidKeySet { .. }),
        "{error:?}"
    );
    assert_eq!(server.requests(), 3);
    server.stop().await;
}

#[tokio::test]
async fn the_persisted_set_is_served_with_the_server_down() {
    let data = tempfile::tempdir().unwrap();
    let body = jwks(&[&KEY_A]);
    let server = JwksServer::spawn(body.clone(), Some("max-age=3600")).await;
    let source = server.source();
    let keys = GcpKeySource::new(source.clone(), Some(data.path())).unwrap();
    keys.current().await.unwrap();
    let persisted = std::fs::read_to_string(data.path().join(PERSISTED_FILE_NAME)).unwrap();
    assert_eq!(persisted, body);
    server.stop().await;

    // A restart with the server gone: the persisted set is served.
    let restarted = GcpKeySource::new(source.clone(), Some(data.path())).unwrap();
    assert!(restarted.current().await.unwrap().contains(KEY_A.kid()));
    assert!(
        restarted
            .for_kid(KEY_A.kid())
            .await
            .unwrap()
            .contains(KEY_A.kid())
    );

    // Without the persisted file there is nothing to serve.
    let empty = tempfile::tempdir().unwrap();
    let cold = GcpKeySource::new(source, Some(empty.path())).unwrap();
    let error = cold.current().await.unwrap_err();
    assert!(matches!(error, GcpKeysError::Fetch { .. }), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn a_file_source_is_reread_after_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[&KEY_A])).unwrap();
    let keys = GcpKeySource::new(JwksSource::File(path.clone()), None).unwrap();
    assert_eq!(keys.current().await.unwrap().kids(), [KEY_A.kid()]);

    // Changed (and longer, so the change shows even with coarse timestamps).
    std::fs::write(&path, jwks(&[&KEY_A, &KEY_B])).unwrap();
    // Looked at no more than every 5 s...
    assert_eq!(keys.current().await.unwrap().len(), 1);
    advance(5).await;
    // ...then re-read.
    assert!(keys.current().await.unwrap().contains(KEY_B.kid()));

    // A broken file keeps the last good set.
    std::fs::write(&path, "{").unwrap();
    advance(5).await;
    assert_eq!(keys.current().await.unwrap().len(), 2);

    // An unknown kid looks at the file at once (a known one does not).
    std::fs::write(&path, jwks(&[&KEY_B])).unwrap();
    assert_eq!(keys.for_kid(KEY_A.kid()).await.unwrap().len(), 2);
    let set = keys.for_kid("rotated-in").await.unwrap();
    assert_eq!(set.kids(), [KEY_B.kid()]);

    // A missing file at start-up is an error.
    let missing = GcpKeySource::new(JwksSource::File(dir.path().join("nope.json")), None).unwrap();
    let error = missing.current().await.unwrap_err();
    assert!(matches!(error, GcpKeysError::ReadFile { .. }), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn the_refresher_refreshes_before_expiry() {
    let server = JwksServer::spawn(jwks(&[&KEY_A]), Some("max-age=600")).await;
    let keys = Arc::new(GcpKeySource::new(server.source(), None).unwrap());
    let refresher = Arc::clone(&keys).spawn_refresher();
    // Unused, the refresher contacts nobody: GCP may not be in use on this server.
    for _ in 0..10 {
        advance(60).await;
        tokio::task::yield_now().await;
    }
    assert_eq!(server.requests(), 0);
    // The first use fetches on demand; from then on the refresher keeps the set fresh.
    assert!(keys.current().await.unwrap().contains(KEY_A.kid()));
    assert_eq!(server.requests(), 1);
    // The refresher, idle while there was no set, looks again within a minute, finds this one
    // and plans its refresh for 540 s after the fetch.

    // 540 s in (a tenth of the lifetime before expiry) the refresher fetches again.
    server.answer(StatusCode::OK, jwks(&[&KEY_B]));
    advance(539).await;
    tokio::task::yield_now().await;
    assert_eq!(server.requests(), 1);
    advance(1).await;
    wait_until("the refresh", || server.requests() == 2).await;
    // The set is still fresh here, so `current` only reads the cache while the refresh lands.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !keys.current().await.unwrap().contains(KEY_B.kid()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the refresh never landed"
        );
        tokio::task::yield_now().await;
    }
    // Past the old expiry, callers find a fresh set: no fetch of their own.
    advance(100).await;
    assert!(keys.current().await.unwrap().contains(KEY_B.kid()));
    assert_eq!(server.requests(), 2);
    refresher.abort();
    server.stop().await;
}

#[tokio::test]
async fn a_server_that_never_answers_fails_by_the_timeout() {
    // Bound but never accepted from: the kernel completes the handshake, nobody answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let options = GcpKeyOptions {
        timeout: Duration::from_millis(300),
        ..GcpKeyOptions::default()
    };
    let source = JwksSource::Url(format!("http://127.0.0.1:{port}/certs"));
    let keys = GcpKeySource::with_options(source, None, options).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), keys.current())
        .await
        .expect("the key source's own timeout fires first");
    let error = result.unwrap_err();
    assert!(matches!(error, GcpKeysError::Timeout { .. }), "{error:?}");
}
