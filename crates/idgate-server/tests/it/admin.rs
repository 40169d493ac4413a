//! The admin API: authentication, shapes of the answers, validation and the operations endpoints.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, ec2};

#[tokio::test]
async fn the_admin_api_needs_the_admin_token() {
    let app = TestApp::spawn().await;
    let url = format!("{}/api/v2/workspaces", app.base);
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    let basic = app
        .client
        .get(&url)
        .basic_auth("admin", Some(&app.admin_token))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    // A session token is not an admin token.
    let ws = app.workspace("dev").await;
    app.build(&ws, "start", ec2("i-a", &["main"])).await;
    let session = app.token_for("i-a", None).await;
    let as_admin = app
        .client
        .get(&url)
        .bearer_auth(session)
        .send()
        .await
        .unwrap();
    assert_eq!(as_admin.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.admin_get("/api/v2/workspaces").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn build_and_workspace_shapes() {
    let app = TestApp::spawn().await;
    let created = app
        .admin_post(
            "/api/v2/workspaces",
            &json!({"name": "dev", "owner": "alice"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    insta::assert_json_snapshot!(created.body, {".id" => "[id]"}, @r#"
    {
      "deleted": false,
      "id": "[id]",
      "name": "dev",
      "owner": "alice"
    }
    "#);
    let ws = created.body["id"].as_str().unwrap();
    let empty = app.admin_get(&format!("/api/v2/workspaces/{ws}")).await;
    assert_eq!(empty.body["latest_build"], serde_json::Value::Null);

    let build = app
        .build(
            ws,
            "start",
            json!([{"name": "dev", "type": "aws_instance", "instance_id": "i-0abc", "agents": [
                {"name": "main", "auth": "aws-instance-identity"},
                {"name": "helper", "auth": "token", "parent": "main"}]}]),
        )
        .await;
    insta::assert_json_snapshot!(build, {
        ".id" => "[id]", ".workspace_id" => "[id]", ".resources[].id" => "[id]",
        ".resources[].agents[].id" => "[id]", ".resources[].agents[].parent_id" => "[id]",
        ".resources[].agents[].token" => "[token]",
    }, @r#"
    {
      "build_number": 1,
      "created_at": "2026-12-04T12:00:00Z",
      "id": "[id]",
      "resources": [
        {
          "agents": [
            {
              "auth": "aws-instance-identity",
              "auth_instance_id": "i-0abc",
              "id": "[id]",
              "last_authenticated_at": null,
              "last_seen_at": null,
              "lifecycle_state": "created",
              "name": "main",
              "parent_id": "[id]"
            },
            {
              "auth": "token",
              "auth_instance_id": null,
              "id": "[id]",
              "last_authenticated_at": null,
              "last_seen_at": null,
              "lifecycle_state": "created",
              "name": "helper",
              "parent_id": "[id]",
              "token": "[token]"
            }
          ],
          "id": "[id]",
          "instance_id": "i-0abc",
          "name": "dev",
          "type": "aws_instance"
        }
      ],
      "transition": "start",
      "workspace_id": "[id]"
    }
    "#);
    let agents = &build["resources"][0]["agents"];
    assert_eq!(agents[0]["parent_id"], serde_json::Value::Null);
    assert_eq!(agents[1]["parent_id"], agents[0]["id"]);

    let second = app.build(ws, "stop", json!([])).await;
    assert_eq!(second["build_number"], 2);
    let listed = app.admin_get("/api/v2/workspaces").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["latest_build"]["build_number"], 2);
    assert_eq!(listed.body[0]["latest_build"]["transition"], "stop");
}

#[tokio::test]
async fn build_numbers_are_per_workspace() {
    let app = TestApp::spawn().await;
    let a = app.workspace("a").await;
    let b = app.workspace("b").await;
    assert_eq!(app.build(&a, "start", json!([])).await["build_number"], 1);
    assert_eq!(app.build(&a, "start", json!([])).await["build_number"], 2);
    assert_eq!(app.build(&b, "start", json!([])).await["build_number"], 1);
    assert_eq!(app.build(&a, "stop", json!([])).await["build_number"], 3);
}

#[tokio::test]
async fn invalid_admin_requests_name_the_field() {
    let app = TestApp::spawn().await;
    let ws = app.workspace("dev").await;
    let builds = format!("/api/v2/workspaces/{ws}/builds");
    let cases = [
        (
            json!({"name": "bad name", "owner": "a"}),
            "/api/v2/workspaces",
            "name",
        ),
        (json!({"name": "ok"}), "/api/v2/workspaces", "owner"),
        (
            json!({"name": "ok", "owner": "a", "template_id": "nope"}),
            "/api/v2/workspaces",
            "template_id",
        ),
        (json!({"name": ""}), "/api/v2/templates", "name"),
        (json!({"resources": []}), builds.as_str(), "transition"),
        (
            json!({"transition": "reboot"}),
            builds.as_str(),
            "transition",
        ),
        (
            json!({"transition": "start", "resources": {}}),
            builds.as_str(),
            "resources",
        ),
        (
            json!({"transition": "start", "resources": [{"name": "x", "type": "t",
            "agents": [{"name": "a", "auth": "aws-instance-identity"}]}]}),
            builds.as_str(),
            "resources[0].agents[0].instance_id",
        ),
        (
            json!({"transition": "start", "resources": [{"name": "x", "type": "t",
            "agents": [{"name": "a", "auth": "token"}, {"name": "A", "auth": "token"}]}]}),
            builds.as_str(),
            "resources[0].agents[1].name",
        ),
        (
            json!({"transition": "start", "resources": [{"name": "x", "type": "t",
            "agents": [{"name": &"a".repeat(65), "auth": "token"}]}]}),
            builds.as_str(),
            "resources[0].agents[0].name",
        ),
    ];
    for (body, path, field) in cases {
        let answer = app.admin_post(path, &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {answer:?}");
        assert_eq!(answer.code(), "validation_failed");
        assert_eq!(answer.message(), "Validation failed.");
        assert_eq!(answer.body["validations"][0]["field"], field, "{body}");
    }
    // None of these left a build behind.
    let workspace = app.admin_get(&format!("/api/v2/workspaces/{ws}")).await;
    assert_eq!(workspace.body["latest_build"], serde_json::Value::Null);
}

#[tokio::test]
async fn unknown_ids_and_conflicts() {
    let app = TestApp::spawn().await;
    let missing = uuid::Uuid::new_v4();
    for path in [
        format!("/api/v2/workspaces/{missing}"),
        format!("/api/v2/workspaceagents/{missing}"),
        "/api/v2/workspaces/not-a-uuid".to_owned(),
    ] {
        let answer = app.admin_get(&path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.code(), "not_found");
    }
    let build = app
        .admin_post(
            &format!("/api/v2/workspaces/{missing}/builds"),
            &json!({"transition": "start"}),
        )
        .await;
    assert_eq!(build.status, StatusCode::NOT_FOUND);
    let version = app
        .admin_post(
            &format!("/api/v2/templates/{missing}/versions"),
            &json!({"resources": []}),
        )
        .await;
    assert_eq!(version.status, StatusCode::NOT_FOUND);
    let workspace = app
        .admin_post(
            "/api/v2/workspaces",
            &json!({"name": "x", "owner": "a", "template_id": missing}),
        )
        .await;
    assert_eq!(workspace.status, StatusCode::NOT_FOUND);

    let first = app
        .admin_post("/api/v2/templates", &json!({"name": "aws"}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = app
        .admin_post("/api/v2/templates", &json!({"name": "aws"}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "conflict");

    app.workspace("dup").await;
    let dup = app
        .admin_post(
            "/api/v2/workspaces",
            &json!({"name": "dup", "owner": "alice"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    let ws = app.workspace("gone").await;
    app.build(&ws, "delete", json!([])).await;
    let after = app
        .admin_post(
            &format!("/api/v2/workspaces/{ws}/builds"),
            &json!({"transition": "start"}),
        )
        .await;
    assert_eq!(after.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn operations_endpoints() {
    let app = TestApp::spawn().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let ws = app.workspace("dev").await;
    app.build(&ws, "start", ec2("i-m", &["main", "dev"])).await;
    app.token_for("i-m", Some("main")).await;
    app.aws_exchange("i-m", None).await;
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"idgate_instance_identity_exchanges_total{cloud="aws",outcome="ok"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"idgate_instance_identity_exchanges_total{cloud="aws",outcome="ambiguous_agent"} 1"#
    ));
}
