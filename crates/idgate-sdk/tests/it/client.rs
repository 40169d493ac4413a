//! `AgentClient`: the agent API with a token that is obtained on first use, exchanged again
//! after a rebuild or an expiry, and shared by concurrent callers.

use std::time::Duration;

use idgate_api::{ErrorCode, LifecycleState};
use idgate_sdk::{AgentClient, Auth, Error, SessionToken, TokenProvider};
use idgate_server::Clock;
use serde_json::json;

use crate::aws_provider;
use crate::harness::{FakeImds, TestServer};

#[tokio::test]
async fn manifest_heartbeat_and_lifecycle() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    let agents = server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;
    let client = AgentClient::new(aws_provider(&server, &imds, None));

    let manifest = client.manifest().await.expect("manifest");
    assert_eq!(manifest.agent_id.to_string(), agents["main"]);
    assert_eq!(manifest.agent_name, "main");
    assert_eq!(manifest.workspace_name, "dev");
    assert_eq!(manifest.owner, "alice");
    assert_eq!(manifest.build_number, 1);
    assert_eq!(manifest.instance_id.as_deref(), Some("i-0aaa"));

    client.heartbeat().await.expect("heartbeat");
    client
        .report_lifecycle(LifecycleState::Starting)
        .await
        .expect("starting");
    client
        .report_lifecycle(LifecycleState::Ready)
        .await
        .expect("ready");
    let agent = server.agent(&agents["main"]).await;
    assert_eq!(agent["lifecycle_state"], "ready");
    assert!(agent["last_seen_at"].is_string(), "{agent}");
    // One exchange served all of it.
    let puts = imds
        .requests()
        .iter()
        .filter(|r| r.starts_with("PUT"))
        .count();
    assert_eq!(puts, 1);
    assert!(client.refresh_due_at().await.is_some());
}

#[tokio::test]
async fn after_a_rebuild_the_client_authenticates_again_and_gets_the_new_agent() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    let first = server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;
    let client = AgentClient::new(aws_provider(&server, &imds, None));
    let mut sessions = client.subscribe();

    let manifest = client.manifest().await.expect("manifest");
    assert_eq!(manifest.build_number, 1);
    let old = sessions.borrow_and_update().clone().expect("a session");
    assert_eq!(
        old.agent_id.map(|id| id.to_string()),
        Some(first["main"].clone())
    );

    let second = server.build(&ws, "i-0aaa", &["main"]).await;
    assert_ne!(first["main"], second["main"]);

    // The old token now gets 401; the client exchanges again by itself.
    client
        .heartbeat()
        .await
        .expect("heartbeat after the rebuild");
    assert!(sessions.has_changed().expect("sender alive"));
    let new = sessions.borrow_and_update().clone().expect("a session");
    assert_eq!(
        new.agent_id.map(|id| id.to_string()),
        Some(second["main"].clone())
    );
    assert_ne!(old.token, new.token);

    let manifest = client.manifest().await.expect("manifest");
    assert_eq!(manifest.build_number, 2);
    assert_eq!(manifest.agent_id.to_string(), second["main"]);
    let agent = server.agent(&second["main"]).await;
    assert!(agent["last_seen_at"].is_string(), "{agent}");
}

#[tokio::test]
async fn after_a_stop_the_error_is_permanent_and_no_empty_token_is_kept() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;
    let client = AgentClient::new(aws_provider(&server, &imds, None));
    let sessions = client.subscribe();
    client.manifest().await.expect("manifest");

    server.stop(&ws).await;
    let error = client.heartbeat().await.expect_err("stopped");
    assert_eq!(error.code(), Some(ErrorCode::InstanceNotFound), "{error}");
    assert!(error.is_permanent());
    assert!(sessions.borrow().is_none(), "the dead token is dropped");
}

#[tokio::test]
async fn an_expired_token_is_exchanged_again() {
    let clock = Clock::manual(time::OffsetDateTime::now_utc());
    let server = TestServer::start_with_clock(clock).await;
    let ws = server.workspace("dev").await;
    server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;
    let client = AgentClient::new(aws_provider(&server, &imds, None));
    let first = client.session().await.expect("session");

    server.clock.advance(Duration::from_secs(2 * 3600));
    client.manifest().await.expect("manifest with a new token");
    let second = client.session().await.expect("session");
    assert_ne!(first.token, second.token);
}

#[tokio::test]
async fn concurrent_calls_share_one_exchange() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    server.build(&ws, "i-0aaa", &["main"]).await;
    let imds = FakeImds::start("i-0aaa").await;
    let client = std::sync::Arc::new(AgentClient::new(aws_provider(&server, &imds, None)));
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.heartbeat().await })
        })
        .collect();
    for call in calls {
        call.await.expect("task").expect("heartbeat");
    }
    let puts = imds
        .requests()
        .iter()
        .filter(|r| r.starts_with("PUT"))
        .count();
    assert_eq!(puts, 1);
}

#[tokio::test]
async fn a_static_token_works_and_a_wrong_one_is_a_permanent_401() {
    let server = TestServer::start().await;
    let ws = server.workspace("dev").await;
    let (status, build) = server
        .admin_post(
            &format!("/api/v2/workspaces/{ws}/builds"),
            &json!({"transition": "start", "resources": [{
                "name": "dev", "type": "docker_container",
                "agents": [{"name": "main", "auth": "token"}]
            }]}),
        )
        .await;
    assert_eq!(status, 201, "{build}");
    let token = build["resources"][0]["agents"][0]["token"]
        .as_str()
        .expect("the build's token");

    let provider = TokenProvider::new(
        &server.url,
        Auth::Token(SessionToken::new(token).expect("token")),
    )
    .expect("provider");
    let client = AgentClient::new(provider);
    let manifest = client.manifest().await.expect("manifest");
    assert_eq!(manifest.agent_name, "main");
    client.heartbeat().await.expect("heartbeat");

    let wrong = TokenProvider::new(
        &server.url,
        Auth::Token(SessionToken::new("not-the-token").expect("token")),
    )
    .expect("provider");
    let error = AgentClient::new(wrong)
        .manifest()
        .await
        .expect_err("wrong token");
    assert!(error.is_unauthorized(), "{error:?}");
    assert!(error.is_permanent());
    assert!(matches!(error, Error::Rejected { status: 401, .. }));
    assert!(
        error
            .advice()
            .expect("advice")
            .contains("CODER_AGENT_TOKEN")
    );
}
