//! `idgate agent` through the real binary, against a real server and a fake AWS metadata
//! service started in the test process (the SDK's harness): `exchange` and its exit codes,
//! `doctor`, and the long-running agent from authentication to SIGTERM.

#[path = "../../idgate-sdk/tests/it/harness.rs"]
mod harness;

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{DEADLINE, FakeImds, TestServer};
use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_idgate");

/// `idgate agent ARGS` configured as a Coder template would: AWS auth, the server's URL, and
/// the metadata endpoint moved to the fake service. Variables of the developer's shell that
/// would change the outcome are removed.
fn agent(server: &TestServer, imds_url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("agent")
        .args(args)
        .env("CODER_AGENT_URL", &server.url)
        .env("CODER_AGENT_AUTH", "aws-instance-identity")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds_url)
        .env("IDGATE_LOG", "info")
        .env_remove("CODER_AGENT_NAME")
        .env_remove("CODER_AGENT_TOKEN")
        .env_remove("CODER_AGENT_TOKEN_FILE")
        .env_remove("IDGATE_AGENT_HEARTBEAT_INTERVAL")
        .env_remove("IDGATE_AGENT_SESSION_TOKEN_FILE")
        .env_remove("IDGATE_METADATA_TIMEOUT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

async fn output(mut command: Command) -> Output {
    let output = tokio::time::timeout(DEADLINE, command.output())
        .await
        .expect("the command finishes within the deadline")
        .expect("run idgate");
    Output {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The agent's manifest for `token`, straight from the server.
async fn manifest(server: &TestServer, token: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .get(format!("{}/api/v2/workspaceagents/me/manifest", server.url))
        .header("Coder-Session-Token", token)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    response.json().await.expect("manifest JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_prints_the_token_and_nothing_else() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    let agents = server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;

    let out = output(agent(&server, &imds.url, &["exchange"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let token = out.stdout.trim_end_matches('\n');
    assert!(
        !token.is_empty() && !token.contains('\n'),
        "{:?}",
        out.stdout
    );
    assert!(!out.stderr.contains(token), "the token is not logged");
    let manifest = manifest(&server, token).await;
    assert_eq!(manifest["agent_id"], agents["main"].as_str());

    let out = output(agent(&server, &imds.url, &["exchange", "--json"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json["agent_id"], agents["main"].as_str());
    assert!(json["expires_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_and_no_name_is_a_permanent_failure_that_lists_the_names() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    let agents = server.build(&ws, "i-0aaa", &["main", "dev"]).await;
    let imds = FakeImds::start("i-0aaa").await;

    let out = output(agent(&server, &imds.url, &["exchange"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stdout.is_empty(),
        "no token on failure: {:?}",
        out.stdout
    );
    assert!(out.stderr.contains("dev, main"), "{}", out.stderr);
    assert!(out.stderr.contains("CODER_AGENT_NAME"), "{}", out.stderr);

    // With the name, from the environment as a template sets it.
    let mut named = agent(&server, &imds.url, &["exchange", "--json"]);
    named.env("CODER_AGENT_NAME", "dev");
    let out = output(named).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json["agent_id"], agents["dev"].as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_tell_transient_from_permanent() {
    let server = TestServer::start().await;
    let imds = FakeImds::start("i-0aaa").await;

    // No build declares the instance: permanent.
    let out = output(agent(&server, &imds.url, &["exchange"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("instance_not_found"), "{}", out.stderr);

    // The metadata service fails: transient.
    imds.update(|b| b.document_status = Some(503));
    let out = output(agent(&server, &imds.url, &["exchange"])).await;
    assert_eq!(out.status.code(), Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("503"), "{}", out.stderr);

    // No server URL: a configuration error, permanent.
    let mut no_url = agent(&server, &imds.url, &["exchange"]);
    no_url.env_remove("CODER_AGENT_URL");
    let out = output(no_url).await;
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("CODER_AGENT_URL"), "{}", out.stderr);

    let out = output(agent(&server, &imds.url, &["exchange", "--help"])).await;
    assert!(out.stdout.contains("Exit codes"), "{}", out.stdout);
    assert!(out.stdout.contains("permanent failure"), "{}", out.stdout);
    assert!(out.stdout.contains("transient failure"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_shows_the_identity_and_explains_the_answer() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;

    let out = output(agent(&server, &imds.url, &["doctor"])).await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
    for expected in [
        "IMDSv2 token obtained",
        "i-0aaa",
        "us-east-1",
        "123456789012",
        "exchange accepted",
        "the token works: agent main",
        "All checks passed.",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected} in {}",
            out.stdout
        );
    }

    server.build(&ws, "i-0aaa", &["main", "dev"]).await;
    let out = output(agent(&server, &imds.url, &["doctor"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", out.stdout);
    assert!(out.stdout.contains("dev, main"), "{}", out.stdout);
    assert!(out.stdout.contains("CODER_AGENT_NAME="), "{}", out.stdout);

    imds.update(|b| b.hang_token = true);
    let out = output(agent(
        &server,
        &imds.url,
        &["doctor", "--metadata-timeout", "300ms"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", out.stdout);
    assert!(
        out.stdout.contains("--http-put-response-hop-limit 2"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_lookup_is_still_agent_show() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    let agents = server.build(&ws, "i-0aaa", &["main"]).await;
    let mut show = Command::new(BIN);
    show.args(["agent", "show", &agents["main"]])
        .env("IDGATE_URL", &server.url)
        .env("IDGATE_ADMIN_TOKEN_FILE", &server.admin_token_file);
    let out = output(show).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("agent main"), "{}", out.stdout);
    assert!(out.stdout.contains("i-0aaa"), "{}", out.stdout);
}

/// A running agent process and the lines it has logged so far.
struct AgentProcess {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl AgentProcess {
    fn spawn(mut command: Command) -> AgentProcess {
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("start idgate agent");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().expect("logs").push(line);
            }
        });
        AgentProcess { child, logs }
    }

    fn logs(&self) -> String {
        self.logs.lock().expect("logs").join("\n")
    }

    /// Polls until the logs contain `text`, with the deadline.
    async fn wait_for_log(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !self.logs().contains(text) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never logged {text:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().expect("running").to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill");
        assert!(kill.success());
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("the agent exits within the deadline")
            .expect("wait");
        // Let the log reader drain what the process wrote before it exited.
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !self.logs().contains("idgate agent stopped")
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let logs = self.logs();
        (status, logs)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_runs_follows_a_rebuild_and_stops_cleanly_on_sigterm() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    let first = server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("session-token");

    let process = AgentProcess::spawn(agent(
        &server,
        &imds.url,
        &[
            "--heartbeat-interval",
            "100ms",
            "--token-file",
            token_file.to_str().expect("UTF-8 path"),
        ],
    ));

    // It authenticates, reports starting then ready, and heartbeats.
    server.wait_for_lifecycle(&first["main"], "ready").await;
    process.wait_for_log("authenticated as agent main").await;
    let logs = process.logs();
    let starting = logs
        .find("state=\"starting\"")
        .or_else(|| logs.find("state=starting"));
    let ready = logs
        .find("state=\"ready\"")
        .or_else(|| logs.find("state=ready"));
    assert!(
        matches!((starting, ready), (Some(s), Some(r)) if s < r),
        "starting, then ready:\n{logs}"
    );
    assert!(logs.contains("of workspace alice/dev build 1"), "{logs}");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while server.agent(&first["main"]).await["last_seen_at"].is_null() {
        assert!(tokio::time::Instant::now() < deadline, "no heartbeat");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // The token file holds a working token, readable by its owner only.
    let first_token = std::fs::read_to_string(&token_file).expect("token file");
    let first_token = first_token.trim().to_owned();
    assert_eq!(
        manifest(&server, &first_token).await["agent_id"],
        first["main"].as_str()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&token_file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The workspace is rebuilt: the agent notices (401), authenticates again by itself, and
    // the new build's agent becomes ready.
    let second = server.build(&ws, "i-0aaa", &["main"]).await;
    server.wait_for_lifecycle(&second["main"], "ready").await;
    process.wait_for_log("build 2").await;
    let second_token = std::fs::read_to_string(&token_file).expect("token file");
    let second_token = second_token.trim().to_owned();
    assert_ne!(first_token, second_token);
    assert_eq!(
        manifest(&server, &second_token).await["agent_id"],
        second["main"].as_str()
    );

    // SIGTERM: shutting_down, off, exit 0, token file removed.
    let (status, logs) = process.terminate().await;
    assert_eq!(status.code(), Some(0), "{logs}");
    let agent = server.agent(&second["main"]).await;
    assert_eq!(agent["lifecycle_state"], "off", "{logs}");
    assert!(logs.contains("shutting_down"), "{logs}");
    assert!(!token_file.exists(), "the token file is removed on exit");
    for token in [&first_token, &second_token] {
        assert!(
            !logs.contains(token.as_str()),
            "a token was logged:\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_agent_reports_its_permanent_error_once_and_still_stops_on_sigterm() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    server.build(&ws, "i-0aaa", &["main", "dev"]).await;
    let imds = FakeImds::start("i-0aaa").await;

    let process = AgentProcess::spawn(agent(&server, &imds.url, &[]));
    process.wait_for_log("CODER_AGENT_NAME").await;
    let (status, logs) = process.terminate().await;
    assert_eq!(status.code(), Some(0), "{logs}");
    assert_eq!(
        logs.matches("authentication failed").count(),
        1,
        "reported once, not retried fast:\n{logs}"
    );
    assert!(logs.contains("dev, main"), "{logs}");
    // One exchange attempt: the next is tens of seconds away.
    let puts = imds
        .requests()
        .iter()
        .filter(|r| r.starts_with("PUT"))
        .count();
    assert_eq!(puts, 1);
}
