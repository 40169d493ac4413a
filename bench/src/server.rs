//! The real `idgate` server as a child process: finding (or building) the release binary,
//! starting it on a free loopback port with a temporary data directory, waiting until it answers
//! `GET /healthz`, sampling its memory from `/proc`, and stopping it with SIGTERM.
//!
//! The child is started with `kill_on_drop`, and its temporary directory is a [`TempDir`], so an
//! error anywhere in a benchmark still ends the server and removes its files.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use idgate_api::paths;
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// How long the server may take to answer `/healthz` after it is spawned.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// How often readiness is polled while waiting for it.
const READY_POLL: Duration = Duration::from_millis(20);

/// How long the server may take to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// Attempts at starting, in case another process takes the chosen port between our probe and
/// the server's bind.
const START_ATTEMPTS: usize = 3;

/// How often the memory sampler reads `/proc/<pid>/status`.
pub const SAMPLE_PERIOD: Duration = Duration::from_millis(100);

const BUILD_HINT: &str = "run cargo build --release -p idgate first (or pass --server-bin PATH)";

/// The `idgate` binary to benchmark: `explicit` when given; otherwise the one that
/// `cargo build --release -p idgate` produces (run here, so that the binary is never stale);
/// failing that, an `idgate` beside this benchmark's own executable.
pub async fn server_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        if !path.is_file() {
            bail!("--server-bin {} is not a file", path.display());
        }
        return Ok(path.to_path_buf());
    }
    match cargo_build_release().await {
        Ok(path) => Ok(path),
        Err(error) => {
            let sibling = std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.join("idgate")));
            match sibling {
                Some(path) if path.is_file() => {
                    eprintln!(
                        "note: could not build idgate ({error:#}); using the existing {}",
                        path.display()
                    );
                    Ok(path)
                }
                _ => Err(error.context(BUILD_HINT)),
            }
        }
    }
}

/// Runs `cargo build --release -p idgate` in this workspace and returns the binary it reports.
async fn cargo_build_release() -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // This crate sits one level below the workspace root.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().unwrap_or(manifest_dir);
    eprintln!("building the server: cargo build --release -p idgate");
    // Not `output()`: it would capture stderr too, hiding cargo's progress and errors.
    let child = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "idgate",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot run cargo")?;
    let output = child.wait_with_output().await.context("cannot run cargo")?;
    if !output.status.success() {
        bail!("cargo build --release -p idgate failed ({})", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut binary = None;
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_server = message["reason"] == "compiler-artifact"
            && message["target"]["name"] == "idgate"
            && message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if is_server && let Some(path) = message["executable"].as_str() {
            binary = Some(PathBuf::from(path));
        }
    }
    match binary {
        Some(path) => Ok(path),
        None => bail!("cargo built idgate but did not report its executable"),
    }
}

/// A running `idgate server` with its own temporary data directory.
pub struct Server {
    child: Child,
    pid: u32,
    base_url: String,
    admin_token: String,
    dir: TempDir,
}

/// How the server ended.
#[derive(Debug)]
pub struct Stopped {
    /// Its exit status.
    pub status: ExitStatus,
    /// Time from SIGTERM to exit.
    pub took: Duration,
}

impl Server {
    /// Starts `binary` as `idgate server` on a free loopback port, with embedded SQLite in a new
    /// temporary directory, trusting `aws_certificate_pem` for AWS documents of every region, and
    /// waits (up to a deadline) until it answers `GET /healthz` with 200.
    pub async fn start(
        binary: &Path,
        aws_certificate_pem: &str,
        client: &reqwest::Client,
    ) -> Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix("idgate-bench-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let certs = dir.path().join("aws-certs");
        std::fs::create_dir(&certs).context("cannot create the certificate directory")?;
        std::fs::write(certs.join("bench-signer.pem"), aws_certificate_pem)
            .context("cannot write the signer's certificate")?;
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");

        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let mut child = spawn(binary, port, &data, &certs, &log)?;
            let base_url = format!("http://127.0.0.1:{port}");
            match wait_ready(&mut child, client, &base_url).await {
                Ok(()) => {
                    let Some(pid) = child.id() else {
                        bail!("the server exited right after it became ready");
                    };
                    let token_file = data.join("admin-token");
                    let admin_token = std::fs::read_to_string(&token_file)
                        .with_context(|| format!("cannot read {}", token_file.display()))?
                        .trim()
                        .to_owned();
                    return Ok(Server {
                        child,
                        pid,
                        base_url,
                        admin_token,
                        dir,
                    });
                }
                Err(error) => {
                    // Ends the child if it is still running; `kill_on_drop` would too.
                    let _ = child.kill().await;
                    last_error = Some(error.context(format!(
                        "the server did not start; the end of its log:\n{}",
                        log_tail(&log)
                    )));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the server did not start")))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The admin token that the server generated (never printed).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The last lines of the server's log, for error reports.
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("server.log"))
    }

    /// Sends SIGTERM, waits for the server to exit (killing it after a deadline) and removes its
    /// temporary directory.
    pub async fn stop(mut self) -> Result<Stopped> {
        let started = Instant::now();
        let signalled = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if !signalled.is_ok_and(|status| status.success()) {
            // No `kill` command: SIGKILL through tokio is the only other way without unsafe code.
            self.child
                .start_kill()
                .context("cannot signal the server")?;
        }
        let status = match tokio::time::timeout(STOP_DEADLINE, self.child.wait()).await {
            Ok(status) => status.context("cannot wait for the server")?,
            Err(_) => {
                self.child.kill().await.context("cannot kill the server")?;
                bail!(
                    "the server did not exit within {} s of SIGTERM; killed it",
                    STOP_DEADLINE.as_secs()
                );
            }
        };
        let took = started.elapsed();
        self.dir
            .close()
            .context("cannot remove the server's temporary directory")?;
        Ok(Stopped { status, took })
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(probe.local_addr()?.port())
}

fn spawn(binary: &Path, port: u16, data: &Path, certs: &Path, log: &Path) -> Result<Child> {
    let stdout = std::fs::File::create(log).context("cannot create the server log")?;
    let stderr = stdout.try_clone()?;
    let mut command = Command::new(binary);
    command
        .arg("server")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .arg("--aws-certs")
        .arg(certs)
        .arg("--session-ttl")
        .arg("24h")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true);
    // Every flag also reads an IDGATE_* variable; a stray one (a PostgreSQL URL, say) would
    // change what is measured.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("IDGATE_") {
            command.env_remove(key);
        }
    }
    command
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))
}

/// Polls `GET /healthz` until it answers 200, the child exits, or the deadline passes.
async fn wait_ready(child: &mut Child, client: &reqwest::Client, base_url: &str) -> Result<()> {
    let deadline = Instant::now() + READY_DEADLINE;
    let url = format!("{base_url}{}", paths::HEALTHZ);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the server exited with {status} before answering /healthz");
        }
        let answer = client
            .get(&url)
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        if answer.is_ok_and(|response| response.status() == reqwest::StatusCode::OK) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "the server did not answer /healthz within {} s",
                READY_DEADLINE.as_secs()
            );
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A `kB` field (`VmRSS`, `VmHWM`, ...) of `/proc/<pid>/status`, in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// The peak resident set size seen in one phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhasePeak {
    /// Largest `VmRSS` sample, in KiB.
    pub peak_kib: u64,
    /// How many samples were taken.
    pub samples: usize,
}

/// Reads a process's `VmRSS` every [`SAMPLE_PERIOD`] on its own thread (so that a busy async
/// runtime cannot delay it), keeping the peak of each phase.
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    phase: Arc<AtomicUsize>,
    thread: JoinHandle<Vec<PhasePeak>>,
}

impl MemorySampler {
    /// Starts sampling `pid` in phase 0 of `phases`.
    pub fn start(pid: u32, phases: usize) -> MemorySampler {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(AtomicUsize::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            let phase = Arc::clone(&phase);
            std::thread::spawn(move || {
                let mut peaks = vec![PhasePeak::default(); phases.max(1)];
                while !stop.load(Ordering::Acquire) {
                    let index = phase.load(Ordering::Acquire).min(peaks.len() - 1);
                    if let Some(rss) = proc_status_kib(pid, "VmRSS") {
                        let peak = &mut peaks[index];
                        peak.peak_kib = peak.peak_kib.max(rss);
                        peak.samples += 1;
                    }
                    std::thread::park_timeout(SAMPLE_PERIOD);
                }
                peaks
            })
        };
        MemorySampler {
            stop,
            phase,
            thread,
        }
    }

    /// Attributes later samples to `phase`.
    pub fn set_phase(&self, phase: usize) {
        self.phase.store(phase, Ordering::Release);
    }

    /// Stops sampling and returns the peak of each phase.
    pub fn finish(self) -> Vec<PhasePeak> {
        self.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
        self.thread.join().unwrap_or_default()
    }
}
