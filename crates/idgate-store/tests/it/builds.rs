//! Builds: numbering, atomicity, read-back, deleted workspaces, concurrency, template imports.

use idgate_api::{AuthKind, LatestBuild, LifecycleState, Transition};
use idgate_store::{Error, NewResource};

use crate::harness::{
    T0, TestDb, at, aws, aws_candidates, resource, stored, sub, token_agent, vm, workspace,
};

/// The row counts a failed build must leave unchanged.
async fn row_counts(db: &TestDb) -> [i64; 5] {
    [
        db.count("provisioner_jobs").await,
        db.count("workspace_builds").await,
        db.count("workspace_resources").await,
        db.count("workspace_agents").await,
        db.count("workspaces WHERE deleted_at IS NOT NULL").await,
    ]
}

pub async fn build_numbers_count_per_workspace(db: &TestDb) {
    let store = &db.store;
    let a = workspace(store, "a").await;
    let b = workspace(store, "b").await;
    let mut numbers = Vec::new();
    for (ws, transition) in [
        (a, Transition::Start),
        (b, Transition::Start),
        (a, Transition::Stop),
        (a, Transition::Start),
        (b, Transition::Delete),
    ] {
        let build = store
            .create_build(ws, transition, &[], T0)
            .await
            .expect("build");
        assert_eq!(build.workspace_id, ws);
        assert_eq!(build.transition, transition);
        numbers.push(build.build_number);
    }
    assert_eq!(numbers, [1, 1, 2, 3, 2]);
    let latest = store.get_workspace(a).await.expect("workspace a");
    assert_eq!(latest.latest_build.build().map(|b| b.build_number), Some(3));
}

pub async fn create_build_is_atomic(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    let first = store
        .create_build(ws, Transition::Start, &vm("i-1", &["main"]), T0)
        .await
        .expect("first build");
    let before = row_counts(db).await;

    // The duplicate name (ignoring case) is on the second resource: the first resource and
    // its agents are inserted before the unique index stops the build.
    let resources = vec![
        resource("one", Some("i-2"), vec![aws("a", "i-2"), aws("b", "i-2")]),
        resource("two", Some("i-3"), vec![aws("c", "i-3"), aws("A", "i-3")]),
    ];
    let failed = store
        .create_build(ws, Transition::Delete, &resources, at(1))
        .await;
    assert!(matches!(failed, Err(Error::Invalid { .. })), "{failed:?}");

    assert_eq!(row_counts(db).await, before);
    let workspace = store.get_workspace(ws).await.expect("workspace");
    assert!(!workspace.deleted);
    assert_eq!(workspace.latest_build, LatestBuild::Some(Box::new(first)));
    assert_eq!(aws_candidates(store, "i-1").await, ["main"]);
    assert!(aws_candidates(store, "i-2").await.is_empty());

    let next = store
        .create_build(ws, Transition::Start, &vm("i-1", &["main"]), at(2))
        .await
        .expect("next build");
    assert_eq!(next.build_number, 2, "the failed build used no number");
}

pub async fn unknown_parent_leaves_nothing_behind(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    let before = row_counts(db).await;
    let resources = vec![
        resource("one", Some("i-1"), vec![aws("main", "i-1")]),
        // A parent on another resource does not count.
        resource("two", Some("i-2"), vec![sub("child", "main", "i-2")]),
    ];
    let failed = store
        .create_build(ws, Transition::Start, &resources, T0)
        .await;
    assert!(matches!(failed, Err(Error::Invalid { .. })), "{failed:?}");
    assert_eq!(row_counts(db).await, before);
    let workspace = store.get_workspace(ws).await.expect("workspace");
    assert_eq!(workspace.latest_build, LatestBuild::None);

    // A sub-agent cannot be the parent of another sub-agent either.
    let nested = vec![resource(
        "one",
        Some("i-1"),
        vec![
            aws("main", "i-1"),
            sub("child", "main", "i-1"),
            sub("grandchild", "child", "i-1"),
        ],
    )];
    let failed = store.create_build(ws, Transition::Start, &nested, T0).await;
    assert!(matches!(failed, Err(Error::Invalid { .. })), "{failed:?}");
    assert_eq!(row_counts(db).await, before);
}

pub async fn build_reads_back_as_written(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    // The sub-agent is listed before its parent: order is kept, parents still resolve.
    let resources = vec![
        resource(
            "vm",
            Some("i-1"),
            vec![
                sub("helper", "main", "i-1"),
                aws("main", "i-1"),
                aws("other", "i-9"),
            ],
        ),
        resource("db", None, vec![token_agent("tok", "secret-token")]),
        resource("bucket", None, vec![]),
    ];
    let build = store
        .create_build(ws, Transition::Start, &resources, T0)
        .await
        .expect("build");
    assert_eq!(build.created_at, stored(T0));
    assert_eq!(build.build_number, 1);
    let names: Vec<_> = build.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["vm", "db", "bucket"]);
    let vm = &build.resources[0];
    assert_eq!(vm.instance_id.as_deref(), Some("i-1"));
    assert_eq!(vm.kind, "aws_instance");
    let agent_names: Vec<_> = vm.agents.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(agent_names, ["helper", "main", "other"]);
    assert_eq!(vm.agents[0].parent_id, Some(vm.agents[1].id));
    assert_eq!(vm.agents[1].parent_id, None);
    assert_eq!(vm.agents[2].auth_instance_id.as_deref(), Some("i-9"));
    for agent in build.resources.iter().flat_map(|r| &r.agents) {
        assert_eq!(agent.lifecycle_state, LifecycleState::Created);
        assert_eq!(agent.last_seen_at, None);
        assert_eq!(agent.last_authenticated_at, None);
        assert_eq!(agent.token, None);
    }
    let tok = &build.resources[1].agents[0];
    assert_eq!(tok.auth, AuthKind::Token);
    assert_eq!(tok.auth_instance_id, None);

    let read = store.get_workspace(ws).await.expect("workspace");
    assert_eq!(
        read.latest_build,
        LatestBuild::Some(Box::new(build.clone()))
    );
    let helper = store.get_agent(vm.agents[0].id).await.expect("agent");
    assert_eq!(helper, vm.agents[0]);
}

pub async fn deleted_workspace_cannot_be_built(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    let deleted = store
        .create_build(ws, Transition::Delete, &[], T0)
        .await
        .expect("delete build");
    let workspace = store.get_workspace(ws).await.expect("workspace");
    assert!(workspace.deleted);
    for transition in [Transition::Start, Transition::Stop, Transition::Delete] {
        let again = store
            .create_build(ws, transition, &vm("i-1", &["main"]), at(1))
            .await;
        assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
    }
    let workspace = store.get_workspace(ws).await.expect("workspace");
    assert_eq!(workspace.latest_build, LatestBuild::Some(Box::new(deleted)));
}

pub async fn concurrent_builds_of_one_workspace(db: &TestDb) {
    let ws = workspace(&db.store, "dev").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = db.store.clone();
        tasks.spawn(async move {
            let resources = vm(&format!("i-{i}"), &["main"]);
            store
                .create_build(ws, Transition::Start, &resources, at(i))
                .await
        });
    }
    let mut numbers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            Ok(build) => numbers.push(build.build_number),
            // Allowed by the contract; this store serialises builds so it does not happen.
            Err(Error::Conflict { .. }) => {}
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    numbers.sort_unstable();
    assert!(!numbers.is_empty());
    let expected: Vec<i64> = (1..=i64::try_from(numbers.len()).expect("small")).collect();
    assert_eq!(numbers, expected);

    // Exactly one build's agents are live.
    let mut live = 0;
    for i in 0..8 {
        live += aws_candidates(&db.store, &format!("i-{i}")).await.len();
    }
    assert_eq!(live, 1);
    assert_eq!(
        db.count("workspace_agents WHERE in_latest_build = 1").await,
        1
    );
}

pub async fn template_versions_are_imports(db: &TestDb) {
    let store = &db.store;
    let template = store.create_template("base", T0).await.expect("template");
    assert_eq!(template.name, "base");
    let resources: Vec<NewResource> = vm("i-1", &["main"]);
    let version = store
        .create_template_version(template.id, &resources, T0)
        .await
        .expect("version");
    assert_eq!(version.template_id, template.id);
    assert_eq!(version.resources.len(), 1);
    assert_eq!(version.resources[0].agents[0].name, "main");
    let agent = store
        .get_agent(version.resources[0].agents[0].id)
        .await
        .expect("import agent");
    assert_eq!(agent, version.resources[0].agents[0]);
    // A second import of the same template may reuse names: uniqueness is per job.
    store
        .create_template_version(template.id, &resources, at(1))
        .await
        .expect("second version");
    assert_eq!(
        db.count("workspace_agents WHERE in_latest_build = 1").await,
        0
    );
    assert_eq!(store.count_agents().await.expect("count"), 2);
}
