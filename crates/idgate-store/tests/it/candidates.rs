//! The instance-identity candidate lookup (api.md §1): every exclusion, the orderings, and the
//! index that keeps it flat.

use idgate_api::{AuthKind, Transition};
use idgate_store::{Backend, CANDIDATE_INDEX, Candidate};

use crate::harness::{
    T0, TestDb, agent, at, aws, aws_candidates, resource, sub, token_agent, vm, workspace,
};

pub async fn sub_agents_are_never_candidates(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    let resources = vec![resource(
        "vm",
        Some("i-1"),
        vec![aws("main", "i-1"), sub("helper", "main", "i-1")],
    )];
    store
        .create_build(ws, Transition::Start, &resources, T0)
        .await
        .expect("build");
    assert_eq!(aws_candidates(store, "i-1").await, ["main"]);
}

pub async fn template_import_agents_are_never_candidates(db: &TestDb) {
    let store = &db.store;
    let template = store.create_template("base", T0).await.expect("template");
    store
        .create_template_version(template.id, &vm("i-1", &["main"]), T0)
        .await
        .expect("version");
    assert!(aws_candidates(store, "i-1").await.is_empty());

    let ws = store
        .create_workspace("dev", "alice", Some(template.id), T0)
        .await
        .expect("workspace")
        .id;
    let build = store
        .create_build(ws, Transition::Start, &vm("i-1", &["main"]), at(1))
        .await
        .expect("build");
    let found = store
        .find_candidates(AuthKind::AwsInstanceIdentity, "i-1")
        .await
        .expect("candidates");
    assert_eq!(
        found,
        [Candidate {
            agent_id: build.resources[0].agents[0].id,
            agent_name: "main".into(),
            workspace_id: ws,
        }]
    );
}

pub async fn superseded_build_is_not_a_candidate(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    let mut last = None;
    for i in 0..3 {
        let build = store
            .create_build(ws, Transition::Start, &vm("i-1", &["main"]), at(i))
            .await
            .expect("build");
        last = Some(build.resources[0].agents[0].id);
    }
    let found = store
        .find_candidates(AuthKind::AwsInstanceIdentity, "i-1")
        .await
        .expect("candidates");
    assert_eq!(found.len(), 1);
    assert_eq!(Some(found[0].agent_id), last);
    assert_eq!(store.count_agents().await.expect("count"), 3);
}

pub async fn stop_build_without_agents_has_no_candidates(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    store
        .create_build(ws, Transition::Start, &vm("i-1", &["main"]), T0)
        .await
        .expect("start");
    store
        .create_build(ws, Transition::Stop, &[], at(1))
        .await
        .expect("stop");
    assert!(aws_candidates(store, "i-1").await.is_empty());
    // Starting again brings a new agent back.
    store
        .create_build(ws, Transition::Start, &vm("i-1", &["main"]), at(2))
        .await
        .expect("start again");
    assert_eq!(aws_candidates(store, "i-1").await, ["main"]);
}

pub async fn delete_build_has_no_candidates(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    store
        .create_build(ws, Transition::Start, &vm("i-1", &["main"]), T0)
        .await
        .expect("start");
    // Even a delete build that (oddly) declares the agent again leaves no candidate: the
    // workspace is deleted.
    store
        .create_build(ws, Transition::Delete, &vm("i-1", &["main"]), at(1))
        .await
        .expect("delete");
    assert!(aws_candidates(store, "i-1").await.is_empty());
    assert!(store.get_workspace(ws).await.expect("workspace").deleted);
}

pub async fn recycled_instance_id_resolves_to_the_live_workspace(db: &TestDb) {
    let store = &db.store;
    let old = workspace(store, "old").await;
    store
        .create_build(old, Transition::Start, &vm("i-1", &["main"]), T0)
        .await
        .expect("old start");
    store
        .create_build(old, Transition::Delete, &[], at(1))
        .await
        .expect("old delete");
    let new = workspace(store, "new").await;
    store
        .create_build(new, Transition::Start, &vm("i-1", &["dev"]), at(2))
        .await
        .expect("new start");
    let found = store
        .find_candidates(AuthKind::AwsInstanceIdentity, "i-1")
        .await
        .expect("candidates");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].workspace_id, new);
    assert_eq!(found[0].agent_name, "dev");
}

pub async fn agent_of_another_cloud_is_not_a_candidate(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    let resources = vec![resource(
        "vm",
        Some("vm-1"),
        vec![agent("main", AuthKind::AzureInstanceIdentity, "vm-1")],
    )];
    store
        .create_build(ws, Transition::Start, &resources, T0)
        .await
        .expect("build");
    assert!(aws_candidates(store, "vm-1").await.is_empty());
    let google = store
        .find_candidates(AuthKind::GoogleInstanceIdentity, "vm-1")
        .await
        .expect("candidates");
    assert!(google.is_empty());
    let azure = store
        .find_candidates(AuthKind::AzureInstanceIdentity, "vm-1")
        .await
        .expect("candidates");
    assert_eq!(azure.len(), 1);
}

pub async fn same_id_in_two_workspaces_gives_two_candidates(db: &TestDb) {
    let store = &db.store;
    let a = workspace(store, "a").await;
    let b = workspace(store, "b").await;
    for ws in [a, b] {
        store
            .create_build(ws, Transition::Start, &vm("i-1", &["main"]), T0)
            .await
            .expect("build");
    }
    let found = store
        .find_candidates(AuthKind::AwsInstanceIdentity, "i-1")
        .await
        .expect("candidates");
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|c| c.agent_name == "main"));
    assert!(
        found[0].agent_id < found[1].agent_id,
        "same name: ordered by id"
    );
    let mut workspaces: Vec<_> = found.iter().map(|c| c.workspace_id).collect();
    workspaces.sort_unstable();
    let mut expected = vec![a, b];
    expected.sort_unstable();
    assert_eq!(workspaces, expected);
}

pub async fn two_agents_on_one_instance(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    // Byte order: upper case sorts before lower case, whatever the database's collation.
    store
        .create_build(
            ws,
            Transition::Start,
            &vm("i-1", &["web", "Zed", "api"]),
            T0,
        )
        .await
        .expect("build");
    assert_eq!(aws_candidates(store, "i-1").await, ["Zed", "api", "web"]);
}

pub async fn token_agents_are_never_candidates(db: &TestDb) {
    let store = &db.store;
    let ws = workspace(store, "dev").await;
    let resources = vec![resource("vm", Some("i-1"), vec![token_agent("tok", "t")])];
    store
        .create_build(ws, Transition::Start, &resources, T0)
        .await
        .expect("build");
    assert!(aws_candidates(store, "i-1").await.is_empty());
    let token = store
        .find_candidates(AuthKind::Token, "i-1")
        .await
        .expect("candidates");
    assert!(token.is_empty());
}

pub async fn lookup_uses_the_partial_index(db: &TestDb) {
    let store = &db.store;
    // Many live instances, one VM rebuilt many times (historical rows under the same ID),
    // sub-agents and template imports: the shapes the index must keep out of the way.
    let template = store.create_template("base", T0).await.expect("template");
    for i in 0..20 {
        store
            .create_template_version(template.id, &vm("i-42", &["main"]), at(i))
            .await
            .expect("version");
    }
    let rebuilt = workspace(store, "rebuilt").await;
    for i in 0..30 {
        store
            .create_build(rebuilt, Transition::Start, &vm("i-42", &["main"]), at(i))
            .await
            .expect("rebuild");
    }
    for i in 0..120 {
        let ws = workspace(store, &format!("ws-{i}")).await;
        let id = format!("i-{i:05}");
        let resources = vec![resource(
            "vm",
            Some(&id),
            vec![
                aws("main", &id),
                aws("side", &id),
                sub("helper", "main", &id),
            ],
        )];
        store
            .create_build(ws, Transition::Start, &resources, at(i))
            .await
            .expect("build");
    }
    assert_eq!(aws_candidates(store, "i-42").await, ["main"]);
    if db.backend() == Backend::Postgres {
        db.execute("ANALYZE").await;
    }

    let plan = store
        .explain_find_candidates(AuthKind::AwsInstanceIdentity, "i-42")
        .await
        .expect("plan");
    let text = plan.join("\n");
    assert!(
        text.contains(CANDIDATE_INDEX),
        "plan does not use the index:\n{text}"
    );
    match db.backend() {
        Backend::Sqlite => {
            let full_scan = plan.iter().any(|line| {
                let mut words = line.split_whitespace();
                words.next() == Some("SCAN") && words.next() == Some("a")
            });
            assert!(!full_scan, "plan scans workspace_agents:\n{text}");
        }
        Backend::Postgres => {
            assert!(
                !text.contains("Seq Scan on workspace_agents"),
                "plan scans workspace_agents:\n{text}"
            );
        }
    }
}
