//! Fetching a missing Azure intermediate certificate from an AIA `caIssuers` URL, safely.
//!
//! When the Azure verifier cannot build a chain because an intermediate is missing, it hands
//! back the URLs from the signer certificate's Authority Information Access extension. Those
//! URLs come from a document an agent sent us, so fetching them blindly is a server-side request
//! forgery (Coder's CVE-2026-45796). [`AiaFetcher`] makes that impossible:
//!
//! * the URL must be `http` or `https`, without userinfo, on a host named in
//!   [`AiaPolicy::allowed_hosts`] (never an IP literal) and a port in
//!   [`AiaPolicy::allowed_ports`];
//! * the host is resolved by [`AiaFetcher`]'s own resolver, which refuses every address that is
//!   not public unicast (see [`classify_address`]); if none remains, the fetch fails without
//!   connecting anywhere;
//! * redirects are not followed, the whole exchange has a deadline, the body has a size cap,
//!   and the body must be one certificate (DER or PEM).
//!
//! **Invariant:** the resolver that filters addresses is the resolver reqwest connects with
//! (and proxies are disabled), so the address checked is the address connected to: DNS
//! rebinding has no window between check and connect.
//!
//! **Invariant:** [`AiaFetcher::fetch`] never caches what it downloads. Only a certificate the
//! caller has accepted (the Azure verifier built a chain with it) is cached, in memory and on
//! disk, through [`AiaFetcher::remember`]; a certificate the verifier refused is therefore
//! fetched again next time rather than served from a cache.
//!
//! Certificates are checked here only as far as "the body is exactly one X.509 certificate";
//! whether it belongs in a chain is the verifier's decision.

use crate::util::{error_chain, write_atomically};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use der::Decode as _;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;
use x509_cert::Certificate;

/// The hosts Azure's certificates name in their AIA `caIssuers` URLs.
pub const AZURE_AIA_HOSTS: [&str; 3] = [
    "www.microsoft.com",
    "caissuers.microsoft.com",
    "cacerts.digicert.com",
];

/// The name of the cache directory under the server's data directory.
pub const CACHE_DIR_NAME: &str = "azure-intermediates";

/// The default deadline for one whole fetch: resolve, connect, request and body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default cap on the response body (1 MiB); reading stops beyond it.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

/// URLs longer than this are refused before parsing.
const MAX_URL_LEN: usize = 2048;

/// Values from outside that appear in error messages are cut to this many characters.
const MAX_LOGGED_LEN: usize = 100;

/// What may be fetched, and how.
#[derive(Debug, Clone)]
pub struct AiaPolicy {
    /// Host names that may be fetched from, compared case-insensitively.
    pub allowed_hosts: Vec<String>,
    /// Ports that may be connected to (the URL's port, or the scheme's default).
    pub allowed_ports: Vec<u16>,
    /// Deadline for one whole fetch.
    pub timeout: Duration,
    /// Cap on the response body.
    pub max_bytes: usize,
    /// Test seam: addresses accepted although they are not public (e.g. `127.0.0.1` for a
    /// local test server). Empty in production.
    pub danger_allowed_addresses: Vec<IpAddr>,
    /// Test seam: host names resolved to these addresses instead of through DNS. The addresses
    /// still go through the address filter. Empty in production.
    pub danger_resolve_overrides: HashMap<String, Vec<IpAddr>>,
}

impl AiaPolicy {
    /// The production policy: Azure's AIA hosts, ports 80 and 443, 5 s, 1 MiB, no test seams.
    pub fn azure() -> AiaPolicy {
        AiaPolicy {
            allowed_hosts: AZURE_AIA_HOSTS.iter().map(|h| (*h).to_owned()).collect(),
            allowed_ports: vec![80, 443],
            timeout: DEFAULT_TIMEOUT,
            max_bytes: DEFAULT_MAX_BYTES,
            danger_allowed_addresses: Vec::new(),
            danger_resolve_overrides: HashMap::new(),
        }
    }

    /// Parses `raw` and checks its scheme, userinfo, host and port; returns the parsed URL.
    pub fn check_url(&self, raw: &str) -> Result<Url, AiaError> {
        if raw.len() > MAX_URL_LEN {
            return Err(AiaError::InvalidUrl {
                reason: format!("longer than {MAX_URL_LEN} bytes"),
            });
        }
        let url = Url::parse(raw).map_err(|e| AiaError::InvalidUrl {
            reason: e.to_string(),
        })?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(AiaError::Scheme {
                    scheme: loggable(other),
                });
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(AiaError::Userinfo);
        }
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.to_ascii_lowercase(),
            Some(url::Host::Ipv4(address)) => {
                return Err(AiaError::IpLiteral {
                    host: address.to_string(),
                });
            }
            Some(url::Host::Ipv6(address)) => {
                return Err(AiaError::IpLiteral {
                    host: address.to_string(),
                });
            }
            None => {
                return Err(AiaError::InvalidUrl {
                    reason: "no host".to_owned(),
                });
            }
        };
        if !self.host_allowed(&host) {
            return Err(AiaError::Host {
                host: loggable(&host),
            });
        }
        let Some(port) = url.port_or_known_default() else {
            return Err(AiaError::InvalidUrl {
                reason: "no port".to_owned(),
            });
        };
        if !self.allowed_ports.contains(&port) {
            return Err(AiaError::Port { port });
        }
        Ok(url)
    }

    /// Resolves `host` (through [`AiaPolicy::danger_resolve_overrides`] or DNS) and keeps only
    /// the addresses that may be connected to. Fails when the host is not allowed, when
    /// resolution fails, or when no address remains.
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, AiaError> {
        let host = host.to_ascii_lowercase();
        if !self.host_allowed(&host) {
            return Err(AiaError::Host {
                host: loggable(&host),
            });
        }
        let resolved: Vec<IpAddr> = match self.danger_resolve_overrides.get(&host) {
            Some(addresses) => addresses.clone(),
            None => match tokio::net::lookup_host((host.as_str(), 0u16)).await {
                Ok(addresses) => addresses.map(|a| a.ip()).collect(),
                Err(e) => {
                    return Err(AiaError::Resolve {
                        host: loggable(&host),
                        reason: e.to_string(),
                    });
                }
            },
        };
        let (allowed, refused) = self.filter_addresses(&resolved);
        if allowed.is_empty() {
            return Err(AiaError::AddressRefused {
                host: loggable(&host),
                refused,
            });
        }
        if !refused.is_empty() {
            tracing::debug!(
                host = %host,
                refused = %RefusedList(&refused),
                "non-public addresses dropped for an AIA host"
            );
        }
        Ok(allowed)
    }

    /// Splits addresses into those that may be connected to and those refused (with why).
    fn filter_addresses(&self, addresses: &[IpAddr]) -> (Vec<IpAddr>, Vec<RefusedAddress>) {
        let mut allowed = Vec::new();
        let mut refused = Vec::new();
        for &address in addresses {
            if self.danger_allowed_addresses.contains(&address) {
                allowed.push(address);
                continue;
            }
            match classify_address(address) {
                None => allowed.push(address),
                Some(class) => refused.push(RefusedAddress { address, class }),
            }
        }
        (allowed, refused)
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
    }
}

/// Why an address may not be connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressClass {
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `0.0.0.0/8` other than `0.0.0.0`: "this network".
    ThisNetwork,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    Private,
    /// `100.64.0.0/10`: carrier-grade NAT.
    SharedCgnat,
    /// `169.254.0.0/16`, `fe80::/10` (this is where cloud metadata services live).
    LinkLocal,
    /// `fc00::/7`.
    UniqueLocal,
    /// `fec0::/10` (deprecated).
    SiteLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// `240.0.0.0/4`, `192.0.0.0/24`, `192.88.99.0/24`, and IPv6 outside `2000::/3` or in
    /// special-purpose blocks (6to4, Teredo, IETF assignments, discard, local NAT64).
    Reserved,
}

impl AddressClass {
    fn describe(self) -> &'static str {
        match self {
            AddressClass::Unspecified => "unspecified",
            AddressClass::ThisNetwork => "this-network",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::SharedCgnat => "carrier-grade NAT",
            AddressClass::LinkLocal => "link-local",
            AddressClass::UniqueLocal => "unique-local",
            AddressClass::SiteLocal => "site-local",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Documentation => "documentation",
            AddressClass::Benchmarking => "benchmarking",
            AddressClass::Reserved => "reserved",
        }
    }
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// An address that was refused, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusedAddress {
    /// The address.
    pub address: IpAddr,
    /// Its class.
    pub class: AddressClass,
}

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.address, self.class)
    }
}

/// Displays a list of refused addresses, comma-separated.
struct RefusedList<'a>(&'a [RefusedAddress]);

impl std::fmt::Display for RefusedList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, refused) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{refused}")?;
        }
        if self.0.is_empty() {
            f.write_str("no address")?;
        }
        Ok(())
    }
}

/// The class of a non-public address, or `None` for a public unicast address that may be
/// connected to. IPv4 addresses embedded in IPv6 (mapped `::ffff:0:0/96`, compatible `::/96`,
/// NAT64 `64:ff9b::/96`) are classified by the IPv4 address they carry.
pub fn classify_address(address: IpAddr) -> Option<AddressClass> {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(address: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = address.octets();
    let class = if address.is_unspecified() {
        AddressClass::Unspecified
    } else if address.is_broadcast() {
        AddressClass::Broadcast
    } else if a == 0 {
        AddressClass::ThisNetwork
    } else if a == 127 {
        AddressClass::Loopback
    } else if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        AddressClass::Private
    } else if a == 100 && (64..=127).contains(&b) {
        AddressClass::SharedCgnat
    } else if a == 169 && b == 254 {
        AddressClass::LinkLocal
    } else if (a == 192 && b == 0 && c == 2)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        AddressClass::Documentation
    } else if a == 198 && (b == 18 || b == 19) {
        AddressClass::Benchmarking
    } else if (224..=239).contains(&a) {
        AddressClass::Multicast
    } else if a >= 240 || (a == 192 && b == 0 && c == 0) || (a == 192 && b == 88 && c == 99) {
        AddressClass::Reserved
    } else {
        return None;
    };
    Some(class)
}

fn classify_v6(address: Ipv6Addr) -> Option<AddressClass> {
    let segments = address.segments();
    if address.is_unspecified() {
        return Some(AddressClass::Unspecified);
    }
    if address.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    // IPv4-mapped ::ffff:a.b.c.d: the connection goes to the IPv4 address.
    if let Some(v4) = address.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let octets = address.octets();
    let embedded = Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]);
    // IPv4-compatible ::a.b.c.d (deprecated): never public, named by what it embeds if that is
    // itself special.
    if segments[..6].iter().all(|s| *s == 0) {
        return Some(classify_v4(embedded).unwrap_or(AddressClass::Reserved));
    }
    // NAT64 well-known prefix 64:ff9b::/96: the translator connects to the embedded address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded);
    }
    let class = if segments[0] & 0xff00 == 0xff00 {
        AddressClass::Multicast
    } else if segments[0] & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if segments[0] & 0xffc0 == 0xfec0 {
        AddressClass::SiteLocal
    } else if segments[0] & 0xfe00 == 0xfc00 {
        AddressClass::UniqueLocal
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        AddressClass::Documentation
    } else if segments[0] & 0xfff0 == 0x3ff0 {
        // 3fff::/20 (RFC 9637).
        AddressClass::Documentation
    } else if segments[0] == 0x2001 && segments[1] == 0x0002 && segments[2] == 0 {
        AddressClass::Benchmarking
    } else if segments[0] == 0x2001 && segments[1] < 0x0200 {
        // 2001::/23: IETF protocol assignments, including Teredo 2001::/32.
        AddressClass::Reserved
    } else if segments[0] == 0x2002 {
        // 6to4 carries an IPv4 address the relay would connect to.
        AddressClass::Reserved
    } else if segments[0] & 0xe000 != 0x2000 {
        // Outside 2000::/3, the only global unicast block allocated (this includes
        // 64:ff9b:1::/48, 100::/64 and 5f00::/16 by construction).
        AddressClass::Reserved
    } else {
        return None;
    };
    Some(class)
}

/// Errors fetching an intermediate. Every message is safe to log: values taken from the URL are
/// cut short, and no body content is echoed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AiaError {
    /// Fetching is switched off.
    #[error(
        "fetching Azure intermediate certificates is disabled (--azure-fetch-intermediates=false); \
         pass the missing intermediate with --azure-intermediates"
    )]
    Disabled,
    /// The URL does not parse, or lacks a host.
    #[error("AIA URL refused: not a valid URL ({reason})")]
    InvalidUrl {
        /// Why.
        reason: String,
    },
    /// The scheme is not `http` or `https`.
    #[error("AIA URL refused: scheme {scheme:?} is not http or https")]
    Scheme {
        /// The scheme.
        scheme: String,
    },
    /// The URL has a user name or password.
    #[error("AIA URL refused: it carries userinfo")]
    Userinfo,
    /// The host is an IP address rather than a name.
    #[error("AIA URL refused: host {host} is an IP address, not an allowed host name")]
    IpLiteral {
        /// The address.
        host: String,
    },
    /// The host is not in the allowed list.
    #[error("AIA URL refused: host {host:?} is not an allowed AIA host")]
    Host {
        /// The host.
        host: String,
    },
    /// The port is not in the allowed list.
    #[error("AIA URL refused: port {port} is not allowed")]
    Port {
        /// The port.
        port: u16,
    },
    /// Every address the host resolved to is non-public; nothing was connected to.
    #[error("AIA host {host} refused: it resolves to no public address ({})", RefusedList(.refused))]
    AddressRefused {
        /// The host.
        host: String,
        /// The addresses and their classes.
        refused: Vec<RefusedAddress>,
    },
    /// The host name could not be resolved.
    #[error("AIA host {host} could not be resolved: {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The server answered with a redirect, which is not followed.
    #[error("AIA fetch refused: the server answered {status} (a redirect, which is not followed)")]
    Redirect {
        /// The HTTP status.
        status: u16,
    },
    /// The fetch did not finish in time.
    #[error("AIA fetch timed out after {after:?}")]
    Timeout {
        /// The deadline.
        after: Duration,
    },
    /// The body is larger than the cap.
    #[error("AIA fetch refused: the body is larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// The server answered with a status other than 200 and not a redirect.
    #[error("AIA fetch failed: the server answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The body is not exactly one certificate in DER or PEM.
    #[error("AIA fetch refused: the body is not one X.509 certificate ({reason})")]
    NotACertificate {
        /// Why.
        reason: String,
    },
    /// Connecting or speaking HTTP failed.
    #[error("AIA fetch from {host} failed: {reason}")]
    Request {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the AIA HTTP client: {reason}")]
    Client {
        /// Why.
        reason: String,
    },
    /// The cache directory cannot be created, or a cache file cannot be written.
    #[error("cannot write the AIA cache at {path}: {source}")]
    Cache {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: Arc<std::io::Error>,
    },
}

/// Fetches intermediates from AIA URLs under an [`AiaPolicy`], one request per URL at a time,
/// and caches the ones the caller [`remember`](AiaFetcher::remember)s.
pub struct AiaFetcher {
    /// `None` when fetching is disabled.
    inner: Option<Inner>,
}

/// The shared result of one in-flight fetch.
type InFlight = Arc<OnceCell<Result<Arc<[u8]>, AiaError>>>;

struct Inner {
    policy: Arc<AiaPolicy>,
    client: reqwest::Client,
    cache_dir: Option<PathBuf>,
    /// Accepted certificates by URL.
    memory: Mutex<HashMap<String, Arc<[u8]>>>,
    /// Fetches in progress by URL.
    in_flight: Mutex<HashMap<String, InFlight>>,
}

impl std::fmt::Debug for AiaFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("AiaFetcher(disabled)"),
            Some(inner) => f
                .debug_struct("AiaFetcher")
                .field("policy", &inner.policy)
                .field("cache_dir", &inner.cache_dir)
                .finish_non_exhaustive(),
        }
    }
}

impl AiaFetcher {
    /// A fetcher under `policy`. With `cache_dir` (normally `<data-dir>/`[`CACHE_DIR_NAME`]),
    /// remembered certificates survive a restart; the directory is created here.
    pub fn new(policy: AiaPolicy, cache_dir: Option<PathBuf>) -> Result<AiaFetcher, AiaError> {
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).map_err(|source| AiaError::Cache {
                path: dir.clone(),
                source: Arc::new(source),
            })?;
        }
        let policy = Arc::new(policy);
        let resolver = Arc::new(FilteringResolver {
            policy: Arc::clone(&policy),
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would do its own resolution and connect anywhere: never use one.
            .no_proxy()
            .dns_resolver(resolver)
            .connect_timeout(policy.timeout)
            .timeout(policy.timeout)
            .referer(false)
            .user_agent(concat!("idgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AiaError::Client {
                reason: e.to_string(),
            })?;
        Ok(AiaFetcher {
            inner: Some(Inner {
                policy,
                client,
                cache_dir,
                memory: Mutex::new(HashMap::new()),
                in_flight: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A fetcher that refuses every fetch with [`AiaError::Disabled`].
    pub fn disabled() -> AiaFetcher {
        AiaFetcher { inner: None }
    }

    /// Whether fetching is enabled.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The DER of the one certificate at `url`: from the memory cache, else from the disk
    /// cache, else downloaded. Concurrent calls for one URL share a single download. What is
    /// downloaded is not cached: call [`AiaFetcher::remember`] once the verifier accepts it.
    pub async fn fetch(&self, url: &str) -> Result<Vec<u8>, AiaError> {
        let Some(inner) = &self.inner else {
            return Err(AiaError::Disabled);
        };
        let url = inner.policy.check_url(url)?;
        let key = url.as_str().to_owned();
        if let Some(der) = lock(&inner.memory).get(&key) {
            return Ok(der.to_vec());
        }
        let cell = {
            let mut in_flight = lock(&inner.in_flight);
            let entry = in_flight.entry(key.clone()).or_default();
            // A finished cell left behind (its caller was cancelled at the wrong moment) must
            // not answer for a new fetch.
            if entry.initialized() {
                *entry = InFlight::default();
            }
            Arc::clone(entry)
        };
        let result = cell
            .get_or_init(|| inner.load_or_download(&url, &key))
            .await
            .clone();
        {
            let mut in_flight = lock(&inner.in_flight);
            if in_flight
                .get(&key)
                .is_some_and(|current| Arc::ptr_eq(current, &cell))
            {
                in_flight.remove(&key);
            }
        }
        result.map(|der| der.to_vec())
    }

    /// Caches `der` as the certificate at `url`, in memory and (with a cache directory) on disk,
    /// so that later fetches, also after a restart, need no network. Call it only for a
    /// certificate the verifier accepted. Does nothing on a disabled fetcher.
    pub async fn remember(&self, url: &str, der: &[u8]) -> Result<(), AiaError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let url = inner.policy.check_url(url)?;
        let der = certificate_der(der)?;
        let key = url.as_str().to_owned();
        let der: Arc<[u8]> = der.into();
        lock(&inner.memory).insert(key.clone(), Arc::clone(&der));
        let Some(dir) = &inner.cache_dir else {
            return Ok(());
        };
        let path = cache_path(dir, &key);
        let write_path = path.clone();
        let written = tokio::task::spawn_blocking(move || write_atomically(&write_path, &der))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r);
        written.map_err(|source| AiaError::Cache {
            path,
            source: Arc::new(source),
        })
    }
}

impl Inner {
    /// The disk cache's certificate for `key`, else a download.
    async fn load_or_download(&self, url: &Url, key: &str) -> Result<Arc<[u8]>, AiaError> {
        if let Some(dir) = &self.cache_dir {
            let path = cache_path(dir, key);
            match tokio::fs::read(&path).await {
                Ok(bytes) => match certificate_der(&bytes) {
                    Ok(der) => {
                        let der: Arc<[u8]> = der.into();
                        lock(&self.memory).insert(key.to_owned(), Arc::clone(&der));
                        return Ok(der);
                    }
                    Err(error) => {
                        tracing::warn!(path = %path.display(), %error, "ignoring a damaged AIA cache file");
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "cannot read an AIA cache file");
                }
            }
        }
        self.download(url).await.map(Arc::from)
    }

    /// One GET under the policy's deadline, size cap and status rules.
    async fn download(&self, url: &Url) -> Result<Vec<u8>, AiaError> {
        let host = loggable(url.host_str().unwrap_or_default());
        let timeout = self.policy.timeout;
        let max_bytes = self.policy.max_bytes;
        let work = async {
            let mut response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| request_error(&e, &host, timeout))?;
            let status = response.status();
            if status.is_redirection() {
                return Err(AiaError::Redirect {
                    status: status.as_u16(),
                });
            }
            if status != reqwest::StatusCode::OK {
                return Err(AiaError::Status {
                    status: status.as_u16(),
                });
            }
            let announced = response.content_length().unwrap_or(0);
            if usize::try_from(announced).map_or(true, |n| n > max_bytes) {
                return Err(AiaError::TooLarge { limit: max_bytes });
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| request_error(&e, &host, timeout))?
            {
                if body.len() + chunk.len() > max_bytes {
                    return Err(AiaError::TooLarge { limit: max_bytes });
                }
                body.extend_from_slice(&chunk);
            }
            certificate_der(&body)
        };
        // reqwest's own timeout covers the same ground; this one also bounds the body loop.
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(AiaError::Timeout { after: timeout }),
        }
    }
}

/// The resolver reqwest uses: [`AiaPolicy::resolve`], so only allowed addresses are connected
/// to.
struct FilteringResolver {
    policy: Arc<AiaPolicy>,
}

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match policy.resolve(&host).await {
                Ok(addresses) => {
                    let addrs: Addrs = Box::new(
                        addresses
                            .into_iter()
                            .map(|address| SocketAddr::new(address, 0)),
                    );
                    Ok(addrs)
                }
                Err(error) => Err(Box::new(error) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// Maps a reqwest error to an [`AiaError`], recovering the resolver's own refusal if that is
/// what stopped the connection.
fn request_error(error: &reqwest::Error, host: &str, timeout: Duration) -> AiaError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refusal) = current.downcast_ref::<AiaError>() {
            return refusal.clone();
        }
        source = current.source();
    }
    if error.is_timeout() {
        return AiaError::Timeout { after: timeout };
    }
    AiaError::Request {
        host: host.to_owned(),
        reason: error_chain(error),
    }
}

/// The DER of `body` if it is exactly one X.509 certificate, DER or PEM (`CERTIFICATE`).
/// Nothing else about the certificate is checked.
pub fn certificate_der(body: &[u8]) -> Result<Vec<u8>, AiaError> {
    let trimmed = body.trim_ascii();
    let der = if trimmed.starts_with(b"-----BEGIN") {
        let (label, der) =
            pem_rfc7468::decode_vec(trimmed).map_err(|e| AiaError::NotACertificate {
                reason: format!("bad PEM: {e}"),
            })?;
        if label != "CERTIFICATE" {
            return Err(AiaError::NotACertificate {
                reason: format!("PEM label is {:?}", loggable(label)),
            });
        }
        der
    } else {
        body.to_vec()
    };
    Certificate::from_der(&der).map_err(|e| AiaError::NotACertificate {
        reason: format!("bad DER: {e}"),
    })?;
    Ok(der)
}

/// `<dir>/<sha256(url)>.der`.
fn cache_path(dir: &Path, url: &str) -> PathBuf {
    let digest = Sha256::digest(url.as_bytes());
    dir.join(format!("{}.der", hex::encode(digest)))
}

/// `value` cut to [`MAX_LOGGED_LEN`] characters.
fn loggable(value: &str) -> String {
    if value.chars().count() <= MAX_LOGGED_LEN {
        return value.to_owned();
    }
    let mut cut: String = value.chars().take(MAX_LOGGED_LEN).collect();
    cut.push('…');
    cut
}

/// Locks a mutex, ignoring poisoning (the maps stay consistent: every update is one call).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(address: &str) -> Option<AddressClass> {
        let address: IpAddr = address.parse().unwrap();
        classify_address(address)
    }

    #[test]
    fn addresses_are_classified() {
        let cases: &[(&str, Option<AddressClass>)] = &[
            ("0.0.0.0", Some(AddressClass::Unspecified)),
            ("0.1.2.3", Some(AddressClass::ThisNetwork)),
            ("127.0.0.1", Some(AddressClass::Loopback)),
            ("127.255.255.254", Some(AddressClass::Loopback)),
            ("10.0.0.1", Some(AddressClass::Private)),
            ("172.16.0.1", Some(AddressClass::Private)),
            ("172.31.255.255", Some(AddressClass::Private)),
            ("172.32.0.1", None),
            ("192.168.1.1", Some(AddressClass::Private)),
            ("100.64.0.1", Some(AddressClass::SharedCgnat)),
            ("100.127.255.255", Some(AddressClass::SharedCgnat)),
            ("100.128.0.1", None),
            ("169.254.169.254", Some(AddressClass::LinkLocal)),
            ("192.0.2.1", Some(AddressClass::Documentation)),
            ("198.51.100.1", Some(AddressClass::Documentation)),
            ("203.0.113.1", Some(AddressClass::Documentation)),
            ("198.18.0.1", Some(AddressClass::Benchmarking)),
            ("198.19.255.255", Some(AddressClass::Benchmarking)),
            ("198.20.0.1", None),
            ("224.0.0.1", Some(AddressClass::Multicast)),
            ("239.255.255.250", Some(AddressClass::Multicast)),
            ("240.0.0.1", Some(AddressClass::Reserved)),
            ("255.255.255.255", Some(AddressClass::Broadcast)),
            ("192.0.0.8", Some(AddressClass::Reserved)),
            ("192.88.99.1", Some(AddressClass::Reserved)),
            ("13.107.4.50", None),
            ("8.8.8.8", None),
            ("::", Some(AddressClass::Unspecified)),
            ("::1", Some(AddressClass::Loopback)),
            ("::ffff:127.0.0.1", Some(AddressClass::Loopback)),
            ("::ffff:169.254.169.254", Some(AddressClass::LinkLocal)),
            ("::ffff:10.0.0.1", Some(AddressClass::Private)),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some(AddressClass::Loopback)),
            ("::8.8.8.8", Some(AddressClass::Reserved)),
            ("64:ff9b::169.254.169.254", Some(AddressClass::LinkLocal)),
            ("64:ff9b::8.8.8.8", None),
            ("64:ff9b:1::1", Some(AddressClass::Reserved)),
            ("100::1", Some(AddressClass::Reserved)),
            ("fe80::1", Some(AddressClass::LinkLocal)),
            ("febf::1", Some(AddressClass::LinkLocal)),
            ("fec0::1", Some(AddressClass::SiteLocal)),
            ("fc00::1", Some(AddressClass::UniqueLocal)),
            ("fd00:ec2::254", Some(AddressClass::UniqueLocal)),
            ("ff02::1", Some(AddressClass::Multicast)),
            ("2001:db8::1", Some(AddressClass::Documentation)),
            ("3fff::1", Some(AddressClass::Documentation)),
            ("2001:2::1", Some(AddressClass::Benchmarking)),
            ("2001::1", Some(AddressClass::Reserved)),
            ("2002:7f00:1::1", Some(AddressClass::Reserved)),
            ("5f00::1", Some(AddressClass::Reserved)),
            ("4000::1", Some(AddressClass::Reserved)),
            ("2603:1030::1", None),
            ("2a00:1450:4001::200e", None),
        ];
        for (address, expected) in cases {
            assert_eq!(class(address), *expected, "{address}");
        }
    }

    fn policy() -> AiaPolicy {
        let mut policy = AiaPolicy::azure();
        policy.danger_resolve_overrides.insert(
            "www.microsoft.com".to_owned(),
            vec![
                "169.254.169.254".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
                "::ffff:127.0.0.1".parse().unwrap(),
            ],
        );
        policy.danger_resolve_overrides.insert(
            "cacerts.digicert.com".to_owned(),
            vec!["127.0.0.1".parse().unwrap(), "8.8.8.8".parse().unwrap()],
        );
        policy
    }

    #[tokio::test]
    async fn the_resolver_refuses_when_no_public_address_remains() {
        let error = policy().resolve("WWW.Microsoft.com").await.unwrap_err();
        let AiaError::AddressRefused { host, refused } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(host, "www.microsoft.com");
        let classes: Vec<AddressClass> = refused.iter().map(|r| r.class).collect();
        assert_eq!(
            classes,
            [
                AddressClass::LinkLocal,
                AddressClass::Private,
                AddressClass::Loopback
            ]
        );
        assert!(error.to_string().contains("169.254.169.254 (link-local)"));
    }

    #[tokio::test]
    async fn the_resolver_drops_non_public_addresses_and_keeps_the_rest() {
        let kept = policy().resolve("cacerts.digicert.com").await.unwrap();
        assert_eq!(kept, ["8.8.8.8".parse::<IpAddr>().unwrap()]);
    }

    #[tokio::test]
    async fn the_resolver_refuses_hosts_outside_the_list() {
        let error = policy().resolve("localhost").await.unwrap_err();
        assert!(matches!(error, AiaError::Host { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn danger_allowed_addresses_let_exactly_those_through() {
        let mut policy = policy();
        policy.danger_allowed_addresses = vec!["10.0.0.1".parse().unwrap()];
        let kept = policy.resolve("www.microsoft.com").await.unwrap();
        assert_eq!(kept, ["10.0.0.1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let error = AiaPolicy::azure()
            .check_url(&format!("http://{}.example/", "a".repeat(300)))
            .unwrap_err();
        assert!(error.to_string().len() < 200, "{error}");
    }

    #[test]
    fn bodies_that_are_not_one_certificate_are_refused() {
        for body in [
            &b""[..],
            b"hello",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            assert!(matches!(
                certificate_der(body),
                Err(AiaError::NotACertificate { .. })
            ));
        }
    }
}
