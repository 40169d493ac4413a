//! Templates, workspaces and agents through the admin methods: conflicts, not-found cases,
//! listing, heartbeats and lifecycle, persistence.

use idgate_api::{LatestBuild, LifecycleState, Transition};
use idgate_store::{Error, TokenHash};
use uuid::Uuid;

use crate::harness::{T0, TestDb, at, aws_candidates, stored, vm, workspace};

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, Error>) -> bool {
    matches!(result, Err(Error::Conflict { .. }))
}

fn is_not_found<T: std::fmt::Debug>(result: &Result<T, Error>, what: &str) -> bool {
    matches!(result, Err(Error::NotFound { entity, .. }) if *entity == what)
}

pub async fn duplicate_names_conflict(db: &TestDb) {
    let store = &db.store;
    store.create_template("base", T0).await.expect("template");
    let again = store.create_template("base", T0).await;
    assert!(is_conflict(&again), "{again:?}");
    store
        .create_template("Base", T0)
        .await
        .expect("template names are case-sensitive");

    let dev = workspace(store, "dev").await;
    for name in ["dev", "DEV"] {
        let again = store.create_workspace(name, "alice", None, T0).await;
        assert!(is_conflict(&again), "{name}: {again:?}");
    }
    store
        .create_workspace("dev", "bob", None, T0)
        .await
        .expect("another owner may use the name");

    // Once deleted, the name is free again; the deleted one stays listed.
    store
        .create_build(dev, Transition::Delete, &[], at(1))
        .await
        .expect("delete");
    let reborn = store
        .create_workspace("Dev", "alice", None, at(2))
        .await
        .expect("name reused after delete");
    assert_ne!(reborn.id, dev);
    let all = store.list_workspaces().await.expect("list");
    assert_eq!(all.len(), 3);
}

pub async fn not_found_cases(db: &TestDb) {
    let store = &db.store;
    let missing = Uuid::new_v4();
    assert!(is_not_found(
        &store.get_workspace(missing).await,
        "workspace"
    ));
    assert!(is_not_found(&store.get_agent(missing).await, "agent"));
    let resources = vm("i-1", &["main"]);
    let build = store.create_build(missing, Transition::Start, &resources, T0);
    assert!(is_not_found(&build.await, "workspace"));
    let version = store.create_template_version(missing, &resources, T0);
    assert!(is_not_found(&version.await, "template"));
    let ws = store
        .create_workspace("dev", "alice", Some(missing), T0)
        .await;
    assert!(is_not_found(&ws, "template"));
    assert!(is_not_found(
        &store.record_heartbeat(missing, T0).await,
        "agent"
    ));
    let lifecycle = store
        .set_lifecycle(missing, LifecycleState::Ready, T0)
        .await;
    assert!(is_not_found(&lifecycle, "agent"));
    let session = store
        .create_session(missing, &TokenHash::of("t"), at(60), T0)
        .await;
    assert!(is_not_found(&session, "agent"));

    // Nothing was left behind by the failures.
    for table in [
        "provisioner_jobs",
        "workspace_builds",
        "workspace_resources",
        "workspace_agents",
        "template_versions",
        "workspaces",
    ] {
        assert_eq!(db.count(table).await, 0, "{table}");
    }
    assert!(store.list_workspaces().await.expect("list").is_empty());
}

pub async fn list_workspaces_with_and_without_builds(db: &TestDb) {
    let store = &db.store;
    // Created out of order: the list follows created_at, not insertion.
    let late = store
        .create_workspace("late", "alice", None, at(30))
        .await
        .expect("late");
    assert_eq!(late.latest_build, LatestBuild::Absent);
    assert!(!late.deleted);
    let early = store
        .create_workspace("early", "bob", None, at(10))
        .await
        .expect("early");
    let gone = store
        .create_workspace("gone", "carol", None, at(20))
        .await
        .expect("gone");

    store
        .create_build(early.id, Transition::Start, &vm("i-1", &["main"]), at(40))
        .await
        .expect("early 1");
    let early_latest = store
        .create_build(
            early.id,
            Transition::Start,
            &vm("i-2", &["main", "aux"]),
            at(41),
        )
        .await
        .expect("early 2");
    store
        .create_build(gone.id, Transition::Start, &vm("i-3", &["main"]), at(42))
        .await
        .expect("gone 1");
    let gone_latest = store
        .create_build(gone.id, Transition::Delete, &[], at(43))
        .await
        .expect("gone 2");

    let all = store.list_workspaces().await.expect("list");
    let names: Vec<_> = all.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["early", "gone", "late"]);
    assert_eq!(all[0].owner, "bob");
    assert!(!all[0].deleted);
    assert_eq!(
        all[0].latest_build,
        LatestBuild::Some(Box::new(early_latest.clone()))
    );
    assert!(all[1].deleted);
    assert_eq!(
        all[1].latest_build,
        LatestBuild::Some(Box::new(gone_latest))
    );
    assert_eq!(all[2].latest_build, LatestBuild::None);
    assert_eq!(all[2].id, late.id);

    for workspace in &all {
        let one = store.get_workspace(workspace.id).await.expect("get");
        assert_eq!(&one, workspace);
    }
    assert_eq!(early_latest.created_at, stored(at(41)));
}

pub async fn heartbeat_and_lifecycle_are_persisted(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    let build = store
        .create_build(ws, Transition::Start, &vm("i-1", &["main", "aux"]), T0)
        .await
        .expect("build");
    let main = build.resources[0].agents[0].id;
    let aux = build.resources[0].agents[1].id;

    store
        .record_heartbeat(main, at(5))
        .await
        .expect("heartbeat");
    let agent = store.get_agent(main).await.expect("agent");
    assert_eq!(agent.last_seen_at, Some(stored(at(5))));
    assert_eq!(agent.lifecycle_state, LifecycleState::Created);

    store
        .set_lifecycle(main, LifecycleState::Ready, at(9))
        .await
        .expect("lifecycle");
    let agent = store.get_agent(main).await.expect("agent");
    assert_eq!(agent.lifecycle_state, LifecycleState::Ready);
    assert_eq!(agent.last_seen_at, Some(stored(at(9))));
    assert_eq!(agent.last_authenticated_at, None);

    // The other agent is untouched, and the workspace view shows the same values.
    let other = store.get_agent(aux).await.expect("aux");
    assert_eq!(other.last_seen_at, None);
    let workspace = store.get_workspace(ws).await.expect("workspace");
    let listed = workspace
        .latest_build
        .build()
        .map(|b| b.resources[0].agents[0].clone());
    assert_eq!(listed, Some(agent));
}

pub async fn data_survives_reopening(db: &TestDb) {
    let ws = workspace(&db.store, "dev").await;
    let build = db
        .store
        .create_build(ws, Transition::Start, &vm("i-1", &["main"]), T0)
        .await
        .expect("build");
    let agent = build.resources[0].agents[0].id;
    db.store
        .create_session(agent, &TokenHash::of("s"), at(60), at(1))
        .await
        .expect("session");
    db.store
        .set_lifecycle(agent, LifecycleState::Starting, at(2))
        .await
        .expect("lifecycle");
    let before = db.store.get_workspace(ws).await.expect("workspace");
    db.store.close().await;

    let reopened = db.open_again().await;
    assert_eq!(reopened.get_workspace(ws).await.expect("workspace"), before);
    assert_eq!(aws_candidates(&reopened, "i-1").await, ["main"]);
    let session = reopened
        .agent_by_token(&TokenHash::of("s"), at(3))
        .await
        .expect("lookup");
    assert_eq!(session.map(|a| a.manifest.agent_id), Some(agent));
    let next = reopened
        .create_build(ws, Transition::Stop, &[], at(4))
        .await
        .expect("build after reopen");
    assert_eq!(next.build_number, 2);
    reopened.close().await;
}

pub async fn ping_and_backend(db: &TestDb) {
    db.store.ping().await.expect("ping");
    assert_eq!(db.store.backend(), db.backend());
    db.store.close().await;
    assert!(
        db.store.ping().await.is_err(),
        "a closed store does not answer"
    );
}
