//! The world of the end-to-end tests, made of real processes of the `idgate` binary on port 0:
//! a metadata-service emulator (`idgate imds`), the server (`idgate server`, SQLite in a
//! temporary data directory, trusting the emulator through the flags it prints) and any number
//! of `idgate agent` processes pointed at both through the environment, as a template would.
//!
//! Every process's output is captured line by line on a thread, so that a test can wait for a
//! line and a failure can show everything that was said. Every wait polls its condition until
//! [`DEADLINE`]; a missed deadline panics with the logs of every process. Every process is
//! killed when the [`World`] is dropped, so a failing test leaves nothing running.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_idgate");

/// How long anything a test waits for may take. Generous: key generation in a debug build on
/// a busy 2-core machine is the slow part, and a healthy run waits far less.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The interval between two looks at a condition.
const POLL: Duration = Duration::from_millis(25);

/// How often the agents heartbeat (`--heartbeat-interval`).
pub const HEARTBEAT: &str = "200ms";

/// The agents log at info, plus the retry loop's "failed again" lines (debug), which show that
/// a failure is being retried and how often.
const AGENT_LOG: &str = "info,idgate_sdk::retry=debug";

/// The cloud a world runs on: which emulator, which auth kind, which instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// EC2 IMDSv2.
    Aws,
    /// Azure IMDS attested data.
    Azure,
    /// The GCE metadata server's identity token.
    Gcp,
}

impl Cloud {
    /// The `idgate imds --cloud` value, which is also the server's `cloud` metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::Gcp => "gcp",
        }
    }

    /// The agents' auth kind (`CODER_AGENT_AUTH`).
    pub fn auth(self) -> &'static str {
        match self {
            Cloud::Aws => "aws-instance-identity",
            Cloud::Azure => "azure-instance-identity",
            Cloud::Gcp => "google-instance-identity",
        }
    }

    /// The emulated instance's ID, in the form the cloud uses.
    pub fn instance_id(self) -> &'static str {
        match self {
            Cloud::Aws => "i-0e2e0000000000042",
            Cloud::Azure => "0e2e0000-4242-4c3a-9e4d-0f1a2b3c4d5e",
            Cloud::Gcp => "4242424242424242424",
        }
    }

    /// The Terraform type of the instance resource.
    fn resource_type(self) -> &'static str {
        match self {
            Cloud::Aws => "aws_instance",
            Cloud::Azure => "azurerm_linux_virtual_machine",
            Cloud::Gcp => "google_compute_instance",
        }
    }
}

/// Lines read from a pipe by a thread, as they come, and whether the pipe was closed (the
/// process exited).
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Captured>>);

#[derive(Default)]
struct Captured {
    lines: Vec<String>,
    closed: bool,
}

impl Lines {
    /// Reads `reader` line by line on a thread until it is closed.
    fn capture(reader: impl Read + Send + 'static) -> (Lines, JoinHandle<()>) {
        let lines = Lines::default();
        let sink = lines.clone();
        let thread = std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                sink.lock().lines.push(line);
            }
            sink.lock().closed = true;
        });
        (lines, thread)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Captured> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn all(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Whether the pipe was closed: the process exited, everything it wrote has been read.
    fn closed(&self) -> bool {
        self.lock().closed
    }

    /// The first line for which `find` returns a value; `Some(Err)` once the pipe is closed
    /// without one, `None` while it may still come.
    fn find<T>(&self, find: impl FnMut(&String) -> Option<T>) -> Option<Result<T, String>> {
        let captured = self.lock();
        match captured.lines.iter().find_map(find) {
            Some(value) => Some(Ok(value)),
            None if captured.closed => Some(Err("the process exited".to_owned())),
            None => None,
        }
    }
}

/// A child process of the `idgate` binary whose stdout and stderr are captured. Killed (and
/// reaped) when dropped, unless it already exited.
pub struct Process {
    label: String,
    child: Child,
    stdout: Lines,
    stderr: Lines,
    readers: Vec<JoinHandle<()>>,
    exit: Option<ExitStatus>,
}

impl Process {
    /// Starts `idgate ARGS` with only the environment given in `env`.
    fn spawn(label: &str, args: &[String], env: &[(String, String)]) -> Process {
        let mut command = Command::new(BIN);
        command
            .args(args)
            // Only what the test says: nothing from the developer's shell (a CODER_AGENT_NAME,
            // an IDGATE_POSTGRES_URL, a proxy) changes the outcome.
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for kept in [
            "PATH",
            "HOME",
            "TMPDIR",
            "LLVM_PROFILE_FILE",
            "RUST_BACKTRACE",
        ] {
            if let Some(value) = std::env::var_os(kept) {
                command.env(kept, value);
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label} ({BIN}): {e}"));
        let (stdout, out_thread) = Lines::capture(child.stdout.take().expect("piped stdout"));
        let (stderr, err_thread) = Lines::capture(child.stderr.take().expect("piped stderr"));
        Process {
            label: label.to_owned(),
            child,
            stdout,
            stderr,
            readers: vec![out_thread, err_thread],
            exit: None,
        }
    }

    /// Whether it is still running (reaps it if it exited).
    fn running(&mut self) -> bool {
        if self.exit.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.exit = Some(status);
            self.join_readers();
        }
        self.exit.is_none()
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} ({})", self.label);
    }

    /// SIGKILL, reaped at once.
    fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.exit = Some(status);
            }
            self.join_readers();
        }
    }

    /// Once the process has exited, its pipes are closed: the readers end after reading
    /// everything it wrote.
    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    /// Everything it wrote so far, stdout then stderr.
    fn logs(&self) -> String {
        let mut text = String::new();
        for (stream, lines) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let lines = lines.all();
            if !lines.is_empty() {
                text.push_str(&format!("--- {stream}\n"));
                for line in lines {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        }
        text
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `idgate agent`.
pub struct Agent {
    /// The test's name for it ("main", "dev", "unnamed-1").
    pub label: String,
    /// Its `--token-file`.
    pub token_file: PathBuf,
    process: Process,
}

impl Agent {
    /// Its log lines (it logs to stderr).
    pub fn lines(&self) -> Vec<String> {
        self.process.stderr.all()
    }

    /// The lines that contain `text`.
    pub fn lines_with(&self, text: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|line| line.contains(text))
            .collect()
    }

    /// Its log, one string.
    pub fn log(&self) -> String {
        self.lines().join("\n")
    }

    /// The session token in its token file, if the file exists.
    pub fn token(&self) -> Option<String> {
        let text = std::fs::read_to_string(&self.token_file).ok()?;
        Some(text.trim().to_owned())
    }
}

/// What the emulator printed on start.
struct EmulatorStart {
    /// `127.0.0.1:PORT`.
    addr: String,
    /// The `idgate server` flags that trust it.
    server_flags: Vec<String>,
    /// The variables that point agents at it.
    env: Vec<(String, String)>,
}

/// One emulator, one server, the agents, and an admin client.
pub struct World {
    /// The cloud emulated.
    pub cloud: Cloud,
    /// The running agents, in the order started.
    pub agents: Vec<Agent>,
    emulator: Option<Process>,
    emulator_start: Option<EmulatorStart>,
    server: Option<Process>,
    /// `127.0.0.1:PORT` of the server (kept across restarts).
    server_addr: String,
    /// Processes that were stopped, kept for their logs.
    stopped: Vec<Process>,
    admin_token: String,
    workspace_id: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl World {
    /// Starts the emulator of `cloud` (with `emulator_flags`, e.g. faults), a server that
    /// trusts it, and creates the workspace alice/dev.
    pub async fn start(cloud: Cloud, emulator_flags: &[&str]) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let mut world = World {
            cloud,
            agents: Vec::new(),
            emulator: None,
            emulator_start: None,
            server: None,
            server_addr: "127.0.0.1:0".to_owned(),
            stopped: Vec::new(),
            admin_token: String::new(),
            workspace_id: String::new(),
            http,
            dir,
        };
        world.start_emulator("127.0.0.1:0", emulator_flags).await;
        world.start_server().await;
        let token_file = world.data_dir().join("admin-token");
        let token = std::fs::read_to_string(&token_file)
            .unwrap_or_else(|e| world.fail(&format!("no admin token in {token_file:?}: {e}")));
        world.admin_token = token.trim().to_owned();
        let (status, body) = world
            .admin_post(
                "/api/v2/workspaces",
                &json!({"name": "dev", "owner": "alice"}),
            )
            .await;
        if status != 201 {
            world.fail(&format!("creating the workspace: {status} {body}"));
        }
        world.workspace_id = body["id"].as_str().expect("workspace id").to_owned();
        world
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn emulator_dir(&self) -> PathBuf {
        self.dir.path().join("imds")
    }

    /// The server's base URL.
    pub fn server_url(&self) -> String {
        format!("http://{}", self.server_addr)
    }

    /// Starts `idgate imds` on `listen` and reads the three lines it prints.
    async fn start_emulator(&mut self, listen: &str, flags: &[&str]) {
        let mut args: Vec<String> = ["imds", "--cloud", self.cloud.name(), "--listen", listen]
            .map(str::to_owned)
            .to_vec();
        args.push("--dir".into());
        args.push(path_arg(&self.emulator_dir()));
        args.extend(["--instance-id".into(), self.cloud.instance_id().into()]);
        args.extend(flags.iter().map(|f| (*f).to_owned()));
        let env = vec![("IDGATE_LOG".to_owned(), "info".to_owned())];
        let emulator = Process::spawn(&format!("idgate imds ({listen})"), &args, &env);
        let stdout = emulator.stdout.clone();
        self.emulator = Some(emulator);
        let what = "the emulator prints its three lines";
        let lines = self
            .wait_until(what, async || {
                let lines = stdout.all();
                if lines.len() >= 3 {
                    return Some(Ok(lines));
                }
                stdout
                    .closed()
                    .then(|| Err("the process exited".to_owned()))
            })
            .await;
        let start = lines
            .and_then(|lines| parse_emulator_lines(&lines))
            .unwrap_or_else(|why| self.fail(&format!("{what}: {why}")));
        self.emulator_start = Some(start);
    }

    /// Stops the emulator (SIGTERM; it exits 0) and starts it again on the same address with
    /// `flags` and the same keys.
    pub async fn restart_emulator(&mut self, flags: &[&str]) {
        let addr = self.emulator_start.as_ref().expect("started").addr.clone();
        if let Some(emulator) = self.emulator.take() {
            let status = self.stop(emulator).await;
            if !status.success() {
                self.fail(&format!("the emulator exited with {status}"));
            }
        }
        self.start_emulator(&addr, flags).await;
        let again = &self.emulator_start.as_ref().expect("started").addr;
        self.check_eq("the emulator's address after a restart", again, &addr);
    }

    /// Starts `idgate server` on the server address (port 0 the first time, the same port
    /// after a kill) with the data directory, trusting the emulator.
    async fn start_server(&mut self) {
        let mut args: Vec<String> = vec![
            "server".into(),
            "--listen".into(),
            self.server_addr.clone(),
            "--data-dir".into(),
            path_arg(&self.data_dir()),
        ];
        let start = self.emulator_start.as_ref().expect("emulator first");
        args.extend(start.server_flags.iter().cloned());
        let server = Process::spawn(&format!("idgate server ({})", self.server_addr), &args, &[]);
        let stdout = server.stdout.clone();
        self.server = Some(server);
        let what = "the server says it is serving";
        let addr = self
            .wait_until(what, async || {
                stdout.find(|line| {
                    let rest = line.split("idgate is serving listen=").nth(1)?;
                    Some(rest.split_whitespace().next()?.to_owned())
                })
            })
            .await
            .unwrap_or_else(|why| self.fail(&format!("{what}: {why}")));
        if self.server_addr.ends_with(":0") {
            self.server_addr = addr;
        } else {
            self.check_eq(
                "the server's address after a restart",
                &addr,
                &self.server_addr,
            );
        }
    }

    /// Kills the server with SIGKILL: no graceful shutdown, as when its machine dies.
    pub fn kill_server(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.kill();
            self.stopped.push(server);
        }
    }

    /// Starts the server again on the same port with the same data directory.
    pub async fn restart_server(&mut self) {
        assert!(self.server.is_none(), "kill the server first");
        self.start_server().await;
    }

    /// SIGTERM, then waits (with the deadline) for the exit; the process is kept for its logs.
    async fn stop(&mut self, mut process: Process) -> ExitStatus {
        process.terminate();
        let deadline = Instant::now() + DEADLINE;
        while process.running() {
            if Instant::now() >= deadline {
                let label = process.label.clone();
                self.stopped.push(process);
                self.fail(&format!("{label} did not exit after SIGTERM"));
            }
            tokio::time::sleep(POLL).await;
        }
        let status = process.exit.expect("exited");
        self.stopped.push(process);
        status
    }

    /// Starts `idgate agent` as a template would: the server URL, the cloud's auth kind, the
    /// emulator's variables, `CODER_AGENT_NAME` when `name` is given, a heartbeat every
    /// [`HEARTBEAT`] and a token file.
    pub fn spawn_agent(&mut self, label: &str, name: Option<&str>) {
        let token_file = self.dir.path().join(format!("{label}.token"));
        let args: Vec<String> = vec![
            "agent".into(),
            "--heartbeat-interval".into(),
            HEARTBEAT.into(),
            "--token-file".into(),
            path_arg(&token_file),
        ];
        let start = self.emulator_start.as_ref().expect("emulator first");
        let mut env = start.env.clone();
        env.push(("CODER_AGENT_URL".into(), self.server_url()));
        env.push(("CODER_AGENT_AUTH".into(), self.cloud.auth().into()));
        env.push(("IDGATE_LOG".into(), AGENT_LOG.into()));
        if let Some(name) = name {
            env.push(("CODER_AGENT_NAME".into(), name.into()));
        }
        let process = Process::spawn(&format!("idgate agent {label}"), &args, &env);
        self.agents.push(Agent {
            label: label.to_owned(),
            token_file,
            process,
        });
    }

    /// Each agent's label, and whether its process is still running.
    pub fn agents_running(&mut self) -> Vec<(String, bool)> {
        self.agents
            .iter_mut()
            .map(|agent| (agent.label.clone(), agent.process.running()))
            .collect()
    }

    /// Sends SIGTERM to every agent, waits for each to exit, and checks that each exited 0
    /// and said so.
    pub async fn terminate_agents(&mut self) {
        for agent in &self.agents {
            agent.process.terminate();
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            let running: Vec<String> = self
                .agents
                .iter_mut()
                .filter_map(|agent| agent.process.running().then(|| agent.label.clone()))
                .collect();
            if running.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("still running after SIGTERM: {running:?}"));
            }
            tokio::time::sleep(POLL).await;
        }
        for agent in &self.agents {
            let status = agent.process.exit.expect("exited");
            if status.code() != Some(0) {
                self.fail(&format!("agent {} exited with {status}", agent.label));
            }
            if agent.lines_with("idgate agent stopped").is_empty() {
                self.fail(&format!("agent {} did not say it stopped", agent.label));
            }
        }
    }

    /// The agent with this label.
    pub fn agent(&self, label: &str) -> &Agent {
        self.agents
            .iter()
            .find(|agent| agent.label == label)
            .unwrap_or_else(|| panic!("no agent {label}"))
    }

    /// Waits until the agent with `label` has logged a line containing `text`; returns it.
    pub async fn wait_for_log(&self, label: &str, text: &str) -> String {
        let agent = self.agent(label);
        self.wait_until(&format!("agent {label} logs {text:?}"), async || {
            agent.lines_with(text).into_iter().next()
        })
        .await
    }

    /// Creates a start build of one instance (the emulator's) with these agents, all of the
    /// cloud's auth kind; returns their IDs by name.
    pub async fn build(&self, agent_names: &[&str]) -> BTreeMap<String, String> {
        let agents: Vec<Value> = agent_names
            .iter()
            .map(|name| json!({"name": name, "auth": self.cloud.auth()}))
            .collect();
        let resources = json!([{
            "name": "vm",
            "type": self.cloud.resource_type(),
            "instance_id": self.cloud.instance_id(),
            "agents": agents,
        }]);
        let path = format!("/api/v2/workspaces/{}/builds", self.workspace_id);
        let (status, body) = self
            .admin_post(
                &path,
                &json!({"transition": "start", "resources": resources}),
            )
            .await;
        if status != 201 {
            self.fail(&format!("creating a build: {status} {body}"));
        }
        let mut ids = BTreeMap::new();
        for resource in body["resources"].as_array().expect("resources") {
            for agent in resource["agents"].as_array().expect("agents") {
                ids.insert(
                    agent["name"].as_str().expect("name").to_owned(),
                    agent["id"].as_str().expect("id").to_owned(),
                );
            }
        }
        ids
    }

    async fn admin_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.server_url()))
            .bearer_auth(&self.admin_token)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| self.fail(&format!("POST {path}: {e}")));
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// The agent as the admin API shows it (lifecycle_state, last_seen_at, ...).
    pub async fn agent_record(&self, agent_id: &str) -> Value {
        let path = format!("/api/v2/workspaceagents/{agent_id}");
        let response = self
            .http
            .get(format!("{}{path}", self.server_url()))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap_or_else(|e| self.fail(&format!("GET {path}: {e}")));
        if response.status() != 200 {
            self.fail(&format!("GET {path}: {}", response.status()));
        }
        response
            .json()
            .await
            .unwrap_or_else(|e| self.fail(&format!("GET {path}: {e}")))
    }

    /// Polls the agent's record until its lifecycle state is `state`.
    pub async fn wait_for_lifecycle(&self, agent_id: &str, state: &str) -> Value {
        self.wait_until(&format!("agent {agent_id} becomes {state}"), async || {
            let record = self.agent_record(agent_id).await;
            (record["lifecycle_state"] == state).then_some(record)
        })
        .await
    }

    /// Polls the agent's record until it was seen after `after` (server time, same machine).
    pub async fn wait_for_seen_after(&self, agent_id: &str, after: OffsetDateTime) -> Value {
        self.wait_until(
            &format!("agent {agent_id} is seen after {after}"),
            async || {
                let record = self.agent_record(agent_id).await;
                let seen = record["last_seen_at"]
                    .as_str()
                    .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())?;
                (seen > after).then_some(record)
            },
        )
        .await
    }

    /// The agent's manifest, read with `token`.
    pub async fn manifest(&self, token: &str) -> Value {
        let path = "/api/v2/workspaceagents/me/manifest";
        let response = self
            .http
            .get(format!("{}{path}", self.server_url()))
            .header("Coder-Session-Token", token)
            .send()
            .await
            .unwrap_or_else(|e| self.fail(&format!("GET {path}: {e}")));
        if response.status() != 200 {
            self.fail(&format!(
                "GET {path} with a token file's token: {}",
                response.status()
            ));
        }
        response
            .json()
            .await
            .unwrap_or_else(|e| self.fail(&format!("GET {path}: {e}")))
    }

    /// The server's count of instance-identity exchanges of this cloud with `outcome` ("ok",
    /// "ambiguous_agent", ...), from `/metrics` (0 when none happened yet).
    pub async fn exchanges(&self, outcome: &str) -> u64 {
        let response = self
            .http
            .get(format!("{}/metrics", self.server_url()))
            .send()
            .await
            .unwrap_or_else(|e| self.fail(&format!("GET /metrics: {e}")));
        let text = response
            .text()
            .await
            .unwrap_or_else(|e| self.fail(&format!("GET /metrics: {e}")));
        counter(
            &text,
            "idgate_instance_identity_exchanges_total",
            &[("cloud", self.cloud.name()), ("outcome", outcome)],
        )
        .unwrap_or(0)
    }

    /// Polls `check` until it returns a value, or fails at [`DEADLINE`] with every log.
    pub async fn wait_until<T>(&self, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("timed out waiting until {what}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Fails (with the logs of every process) unless `actual == expected`.
    pub fn check_eq<A, B>(&self, what: &str, actual: A, expected: B)
    where
        A: PartialEq<B> + std::fmt::Debug,
        B: std::fmt::Debug,
    {
        if actual != expected {
            self.fail(&format!("{what}: {actual:?}, expected {expected:?}"));
        }
    }

    /// Panics with `message` and the logs of every process.
    pub fn fail(&self, message: &str) -> ! {
        panic!("{message}\n\n{}", self.dump());
    }

    /// The logs of every process, stopped ones first.
    pub fn dump(&self) -> String {
        let mut processes: Vec<&Process> = self.stopped.iter().collect();
        processes.extend(self.emulator.iter());
        processes.extend(self.server.iter());
        processes.extend(self.agents.iter().map(|agent| &agent.process));
        let mut text = String::new();
        for process in processes {
            let state = match process.exit {
                Some(status) => format!("exited: {status}"),
                None => "running".to_owned(),
            };
            text.push_str(&format!(
                "===== {} (pid {}, {state})\n{}\n",
                process.label,
                process.child.id(),
                process.logs()
            ));
        }
        text
    }
}

/// A path as an argument (the temporary directory's paths are UTF-8).
fn path_arg(path: &Path) -> String {
    path.to_str().expect("a UTF-8 temporary path").to_owned()
}

/// Reads the emulator's three lines: where it listens, the server command line that trusts it,
/// the variables that point agents at it.
fn parse_emulator_lines(lines: &[String]) -> Result<EmulatorStart, String> {
    let url = lines[0]
        .strip_prefix("listening on http://")
        .ok_or_else(|| format!("first line {:?}", lines[0]))?;
    let command = lines[1]
        .strip_prefix("idgate server ")
        .ok_or_else(|| format!("second line {:?}", lines[1]))?;
    let server_flags = shell_words(command)?;
    let mut env = Vec::new();
    for word in lines[2].split_whitespace() {
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| format!("third line {:?}", lines[2]))?;
        env.push((name.to_owned(), value.to_owned()));
    }
    if env.is_empty() {
        return Err("no variables on the third line".into());
    }
    Ok(EmulatorStart {
        addr: url.to_owned(),
        server_flags,
        env,
    })
}

/// Splits a POSIX shell command line of plain and single-quoted words (what the emulator
/// prints) into words.
fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err(format!("unterminated quote in {text:?}")),
                    }
                }
            }
            '\\' => {
                let escaped = chars
                    .next()
                    .ok_or_else(|| format!("trailing backslash in {text:?}"))?;
                word.get_or_insert_with(String::new).push(escaped);
            }
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The value of the OpenMetrics counter `name` whose labels include `labels`.
fn counter(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (label_text, value) = rest.split_once('}')?;
        let present: Vec<(&str, &str)> = label_text
            .split(',')
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                Some((key.trim(), value.trim().trim_matches('"')))
            })
            .collect();
        if !labels.iter().all(|wanted| present.contains(wanted)) {
            return None;
        }
        value
            .split_whitespace()
            .next()?
            .parse::<f64>()
            .ok()
            .map(|v| v as u64)
    })
}

/// The seconds of `retry_in="20.7s"` in a retry log line.
pub fn retry_in_seconds(line: &str) -> Option<f64> {
    let rest = line.split("retry_in=\"").nth(1)?;
    rest.split("s\"").next()?.parse().ok()
}

#[test]
fn helpers_parse_what_the_processes_print() {
    assert_eq!(
        shell_words("--azure-roots /tmp/a/roots.pem --azure-intermediates '/tmp/b c/i.pem'"),
        Ok(vec![
            "--azure-roots".to_owned(),
            "/tmp/a/roots.pem".to_owned(),
            "--azure-intermediates".to_owned(),
            "/tmp/b c/i.pem".to_owned(),
        ])
    );
    assert_eq!(shell_words("'it'\\''s'"), Ok(vec!["it's".to_owned()]));
    let metrics = "# TYPE idgate_instance_identity_exchanges counter\n\
        idgate_instance_identity_exchanges_total{cloud=\"aws\",outcome=\"ok\"} 3\n\
        idgate_instance_identity_exchanges_total{cloud=\"aws\",outcome=\"ambiguous_agent\"} 2\n";
    let name = "idgate_instance_identity_exchanges_total";
    assert_eq!(
        counter(
            metrics,
            name,
            &[("cloud", "aws"), ("outcome", "ambiguous_agent")]
        ),
        Some(2)
    );
    assert_eq!(
        counter(metrics, name, &[("cloud", "gcp"), ("outcome", "ok")]),
        None
    );
    assert_eq!(
        retry_in_seconds("WARN authentication failed permanent=true retry_in=\"20.7s\""),
        Some(20.7)
    );
}
