//! `idgate server`: flags, start-up and graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use std::sync::Arc;

use idgate_server::aia::{AiaFetcher, AiaPolicy};
use idgate_server::gcp_keys::{GcpKeySource, JwksSource};
use idgate_server::tokens::{AdminTokenOrigin, load_or_create_admin_token};
use idgate_server::trust::{
    load_aws_trust, load_azure_trust, report_aws_trust, report_azure_trust,
};
use idgate_server::{AppState, Trust};
use idgate_store::Store;

/// Flags of `idgate server`. Each also reads the environment variable shown.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to serve on.
    #[arg(long, env = "IDGATE_LISTEN", default_value = "127.0.0.1:7080")]
    listen: SocketAddr,

    /// Directory for the embedded SQLite database and generated files (created if missing).
    #[arg(long, env = "IDGATE_DATA_DIR", default_value = "./idgate-data")]
    data_dir: PathBuf,

    /// Use PostgreSQL instead of SQLite, e.g. postgres://idgate:secret@db:5432/idgate.
    /// Needed when several replicas serve the same fleet.
    #[arg(long, env = "IDGATE_POSTGRES_URL", hide_env_values = true)]
    postgres_url: Option<String>,

    /// File holding the admin token. If it does not exist, a token is generated and written
    /// there (mode 0600). Default: <data-dir>/admin-token.
    #[arg(long, env = "IDGATE_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,

    /// The URL agents use to reach this server. Default: http://<listen>.
    #[arg(long, env = "IDGATE_ACCESS_URL")]
    access_url: Option<String>,

    /// Directory of extra PEM certificates (*.pem) trusted for AWS documents of every region,
    /// in addition to the bundled regional certificates (for a new region, or a test signer).
    #[arg(long, env = "IDGATE_AWS_CERTS")]
    aws_certs: Option<PathBuf>,

    /// PEM file of extra trusted Azure roots, added to the pinned set (DigiCert Global Root
    /// G2 and G3, Microsoft RSA and ECC Root CA 2017, Microsoft TLS RSA Root G2).
    #[arg(long, env = "IDGATE_AZURE_ROOTS")]
    azure_roots: Option<PathBuf>,

    /// PEM file of extra Azure intermediate certificates (for example a newly rotated issuing
    /// CA, on a site that cannot fetch it).
    #[arg(long, env = "IDGATE_AZURE_INTERMEDIATES")]
    azure_intermediates: Option<PathBuf>,

    /// Fetch a missing Azure intermediate from the signer's AIA URL (only from
    /// www.microsoft.com, caissuers.microsoft.com or cacerts.digicert.com, public addresses
    /// only). Pass =false on air-gapped sites and use --azure-intermediates instead.
    #[arg(long, env = "IDGATE_AZURE_FETCH_INTERMEDIATES", default_value_t = true, action = clap::ArgAction::Set)]
    azure_fetch_intermediates: bool,

    /// Where Google's signing keys come from: a JWKS URL, or the path of a JWKS file
    /// (air-gapped sites, tests). Fetched keys are cached in the data directory.
    #[arg(long, env = "IDGATE_GCP_JWKS", default_value = idgate_server::gcp_keys::GOOGLE_JWKS_URL)]
    gcp_jwks: String,

    /// Accepted `aud` values of GCP identity tokens, comma-separated; replaces the default
    /// list, which is `coder` and the access URL.
    #[arg(long, env = "IDGATE_GCP_AUDIENCES", value_delimiter = ',')]
    gcp_audiences: Vec<String>,

    /// How long an issued session token stays valid, e.g. 30m, 24h, 7d.
    #[arg(long, env = "IDGATE_SESSION_TTL", default_value = "24h", value_parser = parse_duration)]
    session_ttl: Duration,
}

/// Parses `90s`, `30m`, `24h`, `7d` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 30m, 24h or 7d"))?;
    let seconds = match unit {
        "s" => Some(value),
        "m" => value.checked_mul(60),
        "h" => value.checked_mul(3600),
        "d" => value.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(|| format!("{text:?} is not a duration like 90s, 30m, 24h or 7d"))?;
    if seconds == 0 {
        return Err("the duration must be positive".into());
    }
    Ok(Duration::from_secs(seconds))
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("IDGATE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,sqlx=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .init();
}

/// Starts the server and runs it until SIGTERM or Ctrl-C.
pub async fn run(args: ServerArgs) -> Result<()> {
    init_tracing();
    let store = open_store(&args).await?;

    let admin_token_file = args
        .admin_token_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("admin-token"));
    let (admin_token, origin) = load_or_create_admin_token(&admin_token_file)?;
    match origin {
        AdminTokenOrigin::Generated => tracing::info!(
            path = %admin_token_file.display(),
            "generated a new admin token (read it from this file; it is never logged)"
        ),
        AdminTokenOrigin::Existing => {
            tracing::info!(path = %admin_token_file.display(), "admin token loaded")
        }
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; pass another address with --listen (IDGATE_LISTEN)",
                args.listen
            )
        })?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let access_url = args
        .access_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));

    let trust = load_trust(&args, &access_url)?;
    let state = AppState::new(store.clone(), &admin_token, trust, args.session_ttl);
    report_aws_trust(&state.aws_trust, state.unix_now());
    report_azure_trust(
        &state
            .azure
            .trust
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
        state.unix_now(),
    );
    tracing::info!(
        source = ?state.gcp.keys.source(),
        audiences = ?state.gcp.audiences,
        "GCP identity tokens accepted for these audiences"
    );
    let shutdown = shutdown_signal();
    tracing::info!(
        listen = %local,
        %access_url,
        session_ttl_seconds = args.session_ttl.as_secs(),
        "idgate is serving"
    );

    idgate_server::serve(listener, state, shutdown)
        .await
        .context("the server stopped with an error")?;
    store.close().await;
    tracing::info!("idgate stopped");
    Ok(())
}

/// Builds what the verifiers trust from the flags.
fn load_trust(args: &ServerArgs, access_url: &str) -> Result<Trust> {
    let aws = load_aws_trust(args.aws_certs.as_deref())?;
    let azure = load_azure_trust(
        args.azure_roots.as_deref(),
        args.azure_intermediates.as_deref(),
    )?;
    let aia = if args.azure_fetch_intermediates {
        AiaFetcher::new(
            AiaPolicy::azure(),
            Some(args.data_dir.join(idgate_server::aia::CACHE_DIR_NAME)),
        )
        .context("cannot set up fetching of Azure intermediates")?
    } else {
        AiaFetcher::disabled()
    };
    let source = if args.gcp_jwks.starts_with("http://") || args.gcp_jwks.starts_with("https://") {
        JwksSource::Url(args.gcp_jwks.clone())
    } else {
        JwksSource::File(PathBuf::from(&args.gcp_jwks))
    };
    let gcp_keys = GcpKeySource::new(source, Some(&args.data_dir))
        .context("cannot set up the GCP key source; check --gcp-jwks (IDGATE_GCP_JWKS)")?;
    let gcp_audiences = if args.gcp_audiences.is_empty() {
        vec!["coder".to_owned(), access_url.to_owned()]
    } else {
        args.gcp_audiences
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect()
    };
    Ok(Trust {
        aws,
        azure,
        aia,
        gcp_keys: Arc::new(gcp_keys),
        gcp_audiences,
    })
}

async fn open_store(args: &ServerArgs) -> Result<Store> {
    if let Some(url) = &args.postgres_url {
        let store = Store::connect_postgres(url).await.context(
            "cannot connect to PostgreSQL; check --postgres-url (IDGATE_POSTGRES_URL) and that \
             the server accepts connections",
        )?;
        tracing::info!("database: PostgreSQL");
        return Ok(store);
    }
    std::fs::create_dir_all(&args.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}; pass a writable one with --data-dir",
            args.data_dir.display()
        )
    })?;
    let path = args.data_dir.join("idgate.db");
    let store = Store::open_sqlite(&path)
        .await
        .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
    tracing::info!(path = %path.display(), "database: embedded SQLite");
    Ok(store)
}

/// A future that completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this
/// function is called, not when the future is first polled, so a signal sent right after the
/// server says it is serving is never lost.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
        Ok(stream) => Some(stream),
        Err(error) => {
            tracing::warn!(%error, signal = name, "cannot listen for the signal");
            None
        }
    };
    let terminate = listen(SignalKind::terminate(), "SIGTERM");
    let interrupt = listen(SignalKind::interrupt(), "SIGINT");
    async move {
        let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
            match stream {
                Some(mut stream) => {
                    stream.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(terminate) => {},
            () = wait(interrupt) => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

/// A future that completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idgate_server::DEFAULT_SESSION_TTL;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn default_session_ttl_matches_the_library() {
        assert_eq!(parse_duration("24h"), Ok(DEFAULT_SESSION_TTL));
    }
}
