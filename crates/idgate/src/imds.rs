//! `idgate imds`: runs a cloud metadata-service emulator whose documents are really signed, and
//! writes the files that make `idgate server` trust it.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use idgate_imds::faults::Faults;
use idgate_imds::files::prepare;
use idgate_imds::server::{Cloud, EmulatorConfig, Identity, serve};

/// What `idgate imds --help` shows after the flags.
const AFTER_HELP: &str = "\
On start, three lines are printed on stdout:
  listening on http://HOST:PORT
  the `idgate server` command line that trusts the emulator, e.g.
    idgate server --aws-certs ./idgate-imds/aws-certs
  the environment (NAME=value ...) that points idgate agents and the cloud SDKs at it, e.g.
    AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:8169
Logs go to stderr; IDGATE_LOG=debug shows every request.

Example:
  idgate imds --cloud aws --instance-id i-0abc123 &
  idgate server --aws-certs ./idgate-imds/aws-certs";

/// Flags of `idgate imds`. Each also reads the environment variable shown.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ImdsArgs {
    /// The metadata service to emulate: aws (EC2 IMDSv2), azure (Azure IMDS) or gcp (the GCE
    /// metadata server).
    #[arg(long, env = "IDGATE_IMDS_CLOUD", value_enum)]
    cloud: CloudArg,

    /// Address to serve on. Port 0 picks a free port; the address bound is printed.
    #[arg(long, env = "IDGATE_IMDS_LISTEN", default_value = "127.0.0.1:8169")]
    listen: SocketAddr,

    /// Directory for the emulator's test CA and keys (created once, then reused) and for the
    /// trust files `idgate server` reads: aws-certs/, azure/roots.pem,
    /// azure/intermediates.pem, gcp/jwks.json.
    #[arg(long, env = "IDGATE_IMDS_DIR", default_value = "./idgate-imds")]
    dir: PathBuf,

    /// The instance's ID, which idgate matches agents by: the AWS instanceId (default
    /// i-0123456789abcdef0), the Azure vmId (default 6d7a1e5c-2b8f-4c3a-9e4d-0f1a2b3c4d5e) or
    /// the GCP numeric instance ID (default 1234567890123456789).
    #[arg(long, env = "IDGATE_IMDS_INSTANCE_ID")]
    instance_id: Option<String>,

    /// AWS: the region of the identity document (its availability zone is this plus "a").
    #[arg(long, env = "IDGATE_IMDS_REGION", default_value = "us-east-1")]
    region: String,

    /// AWS: the account ID of the identity document.
    #[arg(long, env = "IDGATE_IMDS_ACCOUNT_ID", default_value = "123456789012")]
    account_id: String,

    /// Azure: the subscription ID of the attested document.
    #[arg(
        long,
        env = "IDGATE_IMDS_SUBSCRIPTION_ID",
        default_value = "11111111-2222-3333-4444-555555555555"
    )]
    subscription_id: String,

    /// GCP: the project ID in the identity token and the metadata.
    #[arg(long, env = "IDGATE_IMDS_PROJECT_ID", default_value = "idgate-test")]
    project_id: String,

    /// GCP: the project number (also names the default service account).
    #[arg(
        long,
        env = "IDGATE_IMDS_PROJECT_NUMBER",
        default_value = "123456789012"
    )]
    project_number: String,

    /// GCP: the zone of the instance.
    #[arg(long, env = "IDGATE_IMDS_ZONE", default_value = "us-central1-a")]
    zone: String,

    /// GCP: the instance name.
    #[arg(
        long,
        env = "IDGATE_IMDS_INSTANCE_NAME",
        default_value = "idgate-test-vm"
    )]
    instance_name: String,

    /// Fault: milliseconds to wait before every metadata answer.
    #[arg(
        long,
        env = "IDGATE_IMDS_LATENCY",
        value_name = "MS",
        default_value_t = 0
    )]
    latency: u64,

    /// Fault: the fraction of metadata answers that are 500 Internal Server Error, from 0.0
    /// (none) to 1.0 (all).
    #[arg(long, env = "IDGATE_IMDS_ERROR_RATE", default_value_t = 0.0, value_parser = parse_fraction)]
    error_rate: f64,

    /// Fault (aws): never answer the IMDSv2 token request (PUT /latest/api/token); the
    /// connection stays open until the client gives up, as when the response hop limit is too
    /// small for a container.
    #[arg(long, env = "IDGATE_IMDS_DROP_TOKEN_PUTS")]
    drop_token_puts: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CloudArg {
    Aws,
    Azure,
    Gcp,
}

impl From<CloudArg> for Cloud {
    fn from(cloud: CloudArg) -> Cloud {
        match cloud {
            CloudArg::Aws => Cloud::Aws,
            CloudArg::Azure => Cloud::Azure,
            CloudArg::Gcp => Cloud::Gcp,
        }
    }
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!("{text:?} is not a fraction from 0.0 to 1.0")),
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("IDGATE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Logs go to stderr: stdout carries the lines scripts read.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

/// Listens for SIGTERM and Ctrl-C from now on; the future completes on the first of them.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutting down");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
    }
}

/// Prepares the keys and trust files, starts the emulator and runs it until SIGTERM or Ctrl-C.
pub async fn run(args: ImdsArgs) -> Result<()> {
    init_tracing();
    let cloud = Cloud::from(args.cloud);
    let dir = args.dir.clone();
    // Generating RSA keys (first start only) takes a moment: off the async threads.
    let prepared = tokio::task::spawn_blocking(move || prepare(&dir, cloud))
        .await
        .context("preparing the emulator's keys failed")?
        .with_context(|| {
            format!(
                "cannot prepare the emulator's keys and trust files in {}; pass another \
                 directory with --dir (IDGATE_IMDS_DIR)",
                args.dir.display()
            )
        })?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; pass another address with --listen (IDGATE_IMDS_LISTEN), \
                 or port 0 for any free port",
                args.listen
            )
        })?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;

    let mut identity = Identity::default_for(cloud);
    if let Some(instance_id) = &args.instance_id {
        identity.instance_id.clone_from(instance_id);
    }
    identity.region = args.region;
    identity.account_id = args.account_id;
    identity.subscription_id = args.subscription_id;
    identity.project_id = args.project_id;
    identity.project_number = args.project_number;
    identity.zone = args.zone;
    identity.instance_name = args.instance_name;

    let server_command = prepared.server_command();
    let mut config = EmulatorConfig::new(prepared.signer);
    config.identity = identity;
    config.faults = Faults {
        latency: Duration::from_millis(args.latency),
        error_rate: args.error_rate,
        drop_token_puts: args.drop_token_puts,
    };
    tracing::info!(
        %cloud,
        instance_id = %config.identity.instance_id,
        latency_ms = args.latency,
        error_rate = args.error_rate,
        drop_token_puts = args.drop_token_puts,
        "metadata service emulator starting"
    );

    // Registered before the start lines are printed, so that a signal sent as soon as they
    // are read is not missed.
    let shutdown = shutdown_signal()?;
    let url = format!("http://{local}");
    let environment = match cloud {
        Cloud::Aws => format!("AWS_EC2_METADATA_SERVICE_ENDPOINT={url}"),
        Cloud::Azure => format!("IDGATE_AZURE_IMDS_ENDPOINT={url}"),
        Cloud::Gcp => format!("GCE_METADATA_HOST={local} GCE_METADATA_IP={local}"),
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {url}")
        .and_then(|()| writeln!(stdout, "{server_command}"))
        .and_then(|()| writeln!(stdout, "{environment}"))
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    drop(stdout);

    serve(listener, config, shutdown)
        .await
        .context("the metadata service emulator stopped with an error")?;
    tracing::info!("idgate imds stopped");
    Ok(())
}
