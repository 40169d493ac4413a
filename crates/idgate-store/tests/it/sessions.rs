//! Session tokens and token-auth agents: validity, expiry, revocation by later builds,
//! concurrency.

use idgate_api::{Manifest, Transition};
use idgate_store::{Error, TokenHash};
use uuid::Uuid;

use crate::harness::{T0, TestDb, at, resource, stored, token_agent, vm, workspace};

/// Starts workspace `name` with one AWS agent `main` on `instance_id`; returns the agent.
async fn started(db: &TestDb, name: &str, instance_id: &str) -> (Uuid, Uuid) {
    let ws = workspace(&db.store, name).await;
    let build = db
        .store
        .create_build(ws, Transition::Start, &vm(instance_id, &["main"]), T0)
        .await
        .expect("build");
    (ws, build.resources[0].agents[0].id)
}

async fn token_is_valid(db: &TestDb, token: &str, seconds: i64) -> bool {
    db.store
        .agent_by_token(&TokenHash::of(token), at(seconds))
        .await
        .expect("agent_by_token")
        .is_some()
}

pub async fn valid_and_expired_sessions(db: &TestDb) {
    let store = &db.store;
    let (ws, agent) = started(db, "dev", "i-1").await;
    store
        .create_session(agent, &TokenHash::of("s1"), at(60), at(1))
        .await
        .expect("session");
    store
        .create_session(agent, &TokenHash::of("s2"), at(120), at(2))
        .await
        .expect("second session");

    let found = store
        .agent_by_token(&TokenHash::of("s1"), at(30))
        .await
        .expect("lookup")
        .expect("valid session");
    assert_eq!(
        found.manifest,
        Manifest {
            agent_id: agent,
            agent_name: "main".into(),
            workspace_id: ws,
            workspace_name: "dev".into(),
            owner: "alice".into(),
            build_number: 1,
            resource_name: "dev".into(),
            instance_id: Some("i-1".into()),
        }
    );
    let stored_agent = store.get_agent(agent).await.expect("agent");
    assert_eq!(stored_agent.last_authenticated_at, Some(stored(at(2))));

    // Valid strictly before expires_at.
    assert!(token_is_valid(db, "s1", 59).await);
    assert!(!token_is_valid(db, "s1", 60).await);
    assert!(token_is_valid(db, "s2", 60).await);

    assert_eq!(store.delete_expired_sessions(at(59)).await.expect("gc"), 0);
    assert_eq!(store.delete_expired_sessions(at(60)).await.expect("gc"), 1);
    assert_eq!(db.count("agent_sessions").await, 1);
    assert!(token_is_valid(db, "s2", 61).await);
}

pub async fn sessions_are_revoked_by_rebuild_stop_and_delete(db: &TestDb) {
    let store = &db.store;
    for (name, transition, resources) in [
        ("rebuilt", Transition::Start, vm("i-1", &["main"])),
        ("stopped", Transition::Stop, vec![]),
        ("deleted", Transition::Delete, vec![]),
    ] {
        let (ws, agent) = started(db, name, "i-1").await;
        let token = format!("session-{name}");
        store
            .create_session(agent, &TokenHash::of(&token), at(3600), at(1))
            .await
            .expect("session");
        assert!(token_is_valid(db, &token, 2).await, "{name}");
        store
            .create_build(ws, transition, &resources, at(3))
            .await
            .expect("build");
        assert!(!token_is_valid(db, &token, 4).await, "{name}: still valid");
        // The agent itself is still there, just no longer authenticating.
        assert_eq!(store.get_agent(agent).await.expect("agent").id, agent);
    }
}

pub async fn token_agent_token_works_until_rebuild(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    // The resource's instance ID shows in the manifest of a token agent, which has none.
    let resources = vec![resource(
        "vm",
        Some("i-7"),
        vec![token_agent("tok", "agent-secret")],
    )];
    let build = store
        .create_build(ws, Transition::Start, &resources, T0)
        .await
        .expect("build");
    let found = store
        .agent_by_token(&TokenHash::of("agent-secret"), at(1_000_000))
        .await
        .expect("lookup")
        .expect("token agent");
    assert_eq!(found.manifest.agent_id, build.resources[0].agents[0].id);
    assert_eq!(found.manifest.resource_name, "vm");
    assert_eq!(found.manifest.instance_id.as_deref(), Some("i-7"));
    assert_eq!(found.manifest.build_number, 1);

    let resources = vec![resource(
        "vm",
        Some("i-7"),
        vec![token_agent("tok", "next-secret")],
    )];
    store
        .create_build(ws, Transition::Start, &resources, at(1))
        .await
        .expect("rebuild");
    assert!(!token_is_valid(db, "agent-secret", 2).await);
    assert!(token_is_valid(db, "next-secret", 2).await);
}

/// A rebuild from the same Terraform state keeps a token agent's token: the new build's agent
/// takes it over, and it then names the new agent, never the superseded one.
pub async fn a_rebuild_may_carry_an_agent_token_over(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    let resources = vec![resource("vm", None, vec![token_agent("tok", "kept")])];
    store
        .create_build(ws, Transition::Start, &resources, T0)
        .await
        .expect("build");
    let second = store
        .create_build(ws, Transition::Start, &resources, at(1))
        .await
        .expect("a rebuild with the same agent token");
    let found = store
        .agent_by_token(&TokenHash::of("kept"), at(2))
        .await
        .expect("lookup")
        .expect("the token names the new agent");
    assert_eq!(found.manifest.agent_id, second.resources[0].agents[0].id);
    assert_eq!(found.manifest.build_number, 2);

    // Another workspace cannot take a token that a live agent holds.
    let other = workspace(store, "other").await;
    let taken = store
        .create_build(other, Transition::Start, &resources, at(3))
        .await;
    assert!(matches!(taken, Err(Error::Conflict { .. })), "{taken:?}");
}

pub async fn unknown_tokens_and_agents(db: &TestDb) {
    let store = &db.store;
    assert!(!token_is_valid(db, "nobody", 0).await);
    let missing = Uuid::new_v4();
    let result = store
        .create_session(missing, &TokenHash::of("s"), at(60), T0)
        .await;
    assert!(
        matches!(
            result,
            Err(Error::NotFound {
                entity: "agent",
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(db.count("agent_sessions").await, 0);

    let (_, agent) = started(db, "dev", "i-1").await;
    store
        .create_session(agent, &TokenHash::of("s"), at(60), T0)
        .await
        .expect("session");
    let again = store
        .create_session(agent, &TokenHash::of("s"), at(60), T0)
        .await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
}

pub async fn concurrent_sessions_all_succeed(db: &TestDb) {
    let (_, agent) = started(db, "dev", "i-1").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let store = db.store.clone();
        tasks.spawn(async move {
            // Each task also reads before and after writing, as the exchange handler does.
            let candidates = store
                .find_candidates(idgate_api::AuthKind::AwsInstanceIdentity, "i-1")
                .await?;
            assert_eq!(candidates.len(), 1);
            let token = TokenHash::of(&format!("token-{i}"));
            store.create_session(agent, &token, at(3600), at(i)).await?;
            let found = store.agent_by_token(&token, at(i)).await?;
            Ok::<_, Error>(found.map(|a| a.manifest.agent_id))
        });
    }
    let mut ok = 0;
    while let Some(joined) = tasks.join_next().await {
        let found = joined.expect("task").expect("create_session");
        assert_eq!(found, Some(agent));
        ok += 1;
    }
    assert_eq!(ok, 50);
    assert_eq!(db.count("agent_sessions").await, 50);
}

/// Sessions written together (one batch) still fail one by one: an unknown agent and a
/// duplicate token fail only their own callers.
pub async fn one_bad_session_in_a_batch_fails_alone(db: &TestDb) {
    let (_, agent) = started(db, "dev", "i-1").await;
    let unknown = Uuid::new_v4();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40i64 {
        let store = db.store.clone();
        tasks.spawn(async move {
            let owner = if i == 7 { unknown } else { agent };
            // Tasks 12 and 13 present the same token.
            let token = TokenHash::of(&format!("batch-{}", if i == 13 { 12 } else { i }));
            (
                i,
                store.create_session(owner, &token, at(3600), at(1)).await,
            )
        });
    }
    let mut ok = 0;
    let mut conflicts = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.expect("task");
        match result {
            Ok(()) => ok += 1,
            Err(Error::NotFound {
                entity: "agent", ..
            }) => assert_eq!(i, 7),
            Err(Error::Conflict { .. }) => {
                assert!(i == 12 || i == 13, "task {i} conflicted");
                conflicts += 1;
            }
            Err(other) => panic!("task {i}: {other}"),
        }
    }
    assert_eq!((ok, conflicts), (38, 1));
    assert_eq!(db.count("agent_sessions").await, 38);
}

pub async fn concurrent_writers_from_two_stores(db: &TestDb) {
    // Two stores on one database stand for two processes: on SQLite they share nothing but the
    // file, so their write transactions meet at SQLite's lock and must wait, not fail.
    let other = db.open_again().await;
    let mut agents = Vec::new();
    for i in 0..16 {
        agents.push(started(db, &format!("ws-{i}"), &format!("i-{i}")).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (ws, agent)) in (0_i64..).zip(agents) {
        let store = if i % 2 == 0 {
            db.store.clone()
        } else {
            other.clone()
        };
        tasks.spawn(async move {
            for round in 0..3 {
                let token = TokenHash::of(&format!("token-{i}-{round}"));
                store.create_session(agent, &token, at(3600), at(i)).await?;
                store.record_heartbeat(agent, at(i)).await?;
            }
            // Rebuilding reads (the workspace, the next number) before it writes.
            let resources = vm(&format!("i-{i}"), &["main"]);
            store
                .create_build(ws, Transition::Start, &resources, at(i))
                .await?;
            Ok::<_, Error>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task").expect("concurrent write");
    }
    assert_eq!(db.count("agent_sessions").await, 48);
    assert_eq!(db.count("workspace_builds").await, 32);
    other.close().await;
}
