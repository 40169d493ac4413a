//! End to end through the real binary: `idgate server` as a child process on port 0, driven by
//! the admin CLI as a newcomer would, then stopped with SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_idgate");

/// A server process and the URL it serves on.
struct Server {
    child: Child,
    url: String,
    logs: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `idgate server` on port 0 and waits (with a deadline) for the line that says
    /// where it listens.
    fn start(data_dir: &Path) -> Server {
        let mut child = Command::new(BIN)
            .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("IDGATE_LOG", "info")
            .env_remove("IDGATE_POSTGRES_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start idgate server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let url = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("the server says where it listens within a minute");
            if line.contains("idgate is serving")
                && let Some(rest) = line.split("listen=").nth(1)
            {
                let addr = rest.split_whitespace().next().expect("address");
                break format!("http://{addr}");
            }
        };
        Server {
            child,
            url,
            logs: rx,
        }
    }

    /// Sends SIGTERM and returns the exit status and the remaining log lines.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        let rest: Vec<String> = self.logs.try_iter().collect();
        (exit, rest)
    }
}

fn cli(server: &Server, data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("IDGATE_URL", &server.url)
        .env("IDGATE_ADMIN_TOKEN_FILE", data_dir.join("admin-token"))
        .output()
        .expect("run idgate")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_newcomer_registers_a_two_agent_vm_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);

    let token = std::fs::read_to_string(data.join("admin-token")).unwrap();
    assert_eq!(token.trim().len(), 43);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.join("admin-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let created = stdout(&cli(
        &server,
        &data,
        &["workspace", "create", "--name", "dev", "--owner", "alice"],
    ));
    assert!(created.starts_with("created workspace "), "{created}");

    let resources = dir.path().join("resources.json");
    std::fs::write(
        &resources,
        r#"[{"name": "dev", "type": "aws_instance", "instance_id": "i-0123456789abcdef0",
             "agents": [{"name": "main", "auth": "aws-instance-identity"},
                        {"name": "dev", "auth": "aws-instance-identity"}]}]"#,
    )
    .unwrap();
    let build = stdout(&cli(
        &server,
        &data,
        &[
            "build",
            "create",
            "dev",
            "--resources",
            resources.to_str().unwrap(),
        ],
    ));
    assert!(build.contains("created build #1 (start)"), "{build}");

    let shown = stdout(&cli(&server, &data, &["workspace", "show", "dev"]));
    assert!(shown.contains("workspace alice/dev"), "{shown}");
    for expected in [
        "main",
        "dev",
        "aws-instance-identity",
        "i-0123456789abcdef0",
        "created",
        "never",
    ] {
        assert!(shown.contains(expected), "{expected} in {shown}");
    }
    let listed = stdout(&cli(&server, &data, &["workspace", "list"]));
    assert!(
        listed.contains("alice") && listed.contains("start"),
        "{listed}"
    );
    let json = stdout(&cli(&server, &data, &["workspace", "list", "--json"]));
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        parsed[0]["latest_build"]["resources"][0]["agents"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A mistake gets a message that says what to fix, and a failing exit code.
    std::fs::write(&resources, r#"[{"name": "dev", "type": "aws_instance", "agents": [{"name": "main", "auth": "aws-instance-identity"}]}]"#).unwrap();
    let failed = cli(
        &server,
        &data,
        &[
            "build",
            "create",
            "dev",
            "--resources",
            resources.to_str().unwrap(),
        ],
    );
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("Validation failed."), "{stderr}");
    assert!(
        stderr.contains("resources[0].agents[0].instance_id"),
        "{stderr}"
    );

    let wrong_token = Command::new(BIN)
        .args([
            "workspace",
            "list",
            "--url",
            &server.url,
            "--admin-token-file",
        ])
        .arg(dir.path().join("missing-token"))
        .output()
        .unwrap();
    assert!(!wrong_token.status.success());
    assert!(String::from_utf8_lossy(&wrong_token.stderr).contains("--admin-token-file"));

    let (exit, logs) = server.terminate();
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
    assert!(
        logs.iter().any(|l| l.contains("idgate stopped")),
        "{logs:?}"
    );
    let all_logs = logs.join("\n");
    assert!(
        !all_logs.contains(token.trim()),
        "the admin token is never logged"
    );

    // The same data directory after a restart: same admin token, same workspace.
    let server = Server::start(&data);
    let again = std::fs::read_to_string(data.join("admin-token")).unwrap();
    assert_eq!(again, token);
    let shown = stdout(&cli(&server, &data, &["workspace", "show", "dev"]));
    assert!(shown.contains("latest build #1"), "{shown}");
    server.terminate();
}

#[test]
fn help_explains_the_server_flags() {
    let output = Command::new(BIN)
        .args(["server", "--help"])
        .output()
        .unwrap();
    let help = stdout(&output);
    for flag in [
        "--listen",
        "--data-dir",
        "--postgres-url",
        "--admin-token-file",
        "--access-url",
        "--aws-certs",
        "--session-ttl",
        "--azure-roots",
        "--azure-intermediates",
        "--azure-fetch-intermediates",
        "--gcp-jwks",
        "--gcp-audiences",
        "IDGATE_LISTEN",
    ] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
}

#[test]
fn a_bad_flag_value_is_a_clear_error() {
    let output = Command::new(BIN)
        .args(["server", "--session-ttl", "soon"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a duration like 90s, 30m, 24h or 7d"),
        "{stderr}"
    );
}
