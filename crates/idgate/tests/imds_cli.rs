//! `idgate imds` as a child process on port 0: the lines it prints, the trust files it writes,
//! an IMDSv2 exchange with it, and the keys it reuses on the next start.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_idgate");

/// How long the emulator may take to print its lines (the first start generates a key).
const DEADLINE: Duration = Duration::from_secs(60);

struct Emulator {
    child: Child,
    /// The three lines printed on start.
    lines: Vec<String>,
}

impl Emulator {
    fn start(dir: &Path, extra: &[&str]) -> Emulator {
        let mut child = Command::new(BIN)
            .args(["imds", "--cloud", "aws", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir)
            .args(extra)
            .env_remove("IDGATE_IMDS_INSTANCE_ID")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start idgate imds");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        while lines.len() < 3 {
            let line = rx
                .recv_timeout(DEADLINE)
                .expect("idgate imds prints its three lines within a minute");
            lines.push(line);
        }
        Emulator { child, lines }
    }

    fn url(&self) -> &str {
        self.lines[0]
            .strip_prefix("listening on ")
            .expect("the first line says where it listens")
    }

    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("wait");
        assert!(exit.success(), "idgate imds exited with {exit}");
    }
}

#[tokio::test]
async fn aws_emulator_prints_the_server_flags_and_serves_signed_documents() {
    let dir = tempfile::tempdir().unwrap();
    let emulator_dir = dir.path().join("imds");
    let emulator = Emulator::start(
        &emulator_dir,
        &[
            "--instance-id",
            "i-0feedface0000001",
            "--region",
            "eu-west-1",
        ],
    );
    let url = emulator.url().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with(":0"), "{url}");

    let certs = emulator_dir.join("aws-certs");
    assert_eq!(
        emulator.lines[1],
        format!("idgate server --aws-certs {}", certs.display())
    );
    assert_eq!(
        emulator.lines[2],
        format!("AWS_EC2_METADATA_SERVICE_ENDPOINT={url}")
    );
    let pem = std::fs::read_to_string(certs.join("idgate-imds.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let key = emulator_dir.join("aws/aws-signing-key.pem");
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_proxy()
        .build()
        .unwrap();
    let token = client
        .put(format!("{url}/latest/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let document = client
        .get(format!("{url}/latest/dynamic/instance-identity/document"))
        .header("X-aws-ec2-metadata-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(document.status(), 200);
    let document: serde_json::Value =
        serde_json::from_str(&document.text().await.unwrap()).unwrap();
    assert_eq!(document["instanceId"], "i-0feedface0000001");
    assert_eq!(document["region"], "eu-west-1");
    emulator.terminate();

    // The next start reuses the key and its certificate.
    let again = Emulator::start(&emulator_dir, &[]);
    assert_eq!(
        std::fs::read_to_string(certs.join("idgate-imds.pem")).unwrap(),
        pem
    );
    again.terminate();
}

#[test]
fn an_error_rate_above_one_is_refused_with_a_hint() {
    let output = Command::new(BIN)
        .args(["imds", "--cloud", "aws", "--error-rate", "1.5"])
        .output()
        .expect("run idgate imds");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a fraction from 0.0 to 1.0"),
        "{stderr}"
    );
}
