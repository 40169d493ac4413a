//! Session tokens over time, the agent API, and persistence across a restart.

use std::time::Duration;

use idgate_server::Clock;
use idgate_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{START, TestApp, ec2};

#[tokio::test]
async fn a_session_token_expires() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    app.build(&ws, "start", ec2("i-ttl", &["main"])).await;
    let token = app.token_for("i-ttl", None).await;
    app.clock.advance(Duration::from_secs(3599));
    assert_eq!(app.manifest(&token).await.status, StatusCode::OK);
    app.clock.advance(Duration::from_secs(1));
    let expired = app.manifest(&token).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.code(), "unauthorized");
}

#[tokio::test]
async fn missing_and_unknown_tokens_are_401() {
    let app = TestApp::spawn().await;
    let missing = app
        .client
        .get(format!("{}/api/v2/workspaceagents/me/manifest", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let unknown = app.manifest("not-a-token").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.code(), "unauthorized");
}

#[tokio::test]
async fn heartbeat_and_lifecycle_are_recorded() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    let build = app.build(&ws, "start", ec2("i-life", &["main"])).await;
    let agent_id = build["resources"][0]["agents"][0]["id"].as_str().unwrap();
    assert_eq!(
        build["resources"][0]["agents"][0]["lifecycle_state"],
        "created"
    );
    let token = app.token_for("i-life", None).await;

    app.clock.advance(Duration::from_secs(10));
    let heartbeat = app
        .agent_request(
            Method::POST,
            "/api/v2/workspaceagents/me/heartbeat",
            &token,
            None,
        )
        .await;
    assert_eq!(heartbeat.status, StatusCode::NO_CONTENT);
    for state in ["starting", "ready"] {
        let answer = app
            .agent_request(
                Method::POST,
                "/api/v2/workspaceagents/me/lifecycle",
                &token,
                Some(&json!({"state": state})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
    }
    let bad = app
        .agent_request(
            Method::POST,
            "/api/v2/workspaceagents/me/lifecycle",
            &token,
            Some(&json!({"state": "created"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["validations"][0]["field"], "state");

    let agent = app
        .admin_get(&format!("/api/v2/workspaceagents/{agent_id}"))
        .await;
    assert_eq!(agent.status, StatusCode::OK);
    assert_eq!(agent.body["lifecycle_state"], "ready");
    assert_eq!(agent.body["last_seen_at"], "2026-12-04T12:00:10Z");
    assert_eq!(agent.body["last_authenticated_at"], "2026-12-04T12:00:00Z");
}

#[tokio::test]
async fn token_agents_get_their_token_once_and_lose_it_on_rebuild() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    let resources = json!([{"name": "box", "type": "docker_container",
        "agents": [{"name": "main", "auth": "token"}]}]);
    let build = app.build(&ws, "start", resources.clone()).await;
    let agent = &build["resources"][0]["agents"][0];
    let token = agent["token"]
        .as_str()
        .expect("token shown at creation")
        .to_owned();
    assert_eq!(agent["auth_instance_id"], serde_json::Value::Null);

    let manifest = app.manifest(&token).await;
    assert_eq!(manifest.status, StatusCode::OK);
    assert_eq!(manifest.body["agent_name"], "main");

    // Never shown again.
    let agent_id = agent["id"].as_str().unwrap();
    let shown = app
        .admin_get(&format!("/api/v2/workspaceagents/{agent_id}"))
        .await;
    assert!(shown.body.get("token").is_none());
    let workspace = app.admin_get(&format!("/api/v2/workspaces/{ws}")).await;
    assert!(
        workspace.body["latest_build"]["resources"][0]["agents"][0]
            .get("token")
            .is_none()
    );

    app.build(&ws, "start", resources).await;
    assert_eq!(app.manifest(&token).await.status, StatusCode::UNAUTHORIZED);
}

async fn restart_keeps_everything(app: TestApp, reopen: impl AsyncFnOnce() -> Store) {
    let ws = app.workspace("keep").await;
    app.build(&ws, "start", ec2("i-keep", &["main", "dev"]))
        .await;
    let token = app.token_for("i-keep", Some("dev")).await;
    let admin_token = app.admin_token.clone();
    let (data_dir, tempdir) = app.stop().await;

    let store = reopen().await;
    let app = TestApp::start(store, data_dir, Clock::manual(START)).await;
    assert_eq!(
        app.admin_token, admin_token,
        "the admin token file is reused"
    );
    assert_eq!(app.manifest(&token).await.body["agent_name"], "dev");
    let listed = app.admin_get("/api/v2/workspaces").await;
    assert_eq!(listed.body[0]["name"], "keep");
    assert_eq!(listed.body[0]["latest_build"]["build_number"], 1);
    assert_eq!(
        app.aws_exchange("i-keep", None).await.status,
        StatusCode::CONFLICT
    );
    app.stop().await;
    drop(tempdir);
}

#[tokio::test]
async fn everything_survives_a_restart_sqlite() {
    let app = TestApp::spawn().await;
    let path = app.data_dir.join("idgate.db");
    restart_keeps_everything(app, async || Store::open_sqlite(&path).await.unwrap()).await;
}

#[tokio::test]
async fn everything_survives_a_restart_postgres() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect_postgres(&url).await.unwrap();
    let app = TestApp::start(store, dir.path().to_owned(), Clock::manual(START)).await;
    restart_keeps_everything(app, async || Store::connect_postgres(&url).await.unwrap()).await;
}
