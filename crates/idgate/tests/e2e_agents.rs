//! End to end, through real processes only: the metadata-service emulator (`idgate imds`), the
//! server (`idgate server`) and two `idgate agent` processes sharing one instance, as a
//! two-agent template runs them. Each scenario runs once per cloud (AWS, Azure, GCP):
//!
//! - without names, both agents report the server's 409 (with the names to choose from) once,
//!   keep running, and do not hammer the server;
//! - with names, each gets its own token and manifest and becomes ready;
//! - a rebuild: both move to the new build by themselves;
//! - the server killed and restarted on the same port: both reconnect;
//! - the metadata service failing for a while: both retry, then authenticate.
//!
//! Each ends with SIGTERM: every agent reports off (when it had authenticated) and exits 0.
//! No test sleeps to wait for something: every wait polls a condition with a deadline, and a
//! missed deadline prints the logs of every process (see `e2e_support`).

mod e2e_support;

use std::collections::BTreeMap;
use std::time::Duration;

use e2e_support::{Cloud, World, retry_in_seconds};
use time::OffsetDateTime;

/// Generates one test per cloud for each scenario: `scenario::aws`, `scenario::azure`,
/// `scenario::gcp`.
macro_rules! for_each_cloud {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::Cloud;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn aws() {
                super::$scenario(Cloud::Aws).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn azure() {
                super::$scenario(Cloud::Azure).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn gcp() {
                super::$scenario(Cloud::Gcp).await;
            }
        }
    )*};
}

for_each_cloud!(
    unnamed_agents_report_the_409_once_and_keep_waiting,
    named_agents_get_their_own_tokens_and_manifests,
    a_rebuild_moves_both_agents_to_the_new_build,
    both_agents_reconnect_after_the_server_is_killed_and_restarted,
    both_agents_authenticate_once_the_metadata_service_recovers,
);

/// How long the server's count of 409s is watched after both agents reported theirs. The
/// first retry of a permanent answer is at least 15 s away (the SDK's policy; checked below
/// from the delay each agent logs), while an agent that treated the 409 as transient would
/// retry within a second or two, so a few seconds tell the two apart. The assertion is on the
/// count, never on a time.
const OBSERVATION: Duration = Duration::from_secs(3);

/// The agents of the template: two on one instance.
const NAMES: [&str; 2] = ["main", "dev"];

/// Starts `main` and `dev` with their names and waits until both are ready and have said who
/// they are.
async fn start_named_agents(world: &mut World, ids: &BTreeMap<String, String>) {
    for name in NAMES {
        world.spawn_agent(name, Some(name));
    }
    for name in NAMES {
        world.wait_for_lifecycle(&ids[name], "ready").await;
        world
            .wait_for_log(
                name,
                &format!("authenticated as agent {name} ({})", ids[name]),
            )
            .await;
    }
}

/// Waits until the token file of `label` holds a token other than `old`; returns it.
async fn wait_for_token(world: &World, label: &str, old: Option<&str>) -> String {
    let agent = world.agent(label);
    world
        .wait_until(
            &format!("agent {label} writes a new token file"),
            async || agent.token().filter(|token| Some(token.as_str()) != old),
        )
        .await
}

/// SIGTERM to both named agents: each reports shutting_down then off with its current
/// token, exits 0 and removes its token file.
async fn stop_named_agents(world: &mut World, ids: &BTreeMap<String, String>) {
    world.terminate_agents().await;
    for name in NAMES {
        let agent = world.agent(name);
        for state in ["shutting_down", "off"] {
            let reported = agent
                .lines_with("reported the lifecycle state")
                .iter()
                .any(|line| line.contains(&format!("state=\"{state}\"")));
            if !reported {
                world.fail(&format!("agent {name} did not report {state}"));
            }
        }
        let record = world.agent_record(&ids[name]).await;
        if record["lifecycle_state"] != "off" {
            world.fail(&format!("agent {name} is not off: {record}"));
        }
        if agent.token_file.exists() {
            world.fail(&format!("agent {name} left its token file"));
        }
    }
}

async fn unnamed_agents_report_the_409_once_and_keep_waiting(cloud: Cloud) {
    let mut world = World::start(cloud, &[]).await;
    let ids = world.build(&NAMES).await;
    for label in ["unnamed-1", "unnamed-2"] {
        world.spawn_agent(label, None);
    }

    for label in ["unnamed-1", "unnamed-2"] {
        let line = world
            .wait_for_log(label, "authentication failed error=")
            .await;
        for expected in [
            "HTTP 409",
            "ambiguous_agent",
            "dev, main",
            "CODER_AGENT_NAME",
        ] {
            if !line.contains(expected) {
                world.fail(&format!("{label}: no {expected:?} in {line:?}"));
            }
        }
        if !line.contains("permanent=true") {
            world.fail(&format!("{label}: the 409 is not permanent: {line:?}"));
        }
        // The retry it plans is the slow one for permanent answers (15 to 30 s), not the
        // transient backoff (under a second at first).
        match retry_in_seconds(&line) {
            Some(seconds) if seconds >= 15.0 => {}
            other => world.fail(&format!("{label}: retry in {other:?} s: {line:?}")),
        }
    }
    world
        .wait_until("the server counts both 409s", async || {
            (world.exchanges("ambiguous_agent").await >= 2).then_some(())
        })
        .await;

    // Watch: the server sees no burst of retries, and the agents keep running.
    let window = tokio::time::Instant::now() + OBSERVATION;
    let mut most = 0;
    while tokio::time::Instant::now() < window {
        most = most.max(world.exchanges("ambiguous_agent").await);
        for (label, running) in world.agents_running() {
            if !running {
                world.fail(&format!("agent {label} exited on a 409"));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if most > 2 * NAMES.len() as u64 {
        world.fail(&format!(
            "the server saw {most} ambiguous exchanges from 2 agents"
        ));
    }
    for agent in &world.agents {
        let reports = agent.lines_with("authentication failed error=").len();
        let retries = agent.lines_with("authentication failed again").len();
        if reports != 1 || retries > 1 {
            world.fail(&format!(
                "agent {}: the 409 reported {reports} times and retried {retries} times",
                agent.label
            ));
        }
    }
    let ok = world.exchanges("ok").await;
    world.check_eq("exchanges that got a token", ok, 0);
    for (name, id) in &ids {
        let record = world.agent_record(id).await;
        world.check_eq(name, &record["lifecycle_state"], "created");
    }

    world.terminate_agents().await;
    for agent in &world.agents {
        if agent
            .lines_with("not authenticated: no lifecycle state to report")
            .is_empty()
        {
            world.fail(&format!(
                "agent {} did not say why it reports nothing",
                agent.label
            ));
        }
    }
}

async fn named_agents_get_their_own_tokens_and_manifests(cloud: Cloud) {
    let mut world = World::start(cloud, &[]).await;
    let ids = world.build(&NAMES).await;
    start_named_agents(&mut world, &ids).await;

    let mut tokens = BTreeMap::new();
    for name in NAMES {
        let token = wait_for_token(&world, name, None).await;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&world.agent(name).token_file)
                .expect("token file")
                .permissions()
                .mode();
            world.check_eq("the token file's mode", mode & 0o777, 0o600);
        }
        let manifest = world.manifest(&token).await;
        world.check_eq(
            "manifest agent_id",
            &manifest["agent_id"],
            ids[name].as_str(),
        );
        world.check_eq("manifest agent_name", &manifest["agent_name"], name);
        world.check_eq("manifest build_number", &manifest["build_number"], 1);
        let agent = world.agent(name);
        if agent.log().contains(&token) {
            world.fail(&format!("agent {name} logged its token"));
        }
        tokens.insert(name, token);
    }
    if tokens["main"] == tokens["dev"] {
        world.fail("both agents hold the same token");
    }

    for name in NAMES {
        world
            .wait_until(&format!("agent {name} heartbeats"), async || {
                let record = world.agent_record(&ids[name]).await;
                (!record["last_seen_at"].is_null()).then_some(())
            })
            .await;
    }
    let ok = world.exchanges("ok").await;
    world.check_eq("exchanges that got a token (one per agent)", ok, 2);
    let ambiguous = world.exchanges("ambiguous_agent").await;
    world.check_eq("ambiguous exchanges", ambiguous, 0);

    stop_named_agents(&mut world, &ids).await;
}

async fn a_rebuild_moves_both_agents_to_the_new_build(cloud: Cloud) {
    let mut world = World::start(cloud, &[]).await;
    let first = world.build(&NAMES).await;
    start_named_agents(&mut world, &first).await;
    let mut old_tokens = BTreeMap::new();
    for name in NAMES {
        old_tokens.insert(name, wait_for_token(&world, name, None).await);
    }

    let second = world.build(&NAMES).await;
    for name in NAMES {
        world.wait_for_lifecycle(&second[name], "ready").await;
        let line = world
            .wait_for_log(name, "the workspace was rebuilt: now authenticated as")
            .await;
        let expected = format!(
            "agent {name} ({}) of workspace alice/dev build 2",
            second[name]
        );
        if !line.contains(&expected) || !line.contains("previous_build=1") {
            world.fail(&format!("agent {name}: {expected:?} in {line:?}"));
        }
        let token = wait_for_token(&world, name, Some(&old_tokens[name])).await;
        let manifest = world.manifest(&token).await;
        world.check_eq(
            "manifest agent_id",
            &manifest["agent_id"],
            second[name].as_str(),
        );
        world.check_eq("manifest build_number", &manifest["build_number"], 2);
    }
    let ok = world.exchanges("ok").await;
    world.check_eq(
        "exchanges that got a token (one per agent and build)",
        ok,
        4,
    );

    stop_named_agents(&mut world, &second).await;
}

async fn both_agents_reconnect_after_the_server_is_killed_and_restarted(cloud: Cloud) {
    let mut world = World::start(cloud, &[]).await;
    let ids = world.build(&NAMES).await;
    start_named_agents(&mut world, &ids).await;

    world.kill_server();
    for name in NAMES {
        let line = world.wait_for_log(name, "heartbeat failed error=").await;
        if !line.contains("cannot reach the server") || !line.contains("permanent=false") {
            world.fail(&format!("agent {name}: an unreachable server in {line:?}"));
        }
    }
    let restarted_at = OffsetDateTime::now_utc();
    world.restart_server().await;

    for name in NAMES {
        // A heartbeat recorded by the restarted server: the agent is back.
        let record = world.wait_for_seen_after(&ids[name], restarted_at).await;
        world.check_eq(
            "lifecycle after the restart",
            &record["lifecycle_state"],
            "ready",
        );
        // Whatever token it holds now (the old one, still valid in the same database, or a
        // new one), the server takes it.
        let token = wait_for_token(&world, name, None).await;
        let manifest = world.manifest(&token).await;
        world.check_eq(
            "manifest agent_id",
            &manifest["agent_id"],
            ids[name].as_str(),
        );
        if world.agent(name).log().contains("panicked") {
            world.fail(&format!("agent {name} panicked"));
        }
    }

    stop_named_agents(&mut world, &ids).await;
}

async fn both_agents_authenticate_once_the_metadata_service_recovers(cloud: Cloud) {
    let mut world = World::start(cloud, &["--error-rate", "1.0"]).await;
    let ids = world.build(&NAMES).await;
    for name in NAMES {
        world.spawn_agent(name, Some(name));
    }

    for name in NAMES {
        let line = world
            .wait_for_log(name, "authentication failed error=")
            .await;
        if !line.contains("metadata service answered 500") || !line.contains("permanent=false") {
            world.fail(&format!("agent {name}: a transient 500 in {line:?}"));
        }
        // Retried, and not reported again.
        world
            .wait_for_log(name, "authentication failed again")
            .await;
    }
    for name in NAMES {
        let record = world.agent_record(&ids[name]).await;
        world.check_eq(
            "lifecycle before any proof",
            &record["lifecycle_state"],
            "created",
        );
    }
    let ok = world.exchanges("ok").await;
    world.check_eq("exchanges before the metadata service recovers", ok, 0);

    // The metadata service recovers (same address, same keys, no faults).
    world.restart_emulator(&[]).await;
    for name in NAMES {
        world.wait_for_lifecycle(&ids[name], "ready").await;
        world.wait_for_log(name, "authentication succeeded").await;
        world
            .wait_for_log(
                name,
                &format!("authenticated as agent {name} ({})", ids[name]),
            )
            .await;
    }
    let ok = world.exchanges("ok").await;
    world.check_eq("exchanges that got a token (one per agent)", ok, 2);

    stop_named_agents(&mut world, &ids).await;
}
