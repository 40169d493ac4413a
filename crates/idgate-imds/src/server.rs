//! The metadata-service emulator: an HTTP server that speaks one cloud's metadata API (AWS
//! IMDSv2, Azure IMDS or the GCE metadata server) with really signed documents, plus injected
//! faults.
//!
//! Start it in-process with [`spawn`] (port 0 on loopback, for tests) or on your own listener
//! with [`serve`]:
//!
//! ```no_run
//! # async fn example() -> Result<(), idgate_imds::Error> {
//! use idgate_imds::aws::AwsSigner;
//! use idgate_imds::server::{CloudSigner, EmulatorConfig, spawn};
//!
//! let signer = AwsSigner::generate(2048)?;
//! let trusted_pem = signer.certificate_pem().to_owned(); // give this to the verifier
//! let emulator = spawn(EmulatorConfig::new(CloudSigner::Aws(signer))).await?;
//! // AWS_EC2_METADATA_SERVICE_ENDPOINT=emulator.url() ...
//! emulator.stop().await?;
//! # Ok(()) }
//! ```
//!
//! What each cloud serves is described in [`aws`], [`azure`] and [`gcp`]; the faults in
//! [`crate::faults`]. Paths under `/idgate/` (the GCP key set, the Azure intermediate) are the
//! emulator's own helpers: they stand in for Google's and Microsoft's servers, need no
//! metadata header and are never delayed or failed by the faults.

pub mod aws;
pub mod azure;
pub mod gcp;

use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::Error;
use crate::aws::AwsSigner;
use crate::azure::AzureSigner;
use crate::faults::{self, Faults};
use crate::gcp::GcpSigner;

/// The cloud whose metadata service is emulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// AWS EC2's instance metadata service (IMDSv2).
    Aws,
    /// Azure's instance metadata service.
    Azure,
    /// Google Compute Engine's metadata server.
    Gcp,
}

impl Cloud {
    /// The lowercase name used on the command line: `aws`, `azure` or `gcp`.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::Gcp => "gcp",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cloud {
    type Err = Error;

    fn from_str(text: &str) -> Result<Cloud, Error> {
        match text.to_ascii_lowercase().as_str() {
            "aws" => Ok(Cloud::Aws),
            "azure" => Ok(Cloud::Azure),
            "gcp" | "google" => Ok(Cloud::Gcp),
            _ => Err(Error::InvalidConfig {
                field: "cloud",
                reason: format!("{text:?} is not one of aws, azure, gcp"),
            }),
        }
    }
}

/// The signer of the emulated cloud; it decides which API is served.
// One value per emulator: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CloudSigner {
    /// Signs AWS identity documents (`signature`, `rsa2048`, `pkcs7`).
    Aws(AwsSigner),
    /// Signs Azure attested documents.
    Azure(AzureSigner),
    /// Signs GCP identity tokens.
    Gcp(GcpSigner),
}

impl CloudSigner {
    /// The cloud this signer signs for.
    pub fn cloud(&self) -> Cloud {
        match self {
            CloudSigner::Aws(_) => Cloud::Aws,
            CloudSigner::Azure(_) => Cloud::Azure,
            CloudSigner::Gcp(_) => Cloud::Gcp,
        }
    }
}

/// Who the emulated instance is. Each cloud reads the fields it has and ignores the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// AWS `instanceId`, Azure `vmId`, or GCP's numeric instance ID.
    pub instance_id: String,
    /// AWS region, such as `us-east-1` (the availability zone is this plus `a`).
    pub region: String,
    /// AWS account ID (twelve digits).
    pub account_id: String,
    /// Azure subscription ID.
    pub subscription_id: String,
    /// GCP project ID.
    pub project_id: String,
    /// GCP project number (decimal digits).
    pub project_number: String,
    /// GCP zone, such as `us-central1-a`.
    pub zone: String,
    /// GCP instance name.
    pub instance_name: String,
}

impl Identity {
    /// A plausible identity whose `instance_id` has the form `cloud` uses: `i-` and 17 hex
    /// digits (AWS), a UUID (Azure `vmId`), 19 decimal digits (GCP).
    pub fn default_for(cloud: Cloud) -> Identity {
        let instance_id = match cloud {
            Cloud::Aws => "i-0123456789abcdef0",
            Cloud::Azure => "6d7a1e5c-2b8f-4c3a-9e4d-0f1a2b3c4d5e",
            Cloud::Gcp => "1234567890123456789",
        };
        Identity {
            instance_id: instance_id.to_owned(),
            region: "us-east-1".to_owned(),
            account_id: "123456789012".to_owned(),
            subscription_id: "11111111-2222-3333-4444-555555555555".to_owned(),
            project_id: "idgate-test".to_owned(),
            project_number: "123456789012".to_owned(),
            zone: "us-central1-a".to_owned(),
            instance_name: "idgate-test-vm".to_owned(),
        }
    }
}

/// Where the emulator's time comes from: documents' timestamps, token lifetimes.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock that moves only when told to (tests of expiry without sleeping).
    Manual(ManualClock),
}

impl Clock {
    /// The current time of this clock.
    pub fn now(&self) -> OffsetDateTime {
        match self {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Manual(clock) => clock.now(),
        }
    }
}

/// A shared clock that stands still until [`ManualClock::advance`] is called; clones share
/// the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: OffsetDateTime) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(at)))
    }

    /// The time it shows.
    pub fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

/// Everything the emulator needs: the signer (which picks the cloud), the instance's
/// identity, the faults to inject and the clock.
#[derive(Debug)]
pub struct EmulatorConfig {
    /// The signer; its cloud is the API served.
    pub signer: CloudSigner,
    /// The emulated instance.
    pub identity: Identity,
    /// Injected latency, errors and dropped token requests (none by default).
    pub faults: Faults,
    /// The clock (the system clock by default).
    pub clock: Clock,
}

impl EmulatorConfig {
    /// `signer` with [`Identity::default_for`] its cloud, no faults and the system clock.
    pub fn new(signer: CloudSigner) -> EmulatorConfig {
        let identity = Identity::default_for(signer.cloud());
        EmulatorConfig {
            signer,
            identity,
            faults: Faults::default(),
            clock: Clock::System,
        }
    }
}

/// Serves the emulator on `listener` until `shutdown` completes, then finishes the requests in
/// flight (token requests held by `drop_token_puts` are released) and returns.
///
/// Fails at once when `config` is invalid (see [`Faults`]) or a document cannot be signed.
pub async fn serve(
    listener: TcpListener,
    config: EmulatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let addr = listener.local_addr().map_err(Error::Serve)?;
    let (stopping, stopping_rx) = watch::channel(false);
    let app = build(config, &base_url(addr), stopping_rx)?;
    run(listener, app, shutdown, stopping).await
}

/// The emulator as a router, for tests that call it without a socket. `base_url` is where it
/// is reachable (the Azure leaf's AIA URL points there).
pub fn router(config: EmulatorConfig, base_url: &str) -> Result<Router, Error> {
    // Nothing stops a router used without serve(): its held token requests are held until
    // the caller drops them (or for the longest hold).
    let (_, stopping) = watch::channel(false);
    build(config, base_url, stopping)
}

/// Binds `127.0.0.1:0`, starts the emulator in a task and returns once it accepts
/// connections.
pub async fn spawn(config: EmulatorConfig) -> Result<RunningEmulator, Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(Error::Serve)?;
    let addr = listener.local_addr().map_err(Error::Serve)?;
    let (stopping, stopping_rx) = watch::channel(false);
    let app = build(config, &base_url(addr), stopping_rx)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        // A dropped sender (the handle dropped) stops the emulator too.
        let _ = stopped.await;
    };
    let task = tokio::spawn(run(listener, app, shutdown, stopping));
    Ok(RunningEmulator {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

/// An emulator started by [`spawn`]. Dropping it stops the emulator (without waiting);
/// [`RunningEmulator::stop`] stops it and waits.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), Error>>>,
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, such as `http://127.0.0.1:41234` (no trailing slash): the value of
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`, or of `GCE_METADATA_HOST` without `http://`.
    pub fn url(&self) -> String {
        base_url(self.addr)
    }

    /// Stops the emulator and waits until it has finished.
    pub async fn stop(mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => match task.await {
                Ok(result) => result,
                Err(join) => Err(Error::Serve(std::io::Error::other(join.to_string()))),
            },
            None => Ok(()),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `http://<addr>`, with an unspecified address (`0.0.0.0`, `::`) replaced by loopback so that
/// the URL can be used from this host.
fn base_url(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        match addr {
            SocketAddr::V4(_) => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
            SocketAddr::V6(_) => addr.set_ip(std::net::Ipv6Addr::LOCALHOST.into()),
        }
    }
    format!("http://{addr}")
}

fn build(
    config: EmulatorConfig,
    base_url: &str,
    stopping: watch::Receiver<bool>,
) -> Result<Router, Error> {
    config.faults.validate()?;
    let EmulatorConfig {
        signer,
        identity,
        faults,
        clock,
    } = config;
    let cloud = signer.cloud();
    let (metadata, helpers) = match signer {
        CloudSigner::Aws(signer) => (aws::routes(&signer, &identity, clock)?, Router::new()),
        CloudSigner::Azure(signer) => azure::routes(&signer, &identity, clock, base_url)?,
        CloudSigner::Gcp(signer) => gcp::routes(signer, &identity, clock)?,
    };
    let app = faults::layer(metadata, faults, stopping).merge(helpers);
    match cloud {
        // Every answer of the GCE metadata server says where it comes from, faults included.
        Cloud::Gcp => Ok(gcp::with_flavor_header(app)),
        Cloud::Aws | Cloud::Azure => Ok(app),
    }
}

async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stopping: watch::Sender<bool>,
) -> Result<(), Error> {
    let shutdown = async move {
        shutdown.await;
        // Releases the token requests that drop_token_puts holds, so the graceful shutdown
        // does not wait for them forever.
        let _ = stopping.send(true);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
}
