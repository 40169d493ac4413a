//! `idgate demo` through the real binary, for each cloud: it exits 0, tells the whole story
//! (the 409 with both names, each agent authenticated with its own name, the move to build 2),
//! never prints a session token, and leaves nothing behind in its temporary directory.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_idgate");

/// Far beyond the demo's own deadlines: only a hung process gets here.
const HANG: Duration = Duration::from_secs(180);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs `idgate demo ARGS` with its temporary directory under `tmp`.
fn demo(args: &[&str], tmp: &std::path::Path) -> Run {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .arg("demo")
        .args(args)
        .env("TMPDIR", tmp)
        .env_remove("IDGATE_LOG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start idgate demo");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for idgate demo") {
            break status;
        }
        if started.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "idgate demo {args:?} still runs after {HANG:?}:\n{}",
                out.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Run {
        code: status.code(),
        stdout: out.join().expect("read stdout"),
        stderr: err.join().expect("read stderr"),
        elapsed: started.elapsed(),
    }
}

/// The longest run of base64url characters (what a session token is made of: 43 of them).
fn longest_token_like_run(text: &str) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            current += 1;
            longest = longest.max(current);
        } else {
            current = 0;
        }
    }
    longest
}

fn tells_the_whole_story(cloud: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = demo(&["--cloud", cloud], tmp.path());
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.code,
        Some(0),
        "idgate demo --cloud {cloud} failed:\n{all}"
    );

    // The 409 when the name is missing, with the server's message and both names.
    assert!(all.contains("HTTP 409"), "{all}");
    assert!(
        all.contains("Set CODER_AGENT_NAME to one of: dev, main"),
        "{all}"
    );
    // Each agent authenticated as itself, then moved to build 2 by itself.
    for name in ["main", "dev"] {
        let authenticated = all.lines().any(|line| {
            line.contains(&format!("[agent {name}]"))
                && line.contains(&format!(" authenticated as agent {name} ("))
                && line.ends_with("build 1")
        });
        assert!(authenticated, "agent {name} authenticated:\n{all}");
        let moved = all.lines().any(|line| {
            line.contains(&format!("now authenticated as agent {name} ("))
                && line.ends_with("build 2")
        });
        assert!(moved, "agent {name} moved to build 2:\n{all}");
        let stopped = all.lines().any(|line| {
            line.contains(&format!("[agent {name}]"))
                && line.contains("reported shutting_down, then off")
        });
        assert!(stopped, "agent {name} reported its shutdown:\n{all}");
    }
    assert!(all.contains("The server's view of build 2"), "{all}");
    assert!(all.contains("Done in "), "{all}");
    // No session token (nor the admin token: 43 base64url characters too) anywhere.
    let longest = longest_token_like_run(&all);
    assert!(
        longest < 43,
        "a run of {longest} base64url characters looks like a token:\n{all}"
    );
    // Everything it created is gone.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read the temporary directory")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    eprintln!(
        "idgate demo --cloud {cloud}: {:.1} s",
        run.elapsed.as_secs_f64()
    );
}

#[test]
fn aws() {
    tells_the_whole_story("aws");
}

#[test]
fn azure() {
    tells_the_whole_story("azure");
}

#[test]
fn gcp() {
    tells_the_whole_story("gcp");
}

#[test]
fn keep_keeps_the_files_and_says_where() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = demo(&["--keep"], tmp.path());
    let all = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(0), "{all}");
    let kept: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read the temporary directory")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let dir = &kept[0];
    assert!(all.contains(&format!("Kept {}", dir.display())), "{all}");
    for file in ["idgate.db", "agent-main.log", "agent-dev.log"] {
        assert!(dir.join(file).is_file(), "{file} kept in {}", dir.display());
    }
    // The agents removed their token files when they stopped.
    assert!(!dir.join("agent-main.token").exists());
}

#[test]
fn an_unknown_cloud_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = demo(&["--cloud", "oracle"], tmp.path());
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("aws, azure, gcp"), "{}", run.stderr);
}
