//! The AIA fetcher against real sockets: every refused URL is refused without a connection
//! (a listener on 127.0.0.1 proves nothing reached it), and the allowed path works against a
//! local server reached through the policy's `danger_*` seams.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use idgate_server::aia::{AddressClass, AiaError, AiaFetcher, AiaPolicy};

use crate::support::SIGNER;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const HOST: &str = "www.microsoft.com";

/// The test certificate, DER.
fn certificate_der() -> Vec<u8> {
    let (_, der) = pem_rfc7468::decode_vec(SIGNER.certificate_pem().as_bytes()).unwrap();
    der
}

/// A listener that is never accepted from: after a refused fetch, its queue must be empty.
struct Trap {
    listener: std::net::TcpListener,
    port: u16,
}

impl Trap {
    fn new() -> Trap {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        Trap { listener, port }
    }

    /// Panics if a connection is waiting. A connection the client made has completed its
    /// handshake before the client could send anything, so it is queued by the time the fetch
    /// returns.
    fn assert_untouched(&self, case: &str) {
        match self.listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("{case}: a connection reached the trap from {peer}"),
            Err(e) => panic!("{case}: accept failed: {e}"),
        }
    }
}

/// A policy under which `HOST` resolves to `addresses` and only `ports` are allowed; nothing
/// non-public is allowed unless `allow_localhost`.
fn policy(addresses: &[IpAddr], ports: &[u16], allow_localhost: bool) -> AiaPolicy {
    let mut policy = AiaPolicy::azure();
    policy.allowed_ports = ports.to_vec();
    policy
        .danger_resolve_overrides
        .insert(HOST.to_owned(), addresses.to_vec());
    if allow_localhost {
        policy.danger_allowed_addresses = vec![LOCALHOST];
    }
    policy
}

/// A local server reached as `http://www.microsoft.com:{port}/…` under [`policy`].
struct TestServer {
    port: u16,
    requests: Arc<AtomicUsize>,
    handle: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct ServerState {
    requests: Arc<AtomicUsize>,
    der: Arc<Vec<u8>>,
    redirect_to: String,
}

impl TestServer {
    /// Serves the test certificate and a few misbehaving routes; `/redirect` points at
    /// `redirect_to`.
    async fn spawn(redirect_to: String) -> TestServer {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let state = ServerState {
            requests: Arc::clone(&requests),
            der: Arc::new(certificate_der()),
            redirect_to,
        };
        let app = Router::new()
            .route("/der", get(der))
            .route("/pem", get(pem))
            .route("/redirect", get(redirect))
            .route("/big", get(big))
            .route("/big-chunked", get(big_chunked))
            .route("/junk", get(junk))
            .route("/two-pem", get(two_pem))
            .route("/der-and-more", get(der_and_more))
            .route("/missing", get(missing))
            .with_state(state);
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer {
            port,
            requests,
            handle,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{HOST}:{}{path}", self.port)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops accepting connections.
    async fn stop(self) {
        self.handle.abort();
        let _ = self.handle.await;
    }
}

async fn der(State(state): State<ServerState>) -> Vec<u8> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    state.der.to_vec()
}

async fn pem(State(state): State<ServerState>) -> String {
    state.requests.fetch_add(1, Ordering::SeqCst);
    format!("\n{}\n", SIGNER.certificate_pem())
}

async fn redirect(State(state): State<ServerState>) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::FOUND,
        [(header::LOCATION, state.redirect_to.clone())],
    )
        .into_response()
}

async fn big(State(state): State<ServerState>) -> Vec<u8> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    vec![0x30; 2 * 1024 * 1024]
}

/// 2 MiB without a `Content-Length`, so the cap is enforced while reading.
async fn big_chunked(State(state): State<ServerState>) -> Body {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let chunks = (0..32).map(|_| Ok::<_, std::io::Error>(vec![0x30u8; 64 * 1024]));
    Body::from_stream(futures_util::stream::iter(chunks))
}

async fn junk(State(state): State<ServerState>) -> &'static str {
    state.requests.fetch_add(1, Ordering::SeqCst);
    "this is not a certificate"
}

async fn two_pem(State(state): State<ServerState>) -> String {
    state.requests.fetch_add(1, Ordering::SeqCst);
    format!("{0}{0}", SIGNER.certificate_pem())
}

async fn der_and_more(State(state): State<ServerState>) -> Vec<u8> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let mut body = state.der.to_vec();
    body.extend_from_slice(b"trailing");
    body
}

async fn missing(State(state): State<ServerState>) -> StatusCode {
    state.requests.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND
}

/// Fetches `url` under `policy` and checks that it fails as `expected` says, and that nothing
/// connected to `trap`.
async fn check_refused(
    case: &str,
    policy: AiaPolicy,
    url: &str,
    trap: &Trap,
    expected: impl Fn(&AiaError) -> bool,
) {
    let fetcher = AiaFetcher::new(policy, None).unwrap();
    let result = fetcher.fetch(url).await;
    trap.assert_untouched(case);
    match result {
        Ok(_) => panic!("{case}: {url} was fetched"),
        Err(error) => assert!(expected(&error), "{case}: unexpected error {error:?}"),
    }
}

fn refused_as(error: &AiaError, class: AddressClass) -> bool {
    match error {
        AiaError::AddressRefused { refused, .. } => refused.iter().all(|r| r.class == class),
        _ => false,
    }
}

#[tokio::test]
async fn non_public_addresses_are_refused_without_connecting() {
    let trap = Trap::new();
    let url = format!("http://{HOST}:{}/ca.crt", trap.port);
    let cases: [(&str, IpAddr, AddressClass); 5] = [
        (
            "metadata service",
            "169.254.169.254".parse().unwrap(),
            AddressClass::LinkLocal,
        ),
        ("loopback", LOCALHOST, AddressClass::Loopback),
        (
            "private",
            "10.0.0.1".parse().unwrap(),
            AddressClass::Private,
        ),
        (
            "IPv4-mapped loopback",
            "::ffff:127.0.0.1".parse().unwrap(),
            AddressClass::Loopback,
        ),
        (
            "IPv6 loopback",
            "::1".parse().unwrap(),
            AddressClass::Loopback,
        ),
    ];
    for (case, address, class) in cases {
        check_refused(
            case,
            policy(&[address], &[trap.port], false),
            &url,
            &trap,
            |e| refused_as(e, class),
        )
        .await;
    }
}

#[tokio::test]
async fn a_refused_address_names_its_class_in_the_message() {
    let fetcher = AiaFetcher::new(
        policy(&["169.254.169.254".parse().unwrap()], &[80], false),
        None,
    )
    .unwrap();
    let error = fetcher
        .fetch("http://www.microsoft.com/x.crt")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "AIA host www.microsoft.com refused: it resolves to no public address \
         (169.254.169.254 (link-local))"
    );
}

#[tokio::test]
async fn urls_outside_the_policy_are_refused_without_connecting() {
    let trap = Trap::new();
    let port = trap.port;
    // Everything but the rule under test would let the fetch reach the trap.
    let mut permissive = policy(&[LOCALHOST], &[port], true);
    permissive
        .danger_resolve_overrides
        .insert("evil.example".to_owned(), vec![LOCALHOST]);
    permissive
        .danger_resolve_overrides
        .insert("localhost".to_owned(), vec![LOCALHOST]);

    type Check = fn(&AiaError) -> bool;
    let cases: Vec<(&str, String, Check)> = vec![
        (
            "host not allowed",
            format!("http://evil.example:{port}/ca.crt"),
            |e| matches!(e, AiaError::Host { host } if host == "evil.example"),
        ),
        ("localhost", format!("http://localhost:{port}/"), |e| {
            matches!(e, AiaError::Host { .. })
        }),
        ("IPv4 literal", format!("http://127.0.0.1:{port}/"), |e| {
            matches!(e, AiaError::IpLiteral { .. })
        }),
        ("IPv4 literal, hex", format!("http://0x7f.1:{port}/"), |e| {
            matches!(e, AiaError::IpLiteral { .. })
        }),
        ("IPv6 literal", format!("http://[::1]:{port}/"), |e| {
            matches!(e, AiaError::IpLiteral { .. })
        }),
        (
            "IPv4-mapped literal",
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            |e| matches!(e, AiaError::IpLiteral { .. }),
        ),
        (
            "userinfo",
            format!("http://www.microsoft.com@127.0.0.1:{port}/"),
            |e| matches!(e, AiaError::Userinfo),
        ),
        (
            "userinfo on an allowed host",
            format!("http://user:pass@www.microsoft.com:{port}/"),
            |e| matches!(e, AiaError::Userinfo),
        ),
        (
            "ftp",
            format!("ftp://www.microsoft.com:{port}/ca.crt"),
            |e| matches!(e, AiaError::Scheme { scheme } if scheme == "ftp"),
        ),
        (
            "file",
            "file:///etc/passwd".to_owned(),
            |e| matches!(e, AiaError::Scheme { scheme } if scheme == "file"),
        ),
        ("not a URL", "www.microsoft.com/ca.crt".to_owned(), |e| {
            matches!(e, AiaError::InvalidUrl { .. })
        }),
        (
            "trailing dot",
            format!("http://www.microsoft.com.:{port}/"),
            |e| matches!(e, AiaError::Host { .. }),
        ),
    ];
    for (case, url, expected) in cases {
        check_refused(case, permissive.clone(), &url, &trap, expected).await;
    }

    // The production port list refuses the trap's port, and 8080.
    let production_ports = policy(&[LOCALHOST], &[80, 443], true);
    check_refused(
        "port not allowed",
        production_ports.clone(),
        &format!("http://www.microsoft.com:{port}/"),
        &trap,
        |e| matches!(e, AiaError::Port { port: p } if *p == port),
    )
    .await;
    check_refused(
        "port 8080",
        production_ports,
        "http://www.microsoft.com:8080/",
        &trap,
        |e| matches!(e, AiaError::Port { port: 8080 }),
    )
    .await;
}

#[tokio::test]
async fn a_disabled_fetcher_refuses_and_says_what_to_do() {
    let trap = Trap::new();
    let fetcher = AiaFetcher::disabled();
    assert!(!fetcher.is_enabled());
    let error = fetcher
        .fetch(&format!("http://{HOST}:{}/", trap.port))
        .await
        .unwrap_err();
    assert!(matches!(error, AiaError::Disabled));
    assert!(error.to_string().contains("--azure-intermediates"));
    trap.assert_untouched("disabled");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let trap = Trap::new();
    let server = TestServer::spawn(format!("http://{HOST}:{}/ca.crt", trap.port)).await;
    // The redirect's target is allowed in every respect: only the no-redirect rule stops it.
    let fetcher =
        AiaFetcher::new(policy(&[LOCALHOST], &[server.port, trap.port], true), None).unwrap();
    let error = fetcher.fetch(&server.url("/redirect")).await.unwrap_err();
    assert!(
        matches!(error, AiaError::Redirect { status: 302 }),
        "{error:?}"
    );
    assert_eq!(server.requests(), 1);
    trap.assert_untouched("redirect");
    server.stop().await;
}

#[tokio::test]
async fn der_and_pem_certificates_are_fetched_as_der() {
    let server = TestServer::spawn(String::new()).await;
    let fetcher = AiaFetcher::new(policy(&[LOCALHOST], &[server.port], true), None).unwrap();
    assert_eq!(
        fetcher.fetch(&server.url("/der")).await.unwrap(),
        certificate_der()
    );
    assert_eq!(
        fetcher.fetch(&server.url("/pem")).await.unwrap(),
        certificate_der()
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_answers_are_refused() {
    let server = TestServer::spawn(String::new()).await;
    let fetcher = AiaFetcher::new(policy(&[LOCALHOST], &[server.port], true), None).unwrap();
    let limit = AiaPolicy::azure().max_bytes;
    for path in ["/big", "/big-chunked"] {
        let error = fetcher.fetch(&server.url(path)).await.unwrap_err();
        assert!(
            matches!(error, AiaError::TooLarge { limit: l } if l == limit),
            "{path}: {error:?}"
        );
    }
    for path in ["/junk", "/two-pem", "/der-and-more"] {
        let error = fetcher.fetch(&server.url(path)).await.unwrap_err();
        assert!(
            matches!(error, AiaError::NotACertificate { .. }),
            "{path}: {error:?}"
        );
    }
    let error = fetcher.fetch(&server.url("/missing")).await.unwrap_err();
    assert!(
        matches!(error, AiaError::Status { status: 404 }),
        "{error:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_server_that_never_answers_fails_by_the_timeout() {
    // Bound but never accepted from: the kernel completes the handshake, nobody answers.
    let silent = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = silent.local_addr().unwrap().port();
    let mut policy = policy(&[LOCALHOST], &[port], true);
    policy.timeout = Duration::from_millis(300);
    let fetcher = AiaFetcher::new(policy, None).unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        fetcher.fetch(&format!("http://{HOST}:{port}/ca.crt")),
    )
    .await
    .expect("the fetcher's own timeout fires first");
    let error = result.unwrap_err();
    assert!(
        matches!(error, AiaError::Timeout { after } if after == Duration::from_millis(300)),
        "{error:?}"
    );
}

#[tokio::test]
async fn concurrent_fetches_of_one_url_make_one_request() {
    let server = TestServer::spawn(String::new()).await;
    let fetcher = AiaFetcher::new(policy(&[LOCALHOST], &[server.port], true), None).unwrap();
    let url = server.url("/der");
    // join_all polls every fetch once before any of them can finish (this runtime has one
    // thread, and the server runs only when the fetches wait): all 50 share one request.
    let results = futures_util::future::join_all((0..50).map(|_| fetcher.fetch(&url))).await;
    for result in results {
        assert_eq!(result.unwrap(), certificate_der());
    }
    assert_eq!(server.requests(), 1);

    // Not remembered, so not cached: the next fetch asks again.
    fetcher.fetch(&url).await.unwrap();
    assert_eq!(server.requests(), 2);
    // Remembered: served from memory.
    fetcher.remember(&url, &certificate_der()).await.unwrap();
    fetcher.fetch(&url).await.unwrap();
    assert_eq!(server.requests(), 2);
    server.stop().await;
}

#[tokio::test]
async fn remembered_certificates_survive_a_restart_without_network() {
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("azure-intermediates");
    let server = TestServer::spawn(String::new()).await;
    let port = server.port;
    let url = server.url("/der");
    let other = server.url("/pem");
    let fetcher =
        AiaFetcher::new(policy(&[LOCALHOST], &[port], true), Some(cache_dir.clone())).unwrap();
    let der = fetcher.fetch(&url).await.unwrap();
    fetcher.remember(&url, &der).await.unwrap();
    // Fetched but not remembered (as if the verifier refused it): not persisted.
    fetcher.fetch(&other).await.unwrap();
    assert_eq!(std::fs::read_dir(&cache_dir).unwrap().count(), 1);
    assert!(matches!(
        fetcher.remember(&url, b"not a certificate").await,
        Err(AiaError::NotACertificate { .. })
    ));
    server.stop().await;

    let restarted = AiaFetcher::new(policy(&[LOCALHOST], &[port], true), Some(cache_dir)).unwrap();
    assert_eq!(restarted.fetch(&url).await.unwrap(), certificate_der());
    // The one that was not remembered needs the (now gone) server.
    let error = restarted.fetch(&other).await.unwrap_err();
    assert!(matches!(error, AiaError::Request { .. }), "{error:?}");
}

#[tokio::test]
async fn a_cache_directory_that_cannot_be_created_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let error =
        AiaFetcher::new(AiaPolicy::azure(), Some(file.join("azure-intermediates"))).unwrap_err();
    assert!(matches!(error, AiaError::Cache { .. }), "{error:?}");
}
