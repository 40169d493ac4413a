//! `idgate demo`: the whole story on one machine in a few seconds, without a cloud account.
//!
//! A server on a temporary SQLite database and a cloud metadata-service emulator (whose
//! documents are really signed, by a test key the server is told to trust) run in this
//! process; a workspace is registered from an example Terraform state built into the binary
//! (two agents, `main` and `dev`, on one instance); and real `idgate agent` processes (this
//! binary) authenticate against them. Their logs are captured and the relevant lines shown as
//! part of a numbered narration: the 409 that lists the names when the name is missing, each
//! agent authenticated with its own name and token, a rebuild that the agents follow by
//! themselves, and their shutdown.
//!
//! Every wait is an event or a poll bounded by a deadline, never a fixed sleep. Session tokens
//! are read (from the agents' 0600 token files, to show that they work) but never printed.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use clap::{Args, ValueEnum};
use idgate_api::{
    Agent, AuthKind, Build, LifecycleState, Manifest, SESSION_TOKEN_HEADER, Transition, Workspace,
    paths,
};
use idgate_imds::files::{Prepared, prepare};
use idgate_imds::server::{Cloud, EmulatorConfig, Identity, RunningEmulator};
use idgate_server::aia::AiaFetcher;
use idgate_server::gcp_keys::{GOOGLE_JWKS_URL, GcpKeySource, JwksSource};
use idgate_server::trust::{load_aws_trust, load_azure_trust};
use idgate_server::{AppState, Secret, Trust};
use idgate_store::Store;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{oneshot, watch};

const AFTER_HELP: &str = "\
Everything runs on 127.0.0.1 in a temporary directory that is removed at the end (--keep
keeps it: the database, the emulator's keys and trust files, and each agent's log). The
Terraform state is the one in examples/templates/<cloud>-multi-agent/terraform.tfstate.json,
built into the binary. Exit code 0 when every step went as told, 1 otherwise.

Then do the same by hand: README.md, \"A five-minute tour\".";

/// Flags of `idgate demo`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct DemoArgs {
    /// The cloud whose metadata service is emulated: aws (EC2 IMDSv2), azure (Azure IMDS) or
    /// gcp (the GCE metadata server).
    #[arg(long, value_enum, default_value = "aws")]
    cloud: DemoCloud,

    /// Keep the temporary directory and print where it is.
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DemoCloud {
    Aws,
    Azure,
    Gcp,
}

/// How long one step may wait for something to happen (an agent to authenticate, to notice a
/// rebuild, to stop). A step takes well under a second on an idle machine.
const STEP_DEADLINE: Duration = Duration::from_secs(10);
/// How long the emulator's keys may take to generate (RSA-2048; three for Azure's test CA).
const KEYS_DEADLINE: Duration = Duration::from_secs(20);
/// The whole demo, whatever happens.
const TOTAL_DEADLINE: Duration = Duration::from_secs(30);
/// The agents' heartbeat: how fast they notice a rebuild.
const HEARTBEAT: &str = "500ms";
/// The owner of the demo workspace (Terraform states do not name one).
const OWNER: &str = "alice";

/// What differs between the clouds.
struct Scenario {
    cloud: Cloud,
    title: &'static str,
    auth: AuthKind,
    fixture: &'static str,
    fixture_path: &'static str,
    metadata: &'static str,
    proof: &'static str,
}

impl Scenario {
    fn of(cloud: DemoCloud) -> Scenario {
        match cloud {
            DemoCloud::Aws => Scenario {
                cloud: Cloud::Aws,
                title: "AWS",
                auth: AuthKind::AwsInstanceIdentity,
                fixture: include_str!(
                    "../../../examples/templates/aws-multi-agent/terraform.tfstate.json"
                ),
                fixture_path: "examples/templates/aws-multi-agent/terraform.tfstate.json",
                metadata: "EC2 instance metadata service (IMDSv2)",
                proof: "the instance identity document and its signature",
            },
            DemoCloud::Azure => Scenario {
                cloud: Cloud::Azure,
                title: "Azure",
                auth: AuthKind::AzureInstanceIdentity,
                fixture: include_str!(
                    "../../../examples/templates/azure-multi-agent/terraform.tfstate.json"
                ),
                fixture_path: "examples/templates/azure-multi-agent/terraform.tfstate.json",
                metadata: "Azure instance metadata service (IMDS)",
                proof: "the attested document (PKCS#7 signed by an Azure certificate)",
            },
            DemoCloud::Gcp => Scenario {
                cloud: Cloud::Gcp,
                title: "GCP",
                auth: AuthKind::GoogleInstanceIdentity,
                fixture: include_str!(
                    "../../../examples/templates/gcp-multi-agent/terraform.tfstate.json"
                ),
                fixture_path: "examples/templates/gcp-multi-agent/terraform.tfstate.json",
                metadata: "GCE metadata server",
                proof: "the instance identity token (a JWT signed by Google)",
            },
        }
    }

    /// The environment that points the agents (and the cloud's SDKs) at the emulator.
    fn metadata_env(&self, emulator: SocketAddr) -> Vec<(&'static str, String)> {
        match self.cloud {
            Cloud::Aws => vec![(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                format!("http://{emulator}"),
            )],
            Cloud::Azure => vec![("IDGATE_AZURE_IMDS_ENDPOINT", format!("http://{emulator}"))],
            Cloud::Gcp => vec![
                ("GCE_METADATA_HOST", emulator.to_string()),
                ("GCE_METADATA_IP", emulator.to_string()),
            ],
        }
    }
}

/// What the example state declares, as the Terraform import reads it.
struct Fixture {
    /// The state, slimmed as `idgate build create --from-tfstate` sends it.
    body: Value,
    workspace_name: String,
    resource: String,
    instance_id: String,
    agents: Vec<String>,
    identity: Identity,
}

impl Fixture {
    fn read(scenario: &Scenario) -> Result<Fixture> {
        let state: Value = serde_json::from_str(scenario.fixture)
            .with_context(|| format!("the built-in {} is not JSON", scenario.fixture_path))?;
        let import =
            idgate_terraform::import_state(&state, Transition::Start).map_err(|errors| {
                let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow!(
                    "the built-in {} does not import: {}",
                    scenario.fixture_path,
                    all.join("; ")
                )
            })?;
        let resource = import
            .resources
            .iter()
            .find(|r| r.agents.len() >= 2)
            .ok_or_else(|| {
                anyhow!(
                    "the built-in {} has no resource with two agents",
                    scenario.fixture_path
                )
            })?;
        let instance_id = resource.instance_id.clone().ok_or_else(|| {
            anyhow!(
                "the built-in {} gives {} no instance ID",
                scenario.fixture_path,
                resource.name
            )
        })?;
        ensure!(
            resource
                .agents
                .iter()
                .all(|a| a.auth == scenario.auth && a.instance_id.is_none()),
            "the agents of the built-in {} are not all {} agents of the instance",
            scenario.fixture_path,
            scenario.auth.as_str()
        );
        let mut agents: Vec<String> = resource.agents.iter().map(|a| a.name.clone()).collect();
        agents.sort();

        let values = state_values(&state, &resource.kind, &resource.name);
        let workspace_name = state_values(&state, "coder_workspace", "me")
            .and_then(|v| v["name"].as_str())
            .unwrap_or("dev")
            .to_owned();
        let identity = identity(scenario.cloud, &instance_id, values);
        Ok(Fixture {
            body: json!({
                "transition": "start",
                "terraform_state": idgate_terraform::slim(&state),
            }),
            workspace_name,
            resource: format!("{}.{}", resource.kind, resource.name),
            instance_id,
            agents,
            identity,
        })
    }
}

/// The `values` of the resource `kind.name` in a `terraform show -json` state.
fn state_values<'a>(state: &'a Value, kind: &str, name: &str) -> Option<&'a Value> {
    state["values"]["root_module"]["resources"]
        .as_array()?
        .iter()
        .find(|r| r["type"] == kind && r["name"] == name)
        .map(|r| &r["values"])
}

/// The emulated instance: the state's instance ID, and its region, account, project... where
/// the state says them, so that the signed documents describe the same machine.
fn identity(cloud: Cloud, instance_id: &str, values: Option<&Value>) -> Identity {
    let mut identity = Identity::default_for(cloud);
    instance_id.clone_into(&mut identity.instance_id);
    let text = |field: &str| {
        values
            .and_then(|v| v[field].as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match cloud {
        Cloud::Aws => {
            if let Some(zone) = text("availability_zone") {
                identity.region = zone
                    .trim_end_matches(|c: char| c.is_ascii_lowercase())
                    .to_owned();
            }
            if let Some(account) =
                text("arn").and_then(|arn| arn.split(':').nth(4).map(str::to_owned))
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
            {
                identity.account_id = account;
            }
        }
        Cloud::Azure => {
            if let Some(subscription) = text("id").and_then(|id| {
                id.strip_prefix("/subscriptions/")
                    .and_then(|rest| rest.split('/').next())
                    .map(str::to_owned)
            }) && uuid::Uuid::parse_str(&subscription).is_ok()
            {
                identity.subscription_id = subscription;
            }
        }
        Cloud::Gcp => {
            if let Some(project) = text("project") {
                identity.project_id = project;
            }
            if let Some(zone) = text("zone") {
                identity.zone = zone;
            }
            if let Some(name) = text("name") {
                identity.instance_name = name;
            }
        }
    }
    identity
}

/// The temporary directory, removed when dropped unless kept.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    fn create(cloud: Cloud, keep: bool) -> Result<WorkDir> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for attempt in 0..100u32 {
            let path = base.join(format!(
                "idgate-demo-{cloud}-{}-{:x}",
                std::process::id(),
                nanos.wrapping_add(attempt)
            ));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => return Ok(WorkDir { path, keep }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!(
                            "cannot create a temporary directory in {}; set TMPDIR to a \
                             writable directory",
                            base.display()
                        )
                    });
                }
            }
        }
        bail!(
            "cannot create a temporary directory in {}: every name tried exists",
            base.display()
        )
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The in-process server.
struct Server {
    url: String,
    store: Store,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Starts the server on 127.0.0.1:0 with a fresh SQLite database in `dir`, trusting the
    /// emulator exactly as `idgate server` with the flags `prepared` names would.
    async fn start(dir: &Path, prepared: &Prepared, admin_token: &Secret) -> Result<Server> {
        let mut aws_certs = None;
        let mut azure_roots = None;
        let mut azure_intermediates = None;
        let mut gcp_jwks = None;
        for flag in &prepared.server_flags {
            let slot = match flag.flag {
                "--aws-certs" => &mut aws_certs,
                "--azure-roots" => &mut azure_roots,
                "--azure-intermediates" => &mut azure_intermediates,
                "--gcp-jwks" => &mut gcp_jwks,
                other => {
                    bail!("the emulator asks for a server flag the demo does not know: {other}")
                }
            };
            *slot = Some(flag.path.clone());
        }
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("cannot listen on 127.0.0.1")?;
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .context("cannot read the bound address")?
        );
        // A server that never sees a GCP token never fetches Google's keys, so the default URL
        // costs nothing when another cloud is emulated.
        let source = match gcp_jwks {
            Some(path) => JwksSource::File(path),
            None => JwksSource::Url(GOOGLE_JWKS_URL.to_owned()),
        };
        let trust = Trust {
            aws: load_aws_trust(aws_certs.as_deref())?,
            azure: load_azure_trust(azure_roots.as_deref(), azure_intermediates.as_deref())?,
            aia: AiaFetcher::disabled(),
            gcp_keys: Arc::new(
                GcpKeySource::new(source, Some(dir)).context("cannot set up the GCP key source")?,
            ),
            gcp_audiences: vec![idgate_sdk::DEFAULT_GCP_AUDIENCE.to_owned(), url.clone()],
        };
        let path = dir.join("idgate.db");
        let store = Store::open_sqlite(&path)
            .await
            .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
        let state = AppState::new(
            store.clone(),
            admin_token,
            trust,
            idgate_server::DEFAULT_SESSION_TTL,
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(idgate_server::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Ok(Server {
            url,
            store,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Stops accepting, finishes the requests in flight and closes the database.
    async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(STEP_DEADLINE, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => {
                    return Err(error).context("the server stopped with an error");
                }
                Ok(Err(join)) => bail!("the server task failed: {join}"),
                Err(_) => bail!("the server did not stop within {STEP_DEADLINE:?}"),
            }
        }
        self.store.close().await;
        Ok(())
    }
}

/// The admin API, as `idgate workspace` and `idgate build` use it.
struct Admin {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl Admin {
    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> Result<T> {
        crate::admin::send_admin(request, self.token.expose(), &self.base).await
    }

    async fn create_workspace(&self, name: &str, owner: &str) -> Result<Workspace> {
        let url = format!("{}{}", self.base, paths::WORKSPACES);
        self.send(
            self.http
                .post(url)
                .json(&json!({"name": name, "owner": owner})),
        )
        .await
    }

    async fn create_build(&self, workspace: &Workspace, body: &Value) -> Result<Build> {
        let url = format!("{}{}/{}/builds", self.base, paths::WORKSPACES, workspace.id);
        self.send(self.http.post(url).json(body)).await
    }

    /// The agents of the workspace's latest build, which must be `build_number`.
    async fn agents(&self, workspace: &Workspace, build_number: i64) -> Result<Vec<Agent>> {
        let url = format!("{}{}/{}", self.base, paths::WORKSPACES, workspace.id);
        let current: Workspace = self.send(self.http.get(url)).await?;
        let build = current
            .latest_build
            .build()
            .ok_or_else(|| anyhow!("the workspace has no build"))?;
        ensure!(
            build.build_number == build_number,
            "the latest build is #{}, not #{build_number}",
            build.build_number
        );
        let mut agents: Vec<Agent> = build
            .resources
            .iter()
            .flat_map(|r| r.agents.iter().cloned())
            .collect();
        agents.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(agents)
    }

    /// Polls the workspace until every agent of build `build_number` satisfies `done`; returns
    /// them.
    async fn wait_for_agents(
        &self,
        workspace: &Workspace,
        build_number: i64,
        what: &str,
        done: impl Fn(&Agent) -> bool,
    ) -> Result<Vec<Agent>> {
        let deadline = Instant::now() + STEP_DEADLINE;
        loop {
            let agents = self.agents(workspace, build_number).await?;
            if !agents.is_empty() && agents.iter().all(&done) {
                return Ok(agents);
            }
            if Instant::now() >= deadline {
                let states: Vec<String> = agents
                    .iter()
                    .map(|a| format!("{} is {}", a.name, a.lifecycle_state.as_str()))
                    .collect();
                bail!(
                    "the server did not see {what} within {STEP_DEADLINE:?} ({})",
                    states.join(", ")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `GET /api/v2/workspaceagents/me/manifest` with a session token: the manifest, or the status.
async fn manifest(
    http: &reqwest::Client,
    server: &str,
    token: &str,
) -> Result<Result<Manifest, u16>> {
    let response = http
        .get(format!("{server}{}", paths::ME_MANIFEST))
        .header(SESSION_TOKEN_HEADER, token)
        .send()
        .await
        .map_err(|e| anyhow!("cannot reach the server at {server}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Ok(Err(status.as_u16()));
    }
    let manifest = response
        .json()
        .await
        .context("the manifest is not what was expected")?;
    Ok(Ok(manifest))
}

/// One `idgate agent` child process, its log captured line by line.
struct AgentProcess {
    /// `main`, `dev`, or `?` for the agent without a name.
    label: String,
    child: tokio::process::Child,
    /// Its log lines so far, without timestamps; closed when its stderr closes.
    lines: watch::Receiver<Vec<String>>,
    token_file: Option<PathBuf>,
}

/// How an agent process is started.
struct AgentLauncher {
    exe: PathBuf,
    server_url: String,
    auth: AuthKind,
    metadata_env: Vec<(&'static str, String)>,
    dir: PathBuf,
}

/// Variables of the user's shell that would change what the agents do.
const CLEARED_ENV: &[&str] = &[
    "CODER_AGENT_NAME",
    "CODER_AGENT_TOKEN",
    "CODER_AGENT_TOKEN_FILE",
    "IDGATE_AGENT_HEARTBEAT_INTERVAL",
    "IDGATE_AGENT_SESSION_TOKEN_FILE",
    "IDGATE_METADATA_TIMEOUT",
    "IDGATE_GCP_AUDIENCE",
    "RUST_LOG",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "IDGATE_AZURE_IMDS_ENDPOINT",
    "GCE_METADATA_HOST",
    "GCE_METADATA_IP",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

impl AgentLauncher {
    /// The command line, as a user would type it (the metadata variables included).
    fn shown_command(&self, name: Option<&str>) -> String {
        let mut words = vec![
            format!("CODER_AGENT_URL={}", self.server_url),
            format!("CODER_AGENT_AUTH={}", self.auth.as_str()),
        ];
        if let Some(name) = name {
            words.push(format!("CODER_AGENT_NAME={name}"));
        }
        for (variable, value) in self.metadata_env.iter().take(1) {
            words.push(format!("{variable}={value}"));
        }
        words.push(format!("idgate agent --heartbeat-interval {HEARTBEAT}"));
        words.join(" ")
    }

    fn spawn(&self, name: Option<&str>) -> Result<AgentProcess> {
        let label = name.unwrap_or("?").to_owned();
        let mut command = tokio::process::Command::new(&self.exe);
        command
            .arg("agent")
            .arg("--heartbeat-interval")
            .arg(HEARTBEAT)
            .env("CODER_AGENT_URL", &self.server_url)
            .env("CODER_AGENT_AUTH", self.auth.as_str())
            .env("IDGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for variable in CLEARED_ENV {
            command.env_remove(variable);
        }
        for (variable, value) in &self.metadata_env {
            command.env(variable, value);
        }
        let token_file = name.map(|name| self.dir.join(format!("agent-{name}.token")));
        if let (Some(name), Some(file)) = (name, &token_file) {
            command
                .env("CODER_AGENT_NAME", name)
                .arg("--token-file")
                .arg(file);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {} agent", self.exe.display()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| anyhow!("the agent's stderr was not captured"))?;
        let log_name = match name {
            Some(name) => format!("agent-{name}.log"),
            None => "agent-without-name.log".to_owned(),
        };
        let (lines, receiver) = watch::channel(Vec::new());
        tokio::spawn(capture(stderr, self.dir.join(log_name), lines));
        Ok(AgentProcess {
            label,
            child,
            lines: receiver,
            token_file,
        })
    }
}

/// Reads the agent's stderr until it closes: each line is appended to the log file and
/// published without its timestamp.
async fn capture(
    stderr: tokio::process::ChildStderr,
    log: PathBuf,
    lines: watch::Sender<Vec<String>>,
) {
    let mut file = tokio::fs::File::create(&log).await.ok();
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if let Some(file) = file.as_mut() {
            let _ = file.write_all(&buffer).await;
        }
        let line = String::from_utf8_lossy(&buffer);
        let line = strip_log_prefix(line.trim_end());
        lines.send_modify(|all| all.push(line));
    }
}

/// `2026-01-02T03:04:05.678Z  INFO idgate::agent: authenticated as ...` → `authenticated as
/// ...`, and `... WARN target: text` → `warning: text`.
fn strip_log_prefix(line: &str) -> String {
    let mut words = line.split_whitespace();
    let level = match (words.next(), words.next()) {
        (Some(time), Some(level))
            if time.ends_with('Z')
                && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level) =>
        {
            level
        }
        // Not a log line (a panic message, say): as it is.
        _ => return line.to_owned(),
    };
    let Some((_, message)) = line.split_once(": ") else {
        return line.to_owned();
    };
    match level {
        "WARN" => format!("warning: {message}"),
        "ERROR" => format!("error: {message}"),
        _ => message.to_owned(),
    }
}

/// The message without the ` key=value` fields that the log line ends with.
fn without_fields(message: &str) -> &str {
    let mut text = message;
    while let Some((rest, last)) = text.rsplit_once(' ') {
        let is_field = last.split_once('=').is_some_and(|(key, _)| {
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
        if !is_field {
            break;
        }
        text = rest;
    }
    text
}

/// The value of the field `key="..."` or `key=...` in a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split(' ').next(),
    }
}

impl AgentProcess {
    /// Waits until a log line from index `from` on satisfies `matches`; returns its index and
    /// text. Fails when the agent stops first or the deadline passes.
    async fn wait_for_line(
        &mut self,
        from: usize,
        what: &str,
        matches: impl Fn(&str) -> bool,
    ) -> Result<(usize, String)> {
        let deadline = tokio::time::Instant::now() + STEP_DEADLINE;
        loop {
            {
                let lines = self.lines.borrow_and_update();
                if let Some((index, line)) = lines
                    .iter()
                    .enumerate()
                    .skip(from)
                    .find(|(_, line)| matches(line))
                {
                    return Ok((index, line.clone()));
                }
            }
            match tokio::time::timeout_at(deadline, self.lines.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    let status = self.wait_exit().await.ok();
                    bail!(
                        "agent {} stopped ({}) before {what}",
                        self.label,
                        status.map_or_else(|| "still running".to_owned(), describe_status)
                    );
                }
                Err(_) => bail!(
                    "agent {}: no sign of {what} within {STEP_DEADLINE:?}",
                    self.label
                ),
            }
        }
    }

    /// Its last `n` log lines, indented, for an error report.
    fn tail(&self, n: usize) -> String {
        let lines = self.lines.borrow();
        let start = lines.len().saturating_sub(n);
        lines[start..]
            .iter()
            .map(|line| format!("    [agent {}] {line}\n", self.label))
            .collect()
    }

    /// Waits until its token file holds a token other than `previous`; returns it.
    async fn token(&self, previous: Option<&str>) -> Result<String> {
        let file = self
            .token_file
            .as_ref()
            .ok_or_else(|| anyhow!("agent {} has no token file", self.label))?;
        let deadline = Instant::now() + STEP_DEADLINE;
        loop {
            if let Ok(text) = std::fs::read_to_string(file) {
                let token = text.trim();
                if !token.is_empty() && Some(token) != previous {
                    return Ok(token.to_owned());
                }
            }
            ensure!(
                Instant::now() < deadline,
                "agent {} did not write {} within {STEP_DEADLINE:?}",
                self.label,
                if previous.is_some() {
                    "a new token"
                } else {
                    "its token file"
                }
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM (the way systemd and `docker stop` stop an agent).
    async fn terminate(&mut self) -> Result<()> {
        #[cfg(unix)]
        {
            let Some(pid) = self.child.id() else {
                return Ok(());
            };
            let status = tokio::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .stdin(Stdio::null())
                .status()
                .await
                .context("cannot run `kill` to send SIGTERM to an agent")?;
            ensure!(
                status.success(),
                "`kill -TERM {pid}` failed ({})",
                describe_status(status)
            );
        }
        #[cfg(not(unix))]
        self.child
            .start_kill()
            .context("cannot stop an agent process")?;
        Ok(())
    }

    /// Waits for it to exit.
    async fn wait_exit(&mut self) -> Result<ExitStatus> {
        match tokio::time::timeout(STEP_DEADLINE, self.child.wait()).await {
            Ok(status) => status.with_context(|| format!("cannot wait for agent {}", self.label)),
            Err(_) => bail!("agent {} did not exit within {STEP_DEADLINE:?}", self.label),
        }
    }
}

fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => format!("{status}"),
    }
}

/// Narration helpers.
fn step(number: u32, title: &str) {
    println!();
    println!("{number}. {title}");
}

fn say(text: impl AsRef<str>) {
    println!("   {}", text.as_ref());
}

/// Prose, wrapped at [`WIDTH`] columns after `indent` spaces.
fn prose(indent: usize, text: &str) {
    for line in wrap(text, WIDTH.saturating_sub(indent)) {
        println!("{:indent$}{line}", "");
    }
}

/// The width prose is wrapped at.
const WIDTH: usize = 96;

/// `text` in lines of at most `width` characters, broken at spaces (a longer word gets a line
/// of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `[agent main]`, padded to the width of the longest label.
fn tag(label: &str, width: usize) -> String {
    format!("{:<w$}", format!("[agent {label}]"), w = width + 8)
}

/// `0.4 s ago`, for a last-seen time.
fn ago(time: Option<time::OffsetDateTime>) -> String {
    match time {
        Some(time) => {
            let seconds = (time::OffsetDateTime::now_utc() - time).as_seconds_f64();
            format!("{:.1} s ago", seconds.max(0.0))
        }
        None => "never".to_owned(),
    }
}

/// Prints the server's view of the agents, as `idgate workspace show` does.
fn agent_table(agents: &[Agent], width: usize) {
    say(format!(
        "  {:<width$}  {:<36}  {:<14}  LAST HEARTBEAT",
        "AGENT", "ID", "LIFECYCLE"
    ));
    for agent in agents {
        say(format!(
            "  {:<width$}  {:<36}  {:<14}  {}",
            agent.name,
            agent.id,
            agent.lifecycle_state.as_str(),
            ago(agent.last_seen_at)
        ));
    }
}

/// Runs `idgate demo`.
pub async fn run(args: DemoArgs) -> Result<()> {
    // The server's and the emulator's logs are left out of the narration unless asked for.
    if std::env::var_os("IDGATE_LOG").is_some() {
        use tracing_subscriber::EnvFilter;
        let _ = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::from_env("IDGATE_LOG"))
            .with_writer(std::io::stderr)
            .try_init();
    }
    let started = Instant::now();
    let scenario = Scenario::of(args.cloud);
    let workdir = WorkDir::create(scenario.cloud, args.keep)?;
    let mut agents: Vec<AgentProcess> = Vec::new();
    let story = tokio::time::timeout(
        TOTAL_DEADLINE,
        story(&scenario, &workdir.path, &mut agents, started, args.keep),
    );
    let outcome = tokio::select! {
        outcome = story => match outcome {
            Ok(result) => result,
            Err(_) => Err(anyhow!("the demo did not finish within {TOTAL_DEADLINE:?}")),
        },
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    if outcome.is_err() {
        for agent in &agents {
            let tail = agent.tail(12);
            if !tail.is_empty() {
                println!();
                println!("   The last lines of agent {}:", agent.label);
                print!("{tail}");
            }
        }
    }
    // Stop the agents still running before their directory goes.
    for agent in &mut agents {
        let _ = agent.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(2), agent.child.wait()).await;
    }
    if args.keep {
        println!();
        println!(
            "Kept {}: the database, the emulator's keys and trust files, the agents' logs.",
            workdir.path.display()
        );
    }
    match outcome {
        Ok(()) => Ok(()),
        Err(error) => Err(error.context(format!(
            "the demo failed after {:.1} s",
            started.elapsed().as_secs_f64()
        ))),
    }
}

/// The narrated story; agent processes are pushed to `agents` so that the caller can report
/// their logs and stop them whatever happens.
async fn story(
    scenario: &Scenario,
    dir: &Path,
    agents: &mut Vec<AgentProcess>,
    started: Instant,
    keep: bool,
) -> Result<()> {
    let fixture = Fixture::read(scenario)?;
    intro(scenario, &fixture);
    let (server, emulator, admin_token) = start(scenario, &fixture, dir, keep).await?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(STEP_DEADLINE)
        .build()
        .context("cannot build the HTTP client")?;
    let admin = Admin {
        http: http.clone(),
        base: server.url.clone(),
        token: admin_token,
    };
    let (workspace, build_agents) = register(scenario, &fixture, &admin).await?;
    let launcher = AgentLauncher {
        exe: std::env::current_exe().context("cannot find the idgate executable")?,
        server_url: server.url.clone(),
        auth: scenario.auth,
        metadata_env: scenario.metadata_env(emulator.addr()),
        dir: dir.to_owned(),
    };
    let mut story = Story {
        scenario,
        fixture: &fixture,
        http,
        server_url: server.url.clone(),
        admin,
        launcher,
        workspace,
        agents,
        first: 0,
        marks: Vec::new(),
        width: fixture.agents.iter().map(String::len).max().unwrap_or(0),
    };
    story.without_a_name().await?;
    let tokens = story.with_their_names(&build_agents).await?;
    let rebuild = story.rebuild(&tokens).await?;
    story.shut_down(rebuild.build_number).await?;
    server.stop().await?;
    emulator
        .stop()
        .await
        .context("the metadata service emulator stopped with an error")?;
    say("Server and emulator stopped.");
    summary(scenario, &fixture, &rebuild, started);
    Ok(())
}

/// What the demo is about.
fn intro(scenario: &Scenario, fixture: &Fixture) {
    println!(
        "idgate demo: {} agents on one {} instance, with no cloud account.",
        fixture.agents.len(),
        scenario.title
    );
    println!();
    prose(
        0,
        &format!(
            "An agent proves which VM it runs on with {}, fetched from the cloud's metadata \
             service, and trades that proof for its own session token: no secret is baked into \
             the machine. Here the metadata service is an emulator; its documents are really \
             signed, by a test key that only this demo's server trusts.",
            scenario.proof
        ),
    );
}

/// Step 1: the emulator's keys and trust files, the server, the emulator.
async fn start(
    scenario: &Scenario,
    fixture: &Fixture,
    dir: &Path,
    keep: bool,
) -> Result<(Server, RunningEmulator, Secret)> {
    step(
        1,
        &format!(
            "Start the idgate server and an emulated {} metadata service",
            scenario.title
        ),
    );
    let cloud = scenario.cloud;
    let keys_dir = dir.join("imds");
    let prepared = tokio::time::timeout(
        KEYS_DEADLINE,
        tokio::task::spawn_blocking(move || prepare(&keys_dir, cloud)),
    )
    .await
    .map_err(|_| anyhow!("generating the emulator's keys took more than {KEYS_DEADLINE:?}"))?
    .context("generating the emulator's keys failed")?
    .context("cannot prepare the emulator's keys and trust files")?;
    let server_command = prepared.server_command();
    let admin_token = Secret::generate();
    let server = Server::start(dir, &prepared, &admin_token).await?;
    let mut config = EmulatorConfig::new(prepared.signer);
    config.identity = fixture.identity.clone();
    let emulator = idgate_imds::server::spawn(config)
        .await
        .context("cannot start the metadata service emulator")?;
    say(format!(
        "server     {}   (a fresh SQLite database in a temporary directory)",
        server.url
    ));
    if keep {
        say(format!("files      {}   (kept: --keep)", dir.display()));
    }
    say(format!(
        "metadata   {}   the {}, instance {}",
        emulator.url(),
        scenario.metadata,
        fixture.instance_id
    ));
    prose(
        3,
        "The server trusts the cloud's real certificates plus the emulator's test key, as this \
         command would start it:",
    );
    say(format!("  {server_command}"));
    Ok((server, emulator, admin_token))
}

/// Step 2: the workspace and its first build, from the Terraform state; returns the build's
/// agents by name.
async fn register(
    scenario: &Scenario,
    fixture: &Fixture,
    admin: &Admin,
) -> Result<(Workspace, Vec<Agent>)> {
    step(2, "Register a workspace from a Terraform state");
    say(format!(
        "{} (what `terraform show -json` prints after `terraform apply`; built into idgate)",
        scenario.fixture_path
    ));
    let workspace = admin
        .create_workspace(&fixture.workspace_name, OWNER)
        .await
        .context("cannot create the workspace")?;
    let build = admin
        .create_build(&workspace, &fixture.body)
        .await
        .context("cannot create build 1 from the Terraform state")?;
    say(format!(
        "POST {}/{{id}}/builds with {{\"transition\": \"start\", \"terraform_state\": ...}} \
         → build {} of workspace {}/{}:",
        paths::WORKSPACES,
        build.build_number,
        workspace.owner,
        workspace.name
    ));
    let agents = check_build(&build, fixture, scenario)?;
    say(format!(
        "  {}, instance {}, runs {} agents:",
        fixture.resource,
        fixture.instance_id,
        agents.len()
    ));
    let width = column_width(fixture);
    for agent in &agents {
        say(format!(
            "    {:<width$}  {}  {}",
            agent.name,
            agent.id,
            agent.auth.as_str()
        ));
    }
    prose(
        3,
        "Both agents run on the same instance: its signed identity says which VM is asking, not \
         which agent.",
    );
    Ok((workspace, agents))
}

/// The width of the agent-name column of tables.
fn column_width(fixture: &Fixture) -> usize {
    fixture
        .agents
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("AGENT".len())
}

/// Steps 3 to 6: the agents, once the server, the emulator and the workspace exist.
struct Story<'a> {
    scenario: &'a Scenario,
    fixture: &'a Fixture,
    http: reqwest::Client,
    server_url: String,
    admin: Admin,
    launcher: AgentLauncher,
    workspace: Workspace,
    /// Every agent process started (the caller reports their logs if a step fails).
    agents: &'a mut Vec<AgentProcess>,
    /// The index in `agents` of the first named agent.
    first: usize,
    /// For each named agent, the index of the first log line not narrated yet.
    marks: Vec<usize>,
    /// The width of the longest agent name.
    width: usize,
}

impl Story<'_> {
    /// The named agents, in the order of the fixture's names.
    fn named(&mut self) -> &mut [AgentProcess] {
        &mut self.agents[self.first..]
    }

    /// Step 3: an agent without a name gets the 409 that lists the names.
    async fn without_a_name(&mut self) -> Result<()> {
        step(
            3,
            "Start an agent WITHOUT its name (CODER_AGENT_NAME not set)",
        );
        say(format!("$ {}", self.launcher.shown_command(None)));
        self.agents.push(self.launcher.spawn(None)?);
        let Some(agent) = self.agents.last_mut() else {
            bail!("the agent without a name was not started");
        };
        let (_, line) = agent
            .wait_for_line(0, "the server's answer", |line| {
                // A transient failure (a slow metadata service, say) is retried within a
                // second; a permanent answer is the one to show.
                line.contains("HTTP 409")
                    || (line.contains("authentication failed") && line.contains("permanent=true"))
            })
            .await?;
        let names = &self.fixture.agents;
        ensure!(
            line.contains("HTTP 409") && names.iter().all(|name| line.contains(name.as_str())),
            "the agent without a name should get a 409 listing {}, but it logged: {line}",
            names.join(", ")
        );
        show_conflict(&line);
        agent.terminate().await?;
        let status = agent.wait_exit().await?;
        prose(
            3,
            &format!(
                "This answer cannot change by itself, so the agent would retry only every few \
                 minutes. Stopped with SIGTERM ({}).",
                describe_status(status)
            ),
        );
        Ok(())
    }

    /// Step 4: both agents with their names; each gets its own token and becomes ready.
    /// Returns their tokens, in the order of the fixture's names.
    async fn with_their_names(&mut self, build_agents: &[Agent]) -> Result<Vec<String>> {
        step(
            4,
            "Start both agents, each with its name (as the template's systemd units do)",
        );
        let names = &self.fixture.agents;
        say(format!(
            "$ {}",
            self.launcher.shown_command(Some(&names[0]))
        ));
        say(format!(
            "  (and the same with CODER_AGENT_NAME={})",
            names[1..].join(", CODER_AGENT_NAME=")
        ));
        self.first = self.agents.len();
        for name in names {
            self.agents.push(self.launcher.spawn(Some(name))?);
        }
        let width = self.width;
        let mut marks = Vec::new();
        for agent in self.named() {
            let (index, line) = agent
                .wait_for_line(0, "authentication", |line| {
                    line.starts_with("authenticated as")
                })
                .await?;
            say(format!(
                "{} {}",
                tag(&agent.label, width),
                without_fields(&line)
            ));
            marks.push(index + 1);
        }
        self.marks = marks;

        prose(
            3,
            &format!(
                "Each got its own session token (the demo asks the agents to keep it in a 0600 \
                 --token-file; it is never shown). With it, GET {} (header \
                 {SESSION_TOKEN_HEADER}) answers:",
                paths::ME_MANIFEST
            ),
        );
        let column = column_width(self.fixture);
        let mut tokens = Vec::new();
        for (agent, expected) in self.agents[self.first..].iter().zip(build_agents) {
            let token = agent.token(None).await?;
            let manifest = manifest(&self.http, &self.server_url, &token)
                .await?
                .map_err(|status| {
                    anyhow!("the token of agent {} got HTTP {status}", agent.label)
                })?;
            ensure!(
                manifest.agent_id == expected.id && manifest.agent_name == agent.label,
                "the token of agent {} opened the manifest of agent {} ({})",
                agent.label,
                manifest.agent_name,
                manifest.agent_id
            );
            say(format!(
                "  {:<column$}  agent {} ({}), workspace {}/{}, build {}, instance {}",
                agent.label,
                manifest.agent_name,
                manifest.agent_id,
                manifest.owner,
                manifest.workspace_name,
                manifest.build_number,
                manifest.instance_id.as_deref().unwrap_or("-")
            ));
            tokens.push(token);
        }
        ensure!(
            tokens
                .iter()
                .enumerate()
                .all(|(i, t)| !tokens[..i].contains(t)),
            "two agents were given the same session token"
        );
        let ready = self
            .admin
            .wait_for_agents(&self.workspace, 1, "both agents ready", |a| {
                a.lifecycle_state == LifecycleState::Ready && a.last_seen_at.is_some()
            })
            .await?;
        prose(
            3,
            &format!(
                "They report their lifecycle (starting, then ready) and a heartbeat every \
                 {HEARTBEAT}. The server's view (admin API, as `idgate workspace show` prints \
                 it):"
            ),
        );
        agent_table(&ready, column);
        Ok(tokens)
    }

    /// Step 5: a rebuild; the agents notice by themselves and become the new build's agents.
    async fn rebuild(&mut self, tokens: &[String]) -> Result<Build> {
        step(
            5,
            "Rebuild the workspace (the same state imported again, as after `terraform apply`)",
        );
        let rebuild = self
            .admin
            .create_build(&self.workspace, &self.fixture.body)
            .await
            .context("cannot create build 2")?;
        let new_agents = check_build(&rebuild, self.fixture, self.scenario)?;
        say(format!(
            "build {}: new agents on the same instance, the tokens of build {} revoked at once:",
            rebuild.build_number,
            rebuild.build_number - 1
        ));
        let column = column_width(self.fixture);
        for agent in &new_agents {
            say(format!("  {:<column$}  {}", agent.name, agent.id));
        }
        let old = manifest(&self.http, &self.server_url, &tokens[0]).await?;
        ensure!(
            matches!(old, Err(401)),
            "the old token of agent {} still works after the rebuild",
            self.fixture.agents[0]
        );
        prose(
            3,
            &format!(
                "The old token of {} now gets HTTP 401. Nobody tells the agents: at their next \
                 heartbeat they get the 401, show their proof again, and become the new build's \
                 agents.",
                self.fixture.agents[0]
            ),
        );
        let wanted = format!("build {}", rebuild.build_number);
        let width = self.width;
        let mut marks = std::mem::take(&mut self.marks);
        for (agent, mark) in self.named().iter_mut().zip(&mut marks) {
            let (index, line) = agent
                .wait_for_line(*mark, "re-authentication after the rebuild", |line| {
                    line.contains("authenticated as") && without_fields(line).ends_with(&wanted)
                })
                .await?;
            // What it logged on the way: the 401 and the new exchange.
            let between: Vec<String> = agent.lines.borrow()[*mark..index]
                .iter()
                .filter(|line| !line.starts_with("reported the lifecycle state"))
                .map(|line| without_fields(line).to_owned())
                .collect();
            for line in between {
                say(format!("{} {line}", tag(&agent.label, width)));
            }
            say(format!(
                "{} {}",
                tag(&agent.label, width),
                without_fields(&line)
            ));
            *mark = index + 1;
        }
        self.marks = marks;
        for ((agent, expected), old) in self.agents[self.first..]
            .iter()
            .zip(&new_agents)
            .zip(tokens)
        {
            let token = agent.token(Some(old)).await?;
            let manifest = manifest(&self.http, &self.server_url, &token)
                .await?
                .map_err(|status| {
                    anyhow!("the new token of agent {} got HTTP {status}", agent.label)
                })?;
            ensure!(
                manifest.agent_id == expected.id && manifest.build_number == rebuild.build_number,
                "the new token of agent {} opened agent {} of build {}",
                agent.label,
                manifest.agent_id,
                manifest.build_number
            );
        }
        let ready = self
            .admin
            .wait_for_agents(
                &self.workspace,
                rebuild.build_number,
                "the new build's agents ready",
                |a| a.lifecycle_state == LifecycleState::Ready && a.last_seen_at.is_some(),
            )
            .await?;
        say(format!(
            "The server's view of build {}:",
            rebuild.build_number
        ));
        agent_table(&ready, column);
        Ok(rebuild)
    }

    /// Step 6: SIGTERM; the agents report that they shut down, and exit.
    async fn shut_down(&mut self, build_number: i64) -> Result<()> {
        step(6, "Stop the agents with SIGTERM, then everything else");
        let width = self.width;
        let mut marks = std::mem::take(&mut self.marks);
        for (agent, mark) in self.named().iter_mut().zip(&mut marks) {
            // The server may have the ready report before the agent has logged it: from that
            // line on, the agent's log holds only what the shutdown brings.
            let (index, _) = agent
                .wait_for_line(*mark, "its ready report", |line| {
                    line.starts_with("reported the lifecycle state")
                        && field(line, "state") == Some(LifecycleState::Ready.as_str())
                })
                .await?;
            *mark = index + 1;
            agent.terminate().await?;
        }
        for (agent, mark) in self.named().iter_mut().zip(&marks) {
            let status = agent.wait_exit().await?;
            ensure!(
                status.success(),
                "agent {} exited with {}",
                agent.label,
                describe_status(status)
            );
            // Its stderr may still be draining: wait for the last line.
            agent
                .wait_for_line(*mark, "its last log line", |line| {
                    line.contains("agent stopped")
                })
                .await
                .ok();
            let reported: Vec<String> = agent.lines.borrow()[*mark..]
                .iter()
                .filter(|line| line.starts_with("reported the lifecycle state"))
                .filter_map(|line| field(line, "state").map(str::to_owned))
                .collect();
            say(format!(
                "{} reported {}, and exited ({})",
                tag(&agent.label, width),
                if reported.is_empty() {
                    "nothing".to_owned()
                } else {
                    reported.join(", then ")
                },
                describe_status(status)
            ));
        }
        self.marks = marks;
        let off = self
            .admin
            .wait_for_agents(&self.workspace, build_number, "both agents off", |a| {
                a.lifecycle_state == LifecycleState::Off
            })
            .await?;
        say(format!(
            "The server's view: {}.",
            off.iter()
                .map(|a| format!("{} is {}", a.name, a.lifecycle_state.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        Ok(())
    }
}

/// What happened, how long it took, and what to try next.
fn summary(scenario: &Scenario, fixture: &Fixture, rebuild: &Build, started: Instant) {
    println!();
    println!(
        "Done in {:.1} s. What happened:",
        started.elapsed().as_secs_f64()
    );
    for point in [
        format!(
            "No agent had a secret: each showed the {} instance's signed identity and got a \
             session token of its own.",
            scenario.title
        ),
        "Two agents on one instance: without a name, a 409 with the list of names; with \
         CODER_AGENT_NAME, each became its own agent."
            .to_owned(),
        format!(
            "A rebuild revoked the old tokens; the agents authenticated again by themselves and \
             moved to build {}.",
            rebuild.build_number
        ),
    ] {
        for (i, line) in wrap(&point, WIDTH - 4).iter().enumerate() {
            println!("  {} {line}", if i == 0 { "-" } else { " " });
        }
    }
    println!();
    println!(
        "Next, the same by hand: README.md, \"A five-minute tour\". In short, from the source tree:"
    );
    println!("  cargo run --release -- server      # in one terminal; in another:");
    println!("  idgate() {{ cargo run --release -q -- \"$@\"; }}");
    println!(
        "  idgate workspace create --name {} --owner {OWNER}",
        fixture.workspace_name
    );
    println!(
        "  idgate build create {} --from-tfstate {}",
        fixture.workspace_name, scenario.fixture_path
    );
    println!("  idgate workspace show {}", fixture.workspace_name);
    println!("  idgate imds --help                 # this metadata emulator, for your own agents");
}

/// Checks that a build holds the fixture's agents on its instance; returns them by name.
fn check_build(build: &Build, fixture: &Fixture, scenario: &Scenario) -> Result<Vec<Agent>> {
    let mut agents: Vec<Agent> = build
        .resources
        .iter()
        .flat_map(|r| r.agents.iter().cloned())
        .collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
    ensure!(
        names
            == fixture
                .agents
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        "build {} has the agents {names:?}, not {:?}",
        build.build_number,
        fixture.agents
    );
    for agent in &agents {
        ensure!(
            agent.auth == scenario.auth
                && agent.auth_instance_id.as_deref() == Some(fixture.instance_id.as_str()),
            "agent {} of build {} is not a {} agent of instance {}",
            agent.name,
            build.build_number,
            scenario.auth.as_str(),
            fixture.instance_id
        );
    }
    Ok(agents)
}

/// Shows the unnamed agent's warning: the server's 409 message and the agent's advice.
fn show_conflict(line: &str) {
    let error = field_until(line, "error", &[" advice=", " permanent="]);
    let advice = field_until(line, "advice", &[" permanent=", " retry_in="]);
    match error {
        Some(error) => {
            say(format!("[agent ?] authentication failed: {error}"));
            if let Some(advice) = advice {
                say(format!("[agent ?] what to do: {advice}"));
            }
        }
        None => say(format!("[agent ?] {line}")),
    }
    prose(
        3,
        "Both agents send the same proof, so the server cannot tell which one this is: 409 \
         Conflict, with the names to choose from.",
    );
}

/// The value of ` key=` up to the first of `ends` (for values that contain spaces).
fn field_until<'a>(line: &'a str, key: &str, ends: &[&str]) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    let end = ends
        .iter()
        .filter_map(|end| rest.find(end))
        .min()
        .unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_lose_their_prefix_and_fields() {
        let line = "2026-01-02T03:04:05.678901Z  INFO idgate::agent: the workspace was rebuilt: \
                    now authenticated as agent main (x) of workspace alice/dev build 2 \
                    previous_build=1";
        let message = strip_log_prefix(line);
        assert_eq!(
            without_fields(&message),
            "the workspace was rebuilt: now authenticated as agent main (x) of workspace \
             alice/dev build 2"
        );
        let line = "2026-01-02T03:04:05Z  INFO idgate::agent: reported the lifecycle state \
                    state=\"ready\"";
        assert_eq!(field(&strip_log_prefix(line), "state"), Some("ready"));
        let warn = "2026-01-02T03:04:05Z  WARN idgate_sdk::retry: authentication failed \
                    error=the server refused: Multiple agents. Set CODER_AGENT_NAME to one of: \
                    dev, main (HTTP 409, ambiguous_agent) advice=give each its name \
                    permanent=true retry_in=\"20.1s\"";
        assert_eq!(
            strip_log_prefix("thread 'main' panicked: x"),
            "thread 'main' panicked: x"
        );
        let message = strip_log_prefix(warn);
        assert!(message.starts_with("warning: authentication failed"));
        assert_eq!(
            field_until(&message, "error", &[" advice="]),
            Some(
                "the server refused: Multiple agents. Set CODER_AGENT_NAME to one of: dev, main \
                 (HTTP 409, ambiguous_agent)"
            )
        );
        assert_eq!(
            field_until(&message, "advice", &[" permanent="]),
            Some("give each its name")
        );
    }

    #[test]
    fn every_fixture_imports_with_two_agents_on_one_instance() {
        for cloud in [DemoCloud::Aws, DemoCloud::Azure, DemoCloud::Gcp] {
            let scenario = Scenario::of(cloud);
            let fixture = Fixture::read(&scenario).unwrap();
            assert_eq!(fixture.agents, ["dev", "main"]);
            assert_eq!(fixture.identity.instance_id, fixture.instance_id);
        }
        let aws = Fixture::read(&Scenario::of(DemoCloud::Aws)).unwrap();
        assert_eq!(aws.instance_id, "i-0f4c2d1e9a8b7c6d5");
        assert_eq!(aws.identity.region, "us-east-1");
        assert_eq!(aws.identity.account_id, "123456789012");
        let gcp = Fixture::read(&Scenario::of(DemoCloud::Gcp)).unwrap();
        assert_eq!(gcp.identity.project_id, "idgate-demo");
    }
}
