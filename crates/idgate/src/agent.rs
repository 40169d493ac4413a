//! `idgate agent`: run as a workspace agent (authenticate, read the manifest, report the
//! lifecycle, heartbeat, re-authenticate after a rebuild), or `exchange` once, or `doctor` a
//! machine; plus the admin lookup `idgate agent show ID`.
//!
//! Flags and environment variables are those of Coder's agent (`CODER_AGENT_URL`,
//! `CODER_AGENT_AUTH`, `CODER_AGENT_TOKEN`, `CODER_AGENT_TOKEN_FILE`, `CODER_AGENT_NAME`), so a
//! template written for Coder runs idgate's agent unchanged. The metadata endpoints follow the
//! clouds' SDK variables (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, `GCE_METADATA_HOST`,
//! `IDGATE_AZURE_IMDS_ENDPOINT`), read here and handed to the SDK.
//!
//! **Invariant:** no session token is ever logged; it goes only to stdout (`exchange`) or to the
//! 0600 `--token-file`.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use idgate_api::{AuthKind, LifecycleState, Manifest, paths};
use idgate_sdk::retry::retry_reporting;
use idgate_sdk::{
    AgentClient, Auth, AwsConfig, AzureConfig, Error as SdkError, FailureClass, GoogleConfig,
    MetadataTimeouts, Proof, Reporter, RetryPolicy, SessionToken, TokenProvider,
};
use tokio::sync::watch;

use crate::admin;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  an unexpected local error (for example, the token file cannot be written)
  2  permanent failure: a configuration error, or an answer that will not change by retrying
     (the server said 400, 401, 404 or 409; no such metadata path; IMDSv2 hop limit)
  3  transient failure: the server or the metadata service is unreachable, or answered 5xx or
     429; trying again later may work";

/// Exit code for a permanent failure.
pub const EXIT_PERMANENT: u8 = 2;
/// Exit code for a transient failure.
pub const EXIT_TRANSIENT: u8 = 3;

/// `idgate agent [FLAGS]` runs the agent; `idgate agent SUBCOMMAND` does one thing.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, after_help = EXIT_CODES)]
pub struct AgentArgs {
    #[command(subcommand)]
    command: Option<AgentCommand>,

    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Authenticate once and print the session token on stdout (nothing else goes to stdout).
    #[command(after_help = EXIT_CODES)]
    Exchange(ExchangeArgs),
    /// Check the metadata service, show this instance's identity (decoded, not verified), try
    /// the exchange and explain the server's answer.
    #[command(after_help = EXIT_CODES)]
    Doctor(AuthArgs),
    #[command(flatten)]
    Admin(admin::AgentCommand),
}

/// How the agent reaches the server and proves who it is (Coder's agent flags).
#[derive(Debug, Clone, Args)]
struct AuthArgs {
    /// URL of the idgate (or Coder) server.
    #[arg(long, env = "CODER_AGENT_URL")]
    agent_url: Option<String>,

    /// How to authenticate: token, aws-instance-identity, azure-instance-identity or
    /// google-instance-identity.
    #[arg(long, env = "CODER_AGENT_AUTH", default_value = "token", value_parser = auth_kind)]
    auth: AuthKind,

    /// The agent's session token (with --auth token).
    #[arg(long, env = "CODER_AGENT_TOKEN", hide_env_values = true)]
    agent_token: Option<String>,

    /// A file holding the agent's session token (with --auth token, when --agent-token is not
    /// given).
    #[arg(long, env = "CODER_AGENT_TOKEN_FILE")]
    agent_token_file: Option<PathBuf>,

    /// Which agent of this instance this is, when several run on it.
    #[arg(long, env = "CODER_AGENT_NAME")]
    agent_name: Option<String>,

    /// The audience asked for in the GCP identity token; the server must accept it.
    #[arg(long, env = "IDGATE_GCP_AUDIENCE", default_value = idgate_sdk::DEFAULT_GCP_AUDIENCE)]
    gcp_audience: String,

    /// How long to wait for the cloud's metadata service, which is on the host itself: it
    /// answers at once or not at all.
    #[arg(long, env = "IDGATE_METADATA_TIMEOUT", default_value = "5s", value_parser = parse_interval)]
    metadata_timeout: Duration,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    auth: AuthArgs,

    /// How often to tell the server that the agent is alive, e.g. 30s, 1m, 500ms.
    #[arg(long, env = "IDGATE_AGENT_HEARTBEAT_INTERVAL", default_value = "30s", value_parser = parse_interval)]
    heartbeat_interval: Duration,

    /// Keep the current session token in this file for child processes (mode 0600, replaced
    /// atomically with each new token, removed when the agent stops).
    #[arg(long, env = "IDGATE_AGENT_SESSION_TOKEN_FILE")]
    token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ExchangeArgs {
    #[command(flatten)]
    auth: AuthArgs,

    /// Print {"session_token", "agent_id", "expires_at"} instead of the bare token.
    #[arg(long)]
    json: bool,
}

fn auth_kind(text: &str) -> Result<AuthKind, String> {
    AuthKind::parse(text.trim()).ok_or_else(|| {
        let all: Vec<&str> = AuthKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("must be one of {}", all.join(", "))
    })
}

/// Parses `500ms`, `30s`, `5m`, `1h` or a bare number of seconds.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let invalid = || format!("{text:?} is not a duration like 500ms, 30s, 5m or 1h");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| invalid())?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "" | "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(invalid)?),
        "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(invalid)?),
        _ => return Err(invalid()),
    };
    if duration < Duration::from_millis(10) {
        return Err("the interval must be at least 10ms".into());
    }
    Ok(duration)
}

/// A failure with its exit code; `main` prints the message (when there is one) and exits with
/// the code.
#[derive(Debug)]
pub struct Exit {
    code: u8,
    message: String,
}

impl Exit {
    fn new(code: u8, message: impl Into<String>) -> Exit {
        Exit {
            code,
            message: message.into(),
        }
    }

    /// The process exit code.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// Whether there is anything left to print.
    pub fn has_message(&self) -> bool {
        !self.message.is_empty()
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

fn exit_code(error: &SdkError) -> u8 {
    match error.class() {
        FailureClass::Permanent => EXIT_PERMANENT,
        FailureClass::Transient => EXIT_TRANSIENT,
    }
}

/// The error and its advice, as lines for stderr.
fn explain(error: &SdkError) -> String {
    let mut text = error.to_string();
    if let Some(advice) = error.advice() {
        text.push_str("\n  what to do: ");
        text.push_str(&advice);
    }
    text
}

/// Runs `idgate agent ...`.
pub async fn run(args: AgentArgs) -> Result<()> {
    match args.command {
        None => run_agent(args.run).await,
        Some(AgentCommand::Exchange(args)) => exchange(args).await,
        Some(AgentCommand::Doctor(args)) => doctor(args).await,
        Some(AgentCommand::Admin(cmd)) => admin::agent(cmd).await,
    }
}

fn init_tracing(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("IDGATE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Logs go to stderr: stdout belongs to `exchange`'s token.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The SDK's provider for these flags; the metadata endpoints come from the environment.
fn provider(args: &AuthArgs) -> Result<TokenProvider, Exit> {
    // `vars()` would panic on a variable that is not UTF-8; such variables are not ours.
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    let url = args
        .agent_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            Exit::new(
                EXIT_PERMANENT,
                "the server URL is missing: pass --agent-url or set CODER_AGENT_URL",
            )
        })?;
    let timeouts = MetadataTimeouts {
        connect: args
            .metadata_timeout
            .min(MetadataTimeouts::default().connect),
        total: args.metadata_timeout,
    };
    let auth = match args.auth {
        AuthKind::Token => Auth::Token(static_token(args)?),
        AuthKind::AwsInstanceIdentity => Auth::Aws(AwsConfig {
            timeouts,
            ..AwsConfig::from_env_map(&env)
        }),
        AuthKind::AzureInstanceIdentity => Auth::Azure(AzureConfig {
            timeouts,
            ..AzureConfig::from_env_map(&env)
        }),
        AuthKind::GoogleInstanceIdentity => Auth::Google(GoogleConfig {
            timeouts,
            ..GoogleConfig::from_env_map(&env).with_audience(args.gcp_audience.trim())
        }),
    };
    let provider = TokenProvider::new(url, auth)
        .map_err(|e| Exit::new(EXIT_PERMANENT, explain(&e)))?
        .with_agent_name(args.agent_name.as_deref());
    Ok(provider)
}

fn static_token(args: &AuthArgs) -> Result<SessionToken, Exit> {
    let (text, origin) = match (&args.agent_token, &args.agent_token_file) {
        (Some(token), _) if !token.trim().is_empty() => (
            token.clone(),
            "--agent-token (CODER_AGENT_TOKEN)".to_owned(),
        ),
        (_, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Exit::new(
                    EXIT_PERMANENT,
                    format!("cannot read the agent token file {}: {e}", path.display()),
                )
            })?;
            (text, format!("the token file {}", path.display()))
        }
        _ => {
            return Err(Exit::new(
                EXIT_PERMANENT,
                "--auth token needs the agent's token: set CODER_AGENT_TOKEN or \
                 CODER_AGENT_TOKEN_FILE (or use an instance identity with --auth)",
            ));
        }
    };
    SessionToken::new(text)
        .map_err(|e| Exit::new(EXIT_PERMANENT, format!("the token from {origin}: {e}")))
}

// ---------------------------------------------------------------------------------------------
// idgate agent exchange

async fn exchange(args: ExchangeArgs) -> Result<()> {
    init_tracing("warn");
    let provider = provider(&args.auth)?;
    let session = match provider.session().await {
        Ok(session) => session,
        Err(error) => return Err(Exit::new(exit_code(&error), explain(&error)).into()),
    };
    if provider.is_static() {
        // Nothing was exchanged: check that the server takes the token before vouching for it.
        let client = AgentClient::new(provider.clone());
        if let Err(error) = client.manifest().await {
            return Err(Exit::new(exit_code(&error), explain(&error)).into());
        }
    }
    if args.json {
        let json = serde_json::json!({
            "session_token": session.token.expose(),
            "agent_id": session.agent_id,
            "expires_at": session.expires_at.and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339).ok()
            }),
        });
        println!("{json}");
    } else {
        println!("{}", session.token.expose());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// idgate agent (the long-running agent)

/// Becomes true once on SIGTERM or Ctrl-C.
#[derive(Clone)]
struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Installs the signal handlers now (a SIGTERM from this moment on is caught) and
    /// watches them.
    fn listen() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        #[cfg(unix)]
        let (terminate, interrupt) = {
            use tokio::signal::unix::{SignalKind, signal};
            (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            )
        };
        tokio::spawn(async move {
            #[cfg(unix)]
            tokio::select! {
                () = receive(terminate, "SIGTERM") => {},
                () = receive(interrupt, "SIGINT") => {},
            }
            #[cfg(not(unix))]
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            let _ = tx.send(true);
        });
        Shutdown(rx)
    }

    /// Completes when the signal has come (at once if it already has). Cancel-safe.
    async fn wait(&mut self) {
        while !*self.0.borrow_and_update() {
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Runs `future` unless the signal comes first.
    async fn or<T>(&mut self, future: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            value = future => Some(value),
            () = self.wait() => None,
        }
    }
}

#[cfg(unix)]
async fn receive(signal: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match signal {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}

/// The `--token-file`: rewritten atomically (a 0600 temporary file renamed over it) whenever
/// the token changes.
struct TokenFile {
    path: PathBuf,
    written: Option<SessionToken>,
}

impl TokenFile {
    fn write(&mut self, token: &SessionToken) -> Result<()> {
        if self.written.as_ref() == Some(token) {
            return Ok(());
        }
        write_private_atomically(&self.path, format!("{}\n", token.expose()).as_bytes())
            .with_context(|| format!("cannot write the token file {}", self.path.display()))?;
        self.written = Some(token.clone());
        Ok(())
    }

    fn remove(&self) {
        if self.written.is_some()
            && let Err(error) = std::fs::remove_file(&self.path)
        {
            tracing::warn!(path = %self.path.display(), %error, "cannot remove the token file");
        }
    }
}

fn write_private_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "token".into());
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&temporary)?;
        // The mode applies only to a new file; a leftover temporary file is tightened too.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn describe(manifest: &Manifest) -> String {
    format!(
        "agent {} ({}) of workspace {}/{} build {}",
        manifest.agent_name,
        manifest.agent_id,
        manifest.owner,
        manifest.workspace_name,
        manifest.build_number
    )
}

async fn run_agent(args: RunArgs) -> Result<()> {
    init_tracing("info");
    let provider = provider(&args.auth)?;
    tracing::info!(
        server = provider.server_url(),
        auth = provider.kind().as_str(),
        agent_name = provider.agent_name().unwrap_or("(not set)"),
        metadata = provider.metadata_endpoint().unwrap_or("-"),
        heartbeat_interval = ?args.heartbeat_interval,
        "idgate agent starting"
    );
    let client = Arc::new(AgentClient::new(provider));
    let mut sessions = client.subscribe();
    let mut token_file = args.token_file.clone().map(|path| TokenFile {
        path,
        written: None,
    });
    let mut shutdown = Shutdown::listen();
    let policy = RetryPolicy::default();
    let mut reporter = Reporter::new();
    let mut announced: Option<Manifest> = None;
    // Whether the current token was accepted (so that shutdown can be reported with it).
    let mut connected: bool;

    'connect: loop {
        connected = false;
        // Authenticate (if needed) and read the manifest, however long it takes.
        let Some(manifest) = shutdown
            .or(retry_reporting(
                &policy,
                &mut reporter,
                "authentication",
                || client.manifest(),
            ))
            .await
        else {
            break 'connect;
        };
        reporter.reset();
        connected = true;
        keep_token_file(&mut sessions, token_file.as_mut());

        let is_new = announced
            .as_ref()
            .is_none_or(|old| old.agent_id != manifest.agent_id);
        if is_new {
            match &announced {
                None => tracing::info!("authenticated as {}", describe(&manifest)),
                Some(old) => tracing::info!(
                    previous_build = old.build_number,
                    "the workspace was rebuilt: now authenticated as {}",
                    describe(&manifest)
                ),
            }
            for state in [LifecycleState::Starting, LifecycleState::Ready] {
                let report = retry_reporting(&policy, &mut reporter, "lifecycle report", || {
                    client.report_lifecycle(state)
                });
                if shutdown.or(report).await.is_none() {
                    break 'connect;
                }
                tracing::info!(state = state.as_str(), "reported the lifecycle state");
            }
            announced = Some(manifest);
        }

        let mut heartbeat = tokio::time::interval(args.heartbeat_interval);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let refresh_at = client.refresh_due_at().await;
            let refresh = async {
                match refresh_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.wait() => break 'connect,
                _ = heartbeat.tick() => {
                    match client.heartbeat().await {
                        Ok(()) => reporter.reset(),
                        Err(error) if error.is_permanent() => {
                            // The agent is gone (stopped, deleted) or its token is refused:
                            // back to authenticating, which reports the error with the slow
                            // permanent backoff.
                            tracing::debug!(%error, "heartbeat refused");
                            continue 'connect;
                        }
                        Err(error) => {
                            reporter.report("heartbeat", &error, Some(args.heartbeat_interval));
                        }
                    }
                }
                () = refresh => {
                    if let Err(error) = client.session().await {
                        reporter.report("token refresh", &error, None);
                    }
                }
            }
            keep_token_file(&mut sessions, token_file.as_mut());
            let current = sessions.borrow().as_ref().and_then(|s| s.agent_id);
            let known = announced.as_ref().map(|m| m.agent_id);
            if current.is_some() && current != known {
                // A 401 led to a new exchange that found another agent: the build was replaced.
                continue 'connect;
            }
        }
    }

    tracing::info!("shutting down");
    if !connected {
        tracing::info!("not authenticated: no lifecycle state to report");
    } else {
        for state in [LifecycleState::ShuttingDown, LifecycleState::Off] {
            let report =
                tokio::time::timeout(Duration::from_secs(10), client.report_lifecycle(state));
            match report.await {
                Ok(Ok(())) => {
                    tracing::info!(state = state.as_str(), "reported the lifecycle state")
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, state = state.as_str(), "cannot report the lifecycle state")
                }
                Err(_) => tracing::warn!(state = state.as_str(), "the lifecycle report timed out"),
            }
        }
    }
    if let Some(file) = &token_file {
        file.remove();
    }
    tracing::info!("idgate agent stopped");
    Ok(())
}

/// Writes the token file when the session changed.
fn keep_token_file(
    sessions: &mut watch::Receiver<Option<idgate_sdk::Session>>,
    token_file: Option<&mut TokenFile>,
) {
    let session = sessions.borrow_and_update().clone();
    if let (Some(file), Some(session)) = (token_file, session)
        && let Err(error) = file.write(&session.token)
    {
        tracing::error!("{error:#}");
    }
}

// ---------------------------------------------------------------------------------------------
// idgate agent doctor

/// The first failure decides the exit code.
struct Verdict(Option<u8>);

impl Verdict {
    fn fail(&mut self, code: u8) {
        self.0.get_or_insert(code);
    }
}

fn step(title: &str) {
    println!();
    println!("{title}");
}

fn ok(text: impl fmt::Display) {
    println!("  OK    {text}");
}

fn fail(text: impl fmt::Display) {
    println!("  FAIL  {text}");
}

fn note(text: impl fmt::Display) {
    println!("        {text}");
}

async fn doctor(args: AuthArgs) -> Result<()> {
    init_tracing("warn");
    let provider = provider(&args)?;
    let mut verdict = Verdict(None);

    println!("idgate agent doctor");
    println!("  server:      {}", provider.server_url());
    println!("  auth:        {}", provider.kind().as_str());
    println!(
        "  agent name:  {}",
        provider
            .agent_name()
            .unwrap_or("(not set: fine when one agent runs on this instance)")
    );
    if let Some(endpoint) = provider.metadata_endpoint() {
        println!("  metadata:    {endpoint}");
    }

    let mut proof: Option<Proof> = None;
    if !provider.is_static() {
        step("Metadata service");
        match provider.fetch_proof().await {
            Ok(Some(fetched)) => {
                match fetched {
                    Proof::Aws { ref pkcs7, .. } => {
                        ok("IMDSv2 token obtained");
                        ok("identity document and signature fetched");
                        if pkcs7.is_some() {
                            ok("rsa2048 (PKCS#7) fetched");
                        } else {
                            note("no rsa2048 served; the signature alone is sent");
                        }
                    }
                    Proof::Azure { .. } => ok("attested document fetched"),
                    Proof::Google { .. } => ok("identity token fetched"),
                }
                proof = Some(fetched);
            }
            Ok(None) => {}
            Err(error) => {
                fail(&error);
                advise(&error);
                verdict.fail(exit_code(&error));
            }
        }

        if let Some(proof) = &proof {
            step("Identity (decoded here, not verified: only the server verifies)");
            match proof.unverified_identity() {
                Ok(identity) => {
                    let label = match identity.cloud {
                        idgate_sdk::Cloud::Aws => "instance ID",
                        idgate_sdk::Cloud::Azure => "vmId",
                        idgate_sdk::Cloud::Google => "instance_id",
                    };
                    println!("  {label:<18} {}", identity.instance_id);
                    for (name, value) in &identity.details {
                        println!("  {name:<18} {value}");
                    }
                }
                Err(error) => {
                    fail(&error);
                    note("the server will most likely refuse it as malformed");
                }
            }
        }
    }

    step("Server");
    let health = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build the HTTP client")?
        .get(format!("{}{}", provider.server_url(), paths::HEALTHZ))
        .send()
        .await;
    match health {
        Ok(response) if response.status().is_success() => ok("reachable"),
        Ok(response) => note(format!(
            "answered {} to {} (not an idgate server, or an old one?)",
            response.status(),
            paths::HEALTHZ
        )),
        Err(error) => {
            let error = error.without_url();
            fail(format!("unreachable: {error}"));
            note("what to do: check --agent-url (CODER_AGENT_URL) and the network path to it");
            verdict.fail(EXIT_TRANSIENT);
        }
    }

    if provider.is_static() || proof.is_some() {
        doctor_exchange(&provider, proof.as_ref(), &mut verdict).await;
    } else {
        note("exchange not tried: there is no identity to send");
    }

    println!();
    match verdict.0 {
        None => {
            println!("All checks passed.");
            Ok(())
        }
        Some(code) => Err(Exit::new(code, "").into()),
    }
}

async fn doctor_exchange(provider: &TokenProvider, proof: Option<&Proof>, verdict: &mut Verdict) {
    let exchanged = match proof {
        Some(proof) => match provider.exchange_proof(proof).await {
            Ok(session) => {
                let expires = session
                    .expires_at
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_else(|| "-".into());
                ok(format!(
                    "exchange accepted: agent {}, token valid until {expires}",
                    session
                        .agent_id
                        .map(|id| id.to_string())
                        .unwrap_or_else(|| "?".into())
                ));
                Some(session)
            }
            Err(error) => {
                explain_rejection(&error);
                verdict.fail(exit_code(&error));
                None
            }
        },
        None => provider.session().await.ok(),
    };
    let Some(session) = exchanged else {
        return;
    };
    // Read the manifest with exactly this token, without a second exchange.
    let check =
        TokenProvider::new(provider.server_url(), Auth::Token(session.token)).map(AgentClient::new);
    let client = match check {
        Ok(client) => client,
        Err(error) => {
            fail(&error);
            verdict.fail(exit_code(&error));
            return;
        }
    };
    match client.manifest().await {
        Ok(manifest) => ok(format!("the token works: {}", describe(&manifest))),
        Err(error) => {
            explain_rejection(&error);
            verdict.fail(exit_code(&error));
        }
    }
}

/// The server's answer in plain words.
fn explain_rejection(error: &SdkError) {
    use idgate_api::ErrorCode;
    let names = error.candidate_names();
    match (error.status(), error.code()) {
        (Some(409), _) if !names.is_empty() => {
            fail(format!(
                "several agents run on this instance and none was named: {}",
                names.join(", ")
            ));
            note(format!(
                "set CODER_AGENT_NAME (or --agent-name) to the one this process is, e.g. \
                 CODER_AGENT_NAME={}",
                names[0]
            ));
        }
        (Some(404), Some(ErrorCode::InstanceNotFound)) => {
            fail("no current workspace build declares this instance");
            advise(error);
        }
        (Some(404), Some(ErrorCode::AgentNameNotFound)) => {
            fail("the agent name is not one of this instance's agents");
            advise(error);
        }
        (Some(401), code) => {
            fail(format!(
                "the server refused ({}): {}",
                code.map(|c| c.as_str()).unwrap_or("no code"),
                error
            ));
            advise(error);
        }
        _ => {
            fail(error);
            advise(error);
        }
    }
}

fn advise(error: &SdkError) {
    if let Some(advice) = error.advice() {
        note(format!("what to do: {advice}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_interval("15"), Ok(Duration::from_secs(15)));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("5ms").is_err());
        assert!(parse_interval("1d").is_err());
        assert!(parse_interval("s").is_err());
    }

    #[test]
    fn auth_kinds() {
        assert_eq!(
            auth_kind("aws-instance-identity"),
            Ok(AuthKind::AwsInstanceIdentity)
        );
        assert_eq!(auth_kind("token"), Ok(AuthKind::Token));
        let error = auth_kind("aws").unwrap_err();
        assert!(error.contains("google-instance-identity"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn the_token_file_is_private_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let mut file = TokenFile {
            path: path.clone(),
            written: None,
        };
        file.write(&SessionToken::new("first").unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        file.write(&SessionToken::new("second").unwrap()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second\n");
        // Only the token file is left: no temporary files.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        file.remove();
        assert!(!path.exists());
    }
}
